import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ModelMismatchError, StoreError, UsageError } from "../../src/errors.js";
import type { ChunkRecord, Collection, SearchHit, Store } from "../../src/store/types.js";
import { makeChunk, makeSource, prng, unitVector } from "./fixtures.js";

/**
 * The behaviour every Store must show. Run it with a factory that gives a fresh, empty store each time:
 *
 *   runStoreContract("embedded", async () => ({ store, cleanup }));
 *
 * Vectors are deterministic synthetic unit vectors; no embedder is involved.
 */
export interface StoreHarness {
  store: Store;
  cleanup(): Promise<void>;
}

const DIM = 32;
const MODEL = "test:synthetic-32@1";

function ids(chunks: readonly { id: string }[]): string[] {
  return chunks.map((c) => c.id);
}

function sorted<T>(values: readonly T[]): T[] {
  return [...values].sort();
}

export interface StoreGuarantees {
  /**
   * Readers see each replaced source entirely old or entirely new (default true). Milvus has no multi-row
   * transactions: there a reader may see both versions together for a moment, never less than one whole version.
   */
  atomicReplace?: boolean;
}

export function runStoreContract(
  name: string,
  makeStore: () => Promise<StoreHarness>,
  guarantees: StoreGuarantees = {},
): void {
  const atomicReplace = guarantees.atomicReplace ?? true;
  describe(`store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;

    beforeEach(async () => {
      harness = await makeStore();
      store = harness.store;
    });
    afterEach(async () => {
      await store.close();
      await harness.cleanup();
    });

    const open = (create = true, collection = "docs", modelId = MODEL, dimension = DIM) =>
      store.openCollection(collection, { modelId, dimension, create });

    describe("collections", () => {
      it("a reader of a store that has nothing yet gets a clear error pointing to ingest", async () => {
        await expect(open(false)).rejects.toBeInstanceOf(StoreError);
        await expect(open(false)).rejects.toThrow(/mrag ingest/);
      });

      it("creating records the model and dimension; listCollections shows it", async () => {
        const before = Date.now();
        const c = await open(true);
        expect(c.meta).toMatchObject({ name: "docs", modelId: MODEL, dimension: DIM });
        expect(c.meta.createdAt).toBeGreaterThanOrEqual(before - 1000);
        const listed = await store.listCollections();
        expect(listed.map((m) => [m.name, m.modelId, m.dimension])).toEqual([["docs", MODEL, DIM]]);
        const again = await open(false);
        expect(again.meta).toMatchObject({ name: "docs", modelId: MODEL, dimension: DIM });
      });

      it("a missing collection in an existing store is a StoreError naming it", async () => {
        await open(true, "docs");
        const error = await open(false, "other").catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect(String((error as Error).message)).toMatch(/collection "other" does not exist.*mrag ingest/);
      });

      it("opening with another model or dimension is a ModelMismatchError that explains both and the way out", async () => {
        const c = await open(true);
        await c.replaceSources([{ source: "a.md", chunks: makeSource("a.md", 2, DIM) }]);
        for (const [modelId, dimension] of [
          ["test:other-model@2", DIM],
          [MODEL, DIM * 2],
        ] as const) {
          for (const create of [false, true]) {
            const error = await store
              .openCollection("docs", { modelId, dimension, create })
              .catch((e: unknown) => e as Error);
            expect(error).toBeInstanceOf(ModelMismatchError);
            const message = (error as Error).message;
            expect(message).toContain(MODEL);
            expect(message).toContain(String(DIM));
            expect(message).toContain(modelId);
            expect(message).toContain(String(dimension));
            expect(message).toMatch(/--embedder/);
            expect(message).toMatch(/--collection|--store|delete/);
          }
        }
      });

      it("a collection built by an earlier builtin model version is told to re-index, not to switch back", async () => {
        const old = await store.openCollection("builtin_v1", {
          modelId: "builtin:mrag-static-en@1",
          dimension: DIM,
          create: true,
        });
        await old.replaceSources([{ source: "a.md", chunks: makeSource("a.md", 2, DIM) }]);
        const error = await store
          .openCollection("builtin_v1", { modelId: "builtin:mrag-static-en@2", dimension: DIM, create: false })
          .catch((e: unknown) => e as Error);
        expect(error).toBeInstanceOf(ModelMismatchError);
        const message = (error as Error).message;
        expect(message).toContain("builtin:mrag-static-en@1 is an earlier version of the builtin model");
        expect(message).toContain("builtin:mrag-static-en@2");
        expect(message).toMatch(/mrag delete --all.*mrag ingest/);
        expect(message).not.toMatch(/--embedder builtin:/);
      });

      it("collection names are validated", async () => {
        for (const bad of ["", "a b", "x/y", "../up", "a".repeat(65), "naïve", "a.b"]) {
          await expect(open(true, bad)).rejects.toBeInstanceOf(UsageError);
        }
        for (const good of ["a", "docs_v2", "my-notes", "A1", "x".repeat(64)]) {
          await expect(open(true, good)).resolves.toBeDefined();
        }
      });

      it("two opens of one collection at the same moment both stay usable", async () => {
        // A server warms up its collection while its first ingest opens it for writing.
        await (await open(true)).replaceSources([{ source: "x.md", chunks: makeSource("x.md", 2, DIM) }]);
        const [reader, other] = await Promise.all([open(false), open(false)]);
        const writer = await open(true);
        expect((await other.listSources()).map((s) => s.source)).toEqual(["x.md"]);
        await writer.replaceSources([{ source: "y.md", chunks: makeSource("y.md", 3, DIM) }]);
        expect((await reader.listSources()).map((s) => s.source)).toEqual(["x.md", "y.md"]);
        expect((await writer.listSources()).map((s) => s.source)).toEqual(["x.md", "y.md"]);
      });

      it("collections are independent", async () => {
        const a = await open(true, "alpha");
        const b = await open(true, "beta", "test:other@1", 16);
        await a.replaceSources([{ source: "x.md", chunks: makeSource("x.md", 3, DIM) }]);
        await b.replaceSources([{ source: "y.md", chunks: makeSource("y.md", 2, 16) }]);
        expect((await a.listSources()).map((s) => s.source)).toEqual(["x.md"]);
        expect((await b.listSources()).map((s) => s.source)).toEqual(["y.md"]);
        expect((await store.listCollections()).map((m) => m.name)).toEqual(["alpha", "beta"]);
      });
    });

    describe("writes and reads", () => {
      let c: Collection;
      beforeEach(async () => {
        c = await open(true);
      });

      it("replaceSources writes chunks that getSource returns in position order, without vectors", async () => {
        const chunks = makeSource("docs/a.md", 5, DIM, { tags: ["t1"], headingPath: ["Top", "Sub"] });
        await c.replaceSources([{ source: "docs/a.md", chunks: [...chunks].reverse() }]);
        const got = await c.getSource("docs/a.md");
        expect(got.map((x) => x.position)).toEqual([0, 1, 2, 3, 4]);
        const { vector: _vector, ...expected } = chunks[2]!;
        expect(got[2]).toEqual(expected);
        expect(got[2]).not.toHaveProperty("vector");
        expect(await c.getSource("docs/missing.md")).toEqual([]);
      });

      it("exportSources returns every chunk of each source in position order with its vector", async () => {
        const chunks = makeSource("docs/e.md", 4, DIM, { tags: ["x"] });
        const other = makeSource("docs/f.md", 2, DIM);
        await c.replaceSources([
          { source: "docs/e.md", chunks: [...chunks].reverse() },
          { source: "docs/f.md", chunks: other },
        ]);
        const exported = await c.exportSources(["docs/e.md", "docs/none.md", "docs/f.md"]);
        expect([...exported.keys()].sort()).toEqual(["docs/e.md", "docs/f.md"]);
        const got = exported.get("docs/e.md")!;
        expect(got.map((x) => x.position)).toEqual([0, 1, 2, 3]);
        for (const [i, record] of got.entries()) {
          const { vector, ...rest } = record;
          const { vector: want, ...expected } = chunks[i]!;
          expect(rest).toEqual(expected);
          expect(vector).toBeInstanceOf(Float32Array);
          expect(Array.from(vector)).toEqual(Array.from(want));
        }
        expect(exported.get("docs/f.md")!.map((x) => x.id)).toEqual(other.map((x) => x.id));
        expect((await c.exportSources([])).size).toBe(0);
      });

      it("replacing a source with fewer, then more chunks leaves exactly the new ones (no duplicates)", async () => {
        await c.replaceSources([
          { source: "a.md", chunks: makeSource("a.md", 6, DIM, { version: "v1" }) },
          { source: "b.md", chunks: makeSource("b.md", 2, DIM, { version: "v1" }) },
        ]);
        for (const [version, count] of [
          ["v2", 3],
          ["v3", 9],
          ["v4", 9],
          ["v5", 1],
        ] as const) {
          const next = makeSource("a.md", count, DIM, { version });
          await c.replaceSources([{ source: "a.md", chunks: next }]);
          const got = await c.getSource("a.md");
          expect(sorted(ids(got))).toEqual(sorted(ids(next)));
          expect(new Set(got.map((x) => x.sourceHash))).toEqual(new Set([next[0]!.sourceHash]));
          expect(got.map((x) => x.position)).toEqual(Array.from({ length: count }, (_, i) => i));
          // The other source is untouched.
          expect((await c.getSource("b.md")).length).toBe(2);
          const stats = await c.stats();
          expect(stats.chunks).toBe(count + 2);
        }
      });

      it("replacing with unchanged ids keeps one copy of each", async () => {
        const v1 = makeSource("same.md", 4, DIM);
        await c.replaceSources([{ source: "same.md", chunks: v1 }]);
        await c.replaceSources([{ source: "same.md", chunks: v1 }]);
        const mixed = [...v1.slice(0, 2), makeChunk("same.md", 2, DIM, { text: "changed text" })];
        await c.replaceSources([{ source: "same.md", chunks: mixed }]);
        expect(sorted(ids(await c.getSource("same.md")))).toEqual(sorted(ids(mixed)));
        expect((await c.stats()).chunks).toBe(3);
      });

      it("an empty chunk list deletes the source; an empty call is a no-op", async () => {
        await c.replaceSources([
          { source: "a.md", chunks: makeSource("a.md", 3, DIM) },
          { source: "b.md", chunks: makeSource("b.md", 3, DIM) },
        ]);
        await c.replaceSources([{ source: "a.md", chunks: [] }]);
        await c.replaceSources([]);
        expect(await c.getSource("a.md")).toEqual([]);
        expect((await c.listSources()).map((s) => s.source)).toEqual(["b.md"]);
      });

      it("replaceSources rejects a chunk whose source differs or whose vector has the wrong length", async () => {
        await expect(c.replaceSources([{ source: "a.md", chunks: makeSource("b.md", 1, DIM) }])).rejects.toBeInstanceOf(
          UsageError,
        );
        await expect(
          c.replaceSources([{ source: "a.md", chunks: makeSource("a.md", 1, DIM + 1) }]),
        ).rejects.toBeInstanceOf(UsageError);
        expect((await c.stats()).chunks).toBe(0);
      });

      it("upsert inserts new ids and overwrites existing ones", async () => {
        const chunks = makeSource("u.md", 3, DIM);
        await c.upsert(chunks);
        const changed = { ...chunks[1]!, text: "overwritten", tags: ["new"] };
        await c.upsert([changed, makeChunk("u.md", 3, DIM)]);
        const got = await c.getSource("u.md");
        expect(got.length).toBe(4);
        expect(got[1]).toMatchObject({ id: chunks[1]!.id, text: "overwritten", tags: ["new"] });
        await c.upsert([]);
        expect((await c.stats()).chunks).toBe(4);
      });

      it("getByIds keeps the requested order and skips unknown ids", async () => {
        const chunks = makeSource("g.md", 5, DIM);
        await c.replaceSources([{ source: "g.md", chunks }]);
        const wanted = [chunks[3]!.id, "nope", chunks[0]!.id, chunks[4]!.id];
        expect(ids(await c.getByIds(wanted))).toEqual([chunks[3]!.id, chunks[0]!.id, chunks[4]!.id]);
        expect(await c.getByIds([])).toEqual([]);
        expect(await c.getByIds(["a' OR 1=1 --"])).toEqual([]);
      });

      it("searching an empty collection returns no hits in every mode", async () => {
        const vector = unitVector(DIM, prng(1));
        for (const mode of ["dense", "keyword", "hybrid"] as const) {
          expect(await c.search({ mode, k: 5, vector, text: "anything" })).toEqual([]);
        }
      });

      it("neighbours of an unknown id is a UsageError naming it", async () => {
        await expect(c.neighbours("no-such-id", 1, 1)).rejects.toBeInstanceOf(UsageError);
        await expect(c.neighbours("no-such-id", 1, 1)).rejects.toThrow(/no-such-id/);
      });

      it("neighbours returns up to before/after chunks of the same source in position order", async () => {
        const chunks = makeSource("n.md", 6, DIM);
        await c.replaceSources([
          { source: "n.md", chunks },
          { source: "other.md", chunks: makeSource("other.md", 6, DIM) },
        ]);
        const mid = await c.neighbours(chunks[2]!.id, 1, 2);
        expect(mid.before.map((x) => x.position)).toEqual([1]);
        expect(mid.after.map((x) => x.position)).toEqual([3, 4]);
        expect([...mid.before, ...mid.after].every((x) => x.source === "n.md")).toBe(true);
        const edge = await c.neighbours(chunks[0]!.id, 3, 10);
        expect(edge.before).toEqual([]);
        expect(edge.after.map((x) => x.position)).toEqual([1, 2, 3, 4, 5]);
        const none = await c.neighbours(chunks[5]!.id, 0, 0);
        expect(none).toEqual({ before: [], after: [] });
      });

      it("listSources aggregates per source and filters by a literal prefix", async () => {
        await c.replaceSources([
          {
            source: "docs/a.md",
            chunks: makeSource("docs/a.md", 3, DIM, { tags: ["x", "y"], ingestedAt: 1000 }),
          },
          { source: "docs/b.txt", chunks: makeSource("docs/b.txt", 1, DIM, { fileType: "text", ingestedAt: 2000 }) },
          { source: "src/c.ts", chunks: makeSource("src/c.ts", 2, DIM, { fileType: "code", ingestedAt: 3000 }) },
        ]);
        const all = await c.listSources();
        expect(all).toEqual([
          {
            source: "docs/a.md",
            chunks: 3,
            sourceHash: makeChunk("docs/a.md", 0, DIM).sourceHash,
            fileType: "markdown",
            tags: ["x", "y"],
            ingestedAt: 1000,
          },
          {
            source: "docs/b.txt",
            chunks: 1,
            sourceHash: makeChunk("docs/b.txt", 0, DIM).sourceHash,
            fileType: "text",
            tags: [],
            ingestedAt: 2000,
          },
          {
            source: "src/c.ts",
            chunks: 2,
            sourceHash: makeChunk("src/c.ts", 0, DIM).sourceHash,
            fileType: "code",
            tags: [],
            ingestedAt: 3000,
          },
        ]);
        expect((await c.listSources({ prefix: "docs/" })).map((s) => s.source)).toEqual(["docs/a.md", "docs/b.txt"]);
        expect(await c.listSources({ prefix: "nothing/" })).toEqual([]);
      });

      it("deleteSources removes one source exactly or a prefix, returning the chunk count", async () => {
        await c.replaceSources([
          { source: "docs/a.md", chunks: makeSource("docs/a.md", 3, DIM) },
          { source: "docs/a.md.bak", chunks: makeSource("docs/a.md.bak", 1, DIM) },
          { source: "docs/sub/b.md", chunks: makeSource("docs/sub/b.md", 2, DIM) },
          { source: "other/c.md", chunks: makeSource("other/c.md", 4, DIM) },
        ]);
        expect(await c.deleteSources({ source: "docs/a.md" })).toBe(3);
        expect(await c.deleteSources({ source: "docs/a.md" })).toBe(0);
        expect((await c.listSources()).map((s) => s.source)).toEqual(["docs/a.md.bak", "docs/sub/b.md", "other/c.md"]);
        expect(await c.deleteSources({ prefix: "docs/" })).toBe(3);
        expect((await c.listSources()).map((s) => s.source)).toEqual(["other/c.md"]);
      });

      it("hostile source ids and tags are matched literally everywhere", async () => {
        const hostile = [
          "a' OR 1=1 --",
          "docs/100%_done/x.md",
          "docs/100Xydone/x.md", // what `docs/100%_done/` would match if % and _ were wildcards
          "docs/100%_done2/y.md",
          "dir\\file'.md",
          'quote"s and ; semicolons',
          "unicode/é漢字.md",
          "docs/[draft] {v1}/(x)|*.md",
          "ctrl\tand\u0001 bell\u0007.md",
        ];
        await c.replaceSources(
          hostile.map((source, i) => ({
            source,
            chunks: makeSource(source, i + 1, DIM, { tags: [`tag' OR 'a'='a`, `t${i}`, `[t${i}]_%\\`] }),
          })),
        );
        for (const [i, source] of hostile.entries()) {
          const got = await c.getSource(source);
          expect(got.length).toBe(i + 1);
          expect(got.every((x) => x.source === source)).toBe(true);
        }
        expect((await c.listSources({ prefix: "docs/100%_done/" })).map((s) => s.source)).toEqual([
          "docs/100%_done/x.md",
        ]);
        expect((await c.listSources({ prefix: "docs/100%_" })).map((s) => s.source)).toEqual([
          "docs/100%_done/x.md",
          "docs/100%_done2/y.md",
        ]);
        const q = unitVector(DIM, prng(7));
        const filtered = await c.search({
          mode: "dense",
          k: 50,
          vector: q,
          filter: { sourcePrefix: "docs/100%_done/" },
        });
        expect(new Set(filtered.map((h) => h.chunk.source))).toEqual(new Set(["docs/100%_done/x.md"]));
        expect((await c.listSources({ prefix: "docs/[" })).map((s) => s.source)).toEqual([
          "docs/[draft] {v1}/(x)|*.md",
        ]);
        expect((await c.listSources({ prefix: "ctrl\t" })).map((s) => s.source)).toEqual([hostile[8]]);
        const bracketed = await c.search({
          mode: "dense",
          k: 50,
          vector: q,
          filter: { sourcePrefix: "docs/[draft] {", tags: ["[t7]_%\\"] },
        });
        expect(bracketed.length).toBe(8);
        expect(await c.search({ mode: "dense", k: 50, vector: q, filter: { tags: ["[t7]__\\"] } })).toEqual([]);
        const byTag = await c.search({ mode: "dense", k: 50, vector: q, filter: { tags: ["t0' OR 'a'='a"] } });
        expect(byTag).toEqual([]);
        const byHostileTag = await c.search({ mode: "dense", k: 100, vector: q, filter: { tags: ["tag' OR 'a'='a"] } });
        expect(byHostileTag.length).toBe(hostile.reduce((n, _s, i) => n + i + 1, 0));
        expect(await c.deleteSources({ source: "a' OR 1=1 --" })).toBe(1);
        expect(await c.deleteSources({ prefix: "docs/100%_done/" })).toBe(2);
        expect(await c.deleteSources({ source: "dir\\file'.md" })).toBe(5);
        expect(await c.deleteSources({ source: hostile[8]! })).toBe(9);
        expect((await c.listSources()).map((s) => s.source)).toEqual([
          "docs/100%_done2/y.md",
          "docs/100Xydone/x.md",
          "docs/[draft] {v1}/(x)|*.md",
          'quote"s and ; semicolons',
          "unicode/é漢字.md",
        ]);
      });

      it("stats counts chunks and sources and reports model, dimension and last ingest", async () => {
        const empty = await c.stats();
        expect(empty).toMatchObject({ name: "docs", chunks: 0, sources: 0, modelId: MODEL, dimension: DIM });
        expect(empty.lastIngestAt).toBeNull();
        await c.replaceSources([
          { source: "a.md", chunks: makeSource("a.md", 3, DIM, { ingestedAt: 5000 }) },
          { source: "b.md", chunks: makeSource("b.md", 2, DIM, { ingestedAt: 7000 }) },
        ]);
        const stats = await c.stats();
        expect(stats).toMatchObject({ chunks: 5, sources: 2, lastIngestAt: 7000 });
        expect(typeof stats.indexes).toBe("object");
      });

      it("reads return every row when there are more than one server page holds (2,600 chunks)", async () => {
        // Milvus pages queries; a page that is not the smallest keys would skip rows (Milvus Lite, paging.ts).
        const big = ["p/a.md", "p/b.md", "p/c.md"].map((source, i) => ({
          source,
          chunks: makeSource(source, [1200, 900, 500][i]!, DIM),
        }));
        await c.replaceSources(big);
        const listed = await c.listSources();
        expect(listed.map((s) => [s.source, s.chunks])).toEqual([
          ["p/a.md", 1200],
          ["p/b.md", 900],
          ["p/c.md", 500],
        ]);
        expect(listed.every((s) => s.sourceHash !== "")).toBe(true);
        const a = await c.getSource("p/a.md");
        expect(a.map((x) => x.position)).toEqual(Array.from({ length: 1200 }, (_, i) => i));
        expect((await c.stats()).chunks).toBe(2600);
        expect(await c.deleteSources({ prefix: "p/" })).toBe(2600);
        expect(await c.listSources()).toEqual([]);
      });
    });

    describe("search", () => {
      let c: Collection;
      let corpus: ChunkRecord[];
      const topics = ["etcd metadata storage", "object storage minio", "query node memory", "index building gpu"];

      beforeEach(async () => {
        c = await open(true);
        const random = prng(42);
        corpus = [];
        for (let s = 0; s < 8; s++) {
          const source = `${s < 4 ? "docs" : "src"}/file${s}.${s < 4 ? "md" : "ts"}`;
          for (let p = 0; p < 6; p++) {
            corpus.push(
              makeChunk(source, p, DIM, {
                text: `Section ${p} about ${topics[(s + p) % topics.length]} number${s}x${p}`,
                headingPath: [`Guide ${s}`, `Part ${p % 2 === 0 ? "even" : "odd"}`],
                tags: s % 2 === 0 ? ["even"] : ["odd", "shared"],
                fileType: s < 4 ? "markdown" : "code",
                vector: unitVector(DIM, random),
              }),
            );
          }
        }
        const bySource = new Map<string, ChunkRecord[]>();
        for (const chunk of corpus) bySource.set(chunk.source, [...(bySource.get(chunk.source) ?? []), chunk]);
        await c.replaceSources([...bySource].map(([source, chunks]) => ({ source, chunks })));
        await c.optimize();
      });

      const exactTop = (query: Float32Array, k: number, keep: (x: ChunkRecord) => boolean = () => true) =>
        corpus
          .filter(keep)
          .map((x) => ({ id: x.id, score: x.vector.reduce((sum, v, i) => sum + v * query[i]!, 0) }))
          .sort((a, b) => b.score - a.score)
          .slice(0, k);

      function expectWellFormed(hits: SearchHit[], k: number) {
        expect(hits.length).toBeLessThanOrEqual(k);
        expect(new Set(hits.map((h) => h.chunk.id)).size).toBe(hits.length);
        for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
        for (const h of hits) {
          expect(h.chunk).not.toHaveProperty("vector");
          expect(Number.isFinite(h.score)).toBe(true);
        }
      }

      it("dense search returns the exact nearest chunks with cosine similarity scores", async () => {
        const target = corpus[17]!;
        const hits = await c.search({ mode: "dense", k: 5, vector: target.vector });
        expectWellFormed(hits, 5);
        expect(hits[0]!.chunk.id).toBe(target.id);
        expect(hits[0]!.score).toBeCloseTo(1, 4);
        const query = unitVector(DIM, prng(99));
        const expected = exactTop(query, 10);
        const got = await c.search({ mode: "dense", k: 10, vector: query });
        expect(ids(got.map((h) => h.chunk))).toEqual(expected.map((e) => e.id));
        for (const [i, h] of got.entries()) expect(h.score).toBeCloseTo(expected[i]!.score, 4);
      });

      it("keyword search finds text and heading terms with BM25 scores", async () => {
        const hits = await c.search({ mode: "keyword", k: 10, text: "number3x4" });
        expectWellFormed(hits, 10);
        expect(hits.map((h) => h.chunk.text)).toEqual(["Section 4 about index building gpu number3x4"]);
        expect(hits[0]!.score).toBeGreaterThan(0);
        const heading = await c.search({ mode: "keyword", k: 50, text: "Guide" });
        expect(heading.length).toBe(corpus.length);
        const stemmed = await c.search({ mode: "keyword", k: 50, text: "indexes built" });
        expect(stemmed.length).toBeGreaterThan(0);
        expect(stemmed.every((h) => /index building/.test(h.chunk.text))).toBe(true);
        expect(await c.search({ mode: "keyword", k: 5, text: "zzzunknownterm" })).toEqual([]);
      });

      it("keyword search treats query syntax characters as plain text", async () => {
        for (const text of ['etcd" OR 1=1 --', "memory:node (unbalanced", "a' OR 'x'='x", "*", "\\", "+-&&||!^~?"]) {
          const hits = await c.search({ mode: "keyword", k: 5, text });
          expectWellFormed(hits, 5);
        }
      });

      it("hybrid search fuses both rankings and puts a chunk that wins both first", async () => {
        const target = corpus.find((x) => x.text.includes("number5x2"))!;
        const hits = await c.search({ mode: "hybrid", k: 8, vector: target.vector, text: "number5x2" });
        expectWellFormed(hits, 8);
        expect(hits[0]!.chunk.id).toBe(target.id);
        // Both stores fuse min-max-calibrated scores: a chunk first in both branches scores 1.
        expect(hits[0]!.score).toBeCloseTo(1, 6);
        // Dense-only neighbours still appear after the keyword match.
        const dense = await c.search({ mode: "dense", k: 3, vector: target.vector });
        expect(ids(hits.map((h) => h.chunk))).toEqual(expect.arrayContaining(ids(dense.map((h) => h.chunk))));
      });

      it("filters apply to every mode as a prefilter", async () => {
        const query = unitVector(DIM, prng(5));
        const cases = [
          { filter: { sourcePrefix: "src/" }, keep: (x: ChunkRecord) => x.source.startsWith("src/") },
          { filter: { tags: ["shared", "nothing"] }, keep: (x: ChunkRecord) => x.tags.includes("shared") },
          { filter: { fileTypes: ["code" as const] }, keep: (x: ChunkRecord) => x.fileType === "code" },
          {
            filter: { sourcePrefix: "docs/file1", tags: ["odd"], fileTypes: ["markdown" as const, "text" as const] },
            keep: (x: ChunkRecord) => x.source.startsWith("docs/file1") && x.tags.includes("odd"),
          },
        ];
        for (const { filter, keep } of cases) {
          const matching = corpus.filter(keep);
          const dense = await c.search({ mode: "dense", k: 10, vector: query, filter });
          expect(ids(dense.map((h) => h.chunk))).toEqual(exactTop(query, 10, keep).map((e) => e.id));
          const keyword = await c.search({ mode: "keyword", k: 100, text: "Section", filter });
          expect(sorted(ids(keyword.map((h) => h.chunk)))).toEqual(sorted(ids(matching)));
          const hybrid = await c.search({ mode: "hybrid", k: 100, vector: query, text: "Section", filter });
          expect(sorted(ids(hybrid.map((h) => h.chunk)))).toEqual(sorted(ids(matching)));
        }
        const none = await c.search({ mode: "dense", k: 5, vector: query, filter: { sourcePrefix: "nowhere/" } });
        expect(none).toEqual([]);
      });

      it("invalid requests are UsageErrors naming the field", async () => {
        const vector = corpus[0]!.vector;
        const bad: [Record<string, unknown>, RegExp][] = [
          [{ mode: "dense", k: 0, vector }, /\bk\b/],
          [{ mode: "dense", k: 101, vector }, /\bk\b/],
          [{ mode: "dense", k: 2.5, vector }, /\bk\b/],
          [{ mode: "dense", k: 5 }, /vector/],
          [{ mode: "dense", k: 5, vector: new Float32Array(DIM - 1) }, /vector/],
          [{ mode: "hybrid", k: 5, text: "x" }, /vector/],
          [{ mode: "keyword", k: 5 }, /text/],
          [{ mode: "keyword", k: 5, text: "   " }, /text/],
          [{ mode: "hybrid", k: 5, vector, text: "" }, /text/],
          [{ mode: "fuzzy", k: 5, vector }, /mode/],
          [{ mode: "dense", k: 5, vector, filter: { colour: "red" } }, /filter/],
          [{ mode: "dense", k: 5, vector, filter: { tags: [] } }, /filter\.tags/],
          [{ mode: "dense", k: 5, vector, filter: { fileTypes: ["exe"] } }, /filter\.fileTypes/],
        ];
        for (const [request, pattern] of bad) {
          const error = await c.search(request as never).catch((e: unknown) => e);
          expect(error, JSON.stringify(request)).toBeInstanceOf(UsageError);
          expect((error as Error).message, JSON.stringify(request)).toMatch(pattern);
        }
      });

      it("rows written after optimize() are still found by every mode, and again after the next optimize()", async () => {
        const late = makeChunk("late/new.md", 0, DIM, { text: "the quokka appears late quokka quokka" });
        await c.replaceSources([{ source: "late/new.md", chunks: [late] }]);
        const check = async () => {
          expect(ids((await c.search({ mode: "keyword", k: 3, text: "quokka" })).map((h) => h.chunk))).toEqual([
            late.id,
          ]);
          expect((await c.search({ mode: "dense", k: 1, vector: late.vector }))[0]!.chunk.id).toBe(late.id);
          const hybrid = await c.search({ mode: "hybrid", k: 1, vector: late.vector, text: "quokka" });
          expect(hybrid[0]!.chunk.id).toBe(late.id);
        };
        await check();
        await c.optimize();
        await check();
      });
    });

    describe("consistency", () => {
      it(
        atomicReplace
          ? "a reader searching during replacements never sees a mix of two versions of a source"
          : "a reader searching during replacements sees at most two versions of a source, one of them whole",
        async () => {
          const c = await open(true);
          await c.replaceSources([{ source: "other.md", chunks: makeSource("other.md", 4, DIM) }]);
          const counts = [3, 7, 1, 5, 9, 2, 6, 4, 8, 3, 5, 1];
          const versions = counts.map((count, i) =>
            makeSource("live.md", count, DIM, { version: `v${i}`, tags: ["live"] }).map((chunk) => ({
              ...chunk,
              text: `live content ${chunk.text}`,
            })),
          );
          const expectedCount = new Map(versions.map((v) => [v[0]!.sourceHash, v.length]));
          await c.replaceSources([{ source: "live.md", chunks: versions[0]! }]);
          let done = false;
          let reads = 0;
          let keywordLagging = 0;
          const problems: string[] = [];
          // Keyword search may lag the newest commit until the store has indexed it (it then finds no live chunk
          // at all); it must never return a mix of versions, a partial version or duplicates.
          const check = (
            label: string,
            chunks: { id: string; sourceHash: string; source: string }[],
            mayLag = false,
          ) => {
            const live = chunks.filter((x) => x.source === "live.md");
            const hashes = new Set(live.map((x) => x.sourceHash));
            if (hashes.size === 0 && mayLag) {
              keywordLagging++;
              return;
            }
            if (new Set(live.map((x) => x.id)).size !== live.length) problems.push(`${label}: duplicate ids`);
            if (!atomicReplace) {
              // k = 50 returns every live chunk, so each read holds whole versions: at most two, one of them whole.
              const whole = [...hashes].some(
                (h) => live.filter((x) => x.sourceHash === h).length === expectedCount.get(h),
              );
              if (hashes.size > 2 || !whole) problems.push(`${label}: ${hashes.size} versions, none whole`);
              return;
            }
            if (hashes.size !== 1) {
              problems.push(`${label}: ${hashes.size} versions`);
              return;
            }
            const [hash] = [...hashes];
            if (live.length !== expectedCount.get(hash!)) problems.push(`${label}: ${live.length} chunks`);
          };
          const query = unitVector(DIM, prng(3));
          const reader = async () => {
            while (!done) {
              const [dense, keyword, hybrid, source] = await Promise.all([
                c.search({ mode: "dense", k: 50, vector: query, filter: { tags: ["live"] } }),
                c.search({ mode: "keyword", k: 50, text: "live content", filter: { sourcePrefix: "live" } }),
                c.search({ mode: "hybrid", k: 50, vector: query, text: "live content" }),
                c.getSource("live.md"),
              ]);
              check(
                "dense",
                dense.map((h) => h.chunk),
              );
              check(
                "keyword",
                keyword.map((h) => h.chunk),
                true,
              );
              check(
                "hybrid",
                hybrid.map((h) => h.chunk),
              );
              check("getSource", source);
              reads++;
            }
          };
          const writer = async () => {
            try {
              for (const version of versions.slice(1)) {
                await c.replaceSources([{ source: "live.md", chunks: version }]);
                await new Promise((resolve) => setTimeout(resolve, 5));
              }
            } finally {
              done = true;
            }
          };
          await Promise.all([reader(), reader(), writer()]);
          expect(problems).toEqual([]);
          expect(reads).toBeGreaterThan(2);
          expect(keywordLagging).toBeLessThan(reads);
          const final = await c.getSource("live.md");
          expect(final.length).toBe(counts.at(-1));
        },
      );
    });

    describe("write lock", () => {
      it("withWriteLock runs the function, returns its value and passes errors through", async () => {
        await expect(store.withWriteLock(async () => 42)).resolves.toBe(42);
        await expect(
          store.withWriteLock(async () => {
            throw new Error("boom");
          }),
        ).rejects.toThrow("boom");
        await expect(store.withWriteLock(async () => "again")).resolves.toBe("again");
      });

      it("writes work inside withWriteLock", async () => {
        const c = await open(true);
        await store.withWriteLock(async () => {
          await c.replaceSources([{ source: "locked.md", chunks: makeSource("locked.md", 2, DIM) }]);
          await c.optimize();
        });
        expect((await c.getSource("locked.md")).length).toBe(2);
      });
    });
  });
}
