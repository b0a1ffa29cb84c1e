import { z } from "zod";
import type { SEARCH_MODES } from "../config/schema.js";

/** File types a chunk can come from; used by the structured filter. */
export const FILE_TYPES = ["markdown", "text", "html", "pdf", "code", "json", "yaml"] as const;
export type FileType = (typeof FILE_TYPES)[number];

/**
 * The structured filter every store understands. Never a raw expression: each store compiles it itself,
 * escaping every value. Unknown keys are rejected so that a typo never silently matches everything.
 */
export const SearchFilterSchema = z
  .object({
    /** Only sources whose id starts with this string (e.g. `docs/api/`). */
    sourcePrefix: z.string().min(1).max(1024).optional(),
    /** Only chunks carrying at least one of these tags. */
    tags: z.array(z.string().min(1).max(128)).min(1).max(64).optional(),
    /** Only chunks from these file types. */
    fileTypes: z.array(z.enum(FILE_TYPES)).min(1).optional(),
  })
  .strict();
export type SearchFilter = z.infer<typeof SearchFilterSchema>;

export { SEARCH_MODES } from "../config/schema.js";
export type SearchMode = (typeof SEARCH_MODES)[number];
export const MAX_K = 100;

/** One stored chunk. `id` is deterministic: hash of source + position + content hash. */
export interface ChunkRecord {
  id: string;
  /** Source id: a repo-relative POSIX path, an absolute path outside the working directory, or a URL. */
  source: string;
  /** The chunk text as shown to people and models. */
  text: string;
  /** Heading path of the section the chunk belongs to (Markdown/HTML), outermost first; [] when none. */
  headingPath: string[];
  /** 0-based index of the chunk within its source. */
  position: number;
  /** 1-based line range in the source, when known (0 when unknown). */
  lineStart: number;
  lineEnd: number;
  fileType: FileType;
  tags: string[];
  /** sha256 (hex) of `text`. */
  contentHash: string;
  /**
   * Ingest fingerprint of the source it came from: sha256 of the raw bytes plus tags and chunking settings
   * (see `ingestFingerprint`). Equal fingerprints mean an ingest has nothing to do; drives incremental sync.
   */
  sourceHash: string;
  /** Epoch milliseconds of the ingest that wrote it. */
  ingestedAt: number;
  /** L2-normalised embedding of the chunk (with its heading context). */
  vector: Float32Array;
}

/** A chunk as returned to callers: no vector unless asked. */
export type StoredChunk = Omit<ChunkRecord, "vector">;

export interface SearchHit {
  chunk: StoredChunk;
  /**
   * Higher is better. Dense: cosine similarity; keyword: BM25; hybrid: the calibrated convex fusion in [0, 1]
   * plus any title-mention bonus (src/store/hybrid-rank.ts, links.ts), on both stores.
   */
  score: number;
}

export interface SearchRequest {
  mode: SearchMode;
  k: number;
  /** Required for dense and hybrid. */
  vector?: Float32Array;
  /** Required for keyword and hybrid. */
  text?: string;
  filter?: SearchFilter;
  /**
   * Hybrid only: how much the dense branch counts against the keyword branch (weight 1) in the calibrated
   * fusion; default 0.5 (both stores).
   */
  denseWeight?: number;
}

/** Everything about one source, for sync and listings. */
export interface SourceInfo {
  source: string;
  chunks: number;
  sourceHash: string;
  fileType: FileType;
  tags: string[];
  ingestedAt: number;
}

/** Replace every chunk of `source` with `chunks` (an empty list deletes the source). */
export interface SourceReplacement {
  source: string;
  chunks: ChunkRecord[];
}

/** How a `replaceSources` call fits into a larger write (an ingest of many batches). */
export interface ReplaceOptions {
  /**
   * "more": more batches follow and the caller calls `optimize()` after the last, so index upkeep may take a
   * cheaper form than after a lone write; "last": `optimize()` follows at once, so upkeep is left to it.
   */
  ingest?: "more" | "last";
}

export interface CollectionStats {
  name: string;
  chunks: number;
  sources: number;
  modelId: string;
  dimension: number;
  lastIngestAt: number | null;
  /** Store-specific index state, e.g. `{ fts: true, vector: "IVF_FLAT" }`. */
  indexes: Record<string, string | boolean>;
}

export interface CollectionMeta {
  name: string;
  modelId: string;
  dimension: number;
  createdAt: number;
  /**
   * The keyword analysis version its search text was written with (store/keyword-text.ts), where the store
   * does that analysis itself (embedded; the Milvus collections mrag created); below the current version, CJK
   * text is not segmented.
   */
  keywordAnalysis?: number;
}

export interface Collection {
  readonly meta: CollectionMeta;
  /**
   * Atomically replace all chunks of each listed source: a reader sees either every old chunk of a
   * source or every new one, never a mix, and no duplicates remain.
   */
  replaceSources(replacements: readonly SourceReplacement[], options?: ReplaceOptions): Promise<void>;
  /** Insert or overwrite chunks by id. */
  upsert(chunks: readonly ChunkRecord[]): Promise<void>;
  /** Delete one source exactly, or every source starting with a prefix. Returns the number of chunks removed. */
  deleteSources(selector: { source: string } | { prefix: string }): Promise<number>;
  getByIds(ids: readonly string[]): Promise<StoredChunk[]>;
  /** Up to `before` previous and `after` next chunks of the same source, by position. */
  neighbours(id: string, before: number, after: number): Promise<{ before: StoredChunk[]; after: StoredChunk[] }>;
  /** All chunks of one source in position order. */
  getSource(source: string): Promise<StoredChunk[]>;
  /**
   * Every chunk of the given sources with its vector, per source in position order; sources with no chunks
   * are absent from the map. One read for many sources (`mrag migrate` copies without re-embedding).
   */
  exportSources(sources: readonly string[]): Promise<Map<string, ChunkRecord[]>>;
  listSources(options?: { prefix?: string }): Promise<SourceInfo[]>;
  stats(): Promise<CollectionStats>;
  search(request: SearchRequest): Promise<SearchHit[]>;
  /** Build or refresh indexes (full text always; vector once the collection is large enough). */
  optimize(): Promise<void>;
  /**
   * Repair what interrupted writes left behind: rows no reader sees (Milvus generations), or rows an ingest
   * committed but never brought into the full-text index (embedded). Cheap when there is nothing to do.
   */
  cleanup?(): Promise<void>;
  /**
   * Load what this process keeps in memory to answer searches (the embedded store's snapshot of vectors,
   * postings and rows) and wait for it; true when loaded. Long-running readers (servers) call it to warm up.
   */
  prepareSearch?(): Promise<boolean>;
}

export interface OpenCollectionOptions {
  modelId: string;
  dimension: number;
  /** Create the collection when it does not exist (ingest). Readers pass false and get a clear error. */
  create: boolean;
}

export interface Store {
  readonly kind: "embedded" | "milvus";
  /** Folder path or server URI, for messages and `status`. */
  readonly location: string;
  openCollection(name: string, options: OpenCollectionOptions): Promise<Collection>;
  listCollections(): Promise<CollectionMeta[]>;
  /**
   * Take the store's write lock for the duration of `fn` (one writer at a time; readers never block).
   * Waits up to `waitMs`, then throws StoreBusyError naming the holder.
   */
  withWriteLock<T>(fn: () => Promise<T>, waitMs?: number): Promise<T>;
  /**
   * Repair a collection whose files were found damaged (StoreDamagedError), keeping every row that still
   * reads; returns one line saying what was done, or undefined when nothing was repaired. Embedded store only.
   */
  repairCollection?(name: string): Promise<string | undefined>;
  /** Drop a collection and its data; false when it did not exist (`mrag eval`'s throw-away collections). */
  dropCollection?(name: string): Promise<boolean>;
  /**
   * Whether a reader found the collection's files damaged since its last repair: an ingest, which reads only
   * sources and fingerprints, repairs first when it did. Embedded store only.
   */
  damageReported?(name: string): Promise<boolean>;
  close(): Promise<void>;
}
