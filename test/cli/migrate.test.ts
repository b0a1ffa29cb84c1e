import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openEmbeddedStore } from "../../src/store/embedded/store.js";
import { runMrag } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";
import { makeSource } from "../store-contract/fixtures.js";

interface Hit {
  id: string;
  source: string;
  score: number;
}

/** `mrag migrate` end to end: the built CLI, a store built by a real `mrag ingest`, real embedded stores. */
describe("mrag migrate", () => {
  let ws: Workspace;
  const run = (...args: string[]) => runMrag(args, { cwd: ws.dir });

  beforeAll(async () => {
    ws = makeWorkspace();
    const ingest = await run("--store", "a", "ingest", "docs", "--json");
    expect(ingest.code, ingest.stderr).toBe(0);
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("copies the store, and search in the copy finds the same hits", async () => {
    const r = await run("migrate", "--from", "a", "--to", "b", "--json");
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as Record<string, unknown> & { collections: Record<string, unknown>[] };
    const stats = JSON.parse((await run("--store", "a", "stats", "--json")).stdout) as {
      chunks: number;
      modelId: string;
    };
    expect(summary).toMatchObject({ copied: 4, skipped: 0, chunks: stats.chunks, verified: true, interrupted: false });
    expect(summary.collections).toMatchObject([{ name: "mrag", modelId: stats.modelId, created: true }]);
    // Progress went to stderr, never into the JSON on stdout.
    expect(r.stderr).toMatch(/migrating collection mrag \(1\/1\): 4 sources, 4 to copy/);

    const copied = JSON.parse((await run("--store", "b", "stats", "--json")).stdout) as typeof stats;
    expect(copied).toMatchObject({ chunks: stats.chunks, modelId: stats.modelId });
    for (const [query, mode] of [
      ["How is data stored in milvus?", "hybrid"],
      ["etcd metadata", "keyword"],
      ["what happens when a query node fails", "dense"],
    ] as const) {
      const search = async (store: string) => {
        const s = await run("--store", store, "search", query, "--mode", mode, "-k", "5", "--json");
        expect(s.code, s.stderr).toBe(0);
        return (JSON.parse(s.stdout) as { hits: Hit[] }).hits.map((h) => [h.id, h.source, h.score]);
      };
      const original = await search("a");
      expect(original.length).toBe(5);
      expect(await search("b")).toEqual(original);
    }
  });

  it("a second run copies nothing and prints a readable summary", async () => {
    const r = await run("migrate", "--from", "a", "--to", "b");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /mrag \(builtin:[^)]+, \d+-d\): 4 sources: 0 copied, 4 skipped, 0 chunks copied; verified/,
    );
    expect(r.stdout).toMatch(/^copied 0, skipped 4, chunks 0, verified yes/m);
    expect(r.stderr).toMatch(/4 already there/);
  });

  it("refuses a destination collection built with another model, naming both, and writes nothing", async () => {
    const dest = path.join(ws.dir, "other");
    const store = await openEmbeddedStore(dest);
    try {
      const c = await store.openCollection("mrag", { modelId: "test:other", dimension: 8, create: true });
      await c.replaceSources([{ source: "x.md", chunks: makeSource("x.md", 2, 8) }]);
    } finally {
      await store.close();
    }
    const r = await run("migrate", "--from", "a", "--to", "other");
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/nothing was copied/);
    expect(r.stderr).toMatch(/test:other \(8-d\).*builtin:\S+ \(\d+-d\).*another store \(--to\)/);
    const after = await openEmbeddedStore(dest);
    try {
      expect((await after.listCollections()).map((m) => [m.name, m.modelId])).toEqual([["mrag", "test:other"]]);
      const c = await after.openCollection("mrag", { modelId: "test:other", dimension: 8, create: false });
      expect((await c.listSources()).map((s) => [s.source, s.chunks])).toEqual([["x.md", 2]]);
    } finally {
      await after.close();
    }
  });

  it("usage and missing-store errors are one line with the fix", async () => {
    const cases: [string[], number, RegExp][] = [
      [["migrate", "--from", "a", "--to", "./a/"], 2, /--from and --to are the same store/],
      [["migrate", "--to", "b"], 2, /--from/],
      [["migrate", "--from", "missing", "--to", "c"], 1, /no collections in the source store .*missing.*Check --from/],
      [["migrate", "--from", "a", "--to", "c", "--collection", "nope"], 1, /"nope" does not exist.*mrag/],
      [["migrate", "--from", "a", "--to", "c", "--batch-chunks", "0"], 2, /--batch-chunks must be from 1/],
      [["--store", "a", "migrate", "--from", "a", "--to", "c"], 2, /leave out --store/],
    ];
    for (const [args, code, message] of cases) {
      const r = await run(...args);
      expect(r.code, args.join(" ")).toBe(code);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stdout).toBe("");
    }
    // None of them created the destination.
    const c = await run("--store", "c", "stats");
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/no store at/);
  });
});
