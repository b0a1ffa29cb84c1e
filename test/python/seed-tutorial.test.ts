import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openMilvusStore } from "../../src/store/milvus/store.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";
import { type MilvusLiteServer, startMilvusLite } from "../helpers/milvus-lite.js";
import { describePython, runPython, venvPython } from "../helpers/python.js";
import { REPO_ROOT } from "../helpers/workspace.js";
import { makeSource } from "../store-contract/fixtures.js";

/**
 * The seed tutorial's pymilvus pipeline and mrag side by side on one real Milvus-protocol server (Milvus Lite):
 * the script builds the tutorial's collection with vectors from `mrag embed`; mrag then serves that collection
 * (CLI and MCP) through `milvus.fields`; and pymilvus reads a collection mrag wrote.
 */

const SCRIPTS = path.join(REPO_ROOT, "examples", "seed-tutorial");
const FAQ_DIR = path.join(REPO_ROOT, "examples", "milvus-faq");
const QUESTION = "How is data stored in milvus?";
const TOP = /^\s*Where does Milvus store data\?/;
const MRAG = `${process.execPath} ${MRAG_BIN}`;

interface SeedHit {
  id: number;
  distance: number;
  text: string;
}
interface SeedResult {
  model: string;
  dimension: number;
  chunks: number;
  inserted: number;
  hits: SeedHit[];
}
interface ToolHit {
  id: string;
  source: string;
  score: number;
  snippet: string;
  heading?: string;
  headingPath: string[];
}

/** Several processes (Python, mrag, a model load) per test: generous, so a loaded machine never flakes it. */
const SLOW_MS = 240_000;

describePython("seed tutorial: pymilvus and mrag on one Milvus Lite server", () => {
  let milvus: MilvusLiteServer;
  let dir: string;
  let seed: SeedResult;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    venvPython();
    milvus = await startMilvusLite();
    dir = mkdtempSync(path.join(tmpdir(), "mrag-seed-"));
  }, SLOW_MS);
  afterAll(async () => {
    await milvus?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`seed-tutorial timings (ms): ${JSON.stringify(timings)}\n`);
  });

  it(
    "the script runs the tutorial's steps: 72 chunks, quick-setup collection, top hit 'Where does Milvus store data?'",
    async () => {
      const r = await runPython(
        [path.join(SCRIPTS, "seed_tutorial.py"), "--uri", milvus.uri, "--mrag", MRAG, "--collection", "seed_faq"],
        { cwd: dir },
      );
      timings.seedScript = r.ms;
      expect(r.code, r.stderr).toBe(0);
      seed = JSON.parse(r.stdout) as SeedResult;
      const embed = JSON.parse((await runMrag(["embed", "x"], { cwd: dir })).stdout) as { model: string };
      expect(seed).toMatchObject({ model: embed.model, chunks: 72, inserted: 72 });
      expect(seed.hits).toHaveLength(3);
      expect(seed.hits[0]?.text).toMatch(TOP);
      expect(seed.hits[0]!.distance).toBeGreaterThan(seed.hits[1]!.distance);
      process.stderr.write(
        `seed via pymilvus: ${seed.hits.map((h) => `${h.id} ${h.distance.toFixed(4)} ${JSON.stringify(h.text.trim().split("\n")[0])}`).join(" | ")}\n`,
      );
    },
    SLOW_MS,
  );

  it(
    "mrag serves the pymilvus-made collection via milvus.fields: dense ranks the same hits; keyword and hybrid say why not",
    async () => {
      expect(seed, "the seed script must have run").toBeDefined();
      const cwd = path.join(dir, "serve-seed");
      cpSync(FAQ_DIR, path.join(cwd, "unused"), { recursive: true });
      writeFileSync(
        path.join(cwd, "mrag.config.json"),
        JSON.stringify({ store: milvus.uri, collection: "seed_faq", milvus: { fields: { dense: "vector" } } }),
      );
      const started = Date.now();
      const dense = await runMrag(["search", QUESTION, "--mode", "dense", "-k", "3", "--json"], { cwd });
      expect(dense.code, dense.stderr).toBe(0);
      expect(dense.stderr).toMatch(/does not record its embedding model/);
      const hits = (JSON.parse(dense.stdout) as { hits: ToolHit[] }).hits;
      expect(hits.map((h) => h.id)).toEqual(seed.hits.map((h) => String(h.id)));
      expect(hits[0]?.snippet).toMatch(TOP);
      for (const [i, hit] of hits.entries()) expect(hit.score).toBeCloseTo(seed.hits[i]!.distance, 4); // mrag prints scores to 4 decimals
      process.stderr.write(
        `seed via mrag search: ${hits.map((h) => `${h.id} ${h.score.toFixed(4)} ${JSON.stringify(h.snippet.trim().split("\n")[0])}`).join(" | ")}\n`,
      );
      for (const mode of ["keyword", "hybrid"]) {
        const r = await runMrag(["search", QUESTION, "--mode", mode], { cwd });
        expect(r.code, mode).toBe(2);
        expect(r.stderr).toMatch(
          new RegExp(`no BM25 full-text field, so ${mode} search is not possible; use mode "dense"`),
        );
      }
      const stats = JSON.parse((await runMrag(["stats", "--json"], { cwd })).stdout) as Record<string, unknown>;
      expect(stats).toMatchObject({ chunks: 72, sources: 0, indexes: { vector: "AUTOINDEX/IP", fts: false } });
      timings.mragCli = Date.now() - started;

      // The MCP search tool through `mrag serve` (stdio), and `read` of its top hit by the Int64 id.
      const mcpStarted = Date.now();
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [MRAG_BIN, "serve"],
        cwd,
        env: userEnv({ MRAG_LOG_LEVEL: "error" }),
        stderr: "pipe",
      });
      const client = new Client({ name: "seed-test", version: "0" });
      await client.connect(transport);
      try {
        const result = await client.callTool({ name: "search", arguments: { query: QUESTION, mode: "dense", k: 3 } });
        expect(result.isError).toBeFalsy();
        const mcpHits = (result.structuredContent as { hits: ToolHit[] }).hits;
        expect(mcpHits.map((h) => h.id)).toEqual(hits.map((h) => h.id));
        const keyword = await client.callTool({ name: "search", arguments: { query: QUESTION, mode: "keyword" } });
        expect(keyword.isError).toBe(true);
        expect(JSON.stringify(keyword.content)).toMatch(/no BM25 full-text field.*use mode \\"dense\\"/);
        const read = await client.callTool({ name: "read", arguments: { ids: [mcpHits[0]!.id] } });
        expect(read.isError, JSON.stringify(read.content)).toBeFalsy();
        expect(JSON.stringify(read.structuredContent)).toMatch(/Where does Milvus store data\?/);
      } finally {
        await client.close();
      }
      timings.mragMcp = Date.now() - mcpStarted;
    },
    SLOW_MS,
  );

  it(
    "on the quick-setup collection (Int64 ids, text as a dynamic key, no source) mrag reads by id and refuses writes",
    async () => {
      expect(seed, "the seed script must have run").toBeDefined();
      const store = await openMilvusStore({ uri: milvus.uri, timeoutMs: 10_000, fields: { dense: "vector" } });
      try {
        const c = await store.openCollection("seed_faq", {
          modelId: seed.model,
          dimension: seed.dimension,
          create: false,
        });
        const [top] = await c.getByIds([String(seed.hits[0]!.id), "not-a-number", "99999999999999999999"]);
        expect(top?.text).toBe(seed.hits[0]!.text);
        expect(top?.source).toBe("");
        expect(await c.listSources()).toEqual([]);
        const write = await c
          .replaceSources([{ source: "x.md", chunks: makeSource("x.md", 1, seed.dimension) }])
          .catch((e: unknown) => e as Error);
        expect((write as Error).message).toMatch(
          /can be searched but not written by mrag: its primary key "id" is Int64/,
        );
      } finally {
        await store.close();
      }
    },
    SLOW_MS,
  );

  it(
    "pymilvus reads a collection mrag wrote: row count = mrag stats, a query by source, the same dense hits",
    async () => {
      const cwd = path.join(dir, "mrag-writes");
      cpSync(FAQ_DIR, path.join(cwd, "docs"), { recursive: true, filter: (src) => !src.endsWith("ATTRIBUTION.md") });
      const env = { MRAG_STORE: milvus.uri, MRAG_COLLECTION: "mrag-faq" };
      const started = Date.now();
      const ingest = await runMrag(["ingest", "docs", "--json"], { cwd, env });
      expect(ingest.code, ingest.stderr).toBe(0);
      const stats = JSON.parse((await runMrag(["stats", "--json"], { cwd, env })).stdout) as { chunks: number };
      const listed = JSON.parse((await runMrag(["sources", "--json"], { cwd, env })).stdout) as {
        sources: { source: string; chunks: number }[];
      };
      // On Milvus, source ids are absolute paths (src/tools/source-root.ts): take the one mrag lists.
      const listedSource = listed.sources.find((s) => s.source.endsWith("docs/product_faq.md"));
      expect(listedSource, JSON.stringify(listed.sources)).toBeDefined();
      const source = listedSource!.source;
      const sourceChunks = listedSource!.chunks;
      const search = await runMrag(["search", QUESTION, "--mode", "dense", "-k", "3", "--json"], { cwd, env });
      expect(search.code, search.stderr).toBe(0);
      const mragHits = (JSON.parse(search.stdout) as { hits: ToolHit[] }).hits;
      timings.mragIngestAndRead = Date.now() - started;

      const r = await runPython(
        [
          path.join(SCRIPTS, "read_mrag_collection.py"),
          ...["--uri", milvus.uri, "--collection", "mrag-faq", "--source", source, "--mrag", MRAG],
        ],
        { cwd },
      );
      timings.pymilvusRead = r.ms;
      expect(r.code, r.stderr).toBe(0);
      const read = JSON.parse(r.stdout) as {
        collection: string;
        rows: number;
        source_chunks: { position: number; source: string }[];
        hits: { id: string; distance: number; source: string; heading_path: string[] }[];
      };
      expect(read.collection).toBe("mrag_faq");
      expect(stats.chunks).toBeGreaterThan(0);
      expect(read.rows).toBe(stats.chunks);
      expect(read.source_chunks).toHaveLength(sourceChunks ?? -1);
      expect(read.source_chunks.map((c) => c.position)).toEqual([...read.source_chunks.keys()]);
      expect(new Set(read.source_chunks.map((c) => c.source))).toEqual(new Set([source]));
      expect(read.hits.map((h) => h.id)).toEqual(mragHits.map((h) => h.id));
      expect(read.hits[0]?.heading_path.at(-1)).toBe("Where does Milvus store data?");
      for (const [i, hit] of read.hits.entries()) expect(hit.distance).toBeCloseTo(mragHits[i]!.score, 4);
      process.stderr.write(
        `mrag-written via pymilvus: ${read.hits.map((h) => `${h.source} ${h.distance.toFixed(4)} ${JSON.stringify(h.heading_path.at(-1))}`).join(" | ")}\n`,
      );
    },
    SLOW_MS,
  );
});
