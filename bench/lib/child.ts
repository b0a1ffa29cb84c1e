/**
 * Each benchmark runs in its own Node process so that its peak RSS is its own and one benchmark's caches,
 * heap and native allocations never flatter or penalise the next. A child writes its result as JSON to the
 * file named by `--out`; progress goes to stderr.
 */
import { spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

/** dist/bench, where the compiled benchmark scripts live. */
export const BENCH_DIST = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export interface ChildOutcome<T> {
  result?: T;
  /** Exit code, or the signal that ended it. */
  exit: number | string | null;
  wallSeconds: number;
}

/** Run `dist/bench/<script>` with `args`, wait for it, and read its JSON result (if it wrote one). */
export async function runChild<T>(
  script: string,
  args: readonly string[],
  options: { workDir: string; env?: Record<string, string>; nodeArgs?: readonly string[] },
): Promise<ChildOutcome<T>> {
  const out = path.join(options.workDir, `result-${path.basename(script, ".js")}-${process.hrtime.bigint()}.json`);
  const started = performance.now();
  const exit = await new Promise<number | string | null>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), path.join(BENCH_DIST, script), ...args, "--out", out],
      {
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, ...options.env },
      },
    );
    child.on("error", reject);
    child.on("close", (code, signal) => resolve(code ?? signal));
  });
  const wallSeconds = (performance.now() - started) / 1000;
  let result: T | undefined;
  try {
    result = JSON.parse(await readFile(out, "utf8")) as T;
    await rm(out, { force: true });
  } catch {
    result = undefined;
  }
  return { ...(result !== undefined ? { result } : {}), exit, wallSeconds };
}

/** Parse a child's options (all strings) plus the mandatory `--out`. */
export function childArgs<K extends string>(names: readonly K[]): { out: string } & Partial<Record<K, string>> {
  const options: Record<string, { type: "string" }> = { out: { type: "string" } };
  for (const name of names) options[name] = { type: "string" };
  const { values } = parseArgs({ options, strict: true, allowPositionals: false });
  if (typeof values.out !== "string") throw new Error("missing --out <file>");
  return values as { out: string } & Partial<Record<K, string>>;
}

/** Write a child's result for the parent. */
export async function writeResult(out: string, result: unknown): Promise<void> {
  await writeFile(out, JSON.stringify(result, null, 2));
}
