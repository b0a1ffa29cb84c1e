import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log.js";
import { createContext } from "../../src/tools/context.js";
import { runIngest } from "../../src/tools/ingest.js";
import { searchHandler } from "../../src/tools/search.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

const FAQ_FILES = [
  "docs/operational_faq.md",
  "docs/performance_faq.md",
  "docs/product_faq.md",
  "docs/troubleshooting.md",
];

/** Real embedded store, real builtin embedder, the real milvus-faq pages. */
describe("ingest and search the milvus FAQ", () => {
  let ws: Workspace;

  beforeAll(async () => {
    ws = makeWorkspace();
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("ingests the four FAQ pages", async () => {
    const summary = await runIngest(ws.context, { inputs: ["docs"] });
    expect(summary.added.sort()).toEqual(FAQ_FILES);
    expect(summary.updated).toEqual([]);
    expect(summary.skipped).toEqual([]);
    expect(summary.chunksWritten).toBeGreaterThanOrEqual(60);
    const stats = await (await ws.context.collection({ create: false })).stats();
    expect(stats.sources).toBe(4);
    expect(stats.chunks).toBe(summary.chunksWritten);
  });

  it('finds "Where does Milvus store data?" first for the tutorial question (hybrid)', async () => {
    const { hits } = await searchHandler(ws.context, {
      query: "How is data stored in milvus?",
      mode: "hybrid",
      k: 5,
      snippet_chars: 4000,
    });
    expect(hits[0]?.snippetTruncated).toBe(false);
    expect(hits[0]?.heading).toMatch(/Where does Milvus store data\?$/);
    expect(hits[0]?.source).toBe("docs/product_faq.md");
    expect(hits[0]?.snippet).toContain("etcd");
  });

  it("dense and keyword modes also rank that section in the top 3", async () => {
    for (const mode of ["dense", "keyword"] as const) {
      const { hits } = await searchHandler(ws.context, { query: "How is data stored in milvus?", mode, k: 3 });
      expect(hits.map((h) => h.heading ?? "")).toContainEqual(expect.stringMatching(/Where does Milvus store data\?$/));
    }
  });

  it("takes k and mode from the server's search config when a client leaves them out", async () => {
    const configured = createContext(
      { ...ws.config, search: { ...ws.config.search, k: 2, mode: "keyword" } },
      { cwd: ws.dir, logger: silentLogger },
    );
    try {
      const output = await searchHandler(configured, { query: "How is data stored in milvus?" });
      expect(output.mode).toBe("keyword");
      expect(output.hits).toHaveLength(2);
      const explicit = await searchHandler(configured, { query: "How is data stored in milvus?", mode: "dense", k: 3 });
      expect(explicit.mode).toBe("dense");
      expect(explicit.hits).toHaveLength(3);
    } finally {
      await configured.close();
    }
  });

  it("applies structured filters", async () => {
    const { hits } = await searchHandler(ws.context, {
      query: "memory",
      k: 10,
      filter: { sourcePrefix: "docs/troubleshooting" },
    });
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((h) => h.source === "docs/troubleshooting.md")).toBe(true);
    const none = await searchHandler(ws.context, { query: "memory", filter: { fileTypes: ["pdf"] } });
    expect(none.hits).toEqual([]);
  });

  it("a second ingest of the same folder changes nothing", async () => {
    const summary = await runIngest(ws.context, { inputs: ["docs"] });
    expect(summary.added).toEqual([]);
    expect(summary.updated).toEqual([]);
    expect(summary.unchanged.sort()).toEqual(FAQ_FILES);
    expect(summary.chunksWritten).toBe(0);
  });

  it("editing one file re-embeds only that file and leaves no duplicates", async () => {
    const collection = await ws.context.collection({ create: false });
    const before = await collection.listSources();
    const idsBefore = new Map<string, string[]>();
    for (const s of before)
      idsBefore.set(
        s.source,
        (await collection.getSource(s.source)).map((c) => c.id),
      );

    appendFileSync(
      path.join(ws.docs, "performance_faq.md"),
      "\n\n#### How fast is the flux capacitor index?\n\nThe flux capacitor index answers in 88 milliseconds.\n",
    );
    const summary = await runIngest(ws.context, { inputs: ["docs"] });
    expect(summary.updated).toEqual(["docs/performance_faq.md"]);
    expect(summary.unchanged.length).toBe(3);
    expect(summary.added).toEqual([]);

    const after = await collection.listSources();
    for (const s of after) {
      const chunks = await collection.getSource(s.source);
      const ids = chunks.map((c) => c.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(chunks.map((c) => c.position)).toEqual(chunks.map((_, i) => i));
      if (s.source !== "docs/performance_faq.md") expect(ids).toEqual(idsBefore.get(s.source));
    }
    const perf = after.find((s) => s.source === "docs/performance_faq.md");
    expect(perf?.chunks).toBe((before.find((s) => s.source === "docs/performance_faq.md")?.chunks ?? 0) + 1);
    const stats = await collection.stats();
    expect(stats.chunks).toBe(after.reduce((n, s) => n + s.chunks, 0));

    const { hits } = await searchHandler(ws.context, { query: "flux capacitor index speed", k: 1 });
    expect(hits[0]?.heading).toMatch(/flux capacitor/);
  });

  it("deleting a file and ingesting with --prune removes its chunks; without --prune they stay", async () => {
    rmSync(path.join(ws.docs, "troubleshooting.md"));
    const kept = await runIngest(ws.context, { inputs: ["docs"] });
    expect(kept.removed).toEqual([]);
    const pruned = await runIngest(ws.context, { inputs: ["docs"], prune: true });
    expect(pruned.removed).toEqual(["docs/troubleshooting.md"]);
    expect(pruned.chunksRemoved).toBeGreaterThan(0);
    const collection = await ws.context.collection({ create: false });
    expect((await collection.listSources()).map((s) => s.source)).not.toContain("docs/troubleshooting.md");
    expect(await collection.getSource("docs/troubleshooting.md")).toEqual([]);
    const { hits } = await searchHandler(ws.context, {
      query: "memory",
      filter: { sourcePrefix: "docs/troubleshooting" },
    });
    expect(hits).toEqual([]);
  });

  it("changing tags re-writes a source with the new tags", async () => {
    const summary = await runIngest(ws.context, { inputs: ["docs/product_faq.md"], tags: ["faq"] });
    expect(summary.updated).toEqual(["docs/product_faq.md"]);
    const { hits } = await searchHandler(ws.context, { query: "etcd", filter: { tags: ["faq"] }, k: 20 });
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.every((h) => h.source === "docs/product_faq.md" && (h.tags ?? []).includes("faq"))).toBe(true);
  });
});

describe("bad input", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = makeWorkspace({ flags: { "ingest.maxFileBytes": 100_000 } });
    await runIngest(ws.context, { inputs: ["docs/product_faq.md"] });
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("a path that does not exist is a usage error naming it", async () => {
    await expect(runIngest(ws.context, { inputs: ["no/such/folder"] })).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining("no/such/folder"),
    });
  });

  it("an empty folder ingests nothing and says so in the summary", async () => {
    mkdirSync(path.join(ws.dir, "empty"));
    const summary = await runIngest(ws.context, { inputs: ["empty"] });
    expect(summary.added).toEqual([]);
    expect(summary.chunksWritten).toBe(0);
  });

  it("binary and oversized files are skipped and named; a Latin-1 file is decoded", async () => {
    const odd = path.join(ws.dir, "odd");
    mkdirSync(odd);
    writeFileSync(path.join(odd, "image.md"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d, 0, 1, 2, 3]));
    writeFileSync(path.join(odd, "latin1.txt"), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0xfe, 0x41]));
    writeFileSync(path.join(odd, "big.md"), `# Big\n\n${"word ".repeat(50_000)}`);
    writeFileSync(path.join(odd, "fine.md"), "# Fine\n\nA perfectly ordinary document about vector search.\n");
    const summary = await runIngest(ws.context, { inputs: ["odd"] });
    const reasons = Object.fromEntries(summary.skipped.map((s) => [s.source, s.reason]));
    expect(reasons).toEqual({ "odd/image.md": "binary", "odd/big.md": "too-large" });
    // Not UTF-8: read as windows-1252 and reported, not dropped.
    expect(summary.added).toEqual(["odd/fine.md", "odd/latin1.txt"]);
    expect(summary.notes).toEqual([{ source: "odd/latin1.txt", note: "not valid UTF-8; decoded as windows-1252" }]);
  });

  it("empty queries, k out of range and unknown filter keys are usage errors naming the field", async () => {
    await expect(searchHandler(ws.context, { query: "   " })).rejects.toThrow(/query: query must not be empty/);
    await expect(searchHandler(ws.context, { query: "etcd", k: 0 })).rejects.toThrow(/k: k must be between 1 and 50/);
    await expect(searchHandler(ws.context, { query: "etcd", k: 10_000 })).rejects.toThrow(/k: k must be between/);
    await expect(searchHandler(ws.context, { query: "etcd", filter: { colour: "red" } })).rejects.toThrow(
      /filter: unknown key\(s\) "colour"/,
    );
    await expect(searchHandler(ws.context, { query: "etcd", mode: "fuzzy" })).rejects.toMatchObject({ exitCode: 2 });
  });

  it("a store folder that is not an mrag store is refused", async () => {
    const notStore = path.join(ws.dir, "not-a-store");
    mkdirSync(notStore);
    writeFileSync(path.join(notStore, "precious.txt"), "do not touch");
    const other = makeWorkspace({ copyFaq: false, flags: { store: notStore } });
    try {
      await expect(other.context.store()).rejects.toThrow(/not an mrag store/);
      expect(readFileSync(path.join(notStore, "precious.txt"), "utf8")).toBe("do not touch");
    } finally {
      await other.cleanup();
    }
  });
});
