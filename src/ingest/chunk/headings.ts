/**
 * Line-based heading scanners. Every scanner is a single pass over the lines with bounded per-line work
 * (regexes are only run on a line's first characters), so 100k headings or a 10 MB line stay linear.
 */

export interface Heading {
  /** 0-based index of the heading's first line. */
  line: number;
  /** Lines the heading occupies (ATX: 1, setext: 2, RST with overline: 3). */
  lineCount: number;
  level: number;
  title: string;
}

/** Inclusive 0-based line range of a fenced / literal block. */
export interface LineRange {
  startLine: number;
  endLine: number;
}

export interface TextStructure {
  headings: Heading[];
  fences: LineRange[];
}

/** Regexes only ever see this many leading characters of a line. */
const HEAD = 400;

function head(line: string): string {
  return line.length > HEAD ? line.slice(0, HEAD) : line;
}

/** Collapse inner whitespace and drop an ATX closing sequence (`## Title ##` -> `Title`). */
export function cleanHeadingTitle(raw: string, closingHashes: boolean): string {
  let t = raw.trim();
  if (closingHashes && t.endsWith("#")) {
    let j = t.length;
    while (j > 0 && t[j - 1] === "#") j--;
    if (j === 0) t = "";
    else if (t[j - 1] === " " || t[j - 1] === "\t") t = t.slice(0, j).trim();
  }
  return t.replace(/\s+/g, " ");
}

function isBlank(line: string): boolean {
  return !/\S/.test(head(line)) && (line.length <= HEAD || !/\S/.test(line));
}

/** `## Title` -> level and title; undefined when the line is not an ATX heading. */
export function parseAtx(line: string): { level: number; title: string } | undefined {
  const m = /^ {0,3}(#{1,6})(?:[ \t]|$)/.exec(head(line));
  if (m === null) return undefined;
  const title = cleanHeadingTitle(line.slice(m[0].length), true);
  if (title.length === 0) return undefined;
  return { level: m[1]!.length, title };
}

const FENCE_OPEN = /^( {0,3})(`{3,}|~{3,})(.*)$/;

/** Markdown: ATX and setext headings outside fenced code blocks. */
export function scanMarkdown(lines: readonly string[]): TextStructure {
  const headings: Heading[] = [];
  const fences: LineRange[] = [];
  let fenceMarker: string | undefined;
  let fenceStart = 0;
  // Whether the previous line is a one-line paragraph that a setext underline could turn into a heading.
  let candidate = false;
  let prevBlankOrBoundary = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const h = head(line);
    if (fenceMarker !== undefined) {
      const close = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(h);
      if (close !== null && close[1]![0] === fenceMarker[0] && close[1]!.length >= fenceMarker.length) {
        fences.push({ startLine: fenceStart, endLine: i });
        fenceMarker = undefined;
        candidate = false;
        prevBlankOrBoundary = true;
      }
      continue;
    }
    const open = FENCE_OPEN.exec(h);
    if (open !== null && !(open[2]![0] === "`" && open[3]!.includes("`"))) {
      fenceMarker = open[2]!;
      fenceStart = i;
      candidate = false;
      continue;
    }
    const atx = parseAtx(line);
    if (atx !== undefined) {
      headings.push({ line: i, lineCount: 1, level: atx.level, title: atx.title });
      candidate = false;
      prevBlankOrBoundary = true;
      continue;
    }
    if (candidate && /^ {0,3}(=+|-+)[ \t]*$/.test(h)) {
      const title = cleanHeadingTitle(lines[i - 1]!, false);
      headings.push({ line: i - 1, lineCount: 2, level: h.trimStart()[0] === "=" ? 1 : 2, title });
      candidate = false;
      prevBlankOrBoundary = true;
      continue;
    }
    const blank = isBlank(line);
    candidate =
      !blank &&
      prevBlankOrBoundary &&
      line.length <= HEAD &&
      !/^ {4}|^\t|^ {0,3}([>|<]|[-*+][ \t]|\d{1,9}[.)][ \t]|[-*_=]{3,}[ \t]*$)/.test(h);
    prevBlankOrBoundary = blank;
  }
  if (fenceMarker !== undefined) fences.push({ startLine: fenceStart, endLine: lines.length - 1 });
  return { headings, fences };
}

/** AsciiDoc: `== Title` (and Markdown-style `#`) headings outside `----` / `....` / `++++` / ``` blocks. */
export function scanAsciidoc(lines: readonly string[]): TextStructure {
  const headings: Heading[] = [];
  const fences: LineRange[] = [];
  let delimiter: string | undefined;
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const h = head(lines[i]!);
    const d = /^(-{4,}|\.{4,}|\+{4,}|`{3,})[ \t]*$/.exec(h);
    if (delimiter !== undefined) {
      if (d !== null && d[1] === delimiter) {
        fences.push({ startLine: start, endLine: i });
        delimiter = undefined;
      }
      continue;
    }
    if (d !== null) {
      delimiter = d[1]!;
      start = i;
      continue;
    }
    const m = /^(={1,6}|#{1,6})[ \t]+\S/.exec(h);
    if (m !== null) {
      const title = cleanHeadingTitle(lines[i]!.slice(m[1]!.length), m[1]![0] === "#");
      if (title.length > 0) headings.push({ line: i, lineCount: 1, level: m[1]!.length, title });
    }
  }
  if (delimiter !== undefined) fences.push({ startLine: start, endLine: lines.length - 1 });
  return { headings, fences };
}

const RST_ADORNMENT = /^([!-/:-@[-`{-~])\1{2,}[ \t]*$/;

/** reStructuredText: underlined (optionally overlined) titles; levels follow the order styles first appear. */
export function scanRst(lines: readonly string[]): TextStructure {
  const headings: Heading[] = [];
  const styles: string[] = [];
  const levelOf = (style: string): number => {
    let idx = styles.indexOf(style);
    if (idx === -1) {
      styles.push(style);
      idx = styles.length - 1;
    }
    return idx + 1;
  };
  for (let i = 1; i < lines.length; i++) {
    const under = head(lines[i]!);
    const m = RST_ADORNMENT.exec(under);
    if (m === null) continue;
    const titleLine = lines[i - 1]!;
    if (titleLine.length > HEAD || isBlank(titleLine) || /^\s/.test(titleLine) || RST_ADORNMENT.test(titleLine)) {
      continue;
    }
    const title = cleanHeadingTitle(titleLine, false);
    if (under.trimEnd().length < Math.min(title.length, 3)) continue;
    const char = m[1]!;
    const before = i >= 2 ? head(lines[i - 2]!) : undefined;
    const overlined = before !== undefined && RST_ADORNMENT.test(before) && before.trimEnd() === under.trimEnd();
    const previous = headings.at(-1);
    const afterHeading = previous !== undefined && previous.line + previous.lineCount === i - 1;
    // A title stands alone: a blank line (or the start, or another heading) comes before it.
    if (!overlined && before !== undefined && !isBlank(before) && !afterHeading) continue;
    const level = levelOf(overlined ? `${char}${char}` : char);
    if (overlined) headings.push({ line: i - 2, lineCount: 3, level, title });
    else headings.push({ line: i - 1, lineCount: 2, level, title });
    i++;
  }
  return { headings, fences: [] };
}
