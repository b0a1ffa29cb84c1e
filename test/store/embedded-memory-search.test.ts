import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EmbeddedCollection } from "../../src/store/embedded/collection.js";
import { DenseSnapshot, dot, topK } from "../../src/store/embedded/dense-snapshot.js";
import { TitleCache } from "../../src/store/embedded/hybrid.js";
import { createInt8Kernel, int8Stride } from "../../src/store/embedded/int8-kernel.js";
import { SnapshotSearch } from "../../src/store/embedded/memory-search.js";
import { type EmbeddedStore, openEmbeddedStore } from "../../src/store/embedded/store.js";
import type { ChunkRecord, SearchHit, SearchRequest } from "../../src/store/types.js";
import { makeChunk, prng, unitVector } from "../store-contract/fixtures.js";
import { removeDir } from "./embedded-helpers.js";

const DIM = 40; // not a multiple of the kernel's 32-byte step: rows are padded
const WORDS = (
  "alpha beta gamma delta epsilon zeta theta lambda sigma omega kappa iota rho tau phi chi psi " +
  "mu nu xi omicron upsilon eta pi"
).split(" ");

let dir: string;
let store: EmbeddedStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrag-memsearch-"));
});
afterEach(async () => {
  await store?.close();
  await removeDir(dir);
});

function corpus(count: number, seed: number, version = "v1"): ChunkRecord[] {
  const random = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const length = 3 + Math.floor(random() * 12);
    const words = Array.from({ length }, () => WORDS[Math.floor(random() * WORDS.length)]).join(" ");
    return makeChunk(`docs/f${Math.floor(i / 8)}.md`, i % 8, DIM, {
      vector: unitVector(DIM, random),
      text: `${words} row ${i} ${version}`,
      headingPath: [`Doc ${Math.floor(i / 8)}`],
      version,
    });
  });
}

async function open(): Promise<EmbeddedCollection> {
  store = await openEmbeddedStore(join(dir, "store"));
  return (await store.openCollection("c", { modelId: "test:m", dimension: DIM, create: true })) as EmbeddedCollection;
}

const view = (hits: SearchHit[]) => hits.map((h) => ({ id: h.chunk.id, score: h.score, text: h.chunk.text }));

/**
 * Same scores in the same order, and the same chunks wherever the score is not tied with the last one (which of
 * several chunks tied at the cut makes the top k is arbitrary in LanceDB too).
 */
function expectSameHits(actual: SearchHit[], expected: SearchHit[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((h, i) => {
    expect(h.score).toBeCloseTo(expected[i]!.score, 4);
  });
  const cut = expected.at(-1)?.score ?? 0;
  const clear = (hits: SearchHit[]) => hits.filter((h) => Math.abs(h.score - cut) > 1e-5).map((h) => h.chunk);
  expect(clear(actual)).toEqual(clear(expected));
}

describe("int8 SIMD kernel", () => {
  it("gathers the scores of listed rows and estimates dot products from binary codes by table lookups, selects rows over a threshold", () => {
    const kernel = createInt8Kernel();
    kernel.memory.grow(1);
    const memory = kernel.memory.buffer;
    const stride = 32;
    const n = 9;
    const rows = new Int8Array(memory, 0, n * stride);
    const query = new Int8Array(memory, 512, stride);
    const scales = new Float32Array(memory, 1024, n);
    const index = new Int32Array(memory, 2048, 4);
    const out = new Float32Array(memory, 3072, 4);
    const random = prng(5);
    for (let i = 0; i < rows.length; i++) rows[i] = Math.floor(random() * 255) - 127;
    for (let d = 0; d < stride; d++) query[d] = Math.floor(random() * 255) - 127;
    for (let i = 0; i < n; i++) scales[i] = i + 1;
    index.set([8, 0, 3, 3]);
    kernel.gather(0, 512, 2048, 4, stride, 1024, 3072);
    Array.from(index).forEach((r, t) => {
      let dot = 0;
      for (let d = 0; d < stride; d++) dot += rows[r * stride + d]! * query[d]!;
      expect(out[t]).toBe(Math.fround(dot * (r + 1)));
    });

    // Binary estimates: 2 blocks of 16 rows, 32 code bytes each (transposed: byte k of row i at 16 k + i).
    const bytes = 32;
    const codes = new Uint8Array(memory, 4096, 2 * 16 * bytes);
    const tables = new Uint8Array(memory, 6144, 32 * bytes);
    const norms = new Float32Array(memory, 7168, 32);
    const counts = new Float32Array(memory, 7296, 32);
    const estimates = new Float32Array(memory, 7424, 32);
    for (let i = 0; i < codes.length; i++) codes[i] = Math.floor(random() * 256);
    codes.fill(255, 0, 16); // byte 0 of the first block's rows: every bit set
    for (let i = 0; i < tables.length; i++) tables[i] = Math.floor(random() * 61); // at most 4 x 15
    for (let i = 0; i < 32; i++) {
      norms[i] = random() * 3;
      counts[i] = Math.floor(random() * 256);
    }
    const [a, b, c] = [0.25, -0.5, 1.75];
    kernel.binaryScores(4096, 6144, 2, bytes, 7168, 7296, 7424, a, b, c);
    for (let r = 0; r < 32; r++) {
      let sum = 0;
      for (let k = 0; k < bytes; k++) {
        const byte = codes[(r >> 4) * 16 * bytes + 16 * k + (r & 15)]!;
        sum += tables[32 * k + (byte & 15)]! + tables[32 * k + 16 + (byte >> 4)]!;
      }
      expect(estimates[r]).toBeCloseTo(norms[r]! * (a * sum + b * counts[r]! - c), 3);
    }
    // The rows scoring at least a threshold, in order, at most `max` of them.
    const threshold = estimates[7]!;
    const over = Array.from({ length: 32 }, (_, r) => r).filter((r) => estimates[r]! >= threshold);
    const chosen = new Int32Array(memory, 8192, 32);
    expect(kernel.select(7424, 32, threshold, 8192, 32)).toBe(over.length);
    expect(Array.from(chosen.subarray(0, over.length))).toEqual(over);
    expect(kernel.select(7424, 32, threshold, 8192, 2)).toBe(2);
    expect(Array.from(chosen.subarray(0, 2))).toEqual(over.slice(0, 2));
  });

  it("computes scale * dot(row, query) for every row, padded rows included", () => {
    const kernel = createInt8Kernel();
    const n = 37;
    const stride = int8Stride(DIM);
    expect(stride).toBe(64);
    kernel.memory.grow(1);
    const memory = kernel.memory.buffer;
    const rows = new Int8Array(memory, 0, n * stride);
    const query = new Int8Array(memory, n * stride, stride);
    const scales = new Float32Array(memory, n * stride + stride, n);
    const out = new Float32Array(memory, n * stride + stride + n * 4, n);
    const random = prng(7);
    const int = () => Math.floor(random() * 255) - 127;
    for (let d = 0; d < DIM; d++) query[d] = int();
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < DIM; d++) rows[i * stride + d] = int();
      scales[i] = 0.5 + random();
    }
    // The extremes: every product at its maximum magnitude in both signs.
    rows.fill(127, 0, DIM);
    rows.fill(-127, stride, stride + DIM);
    query.fill(127, 0, DIM);
    kernel.scores(0, n * stride, n, stride, n * stride + stride, n * stride + stride + n * 4);
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let d = 0; d < DIM; d++) dot += rows[i * stride + d]! * query[d]!;
      expect(out[i]).toBeCloseTo(Math.fround(dot * scales[i]!), 2);
    }
    expect(out[0]).toBeCloseTo(127 * 127 * DIM * scales[0]!, 0);
    expect(out[1]).toBeCloseTo(-127 * 127 * DIM * scales[1]!, 0);
  });
});

describe("topK", () => {
  it("returns the highest scores best first, ties by row, skipping rows the mask excludes", () => {
    const random = prng(3);
    const scores = Float32Array.from({ length: 500 }, () => Math.round(random() * 50) / 50);
    const allowed = Uint8Array.from({ length: 500 }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const expected = (mask?: Uint8Array) =>
      Array.from(scores, (s, row) => ({ row, s }))
        .filter(({ row }) => !mask || mask[row] === 1)
        .sort((a, b) => b.s - a.s || a.row - b.row)
        .slice(0, 25)
        .map(({ row }) => row);
    expect(Array.from(topK(scores, 25).rows)).toEqual(expected());
    expect(Array.from(topK(scores, 25, allowed).rows)).toEqual(expected(allowed));
    expect(topK(scores, 0).rows.length).toBe(0);
    expect(topK(scores.subarray(0, 5), 25).rows.length).toBe(5);
  });
});

describe("in-memory dense and hybrid search", () => {
  it("answers like the LanceDB path: same ids, scores and chunks, in dense, hybrid and keyword mode", async () => {
    const collection = await open();
    const chunks = corpus(400, 11);
    await collection.upsert(chunks);
    await collection.optimize();
    expect(await collection.prepareSearch()).toBe(true);
    const served: string[] = [];
    for (const mode of ["dense", "hybrid", "keyword"] as const) {
      const original = SnapshotSearch.prototype[mode] as (...args: unknown[]) => Promise<SearchHit[] | undefined>;
      vi.spyOn(SnapshotSearch.prototype, mode).mockImplementation(async function (
        this: SnapshotSearch,
        ...args: unknown[]
      ) {
        const hits = await original.apply(this, args);
        if (hits) served.push(mode);
        return hits;
      });
    }
    const random = prng(99);
    for (let q = 0; q < 12; q++) {
      const vector = unitVector(DIM, random);
      const text = `${WORDS[q % WORDS.length]} ${WORDS[(q * 3) % WORDS.length]}`;
      for (const mode of ["dense", "hybrid", "keyword"] as const) {
        const request: SearchRequest = { mode, k: 8, vector, text };
        // A filter every chunk passes takes the LanceDB path with the same candidates.
        const viaLance = await collection.search({ ...request, filter: { fileTypes: ["markdown"] } });
        const inMemory = await collection.search(request);
        expect(inMemory.length).toBe(8);
        expectSameHits(inMemory, viaLance);
      }
    }
    // Every unfiltered search was answered from memory.
    expect(served.filter((m) => m === "dense")).toHaveLength(12);
    expect(served.filter((m) => m === "hybrid")).toHaveLength(12);
    expect(served.filter((m) => m === "keyword")).toHaveLength(12);
    vi.restoreAllMocks();
  });

  it("without a float copy, and with the binary prefilter, ranks by int8 scores within 0.01 of exact", async () => {
    const collection = await open();
    await collection.upsert(corpus(600, 5));
    const table = collection.lanceTable;
    const int8Only = new SnapshotSearch(table, DIM, new TitleCache(table), { floatCopyMaxBytes: 0 });
    const prefiltered = new SnapshotSearch(table, DIM, new TitleCache(table), {
      floatCopyMaxBytes: 0,
      binaryMinRows: 1,
    });
    expect(await int8Only.prepare()).toBe(true);
    expect(await prefiltered.prepare()).toBe(true);
    const random = prng(17);
    let found = { int8: 0, prefiltered: 0 };
    for (let q = 0; q < 20; q++) {
      const vector = unitVector(DIM, random);
      const exact = await collection.search({ mode: "dense", k: 10, vector, filter: { fileTypes: ["markdown"] } });
      const exactScore = new Map(exact.map((h) => [h.chunk.id, h.score]));
      for (const [name, search] of [
        ["int8", int8Only],
        ["prefiltered", prefiltered],
      ] as const) {
        const hits = (await search.dense(vector, 10))!;
        expect(hits).toHaveLength(10);
        for (const h of hits) {
          const want = exactScore.get(h.chunk.id);
          if (want !== undefined) {
            expect(Math.abs(h.score - want)).toBeLessThan(0.01);
            found = { ...found, [name]: found[name] + 1 };
          }
        }
        const viaHybrid = (await search.hybrid(vector, "gamma omega", { k: 10, depth: 50, denseWeight: 0.5 }))!;
        expect(viaHybrid).toHaveLength(10);
      }
    }
    // Recall@10 against the exact scan: int8 alone loses near-ties only; the prefilter (a 600-row collection
    // keeps 20 x k rows) a few more.
    expect(found.int8 / 200).toBeGreaterThanOrEqual(0.95);
    expect(found.prefiltered / 200).toBeGreaterThanOrEqual(0.85);
    int8Only.close();
    prefiltered.close();
  });

  it("prefilters a clustered collection by binary codes, keeping a small share, and finds the exact top 10", async () => {
    // 4,001 rows (not a multiple of the kernel's 16-row blocks) around 200 centres; queries near a centre.
    const collection = await open();
    const random = prng(29);
    const centres = Array.from({ length: 200 }, () => unitVector(DIM, random));
    const near = (centre: Float32Array, spread: number) => {
      const v = Float32Array.from(centre, (x) => x + (random() - 0.5) * spread);
      const norm = Math.hypot(...v);
      return v.map((x) => x / norm);
    };
    const rows = corpus(4_001, 31).map((chunk, i) => ({ ...chunk, vector: near(centres[i % 200]!, 0.6) }));
    await collection.upsert(rows);
    const snapshot = await DenseSnapshot.load(collection.lanceTable, DIM, { binaryMinRows: 1, prefilterShare: 0.03 });
    expect(snapshot?.prefiltered).toBe(true);
    const byId = new Map(rows.map((r) => [r.id, r.vector]));
    let found = 0;
    for (let q = 0; q < 30; q++) {
      const query = near(centres[(q * 7) % 200]!, 0.8);
      const exact = rows
        .map((r) => ({ id: r.id, score: dot(byId.get(r.id)!, 0, query, DIM) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, 10)
        .map((r) => r.id);
      // 26 candidates keep 520 rows (13%): their top 10 by the exact score against the exact top 10.
      const list = snapshot!.shortlist(query, 26);
      const scores = snapshot!.exactScores(query, list.rows)!;
      const best = Array.from(list.rows, (row, i) => ({ id: snapshot!.ids[row]!, score: scores[i]! }))
        .sort((a, b) => b.score - a.score)
        .slice(0, 10);
      found += best.filter((b) => exact.includes(b.id)).length;
    }
    expect(found / 300).toBeGreaterThanOrEqual(0.95);
  });

  it("sees every write at once: a replaced source's new chunks are found and its old ones are gone", async () => {
    const collection = await open();
    const chunks = corpus(200, 23);
    await collection.upsert(chunks);
    expect(await collection.prepareSearch()).toBe(true);
    const target = chunks[17]!;
    const before = await collection.search({ mode: "dense", k: 1, vector: target.vector });
    expect(before[0]!.chunk.id).toBe(target.id);

    const replaced = corpus(200, 23, "v2").filter((c) => c.source === target.source);
    await collection.replaceSources([{ source: target.source, chunks: replaced }]);
    const newTarget = replaced.find((c) => c.position === target.position)!;
    for (const mode of ["dense", "hybrid"] as const) {
      const hits = await collection.search({ mode, k: 5, vector: newTarget.vector, text: newTarget.text });
      expect(hits[0]!.chunk.id).toBe(newTarget.id);
      expect(hits.map((h) => h.chunk.id)).not.toContain(target.id);
      expect(hits.every((h) => !(h.chunk.source === target.source && h.chunk.text.endsWith("v1")))).toBe(true);
    }
    await collection.deleteSources({ source: target.source });
    const after = await collection.search({ mode: "dense", k: 10, vector: newTarget.vector });
    expect(after.map((h) => h.chunk.source)).not.toContain(target.source);
    expect(view(after)).toHaveLength(10);
  });

  it("an empty collection and a closed store are handled: no hits, then the store's closed error", async () => {
    const collection = await open();
    await collection.upsert(corpus(3, 1));
    await collection.deleteSources({ prefix: "docs/" });
    const vector = unitVector(DIM, prng(1));
    expect(await collection.search({ mode: "dense", k: 5, vector })).toEqual([]);
    expect(await collection.search({ mode: "hybrid", k: 5, vector, text: "alpha" })).toEqual([]);
    await store.close();
    await expect(collection.search({ mode: "dense", k: 5, vector })).rejects.toThrow(/closed/);
  });
});
