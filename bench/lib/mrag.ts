/**
 * How the benchmarks drive mrag: contexts built exactly like the CLI's (config flags over defaults), the
 * ingest stages called one by one, and a context whose embedder and collection time every call.
 */
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { loadConfig, type MragConfig } from "../../src/config/index.js";
import { createEmbedder } from "../../src/embed/index.js";
import type { Embedder } from "../../src/embed/types.js";
import { chunkDocument, DEFAULT_MIN_CHARS } from "../../src/ingest/chunk/index.js";
import { loadFile } from "../../src/ingest/loaders/index.js";
import { embeddingText } from "../../src/ingest/sync.js";
import type { ChunkingOptions } from "../../src/ingest/types.js";
import { discoverFiles } from "../../src/ingest/walk.js";
import { silentLogger } from "../../src/log.js";
import type { Collection, ReplaceOptions, SearchRequest, SourceReplacement } from "../../src/store/types.js";
import { createContext, type MragContext } from "../../src/tools/context.js";

/** The default config (builtin embedder) with the store in `storeDir`; no env or config file is read. */
export function benchConfig(cwd: string, storeDir: string, flags: Record<string, unknown> = {}): MragConfig {
  return loadConfig({ cwd, env: {}, flags: { store: storeDir, logLevel: "silent", ...flags } }).config;
}

export function benchContext(cwd: string, storeDir: string): MragContext {
  return createContext(benchConfig(cwd, storeDir), { cwd, logger: silentLogger });
}

/** The builtin embedder, created and initialised the way the CLI does it. */
export async function builtinEmbedder(cwd: string): Promise<Embedder> {
  const embedder = await createEmbedder(benchConfig(cwd, "unused-store"));
  await embedder.init();
  return embedder;
}

/** The chunking options runIngest derives from the config. */
export function chunkingFromConfig(config: MragConfig): ChunkingOptions {
  const chunkChars = config.ingest.chunkChars;
  return {
    maxChars: chunkChars,
    overlapChars: Math.min(config.ingest.overlapChars, Math.floor(chunkChars / 2)),
    minChars: Math.min(DEFAULT_MIN_CHARS, Math.floor(chunkChars / 4)),
  };
}

export interface PreparedChunk {
  source: string;
  text: string;
  headingPath: string[];
  /** What the embedder sees (heading path + text), as ingest builds it. */
  embedText: string;
}

export interface PreparedCorpus {
  files: number;
  bytes: number;
  chunks: PreparedChunk[];
  discoverMs: number;
  loadMs: number;
  chunkMs: number;
}

/** Discovery, loading and chunking of `inputs`, each stage timed, with the same options runIngest uses. */
export async function prepareCorpus(cwd: string, inputs: string[], config: MragConfig): Promise<PreparedCorpus> {
  let t0 = performance.now();
  const discovered = await discoverFiles(inputs, {
    cwd,
    include: config.ingest.include,
    exclude: config.ingest.exclude,
    respectGitignore: config.ingest.gitignore,
    maxFileBytes: config.ingest.maxFileBytes,
  });
  const discoverMs = performance.now() - t0;
  let loadMs = 0;
  let chunkMs = 0;
  let bytes = 0;
  const chunks: PreparedChunk[] = [];
  const options = chunkingFromConfig(config);
  for (const file of discovered.files) {
    t0 = performance.now();
    // ingest reads each file once to hash it and once more through the loader; do the same.
    bytes += (await readFile(file.absPath)).length;
    const loaded = await loadFile(file.absPath, file.source);
    loadMs += performance.now() - t0;
    if ("reason" in loaded) continue;
    t0 = performance.now();
    const pieces = chunkDocument(loaded, options);
    chunkMs += performance.now() - t0;
    for (const c of pieces) {
      chunks.push({ source: file.source, text: c.text, headingPath: c.headingPath, embedText: embeddingText(c) });
    }
  }
  return { files: discovered.files.length, bytes, chunks, discoverMs, loadMs, chunkMs };
}

/** Milliseconds spent in each instrumented call, summed. */
export interface CallTimings {
  modelLoad: number;
  embed: number;
  embedCalls: number;
  storeWrite: number;
  storeWriteCalls: number;
  /** Each write call's duration in ms, in order. */
  storeWriteMs: number[];
  optimize: number;
  storeRead: number;
}

export function emptyTimings(): CallTimings {
  return {
    modelLoad: 0,
    embed: 0,
    embedCalls: 0,
    storeWrite: 0,
    storeWriteCalls: 0,
    storeWriteMs: [],
    optimize: 0,
    storeRead: 0,
  };
}

async function timed<T>(fn: () => Promise<T>, add: (ms: number) => void): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    add(performance.now() - t0);
  }
}

function timedEmbedder(inner: Embedder, t: CallTimings): Embedder {
  return {
    get modelId() {
      return inner.modelId;
    },
    get dimension() {
      return inner.dimension;
    },
    init: () =>
      timed(
        () => inner.init(),
        (ms) => (t.modelLoad += ms),
      ),
    embedDocuments: (texts: readonly string[]) =>
      timed(
        () => inner.embedDocuments(texts),
        (ms) => {
          t.embed += ms;
          t.embedCalls++;
        },
      ),
    embedQuery: (text: string) => inner.embedQuery(text),
    close: () => inner.close(),
  };
}

function timedCollection(inner: Collection, t: CallTimings): Collection {
  const write = (ms: number) => {
    t.storeWrite += ms;
    t.storeWriteCalls++;
    t.storeWriteMs.push(ms);
  };
  const read = (ms: number) => (t.storeRead += ms);
  return {
    get meta() {
      return inner.meta;
    },
    replaceSources: (r: readonly SourceReplacement[], options?: ReplaceOptions) =>
      timed(() => inner.replaceSources(r, options), write),
    upsert: (chunks) => timed(() => inner.upsert(chunks), write),
    deleteSources: (selector) => timed(() => inner.deleteSources(selector), write),
    getByIds: (ids) => timed(() => inner.getByIds(ids), read),
    neighbours: (id, before, after) => timed(() => inner.neighbours(id, before, after), read),
    getSource: (source) => timed(() => inner.getSource(source), read),
    exportSources: (sources) => timed(() => inner.exportSources(sources), read),
    listSources: (options) => timed(() => inner.listSources(options), read),
    stats: () => timed(() => inner.stats(), read),
    search: (request: SearchRequest) => timed(() => inner.search(request), read),
    optimize: () =>
      timed(
        () => inner.optimize(),
        (ms) => (t.optimize += ms),
      ),
  };
}

/**
 * A context that behaves like `inner` but adds the time of every embedder and collection call to `t`.
 * Model loading is timed where it happens (the first `embedder()` call).
 */
export function instrumentedContext(inner: MragContext, t: CallTimings): MragContext {
  let embedder: Promise<Embedder> | undefined;
  const context: MragContext = {
    config: inner.config,
    cwd: inner.cwd,
    logger: inner.logger,
    store: () => inner.store(),
    embedder() {
      embedder ??= timed(
        () => inner.embedder(),
        (ms) => (t.modelLoad += ms),
      ).then((e) => timedEmbedder(e, t));
      return embedder;
    },
    async collection(options) {
      // Opening a collection for writing loads the model; count that as model load, not store time.
      if (options.create) await context.embedder();
      return timedCollection(await inner.collection(options), t);
    },
    close: () => inner.close(),
  };
  return context;
}
