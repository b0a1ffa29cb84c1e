import { type HTMLElement, type Node, NodeType, parse } from "node-html-parser";

/**
 * HTML -> Markdown-ish text: `#` headings, paragraphs separated by blank lines, `- ` / `1. ` list items,
 * fenced `pre` blocks, `|`-separated table cells. Page chrome (script, style, nav, footer, ...) is dropped, and
 * when the page has a <main> (or a single <article>) only that is kept. The DOM is walked with an explicit
 * stack, so deeply nested markup cannot overflow the call stack.
 */

export interface HtmlContent {
  text: string;
  title?: string;
}

const DROP = new Set([
  "script",
  "style",
  "noscript",
  "template",
  "nav",
  "footer",
  "svg",
  "canvas",
  "iframe",
  "object",
  "embed",
  "head",
  "button",
  "select",
  "input",
  "textarea",
  "dialog",
]);

const BLOCK = new Set([
  "p",
  "div",
  "section",
  "article",
  "main",
  "header",
  "aside",
  "blockquote",
  "figure",
  "figcaption",
  "address",
  "details",
  "summary",
  "dl",
  "dt",
  "dd",
  "table",
  "thead",
  "tbody",
  "tfoot",
  "caption",
  "form",
  "fieldset",
  "legend",
  "body",
  "html",
  "center",
]);

const MAX_LIST_INDENT = 8;

/** Lower-case tag name; "" for text nodes and for the parser's root (whose rawTagName is null at run time). */
function tagOf(node: Node): string {
  if (node.nodeType !== NodeType.ELEMENT_NODE) return "";
  const raw: string | null = (node as HTMLElement).rawTagName;
  return raw ? raw.toLowerCase() : "";
}

function isDropped(el: HTMLElement): boolean {
  const tag = tagOf(el);
  if (DROP.has(tag)) return true;
  if (el.getAttribute("aria-hidden") === "true" || el.getAttribute("hidden") !== undefined) return true;
  const role = el.getAttribute("role");
  return role === "navigation" || role === "contentinfo";
}

/** Concatenated text of a subtree, whitespace preserved (for <pre>), without recursion. */
function rawTextOf(root: Node): string {
  const parts: string[] = [];
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.nodeType === NodeType.TEXT_NODE) {
      parts.push(node.text);
      continue;
    }
    if (node.nodeType !== NodeType.ELEMENT_NODE) continue;
    const tag = tagOf(node);
    if (tag === "br") {
      parts.push("\n");
      continue;
    }
    if (tag === "script" || tag === "style") continue;
    for (let i = node.childNodes.length - 1; i >= 0; i--) stack.push(node.childNodes[i]!);
  }
  return parts.join("");
}

/** One pass to find <title>, the first <h1> and the content root (<main>, a lone <article>, or <body>). */
function survey(root: HTMLElement): { title?: string; h1?: string; content: HTMLElement } {
  let title: string | undefined;
  let h1: string | undefined;
  let main: HTMLElement | undefined;
  const articles: HTMLElement[] = [];
  let body: HTMLElement | undefined;
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.nodeType !== NodeType.ELEMENT_NODE) continue;
    const el = node as HTMLElement;
    const tag = tagOf(el);
    if (tag === "title" && title === undefined) title = rawTextOf(el).replace(/\s+/g, " ").trim();
    else if (tag === "h1" && h1 === undefined) h1 = rawTextOf(el).replace(/\s+/g, " ").trim();
    else if (tag === "main" && main === undefined) main = el;
    else if (tag === "article") articles.push(el);
    else if (tag === "body" && body === undefined) body = el;
    if (tag === "script" || tag === "style") continue;
    for (let i = el.childNodes.length - 1; i >= 0; i--) stack.push(el.childNodes[i]!);
  }
  const content = main ?? (articles.length === 1 ? articles[0]! : (body ?? root));
  const out: { title?: string; h1?: string; content: HTMLElement } = { content };
  if (title !== undefined && title.length > 0) out.title = title;
  if (h1 !== undefined && h1.length > 0) out.h1 = h1;
  return out;
}

class Writer {
  private readonly parts: string[] = [];
  private pendingBreaks = 0;
  private atLineStart = true;
  private lastChar = "\n";
  private started = false;
  /** Inside a heading or table cell: line breaks become spaces. */
  inline = 0;

  /** Ask for `n` newlines (1 = new line, 2 = blank line) before the next text. */
  block(n: number): void {
    if (this.inline > 0) {
      this.space();
      return;
    }
    if (n > this.pendingBreaks) this.pendingBreaks = n;
  }

  private flush(): void {
    if (this.pendingBreaks > 0 && this.started) {
      let n = this.pendingBreaks;
      if (this.lastChar === "\n") n--;
      if (n > 0) this.parts.push("\n".repeat(n));
      this.lastChar = "\n";
      this.atLineStart = true;
    }
    this.pendingBreaks = 0;
  }

  space(): void {
    if (!this.atLineStart && this.lastChar !== " " && this.pendingBreaks === 0) this.push(" ");
  }

  private push(s: string): void {
    if (s.length === 0) return;
    this.parts.push(s);
    this.started = true;
    this.lastChar = s[s.length - 1]!;
    this.atLineStart = this.lastChar === "\n";
  }

  /** Inline text: whitespace collapsed; a leading `#` escaped so it is not read as a heading. */
  text(raw: string): void {
    const collapsed = raw.replace(/\s+/g, " ");
    if (collapsed.length === 0) return;
    if (collapsed === " ") {
      this.space();
      return;
    }
    let t = collapsed;
    if (t.startsWith(" ")) {
      this.space();
      t = t.slice(1);
    }
    this.flush();
    if (this.atLineStart) {
      t = t.trimStart();
      if (t.startsWith("#")) t = `\\${t}`;
    }
    this.push(t);
  }

  /** Markup written as is (heading marks, list markers, code fences). */
  raw(s: string): void {
    this.flush();
    this.push(s);
  }

  /** A separator that only makes sense between items on the same line (table cells). */
  separator(s: string): void {
    this.flush();
    if (!this.atLineStart) this.push(s);
  }

  lineBreak(): void {
    if (this.inline > 0) this.space();
    else this.raw("\n");
  }

  result(): string {
    return this.parts.join("");
  }
}

type Frame = { kind: "enter"; node: Node } | { kind: "exit"; el: HTMLElement; tag: string };

interface ListState {
  ordered: boolean;
  next: number;
}

/** Normalise the converted text: trailing spaces, runs of blank lines (outside code fences). */
function tidy(text: string): string {
  const out: string[] = [];
  let fence: string | undefined;
  let blank = 0;
  for (const line of text.split("\n")) {
    const f = /^(`{3,})/.exec(line);
    if (fence !== undefined) {
      out.push(line);
      if (f !== null && line.trim() === fence) fence = undefined;
      continue;
    }
    if (f !== null) {
      fence = f[1]!;
      blank = 0;
      out.push(line);
      continue;
    }
    const trimmed = line.trimEnd();
    if (trimmed.length === 0) {
      blank++;
      if (blank === 1 && out.length > 0) out.push("");
      continue;
    }
    blank = 0;
    out.push(trimmed);
  }
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out.join("\n");
}

export function htmlToText(html: string): HtmlContent {
  const root = parse(html, {
    comment: false,
    lowerCaseTagName: false,
    // Without this, node-html-parser re-parents every element still open at the end of the input, which is
    // quadratic or worse: 4000 unclosed <div>s (20 KB) took 11 s, 100 KB of them hours. Left open, they simply
    // stay nested, as a browser keeps them; the text and its order are the same.
    parseNoneClosedTags: true,
    blockTextElements: { script: true, style: true, noscript: true, textarea: true },
  });
  const { title, h1, content } = survey(root);
  const w = new Writer();
  const lists: ListState[] = [];
  const stack: Frame[] = [{ kind: "enter", node: content }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (frame.kind === "exit") {
      const { tag } = frame;
      if (/^h[1-6]$/.test(tag)) {
        w.inline--;
        w.block(2);
      } else if (tag === "ul" || tag === "ol") {
        lists.pop();
        w.block(lists.length === 0 ? 2 : 1);
      } else if (tag === "li" || tag === "tr") {
        w.block(1);
      } else if (tag === "td" || tag === "th") {
        w.inline--;
      } else if (tag === "code") {
        w.raw("`");
      } else if (BLOCK.has(tag)) {
        w.block(2);
      }
      continue;
    }
    const node = frame.node;
    if (node.nodeType === NodeType.TEXT_NODE) {
      w.text(node.text);
      continue;
    }
    if (node.nodeType !== NodeType.ELEMENT_NODE) continue;
    const el = node as HTMLElement;
    if (isDropped(el)) continue;
    const tag = tagOf(el);
    let descend = true;
    if (/^h[1-6]$/.test(tag)) {
      w.block(2);
      w.raw(`${"#".repeat(Number(tag[1]))} `);
      w.inline++;
    } else if (tag === "pre") {
      const body = rawTextOf(el).replace(/^\n/, "").replace(/\s+$/, "");
      const codeEl = el.childNodes.find((c) => tagOf(c) === "code") as HTMLElement | undefined;
      const lang = /(?:^|\s)(?:language|lang)-([\w+#-]+)/.exec(
        codeEl?.getAttribute("class") ?? el.getAttribute("class") ?? "",
      )?.[1];
      let longest = 2;
      for (const m of body.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
      const fence = "`".repeat(longest + 1);
      w.block(2);
      w.raw(`${fence}${lang ?? ""}\n${body}\n${fence}`);
      w.block(2);
      descend = false;
    } else if (tag === "br") {
      w.lineBreak();
      descend = false;
    } else if (tag === "hr") {
      w.block(2);
      descend = false;
    } else if (tag === "img") {
      const alt = el.getAttribute("alt")?.trim();
      if (alt) w.text(` ${alt} `);
      descend = false;
    } else if (tag === "ul" || tag === "ol") {
      w.block(lists.length === 0 ? 2 : 1);
      const start = Number(el.getAttribute("start") ?? "1");
      lists.push({ ordered: tag === "ol", next: Number.isFinite(start) ? start : 1 });
    } else if (tag === "li") {
      w.block(1);
      const list = lists[lists.length - 1];
      const indent = "  ".repeat(Math.min(Math.max(lists.length - 1, 0), MAX_LIST_INDENT));
      const marker = list?.ordered ? `${list.next++}. ` : "- ";
      w.raw(`${indent}${marker}`);
    } else if (tag === "tr") {
      w.block(1);
    } else if (tag === "td" || tag === "th") {
      w.separator(" | ");
      w.inline++;
    } else if (tag === "code") {
      w.raw("`");
    } else if (BLOCK.has(tag)) {
      w.block(2);
    }
    if (!descend) continue;
    stack.push({ kind: "exit", el, tag });
    for (let i = el.childNodes.length - 1; i >= 0; i--) stack.push({ kind: "enter", node: el.childNodes[i]! });
  }
  const text = tidy(w.result());
  const out: HtmlContent = { text };
  const t = title ?? h1;
  if (t !== undefined) out.title = t;
  return out;
}
