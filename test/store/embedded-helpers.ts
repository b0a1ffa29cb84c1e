import { spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

async function listTs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listTs(path)));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/**
 * Transpile the store sources (src/errors.ts, src/store/**) to plain ESM JavaScript so that child processes
 * (plain `node`, no TypeScript loader on Node 20) can run the real store code. The output goes under
 * node_modules/.cache so that `@lancedb/lancedb` and `zod` resolve from the project's node_modules.
 * Returns the output folder; remove it when done.
 */
export async function transpileStoreForChildren(): Promise<string> {
  const out = join(repo, "node_modules", ".cache", `mrag-store-test-${process.pid}-${Date.now()}`);
  // The store layer and what it may import: errors, log, redaction and the config schema (one layer down).
  const files = [
    join(repo, "src", "errors.ts"),
    join(repo, "src", "log.ts"),
    join(repo, "src", "redact.ts"),
    ...(await listTs(join(repo, "src", "config"))),
    ...(await listTs(join(repo, "src", "store"))),
  ];
  for (const file of files) {
    const source = await readFile(file, "utf8");
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, sourceMap: false },
      fileName: file,
    });
    const target = join(out, relative(repo, file)).replace(/\.ts$/, ".js");
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, outputText, "utf8");
  }
  // Inside node_modules no package scope applies, so mark the output as ESM explicitly.
  await writeFile(join(out, "package.json"), '{ "type": "module" }\n', "utf8");
  await writeFile(join(out, "lock-child.js"), LOCK_CHILD, "utf8");
  return out;
}

/**
 * A child that opens the store in argv[2], takes its write lock (waiting up to argv[5] ms), appends
 * start/end events to the JSON-lines log argv[6] and holds the lock for argv[4] ms. With argv[7] === "crash"
 * it kills itself with SIGKILL while holding the lock (no cleanup runs). Exit code 3 = the lock failed.
 */
const LOCK_CHILD = `
import { appendFileSync } from "node:fs";
import { openEmbeddedStore } from "./src/store/embedded/store.js";
const [folder, label, holdMs, waitMs, log, mode] = process.argv.slice(2);
const event = (name) => appendFileSync(log, JSON.stringify({ label, event: name, t: Date.now(), pid: process.pid }) + "\\n");
const store = await openEmbeddedStore(folder);
event("ready");
try {
  await store.withWriteLock(async () => {
    event("start");
    if (mode === "crash") process.kill(process.pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, Number(holdMs)));
    event("end");
  }, Number(waitMs));
  await store.close();
} catch (error) {
  console.error(JSON.stringify({ name: error.name, message: error.message }));
  process.exit(3);
}
`;

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export function runNode(script: string, args: string[], cwd: string): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code, signal, stderr }));
  });
}

export interface LockEvent {
  label: string;
  event: "ready" | "start" | "end";
  t: number;
  pid: number;
}

export async function readEvents(log: string): Promise<LockEvent[]> {
  try {
    const text = await readFile(log, "utf8");
    return text
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as LockEvent);
  } catch {
    return [];
  }
}

export async function waitFor(predicate: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
