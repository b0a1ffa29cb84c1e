import { spawn } from "node:child_process";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runIngest } from "../../src/tools/ingest.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";
import { makeWorkspace, REPO_ROOT, type Workspace } from "../helpers/workspace.js";

function serverEnv(ws: Workspace): Record<string, string> {
  return userEnv({ MRAG_STORE: ws.storeDir, MRAG_LOG_LEVEL: "warn" });
}

interface Hit {
  id: string;
  heading?: string;
  source: string;
}

describe("mrag serve over stdio (the built CLI, spawned)", () => {
  let ws: Workspace;
  let client: Client;
  let transport: StdioClientTransport;
  const protocolErrors: Error[] = [];
  let stderr = "";

  beforeAll(async () => {
    ws = makeWorkspace();
    await runIngest(ws.context, { inputs: [ws.docs] });
    transport = new StdioClientTransport({
      command: process.execPath,
      args: [MRAG_BIN, "serve"],
      cwd: ws.dir,
      env: serverEnv(ws),
      stderr: "pipe",
    });
    transport.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    client = new Client({ name: "stdio-test", version: "1.0.0" });
    // A stray line on stdout (a log, a warning) would surface here as a parse error.
    client.onerror = (error) => protocolErrors.push(error);
    await client.connect(transport);
  });

  afterAll(async () => {
    await client?.close();
    await ws?.cleanup();
  });

  it("initializes with the server's name and lists the six tools", async () => {
    expect(client.getServerVersion()?.name).toBe("mrag");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      ["delete_source", "ingest", "list_sources", "read", "search", "status"].sort(),
    );
  });

  it("searches the ingested fixture and reads a hit with its neighbours", async () => {
    const result = await client.callTool({
      name: "search",
      arguments: { query: "How is data stored in milvus?", k: 5 },
    });
    expect(result.isError).toBeFalsy();
    const hits = (result.structuredContent as { hits: Hit[] }).hits;
    expect(hits[0]?.heading).toMatch(/Where does Milvus store data\?$/);
    const first = hits[0] as Hit;

    const read = await client.callTool({ name: "read", arguments: { ids: [first.id], before: 1, after: 1 } });
    expect(read.isError).toBeFalsy();
    const chunks = (read.structuredContent as { chunks: { id: string; role: string; text: string; source: string }[] })
      .chunks;
    expect(chunks.map((c) => c.role)).toEqual(["before", "requested", "after"]);
    expect(chunks[1]?.id).toBe(first.id);
    expect(chunks[1]?.text).toContain("etcd");
    expect(chunks.every((c) => c.source === first.source)).toBe(true);
  });

  it("keeps stdout for the protocol: no parse errors, logs only on stderr", () => {
    expect(protocolErrors).toEqual([]);
    expect(stderr).not.toMatch(/error/i);
  });

  it("exits when the client closes stdin", async () => {
    const child = spawn(process.execPath, [MRAG_BIN, "serve"], {
      cwd: ws.dir,
      env: serverEnv(ws),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.stdin.end();
    expect(await exited).toBe(0);
  });
});

describe("mrag serve flags", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = makeWorkspace({ copyFaq: false });
  });
  afterAll(async () => {
    await ws?.cleanup();
  });

  it("--read-only lists only the reading tools", async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MRAG_BIN, "serve", "--read-only"],
      cwd: ws.dir,
      env: serverEnv(ws),
      stderr: "pipe",
    });
    const client = new Client({ name: "flags-test", version: "1.0.0" });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["list_sources", "read", "search", "status"]);
    } finally {
      await client.close();
    }
  });

  it("refuses to serve HTTP beyond loopback without a token (exit 2, naming MRAG_HTTP_TOKEN)", async () => {
    const r = await runMrag(["serve", "--http", "--host", "0.0.0.0", "--port", "0"], { cwd: ws.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MRAG_HTTP_TOKEN/);
    expect(r.stdout).toBe("");
  });

  it("refuses an --allow-root that does not exist (exit 2)", async () => {
    const r = await runMrag(["serve", "--allow-root", "no/such/folder"], { cwd: ws.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/allowed root "no\/such\/folder" does not exist/);
  });
});

describe("MCP Inspector CLI against the stdio server", () => {
  const inspector = path.join(REPO_ROOT, "node_modules/@modelcontextprotocol/inspector-cli/build/cli.js");
  let ws: Workspace;

  beforeAll(async () => {
    ws = makeWorkspace();
    await runIngest(ws.context, { inputs: [ws.docs] });
  });
  afterAll(async () => {
    await ws?.cleanup();
  });

  /** The inspector exits 0 even when a call fails, so its JSON output is what the assertions read. */
  function inspect(args: string[]): Promise<{ code: number | null; json: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [inspector, "--cli", process.execPath, MRAG_BIN, "serve", ...args], {
        cwd: ws.dir,
        env: serverEnv(ws),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      child.on("error", reject);
      child.on("close", (code) => {
        try {
          resolve({ code, json: JSON.parse(out) as Record<string, unknown> });
        } catch {
          reject(new Error(`inspector printed no JSON (exit ${code}): ${out}\n${err}`));
        }
      });
    });
  }

  it("lists the tools", async () => {
    const { code, json } = await inspect(["--method", "tools/list"]);
    expect(code).toBe(0);
    const tools = json.tools as { name: string; outputSchema?: unknown }[];
    expect(tools.map((t) => t.name)).toContain("search");
    expect(tools.every((t) => t.outputSchema !== undefined)).toBe(true);
  });

  const callSearch = (...toolArgs: string[]) =>
    inspect(["--method", "tools/call", "--tool-name", "search", ...toolArgs.flatMap((a) => ["--tool-arg", a])]);

  it("calls search", async () => {
    const { json } = await callSearch("query=How is data stored in milvus?", "k=3");
    expect(json.isError).toBeFalsy();
    const hits = (json.structuredContent as { hits: Hit[] }).hits;
    expect(hits).toHaveLength(3);
    expect(hits[0]?.heading).toMatch(/Where does Milvus store data\?$/);
  });

  it("reports a bad argument as a tool error", async () => {
    const { json } = await callSearch("query=etcd", "k=0");
    expect(json.isError).toBe(true);
    expect(JSON.stringify(json.content)).toMatch(/k: k must be between 1 and 50/);
  });
});
