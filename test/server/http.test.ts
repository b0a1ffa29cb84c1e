import { once } from "node:events";
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { type HttpServerHandle, startHttpServer } from "../../src/server/http.js";
import { bearerMatches, checkHost, checkOrigin, isLoopbackHost, parseHostHeader } from "../../src/server/http-guard.js";
import { runIngest } from "../../src/tools/ingest.js";
import { VERSION } from "../../src/version.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

const TOKEN = "0123456789abcdef0123456789abcdef";
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const QUESTION = "How is data stored in milvus?";
const EXPECTED_HEADING = /Where does Milvus store data\?/;
const AUTH_INIT: RequestInit = { headers: AUTH };
const MCP_HEADERS = { "Content-Type": "application/json", Accept: "application/json, text/event-stream" };

const initializeMessage = (id = 1) => ({
  jsonrpc: "2.0",
  id,
  method: "initialize",
  params: {
    protocolVersion: LATEST_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: "raw-test", version: "0" },
  },
});

interface SearchHit {
  heading?: string;
  source: string;
}

async function connect(url: string, headers: Record<string, string> = AUTH) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: "http-test", version: "0" });
  await client.connect(transport);
  return { client, transport };
}

async function search(client: Client, query = QUESTION): Promise<SearchHit[]> {
  const result = await client.callTool({ name: "search", arguments: { query, k: 3 } });
  expect(result.isError).toBeFalsy();
  return (result.structuredContent as { hits: SearchHit[] }).hits;
}

/** node:http, because fetch cannot set Host (and to stream a body without Content-Length). */
function rawRequest(
  port: number,
  options: { method: string; path?: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, method: options.method, path: options.path ?? "/mcp", headers: options.headers },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

async function errorOf(res: Response): Promise<{ code: number; message: string }> {
  return ((await res.json()) as { error: { code: number; message: string } }).error;
}

function errorMessage(body: string): string {
  return (JSON.parse(body) as { error: { message: string } }).error.message;
}

describe("startHttpServer: stateful sessions with a bearer token", () => {
  let ws: Workspace;
  let handle: HttpServerHandle;
  const clients: Client[] = [];

  beforeAll(async () => {
    ws = makeWorkspace({ flags: { "http.port": 0, "http.token": TOKEN } });
    await runIngest(ws.context, { inputs: [ws.docs] });
    handle = await startHttpServer(ws.context);
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await handle?.close();
    await ws?.cleanup();
  });

  it("listens on loopback at /mcp with the port it picked", () => {
    expect(handle.host).toBe("127.0.0.1");
    expect(handle.port).toBeGreaterThan(0);
    expect(handle.url).toBe(`http://127.0.0.1:${handle.port}/mcp`);
  });

  it("answers /healthz without a token, ignores query strings, and 404s other paths", async () => {
    const health = await fetch(`http://127.0.0.1:${handle.port}/healthz?probe=1`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", version: VERSION });

    const missing = await fetch(`http://127.0.0.1:${handle.port}/nope`, AUTH_INIT);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/json");
    expect((await errorOf(missing)).message).toMatch(/\/mcp/);
  });

  it("refuses a request without the token or with a wrong one (401)", async () => {
    const body = JSON.stringify(initializeMessage());
    const none = await fetch(handle.url, { method: "POST", headers: MCP_HEADERS, body });
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="mrag"');
    expect((await errorOf(none)).message).toMatch(/MRAG_HTTP_TOKEN/);

    const wrong = await fetch(handle.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: `Bearer ${TOKEN.slice(0, -1)}X` },
      body,
    });
    expect(wrong.status).toBe(401);
    const short = await fetch(handle.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, Authorization: "Bearer x" },
      body,
    });
    expect(short.status).toBe(401);
  });

  it("makes the SDK client's connect fail without the token", async () => {
    const attempt = connect(handle.url, {});
    await expect(attempt).rejects.toMatchObject({ code: 401 });
    await expect(attempt).rejects.toThrow(/MRAG_HTTP_TOKEN/);
  });

  it("serves two concurrent sessions that each list tools and search", async () => {
    const [a, b] = await Promise.all([connect(handle.url), connect(handle.url)]);
    clients.push(a.client, b.client);
    expect(a.transport.sessionId).toBeTruthy();
    expect(b.transport.sessionId).toBeTruthy();
    expect(a.transport.sessionId).not.toBe(b.transport.sessionId);

    const [toolsA, toolsB] = await Promise.all([a.client.listTools(), b.client.listTools()]);
    for (const tools of [toolsA, toolsB]) expect(tools.tools.map((t) => t.name)).toContain("search");

    const [hitsA, hitsB] = await Promise.all([search(a.client), search(b.client)]);
    for (const hits of [hitsA, hitsB]) {
      expect(hits[0]?.heading).toMatch(EXPECTED_HEADING);
      expect(hits[0]?.source).toBe("docs/product_faq.md");
    }
  });

  it("ends a session on DELETE; its id then gets 404 naming the fix", async () => {
    const { client, transport } = await connect(handle.url);
    clients.push(client);
    const id = transport.sessionId!;
    expect(await search(client)).not.toEqual([]);
    await transport.terminateSession();

    const later = await fetch(handle.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...AUTH, "mcp-session-id": id },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }),
    });
    expect(later.status).toBe(404);
    const error = await errorOf(later);
    expect(error.code).toBe(-32001);
    expect(error.message).toMatch(/re-initialize/);

    const stream = await fetch(handle.url, {
      headers: { ...AUTH, Accept: "text/event-stream", "mcp-session-id": id },
    });
    expect(stream.status).toBe(404);
    await stream.body?.cancel();
  });

  it("answers 400 to a non-initialize request without a session and to invalid JSON", async () => {
    const noSession = await fetch(handle.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...AUTH },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(noSession.status).toBe(400);
    expect((await errorOf(noSession)).message).toMatch(/initialize/);

    const invalid = await fetch(handle.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...AUTH },
      body: "{not json",
    });
    expect(invalid.status).toBe(400);
    expect((await errorOf(invalid)).code).toBe(-32700);

    const notJson = await fetch(handle.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...AUTH, "Content-Type": "text/plain" },
      body: "hello",
    });
    expect(notJson.status).toBe(415);

    const put = await fetch(handle.url, { method: "PUT", headers: { ...MCP_HEADERS, ...AUTH }, body: "{}" });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, POST, DELETE");
  });

  it("refuses a forged Host header (403) before checking the token", async () => {
    const body = JSON.stringify(initializeMessage());
    const forged = await rawRequest(handle.port, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...AUTH, Host: `evil.example:${handle.port}` },
      body,
    });
    expect(forged.status).toBe(403);
    expect(errorMessage(forged.body)).toMatch(/Host/);

    // A loopback name on another port (a tunnel or port forward: localhost:8080 -> this port) is accepted.
    const forwarded = await rawRequest(handle.port, {
      method: "POST",
      headers: { ...MCP_HEADERS, Host: `localhost:${handle.port + 1}` },
      body,
    });
    expect(forwarded.status).toBe(401);

    // A loopback name with the server's port passes the guard and reaches auth.
    const localhost = await rawRequest(handle.port, {
      method: "POST",
      headers: { ...MCP_HEADERS, Host: `localhost:${handle.port}` },
      body,
    });
    expect(localhost.status).toBe(401);
  });

  it("refuses a foreign Origin (403) and accepts a loopback one", async () => {
    const body = JSON.stringify(initializeMessage());
    const evil = await fetch(handle.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...AUTH, Origin: "http://evil.example" },
      body,
    });
    expect(evil.status).toBe(403);
    expect((await errorOf(evil)).message).toMatch(/Origin/);

    const local = await fetch(handle.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...AUTH, Origin: "http://localhost:5173" },
      body,
    });
    expect(local.status).toBe(200);
    const id = local.headers.get("mcp-session-id");
    expect(id).toBeTruthy();
    expect(await local.text()).toContain('"serverInfo"');

    const ended = await fetch(handle.url, { method: "DELETE", headers: { ...AUTH, "mcp-session-id": id! } });
    expect(ended.status).toBe(200);
  });

  it("rejects a second server on the same port with a UsageError naming --port", async () => {
    const other = { ...ws.context, config: { ...ws.config, http: { ...ws.config.http, port: handle.port } } };
    const attempt = startHttpServer(other);
    await expect(attempt).rejects.toBeInstanceOf(UsageError);
    await expect(attempt).rejects.toThrow(new RegExp(`port ${handle.port}.*--port`));
  });
});

describe("startHttpServer: idle sessions", () => {
  it("closes a session that has had no request for sessionIdleMs; its id then gets 404", async () => {
    const ws = makeWorkspace({ copyFaq: false, flags: { "http.port": 0, "http.token": TOKEN } });
    const handle = await startHttpServer(ws.context, { sessionIdleMs: 150, sweepIntervalMs: 25 });
    try {
      const init = await fetch(handle.url, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...AUTH },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "idle", version: "0" } },
        }),
      });
      expect(init.status).toBe(200);
      const id = init.headers.get("mcp-session-id") as string;
      await init.body?.cancel();
      const list = () =>
        fetch(handle.url, {
          method: "POST",
          headers: { ...MCP_HEADERS, ...AUTH, "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
        });
      const alive = await list();
      expect(alive.status).toBe(200);
      await alive.body?.cancel();
      // Each probe counts as activity, so probes are spaced wider than the idle limit.
      let status = 200;
      for (let i = 0; i < 20 && status === 200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const probe = await list();
        status = probe.status;
        await probe.body?.cancel();
      }
      expect(status).toBe(404);
    } finally {
      await handle.close();
      await ws.cleanup();
    }
  });
});

describe("startHttpServer: stateless mode", () => {
  let ws: Workspace;
  let handle: HttpServerHandle;
  let client: Client | undefined;

  beforeAll(async () => {
    ws = makeWorkspace({ flags: { "http.port": 0, "http.token": TOKEN, "http.stateless": true } });
    await runIngest(ws.context, { inputs: [ws.docs] });
    handle = await startHttpServer(ws.context);
  });
  afterAll(async () => {
    await client?.close();
    await handle?.close();
    await ws?.cleanup();
  });

  it("lets a client initialize and search twice without a session", async () => {
    const connected = await connect(handle.url);
    client = connected.client;
    expect(connected.transport.sessionId).toBeUndefined();
    for (const query of [QUESTION, "Where does Milvus store data?"]) {
      const hits = await search(connected.client, query);
      expect(hits[0]?.heading).toMatch(EXPECTED_HEADING);
    }
    const stream = await fetch(handle.url, { headers: { ...AUTH, Accept: "text/event-stream" } });
    expect(stream.status).toBe(405);
    expect(stream.headers.get("allow")).toBe("POST");
  });
});

describe("startHttpServer: body limit and shutdown", () => {
  let ws: Workspace;
  let handle: HttpServerHandle;

  beforeAll(async () => {
    ws = makeWorkspace({ copyFaq: false, flags: { "http.port": 0, "http.token": TOKEN, "http.maxBodyBytes": 1024 } });
    handle = await startHttpServer(ws.context);
  });
  afterAll(async () => {
    await handle?.close();
    await ws?.cleanup();
  });

  it("answers 413 to a declared body over http.maxBodyBytes", async () => {
    const big = JSON.stringify({ ...initializeMessage(), pad: "x".repeat(2048) });
    const res = await fetch(handle.url, { method: "POST", headers: { ...MCP_HEADERS, ...AUTH }, body: big });
    expect(res.status).toBe(413);
    expect((await errorOf(res)).message).toMatch(/1024 bytes/);
  });

  it("answers 413 to a streamed body as soon as it passes the limit, without waiting for its end", async () => {
    const req = httpRequest({
      host: "127.0.0.1",
      port: handle.port,
      method: "POST",
      path: "/mcp",
      headers: { ...MCP_HEADERS, ...AUTH }, // no Content-Length: chunked
    });
    req.on("error", () => {}); // the server closes the connection after answering
    req.write(`{"pad":"${"x".repeat(700)}`);
    req.write("x".repeat(700));
    const [res] = (await once(req, "response")) as [IncomingMessage];
    expect(res.statusCode).toBe(413);
    expect(res.headers.connection).toBe("close");
    res.resume();
    req.destroy();
  });

  it("still serves requests under the limit", async () => {
    const { client } = await connect(handle.url);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  });

  it("close() ends open sessions and stops listening", async () => {
    const { client } = await connect(handle.url);
    const port = handle.port;
    await handle.close();
    await expect(client.listTools()).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    await handle.close(); // idempotent
    await client.close();
  });
});

describe("startHttpServer: shutdown during an ingest", () => {
  let ws: Workspace;

  beforeAll(() => {
    // lockWaitMs 0: a write lock still held after close() would fail the ingest below at once.
    ws = makeWorkspace({ flags: { "http.port": 0, "http.token": TOKEN, lockWaitMs: 0 } });
  });
  afterAll(async () => {
    await ws?.cleanup();
  });

  it("close() waits for a running ingest to unwind and release the write lock", async () => {
    const handle = await startHttpServer(ws.context);
    const { client } = await connect(handle.url);
    let closing: Promise<void> | undefined;
    let progressed: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      progressed = resolve;
    });
    const call = client
      .callTool({ name: "ingest", arguments: { paths: ["docs"], force: true } }, undefined, {
        onprogress: () => {
          // The first progress notification proves the ingest is running (and holds the lock): close now.
          closing ??= handle.close();
          progressed();
        },
      })
      .then(
        () => "answered",
        () => "cut off",
      );
    await Promise.race([running, call]);
    expect(closing).toBeDefined();
    await closing;
    const summary = await runIngest(ws.context, { inputs: [ws.docs] });
    expect(summary.added.length + summary.updated.length + summary.unchanged.length).toBe(4);
    await client.close();
    expect(["answered", "cut off"]).toContain(await call);
  });
});

describe("startHttpServer: refuses unsafe setups", () => {
  it("will not listen beyond loopback without a token", async () => {
    const ws = makeWorkspace({ copyFaq: false, flags: { "http.host": "0.0.0.0", "http.port": 0 } });
    try {
      const attempt = startHttpServer(ws.context);
      await expect(attempt).rejects.toBeInstanceOf(UsageError);
      await expect(attempt).rejects.toThrow(/MRAG_HTTP_TOKEN/);
      await expect(attempt).rejects.toThrow(/--host 127\.0\.0\.1/);
    } finally {
      await ws.cleanup();
    }
  });
});

describe("http guards", () => {
  it("knows loopback hosts", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]) {
      expect(isLoopbackHost(host)).toBe(true);
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "example.com", "128.0.0.1"])
      expect(isLoopbackHost(host)).toBe(false);
  });

  it("parses Host headers", () => {
    expect(parseHostHeader("LocalHost:3000")).toEqual({ hostname: "localhost", port: 3000 });
    expect(parseHostHeader("[::1]:80")).toEqual({ hostname: "[::1]", port: 80 });
    expect(parseHostHeader("[::1]")).toEqual({ hostname: "[::1]" });
    for (const bad of ["", "::1", "a b", "host:port", "h:99999", "evil/x"])
      expect(parseHostHeader(bad)).toBeUndefined();
  });

  it("checks Host against the bound host and allowedHosts", () => {
    const policy = { loopback: true, port: 3000, boundHost: "127.0.0.1", allowedHosts: ["mrag.internal"] };
    for (const ok of [
      "localhost",
      "localhost:3000",
      "localhost:8080",
      "127.0.0.1:3001",
      "[::1]:3000",
      "mrag.internal:8443",
    ]) {
      expect(checkHost(ok, policy)).toBeUndefined();
    }
    for (const bad of [undefined, "evil.example", "evil.example:3000", "127.0.0.2:3000"]) {
      expect(checkHost(bad, policy)).toBeTypeOf("string");
    }
    const open = { loopback: false, port: 3000, boundHost: "0.0.0.0", allowedHosts: [] };
    expect(checkHost("anything.example", open)).toBeUndefined();
    expect(checkHost("anything.example", { ...open, allowedHosts: ["mrag.example"] })).toBeTypeOf("string");
  });

  it("checks Origin and bearer tokens", () => {
    expect(checkOrigin(undefined, [])).toBeUndefined();
    expect(checkOrigin("http://127.0.0.1:8080", [])).toBeUndefined();
    expect(checkOrigin("https://[::1]", [])).toBeUndefined();
    expect(checkOrigin("null", [])).toBeTypeOf("string");
    expect(checkOrigin("http://localhost.evil.example", [])).toBeTypeOf("string");
    expect(checkOrigin("https://app.example", ["https://app.example"])).toBeUndefined();
    expect(checkOrigin("https://APP.example:443", ["https://app.example/"])).toBeUndefined();
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`bearer  ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(TOKEN, TOKEN)).toBe(false);
    expect(bearerMatches(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
  });
});
