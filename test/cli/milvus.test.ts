import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMrag } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";
import { type MilvusTestServer, startMilvusTestServer } from "../milvus-server/index.js";

interface JsonHit {
  id: string;
  source: string;
  score: number;
}

/**
 * The CLI on Milvus, as a user runs it: the built CLI with `--store http://…` (and `MILVUS_URI` / `MILVUS_TOKEN`)
 * against the in-process Milvus test server, with the real embedder. Nothing but the store location changes.
 */
describe("mrag on Milvus (built CLI, Milvus test server)", () => {
  let ws: Workspace;
  let server: MilvusTestServer;
  const TOKEN = "root:cli-test-password";

  beforeAll(async () => {
    ws = makeWorkspace();
    server = await startMilvusTestServer({ token: TOKEN });
  });
  afterAll(async () => {
    await server.close();
    await ws.cleanup();
  });

  const env = () => ({ MILVUS_URI: server.uri, MILVUS_TOKEN: TOKEN });
  const run = (args: string[], extra: Record<string, string> = {}) =>
    runMrag(args, { cwd: ws.dir, env: { ...env(), ...extra } });

  it("ingest, re-ingest, search, sources and stats work through MILVUS_URI + MILVUS_TOKEN", async () => {
    const first = await run(["ingest", "docs", "--json"]);
    expect(first.code, first.stderr).toBe(0);
    const summary = JSON.parse(first.stdout) as { added: string[]; skipped: string[] };
    expect(summary.added).toHaveLength(4);
    expect(summary.skipped).toEqual([]);
    const again = JSON.parse((await run(["ingest", "docs", "--json"])).stdout) as Record<string, string[]>;
    expect([again.added, again.updated, again.unchanged?.length]).toEqual([[], [], 4]);

    for (const mode of ["hybrid", "dense", "keyword"]) {
      const search = await run(["search", "where does milvus store data", "--mode", mode, "--json"]);
      expect(search.code, `${mode}: ${search.stderr}`).toBe(0);
      const hits = JSON.parse(search.stdout) as { hits: JsonHit[] };
      expect(hits.hits.length, mode).toBeGreaterThan(0);
    }
    const stats = JSON.parse((await run(["stats", "--json"])).stdout) as { chunks: number; sources: number };
    expect(stats.sources).toBe(4);
    const sources = await run(["sources", "--json"]);
    expect(sources.code, sources.stderr).toBe(0);
    expect(sources.stdout).toContain("docs/");
    // The token never shows up in anything mrag printed.
    for (const out of [first, sources]) expect(out.stdout + out.stderr).not.toContain("cli-test-password");
  });

  it("migrate copies an embedded store into an empty Milvus, and both stores answer a search alike", async () => {
    const local = await runMrag(["--store", "local", "ingest", "docs", "--json"], { cwd: ws.dir });
    expect(local.code, local.stderr).toBe(0);
    const empty = await startMilvusTestServer();
    try {
      const target = { MILVUS_URI: empty.uri, MILVUS_TOKEN: "" };
      const copy = await runMrag(["migrate", "--from", "local", "--to", empty.uri, "--json"], {
        cwd: ws.dir,
        env: target,
      });
      expect(copy.code, copy.stderr).toBe(0);
      expect(JSON.parse(copy.stdout)).toMatchObject({ copied: 4, skipped: 0, verified: true });
      const q = ["search", "How is data stored in milvus?", "--mode", "dense", "--json"];
      const fromLocal = JSON.parse((await runMrag(["--store", "local", ...q], { cwd: ws.dir })).stdout) as {
        hits: JsonHit[];
      };
      const fromMilvus = JSON.parse((await runMrag(q, { cwd: ws.dir, env: target })).stdout) as { hits: JsonHit[] };
      expect(fromMilvus.hits.map((h) => h.id)).toEqual(fromLocal.hits.map((h) => h.id));
      const rerun = await runMrag(["migrate", "--from", "local", "--to", empty.uri, "--json"], {
        cwd: ws.dir,
        env: target,
      });
      expect(JSON.parse(rerun.stdout)).toMatchObject({ copied: 0, skipped: 4, verified: true });
    } finally {
      await empty.close();
    }
  });

  it("a wrong token and an unreachable server are one-line errors with the fix", async () => {
    const wrong = await run(["search", "milvus"], { MILVUS_TOKEN: "root:not-the-password" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refused the credentials.*MILVUS_TOKEN/);
    expect(wrong.stderr).not.toContain("not-the-password");
    expect(wrong.stderr).not.toMatch(/\n\s+at /);
    const down = await run(["search", "milvus"], { MILVUS_URI: "http://127.0.0.1:9", MRAG_MILVUS_TIMEOUT_MS: "3000" });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach Milvus at http:\/\/127\.0\.0\.1:9/);
  });
});
