import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/log.js";
import { startHttpServer } from "../../src/server/http.js";
import { createContext } from "../../src/tools/context.js";
import { runIngest } from "../../src/tools/ingest.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";
import { FAQ_FIXTURE } from "../helpers/workspace.js";

const FILES = ["operational_faq.md", "performance_faq.md", "product_faq.md", "troubleshooting.md"];

interface Hit {
  id: string;
  source: string;
}

/** A notes folder with the default store layout (`notes/.mrag/data`) and an unrelated folder to run from. */
function makeNotes() {
  const dir = mkdtempSync(path.join(tmpdir(), "mrag-ids-"));
  const notes = path.join(dir, "notes");
  cpSync(FAQ_FIXTURE, notes, { recursive: true, filter: (src) => !src.endsWith("ATTRIBUTION.md") });
  const elsewhere = path.join(dir, "elsewhere");
  mkdirSync(elsewhere);
  return { dir, notes, elsewhere, store: path.join(notes, ".mrag", "data") };
}

async function sourcesOf(cwd: string, store: string): Promise<string[]> {
  const r = await runMrag(["sources", "--json"], { cwd, env: { MRAG_STORE: store } });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { sources: { source: string }[] }).sources.map((s) => s.source).sort();
}

describe("source ids do not depend on the ingester's working directory", () => {
  const w = makeNotes();
  afterAll(() => rmSync(w.dir, { recursive: true, force: true }));

  beforeAll(async () => {
    // The CLI from the notes folder, with the default store.
    const first = await runMrag(["ingest", "."], { cwd: w.notes });
    expect(first.code, first.stderr).toBe(0);
  }, 60_000);

  it("the CLI from the notes folder stores ids relative to the project (the folder holding .mrag)", async () => {
    expect(await sourcesOf(w.notes, w.store)).toEqual(FILES);
  });

  it("an MCP stdio server started in / (like Claude Desktop) finds the same ids for the absolute path", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MRAG_BIN, "serve"],
      cwd: "/",
      env: userEnv({ MRAG_STORE: w.store, MRAG_ALLOW_ROOTS: w.notes, MRAG_LOG_LEVEL: "warn" }),
      stderr: "pipe",
    });
    const client = new Client({ name: "ids-stdio", version: "1.0.0" });
    await client.connect(transport);
    try {
      const result = await client.callTool({ name: "ingest", arguments: { paths: [w.notes] } });
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      const counts = (result.structuredContent as { counts: { added: number; unchanged: number } }).counts;
      expect(counts).toMatchObject({ added: 0, unchanged: 4 });
    } finally {
      await client.close();
    }
    expect(await sourcesOf(w.elsewhere, w.store)).toEqual(FILES);
  }, 60_000);

  it("an HTTP server running in another folder ingests one file by absolute path without a duplicate", async () => {
    const { config } = loadConfig({
      cwd: w.elsewhere,
      env: {},
      flags: { store: w.store, "http.port": 0, "server.allowRoots": [w.notes] },
    });
    const context = createContext(config, { cwd: w.elsewhere, logger: silentLogger });
    const handle = await startHttpServer(context);
    const client = new Client({ name: "ids-http", version: "1.0.0" });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(handle.url)));
      const result = await client.callTool({
        name: "ingest",
        arguments: { paths: [path.join(w.notes, "product_faq.md")] },
      });
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      expect((result.structuredContent as { counts: { unchanged: number } }).counts.unchanged).toBe(1);
      const search = await client.callTool({ name: "search", arguments: { query: "What is Milvus?", k: 20 } });
      const hits = (search.structuredContent as { hits: Hit[] }).hits;
      const texts = new Set(hits.map((h) => `${h.source}#${h.id}`));
      expect(texts.size).toBe(hits.length);
      expect(new Set(hits.map((h) => h.source)).size).toBeLessThanOrEqual(FILES.length);
      for (const h of hits) expect(FILES).toContain(h.source);
    } finally {
      await client.close();
      await handle.close();
      await context.close();
    }
    expect(await sourcesOf(w.notes, w.store)).toEqual(FILES);
  }, 60_000);
});

describe("ids from before (relative to another working directory) are replaced at the next ingest", () => {
  const w = makeNotes();
  afterAll(() => rmSync(w.dir, { recursive: true, force: true }));

  it("re-ingesting moves each file to its canonical id in the same commit and says so", async () => {
    // What an older mrag stored when it ran in the parent of the temp folder: `mrag-ids-xxxx/notes/<file>`.
    const { config } = loadConfig({ cwd: w.notes, env: {}, flags: { store: w.store } });
    const context = createContext(config, { cwd: w.notes, logger: silentLogger });
    try {
      await runIngest(context, { inputs: [w.notes], root: path.dirname(w.dir) });
    } finally {
      await context.close();
    }
    const legacy = await sourcesOf(w.notes, w.store);
    expect(legacy).toEqual(FILES.map((f) => `${path.basename(w.dir)}/notes/${f}`));

    const again = await runMrag(["ingest", "."], { cwd: w.notes });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("4 old source id(s) replaced by canonical ones");
    expect(await sourcesOf(w.notes, w.store)).toEqual(FILES);
  }, 60_000);

  it("a store outside any .mrag folder takes the folder that contains it as the root", async () => {
    const store = path.join(w.dir, "store");
    const r = await runMrag(["ingest", path.join(w.notes, "product_faq.md")], {
      cwd: w.elsewhere,
      env: { MRAG_STORE: store },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(await sourcesOf(w.notes, store)).toEqual(["notes/product_faq.md"]);
  }, 60_000);
});
