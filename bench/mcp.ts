/**
 * The MCP server as a client sees it: the built CLI's `mrag serve`, driven by the SDK's own client.
 *
 *   node dist/bench/mcp.js --work <dir> --out <result.json> [--size 10000] [--calls 500] [--mode-calls 200]
 *       [--runs 10] [--clients 50] [--duration 30]
 *
 * Needs `<work>/search-data/` from search-prepare.js (real chunks embedded with the builtin model) and
 * `npm run build:ts`. Builds a store of `size` real chunks (a random subset), then:
 * 1. stdio: spawns `node bin/mrag.js serve` (StdioClientTransport), lists the tools, makes one first call, 10
 *    warm-up calls, then `calls` timed `search` calls in sequence (hybrid, k 8, default snippet) rotating over
 *    50 distinct queries; then keyword and dense, `mode-calls` each after their own 10 warm-up calls.
 * 2. initialize: `runs` fresh servers, each timed from just before `client.connect` (the transport spawns the
 *    process in start()) to the initialize result.
 * 3. HTTP: `node bin/mrag.js serve --http --port <free port>` with a bearer token; `clients` SDK clients, each
 *    with its own Streamable HTTP session, connect, make one untimed call, then loop `search` for `duration`
 *    seconds. Errors are counted (tool results with isError, thrown errors), never fatal.
 * Servers get no MRAG_* variable from this process besides the ones set here. Numbers only; nothing asserted.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Stream } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { childArgs, writeResult } from "./lib/child.js";
import { REPO_ROOT } from "./lib/corpus.js";
import type { McpResult, McpSearchMode, ServerProcessStats } from "./lib/results.js";
import { BENCH_COLLECTION } from "./lib/search-data.js";
import { buildSubsetStore } from "./lib/subset-store.js";
import { fmt, type LatencySummary, log, median, summarize } from "./lib/util.js";

const MRAG_BIN = path.join(REPO_ROOT, "bin", "mrag.js");
const K = 8;
const WARMUP = 10;
const QUERY_COUNT = 50;
/** Linux USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS = 100;

// ---------------------------------------------------------------------------------------------- helpers

/** Peak RSS (VmHWM) of another process in MB, from /proc; undefined when unreadable. */
function processPeakRssMb(pid: number | null | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of another process, from /proc/<pid>/stat; undefined when unreadable. */
function processCpuSeconds(pid: number | null | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

const selfCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Every variable of this process except MRAG_*, plus the ones given: what a server should see. */
function serverEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("MRAG_")) env[k] = v;
  return { ...env, ...extra };
}

/** Collects the servers' stderr lines (they run at log level warn: anything there is worth a look). */
class StderrLog {
  lines = 0;
  readonly first: string[] = [];
  private partial = "";
  constructor(private readonly label: string) {}
  attach(stream: Stream | null | undefined, tag: string): void {
    stream?.on("data", (d: Buffer) => {
      const text = this.partial + d.toString();
      const parts = text.split("\n");
      this.partial = parts.pop() ?? "";
      for (const line of parts) {
        if (line.trim() === "") continue;
        this.lines++;
        if (this.first.length < 10) this.first.push(`${tag}: ${line.slice(0, 300)}`);
        if (this.lines <= 3) log(`${this.label} stderr (${tag}): ${line.slice(0, 300)}`);
      }
    });
  }
}

interface CallResult {
  isError?: boolean;
  content?: unknown;
  structuredContent?: unknown;
}

function errorText(result: CallResult): string {
  const content = Array.isArray(result.content) ? (result.content as { type?: string; text?: string }[]) : [];
  return content.find((c) => c.type === "text")?.text ?? "(no text)";
}

const searchCall = (client: Client, query: string, mode: McpSearchMode) =>
  client.callTool({ name: "search", arguments: { query, k: K, mode } }) as Promise<CallResult>;

/** A free TCP port on loopback (closed again right away; the server binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = address && typeof address === "object" ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------------------------- store

async function buildStore(
  work: string,
  storeDir: string,
  size: number,
): Promise<{ chunks: number; queries: string[] }> {
  const built = await buildSubsetStore(work, storeDir, size, "mcp");
  // 50 distinct queries spread over the set (hotpotqa questions, then the Milvus-style ones).
  const all = built.queries;
  const step = Math.max(1, Math.floor(all.length / QUERY_COUNT));
  return { chunks: built.chunks, queries: all.filter((_, i) => i % step === 0).slice(0, QUERY_COUNT) };
}

// ------------------------------------------------------------------------------------------------- stdio

function stdioTransport(cwd: string, env: Record<string, string>, stderr: StderrLog, tag: string) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MRAG_BIN, "serve"],
    cwd,
    env,
    stderr: "pipe",
  });
  stderr.attach(transport.stderr, tag);
  return transport;
}

const newClient = () => new Client({ name: "mrag-bench", version: "0.0.0" });

async function stdioRoundTrips(
  cwd: string,
  env: Record<string, string>,
  queries: readonly string[],
  calls: number,
  modeCalls: number,
  stderr: StderrLog,
): Promise<McpResult["stdio"]> {
  const transport = stdioTransport(cwd, env, stderr, "stdio");
  const client = newClient();
  await client.connect(transport);
  const pid = transport.pid;
  try {
    const tools = await client.listTools();
    log(`stdio: connected (pid ${pid}), ${tools.tools.length} tools`);
    let lastHits = 0;
    const call = async (query: string, mode: McpSearchMode): Promise<number> => {
      const t0 = performance.now();
      const result = await searchCall(client, query, mode);
      const ms = performance.now() - t0;
      if (result.isError) throw new Error(`search (${mode}) returned an error: ${errorText(result)}`);
      lastHits = (result.structuredContent as { hits?: unknown[] } | undefined)?.hits?.length ?? 0;
      return ms;
    };
    const firstCallMs = await call(queries[0]!, "hybrid");
    log(`stdio: first call ${fmt(firstCallMs)} ms, ${lastHits} hits`);
    const cpu0 = processCpuSeconds(pid);
    const t0 = performance.now();
    const modes = {} as Record<McpSearchMode, LatencySummary>;
    for (const [mode, n] of [
      ["hybrid", calls],
      ["keyword", modeCalls],
      ["dense", modeCalls],
    ] as const) {
      for (let i = 0; i < WARMUP; i++) await call(queries[(i * 7 + 3) % queries.length]!, mode);
      const times: number[] = [];
      for (let i = 0; i < n; i++) times.push(await call(queries[i % queries.length]!, mode));
      modes[mode] = summarize(times);
      log(`stdio ${mode}: ${n} calls, p50 ${fmt(modes[mode].p50)} ms, p99 ${fmt(modes[mode].p99)} ms`);
    }
    const cpu1 = processCpuSeconds(pid);
    const wall = (performance.now() - t0) / 1000;
    const server: ServerProcessStats = {};
    const peak = processPeakRssMb(pid);
    if (peak !== undefined) server.peakRssMb = peak;
    if (cpu0 !== undefined && cpu1 !== undefined) server.cpuCores = (cpu1 - cpu0) / wall;
    return { warmupCalls: WARMUP, firstCallMs, modes, server };
  } finally {
    await client.close();
  }
}

/** Wait until a process has gone (the transport's close() ends stdin and, if need be, signals it). */
async function gone(pid: number | null | undefined): Promise<void> {
  if (!pid) return;
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(25);
  }
  log(`server ${pid} still running 5 s after close`);
}

async function initializeTimes(
  cwd: string,
  env: Record<string, string>,
  runs: number,
  stderr: StderrLog,
): Promise<McpResult["initialize"]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const transport = stdioTransport(cwd, env, stderr, `init ${i + 1}`);
    const client = newClient();
    const t0 = performance.now();
    await client.connect(transport);
    samples.push(performance.now() - t0);
    const pid = transport.pid;
    await client.close();
    await gone(pid);
  }
  const result = {
    runs,
    medianMs: median(samples),
    minMs: Math.min(...samples),
    maxMs: Math.max(...samples),
    samplesMs: samples,
  };
  log(`initialize: median ${fmt(result.medianMs)} ms, max ${fmt(result.maxMs)} ms over ${runs} fresh servers`);
  return result;
}

// -------------------------------------------------------------------------------------------------- http

async function waitHealthy(base: string, child: ChildProcess): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mrag serve --http exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error("mrag serve --http did not answer /healthz within 30 s");
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => {
    log("http server still running 10 s after SIGTERM; SIGKILL");
    child.kill("SIGKILL");
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

async function httpLoad(
  cwd: string,
  env: Record<string, string>,
  queries: readonly string[],
  clients: number,
  durationSeconds: number,
  stderr: StderrLog,
): Promise<McpResult["http"]> {
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [MRAG_BIN, "serve", "--http", "--port", String(port)], {
    cwd,
    env: { ...env, MRAG_HTTP_TOKEN: token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  stderr.attach(child.stderr, "http");
  stderr.attach(child.stdout, "http stdout");
  const connected: { client: Client; transport: StreamableHTTPClientTransport }[] = [];
  try {
    await waitHealthy(base, child);
    log(`http: server pid ${child.pid} on port ${port}; connecting ${clients} clients`);
    const tc = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
        });
        const client = newClient();
        await client.connect(transport);
        connected.push({ client, transport });
      }),
    );
    const connectAllMs = performance.now() - tc;
    log(`http: ${clients} sessions in ${fmt(connectAllMs)} ms; one untimed call each`);
    const warm = await Promise.allSettled(
      connected.map(({ client }, i) => searchCall(client, queries[i % queries.length]!, "hybrid")),
    );
    const warmFailed = warm.filter((w) => w.status === "rejected" || w.value.isError).length;
    if (warmFailed > 0) log(`http: ${warmFailed} warm-up calls failed`);

    let toolErrors = 0;
    let thrownErrors = 0;
    const errorSamples: string[] = [];
    const sample = (message: string) => {
      if (errorSamples.length < 5 && !errorSamples.includes(message)) errorSamples.push(message.slice(0, 300));
    };
    const latencies: number[] = [];
    const perClient = new Array<number>(connected.length).fill(0);
    log(`http: ${clients} clients looping search for ${durationSeconds} s`);
    const server0 = processCpuSeconds(child.pid);
    const self0 = selfCpuSeconds();
    const t0 = performance.now();
    const deadline = t0 + durationSeconds * 1000;
    await Promise.all(
      connected.map(async ({ client }, c) => {
        for (let n = 0; performance.now() < deadline; n++) {
          const query = queries[(c * 7 + n) % queries.length]!;
          const tq = performance.now();
          perClient[c] = n + 1;
          try {
            const result = await searchCall(client, query, "hybrid");
            if (result.isError) {
              toolErrors++;
              sample(`tool error: ${errorText(result)}`);
            } else {
              latencies.push(performance.now() - tq);
            }
          } catch (error) {
            thrownErrors++;
            sample(`thrown: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    const server1 = processCpuSeconds(child.pid);
    const self1 = selfCpuSeconds();
    const server: ServerProcessStats = {};
    const peak = processPeakRssMb(child.pid);
    if (peak !== undefined) server.peakRssMb = peak;
    if (server0 !== undefined && server1 !== undefined) server.cpuCores = (server1 - server0) / wall;
    const calls = latencies.length + toolErrors + thrownErrors;
    const latency = summarize(latencies);
    log(
      `http: ${calls} calls in ${fmt(wall)} s (${fmt(calls / wall)}/s), errors ${toolErrors} tool + ` +
        `${thrownErrors} thrown, p50 ${fmt(latency.p50)} ms, p99 ${fmt(latency.p99)} ms`,
    );
    return {
      clients,
      durationSeconds: wall,
      connectAllMs,
      calls,
      toolErrors,
      thrownErrors,
      errorSamples,
      callsPerSecond: calls / wall,
      perClientCalls: { min: Math.min(...perClient), median: median(perClient), max: Math.max(...perClient) },
      latency,
      server,
      clientCpuCores: (self1 - self0) / wall,
    };
  } finally {
    await Promise.allSettled(
      connected.map(async ({ client, transport }) => {
        await transport.terminateSession().catch(() => {});
        await client.close();
      }),
    );
    await stopServer(child);
  }
}

// -------------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const args = childArgs(["work", "size", "calls", "mode-calls", "runs", "clients", "duration"] as const);
  if (!args.work) throw new Error("missing --work <dir>");
  const size = Number(args.size ?? 10_000);
  const calls = Number(args.calls ?? 500);
  const modeCalls = Number(args["mode-calls"] ?? 200);
  const runs = Number(args.runs ?? 10);
  const clients = Number(args.clients ?? 50);
  const duration = Number(args.duration ?? 30);
  for (const [name, v] of Object.entries({ size, calls, modeCalls, runs, clients, duration })) {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  }

  const cwd = path.join(args.work, "mcp");
  await mkdir(cwd, { recursive: true });
  const storeDir = path.join(cwd, "store");
  log(`building a store of ${size} real chunks`);
  const tb = performance.now();
  const built = await buildStore(args.work, storeDir, size);
  const storeBuildSeconds = (performance.now() - tb) / 1000;
  const env = serverEnv({ MRAG_STORE: storeDir, MRAG_COLLECTION: BENCH_COLLECTION, MRAG_LOG_LEVEL: "warn" });
  const stderr = new StderrLog("server");
  try {
    const stdio = await stdioRoundTrips(cwd, env, built.queries, calls, modeCalls, stderr);
    const initialize = await initializeTimes(cwd, env, runs, stderr);
    const http = await httpLoad(cwd, env, built.queries, clients, duration, stderr);
    const result: McpResult = {
      storeChunks: built.chunks,
      storeBuildSeconds,
      queries: built.queries.length,
      stdio,
      initialize,
      http,
      serverStderr: stderr.first,
      serverStderrLines: stderr.lines,
    };
    await writeResult(args.out, result);
  } finally {
    rmSync(storeDir, { recursive: true, force: true });
  }
}

await main();
