/**
 * Offset-based helpers shared by every chunker. A chunk is always a contiguous slice `[start, end)` of the
 * document text, so its line range is exact and overlap is simply a start moved back into the previous chunk.
 */

export interface Span {
  start: number;
  end: number;
}

/** Offsets where each line starts (line i is `text.slice(starts[i], starts[i+1] - 1)`). */
export function lineStartOffsets(text: string): number[] {
  const starts = [0];
  let i = text.indexOf("\n");
  while (i !== -1) {
    starts.push(i + 1);
    i = text.indexOf("\n", i + 1);
  }
  return starts;
}

/** 0-based index of the line holding `offset`. */
export function lineIndexAt(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function isWhitespaceCode(c: number): boolean {
  return (
    c === 32 ||
    c === 9 ||
    c === 10 ||
    c === 11 ||
    c === 12 ||
    c === 13 ||
    c === 0xa0 ||
    c === 0xfeff ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x3000
  );
}

/**
 * Shrink `[start, end)` to drop surrounding whitespace. Leading blank lines are dropped but the indentation of
 * the first kept line is preserved when the span started at a line start. Returns undefined when nothing is left.
 */
export function trimSpan(text: string, start: number, end: number): Span | undefined {
  let e = end;
  while (e > start && isWhitespaceCode(text.charCodeAt(e - 1))) e--;
  if (e <= start) return undefined;
  let i = start;
  let lineStart = start === 0 || text.charCodeAt(start - 1) === 10 ? start : -1;
  while (i < e && isWhitespaceCode(text.charCodeAt(i))) {
    if (text.charCodeAt(i) === 10) lineStart = i + 1;
    i++;
  }
  return { start: lineStart === -1 ? i : lineStart, end: e };
}

/** Length of the trimmed span (0 when blank). */
export function trimmedLength(text: string, start: number, end: number): number {
  const t = trimSpan(text, start, end);
  return t === undefined ? 0 : t.end - t.start;
}

export interface SplitOptions {
  maxChars: number;
  overlapChars: number;
  /** Prose allows sentence breaks and word-aligned overlap; otherwise breaks and overlap follow lines. */
  prose: boolean;
  /**
   * Fenced code blocks as `[start, end)` offsets, sorted and disjoint. A block no longer than maxChars is
   * never cut (unless nothing else is possible); longer blocks are cut at line breaks.
   */
  fences: readonly Span[];
}

const PRIORITIES = 4; // 0 paragraph, 1 line, 2 sentence, 3 word

/** Index of the first fence that ends after `offset` (binary search). */
function firstFenceEndingAfter(fences: readonly Span[], offset: number): number {
  let lo = 0;
  let hi = fences.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (fences[mid]!.end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function isSentenceEnd(text: string, c: number, floor: number): boolean {
  // The break sits after whitespace that follows terminal punctuation (optionally closed by a quote/bracket).
  let j = c - 2;
  if (j < floor) return false;
  let ch = text[j]!;
  if (ch === '"' || ch === "'" || ch === ")" || ch === "]" || ch === "\u201d" || ch === "\u2019") {
    j--;
    if (j < floor) return false;
    ch = text[j]!;
  }
  return ch === "." || ch === "!" || ch === "?";
}

/** Is the line that ends just before `c` (text[c-1] === "\n") blank? */
function previousLineBlank(text: string, c: number, floor: number): boolean {
  let j = c - 2;
  while (j >= floor) {
    const code = text.charCodeAt(j);
    if (code === 10) return true;
    if (code !== 32 && code !== 9 && code !== 13 && code !== 12) return false;
    j--;
  }
  return true;
}

/**
 * Choose where the chunk starting at `pos` ends: the last paragraph break in the upper half of the window,
 * else a line break, a sentence end, a space; then the same lower in the window; then a hard cut.
 * Returns the break and whether the following chunk may overlap (not when the chunk came out tiny).
 */
function findBreak(text: string, pos: number, o: SplitOptions): { at: number; overlap: boolean } {
  const limit = pos + o.maxChars;
  const overlapFloor = pos + o.overlapChars;
  const upper = pos + Math.max(o.overlapChars + 1, Math.floor(o.maxChars / 2));
  // Tiers: 0 = upper half, 1 = above the overlap, 2 = inside the overlap, 3 = inside a short fence.
  const best: number[][] = [[], [], [], []];
  for (const tier of best) for (let p = 0; p < PRIORITIES; p++) tier.push(-1);
  // `fi` tracks the last fence starting before the candidate break `c` as `c` moves down the window.
  let fi = firstFenceEndingAfter(o.fences, pos);
  while (fi + 1 < o.fences.length && o.fences[fi + 1]!.start < limit) fi++;
  for (let c = limit; c > pos; c--) {
    while (fi >= 0 && fi < o.fences.length && o.fences[fi]!.start >= c) fi--;
    const fence = fi >= 0 && fi < o.fences.length ? o.fences[fi] : undefined;
    const inShortFence =
      fence !== undefined && fence.start < c && c < fence.end && fence.end - fence.start <= o.maxChars;
    const code = text.charCodeAt(c - 1);
    let priority: number;
    if (code === 10) priority = previousLineBlank(text, c, pos) ? 0 : 1;
    else if (code === 32 || code === 9) priority = o.prose && isSentenceEnd(text, c, pos) ? 2 : 3;
    else if (o.prose && (code === 0x3002 || code === 0xff01 || code === 0xff1f)) priority = 2;
    else continue;
    const tier = inShortFence ? 3 : c >= upper ? 0 : c > overlapFloor ? 1 : 2;
    const row = best[tier]!;
    if (row[priority] === -1) row[priority] = c;
    if (tier === 0 && priority === 0) break;
  }
  for (let tier = 0; tier < best.length; tier++) {
    const row = best[tier]!;
    for (let p = 0; p < PRIORITIES; p++) {
      const at = row[p]!;
      if (at !== -1) return { at, overlap: at > overlapFloor };
    }
  }
  // Hard cut, never between the halves of a surrogate pair.
  let at = limit;
  const before = text.charCodeAt(at - 1);
  if (before >= 0xd800 && before <= 0xdbff && at - 1 > pos) at--;
  return { at, overlap: at > overlapFloor };
}

/** Where the next chunk starts so that it repeats at most overlapChars of the previous one. */
function overlapStart(text: string, prevStart: number, brk: number, o: SplitOptions): number {
  if (o.overlapChars <= 0) return brk;
  const from = Math.max(prevStart + 1, brk - o.overlapChars);
  // Inside a fence (a long one being cut by lines) overlap follows lines, like code.
  const fi = firstFenceEndingAfter(o.fences, from);
  const fence = o.fences[fi];
  const inFence = fence !== undefined && fence.start < brk && from < fence.end;
  const byWords = o.prose && !inFence;
  let x = from;
  for (; x < brk; x++) {
    const prev = text.charCodeAt(x - 1);
    if (prev === 10 || (byWords && (prev === 32 || prev === 9) && !isWhitespaceCode(text.charCodeAt(x)))) break;
  }
  if (x >= brk) return brk;
  // Never start inside a fence that was kept whole.
  if (fence !== undefined && fence.start < x && x < fence.end && fence.end - fence.start <= o.maxChars) {
    return Math.max(fence.end, brk);
  }
  return x;
}

/**
 * Split `[start, end)` into trimmed spans of at most maxChars, consecutive spans overlapping by at most
 * overlapChars. Linear in the span length: each window is scanned once and windows advance by at least
 * maxChars / 2 - overlapChars, or by a whole (tiny) piece when nothing better exists.
 */
export function splitSpan(text: string, start: number, end: number, o: SplitOptions): Span[] {
  const out: Span[] = [];
  const whole = trimSpan(text, start, end);
  if (whole === undefined) return out;
  let pos = whole.start;
  const e = whole.end;
  while (pos < e) {
    if (e - pos <= o.maxChars) {
      const last = trimSpan(text, pos, e);
      if (last !== undefined) out.push(last);
      break;
    }
    const brk = findBreak(text, pos, o);
    const piece = trimSpan(text, pos, brk.at);
    if (piece !== undefined) out.push(piece);
    if (trimSpan(text, brk.at, e) === undefined) break;
    const next = brk.overlap ? overlapStart(text, pos, brk.at, o) : brk.at;
    const trimmedNext = trimSpan(text, next, e);
    if (trimmedNext === undefined) break;
    pos = trimmedNext.start > pos ? trimmedNext.start : brk.at;
  }
  return out;
}
