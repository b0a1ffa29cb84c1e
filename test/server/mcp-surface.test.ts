import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import {
  LATEST_PROTOCOL_VERSION,
  LoggingMessageNotificationSchema,
  ResourceListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/log.js";
import { startHttpServer } from "../../src/server/http.js";
import { createMcpServer } from "../../src/server/mcp.js";
import { createContext, type MragContext } from "../../src/tools/context.js";
import { runIngest } from "../../src/tools/ingest.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

function contextOn(ws: Workspace, flags: Record<string, unknown>): MragContext {
  const { config } = loadConfig({ cwd: ws.dir, env: {}, flags: { store: ws.storeDir, ...flags } });
  return createContext(config, { cwd: ws.dir, logger: silentLogger });
}

async function connect(context: MragContext) {
  const mcp = createMcpServer(context);
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "surface-test", version: "0" });
  await mcp.server.connect(serverTransport);
  await client.connect(clientTransport);
  return { client, mcp };
}

describe("MCP surface", () => {
  let ws: Workspace;
  let client: Client;
  const logs: { level: string; data: unknown }[] = [];
  let listChanged = 0;

  beforeAll(async () => {
    ws = makeWorkspace();
    await runIngest(ws.context, { inputs: [ws.docs] });
    ({ client } = await connect(ws.context));
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push({ level: n.params.level, data: n.params.data });
    });
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
      listChanged++;
    });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await ws?.cleanup();
  });

  it("declares logging, completions and resources.listChanged", () => {
    expect(client.getServerCapabilities()).toMatchObject({
      logging: {},
      completions: {},
      resources: { listChanged: true },
    });
  });

  it("an unknown tool is a JSON-RPC error -32602 whose message carries the prefix once", async () => {
    const error = await client.callTool({ name: "nope", arguments: {} }).then(
      () => undefined,
      (e: unknown) => e as { code: number; message: string },
    );
    expect(error?.code).toBe(-32602);
    expect(error?.message).toMatch(/^MCP error -32602: unknown tool "nope"; available tools: search, read/);
    expect(error?.message.match(/MCP error/g)).toHaveLength(1);
  });

  it("sends log messages for an ingest and for a failed call, and resources/list_changed after ingest and delete", async () => {
    const text = { source: "notes/a.md", text: "# A\n\nAlpha note." };
    const ingest = await client.callTool({ name: "ingest", arguments: { texts: [text] } });
    expect(ingest.isError).toBeFalsy();
    const removed = await client.callTool({ name: "delete_source", arguments: { source: "inline:notes/a.md" } });
    expect(removed.isError).toBeFalsy();
    const bad = await client.callTool({ name: "search", arguments: { query: "" } });
    expect(bad.isError).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(logs).toContainEqual({ level: "info", data: "ingest: started" });
    expect(logs.some((l) => l.level === "info" && String(l.data).startsWith("ingest: 1 added"))).toBe(true);
    expect(logs.some((l) => l.level === "error" && String(l.data).startsWith("search: invalid search arguments"))).toBe(
      true,
    );
    expect(listChanged).toBe(2);
    // The client can turn the messages down.
    await client.setLoggingLevel("error");
    const before = logs.length;
    await client.callTool({ name: "ingest", arguments: { texts: [text] } });
    await new Promise((r) => setTimeout(r, 50));
    expect(logs.length).toBe(before);
  });

  it("completes the path of the mrag://source/{+path} template from stored ids", async () => {
    const r = await client.complete({
      ref: { type: "ref/resource", uri: "mrag://source/{+path}" },
      argument: { name: "path", value: "docs/p" },
    });
    expect(r.completion.values).toEqual(["docs/performance_faq.md", "docs/product_faq.md"]);
    expect(r.completion.hasMore).toBe(false);
  });

  it("resources/read is capped at the output budget like read, and says how to get the rest", async () => {
    const small = contextOn(ws, { "server.maxOutputTokens": 500 });
    const { client: c } = await connect(small);
    try {
      const r = await c.readResource({ uri: "mrag://source/docs/product_faq.md" });
      const content = r.contents[0];
      const body = content && "text" in content ? content.text : "";
      expect(body.length).toBeLessThan(500 * 4 + 300);
      expect(body).toMatch(/\[cut at line \d+ to stay within 500 tokens: use the read tool with source/);
    } finally {
      await c.close();
      await small.close();
    }
  });

  it("--tool-prefix names every tool with the prefix; the bare name is unknown", async () => {
    const prefixed = contextOn(ws, { "server.toolPrefix": "docs_" });
    const { client: c } = await connect(prefixed);
    try {
      const names = (await c.listTools()).tools.map((t) => t.name);
      expect(names).toContain("docs_search");
      expect(names.every((n) => n.startsWith("docs_"))).toBe(true);
      const hit = await c.callTool({ name: "docs_search", arguments: { query: "etcd", k: 1 } });
      expect(hit.isError).toBeFalsy();
      await expect(c.callTool({ name: "search", arguments: { query: "etcd" } })).rejects.toMatchObject({
        code: -32602,
      });
    } finally {
      await c.close();
      await prefixed.close();
    }
  });
});

describe("Streamable HTTP resumability", () => {
  let ws: Workspace;
  afterAll(async () => ws?.cleanup());

  it("each SSE stream starts with a priming event carrying an id and a retry hint; events have ids", async () => {
    ws = makeWorkspace({ copyFaq: false, flags: { "http.port": 0 } });
    const handle = await startHttpServer(ws.context);
    try {
      const headers = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };
      const init = await fetch(handle.url, {
        method: "POST",
        headers,
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: LATEST_PROTOCOL_VERSION,
            capabilities: {},
            clientInfo: { name: "r", version: "0" },
          },
        }),
      });
      expect(init.status).toBe(200);
      const body = await init.text();
      expect(body).toMatch(/^id: \S+\nretry: 1000\ndata: \n\n/);
      const ids = [...body.matchAll(/^id: (\S+)$/gm)].map((m) => m[1]);
      expect(ids.length).toBeGreaterThanOrEqual(2);
      expect(body).toContain('"serverInfo"');
    } finally {
      await handle.close();
    }
  });
});
