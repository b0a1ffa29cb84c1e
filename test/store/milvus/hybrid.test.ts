import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fuseScores } from "../../../src/store/fusion.js";
import { openMilvusStore } from "../../../src/store/milvus/store.js";
import type { ChunkRecord, Collection, SearchFilter, SearchHit, Store } from "../../../src/store/types.js";
import { freshDatabase, useMilvusLite } from "../../helpers/milvus-lite-suite.js";
import { makeChunk, prng, unitVector, vectorFor } from "../../store-contract/fixtures.js";

/**
 * Milvus' hybrid search is fused client-side like the embedded store's: calibrated convex fusion of the dense
 * and BM25 branches (50 candidates each), then the title-mention second hop. On a real Milvus Lite.
 */
const DIM = 16;
const lite = useMilvusLite("Milvus hybrid fusion (Milvus Lite)");

let store: Store;
let dropDatabase: (() => Promise<void>) | undefined;
if (lite.available) {
  beforeEach(async () => {
    const { uri } = lite.server();
    const db = await freshDatabase(uri);
    dropDatabase = () => db.cleanup();
    store = await openMilvusStore({ uri, database: db.database, timeoutMs: 15_000 });
  });
  afterEach(async () => {
    await store.close();
    await dropDatabase?.();
  });
}

const ranking = (hits: SearchHit[]) => hits.map((h) => ({ id: h.chunk.id, score: h.score }));

/** What hybrid must return: fuseScores of the two branches' top 50, dense weighted `weight`, top k. */
async function expectedHybrid(
  c: Collection,
  request: { vector: Float32Array; text: string; filter?: SearchFilter },
  weight: number,
  k: number,
): Promise<{ id: string; score: number }[]> {
  const [dense, keyword] = await Promise.all([
    c.search({ ...request, mode: "dense", k: 50 }),
    c.search({ ...request, mode: "keyword", k: 50 }),
  ]);
  expect(dense).toHaveLength(50);
  expect(keyword.length).toBeGreaterThan(k);
  return fuseScores([ranking(dense), ranking(keyword)], [weight, 1])
    .slice(0, k)
    .map(({ item, score }) => ({ id: item.id, score }));
}

function expectSameRanking(actual: SearchHit[], expected: { id: string; score: number }[]): void {
  expect(actual.map((h) => h.chunk.id)).toEqual(expected.map((e) => e.id));
  for (const [i, hit] of actual.entries()) expect(hit.score).toBeCloseTo(expected[i]!.score, 5);
}

describe.runIf(lite.available)("hybrid search on Milvus fuses calibrated scores client-side", () => {
  const words = ["river", "town", "bridge", "mill", "harbour", "market", "castle", "forest"];
  const random = prng(7);
  // No headings: no titles, so hybrid is the fusion alone.
  const corpus: ChunkRecord[] = Array.from({ length: 160 }, (_, i) => {
    const text = Array.from({ length: 6 + (i % 5) }, () => words[Math.floor(random() * words.length)]).join(" ");
    return makeChunk(`${i % 2 === 0 ? "docs" : "src"}/file${i % 20}.md`, i, DIM, {
      text: `${text} item${i}`,
      tags: i % 3 === 0 ? ["third"] : [],
      vector: unitVector(DIM, random),
    });
  });
  const request = { vector: unitVector(DIM, prng(99)), text: "river castle" };

  it("ranks as fuseScores of the two branches' rankings, with the weight the request gives", async () => {
    const c = await store.openCollection("docs", { modelId: "test:fusion", dimension: DIM, create: true });
    await c.upsert(corpus);
    for (const weight of [0.5, 1, 2]) {
      const hybrid = await c.search({ ...request, mode: "hybrid", k: 10, denseWeight: weight });
      expectSameRanking(hybrid, await expectedHybrid(c, request, weight, 10));
      expect(hybrid[0]!.chunk.text).toBe(corpus.find((x) => x.id === hybrid[0]!.chunk.id)!.text);
    }
    // Without a weight: the embedded store's default, 0.5.
    const hybrid = await c.search({ ...request, mode: "hybrid", k: 10 });
    expectSameRanking(hybrid, await expectedHybrid(c, request, 0.5, 10));
  });

  it("applies the filter to both branches", async () => {
    const c = await store.openCollection("docs", { modelId: "test:fusion", dimension: DIM, create: true });
    await c.upsert(corpus);
    const cases: [SearchFilter, (x: ChunkRecord) => boolean][] = [
      [{ tags: ["third"] }, (x) => x.tags.includes("third")],
      [{ sourcePrefix: "src/" }, (x) => x.source.startsWith("src/")],
    ];
    const unfiltered = await c.search({ ...request, mode: "hybrid", k: 10 });
    for (const [filter, keep] of cases) {
      // The unfiltered winners include chunks the filter excludes, so a branch left unfiltered would show.
      expect(unfiltered.some((h) => !keep(corpus.find((x) => x.id === h.chunk.id)!))).toBe(true);
      const hybrid = await c.search({ ...request, mode: "hybrid", k: 10, filter });
      expect(hybrid).toHaveLength(10);
      for (const h of hybrid) expect(keep(corpus.find((x) => x.id === h.chunk.id)!)).toBe(true);
      expectSameRanking(hybrid, await expectedHybrid(c, { ...request, filter }, 0.5, 10));
    }
  });
});

describe.runIf(lite.available)("hybrid search on Milvus follows title mentions", () => {
  const query = vectorFor("wiki/Leland.md", DIM);
  const doc = (source: string, title: string, body: string, vector = vectorFor(source, DIM), tags: string[] = []) =>
    makeChunk(source, 0, DIM, { text: `# ${title}\n\n${body}`, headingPath: [title], tags, vector });
  const leland = doc("wiki/Leland.md", "Leland, North Carolina", "A town where the movie Maximum Overdrive was shot.");
  // Shares no word with the question, and its vector points away from the query: in neither branch's top 50.
  const film = doc(
    "wiki/Maximum_Overdrive.md",
    "Maximum Overdrive",
    "A horror picture written by Stephen King.",
    query.map((x) => -x),
    ["private"],
  );
  const others = Array.from({ length: 60 }, (_, i) =>
    doc(`wiki/other${i}.md`, `Other Place ${i}`, `A town in North Carolina, number ${i}, known for its river.`),
  );
  const question = "Who made the movie shot in Leland, North Carolina?";

  it("ranks the document the top hit names right behind it, though neither branch found it; the filter holds", async () => {
    const c = await store.openCollection("wiki", { modelId: "test:links", dimension: DIM, create: true });
    await c.upsert([leland, film, ...others]);
    const request = { text: question, vector: query, k: 3 };
    const keyword = await c.search({ ...request, k: 50, mode: "keyword" });
    expect(keyword[0]!.chunk.id).toBe(leland.id);
    const dense = await c.search({ ...request, k: 50, mode: "dense" });
    expect([...keyword, ...dense].map((h) => h.chunk.id)).not.toContain(film.id);
    const hybrid = await c.search({ ...request, mode: "hybrid" });
    expect(hybrid.map((h) => h.chunk.id).slice(0, 2)).toEqual([leland.id, film.id]);
    expect(hybrid[1]!.chunk.text).toBe(film.text);
    expect(hybrid[1]!.chunk.tags).toEqual(["private"]);
    expect(hybrid[0]!.score).toBeGreaterThan(hybrid[1]!.score);

    const filtered = await c.search({ ...request, mode: "hybrid", k: 5, filter: { sourcePrefix: "wiki/L" } });
    expect(filtered.map((h) => h.chunk.id)).toEqual([leland.id]);

    // A write moves the commit state and the dictionary is rebuilt: the film under a new source is reached.
    await c.deleteSources({ source: film.source });
    const moved = { ...film, ...makeChunk("wiki/Overdrive_(film).md", 0, DIM, { text: film.text }) };
    await c.upsert([{ ...moved, headingPath: film.headingPath, vector: film.vector }]);
    const after = await c.search({ ...request, mode: "hybrid" });
    expect(after.map((h) => h.chunk.id).slice(0, 2)).toEqual([leland.id, moved.id]);
  });
});
