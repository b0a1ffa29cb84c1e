import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMrag } from "../helpers/cli.js";
import { makeWorkspace, REPO_ROOT, type Workspace } from "../helpers/workspace.js";

/** The built CLI, spawned: exit codes, one-line errors, --json shapes, and two writers at once. */
describe("mrag CLI", () => {
  let ws: Workspace;
  const run = (...args: string[]) => runMrag(args, { cwd: ws.dir, env: { MRAG_STORE: ws.storeDir } });

  beforeAll(() => {
    ws = makeWorkspace();
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("--help lists the commands and exits 0", async () => {
    const r = await run("--help");
    expect(r.code).toBe(0);
    for (const command of ["ingest", "search", "sources", "delete", "stats", "config"]) {
      expect(r.stdout).toContain(command);
    }
  });

  it("usage errors exit 2 with a one-line message on stderr", async () => {
    for (const args of [["frobnicate"], ["search"], ["search", "x", "-k", "ten"], ["ingest"]]) {
      const r = await run(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr.trim().length, args.join(" ")).toBeGreaterThan(0);
      expect(r.stdout).toBe("");
    }
  });

  it("two ingests of the same folder at once both finish, one after the other, with nothing duplicated", async () => {
    const [a, b] = await Promise.all([run("ingest", "docs", "--json"), run("ingest", "docs", "--json")]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const sa = JSON.parse(a.stdout) as { added: string[]; unchanged: string[] };
    const sb = JSON.parse(b.stdout) as { added: string[]; unchanged: string[] };
    // Exactly one of them wrote the four pages; the other found them unchanged.
    expect([sa.added.length, sb.added.length].sort()).toEqual([0, 4]);
    expect([sa.unchanged.length, sb.unchanged.length].sort()).toEqual([0, 4]);
    const stats = JSON.parse((await run("stats", "--json")).stdout) as { chunks: number; sources: number };
    const sources = JSON.parse((await run("sources", "--json")).stdout) as { sources: { chunks: number }[] };
    expect(stats.sources).toBe(4);
    expect(stats.chunks).toBe(sources.sources.reduce((n, s) => n + s.chunks, 0));
  });

  it("search --json prints the search tool's result: {hits: [{rank, id, source, snippet, score, heading}]}", async () => {
    const r = await run("search", "How is data stored in milvus?", "--json", "-k", "3");
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { hits: Record<string, unknown>[] };
    expect(out.hits).toHaveLength(3);
    expect(Object.keys(out.hits[0] ?? {})).toEqual(
      expect.arrayContaining(["rank", "id", "source", "snippet", "score", "heading", "lineStart", "lineEnd"]),
    );
    expect(out.hits[0]?.heading).toMatch(/Where does Milvus store data\?$/);
  });

  it("search prints numbered human-readable hits", async () => {
    const r = await run("search", "etcd metadata", "--mode", "keyword", "-k", "2");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^1\. docs\/\S+\.md:\d+-\d+/);
  });

  it("bad search arguments exit 2 naming the field", async () => {
    const cases: [string[], RegExp][] = [
      [["search", "  "], /query must not be empty/],
      [["search", "etcd", "-k", "0"], /k must be between 1 and 50/],
      [["search", "etcd", "-k", "10000"], /k must be between 1 and 50/],
      [["search", "etcd", "--mode", "fuzzy"], /mode/],
      [["search", "etcd", "--filter", "colour=red"], /unknown filter key "colour"/],
      [["search", "etcd", "--filter", '{"colour":"red"}'], /unknown key\(s\) "colour"/],
    ];
    for (const [args, message] of cases) {
      const r = await run(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });

  it("a path that does not exist exits 2 naming it; an empty folder exits 1 saying it found nothing", async () => {
    const missing = await run("ingest", "nowhere/at/all");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("nowhere/at/all");
    mkdirSync(path.join(ws.dir, "empty"), { recursive: true });
    const empty = await run("ingest", "empty");
    expect(empty.code, empty.stderr).toBe(1);
    expect(empty.stdout).toMatch(/^0 added, 0 updated, 0 unchanged, 0 removed/);
    expect(empty.stderr).toBe("mrag: found nothing to ingest in empty (no files)\n");
  });

  it("a folder that is not an mrag store exits 1 with a clear message and is left alone", async () => {
    const foreign = path.join(ws.dir, "foreign");
    mkdirSync(foreign, { recursive: true });
    writeFileSync(path.join(foreign, "notes.txt"), "mine");
    const r = await runMrag(["search", "etcd"], { cwd: ws.dir, env: { MRAG_STORE: foreign } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not an mrag store/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("config shows values with their origin and redacts secrets", async () => {
    const r = await runMrag(["config", "--collection", "docs"], {
      cwd: ws.dir,
      env: { MRAG_EMBED_API_KEY: "sk-very-secret", MRAG_SEARCH_K: "4" },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/collection\s+"docs"\s+\[flag\]/);
    expect(r.stdout).toMatch(/search\.k\s+4\s+\[env MRAG_SEARCH_K\]/);
    expect(r.stdout).not.toContain("sk-very-secret");
    const bad = await runMrag(["config"], { cwd: ws.dir, env: { MRAG_SEARCH_MODE: "fuzzy" } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/search\.mode = "fuzzy" from MRAG_SEARCH_MODE/);
  });

  it("a collection built by another embedding model is refused with a message naming both", async () => {
    const other = `hf:${path.join(REPO_ROOT, "models", "builtin")}`;
    const r = await run("search", "etcd", "--embedder", other);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/builtin:mrag-static-en/);
    expect(r.stderr).toContain(other);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("delete removes a source or a prefix; an unknown one exits 2; --all empties the collection", async () => {
    const one = await run("delete", "docs/troubleshooting.md");
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/removed 1 source/);
    // A bare string prefix is not a path: it needs --string-prefix, and the refusal says so.
    const partial = await run("delete", "docs/p", "--json");
    expect(partial.code).toBe(2);
    expect(partial.stderr).toMatch(/2 source\(s\) start with "docs\/p".*--string-prefix/);
    const prefix = await run("delete", "docs/p", "--string-prefix", "--json");
    expect(JSON.parse(prefix.stdout).removed.sort()).toEqual(["docs/performance_faq.md", "docs/product_faq.md"]);
    const none = await run("delete", "docs/nothing-here");
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no source/);
    // Without a terminal, --all needs --yes.
    const unconfirmed = await run("delete", "--all", "--json");
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/--yes/);
    const all = await run("delete", "--all", "--yes", "--json");
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout).removed).toEqual(["docs/operational_faq.md"]);
    const stats = JSON.parse((await run("stats", "--json")).stdout) as { chunks: number; sources: number };
    expect(stats).toMatchObject({ chunks: 0, sources: 0 });
  });
});
