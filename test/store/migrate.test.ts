import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ModelMismatchError, StoreError, UsageError } from "../../src/errors.js";
import { type EmbeddedStore, openEmbeddedStore } from "../../src/store/embedded/store.js";
import { type MigrateProgress, migrateStore, sameStoreLocation } from "../../src/store/migrate.js";
import type { ChunkRecord, Collection, Store } from "../../src/store/types.js";
import { makeChunk, prng, vectorFor } from "../store-contract/fixtures.js";

/** `mrag migrate`'s logic between real embedded stores, on synthetic chunks with known vectors. */

const ALPHA = { modelId: "test:alpha", dimension: 16 };
const BETA = { modelId: "test:beta", dimension: 8 };
const WORDS = ["milvus", "vector", "index", "segment", "query", "etcd", "shard", "replica", "proxy", "search"];

/** A source of `count` chunks with word-salad text (so keyword search has something to rank). */
/** One source's chunks with vectors, as `exportSources` returns them ([] when it has none). */
async function exportOne(collection: Collection, name: string): Promise<ChunkRecord[]> {
  return (await collection.exportSources([name])).get(name) ?? [];
}

function source(name: string, count: number, dimension: number, version = "v1"): ChunkRecord[] {
  const random = prng(name.length * 7919 + count + version.length);
  return Array.from({ length: count }, (_, i) => {
    // Varied lengths and a wide vocabulary, so that BM25 scores rarely tie at the cut-off of a top-k.
    const length = 6 + Math.floor(random() * 30);
    const text = Array.from({ length }, () =>
      random() < 0.3 ? WORDS[Math.floor(random() * WORDS.length)] : `w${Math.floor(random() * 500)}`,
    ).join(" ");
    return makeChunk(name, i, dimension, { text: `${text} (${name} ${i} ${version})`, version });
  });
}

async function fill(collection: Collection, sources: Record<string, ChunkRecord[]>): Promise<void> {
  await collection.replaceSources(Object.entries(sources).map(([s, chunks]) => ({ source: s, chunks })));
}

/** Sources of 1-6 chunks: no single source exceeds the test's batch size, so every write is a group. */
const ALPHA_SOURCES = Object.fromEntries(
  Array.from({ length: 40 }, (_, i) => {
    const name = `docs/a${String(i).padStart(2, "0")}.md`;
    return [name, source(name, (i % 6) + 1, ALPHA.dimension)];
  }),
);
const BETA_SOURCES = Object.fromEntries(
  ["notes/x.txt", "notes/y.txt", "notes/z.txt"].map((name, i) => [name, source(name, i + 2, BETA.dimension)]),
);
const TOTAL_SOURCES = Object.keys(ALPHA_SOURCES).length + Object.keys(BETA_SOURCES).length;
const TOTAL_CHUNKS = [...Object.values(ALPHA_SOURCES), ...Object.values(BETA_SOURCES)].reduce(
  (n, c) => n + c.length,
  0,
);

describe("migrateStore", () => {
  let dir: string;
  let from: EmbeddedStore;
  const opened: Store[] = [];
  const open = async (name: string) => {
    const store = await openEmbeddedStore(join(dir, name));
    opened.push(store);
    return store;
  };
  const alphaOf = (store: Store) => store.openCollection("alpha", { ...ALPHA, create: false });
  const betaOf = (store: Store) => store.openCollection("beta", { ...BETA, create: false });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mrag-migrate-"));
    from = await open("from");
    await fill(await from.openCollection("alpha", { ...ALPHA, create: true }), ALPHA_SOURCES);
    await fill(await from.openCollection("beta", { ...BETA, create: true }), BETA_SOURCES);
  });
  afterAll(async () => {
    for (const s of opened) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function expectSameContent(a: Store, b: Store): Promise<void> {
    for (const open of [alphaOf, betaOf]) {
      const [ca, cb] = [await open(a), await open(b)];
      const listed = await ca.listSources();
      expect(await cb.listSources()).toEqual(listed);
      for (const s of listed) {
        // Every field, the vector included, byte for byte.
        expect(await exportOne(cb, s.source)).toEqual(await exportOne(ca, s.source));
      }
    }
  }

  it("copies every collection with the same models, chunks and vectors, in batches", async () => {
    const to = await open("copy");
    const events: MigrateProgress[] = [];
    const summary = await migrateStore(from, to, { batchChunks: 25, onProgress: (e) => void events.push(e) });
    expect(summary).toMatchObject({
      sources: TOTAL_SOURCES,
      copied: TOTAL_SOURCES,
      replaced: 0,
      skipped: 0,
      pending: 0,
      chunks: TOTAL_CHUNKS,
      verified: true,
      interrupted: false,
    });
    expect(summary.collections.map((c) => [c.name, c.modelId, c.dimension, c.created, c.verified])).toEqual([
      ["alpha", ALPHA.modelId, ALPHA.dimension, true, true],
      ["beta", BETA.modelId, BETA.dimension, true, true],
    ]);
    expect((await to.listCollections()).map((m) => [m.name, m.modelId, m.dimension])).toEqual([
      ["alpha", ALPHA.modelId, ALPHA.dimension],
      ["beta", BETA.modelId, BETA.dimension],
    ]);
    await expectSameContent(from, to);

    // Small sources were grouped (some write carried several sources) and no write exceeded the batch size.
    const copies = events.filter((e) => e.phase === "copy" && e.collection === "alpha");
    const steps = copies.map((e, i) => e.chunksCopied - (i > 0 ? copies[i - 1]!.chunksCopied : 0));
    expect(copies.length).toBeGreaterThan(1);
    expect(Math.max(...steps)).toBeLessThanOrEqual(25);
    expect(Math.max(...steps)).toBeGreaterThan(6);
    expect(copies.at(-1)).toMatchObject({ sourcesCopied: 40, sourcesToCopy: 40 });
  });

  it("search in the copy returns the same hits and scores as in the original", async () => {
    const [a, b] = [await alphaOf(from), await alphaOf(await open("copy"))];
    for (const seed of ["q1", "q2", "q3"]) {
      const vector = vectorFor(seed, ALPHA.dimension);
      for (const request of [
        { mode: "dense" as const, k: 10, vector },
        { mode: "keyword" as const, k: 10, text: "etcd replica" },
        { mode: "hybrid" as const, k: 10, vector, text: "segment proxy" },
      ]) {
        const [ha, hb] = [await a.search(request), await b.search(request)];
        expect(ha.length).toBe(10);
        expect(hb.map((h) => h.score)).toEqual(ha.map((h) => h.score));
        // Chunks tied with the last hit may be cut off differently (row order differs); all others match.
        const cut = ha.at(-1)!.score;
        const above = (hits: typeof ha) => hits.filter((h) => h.score > cut).map((h) => h.chunk.id);
        expect(above(hb)).toEqual(above(ha));
        expect(above(ha).length).toBeGreaterThan(0);
      }
    }
  });

  it("a second run copies nothing and still verifies", async () => {
    const to = await open("copy");
    const summary = await migrateStore(from, to);
    expect(summary).toMatchObject({ copied: 0, skipped: TOTAL_SOURCES, chunks: 0, pending: 0, verified: true });
    expect(summary.collections.every((c) => !c.created)).toBe(true);
  });

  it("replaces a source that differs, and leaves sources only in the destination alone", async () => {
    const to = await open("copy");
    const dest = await alphaOf(to);
    await fill(dest, {
      "docs/a03.md": source("docs/a03.md", 9, ALPHA.dimension, "stale"),
      "only/here.md": source("only/here.md", 2, ALPHA.dimension),
    });
    const summary = await migrateStore(from, to, { collections: ["alpha"] });
    expect(summary).toMatchObject({ copied: 1, replaced: 1, skipped: 39, verified: true });
    expect(summary.collections).toHaveLength(1);
    expect(summary.collections[0]?.onlyInDestination).toEqual(["only/here.md"]);
    expect(await exportOne(dest, "docs/a03.md")).toEqual(await exportOne(await alphaOf(from), "docs/a03.md"));
    expect((await dest.getSource("only/here.md")).length).toBe(2);
  });

  it("an interrupted run leaves only whole sources, and running again completes it", async () => {
    const to = await open("resume");
    const controller = new AbortController();
    let copies = 0;
    const first = await migrateStore(from, to, {
      batchChunks: 20,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === "copy" && ++copies === 2) controller.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(first.verified).toBe(false);
    expect(first.copied).toBeGreaterThan(0);
    expect(first.copied).toBeLessThan(TOTAL_SOURCES);
    expect(first.pending).toBe(TOTAL_SOURCES - first.copied);
    // It stopped right after the second write of 20 chunks or fewer, in the middle of the first collection.
    expect(first.chunks).toBeLessThanOrEqual(40);
    expect(first.collections).toMatchObject([{ name: "alpha", pending: 40 - first.copied }]);
    // beta was never reached, so it was not even created.
    expect((await to.listCollections()).map((m) => m.name)).toEqual(["alpha"]);
    const partial = await (await alphaOf(to)).listSources();
    expect(partial).toHaveLength(first.copied);
    for (const s of partial) expect(s.chunks).toBe(ALPHA_SOURCES[s.source]?.length);

    const second = await migrateStore(from, to, { batchChunks: 20 });
    expect(second).toMatchObject({
      copied: TOTAL_SOURCES - first.copied,
      skipped: first.copied,
      chunks: TOTAL_CHUNKS - first.chunks,
      verified: true,
      interrupted: false,
    });
    await expectSameContent(from, to);
  });

  it("reports a source that changed during the copy as a mismatch; running again fixes it", async () => {
    const small = await open("small-from");
    const src = await small.openCollection("alpha", { ...ALPHA, create: true });
    await fill(src, { "a.md": source("a.md", 3, ALPHA.dimension), "b.md": source("b.md", 2, ALPHA.dimension) });
    const to = await open("small-to");
    const summary = await migrateStore(small, to, {
      onProgress: async (e) => {
        // Another writer changes the source store between the copy and the verification.
        if (e.phase === "index") await fill(src, { "b.md": source("b.md", 4, ALPHA.dimension, "v2") });
      },
    });
    expect(summary.verified).toBe(false);
    expect(summary.collections[0]?.mismatches).toEqual([
      {
        source: "b.md",
        expected: { chunks: 4, sourceHash: expect.any(String) },
        found: { chunks: 2, sourceHash: expect.any(String) },
      },
    ]);
    const again = await migrateStore(small, to);
    expect(again).toMatchObject({ copied: 1, replaced: 1, skipped: 1, verified: true });
  });

  it("refuses, writing nothing, when a destination collection holds another model's vectors", async () => {
    const to = await open("other-model");
    // The conflict is in the second collection: the first must not be copied either.
    const other = await to.openCollection("beta", { modelId: "test:other", dimension: 8, create: true });
    await fill(other, { "x.md": source("x.md", 1, 8) });
    const error = await migrateStore(from, to).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelMismatchError);
    expect((error as Error).message).toMatch(/"beta" .*test:other \(8-d\).*test:beta \(8-d\)/);
    expect((error as Error).message).toMatch(/nothing was copied/);
    expect((error as Error).message).toMatch(/another store \(--to\)/);
    expect((await to.listCollections()).map((m) => [m.name, m.modelId])).toEqual([["beta", "test:other"]]);
    expect((await other.listSources()).map((s) => s.source)).toEqual(["x.md"]);

    // Once emptied (`mrag delete --all`), the collection may be taken over.
    await other.deleteSources({ source: "x.md" });
    const summary = await migrateStore(from, to, { collections: ["beta"] });
    expect(summary.verified).toBe(true);
    expect((await to.listCollections()).map((m) => [m.name, m.modelId])).toEqual([["beta", BETA.modelId]]);
  });

  it("refuses to migrate a store onto itself, also through a symlink", async () => {
    await symlink(join(dir, "from"), join(dir, "from-link"));
    for (const name of ["from", "from-link"]) {
      const error = await migrateStore(from, await open(name)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toMatch(/same store/);
    }
  });

  it("knows a Milvus server by host and port, whatever the scheme or spelling", () => {
    const milvus = (location: string) => ({ kind: "milvus" as const, location });
    expect(sameStoreLocation(milvus("http://Milvus.local:19530"), milvus("grpc://milvus.local"))).toBe(true);
    expect(sameStoreLocation(milvus("https://m.example"), milvus("grpcs://m.example:443"))).toBe(true);
    expect(sameStoreLocation(milvus("http://m.example:19530"), milvus("http://m.example:19531"))).toBe(false);
    expect(sameStoreLocation(milvus("http://a:19530"), milvus("http://b:19530"))).toBe(false);
    expect(sameStoreLocation(milvus("http://a:19530"), { kind: "embedded", location: "/a" })).toBe(false);
  });

  it("explains a missing or empty source, an unknown collection and a bad batch size", async () => {
    const to = await open("unused");
    const missing = await migrateStore(await open("does-not-exist"), to).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StoreError);
    expect((missing as Error).message).toMatch(/no collections in the source store .*does-not-exist.*--from/);

    const unknown = await migrateStore(from, to, { collections: ["gamma"] }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(StoreError);
    expect((unknown as Error).message).toMatch(/"gamma" does not exist.*alpha, beta/);

    const empty = await open("empty");
    await empty.openCollection("alpha", { ...ALPHA, create: true });
    const nothing = await migrateStore(empty, to).catch((e: unknown) => e);
    expect(nothing).toBeInstanceOf(StoreError);
    expect((nothing as Error).message).toMatch(/no chunks in collection "alpha"/);

    await expect(migrateStore(from, to, { batchChunks: 0 })).rejects.toThrow(UsageError);
    expect(await to.listCollections()).toEqual([]);
  });
});
