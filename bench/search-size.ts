/**
 * Search latency at one collection size, in two child processes so the query process's RSS is the store's:
 *
 *   node dist/bench/search-size.js --phase build --size 100000 --work <dir> --out <file> [--noise 0.5] [--batch 20000]
 *   node dist/bench/search-size.js --phase query --size 100000 --work <dir> --out <file> [--rounds 2] [--warmup 20]
 *
 * build: rows are the real chunk vectors from search-prepare.js; beyond those, synthetic rows made from a
 *   real row (chosen uniformly with replacement) plus Gaussian noise of norm ~`noise`, renormalised, carrying
 *   that real row's text (so BM25 sees real postings). Inserted with Collection.upsert in batches, then
 *   Collection.optimize() (FTS, and a vector index above the store's threshold). Then the plain TypeScript
 *   brute-force scan answers every query exactly: its latency is the baseline and its top 10 the truth.
 * query: opens the store as the CLI does (default index policy), loads the builtin model (as a server would),
 *   warms up, then times Collection.search per mode over every query, `rounds` times; dense recall@10 is
 *   measured against the exact top 10.
 * Prints numbers; asserts nothing.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { openStore } from "../src/store/index.js";
import type { ChunkRecord, Collection, SearchRequest } from "../src/store/types.js";
import { childArgs, writeResult } from "./lib/child.js";
import { builtinEmbedder } from "./lib/mrag.js";
import type { MeasuredMode, SearchBuildResult, SearchQueryResult } from "./lib/results.js";
import {
  BENCH_COLLECTION,
  benchRecord,
  readQuerySet,
  readSearchData,
  readTruth,
  rowId,
  storeDirFor,
  writeTruth,
} from "./lib/search-data.js";
import {
  bruteForceTopK,
  currentRssMb,
  fmt,
  folderBytes,
  gaussian,
  type LatencySummary,
  log,
  normaliseInPlace,
  peakRssMb,
  prng,
  summarize,
} from "./lib/util.js";

const K = 10;

/** CPU seconds this process has used (user + system). */
function cpuSeconds(): string {
  const u = process.cpuUsage();
  return fmt((u.user + u.system) / 1e6);
}

async function build(
  work: string,
  size: number,
  noise: number,
  batchSize: number,
  optimizeTimeoutSeconds: number,
): Promise<SearchBuildResult> {
  const data = await readSearchData(work);
  const dim = data.queries.dimension;
  const real = data.rows.length;
  const random = prng(20_251_125 + size);

  log(`[${size}] generating ${size} rows from ${real} real chunk vectors (noise ${noise})`);
  let t0 = performance.now();
  // Real rows first (all of them, or a random subset when the size is smaller), then synthetic ones.
  const order = Array.from({ length: real }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const realUsed = Math.min(size, real);
  const origin = new Int32Array(size);
  const flat = new Float32Array(size * dim);
  for (let i = 0; i < realUsed; i++) {
    origin[i] = order[i]!;
    flat.set(data.vectors.subarray(order[i]! * dim, (order[i]! + 1) * dim), i * dim);
  }
  const sigma = noise / Math.sqrt(dim);
  let cosSum = 0;
  for (let i = realUsed; i < size; i++) {
    const j = Math.floor(random() * real);
    origin[i] = j;
    const base = i * dim;
    const src = j * dim;
    for (let d = 0; d < dim; d++) flat[base + d] = data.vectors[src + d]! + gaussian(random) * sigma;
    normaliseInPlace(flat, base, dim);
    let c = 0;
    for (let d = 0; d < dim; d++) c += flat[base + d]! * data.vectors[src + d]!;
    cosSum += c;
  }
  const generateSeconds = (performance.now() - t0) / 1000;

  const storeDir = storeDirFor(work, size);
  rmSync(path.dirname(storeDir), { recursive: true, force: true });
  const store = await openStore(storeDir, work);
  let result: SearchBuildResult;
  try {
    const collection = await store.openCollection(BENCH_COLLECTION, {
      modelId: data.queries.modelId,
      dimension: dim,
      create: true,
    });
    const now = Date.now();
    const record = (i: number): ChunkRecord => {
      const row = data.rows[origin[i]!]!;
      return benchRecord(row, {
        id: rowId(i),
        source: i < realUsed ? row.source : `synthetic/${Math.floor(i / real)}/${row.source}`,
        position: i,
        ingestedAt: now,
        vector: flat.subarray(i * dim, (i + 1) * dim),
      });
    };
    log(`[${size}] upserting in batches of ${batchSize}`);
    t0 = performance.now();
    let slowest = 0;
    let lastLog = performance.now();
    for (let start = 0; start < size; start += batchSize) {
      const batch: ChunkRecord[] = [];
      for (let i = start; i < Math.min(size, start + batchSize); i++) batch.push(record(i));
      const tb = performance.now();
      await collection.upsert(batch);
      slowest = Math.max(slowest, performance.now() - tb);
      if (performance.now() - lastLog > 30_000) {
        lastLog = performance.now();
        log(`[${size}]   ${start + batch.length} rows after ${fmt((lastLog - t0) / 1000)} s`);
      }
    }
    const insertSeconds = (performance.now() - t0) / 1000;
    log(`[${size}] inserted in ${fmt(insertSeconds)} s; optimize()`);
    t0 = performance.now();
    // LanceDB's full-text index build can deadlock (threads asleep, no CPU); do not wait forever.
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      collection.optimize().then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), optimizeTimeoutSeconds * 1000);
      }),
    ]);
    clearTimeout(timer);
    const optimizeSeconds = (performance.now() - t0) / 1000;
    const written = {
      size,
      realRows: realUsed,
      syntheticRows: size - realUsed,
      noise,
      syntheticCosine: size > realUsed ? cosSum / (size - realUsed) : Number.NaN,
      generateSeconds,
      batchSize,
      insertSeconds,
      insertMaxBatchSeconds: slowest / 1000,
      optimizeSeconds,
      lanceCpuThreads: process.env.LANCE_CPU_THREADS ?? "default",
    };
    if (!finished) {
      log(`[${size}] optimize() still running after ${fmt(optimizeSeconds)} s (cpu ${cpuSeconds()} s); giving up`);
      return {
        ...written,
        optimizeTimedOut: true,
        indexes: {},
        storeBytes: await folderBytes(storeDir),
        bruteForce: summarize([]),
        peakRssMb: peakRssMb(),
      };
    }
    const stats = await collection.stats();
    log(`[${size}] optimize ${fmt(optimizeSeconds)} s, indexes ${JSON.stringify(stats.indexes)}, rows ${stats.chunks}`);

    log(`[${size}] brute-force exact top-${K} for ${data.queries.queries.length} queries`);
    const times: number[] = [];
    const truth: number[][] = [];
    for (let q = 0; q < data.queries.queries.length; q++) {
      const query = data.queries.vectors.subarray(q * dim, (q + 1) * dim);
      const tq = performance.now();
      truth.push(bruteForceTopK(flat, size, dim, query, K));
      times.push(performance.now() - tq);
    }
    await writeTruth(work, size, truth);
    result = {
      ...written,
      optimizeTimedOut: false,
      indexes: stats.indexes,
      storeBytes: await folderBytes(storeDir),
      bruteForce: summarize(times),
      peakRssMb: peakRssMb(),
    };
  } finally {
    await store.close();
  }
  return result;
}

async function timeMode(
  collection: Collection,
  request: (q: number) => SearchRequest,
  queries: number,
  rounds: number,
  onHits?: (q: number, ids: string[]) => void,
): Promise<LatencySummary> {
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let q = 0; q < queries; q++) {
      const t0 = performance.now();
      const hits = await collection.search(request(q));
      times.push(performance.now() - t0);
      if (r === 0)
        onHits?.(
          q,
          hits.map((h) => h.chunk.id),
        );
    }
  }
  return summarize(times);
}

async function query(work: string, size: number, rounds: number, warmup: number): Promise<SearchQueryResult> {
  const set = await readQuerySet(work);
  const truth = await readTruth(work, size);
  const dim = set.dimension;
  const n = set.queries.length;
  const vector = (q: number) => set.vectors.subarray(q * dim, (q + 1) * dim);

  let t0 = performance.now();
  const store = await openStore(storeDirFor(work, size), work);
  try {
    const collection = await store.openCollection(BENCH_COLLECTION, {
      modelId: set.modelId,
      dimension: dim,
      create: false,
    });
    const openSeconds = (performance.now() - t0) / 1000;
    const rssAfterOpenMb = peakRssMb();

    t0 = performance.now();
    const embedder = await builtinEmbedder(work);
    const modelLoadSeconds = (performance.now() - t0) / 1000;
    const embedTimes: number[] = [];
    for (const q of set.queries) {
      const te = performance.now();
      await embedder.embedQuery(q);
      embedTimes.push(performance.now() - te);
    }

    const requests: Record<MeasuredMode, (q: number) => SearchRequest> = {
      hybrid: (q) => ({ mode: "hybrid", k: K, vector: vector(q), text: set.queries[q]! }),
      dense: (q) => ({ mode: "dense", k: K, vector: vector(q) }),
      keyword: (q) => ({ mode: "keyword", k: K, text: set.queries[q]! }),
      // What hybrid asks each branch for (hybridCandidates(10) = 50), to see which branch dominates.
      "dense@50": (q) => ({ mode: "dense", k: 50, vector: vector(q) }),
      "keyword@50": (q) => ({ mode: "keyword", k: 50, text: set.queries[q]! }),
    };
    // The embedded store keeps what unfiltered searches scan in memory. Warm it up as `mrag serve` does
    // (prepareSearch; searches wait for that load), so this process is a server's: the first queries below
    // come after it, and LanceDB's own vector index is never loaded beside it.
    let snapshotSeconds: number | undefined;
    let rssAfterSnapshotMb: number | undefined;
    const prepare = (collection as { prepareSearch?: () => Promise<boolean> }).prepareSearch;
    if (prepare) {
      const ts = performance.now();
      const loaded = await prepare.call(collection);
      snapshotSeconds = loaded ? (performance.now() - ts) / 1000 : undefined;
      rssAfterSnapshotMb = currentRssMb();
      log(
        `[${size}] in-memory snapshot ${loaded ? "loaded" : "not loaded"} in ${fmt((performance.now() - ts) / 1000)} s`,
      );
    }
    const firstQueryMs = { hybrid: 0, dense: 0, keyword: 0 };
    for (const mode of ["keyword", "dense", "hybrid"] as const) {
      const tf = performance.now();
      await collection.search(requests[mode](0));
      firstQueryMs[mode] = performance.now() - tf;
    }
    for (const mode of Object.keys(requests) as MeasuredMode[]) {
      for (let q = 0; q < Math.min(warmup, n); q++) await collection.search(requests[mode]((q * 7) % n));
    }

    let found = 0;
    const modes = {} as Record<MeasuredMode, LatencySummary>;
    for (const mode of Object.keys(requests) as MeasuredMode[]) {
      log(`[${size}] ${mode}: ${n} queries x ${rounds} rounds`);
      modes[mode] = await timeMode(
        collection,
        requests[mode],
        n,
        rounds,
        mode === "dense"
          ? (q, ids) => {
              const want = new Set((truth[q] ?? []).map(rowId));
              found += ids.filter((id) => want.has(id)).length;
            }
          : undefined,
      );
      log(
        `[${size}] ${mode}: p50 ${fmt(modes[mode].p50)} ms, p95 ${fmt(modes[mode].p95)}, p99 ${fmt(modes[mode].p99)}`,
      );
    }
    await embedder.close();
    return {
      size,
      queries: n,
      rounds,
      openSeconds,
      modelLoadSeconds,
      firstQueryMs,
      embedQuery: summarize(embedTimes),
      modes,
      denseRecallAt10: found / (n * K),
      rssAfterOpenMb,
      ...(snapshotSeconds !== undefined ? { snapshotSeconds } : {}),
      ...(rssAfterSnapshotMb !== undefined ? { rssAfterSnapshotMb } : {}),
      peakRssMb: peakRssMb(),
    };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const args = childArgs(["phase", "size", "work", "noise", "batch", "rounds", "warmup", "optimize-timeout"] as const);
  if (!args.work || !args.size) throw new Error("missing --work <dir> or --size <n>");
  const size = Number(args.size);
  if (args.phase === "build") {
    const result = await build(
      args.work,
      size,
      Number(args.noise ?? 0.5),
      Number(args.batch ?? 20_000),
      Number(args["optimize-timeout"] ?? 900),
    );
    await writeResult(args.out, result);
    // A timed-out optimize leaves LanceDB threads waiting forever; do not wait for them.
    if (result.optimizeTimedOut) process.exit(3);
  } else if (args.phase === "query") {
    const result = await query(args.work, size, Number(args.rounds ?? 2), Number(args.warmup ?? 20));
    await writeResult(args.out, result);
  } else {
    throw new Error("--phase must be build or query");
  }
}

await main();
