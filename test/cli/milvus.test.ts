import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMrag } from "../helpers/cli.js";
import { startFaultProxy } from "../helpers/milvus-fault-proxy.js";
import { adminClient, freshDatabase, useMilvusLite } from "../helpers/milvus-lite-suite.js";
import { makeWorkspace, REPO_ROOT, type Workspace } from "../helpers/workspace.js";

interface JsonHit {
  id: string;
  source: string;
  score: number;
}

/**
 * The CLI on Milvus, as a user runs it: the built CLI with `MILVUS_URI` (and `MRAG_MILVUS_DATABASE`) against a
 * real Milvus Lite server, with the real embedder. Nothing but the store location changes. Milvus Lite has no
 * authentication: the token tests put the fault proxy in front of it, answering as Milvus' auth check does.
 */
const lite = useMilvusLite("mrag on Milvus (built CLI, Milvus Lite)");
const suite = lite.available ? describe : describe.skip;
const SLOW = 240_000;

suite("mrag on Milvus (built CLI, Milvus Lite)", () => {
  let ws: Workspace;
  const drops: (() => Promise<void>)[] = [];
  const database = async () => {
    const db = await freshDatabase(lite.server().uri);
    drops.push(() => db.cleanup());
    return db.database;
  };

  beforeAll(() => {
    ws = makeWorkspace();
  });
  afterAll(async () => {
    for (const drop of drops) await drop();
    await ws.cleanup();
  });

  const hitsOf = (stdout: string) => (JSON.parse(stdout) as { hits: JsonHit[] }).hits;

  it(
    "ingest, re-ingest, search in every mode with filters, sources, stats and delete work through MILVUS_URI",
    async () => {
      // Source ids relative to the project, as a team sharing one Milvus sets it (on Milvus they default to
      // absolute paths: src/tools/source-root.ts).
      const env = {
        MILVUS_URI: lite.server().uri,
        MRAG_MILVUS_DATABASE: await database(),
        MILVUS_TOKEN: "",
        MRAG_SOURCE_ROOT: ws.dir,
      };
      const run = (...args: string[]) => runMrag(args, { cwd: ws.dir, env });
      const first = await run("ingest", "docs", "--tag", "faq", "--json");
      expect(first.code, first.stderr).toBe(0);
      const summary = JSON.parse(first.stdout) as { added: string[]; skipped: string[] };
      expect(summary.added).toHaveLength(4);
      expect(summary.skipped).toEqual([]);
      const again = JSON.parse((await run("ingest", "docs", "--tag", "faq", "--json")).stdout) as Record<
        string,
        string[]
      >;
      expect([again.added, again.updated, again.unchanged?.length]).toEqual([[], [], 4]);

      for (const mode of ["hybrid", "dense", "keyword"]) {
        const search = await run("search", "where does milvus store data", "--mode", mode, "--json");
        expect(search.code, `${mode}: ${search.stderr}`).toBe(0);
        expect(hitsOf(search.stdout).length, mode).toBeGreaterThan(0);
        const bySource = await run("search", "index", "--mode", mode, "--filter", "source=docs/perf", "--json");
        expect(bySource.code, bySource.stderr).toBe(0);
        const sources = new Set(hitsOf(bySource.stdout).map((h) => h.source));
        expect([...sources], mode).toEqual(["docs/performance_faq.md"]);
      }
      // Tag filters (the store contract checks every mode; hybrid filters both branches).
      const tagged = await run("search", "index", "--filter", "tag=faq", "--filter", "type=markdown", "--json");
      expect(hitsOf(tagged.stdout).length).toBeGreaterThan(0);
      const untagged = await run("search", "index", "--filter", "tag=f%", "--json");
      expect(untagged.code, untagged.stderr).toBe(0);
      expect(hitsOf(untagged.stdout)).toEqual([]);
      // The seed's question: the chunk about where Milvus stores data comes first.
      const dense = hitsOf((await run("search", "How is data stored in milvus?", "--mode", "dense", "--json")).stdout);
      expect(dense[0]?.source).toBe("docs/product_faq.md");

      const stats = JSON.parse((await run("stats", "--json")).stdout) as { chunks: number; sources: number };
      expect(stats.sources).toBe(4);
      expect(stats.chunks).toBeGreaterThan(4);
      const sources = await run("sources", "--json");
      expect(sources.code, sources.stderr).toBe(0);
      expect(sources.stdout).toContain("docs/troubleshooting.md");

      const deleted = await run("delete", "docs/troubleshooting.md", "--json");
      expect(deleted.code, deleted.stderr).toBe(0);
      const after = JSON.parse((await run("stats", "--json")).stdout) as { chunks: number; sources: number };
      expect(after.sources).toBe(3);
      expect(after.chunks).toBeLessThan(stats.chunks);
      const back = JSON.parse((await run("ingest", "docs", "--tag", "faq", "--json")).stdout) as {
        added: string[];
      };
      expect(back.added).toEqual(["docs/troubleshooting.md"]);
      expect(JSON.parse((await run("stats", "--json")).stdout)).toMatchObject({
        chunks: stats.chunks,
        sources: 4,
      });
    },
    SLOW,
  );

  it(
    "migrate copies an embedded store into an empty Milvus and back, and all three answer searches alike",
    async () => {
      const local = await runMrag(["--store", "local", "ingest", "docs", "--json"], { cwd: ws.dir });
      expect(local.code, local.stderr).toBe(0);
      const uri = lite.server().uri;
      const env = { MILVUS_URI: uri, MRAG_MILVUS_DATABASE: await database(), MILVUS_TOKEN: "" };
      const copy = await runMrag(["migrate", "--from", "local", "--to", uri, "--json"], { cwd: ws.dir, env });
      expect(copy.code, copy.stderr).toBe(0);
      expect(JSON.parse(copy.stdout)).toMatchObject({ copied: 4, skipped: 0, verified: true });
      const rerun = await runMrag(["migrate", "--from", "local", "--to", uri, "--json"], { cwd: ws.dir, env });
      expect(JSON.parse(rerun.stdout)).toMatchObject({ copied: 0, skipped: 4, verified: true });

      const home = await runMrag(["migrate", "--from", uri, "--to", "roundtrip", "--json"], { cwd: ws.dir, env });
      expect(home.code, home.stderr).toBe(0);
      expect(JSON.parse(home.stdout)).toMatchObject({ copied: 4, skipped: 0, verified: true });

      const search = async (store: string[], query: string, mode: string) => {
        const r = await runMrag([...store, "search", query, "--mode", mode, "-k", "5", "--json"], { cwd: ws.dir, env });
        expect(r.code, r.stderr).toBe(0);
        return hitsOf(r.stdout);
      };
      const q = "How is data stored in milvus?";
      const fromLocal = await search(["--store", "local"], q, "dense");
      const fromMilvus = await search([], q, "dense");
      expect(fromMilvus.map((h) => h.id)).toEqual(fromLocal.map((h) => h.id));
      for (const [h, l] of fromMilvus.map((hit, i) => [hit, fromLocal[i]!] as const)) {
        expect(h.score).toBeCloseTo(l.score, 3);
      }
      // The copy that went through Milvus and back is the original, in every mode.
      for (const mode of ["dense", "keyword", "hybrid"]) {
        const original = await search(["--store", "local"], "etcd metadata storage", mode);
        expect(
          (await search(["--store", "roundtrip"], "etcd metadata storage", mode)).map((h) => [h.id, h.score]),
        ).toEqual(original.map((h) => [h.id, h.score]));
      }
    },
    SLOW,
  );

  it(
    "a wrong token and an unreachable server are one-line errors with the fix; the token never shows",
    async () => {
      const TOKEN = "root:cli-test-password";
      const guarded = await startFaultProxy(lite.server().uri, { token: TOKEN });
      try {
        const env = { MILVUS_URI: guarded.uri, MRAG_MILVUS_DATABASE: await database() };
        const ok = await runMrag(["ingest", "docs/product_faq.md", "--json"], {
          cwd: ws.dir,
          env: { ...env, MILVUS_TOKEN: TOKEN },
        });
        expect(ok.code, ok.stderr).toBe(0);
        expect(ok.stdout + ok.stderr).not.toContain("cli-test-password");
        const wrong = await runMrag(["search", "milvus"], {
          cwd: ws.dir,
          env: { ...env, MILVUS_TOKEN: "root:not-the-password" },
        });
        expect(wrong.code).toBe(1);
        expect(wrong.stderr).toMatch(/refused the credentials.*MILVUS_TOKEN/);
        expect(wrong.stderr).not.toContain("not-the-password");
        expect(wrong.stderr).not.toMatch(/\n\s+at /);
      } finally {
        await guarded.close();
      }
      const down = await runMrag(["search", "milvus"], {
        cwd: ws.dir,
        env: { MILVUS_URI: "http://127.0.0.1:9", MRAG_MILVUS_TIMEOUT_MS: "3000" },
      });
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/cannot reach Milvus at http:\/\/127\.0\.0\.1:9/);
    },
    SLOW,
  );

  it(
    "eval retrieval measures Milvus when the store is a Milvus URI: a throw-away collection there, dropped after; --keep keeps and reuses it",
    async () => {
      const dataset = path.join(REPO_ROOT, "test/fixtures/eval/hotpotqa-10");
      const db = await database();
      const env = { MILVUS_URI: lite.server().uri, MRAG_MILVUS_DATABASE: db, MILVUS_TOKEN: "" };
      const cwd = mkdtempSync(path.join(tmpdir(), "mrag-eval-milvus-"));
      const admin = adminClient(lite.server().uri, undefined, db);
      const collections = async () => ((await admin.showCollections()).data ?? []).map((c) => c.name).sort();
      type Report = {
        store: string;
        ingested: { chunks: number };
        modes: { mode: string; recall: Record<string, number> }[];
      };
      const recall = (r: Report, mode: string) => r.modes.find((m) => m.mode === mode)!.recall;
      try {
        const milvus = await runMrag(["eval", "retrieval", "--dataset", dataset, "--json", "-k", "5,10"], { cwd, env });
        expect(milvus.code, milvus.stderr).toBe(0);
        expect(milvus.stderr).toMatch(/ingesting into Milvus collection "eval-[0-9a-f]{12}" .*dropped afterwards/);
        const onMilvus = JSON.parse(milvus.stdout) as Report;
        expect(onMilvus.store).toBe("milvus");
        expect(onMilvus.modes.map((m) => m.mode)).toEqual(["dense", "keyword", "hybrid"]);
        expect(await collections()).toEqual([]);
        // The same corpus and embedder in the embedded store: the same chunks, and dense recall within a question
        // or so (Milvus Lite's index and float ordering of near ties differ; keyword differs more: Lite's BM25
        // statistics are per segment).
        const embedded = await runMrag(["eval", "retrieval", "--dataset", dataset, "--json", "-k", "5,10"], { cwd });
        expect(embedded.code, embedded.stderr).toBe(0);
        const onEmbedded = JSON.parse(embedded.stdout) as Report;
        expect(onEmbedded.store).toBe("embedded");
        expect(onMilvus.ingested.chunks).toBe(onEmbedded.ingested.chunks);
        for (const k of ["5", "10"]) {
          expect(Math.abs(recall(onMilvus, "dense")[k]! - recall(onEmbedded, "dense")[k]!)).toBeLessThanOrEqual(0.1);
        }
        for (const m of onMilvus.modes) expect(m.recall["10"]).toBeGreaterThan(0.5);

        const kept = path.join(cwd, "kept");
        const args = ["eval", "retrieval", "--dataset", dataset, "--modes", "hybrid", "--keep", kept, "--json"];
        const first = await runMrag(args, { cwd, env });
        expect(first.code, first.stderr).toBe(0);
        const [name] = await collections();
        expect(name).toMatch(/^eval_[0-9a-f]{12}$/);
        const second = await runMrag(args, { cwd, env });
        expect(second.code, second.stderr).toBe(0);
        expect(second.stderr).toContain(`"${name!.replace("_", "-")}"`);
        expect(await collections()).toEqual([name]);
        expect(recall(JSON.parse(second.stdout) as Report, "hybrid")).toEqual(
          recall(JSON.parse(first.stdout) as Report, "hybrid"),
        );
      } finally {
        await admin.closeConnection();
        rmSync(cwd, { recursive: true, force: true });
      }
    },
    SLOW,
  );
});
