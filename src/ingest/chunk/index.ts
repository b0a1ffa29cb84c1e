import { UsageError } from "../../errors.js";
import type { ChunkingOptions, LoadedDocument, TextChunk } from "../types.js";
import { chunkCode } from "./code.js";
import { scanAsciidoc, scanMarkdown, scanRst, type TextStructure } from "./headings.js";
import { type ChunkSpan, chunkPages, chunkSections } from "./sections.js";
import { lineIndexAt, lineStartOffsets } from "./span.js";

export { cleanHeadingTitle, parseAtx, scanMarkdown } from "./headings.js";

/**
 * Defaults: 1500 characters (~350-400 tokens of English, well inside small embedding models' 512-token window
 * even with the heading context prepended), 10% overlap, and sections under 200 characters count as short intros.
 */
export const DEFAULT_MAX_CHARS = 1500;
export const DEFAULT_OVERLAP_CHARS = 150;
export const DEFAULT_MIN_CHARS = 200;
export const DEFAULT_CHUNKING: Readonly<ChunkingOptions> = Object.freeze({
  maxChars: DEFAULT_MAX_CHARS,
  overlapChars: DEFAULT_OVERLAP_CHARS,
  minChars: DEFAULT_MIN_CHARS,
});

/** Smallest maxChars accepted: below this chunks stop carrying meaning. */
export const MIN_MAX_CHARS = 50;

function checkOptions(options: ChunkingOptions): ChunkingOptions {
  const { maxChars, overlapChars, minChars } = options;
  if (!Number.isInteger(maxChars) || maxChars < MIN_MAX_CHARS) {
    throw new UsageError(`chunk size must be an integer of at least ${MIN_MAX_CHARS} characters (got ${maxChars})`);
  }
  if (!Number.isInteger(overlapChars) || overlapChars < 0) {
    throw new UsageError(`chunk overlap must be a non-negative integer (got ${overlapChars})`);
  }
  if (!Number.isInteger(minChars) || minChars < 0) {
    throw new UsageError(`minimum chunk size must be a non-negative integer (got ${minChars})`);
  }
  // Overlap must leave room for progress: at most a third of a chunk.
  return { maxChars, overlapChars: Math.min(overlapChars, Math.floor(maxChars / 3)), minChars };
}

function structureOf(doc: LoadedDocument, lines: readonly string[]): TextStructure {
  if (doc.fileType === "text" && doc.language === "restructuredtext") return scanRst(lines);
  if (doc.fileType === "text" && doc.language === "asciidoc") return scanAsciidoc(lines);
  return scanMarkdown(lines);
}

/**
 * Cut a loaded document into chunks of at most `maxChars` characters. Each chunk is a contiguous slice of
 * `doc.text` (trimmed; in prose, runs of blank lines shrink to one), so `lineStart..lineEnd` (1-based,
 * inclusive) locate it exactly; positions are 0..n-1. Consecutive pieces of one split section overlap by at
 * most `overlapChars`.
 *
 * - Markdown, HTML (already Markdown-ish) and plain text: sections by heading, see {@link chunkSections}.
 * - PDF: one section per page, heading path `Page N`.
 * - Code, YAML, TOML: top-level definitions (with their comments), small ones grouped, big ones split at
 *   members, then lines; heading path is the definition name when known.
 * - JSON and anything else: line / paragraph bounded pieces with overlap.
 */
export function chunkDocument(doc: LoadedDocument, options: ChunkingOptions = DEFAULT_CHUNKING): TextChunk[] {
  const opts = checkOptions(options);
  const text = doc.text;
  const lineStarts = lineStartOffsets(text);
  let spans: ChunkSpan[];
  switch (doc.fileType) {
    case "markdown":
    case "html":
    case "text": {
      const lines = text.split("\n");
      spans = chunkSections(text, lineStarts, structureOf(doc, lines), opts);
      break;
    }
    case "pdf":
      spans = chunkPages(text, opts);
      break;
    case "code":
    case "yaml":
    case "json": {
      const lines = text.split("\n");
      const language =
        doc.fileType === "json" ? undefined : (doc.language ?? (doc.fileType === "yaml" ? "yaml" : undefined));
      spans = chunkCode(text, lines, lineStarts, language, opts);
      break;
    }
  }
  // Prose keeps at most one blank line in a row (blanked front matter / comments leave runs of them);
  // code keeps its layout exactly.
  const prose = doc.fileType !== "code" && doc.fileType !== "json" && doc.fileType !== "yaml";
  const chunks: TextChunk[] = [];
  for (const span of spans) {
    if (span.end <= span.start) continue;
    const slice = text.slice(span.start, span.end);
    chunks.push({
      text: prose ? slice.replace(/\n(?:[ \t]*\n){2,}/g, "\n\n") : slice,
      headingPath: [...span.headingPath],
      position: chunks.length,
      lineStart: lineIndexAt(lineStarts, span.start) + 1,
      lineEnd: lineIndexAt(lineStarts, span.end - 1) + 1,
    });
  }
  return chunks;
}
