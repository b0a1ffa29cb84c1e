import path from "node:path";
import type { Embedder } from "../embed/types.js";
import { IngestError, UsageError } from "../errors.js";
import type { ChunkRecord, Collection, SourceReplacement } from "../store/types.js";
import { chunkDocument } from "./chunk/index.js";
import { CommitQueue } from "./commit-queue.js";
import { sha256Hex } from "./hash.js";
import { countChunkLanguage, emptyLanguageCounts, type LanguageCounts } from "./language.js";
import { detectFileType, loadBytes, loadUrl } from "./loaders/index.js";
import { readRegularFile } from "./read-file.js";
import type { ChunkingOptions, LoadedDocument, NotTaken, SkippedSource, TextChunk } from "./types.js";
import { discoverFiles } from "./walk.js";

export interface IngestRequest {
  /** Files, folders and http(s) URLs, as the user typed them. */
  inputs: string[];
  /** Documents given as text (MCP `ingest`); `source` is their id, its extension picks the format. */
  texts?: InlineText[];
  cwd: string;
  /** Folder source ids are relative to (see `resolveSourceRoot`); default cwd. */
  root?: string;
  include: string[];
  exclude: string[];
  gitignore: boolean;
  maxFileBytes: number;
  /** A source that makes more chunks is skipped as too large (bounds embedding time and store size). */
  maxChunksPerSource?: number;
  urlTimeoutMs: number;
  /** Let URLs reach loopback/private/link-local addresses (SSRF guard off). */
  allowPrivateUrls: boolean;
  chunking: ChunkingOptions;
  /** Tags attached to every chunk of this ingest; a change of tags re-writes the source. */
  tags: string[];
  /** Remove sources under the given folders that no longer exist. */
  prune: boolean;
  /** Re-embed even unchanged sources (after changing chunk size, say). */
  force: boolean;
  /** Folders the walk never enters (the embedded store's folder). */
  skipFolders?: string[];
  /**
   * Chunks embedded and written per store commit. Unset: the first commit takes DEFAULT_BATCH_CHUNKS and each
   * next one twice as many, up to MAX_BATCH_CHUNKS (or MAX_BATCH_TEXT_CHARS of text).
   */
  batchChunks?: number;
  /**
   * Absolute paths (files or folders) known to have changed since the last sync (a file watcher's events).
   * When given, a discovered file outside them that is already stored counts as unchanged without being read;
   * files not stored yet are read anyway, so an event the watcher missed costs a read, never a lost file.
   * Discovery and pruning are unchanged: ignore rules, types and removals stay exactly those of a full sync.
   */
  changedPaths?: readonly string[];
  signal?: AbortSignal;
  onProgress?: (event: IngestProgress) => void;
}

export interface InlineText {
  source: string;
  text: string;
}

/** Inline texts get ids under this scheme, so that pruning a folder never removes them. */
export const INLINE_SOURCE_PREFIX = "inline:";

export interface IngestProgress {
  phase: "scan" | "ingest" | "prune" | "index" | "done";
  /** Sources handled so far / in all (ingest phase). */
  done: number;
  total: number;
  source?: string;
}

export interface IngestSummary {
  added: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
  skipped: SkippedSource[];
  /**
   * Ids from before source ids were canonical (relative to another working directory) whose file was found
   * again under its canonical id with the same content: removed in the same commit that holds the canonical one.
   */
  legacyIds: string[];
  /** Files the folder walks looked at and left out, by reason (counted, never silently dropped). */
  notTaken: NotTaken;
  /** Sources read in a way worth saying (a fallback encoding). */
  notes: { source: string; note: string }[];
  /** Set when the ingest found the store damaged and repaired it first: what was done, in one line. */
  repaired?: string;
  chunksWritten: number;
  chunksRemoved: number;
  durationMs: number;
  /** The chunks written, by writing system, and how many the embedder could not embed (language.ts). */
  languages: LanguageCounts;
  /** Things the person should act on (an embedder that does not fit the text); also logged once on stderr. */
  warnings: string[];
}

interface PreparedSource {
  source: string;
  doc: LoadedDocument;
  chunks: TextChunk[];
}

/**
 * Commit sizes. Every commit costs a scan of the table (the merge finds each source's old rows) and may fold
 * the full-text index, so an ingest wants few; a small first one makes the first documents searchable soon
 * and bounds what a kill loses early. Doubling from DEFAULT to MAX gives a handful of commits for any size
 * (16,000 chunks: 6 instead of 32 at a fixed 512), and the caps bound the memory of one batch (text, vectors,
 * and its Arrow copy) to some tens of MB.
 */
const DEFAULT_BATCH_CHUNKS = 512;
const MAX_BATCH_CHUNKS = 8192;
const MAX_BATCH_TEXT_CHARS = 16 * 1024 * 1024;

/** Bump when chunking changes in a way that should re-chunk unchanged files. */
const CHUNKER_VERSION = 1;

/** Deterministic chunk id: the same source, position and content always give the same id. */
export function chunkId(source: string, position: number, contentHash: string): string {
  return sha256Hex(`${source}\u0000${position}\u0000${contentHash}`).slice(0, 32);
}

/**
 * What the embedder sees: the heading path gives a section's chunks their context. A chunk that starts with
 * its own heading line gets only the parent headings, so the title is not counted twice.
 */
export function embeddingText(chunk: Pick<TextChunk, "text" | "headingPath">): string {
  const path = chunk.headingPath;
  if (path.length === 0) return chunk.text;
  const firstLine = chunk.text.split("\n", 1)[0] ?? "";
  const own = path.at(-1) ?? "";
  const context = firstLine.includes(own) ? path.slice(0, -1) : path;
  return context.length > 0 ? `${context.join(" > ")}\n${chunk.text}` : chunk.text;
}

/**
 * The fingerprint stored as `sourceHash`: the raw bytes' sha256 plus everything else that shapes the chunks
 * (tags, chunking settings). The same fingerprint means there is nothing to do.
 */
export function ingestFingerprint(bytesHash: string, tags: readonly string[], chunking: ChunkingOptions): string {
  const settings = `${chunking.maxChars},${chunking.overlapChars},${chunking.minChars}`;
  return sha256Hex(`mrag-ingest-v${CHUNKER_VERSION}\u0000${bytesHash}\u0000${tags.join("\u0000")}\u0000${settings}`);
}

/**
 * Incremental sync of files, folders and URLs into a collection. Unchanged sources (same bytes, same tags)
 * are skipped by content hash; each changed source is replaced atomically (old and new chunks never
 * coexist); with `prune`, sources under the given folders that disappeared are removed.
 * The caller holds the store's write lock.
 */
export async function ingestSources(
  collection: Collection,
  embedder: Embedder,
  request: IngestRequest,
): Promise<IngestSummary> {
  const started = Date.now();
  const tags = [...new Set(request.tags)].sort();
  const progress = request.onProgress ?? (() => {});
  const summary: IngestSummary = {
    added: [],
    updated: [],
    unchanged: [],
    removed: [],
    skipped: [],
    legacyIds: [],
    notTaken: { byReason: {} as NotTaken["byReason"], byExtension: {} },
    notes: [],
    chunksWritten: 0,
    chunksRemoved: 0,
    durationMs: 0,
    languages: emptyLanguageCounts(),
    warnings: [],
  };

  progress({ phase: "scan", done: 0, total: 0 });
  const discovered = await discoverFiles(request.inputs, {
    cwd: request.cwd,
    ...(request.root !== undefined ? { root: request.root } : {}),
    include: request.include,
    exclude: request.exclude,
    respectGitignore: request.gitignore,
    maxFileBytes: request.maxFileBytes,
    ...(request.skipFolders ? { skipFolders: request.skipFolders } : {}),
  });
  summary.skipped.push(...discovered.skipped);
  summary.notTaken = discovered.notTaken;
  const existing = new Map((await collection.listSources()).map((s) => [s.source, s]));
  const seen = new Set<string>(discovered.skipped.map((s) => s.source));
  const texts = request.texts ?? [];
  const total = discovered.files.length + discovered.urls.length + texts.length;
  let done = 0;
  let pending: PreparedSource[] = [];
  let pendingChunks = 0;
  let pendingChars = 0;
  const removals: SourceReplacement[] = [];
  const commits = new CommitQueue(collection);
  let batchLimit = request.batchChunks ?? DEFAULT_BATCH_CHUNKS;
  const batchFull = () => pendingChunks >= batchLimit || pendingChars >= MAX_BATCH_TEXT_CHARS;

  // Embeds the batch (while the previous commit is still being written), then queues its commit. The last
  // one's index upkeep is left to the optimize() below.
  const flush = async (last = false) => {
    if (pending.length === 0 && removals.length === 0) return;
    const replacements = await embedPrepared(pending, embedder, tags);
    replacements.push(...removals.splice(0));
    pending = [];
    pendingChunks = 0;
    pendingChars = 0;
    if (request.batchChunks === undefined) batchLimit = Math.min(MAX_BATCH_CHUNKS, batchLimit * 2);
    await commits.submit(replacements, { ingest: last ? "last" : "more" });
    for (const r of replacements) {
      summary.chunksWritten += r.chunks.length;
      for (const chunk of r.chunks) countChunkLanguage(summary.languages, chunk.text, chunk.vector);
    }
  };

  const fingerprint = (bytesHash: string) => ingestFingerprint(bytesHash, tags, request.chunking);
  const consider = async (source: string, load: () => Promise<LoadedDocument | SkippedSource>, bytesHash?: string) => {
    throwIfAborted(request.signal);
    seen.add(source);
    const previous = existing.get(source);
    const isUnchanged = (hash: string) => !request.force && previous?.sourceHash === fingerprint(hash);
    if (bytesHash && isUnchanged(bytesHash)) {
      summary.unchanged.push(source);
      return;
    }
    const result = await load();
    if ("reason" in result) {
      summary.skipped.push(result);
      return;
    }
    if (isUnchanged(result.sourceHash)) {
      summary.unchanged.push(source);
      return;
    }
    if (result.note !== undefined) summary.notes.push({ source, note: result.note });
    const loaded = { ...result, sourceHash: fingerprint(result.sourceHash) };
    const chunks = chunkDocument(loaded, request.chunking);
    const maxChunks = request.maxChunksPerSource ?? Number.POSITIVE_INFINITY;
    if (chunks.length > maxChunks) {
      // Its previous chunks (if any) stay: the source is reported, not silently emptied.
      summary.skipped.push({
        source,
        reason: "too-large",
        detail: `${chunks.length} chunks is over the limit of ${maxChunks} (ingest.maxChunksPerSource)`,
      });
      return;
    }
    if (chunks.length === 0) {
      summary.skipped.push({ source, reason: "empty" });
      if (previous) {
        // The source now has no text: its old chunks are stale.
        removals.push({ source, chunks: [] });
        summary.removed.push(source);
        summary.chunksRemoved += previous.chunks;
      }
      return;
    }
    pending.push({ source, doc: loaded, chunks });
    pendingChunks += chunks.length;
    for (const chunk of chunks) pendingChars += chunk.text.length;
    (previous ? summary.updated : summary.added).push(source);
    if (previous) summary.chunksRemoved += previous.chunks;
    if (batchFull()) await flush();
  };

  const legacy = legacyIndex(existing.keys());
  const dropLegacy = (file: { absPath: string; source: string }, bytesHash: string) => {
    for (const old of legacyCandidates(legacy, file)) {
      const info = existing.get(old);
      if (!info || seen.has(old) || info.sourceHash !== fingerprint(bytesHash)) continue;
      removals.push({ source: old, chunks: [] });
      summary.legacyIds.push(old);
      summary.removed.push(old);
      summary.chunksRemoved += info.chunks;
      seen.add(old);
    }
  };

  const touched = request.changedPaths ? touchedBy(request.changedPaths) : undefined;
  try {
    for (const file of discovered.files) {
      progress({ phase: "ingest", done, total, source: file.source });
      if (touched && !touched(file.absPath) && existing.has(file.source)) {
        seen.add(file.source);
        summary.unchanged.push(file.source);
        done++;
        continue;
      }
      const bytes = await readRegularFile(file.absPath, file.source, {
        maxBytes: request.maxFileBytes,
        noFollow: file.walked,
      });
      if (!Buffer.isBuffer(bytes)) {
        summary.skipped.push(bytes);
        seen.add(file.source);
        done++;
        continue;
      }
      const bytesHash = sha256Hex(bytes);
      // Queued before the canonical source, so both land in the same commit.
      dropLegacy(file, bytesHash);
      await consider(file.source, async () => loadBytes(bytes, file.source, detectFileType(file.absPath)), bytesHash);
      done++;
    }
    for (const url of discovered.urls) {
      progress({ phase: "ingest", done, total, source: url });
      await consider(url, () =>
        loadUrl(url, {
          timeoutMs: request.urlTimeoutMs,
          maxBytes: request.maxFileBytes,
          allowPrivate: request.allowPrivateUrls,
        }),
      );
      done++;
    }
    for (const inline of texts) {
      progress({ phase: "ingest", done, total, source: inline.source });
      const bytes = Buffer.from(inline.text, "utf8");
      const type = detectFileType(inline.source) ?? { fileType: "markdown" as const };
      await consider(inline.source, async () => loadBytes(bytes, inline.source, type), sha256Hex(bytes));
      done++;
    }
    await flush(true);
    await commits.drain();
  } catch (error) {
    // A commit may still be running: the caller releases the write lock when this returns.
    await commits.settle();
    throw error;
  }

  if (request.prune) {
    progress({ phase: "prune", done, total });
    const scopes = discovered.folders;
    for (const source of existing.keys()) {
      if (seen.has(source) || !scopes.some((scope) => inScope(source, scope))) continue;
      throwIfAborted(request.signal);
      summary.chunksRemoved += await collection.deleteSources({ source });
      summary.removed.push(source);
    }
  }

  if (summary.chunksWritten > 0 || summary.removed.length > 0) {
    progress({ phase: "index", done, total });
    await collection.optimize();
  } else {
    // Nothing changed, but a killed ingest before this one may have left rows behind (Milvus generations).
    await collection.cleanup?.();
  }
  summary.durationMs = Date.now() - started;
  progress({ phase: "done", done, total });
  return summary;
}

/** Whether a file is one of `changed` or lies under one of them (a folder renamed in, say). */
function touchedBy(changed: readonly string[]): (absPath: string) => boolean {
  const exact = new Set(changed.map((p) => path.resolve(p)));
  const folders = [...exact].map((p) => (p.endsWith(path.sep) ? p : p + path.sep));
  return (absPath) => exact.has(absPath) || folders.some((f) => absPath.startsWith(f));
}

/** Stored ids that may be an older id of a file: relative paths by last segment, absolute paths as they are. */
type LegacyIndex = Map<string, string[]>;

function legacyIndex(ids: Iterable<string>): LegacyIndex {
  const byName: LegacyIndex = new Map();
  for (const id of ids) {
    if (id.startsWith(INLINE_SOURCE_PREFIX) || /^[a-z][a-z0-9+.-]*:\/\//i.test(id)) continue;
    const name = id.slice(id.lastIndexOf("/") + 1);
    byName.set(name, [...(byName.get(name) ?? []), id]);
  }
  return byName;
}

/**
 * Ids an earlier mrag (ids relative to whatever working directory it ran in) may have given this file: its
 * absolute path, or a relative id that is a whole-segment tail of it (`notes/a.md`, `tmp/x/notes/a.md`).
 */
function legacyCandidates(index: LegacyIndex, file: { absPath: string; source: string }): string[] {
  const abs = file.absPath.split("\\").join("/");
  const name = abs.slice(abs.lastIndexOf("/") + 1);
  return (index.get(name) ?? []).filter(
    (id) => id !== file.source && (id === abs || (!id.startsWith("/") && abs.endsWith(`/${id}`))),
  );
}

/** A folder scope is a source-id prefix ending in `/`; `""` is the working directory (relative ids only). */
function inScope(source: string, scope: string): boolean {
  if (scope === "") {
    return (
      !source.startsWith("/") && !source.startsWith(INLINE_SOURCE_PREFIX) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(source)
    );
  }
  return source.startsWith(scope);
}

async function embedPrepared(
  prepared: readonly PreparedSource[],
  embedder: Embedder,
  tags: string[],
): Promise<SourceReplacement[]> {
  const texts = prepared.flatMap((p) => p.chunks.map(embeddingText));
  const vectors = texts.length > 0 ? await embedder.embedDocuments(texts) : [];
  if (vectors.length !== texts.length) {
    throw new IngestError(`the embedder returned ${vectors.length} vectors for ${texts.length} chunks`);
  }
  const now = Date.now();
  let next = 0;
  return prepared.map(({ source, doc, chunks }) => ({
    source,
    chunks: chunks.map((chunk): ChunkRecord => {
      const chunkTags = doc.tags?.length ? [...new Set([...tags, ...doc.tags])].sort() : tags;
      const contentHash = sha256Hex(chunk.text);
      return {
        id: chunkId(source, chunk.position, contentHash),
        source,
        text: chunk.text,
        headingPath: chunk.headingPath,
        position: chunk.position,
        lineStart: chunk.lineStart,
        lineEnd: chunk.lineEnd,
        fileType: doc.fileType,
        tags: chunkTags,
        contentHash,
        sourceHash: doc.sourceHash,
        ingestedAt: now,
        vector: vectors[next++] as Float32Array,
      };
    }),
  }));
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted)
    throw new UsageError("ingest cancelled; sources written so far are complete, the rest untouched");
}
