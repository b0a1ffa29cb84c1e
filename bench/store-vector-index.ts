/**
 * Measures the embedded store's dense search with and without the IVF_FLAT vector index, to justify the
 * index threshold and probe defaults in src/store/embedded/collection.ts, plus the write-path costs around it.
 * Prints numbers, asserts nothing.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/store-vector-index.js \
 *     [--sizes 10000,100000] [--queries 200] [--nprobes 1,4,16,32] [--cluster-size 100] [--noise 1.0]
 *
 * Data: clustered 256-d unit vectors (random unit centroids + Gaussian noise, normalised; queries drawn the
 * same way) and ~700-character chunk texts over a Zipf-like vocabulary (so full-text indexing costs what it
 * does on real chunks). Recall@10 is measured against an exact brute-force top 10 computed in TypeScript.
 * Rows are written like an ingest does: replaceSources() calls of 50 sources x 20 chunks.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type { EmbeddedCollection } from "../src/store/embedded/collection.js";
import { vectorIndexPartitions } from "../src/store/embedded/maintenance.js";
import { type EmbeddedStore, openEmbeddedStore } from "../src/store/embedded/store.js";
import type { ChunkRecord, Collection, SearchRequest } from "../src/store/types.js";
import { gaussian, prng } from "./lib/util.js";

const DIM = 256;
const K = 10;
const CHUNKS_PER_SOURCE = 20;
const SOURCES_PER_WRITE = 50;

function normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

/** Clustered data: `clusters` random unit centroids; each point is centroid + N(0, noise²/DIM) per component. */
function makeVectors(count: number, clusters: number, noise: number, seed: number) {
  const random = prng(seed);
  const centroids = Array.from({ length: clusters }, () =>
    normalise(Float32Array.from({ length: DIM }, () => gaussian(random))),
  );
  const sigma = noise / Math.sqrt(DIM);
  const sample = () => {
    const c = centroids[Math.floor(random() * clusters)]!;
    return normalise(Float32Array.from(c, (x) => x + gaussian(random) * sigma));
  };
  return { vectors: Array.from({ length: count }, sample), sample };
}

/** ~700 characters of words from a 20k-word vocabulary with a skewed (Zipf-like) frequency. */
function makeTexts(count: number, seed: number): string[] {
  const random = prng(seed);
  const vocab = Array.from({ length: 20_000 }, (_, i) => `w${i.toString(36)}`);
  return Array.from({ length: count }, () =>
    Array.from({ length: 160 }, () => vocab[Math.floor(random() ** 3 * vocab.length)]).join(" "),
  );
}

function exactTopK(vectors: Float32Array[], q: Float32Array, k: number): string[] {
  const best: { i: number; s: number }[] = [];
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i]!;
    let s = 0;
    for (let d = 0; d < DIM; d++) s += v[d]! * q[d]!;
    if (best.length < k || s > best[best.length - 1]!.s) {
      best.push({ i, s });
      best.sort((a, b) => b.s - a.s);
      if (best.length > k) best.pop();
    }
  }
  return best.map((b) => `c${b.i}`);
}

function percentile(sortedMs: number[], p: number): number {
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))]!;
}

interface Measured {
  p50: number;
  p99: number;
  recall: number;
}

async function timed(
  queries: Float32Array[],
  truth: string[][],
  run: (q: Float32Array) => Promise<string[]>,
): Promise<Measured> {
  const times: number[] = [];
  let hit = 0;
  for (const q of queries.slice(0, 5)) await run(q); // warm-up: index and file cache
  for (const [i, q] of queries.entries()) {
    const t0 = performance.now();
    const got = await run(q);
    times.push(performance.now() - t0);
    const want = new Set(truth[i]);
    hit += got.filter((id) => want.has(id)).length;
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), recall: hit / (queries.length * K) };
}

/** Dense search through the store (what mrag runs). */
function viaStore(collection: Collection, extra?: Partial<SearchRequest>) {
  return async (q: Float32Array) =>
    (await collection.search({ mode: "dense", k: K, vector: q, ...extra })).map((h) => h.chunk.id);
}

/** Dense search straight on the LanceDB table with a fixed probe count (minimum = maximum). */
function fixedProbes(collection: EmbeddedCollection, nprobes: number) {
  return async (q: Float32Array) =>
    (
      await collection.lanceTable
        .vectorSearch(q)
        .distanceType("dot")
        .nprobes(nprobes)
        .select(["id", "_distance"])
        .limit(K)
        .toArray()
    ).map((r) => String(r.id));
}

const fmt = (n: number) => n.toFixed(n < 10 ? 2 : 1);
const line = (label: string, m: Measured, recall = true) =>
  console.log(
    `${label.padEnd(44)} p50 ${fmt(m.p50).padStart(6)} ms  p99 ${fmt(m.p99).padStart(6)} ms` +
      (recall ? `  recall@10 ${m.recall.toFixed(3)}` : ""),
  );

interface Shape {
  /** Average points per cluster. */
  clusterSize: number;
  /** Noise norm relative to the (unit) centroid; 1.0 puts a point's cosine to its centroid near 0.7. */
  noise: number;
}

async function runSize(size: number, queryCount: number, nprobesList: number[], shape: Shape): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "mrag-bench-store-"));
  const folder = join(dir, "data");
  const stores: EmbeddedStore[] = [];
  const open = async (options: { vectorIndexMinRows?: number; nprobes?: number } = {}) => {
    const store = await openEmbeddedStore(folder, { vectorIndexMinRows: Number.MAX_SAFE_INTEGER, ...options });
    stores.push(store);
    const create = stores.length === 1;
    return (await store.openCollection("bench", {
      modelId: "bench:clustered",
      dimension: DIM,
      create,
    })) as EmbeddedCollection;
  };
  try {
    const clusters = Math.max(2, Math.round(size / shape.clusterSize));
    const { vectors, sample } = makeVectors(size, clusters, shape.noise, 1234 + size);
    const texts = makeTexts(size, 99 + size);
    const queries = Array.from({ length: queryCount }, sample);
    const truth = queries.map((q) => exactTopK(vectors, q, K));
    const collection = await open();
    const now = Date.now();
    const chunks: ChunkRecord[] = vectors.map((vector, i) => ({
      id: `c${i}`,
      source: `src/file${Math.floor(i / CHUNKS_PER_SOURCE)}.md`,
      text: texts[i]!,
      headingPath: ["Guide", `Section ${i % 7}`],
      position: i % CHUNKS_PER_SOURCE,
      lineStart: 1,
      lineEnd: 10,
      fileType: "markdown",
      tags: i % 3 === 0 ? ["api"] : [],
      contentHash: "x",
      sourceHash: "y",
      ingestedAt: now,
      vector,
    }));
    console.log(
      `\n== ${size} rows, ${clusters} clusters (noise ${shape.noise}), ${DIM}-d, ` +
        `${Math.round(texts.reduce((n, t) => n + t.length, 0) / size)}-char texts, ${queryCount} queries, k=${K} ==`,
    );
    const perWrite = CHUNKS_PER_SOURCE * SOURCES_PER_WRITE;
    let t0 = performance.now();
    for (let i = 0; i < chunks.length; i += perWrite) {
      const batch = chunks.slice(i, i + perWrite);
      const bySource = new Map<string, ChunkRecord[]>();
      for (const c of batch) bySource.set(c.source, [...(bySource.get(c.source) ?? []), c]);
      await collection.replaceSources([...bySource].map(([source, list]) => ({ source, chunks: list })));
    }
    console.log(
      `ingest-like writes (${perWrite} chunks per replaceSources, FTS kept current) ` +
        `${fmt((performance.now() - t0) / 1000)} s`,
    );
    t0 = performance.now();
    await collection.optimize();
    console.log(`optimize() below the vector threshold ${fmt((performance.now() - t0) / 1000)} s`);

    line("dense exact (no vector index)", await timed(queries, truth, viaStore(collection)));
    const narrow = { filter: { sourcePrefix: "src/file1" } };
    line(
      "dense exact + narrow filter",
      await timed(queries.slice(0, 50), truth.slice(0, 50), viaStore(collection, narrow)),
      false,
    );

    const indexing = await open({ vectorIndexMinRows: 1 });
    t0 = performance.now();
    await indexing.optimize();
    console.log(
      `optimize() building IVF_FLAT (${vectorIndexPartitions(size)} partitions, dot) ` +
        `${fmt((performance.now() - t0) / 1000)} s`,
    );
    for (const nprobes of nprobesList) {
      const c = await open({ nprobes });
      line(`IVF_FLAT store: min nprobes ${nprobes}, max unbounded`, await timed(queries, truth, viaStore(c)));
      line(`IVF_FLAT raw: fixed nprobes ${nprobes}`, await timed(queries, truth, fixedProbes(c, nprobes)));
    }
    const current = await open();
    line(
      "IVF_FLAT store default + narrow filter",
      await timed(queries.slice(0, 50), truth.slice(0, 50), viaStore(current, narrow)),
      false,
    );

    // Write and read paths at this size, with the vector index in place.
    const replacement = chunks
      .slice(0, CHUNKS_PER_SOURCE)
      .map((c) => ({ ...c, text: `${c.text} v2`, sourceHash: "z" }));
    t0 = performance.now();
    await current.replaceSources([{ source: "src/file0.md", chunks: replacement }]);
    const replaceMs = performance.now() - t0;
    t0 = performance.now();
    await current.optimize();
    const reoptimizeMs = performance.now() - t0;
    let pick = 0;
    const words = () => texts[(pick++ * 7919) % size]!.split(" ").slice(0, 5).join(" ");
    const keyword = await timed(queries.slice(0, 50), truth.slice(0, 50), async () =>
      (await current.search({ mode: "keyword", k: K, text: words() })).map((h) => h.chunk.id),
    );
    const hybrid = await timed(queries.slice(0, 50), truth.slice(0, 50), async (q) =>
      (await current.search({ mode: "hybrid", k: K, vector: q, text: words() })).map((h) => h.chunk.id),
    );
    t0 = performance.now();
    const sources = await current.listSources();
    const listMs = performance.now() - t0;
    console.log(
      `replaceSources(1 source, ${CHUNKS_PER_SOURCE} chunks) ${fmt(replaceMs)} ms; optimize() after it ` +
        `${fmt(reoptimizeMs)} ms; listSources (${sources.length} sources) ${fmt(listMs)} ms`,
    );
    line("keyword (5 words)", keyword, false);
    line("hybrid (dense + keyword, RRF)", hybrid, false);
  } finally {
    for (const s of stores) await s.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "10000,100000" },
      queries: { type: "string", default: "200" },
      nprobes: { type: "string", default: "1,4,16,32" },
      "cluster-size": { type: "string", default: "100" },
      noise: { type: "string", default: "1.0" },
    },
  });
  const shape = { clusterSize: Number(values["cluster-size"]), noise: Number(values.noise) };
  for (const size of values.sizes.split(",").map(Number)) {
    await runSize(size, Number(values.queries), values.nprobes.split(",").map(Number), shape);
  }
}

await main();
