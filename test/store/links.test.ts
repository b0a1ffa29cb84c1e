import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEmbeddedStore } from "../../src/store/embedded/store.js";
import { fuseScores } from "../../src/store/fusion.js";
import { linkBonuses, mentionTokens, TitleDictionary } from "../../src/store/links.js";
import type { Collection, Store } from "../../src/store/types.js";
import { makeChunk, vectorFor } from "../store-contract/fixtures.js";

const row = (id: string, source: string, title: string | undefined, position = 0) => ({ id, source, position, title });

describe("score-calibrated convex fusion", () => {
  it("min-max normalises each ranking, weights them, and keeps every item best first", () => {
    const dense = [
      { id: "a", score: 0.9 },
      { id: "b", score: 0.5 },
      { id: "c", score: 0.1 },
    ];
    const keyword = [
      { id: "c", score: 12 },
      { id: "d", score: 7 },
      { id: "a", score: 2 },
    ];
    const fused = fuseScores([dense, keyword], [0.5, 1]);
    // Weights 1/3 and 2/3. c: dense 0 (its worst), keyword 1 -> 2/3; a: dense 1, keyword 0 -> 1/3; d: keyword
    // (7-2)/10 -> 1/3 (tie with a, broken by id); b: dense (0.5-0.1)/0.8 -> 1/6.
    expect(fused.map((f) => f.item.id)).toEqual(["c", "a", "d", "b"]);
    expect(fused.map((f) => f.score)).toEqual([2 / 3, 1 / 3, 1 / 3, 1 / 6].map((x) => expect.closeTo(x, 12)));
  });

  it("gives 1 to a ranking whose scores are all equal, ignores repeats and non-finite scores, handles empties", () => {
    expect(fuseScores([[{ id: "x", score: 3 }]]).map((f) => f.score)).toEqual([1]);
    const fused = fuseScores([
      [
        { id: "x", score: 2 },
        { id: "x", score: 1 },
        { id: "y", score: Number.NaN },
        { id: "z", score: 1 },
      ],
    ]);
    expect(fused.map((f) => [f.item.id, f.score])).toEqual([
      ["x", 1],
      ["y", 0],
      ["z", 0],
    ]);
    expect(fuseScores([[], []])).toEqual([]);
    expect(fuseScores([[{ id: "k", score: 1 }], [{ id: "k", score: 5 }]], [1, 3]).map((f) => f.score)).toEqual([1]);
    expect(fuseScores([[{ id: "k", score: 1 }], [{ id: "j", score: 5 }]], [1, 3]).map((f) => f.score)).toEqual([
      0.75, 0.25,
    ]);
  });
});

describe("title mentions", () => {
  it("tokenises titles and text alike: lower case, accents folded, letters and digits only", () => {
    expect(mentionTokens("Sergio Agüero, the Kun (footballer)!")).toEqual([
      "sergio",
      "aguero",
      "the",
      "kun",
      "footballer",
    ]);
  });

  it("finds whole-token title phrases, drops trailing parentheticals, skips ambiguous and generic titles", () => {
    const dictionary = new TitleDictionary([
      row("m1", "films/Maximum_Overdrive.md", "Maximum Overdrive"),
      row("m2", "films/Maximum_Overdrive.md", "Maximum Overdrive", 1),
      row("l1", "myth/Lilu.md", "Lilu (mythology)"),
      row("i1", "a/intro.md", "Introduction"),
      row("i2", "b/intro.md", "Introduction"),
      row("n1", "years/1986.md", "1986"),
      row("s1", "a/setup.md", "Setup"),
      row("s2", "b/setup.md", "Setup"),
      row("x1", "notitle.txt", undefined),
    ]);
    // Maximum Overdrive and Lilu; "Setup" is carried by two sources, "Introduction" and "1986" are no entities.
    expect(dictionary.size).toBe(2);
    const found = dictionary.mentionedIn(
      "In 1986 Stephen King shot Maximum Overdrive here; the Lilu are demons. Setup.",
    );
    expect(found).toEqual([
      { id: "m1", source: "films/Maximum_Overdrive.md" },
      { id: "l1", source: "myth/Lilu.md" },
    ]);
    expect(dictionary.mentionedIn("maximum overdrives and maximum speed")).toEqual([]);
  });

  it("passes a share of each seed's score to what it mentions, never to its own source, never lowering a score", () => {
    const dictionary = new TitleDictionary([
      row("a1", "A.md", "Alpha Centauri"),
      row("b1", "B.md", "Beta Site"),
      row("c1", "C.md", "Gamma Ray"),
    ]);
    const ranked = [
      { id: "a1", source: "A.md", score: 1, text: () => "Alpha Centauri is near the Beta Site." },
      { id: "c1", source: "C.md", score: 0.9, text: () => "Gamma Ray mentions Alpha Centauri." },
      { id: "x", source: "X.md", score: 0.2, text: () => "The Gamma Ray." },
    ];
    const bonuses = linkBonuses(ranked, dictionary, { seeds: 2, bonus: 0.5 });
    // b1 was no candidate: 0 + 0.5 * 1; a1 (from c1): 1 + 0.45; x is no seed, so c1 gets nothing from it.
    expect([...bonuses.entries()].sort()).toEqual([
      ["a1", 1.45],
      ["b1", 0.5],
    ]);
    expect(linkBonuses(ranked, dictionary, { seeds: 0, bonus: 0.5 }).size).toBe(0);
  });
});

describe("hybrid search on the embedded store follows title mentions", () => {
  const DIM = 16;
  let dir: string;
  let store: Store;
  let collection: Collection;
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

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "mrag-links-"));
    store = await openEmbeddedStore(join(dir, "data"));
    collection = await store.openCollection("docs", { modelId: "test:links", dimension: DIM, create: true });
    await collection.upsert([leland, film, ...others]);
  });
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("ranks the document the top hit names right behind it, though neither branch found it", async () => {
    const request = { text: question, vector: query, k: 3 };
    const keyword = await collection.search({ ...request, k: 50, mode: "keyword" });
    expect(keyword[0]!.chunk.id).toBe(leland.id);
    const dense = await collection.search({ ...request, k: 50, mode: "dense" });
    expect([...keyword, ...dense].map((h) => h.chunk.id)).not.toContain(film.id);
    const hybrid = await collection.search({ ...request, mode: "hybrid" });
    expect(hybrid.map((h) => h.chunk.id).slice(0, 2)).toEqual([leland.id, film.id]);
    expect(hybrid[1]!.chunk.text).toBe(film.text);
    expect(hybrid[1]!.chunk.tags).toEqual(["private"]);
    expect(hybrid[0]!.score).toBeGreaterThan(hybrid[1]!.score);
  });

  it("keeps the search filter: a mentioned document outside it is not returned", async () => {
    const hybrid = await collection.search({
      mode: "hybrid",
      k: 5,
      text: question,
      vector: query,
      filter: { sourcePrefix: "wiki/L" },
    });
    expect(hybrid.map((h) => h.chunk.id)).toEqual([leland.id]);
  });
});
