/**
 * A small man(7) reader for the multilingual eval set: turns one man page's roff source into its sections and
 * paragraphs of plain text. It knows the macros Debian's translated pages use (po4a and DocBook output: .SH, .SS,
 * .PP, .TP, .IP, .HP, font macros, tables) and drops the rest. Lines are joined with a space, except between two
 * Chinese or Japanese characters, where a line break in the source is no space in the text.
 */

export interface ManParagraph {
  /** The section heading the paragraph is under (its first .SH, then " / " and its .SS, if any). */
  section: string;
  text: string;
}

export interface ManPage {
  /** Name and section from .TH, e.g. `mandb(8)`. */
  title: string;
  paragraphs: ManParagraph[];
}

const NAMED: Record<string, string> = {
  aq: "'",
  dq: '"',
  em: "—",
  en: "–",
  hy: "-",
  lq: "“",
  rq: "”",
  oq: "‘",
  cq: "’",
  bu: "•",
  co: "©",
  rg: "®",
  tm: "™",
  mu: "×",
  de: "°",
  "<=": "≤",
  ">=": "≥",
  "->": "→",
  "<-": "←",
  ti: "~",
  ha: "^",
  ba: "|",
  rs: "\\",
  lB: "[",
  rB: "]",
};

/** Text of one roff line with its escapes resolved (fonts and spacing hints dropped). */
export function unroff(line: string): string {
  let s = line.replace(/\\".*$/, "");
  s = s.replace(/\\w'[^']*'/g, "");
  s = s.replace(/\\[fF](\[[^\]]*\]|\(..|.)/g, "");
  s = s.replace(/\\s[-+]?\d/g, "");
  s = s.replace(/\\\*(\[([^\]]*)\]|\((..)|(.))/g, (_m, _a, long: string, two: string, one: string) => {
    const name = long ?? two ?? one;
    return NAMED[name.toLowerCase()] ?? NAMED[name] ?? "";
  });
  s = s.replace(/\\\((..)/g, (_m, name: string) => NAMED[name] ?? "");
  s = s.replace(/\\\[([^\]]*)\]/g, (_m, name: string) => NAMED[name] ?? "");
  s = s.replace(/\\[nN]('[^']*'|\(..|.)/g, "");
  s = s.replace(/\\[-]/g, "-");
  s = s.replace(/\\[ ~0]/g, " ");
  s = s.replace(/\\[e\\]/g, "\uE000");
  s = s.replace(/\\[&|^/,:c%)]/g, "");
  s = s.replace(/\\(.)/g, "$1");
  return s.replace(/\uE000/g, "\\");
}

/** The arguments of a request line: space-separated, double quotes group. */
export function requestArgs(rest: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"]|"")*)"|(\S+)/g;
  for (let m = re.exec(rest); m; m = re.exec(rest)) args.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!);
  return args;
}

/** Chinese and Japanese characters and punctuation (Korean puts spaces between words, so a line break is one). */
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\uff00-\uffef]/u;

/** `a` and `b` joined as two source lines of one paragraph. */
export function joinLines(a: string, b: string): string {
  if (a === "") return b;
  if (b === "") return a;
  const last = [...a].at(-1) ?? "";
  const first = [...b][0] ?? "";
  return CJK.test(last) && CJK.test(first) ? a + b : `${a} ${b}`;
}

const ALTERNATING = new Set(["BR", "RB", "IR", "RI", "BI", "IB"]);
const FONT = new Set(["B", "I", "SM", "SB"]);
const BREAKS = new Set(["PP", "LP", "P", "TP", "IP", "HP", "sp", "TQ"]);
const IGNORED_BLOCK_START = new Set(["de", "am", "ig"]);

/** Parse a man page's roff source. */
export function parseManPage(source: string): ManPage {
  let title = "";
  let sh = "";
  let ss = "";
  const paragraphs: ManParagraph[] = [];
  let current = "";
  let inTable = false;
  let tableFormatDone = false;
  let tableTab = "\t";
  let skipUntilDots = false;

  const flush = () => {
    const text = current.replace(/\s+/g, " ").trim();
    if (text !== "") paragraphs.push({ section: ss ? `${sh} / ${ss}` : sh, text });
    current = "";
  };
  // After a tag (.TP's next line, a DocBook term before .RS) the body is a new phrase: a space, whatever the script.
  let afterTag = false;
  let tagLine = false;
  const add = (text: string) => {
    const t = text.trim();
    if (t === "") return;
    current = afterTag && current !== "" ? `${current} ${t}` : joinLines(current, t);
    afterTag = false;
    if (tagLine) {
      tagLine = false;
      afterTag = true;
    }
  };

  for (const raw of source.split(/\r?\n/)) {
    if (skipUntilDots) {
      if (raw.trim() === "..") skipUntilDots = false;
      continue;
    }
    let line = raw;
    // po4a's guard, `.if !'po4a'hide' .BR ...`: the request it guards is the line.
    line = line.replace(/^\.if\s+!'po4a'hide'\s+/, "");
    if (inTable) {
      if (/^\.TE/.test(line)) {
        inTable = false;
        flush();
        continue;
      }
      if (!tableFormatDone) {
        const tab = /tab\s*\((.)\)/.exec(line);
        if (tab) tableTab = tab[1]!;
        if (/\.\s*$/.test(line)) tableFormatDone = true;
        continue;
      }
      if (/^[_=]$/.test(line.trim()) || line.startsWith(".")) continue;
      const cells = line.split(tableTab).map((c) => unroff(c).trim());
      add(`${cells.join(" | ")};`);
      continue;
    }
    if (/^[.'](\\"|\s*$)/.test(line) || /^'\\"/.test(line)) continue;
    if (line.trim() === "") {
      flush();
      continue;
    }
    const request = /^[.']\s*(\S+)\s*(.*)$/.exec(line);
    if (!request) {
      add(unroff(line));
      continue;
    }
    const [, name = "", rest = ""] = request;
    if (IGNORED_BLOCK_START.has(name)) {
      skipUntilDots = true;
      continue;
    }
    if (name === "TH") {
      const [page = "", section = ""] = requestArgs(rest).map(unroff);
      title = `${page.toLowerCase()}(${section})`;
    } else if (name === "SH" || name === "SS") {
      flush();
      const heading = requestArgs(rest).map(unroff).join(" ").trim();
      if (name === "SH") {
        sh = heading;
        ss = "";
      } else ss = heading;
    } else if (BREAKS.has(name)) {
      if (name !== "TQ") flush();
      tagLine = name === "TP" || name === "TQ";
      if (name === "IP") {
        const [tag] = requestArgs(rest);
        if (tag && !/^\\\(bu$|^\\\[bu\]$/.test(tag)) add(unroff(tag));
      }
    } else if (FONT.has(name)) {
      add(requestArgs(rest).map(unroff).join(" "));
    } else if (ALTERNATING.has(name)) {
      add(requestArgs(rest).map(unroff).join(""));
    } else if (name === "TS") {
      flush();
      inTable = true;
      tableFormatDone = false;
      tableTab = "\t";
    } else if (name === "RS" || name === "br") {
      afterTag = true;
    } else if (name === "UR" || name === "MT") {
      add(unroff(rest));
    }
    // Everything else (.RE, .nf, .fi, .PD, .in, .ft, .ie/.el, .ds, .nr, ...) carries no text here.
  }
  flush();
  return { title, paragraphs };
}
