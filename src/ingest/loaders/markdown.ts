import { scanMarkdown } from "../chunk/headings.js";

/**
 * Markdown / MDX: front matter is blanked out (line numbers stay those of the file), its title and tags kept;
 * HTML comments that start a line (TOC markers, commented-out text: invisible when rendered) are blanked too.
 */

export interface MarkdownContent {
  text: string;
  title?: string;
  tags?: string[];
}

interface FrontMatter {
  /** Number of lines the block spans, delimiters included. */
  lines: number;
  /** Offset just past the closing delimiter line (its newline included when present). */
  end: number;
  body: string;
  toml: boolean;
}

function findFrontMatter(text: string): FrontMatter | undefined {
  const open = /^(---|\+\+\+)[ \t]*\n/.exec(text);
  if (open === null) return undefined;
  const delimiter = open[1]!;
  const toml = delimiter === "+++";
  let lineStart = open[0].length;
  let lines = 1;
  while (lineStart <= text.length) {
    let lineEnd = text.indexOf("\n", lineStart);
    if (lineEnd === -1) lineEnd = text.length;
    const line = text.slice(lineStart, lineEnd).trimEnd();
    lines++;
    if (line === delimiter || (!toml && line === "...")) {
      return {
        lines,
        end: Math.min(lineEnd + 1, text.length),
        body: text.slice(open[0].length, lineStart),
        toml,
      };
    }
    if (lineEnd === text.length) break;
    lineStart = lineEnd + 1;
  }
  return undefined;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")))) {
    return v.slice(1, -1).trim();
  }
  return v;
}

function splitList(value: string): string[] {
  let v = value.trim();
  if (v.startsWith("[") && v.endsWith("]")) v = v.slice(1, -1);
  return v
    .split(",")
    .map(unquote)
    .filter((t) => t.length > 0);
}

/** Reads `title` and `tags` from YAML or TOML front matter; everything else is ignored. */
export function parseFrontMatterFields(body: string, toml: boolean): { title?: string; tags?: string[] } {
  const result: { title?: string; tags?: string[] } = {};
  const lines = body.split("\n");
  const sep = toml ? "=" : ":";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^([A-Za-z_][\w-]*)[ \t]*([:=])[ \t]*(.*)$/.exec(line);
    if (m === null || m[2] !== sep) continue;
    const key = m[1]!.toLowerCase();
    let value = m[3]!.trim();
    const quote = value[0];
    if (quote === '"' || quote === "'") {
      const close = value.indexOf(quote, 1);
      if (close !== -1) value = value.slice(0, close + 1);
    } else {
      const comment = value.search(/[ \t]#/);
      if (comment !== -1) value = value.slice(0, comment).trim();
    }
    if (key === "title" && value.length > 0) {
      result.title = unquote(value);
    } else if (key === "tags" || key === "keywords") {
      if (result.tags !== undefined && key === "keywords") continue;
      let tags: string[];
      if (value.length > 0) {
        tags = splitList(value);
      } else {
        tags = [];
        while (i + 1 < lines.length && /^[ \t]*-[ \t]+/.test(lines[i + 1]!)) {
          i++;
          const item = unquote(lines[i]!.replace(/^[ \t]*-[ \t]+/, ""));
          if (item.length > 0) tags.push(item);
        }
      }
      if (tags.length > 0) result.tags = [...new Set(tags)];
    }
  }
  return result;
}

/** First level-1 heading (ATX `# Title` or setext `Title\n===`) outside fenced code. */
export function firstH1(text: string): string | undefined {
  return scanMarkdown(text.split("\n")).headings.find((h) => h.level === 1)?.title;
}

/**
 * Blank out HTML comments that start at the beginning of a line outside fenced code, keeping every newline so
 * that line numbers do not move. Linear: once a comment has no closing `-->`, none further on can have one.
 */
export function blankLineComments(text: string): string {
  if (!text.includes("<!--")) return text;
  const lines = text.split("\n");
  const { fences } = scanMarkdown(lines);
  let fi = 0;
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    while (fi < fences.length && fences[fi]!.endLine < i) fi++;
    const fence = fences[fi];
    if (fence !== undefined && fence.startLine <= i) continue;
    const open = /^[ \t]*<!--/.exec(lines[i]!.slice(0, 64));
    if (open === null) continue;
    let j = i;
    let close = lines[i]!.indexOf("-->", open[0].length);
    while (close === -1 && j + 1 < lines.length) {
      j++;
      close = lines[j]!.indexOf("-->");
    }
    if (close === -1) break;
    for (let k = i; k < j; k++) lines[k] = "";
    lines[j] = lines[j]!.slice(close + 3);
    changed = true;
    i = j - 1; // the rest of line j may open another comment
    if (lines[j]!.trim().length === 0 || !/^[ \t]*<!--/.test(lines[j]!)) i = j;
  }
  return changed ? lines.join("\n") : text;
}

export function loadMarkdown(raw: string): MarkdownContent {
  let text = raw;
  let title: string | undefined;
  let tags: string[] | undefined;
  const fm = findFrontMatter(raw);
  if (fm !== undefined) {
    const fields = parseFrontMatterFields(fm.body, fm.toml);
    title = fields.title;
    tags = fields.tags;
    // Keep one empty line per front-matter line so that chunk line numbers match the file.
    const blanks = "\n".repeat(fm.end === raw.length && !raw.endsWith("\n") ? fm.lines - 1 : fm.lines);
    text = blanks + raw.slice(fm.end);
  }
  text = blankLineComments(text);
  title ??= firstH1(text);
  const result: MarkdownContent = { text };
  if (title !== undefined && title.length > 0) result.title = title;
  if (tags !== undefined) result.tags = tags;
  return result;
}
