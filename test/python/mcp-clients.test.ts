import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runIngest } from "../../src/tools/ingest.js";
import { MRAG_BIN, userEnv } from "../helpers/cli.js";
import { connectInMemory } from "../helpers/mcp.js";
import { describePython, runPython, venvPython } from "../helpers/python.js";
import { makeWorkspace, REPO_ROOT, type Workspace } from "../helpers/workspace.js";

/**
 * Python consumers of `mrag serve` (test/python/mcp_clients.py): the official MCP Python SDK over stdio and over
 * Streamable HTTP with a bearer token, and LangChain's MultiServerMCPClient. The Python side checks the
 * conversation; this side checks that the tools it saw are the schemas mrag publishes.
 */

const SCRIPT = path.join(REPO_ROOT, "test", "python", "mcp_clients.py");
const MRAG = `${process.execPath} ${MRAG_BIN}`;
const TOKEN = "py-client-token-0123456789abcdef";
const TOP = /Where does Milvus store data\?$/;

interface ClientReport {
  server: { name: string; version: string };
  tools: Tool[];
  hits: { id: string; heading?: string; source: string }[];
  read: { id: string; role: string; text?: string }[];
  badArgument: string;
}

/** What a client must see of each tool exactly as the server publishes it. */
function published(tools: readonly Tool[]) {
  return [...tools]
    .map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: t.inputSchema,
      outputSchema: t.outputSchema,
      annotations: t.annotations,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

async function startHttp(cwd: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MRAG_BIN, "serve", "--http", "--port", "0"], {
    cwd,
    env: userEnv({ MRAG_HTTP_TOKEN: TOKEN, MRAG_LOG_LEVEL: "info" }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mrag serve --http did not start:\n${stderr}`)), 60_000);
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
      const found = /MCP over HTTP at (\S+)/.exec(stderr);
      if (found?.[1]) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`mrag serve --http exited (${code}):\n${stderr}`));
    });
  });
  return { child, url };
}

/** Several processes (Python, mrag, a model load) per test: generous, so a loaded machine never flakes it. */
const SLOW_MS = 240_000;

describePython("Python MCP clients of mrag serve (MCP Python SDK, LangChain)", () => {
  let ws: Workspace;
  let tools: Tool[];
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    venvPython();
    ws = makeWorkspace();
    await runIngest(ws.context, { inputs: [ws.docs] });
    // The spawned servers find the store through the working folder's config, as a user's setup would.
    writeFileSync(path.join(ws.dir, "mrag.config.json"), JSON.stringify({ store: ws.storeDir }));
    const connection = await connectInMemory(ws.context);
    tools = (await connection.client.listTools()).tools;
    await connection.close();
  }, SLOW_MS);
  afterAll(async () => {
    await ws?.cleanup();
    process.stderr.write(`python MCP client timings (ms): ${JSON.stringify(timings)}\n`);
  });

  const runClient = async (mode: string, args: string[]): Promise<ClientReport> => {
    const r = await runPython([SCRIPT, mode, ...args], { cwd: ws.dir });
    timings[mode] = r.ms;
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as ClientReport;
  };

  it(
    "MCP Python SDK over stdio: initialize, tools/list as published, search, read of a hit, k=0 as isError",
    async () => {
      const report = await runClient("stdio", ["--mrag", MRAG, "--cwd", ws.dir]);
      expect(report.server.name).toBe("mrag");
      expect(published(report.tools)).toEqual(published(tools));
      expect(report.hits[0]?.heading).toMatch(TOP);
      expect(report.read[0]).toMatchObject({ id: report.hits[0]?.id, role: "requested" });
      expect(report.badArgument).toBe("invalid search arguments: k: k must be between 1 and 50");
    },
    SLOW_MS,
  );

  it(
    "MCP Python SDK over Streamable HTTP with a bearer token (and a 401 without it)",
    async () => {
      const { child, url } = await startHttp(ws.dir);
      try {
        const report = await runClient("http", ["--url", url, "--token", TOKEN]);
        expect(published(report.tools)).toEqual(published(tools));
        expect(report.hits[0]?.heading).toMatch(TOP);
        expect(report.read[0]?.text).toMatch(/Milvus deals with two types of data/);
      } finally {
        const exited = once(child, "exit");
        child.kill("SIGTERM");
        await exited;
      }
    },
    SLOW_MS,
  );

  it(
    "LangChain MultiServerMCPClient loads mrag's tools and invokes search directly (no model)",
    async () => {
      const report = (await runClient("langchain", ["--mrag", MRAG, "--cwd", ws.dir])) as unknown as {
        tools: string[];
        searchArgs: string[];
        hits: { heading?: string }[];
      };
      expect(report.tools).toEqual(tools.map((t) => t.name).sort());
      expect(report.searchArgs).toEqual(
        Object.keys(tools.find((t) => t.name === "search")?.inputSchema.properties ?? {}).sort(),
      );
      expect(report.hits[0]?.heading).toMatch(TOP);
    },
    SLOW_MS,
  );
});
