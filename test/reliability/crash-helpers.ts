import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { EmbeddedCollection } from "../../src/store/embedded/collection.js";
import { DB_DIR, LOCK_FILE } from "../../src/store/embedded/marker.js";
import { type EmbeddedStore, openEmbeddedStore } from "../../src/store/embedded/store.js";
import { reapOnExit } from "../helpers/children.js";
import { type CliResult, MRAG_BIN, userEnv } from "../helpers/cli.js";
import { prng } from "../store-contract/fixtures.js";

export { prng };

/**
 * Shared by the crash and concurrency tests: a seeded corpus in two versions, a reader that inspects a store
 * folder exactly as it is on disk, and child `mrag` processes that can be killed at a chosen moment.
 */

export const COLLECTION = "mrag";
/** Small chunks so that a modest corpus makes thousands of chunks and several store commits. */
export const CHUNK_ARGS = ["--chunk-chars", "400"];

/** The seed named by `envName`, or a fresh one; printed either way so that a failure can be replayed. */
export function seedFrom(envName: string): number {
  const given = process.env[envName];
  const seed = given !== undefined && given !== "" ? Number(given) >>> 0 : Math.floor(Math.random() * 2 ** 31);
  console.log(`${envName}=${seed} (set it to replay this run)`);
  return seed;
}

const WORDS = (
  "vector index segment query shard replica collection partition schema field embedding cosine recall latency " +
  "throughput memory disk cache compaction flush insert delete upsert search filter hybrid sparse dense token " +
  "chunk source marker lock commit version manifest fragment cluster node proxy coordinator worker timestamp " +
  "consistency bounded strong eventual session quota tenant backup restore snapshot bucket storage object " +
  "gateway metric alert dashboard ranking fusion keyword analyzer stemming language heading paragraph"
).split(" ");

export interface CorpusOptions {
  /** Files to write, spread over `groups` sub-folders `g0/`, `g1/`, ... */
  files: number;
  groups: number;
  seed: number;
}

/**
 * Write the corpus at `version` into `dir` (file names never change between versions). Version 2 of every file
 * has one more section and different words throughout, so its chunks (count and content) differ from version 1.
 */
export async function writeCorpus(dir: string, version: number, options: CorpusOptions): Promise<string[]> {
  const written: string[] = [];
  for (let f = 0; f < options.files; f++) {
    const rand = prng(options.seed * 7919 + f * 104_729 + version);
    const word = () => WORDS[Math.floor(rand() * WORDS.length)]!;
    const sections = 3 + (f % 3) + version;
    let text = `# Document ${f}\n\n`;
    for (let s = 0; s < sections; s++) {
      text += `## Section ${s} ${word()}\n\n`;
      for (let p = 0; p < 2; p++) {
        text += `Revision${version} file${f} part${s}.${p}: ${Array.from({ length: 42 }, word).join(" ")}.\n\n`;
      }
    }
    const rel = path.posix.join(`g${f % options.groups}`, `doc${f}.md`);
    await mkdir(path.join(dir, path.dirname(rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text, "utf8");
    written.push(rel);
  }
  return written;
}

export interface ChunkRow {
  id: string;
  source: string;
  position: number;
  contentHash: string;
}

/** A store folder as a reader finds it: every chunk row, plus the table version. */
export interface Snapshot {
  rows: ChunkRow[];
  version: number;
  /** Per source: its chunks as sorted `position:contentHash` keys, joined (equal strings = equal chunk sets). */
  signatures: Map<string, string>;
}

export function signaturesOf(rows: readonly ChunkRow[]): Map<string, string> {
  const keys = new Map<string, string[]>();
  for (const r of rows) {
    const list = keys.get(r.source) ?? [];
    list.push(`${r.position}:${r.contentHash}`);
    keys.set(r.source, list);
  }
  return new Map([...keys].map(([source, list]) => [source, list.sort().join(",")]));
}

/** Open the collection in `storeDir` as a separate reader would (its own connection). Close the store after. */
export async function openReader(storeDir: string): Promise<{ store: EmbeddedStore; collection: EmbeddedCollection }> {
  const store = await openEmbeddedStore(storeDir);
  try {
    const meta = (await store.listCollections()).find((c) => c.name === COLLECTION);
    if (!meta) throw new Error(`no collection ${COLLECTION} recorded in ${storeDir}`);
    const collection = (await store.openCollection(COLLECTION, {
      modelId: meta.modelId,
      dimension: meta.dimension,
      create: false,
    })) as EmbeddedCollection;
    return { store, collection };
  } catch (error) {
    await store.close();
    throw error;
  }
}

export async function readRows(collection: EmbeddedCollection): Promise<ChunkRow[]> {
  const rows = await collection.lanceTable.query().select(["id", "source", "position", "content_hash"]).toArray();
  return rows.map((r) => ({
    id: String(r.id),
    source: String(r.source),
    position: Number(r.position),
    contentHash: String(r.content_hash),
  }));
}

/** Open the store, read every chunk row and its version, run one search of each mode, close. */
export async function snapshot(storeDir: string, queryVector: Float32Array): Promise<Snapshot> {
  const { store, collection } = await openReader(storeDir);
  try {
    const rows = await readRows(collection);
    const version = await collection.lanceTable.version();
    for (const mode of ["hybrid", "dense", "keyword"] as const) {
      await collection.search({ mode, k: 5, vector: queryVector, text: "compaction manifest fragment" });
    }
    return { rows, version, signatures: signaturesOf(rows) };
  } finally {
    await store.close();
  }
}

/** Duplicate chunk ids and duplicate (source, position) pairs, as messages. */
export function duplicateProblems(rows: readonly ChunkRow[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const places = new Set<string>();
  for (const r of rows) {
    if (ids.has(r.id)) problems.push(`chunk id ${r.id} (${r.source}#${r.position}) is stored twice`);
    ids.add(r.id);
    const place = `${r.source}#${r.position}`;
    if (places.has(place)) problems.push(`${place} is stored twice`);
    places.add(place);
  }
  return problems;
}

/**
 * Compare each source in `snap` with the reference versions: which version (index into `versions`) it is at
 * exactly, or a problem when its chunk set matches none of them (half old, half new, or partly deleted).
 * A source absent from the snapshot counts as `missing`.
 */
export function classifySources(
  snap: Snapshot,
  versions: readonly Map<string, string>[],
  sources: readonly string[],
): { at: Map<string, number | "missing">; problems: string[] } {
  const at = new Map<string, number | "missing">();
  const problems: string[] = [];
  for (const source of sources) {
    const signature = snap.signatures.get(source);
    if (signature === undefined) {
      at.set(source, "missing");
      continue;
    }
    const index = versions.findIndex((v) => v.get(source) === signature);
    if (index < 0) {
      const chunks = signature.split(",").length;
      problems.push(`${source} holds ${chunks} chunks matching no complete version (mixed or partial)`);
    } else at.set(source, index);
  }
  for (const source of snap.signatures.keys()) {
    if (!sources.includes(source)) problems.push(`unexpected source ${source}`);
  }
  return { at, problems };
}

/** A seeded unit vector of `dimension` components, for searches that must not depend on the embedder. */
export function unitVector(dimension: number, rand: () => number): Float32Array {
  const v = Float32Array.from({ length: dimension }, () => rand() - 0.5);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

export interface Running {
  child: ChildProcess;
  pid: number;
  /** Resolves when the process has exited; `signal` is set when it was killed. */
  result: Promise<CliResult & { signal: NodeJS.Signals | null }>;
  exited: boolean;
}

/** Start the built CLI as a user would; stdout and stderr are collected. */
export function startMrag(args: string[], options: { cwd: string; env?: Record<string, string> }): Running {
  const child = spawn(process.execPath, [MRAG_BIN, ...args], {
    cwd: options.cwd,
    env: userEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  return track(child);
}

function track(child: ChildProcess): Running {
  if (child.pid === undefined) throw new Error("child process did not start");
  reapOnExit(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const running: Running = {
    child,
    pid: child.pid,
    exited: false,
    result: new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code, signal) => {
        running.exited = true;
        resolve({ code, signal, stdout, stderr });
      });
    }),
  };
  return running;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether the store's lock file currently names `pid` as its holder. */
export async function lockHeldBy(storeDir: string, pid: number): Promise<boolean> {
  try {
    const owner = JSON.parse(await readFile(path.join(storeDir, LOCK_FILE), "utf8")) as { pid?: unknown };
    return owner.pid === pid;
  } catch {
    return false;
  }
}

/**
 * Wait until `running` holds the store's write lock (it is then past start-up and about to write). False when
 * the process exited first. Throws after `timeoutMs`.
 */
export async function waitForLock(storeDir: string, running: Running, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await lockHeldBy(storeDir, running.pid)) return true;
    if (running.exited) return false;
    if (Date.now() > deadline) {
      running.child.kill("SIGKILL");
      throw new Error(
        `process ${running.pid} did not take the write lock of ${storeDir} within ${timeoutMs} ms ` +
          "(a lock left by a killed process must be taken over, not waited for)",
      );
    }
    await sleep(3);
  }
}

const U64_MAX = 2n ** 64n - 1n;

/**
 * The newest table version committed in `storeDir`, read from LanceDB's manifest file names without opening
 * anything (cheap enough to poll every few ms). Newer LanceDB names manifests `u64::MAX - version`; older ones
 * `version`. 0 when the table does not exist yet.
 */
export async function latestVersion(storeDir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(path.join(storeDir, DB_DIR, `${COLLECTION}.lance`, "_versions"));
  } catch {
    return 0;
  }
  let latest = 0n;
  for (const name of names) {
    const match = /^(\d+)\.manifest$/.exec(name);
    if (!match) continue;
    const n = BigInt(match[1]!);
    const version = n > 2n ** 63n ? U64_MAX - n : n;
    if (version > latest) latest = version;
  }
  return Number(latest);
}

/** Wait until the store's table reaches `version`; false when the process exited first. */
export async function waitForVersion(storeDir: string, running: Running, version: number): Promise<boolean> {
  for (;;) {
    if ((await latestVersion(storeDir)) >= version) return true;
    if (running.exited) return false;
    await sleep(2);
  }
}

/** The times (ms after the call) at which each new table version appeared, until `done` settles. */
export async function commitTimeline(storeDir: string, done: Promise<unknown>): Promise<number[]> {
  let finished = false;
  const settle = () => {
    finished = true;
  };
  done.then(settle, settle);
  const start = Date.now();
  const times: number[] = [];
  for (let seen = await latestVersion(storeDir); ; ) {
    const last = finished;
    const now = await latestVersion(storeDir);
    for (; seen < now; seen++) times.push(Date.now() - start);
    if (last) return times;
    await sleep(2);
  }
}

/**
 * Where to kill a process: `commits === 0` kills `ms` after the start (before the first commit, while it
 * reads, chunks and embeds); otherwise once the table has moved `commits` versions past `fromVersion`, plus
 * `ms` of jitter (landing inside the next write, an index update or a clean-up).
 */
export interface KillPoint {
  commits: number;
  ms: number;
}

/** A kill point drawn from `rand`: a pre-commit one with probability `preCommitShare`. */
export function drawKillPoint(
  rand: () => number,
  options: { commits: number; preCommitMs: number; preCommitShare: number; jitterMs: number },
): KillPoint {
  if (rand() < options.preCommitShare) return { commits: 0, ms: rand() * options.preCommitMs };
  return { commits: 1 + Math.floor(rand() * Math.max(1, options.commits)), ms: rand() * options.jitterMs };
}

/** Let `running` go on until `point` (or until it exits). */
export async function runUntil(storeDir: string, running: Running, point: KillPoint, fromVersion: number) {
  if (point.commits === 0 || (await waitForVersion(storeDir, running, fromVersion + point.commits))) {
    await sleepOrExit(running, point.ms);
  }
}

/** SIGKILL the process unless it has already exited; resolves with its result once it is gone. */
export async function killNow(running: Running): Promise<{ killed: boolean; result: Awaited<Running["result"]> }> {
  const killed = !running.exited && running.child.kill("SIGKILL");
  const result = await running.result;
  return { killed: killed && result.signal === "SIGKILL", result };
}

/** Wait `ms` or until the process exits, whichever comes first. */
export async function sleepOrExit(running: Running, ms: number): Promise<void> {
  await Promise.race([sleep(ms), running.result]);
}

/**
 * `mrag serve` over stdio driven with raw JSON-RPC lines (no SDK client: the test needs the pid and exact
 * control over when the process dies). `call` sends one tools/call and returns a promise for its result.
 */
export interface StdioServer {
  running: Running;
  initialize(): Promise<void>;
  call(name: string, args: Record<string, unknown>): Promise<{ isError?: boolean; structuredContent?: unknown }>;
}

export function startServe(storeDir: string, cwd: string): StdioServer {
  const child = spawn(process.execPath, [MRAG_BIN, "--store", storeDir, "serve"], {
    cwd,
    // Stores live in <dir>/stores/<name>: ids relative to the folder the test runs in, as its expectations are.
    env: userEnv({ MRAG_SOURCE_ROOT: cwd }),
    stdio: ["pipe", "pipe", "pipe"],
  });
  const waiting = new Map<number, (message: Record<string, unknown>) => void>();
  let buffer = "";
  child.stdout.on("data", (d: Buffer) => {
    buffer += d.toString();
    for (let end = buffer.indexOf("\n"); end >= 0; end = buffer.indexOf("\n")) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      const message = JSON.parse(line) as Record<string, unknown>;
      if (typeof message.id === "number") waiting.get(message.id)?.(message);
    }
  });
  child.stdin.on("error", () => undefined); // writes after a kill
  const running = track(child);
  let nextId = 1;
  const request = (method: string, params: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, resolve);
      running.result.then(() => reject(new Error(`mrag serve exited before answering ${method}`)));
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", id, method, params })}\n`);
    });
  return {
    running,
    async initialize() {
      await request("initialize", {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "mrag-crash-test", version: "0" },
      });
      child.stdin.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
    },
    async call(name, args) {
      const reply = await request("tools/call", { name, arguments: args });
      return reply.result as { isError?: boolean; structuredContent?: unknown };
    },
  };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
