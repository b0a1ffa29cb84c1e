import type { FileType } from "../store/types.js";

/** A source after loading: plain text plus enough structure for the chunker. */
export interface LoadedDocument {
  /** Source id (see ChunkRecord.source). */
  source: string;
  fileType: FileType;
  /** Language of a code file (`typescript`, `python`, ...), when fileType is `code`. */
  language?: string;
  /**
   * Text to chunk. Markdown stays Markdown (headings drive chunking); HTML is converted to Markdown-ish
   * text with `#` headings; PDF is page text; code and data files stay as they are.
   */
  text: string;
  /** Title when the format has one (HTML <title>, PDF info, first Markdown H1). */
  title?: string;
  /** Tags declared by the source itself (Markdown front matter `tags:` / `keywords:`). */
  tags?: string[];
  /** sha256 (hex) of the raw bytes, for incremental sync. */
  sourceHash: string;
  /** Something the user should know about how it was read (a fallback encoding); shown in the summary. */
  note?: string;
}

/** A chunk before embedding. */
export interface TextChunk {
  text: string;
  headingPath: string[];
  /** 0-based position within the source. */
  position: number;
  /** 1-based line range in LoadedDocument.text (0 when unknown). */
  lineStart: number;
  lineEnd: number;
}

export interface ChunkingOptions {
  /** Upper bound on a chunk's length in characters. */
  maxChars: number;
  /** Characters repeated from the end of one chunk at the start of the next when a section is split. */
  overlapChars: number;
  /**
   * Merge threshold. A section shorter than this that is directly followed by a sub-section (a short intro)
   * becomes the start of that sub-section's chunk when the result fits in maxChars; a heading with no body is
   * always merged down. Siblings are never merged (each heading is its own topic). For code, definitions
   * shorter than this are grouped with their neighbours. 0 disables merging.
   */
  minChars: number;
}

/** Why a file was not ingested; shown in the summary. */
export type SkipReason =
  | "binary"
  | "undecodable"
  | "too-large"
  | "empty"
  | "unsupported"
  | "unreadable"
  | "fetch-failed";

/** Why a file a folder walk looked at was not a candidate at all (counted, not listed). */
export const NOT_TAKEN_REASONS = [
  "unsupported-type",
  "gitignored",
  "excluded",
  "not-included",
  "hidden",
  "symlink",
] as const;
export type NotTakenReason = (typeof NOT_TAKEN_REASONS)[number];

/** Files a walk looked at and left out, by reason; unsupported types also by extension (`.gz`, `(none)`). */
export interface NotTaken {
  byReason: Record<NotTakenReason, number>;
  byExtension: Record<string, number>;
}

export interface SkippedSource {
  source: string;
  reason: SkipReason;
  detail?: string;
}
