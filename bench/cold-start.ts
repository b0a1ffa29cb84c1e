/**
 * Cold start of the built CLI: `node bin/mrag.js search "<q>" --json` against a store holding the milvus-faq,
 * timed from spawn to exit, one untimed warm-up (file cache) then the median of `runs`. Also `--help` and
 * `--version`. Needs `npm run build:ts` first.
 *
 *   node dist/bench/cold-start.js --work <dir> --out <result.json> [--runs 7]
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { childArgs, writeResult } from "./lib/child.js";
import { FAQ_DIR, REPO_ROOT } from "./lib/corpus.js";
import type { ColdStartResult, ColdStats } from "./lib/results.js";
import { fmt, log, median } from "./lib/util.js";

const MRAG_BIN = path.join(REPO_ROOT, "bin", "mrag.js");
const QUERY = "How is data stored in milvus?";

interface Run {
  seconds: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawn the CLI as a user would (no inherited MRAG_* settings) and time it from spawn to exit. */
function mrag(args: readonly string[], cwd: string): Promise<Run> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("MRAG_")) env[k] = v;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [MRAG_BIN, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ seconds: (performance.now() - t0) / 1000, code, stdout, stderr }));
  });
}

async function measure(
  label: string,
  args: readonly string[],
  cwd: string,
  runs: number,
  check: (r: Run) => boolean,
): Promise<ColdStats> {
  const warm = await mrag(args, cwd);
  if (warm.code !== 0 || !check(warm)) {
    throw new Error(`mrag ${args.join(" ")} failed (exit ${warm.code}): ${warm.stderr.trim().slice(0, 500)}`);
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await mrag(args, cwd);
    if (r.code !== 0 || !check(r)) throw new Error(`mrag ${args.join(" ")} failed on run ${i + 1} (exit ${r.code})`);
    times.push(r.seconds);
  }
  const stats = { runs, median: median(times), min: Math.min(...times), max: Math.max(...times) };
  log(`cold start ${label}: median ${fmt(stats.median)} s (min ${fmt(stats.min)}, max ${fmt(stats.max)})`);
  return stats;
}

const hasHits = (r: Run): boolean => {
  try {
    return (JSON.parse(r.stdout) as { hits: unknown[] }).hits.length > 0;
  } catch {
    return false;
  }
};

async function main(): Promise<void> {
  const args = childArgs(["work", "runs"] as const);
  if (!args.work) throw new Error("missing --work <dir>");
  const runs = Number(args.runs ?? 7);
  const cwd = path.join(args.work, "cold");
  rmSync(cwd, { recursive: true, force: true });
  mkdirSync(cwd, { recursive: true });
  cpSync(FAQ_DIR, path.join(cwd, "docs"), { recursive: true, filter: (src) => !src.endsWith("ATTRIBUTION.md") });
  const store = ["--store", path.join(cwd, "store")];

  const ingest = await mrag(["ingest", "docs", ...store, "--json"], cwd);
  if (ingest.code !== 0) throw new Error(`mrag ingest failed (exit ${ingest.code}): ${ingest.stderr.trim()}`);
  const summary = JSON.parse(ingest.stdout) as { chunksWritten: number };
  log(`store prepared: ${summary.chunksWritten} chunks in ${fmt(ingest.seconds)} s (mrag ingest, cold)`);

  const search = (mode: string) => ["search", QUERY, "--json", "--mode", mode, ...store];
  const result: ColdStartResult = {
    storeChunks: summary.chunksWritten,
    ingestSeconds: ingest.seconds,
    help: await measure("--help", ["--help"], cwd, runs, (r) => r.stdout.includes("Usage")),
    version: await measure("--version", ["--version"], cwd, runs, (r) => r.stdout.trim().length > 0),
    keyword: await measure("search keyword", search("keyword"), cwd, runs, hasHits),
    hybrid: await measure("search hybrid", search("hybrid"), cwd, runs, hasHits),
    dense: await measure("search dense", search("dense"), cwd, runs, hasHits),
  };
  rmSync(cwd, { recursive: true, force: true });
  await writeResult(args.out, result);
}

await main();
