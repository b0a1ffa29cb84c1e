import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EmbeddedCollection } from "../../src/store/embedded/collection.js";
import { FTS_INDEX, vectorIndexPartitions } from "../../src/store/embedded/maintenance.js";
import { MARKER_FILE } from "../../src/store/embedded/marker.js";
import { type EmbeddedStore, openEmbeddedStore } from "../../src/store/embedded/store.js";
import type { ChunkRecord } from "../../src/store/types.js";
import { makeChunk, normalise, prng } from "../store-contract/fixtures.js";
import { removeDir } from "./embedded-helpers.js";

const DIM = 32;
let dir: string;
let store: EmbeddedStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrag-index-"));
});
afterEach(async () => {
  await store?.close();
  await removeDir(dir);
});

/** Clustered unit vectors: `clusters` random centroids plus noise, like real embeddings (seeded). */
function clustered(count: number, clusters: number, seed: number): { vectors: Float32Array[]; sample(): Float32Array } {
  const random = prng(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
  const centroids = Array.from({ length: clusters }, () => normalise(Float32Array.from({ length: DIM }, gaussian)));
  const sample = () => {
    const c = centroids[Math.floor(random() * clusters)]!;
    return normalise(Float32Array.from(c, (x) => x + (gaussian() * 1.0) / Math.sqrt(DIM)));
  };
  return { vectors: Array.from({ length: count }, sample), sample };
}

function corpus(vectors: Float32Array[]): ChunkRecord[] {
  return vectors.map((vector, i) =>
    makeChunk(`src/f${Math.floor(i / 10)}.md`, i % 10, DIM, {
      vector,
      text: `row ${i} ${i % 2 === 0 ? "even" : "odd"}`,
      tags: i % 50 === 0 ? ["rare"] : [],
    }),
  );
}

async function load(collection: EmbeddedCollection, chunks: ChunkRecord[]): Promise<void> {
  for (let i = 0; i < chunks.length; i += 500) await collection.upsert(chunks.slice(i, i + 500));
}

function exactTop(chunks: ChunkRecord[], q: Float32Array, k: number, keep: (c: ChunkRecord) => boolean = () => true) {
  return chunks
    .filter(keep)
    .map((c) => ({ id: c.id, s: c.vector.reduce((sum, v, i) => sum + v * q[i]!, 0) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, k)
    .map((x) => x.id);
}

describe("embedded store indexes", () => {
  it("builds the vector index only once the row threshold is reached, and keeps recall@10 >= 0.95", async () => {
    store = await openEmbeddedStore(join(dir, "vec"), { vectorIndexMinRows: 1500 });
    const c = (await store.openCollection("docs", {
      modelId: "test:clustered",
      dimension: DIM,
      create: true,
    })) as EmbeddedCollection;
    const { vectors, sample } = clustered(2000, 40, 11);
    const chunks = corpus(vectors);
    await load(c, chunks.slice(0, 1000));
    await c.optimize();
    expect((await c.stats()).indexes).toEqual({ fts: true, vector: false });

    await load(c, chunks.slice(1000));
    await c.optimize();
    const indexes = (await c.stats()).indexes;
    expect(indexes.fts).toBe(true);
    expect(String(indexes.vector)).toMatch(/ivf_?flat/i);
    expect(vectorIndexPartitions(2000)).toBe(45);

    const queries = Array.from({ length: 40 }, sample);
    let found = 0;
    for (const q of queries) {
      const want = new Set(exactTop(chunks, q, 10));
      const hits = await c.search({ mode: "dense", k: 10, vector: q });
      found += hits.filter((h) => want.has(h.chunk.id)).length;
    }
    expect(found / (queries.length * 10)).toBeGreaterThanOrEqual(0.95);

    // A narrow prefilter still returns every matching row it can, in exact order.
    const rare = (x: ChunkRecord) => x.tags.includes("rare");
    const q = queries[0]!;
    const filtered = await c.search({ mode: "dense", k: 10, vector: q, filter: { tags: ["rare"] } });
    expect(filtered.map((h) => h.chunk.id)).toEqual(exactTop(chunks, q, 10, rare));

    // Rows written after the index was built are searched too (exactly), before and after the next optimize.
    const late = makeChunk("late.md", 0, DIM, { vector: sample(), text: "late row" });
    await c.replaceSources([{ source: "late.md", chunks: [late] }]);
    expect((await c.search({ mode: "dense", k: 1, vector: late.vector }))[0]!.chunk.id).toBe(late.id);
    await c.optimize();
    expect((await c.search({ mode: "dense", k: 1, vector: late.vector }))[0]!.chunk.id).toBe(late.id);
  });

  it("records how the vector index was trained and retrains it once the collection has grown enough", async () => {
    const folder = join(dir, "retrain");
    store = await openEmbeddedStore(folder, { vectorIndexMinRows: 300, vectorIndexRetrainGrowth: 2 });
    const c = (await store.openCollection("docs", {
      modelId: "test:retrain",
      dimension: DIM,
      create: true,
    })) as EmbeddedCollection;
    const { vectors } = clustered(700, 10, 5);
    const chunks = corpus(vectors);
    const record = async () =>
      JSON.parse(await readFile(join(folder, MARKER_FILE), "utf8")).collections.docs.vectorIndex;
    await load(c, chunks.slice(0, 400));
    await c.optimize();
    expect(await record()).toMatchObject({ rows: 400, partitions: 20 });
    await load(c, chunks.slice(400, 700));
    await c.optimize();
    expect(await record()).toMatchObject({ rows: 400, partitions: 20 }); // 700 < 2 x 400: kept
    await c.upsert(
      Array.from({ length: 100 }, (_, i) => makeChunk(`extra/${i}.md`, 0, DIM, { vector: vectors[i % 700]! })),
    );
    await c.optimize();
    expect(await record()).toMatchObject({ rows: 800, partitions: 28 });
    await expect(store.listCollections()).resolves.toEqual([
      expect.not.objectContaining({ vectorIndex: expect.anything() }),
    ]);
  });

  it("keeps the full-text index covering new rows, so a new term repeated in many new rows is found", async () => {
    store = await openEmbeddedStore(join(dir, "fts"));
    const c = (await store.openCollection("docs", {
      modelId: "test:fts",
      dimension: DIM,
      create: true,
    })) as EmbeddedCollection;
    expect(await c.lanceTable.indexStats(FTS_INDEX)).toBeUndefined();
    const base = Array.from({ length: 20 }, (_, i) => makeChunk("base.md", i, DIM, { text: `base text ${i}` }));
    await c.replaceSources([{ source: "base.md", chunks: base }]);
    // The first rows create the index.
    expect(await c.lanceTable.indexStats(FTS_INDEX)).toMatchObject({ numIndexedRows: 20, numUnindexedRows: 0 });

    // 60 new rows, each saying "quokka" three times: outside an index LanceDB 0.31 would drop them all.
    const news = Array.from({ length: 60 }, (_, i) =>
      makeChunk(`new/${i}.md`, 0, DIM, { text: `quokka quokka quokka note ${i}` }),
    );
    await c.replaceSources(news.map((chunk) => ({ source: chunk.source, chunks: [chunk] })));
    expect((await c.lanceTable.indexStats(FTS_INDEX))?.numUnindexedRows).toBe(0);
    const hits = await c.search({ mode: "keyword", k: 100, text: "quokka" });
    expect(hits.length).toBe(60);
    const filtered = await c.search({ mode: "keyword", k: 100, text: "quokka", filter: { sourcePrefix: "new/1" } });
    expect(filtered.map((h) => h.chunk.source).sort()).toEqual(
      news
        .map((x) => x.source)
        .filter((s) => s.startsWith("new/1"))
        .sort(),
    );

    // A small write below the fold ratio stays outside the index until optimize(), and is found meanwhile.
    const one = makeChunk("one.md", 0, DIM, { text: "wallaby appears once" });
    await c.replaceSources([{ source: "one.md", chunks: [one] }]);
    expect((await c.lanceTable.indexStats(FTS_INDEX))?.numUnindexedRows).toBe(1);
    expect((await c.search({ mode: "keyword", k: 5, text: "wallaby" })).map((h) => h.chunk.id)).toEqual([one.id]);
    await c.optimize();
    expect((await c.lanceTable.indexStats(FTS_INDEX))?.numUnindexedRows).toBe(0);
    expect((await c.search({ mode: "keyword", k: 5, text: "wallaby" })).map((h) => h.chunk.id)).toEqual([one.id]);
  });

  it("within an ingest the full-text index is rebuilt without compacting; the last batch leaves it to optimize(), and cleanup() folds what a killed ingest left", async () => {
    store = await openEmbeddedStore(join(dir, "ingest"));
    const c = (await store.openCollection("docs", {
      modelId: "test:fts",
      dimension: DIM,
      create: true,
    })) as EmbeddedCollection;
    const fragments = async () => (await c.lanceTable.stats()).fragmentStats.numFragments;
    const base = Array.from({ length: 20 }, (_, i) => makeChunk("base.md", i, DIM, { text: `base text ${i}` }));
    await c.replaceSources([{ source: "base.md", chunks: base }], { ingest: "more" });
    expect(await c.lanceTable.indexStats(FTS_INDEX)).toMatchObject({ numIndexedRows: 20, numUnindexedRows: 0 });

    // Past the ratio: the index is rebuilt over every row, and the table keeps one fragment per write.
    const news = Array.from({ length: 60 }, (_, i) =>
      makeChunk(`new/${i}.md`, 0, DIM, { text: `quokka quokka quokka note ${i}` }),
    );
    await c.replaceSources(
      news.map((chunk) => ({ source: chunk.source, chunks: [chunk] })),
      { ingest: "more" },
    );
    expect(await c.lanceTable.indexStats(FTS_INDEX)).toMatchObject({ numIndexedRows: 80, numUnindexedRows: 0 });
    expect(await fragments()).toBe(2);
    const quokka = { mode: "keyword", k: 100, text: "quokka", filter: { sourcePrefix: "new/" } } as const;
    expect(await c.search(quokka)).toHaveLength(60);

    // The last batch of an ingest: optimize() follows, so nothing is folded yet. An ingest killed right here
    // leaves these rows outside the index, where LanceDB drops them for a term they repeat (see IndexPolicy).
    const last = Array.from({ length: 60 }, (_, i) =>
      makeChunk(`last/${i}.md`, 0, DIM, { text: `wombat wombat wombat note ${i}` }),
    );
    // One source replaced (merge) and new ones added (append) in the same call.
    const base2 = base.slice(0, 5).map((x) => makeChunk("base.md", x.position, DIM, { text: `${x.text} again` }));
    await c.replaceSources(
      [{ source: "base.md", chunks: base2 }, ...last.map((chunk) => ({ source: chunk.source, chunks: [chunk] }))],
      { ingest: "last" },
    );
    expect((await c.lanceTable.indexStats(FTS_INDEX))?.numUnindexedRows).toBeGreaterThanOrEqual(60);
    const wombat = { mode: "keyword", k: 100, text: "wombat", filter: { sourcePrefix: "last/" } } as const;
    expect(await c.search(wombat)).toHaveLength(0);
    expect((await c.getSource("base.md")).map((x) => x.text)).toEqual(base2.map((x) => x.text));
    expect(await c.lanceTable.countRows()).toBe(5 + 60 + 60);

    // The next ingest finds nothing to write and calls cleanup(): the rows are folded in and found.
    await c.cleanup();
    expect((await c.lanceTable.indexStats(FTS_INDEX))?.numUnindexedRows).toBe(0);
    expect(await c.search(wombat)).toHaveLength(60);
    expect(await c.search(quokka)).toHaveLength(60);
  });

  it("optimize() prunes old table versions so the folder does not grow without bound", async () => {
    store = await openEmbeddedStore(join(dir, "versions"), { cleanupOlderThanMs: 0 });
    const c = (await store.openCollection("docs", {
      modelId: "test:versions",
      dimension: DIM,
      create: true,
    })) as EmbeddedCollection;
    const base = Array.from({ length: 100 }, (_, i) => makeChunk("base.md", i, DIM));
    await c.replaceSources([{ source: "base.md", chunks: base }]);
    for (let round = 0; round < 8; round++) {
      await c.replaceSources([{ source: "a.md", chunks: [makeChunk("a.md", 0, DIM, { version: `v${round}` })] }]);
    }
    expect((await c.lanceTable.listVersions()).length).toBeGreaterThan(8);
    await c.optimize();
    expect((await c.lanceTable.listVersions()).length).toBeLessThanOrEqual(2);
    expect((await c.getSource("a.md")).map((x) => x.sourceHash)).toEqual([
      makeChunk("a.md", 0, DIM, { version: "v7" }).sourceHash,
    ]);
  });

  it("raises LanceDB's compute pool to at least 4 threads (2 deadlock full-text index builds)", async () => {
    store = await openEmbeddedStore(join(dir, "threads"));
    expect(Number(process.env.LANCE_CPU_THREADS)).toBeGreaterThanOrEqual(4);
  });
});
