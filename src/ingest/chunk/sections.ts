import type { ChunkingOptions } from "../types.js";
import type { LineRange, TextStructure } from "./headings.js";
import { type Span, splitSpan, trimmedLength } from "./span.js";

/** A chunk before numbering: a slice of the document and the heading path it sits under. */
export interface ChunkSpan extends Span {
  headingPath: string[];
}

interface Section {
  level: number;
  path: string[];
  /** Offset of the heading line (or 0 for the preamble). */
  start: number;
  /** Offset just after the heading lines. */
  bodyStart: number;
  end: number;
}

export function fenceSpans(lineStarts: readonly number[], textLength: number, fences: readonly LineRange[]): Span[] {
  return fences.map((f) => ({
    start: lineStarts[f.startLine] ?? textLength,
    end: lineStarts[f.endLine + 1] ?? textLength,
  }));
}

/** True when `[from, to)` holds anything besides whitespace and HTML comments. */
export function hasBody(text: string, from: number, to: number): boolean {
  let i = from;
  while (i < to) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) {
      i++;
      continue;
    }
    if (text.startsWith("<!--", i)) {
      let k = i + 4;
      while (k + 3 <= to && !text.startsWith("-->", k)) k++;
      if (k + 3 > to) return true; // unclosed comment: treat as content
      i = k + 3;
      continue;
    }
    return true;
  }
  return false;
}

function buildSections(text: string, lineStarts: readonly number[], structure: TextStructure): Section[] {
  const { headings } = structure;
  const sections: Section[] = [];
  const offsetOfLine = (line: number): number => lineStarts[line] ?? text.length;
  const first = headings[0];
  const preambleEnd = first === undefined ? text.length : offsetOfLine(first.line);
  if (preambleEnd > 0) sections.push({ level: 0, path: [], start: 0, bodyStart: 0, end: preambleEnd });
  const stack: { level: number; title: string }[] = [];
  for (let k = 0; k < headings.length; k++) {
    const h = headings[k]!;
    while (stack.length > 0 && stack[stack.length - 1]!.level >= h.level) stack.pop();
    stack.push({ level: h.level, title: h.title });
    const next = headings[k + 1];
    sections.push({
      level: h.level,
      path: stack.map((s) => s.title),
      start: offsetOfLine(h.line),
      bodyStart: offsetOfLine(h.line + h.lineCount),
      end: next === undefined ? text.length : offsetOfLine(next.line),
    });
  }
  return sections;
}

/**
 * Chunk a document that has headings (Markdown, HTML converted to Markdown, RST, AsciiDoc, plain text).
 *
 * Every heading starts a new section and sections are never glued to their siblings: a heading marks a new
 * topic (an FAQ question, an API member), the heading path travels with each chunk, and merging siblings only
 * blurs what a chunk is about. The one merge is downwards: a section with no body of its own (a heading
 * followed directly by a sub-heading, or only HTML comments such as a TOC marker), or a short intro
 * (< minChars, when the result stays within maxChars), becomes the start of its first sub-section's chunk.
 * Sections longer than maxChars are split at paragraphs, then lines, sentences, spaces, with overlap;
 * fenced code blocks are only cut when they alone exceed maxChars.
 */
export function chunkSections(
  text: string,
  lineStarts: readonly number[],
  structure: TextStructure,
  options: ChunkingOptions,
): ChunkSpan[] {
  const fences = fenceSpans(lineStarts, text.length, structure.fences);
  const sections = buildSections(text, lineStarts, structure);
  const out: ChunkSpan[] = [];
  let pendingStart: number | undefined;
  for (let i = 0; i < sections.length; i++) {
    const s = sections[i]!;
    const next = sections[i + 1];
    const start = pendingStart ?? s.start;
    if (next !== undefined && next.level > s.level && options.minChars > 0) {
      const bodyless = !hasBody(text, s.bodyStart, s.end);
      if (
        bodyless ||
        (trimmedLength(text, start, s.end) < options.minChars &&
          trimmedLength(text, start, next.end) <= options.maxChars)
      ) {
        pendingStart = start;
        continue;
      }
    }
    pendingStart = undefined;
    for (const piece of splitSpan(text, start, s.end, {
      maxChars: options.maxChars,
      overlapChars: options.overlapChars,
      prose: true,
      fences,
    })) {
      out.push({ ...piece, headingPath: s.path });
    }
  }
  return out;
}

/** PDF text: one section per page (pages are separated by form-feed lines), heading path `Page N`. */
export function chunkPages(text: string, options: ChunkingOptions): ChunkSpan[] {
  const out: ChunkSpan[] = [];
  let page = 1;
  let start = 0;
  const split = { maxChars: options.maxChars, overlapChars: options.overlapChars, prose: true, fences: [] };
  while (start <= text.length) {
    let end = text.indexOf("\f", start);
    if (end === -1) end = text.length;
    for (const piece of splitSpan(text, start, end, split)) out.push({ ...piece, headingPath: [`Page ${page}`] });
    page++;
    start = end + 1;
  }
  return out;
}
