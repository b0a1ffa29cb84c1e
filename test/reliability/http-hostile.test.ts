import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpServer } from "../../src/server/http.js";
import { MAX_BATCH_MESSAGES, MAX_JSON_DEPTH } from "../../src/server/http-guard.js";
import { runIngest } from "../../src/tools/ingest.js";
import { runMrag } from "../helpers/cli.js";
import { FAQ_FIXTURE, makeWorkspace, type Workspace } from "../helpers/workspace.js";
import { memoryOf, startServe } from "./access-helpers.js";
import { duplicateProblems, openReader, readRows } from "./crash-helpers.js";

/**
 * Hostile load on `mrag serve --http` (issue 18, item 4), all on 127.0.0.1 with bounded loops: sessions opened
 * and never closed (a cap: 503 naming http.maxSessions, or the longest-idle session evicted), slow partial
 * requests holding sockets (header and body timeouts; /healthz and real searches keep answering meanwhile),
 * oversized batches and deeply nested arguments (refused before any work, naming the limit), and SIGTERM
 * while searches and an ingest run (stops accepting, exits within seconds, the store is whole).
 */

const ACCEPT = "application/json, text/event-stream";

interface RpcAnswer {
  status: number;
  session?: string;
  body: { result?: Record<string, unknown>; error?: { code: number; message: string } } | undefined;
}

/** One JSON-RPC POST; an SSE answer is reduced to its first `data:` message. */
async function post(url: string, message: unknown, session?: string): Promise<RpcAnswer> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: ACCEPT,
      ...(session ? { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" } : {}),
    },
    body: typeof message === "string" ? message : JSON.stringify(message),
  });
  const text = await response.text();
  const data = text.startsWith("{") ? text : /^data: (.*)$/m.exec(text)?.[1];
  return {
    status: response.status,
    session: response.headers.get("mcp-session-id") ?? undefined,
    body: data ? (JSON.parse(data) as RpcAnswer["body"]) : undefined,
  };
}

const initialize = (id = 1) => ({
  jsonrpc: "2.0",
  id,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "hostile", version: "0" } },
});

async function openSession(url: string): Promise<RpcAnswer> {
  const answer = await post(url, initialize());
  if (answer.session) {
    await post(url, { jsonrpc: "2.0", method: "notifications/initialized" }, answer.session);
  }
  return answer;
}

const search = (id: number, query: string) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: { name: "search", arguments: { query, k: 3 } },
});

async function searchWorks(url: string, session: string): Promise<boolean> {
  const answer = await post(url, search(7, "How is data stored in milvus?"), session);
  return answer.status === 200 && answer.body?.result?.isError !== true && answer.body?.result !== undefined;
}

async function healthy(url: string): Promise<boolean> {
  const response = await fetch(url.replace(/\/mcp$/, "/healthz"));
  return response.status === 200;
}

/** A raw socket that sent `text` and then goes quiet; resolves `closed` when the server hangs up. */
function quietSocket(port: number, text: string): { socket: Socket; closed: Promise<string> } {
  const socket = netConnect({ host: "127.0.0.1", port });
  let received = "";
  socket.on("data", (d: Buffer) => {
    received += d.toString();
  });
  socket.on("error", () => {});
  socket.once("connect", () => socket.write(text));
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(received)));
  return { socket, closed };
}

describe("mrag serve --http under hostile load (in-process, real store)", () => {
  let ws: Workspace;

  beforeAll(async () => {
    ws = makeWorkspace({ flags: { "http.port": 0, "http.maxSessions": 300 } });
    await runIngest(ws.context, { inputs: [ws.docs] });
  }, 120_000);

  afterAll(async () => {
    await ws?.cleanup();
  });

  it("hundreds of sessions never closed: the cap answers 503 naming http.maxSessions, memory stays bounded", async () => {
    const handle = await startHttpServer(ws.context);
    try {
      const before = process.memoryUsage().rss;
      const statuses = new Map<number, number>();
      const refusals: string[] = [];
      // 320 initializes, 8 at a time, none ever closed.
      for (let batch = 0; batch < 40; batch++) {
        const answers = await Promise.all(Array.from({ length: 8 }, () => openSession(handle.url)));
        for (const a of answers) {
          statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          if (a.status === 503 && a.body?.error) refusals.push(a.body.error.message);
        }
      }
      const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
      console.log(`320 sessions opened: statuses ${JSON.stringify([...statuses])}, RSS +${grownMiB.toFixed(0)} MiB`);
      expect(statuses.get(200)).toBe(300);
      expect(statuses.get(503)).toBe(20);
      expect(refusals[0]).toMatch(/too many open sessions \(300, http\.maxSessions is 300\).*DELETE/);
      // Generous: 300 idle sessions measured at tens of MiB; unbounded growth would not stop at 320.
      expect(grownMiB).toBeLessThan(512);
      // The server still answers.
      expect(await healthy(handle.url)).toBe(true);
    } finally {
      await handle.close();
    }
  }, 120_000);

  it("at the cap, the session idle longest gives way to a new one (idle-eviction)", async () => {
    const small = makeWorkspace({ copyFaq: false, flags: { "http.port": 0, "http.maxSessions": 3 } });
    const handle = await startHttpServer(small.context, { sessionEvictIdleMs: 0 });
    try {
      const first = await openSession(handle.url);
      await openSession(handle.url);
      await openSession(handle.url);
      const fourth = await openSession(handle.url);
      expect(fourth.status).toBe(200);
      // The first (idle longest) was closed: its id is unknown now, the newest works.
      const stale = await post(handle.url, { jsonrpc: "2.0", id: 2, method: "tools/list" }, first.session);
      expect(stale.status).toBe(404);
      const fresh = await post(handle.url, { jsonrpc: "2.0", id: 2, method: "tools/list" }, fourth.session);
      expect(fresh.status).toBe(200);
    } finally {
      await handle.close();
      await small.cleanup();
    }
  }, 60_000);

  it("slow partial requests are cut off by the header and body timeouts; /healthz and searches keep answering", async () => {
    const handle = await startHttpServer(ws.context, { headersTimeoutMs: 2000, requestTimeoutMs: 4000 });
    try {
      const session = await openSession(handle.url);
      const headerHolders = Array.from({ length: 150 }, () =>
        quietSocket(handle.port, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"),
      );
      const bodyHolders = Array.from({ length: 50 }, () =>
        quietSocket(
          handle.port,
          'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"',
        ),
      );
      // While 200 sockets hang, the server serves others.
      expect(await healthy(handle.url)).toBe(true);
      expect(await searchWorks(handle.url, session.session as string)).toBe(true);
      // Every held socket is closed by the server (event-based; the bound only catches a hang).
      const all = Promise.all([...headerHolders, ...bodyHolders].map((h) => h.closed));
      const bound = new Promise<"hang">((r) => setTimeout(() => r("hang"), 45_000).unref());
      const closed = await Promise.race([all, bound]);
      expect(closed).not.toBe("hang");
      const answers = closed as string[];
      expect(answers.filter((a) => a.startsWith("HTTP/1.1 408")).length).toBeGreaterThan(0);
      expect(await healthy(handle.url)).toBe(true);
      expect(await searchWorks(handle.url, session.session as string)).toBe(true);
    } finally {
      await handle.close();
    }
  }, 120_000);

  it("a batch over the limit and deeply nested arguments are refused at once, naming the limit", async () => {
    const handle = await startHttpServer(ws.context);
    try {
      const session = (await openSession(handle.url)).session as string;
      const batch = Array.from({ length: 5000 }, (_, i) => search(i + 10, "milvus"));
      const started = Date.now();
      const big = await post(handle.url, batch, session);
      expect(big.status).toBe(400);
      expect(big.body?.error?.message).toMatch(new RegExp(`batch of 5000 .*limit of ${MAX_BATCH_MESSAGES}`));

      const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
      const deepArgs = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search","arguments":{"query":"x","filter":${nested(10_000)}}}}`;
      const deep = await post(handle.url, deepArgs, session);
      expect(deep.status).toBe(400);
      expect(deep.body?.error?.message).toMatch(new RegExp(`levels deep, over the limit of ${MAX_JSON_DEPTH}`));
      // A million levels (2 MB) is refused the same way, not a stack overflow.
      const deeper = await post(handle.url, `{"a":${nested(1_000_000)}}`, session);
      expect(deeper.status).toBe(400);
      // Brackets inside strings do not count.
      const stringy = await post(handle.url, search(4, "[".repeat(200)), session);
      expect(stringy.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(await searchWorks(handle.url, session)).toBe(true);
    } finally {
      await handle.close();
    }
  }, 60_000);
});

describe("SIGTERM under load (the built CLI)", () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-sigterm-"));
    cpSync(FAQ_FIXTURE, path.join(dir, "docs", "faq"), { recursive: true });
    const ingested = await runMrag(["ingest", "docs/faq"], { cwd: dir });
    expect(ingested.code, ingested.stderr).toBe(0);
    cpSync(FAQ_FIXTURE, path.join(dir, "docs", "more"), { recursive: true });
  }, 120_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("stops accepting, cancels what runs, exits within seconds and leaves the store whole", async () => {
    const server = await startServe(["--allow-root", dir], { cwd: dir });
    const sessions = await Promise.all(Array.from({ length: 10 }, () => openSession(server.url)));
    const ids = sessions.map((s) => s.session as string);
    let stop = false;
    const outcomes = new Map<string, number>();
    const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    // Ten searchers (at most 50 calls each) and one ingest of a second folder, all in flight at SIGTERM.
    const searchers = ids.map(async (id, i) => {
      for (let n = 0; n < 50 && !stop; n++) {
        try {
          const a = await post(server.url, search(n + 100, `milvus ${i} ${n}`), id);
          count(String(a.status));
        } catch {
          count("connection closed");
        }
      }
    });
    const ingest = post(
      server.url,
      {
        jsonrpc: "2.0",
        id: 99,
        method: "tools/call",
        params: { name: "ingest", arguments: { paths: [path.join(dir, "docs", "more")] } },
      },
      ids[0],
    ).catch(() => undefined);
    // Event-based: SIGTERM once every searcher has had an answer.
    while ((outcomes.get("200") ?? 0) < ids.length) await new Promise((r) => setTimeout(r, 20));
    const rss = memoryOf(server.pid);
    const signalled = Date.now();
    const stopped = server.stop();
    stop = true;
    const code = await stopped;
    const exitMs = Date.now() - signalled;
    await Promise.all(searchers);
    await ingest;
    console.log(
      `SIGTERM under load: exit ${code} after ${exitMs} ms; outcomes ${JSON.stringify([...outcomes])}; ` +
        `server RSS ${rss?.rssMiB.toFixed(0)} MiB`,
    );
    expect(code, server.stderr()).toBe(0);
    // "A few seconds"; the bound is generous for a loaded 2-core machine.
    expect(exitMs).toBeLessThan(20_000);
    expect(server.stderr()).not.toMatch(/\n\s+at /);
    // After the signal: refused (503 while closing) or no connection at all, never a 500.
    expect(outcomes.get("500") ?? 0).toBe(0);
    await expect(fetch(server.url.replace(/\/mcp$/, "/healthz"))).rejects.toThrow();
    // Nothing half-written: every stored source is whole (no duplicate chunk ids or positions), and the store
    // opens for the next run.
    const { store, collection } = await openReader(path.join(dir, ".mrag", "data"));
    try {
      const rows = await readRows(collection);
      expect(duplicateProblems(rows)).toEqual([]);
      expect(rows.some((r) => r.source.startsWith("docs/faq/"))).toBe(true);
    } finally {
      await store.close();
    }
    const after = await runMrag(["sources", "--json"], { cwd: dir });
    expect(after.code, after.stderr).toBe(0);
  }, 180_000);
});
