/**
 * Ingest throughput with the builtin embedder into a real embedded store (one child process per corpus).
 *
 *   node dist/bench/ingest.js --corpus faq|markdown --work <dir> --out <result.json> [--runs 3]
 *
 * 1. End to end: `runIngest` into a fresh store, through a context that times every embedder and collection
 *    call, so the stages (model load, discovery+load+chunk, embedding, store writes, index build) add up.
 * 2. The stages again by calling discoverFiles / loadFile / chunkDocument directly.
 * 3. The same chunk texts embedded only (no store), and a plain TypeScript baseline.
 * Prints numbers; asserts nothing.
 */
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { connect } from "@lancedb/lancedb";
import { DB_DIR } from "../src/store/embedded/marker.js";
import { runIngest } from "../src/tools/ingest.js";
import { childArgs, writeResult } from "./lib/child.js";
import { collectMarkdownCorpus, FAQ_DIR, type MarkdownCorpus, markdownCorpusDir } from "./lib/corpus.js";
import {
  benchConfig,
  benchContext,
  builtinEmbedder,
  emptyTimings,
  instrumentedContext,
  prepareCorpus,
} from "./lib/mrag.js";
import type { IngestResult, Throughput } from "./lib/results.js";
import { fmt, folderBytes, log, median, peakRssMb } from "./lib/util.js";

const EMBED_BATCH = 512;

/** FNV-1a of a token, for the baseline's hashed lookup table. */
function fnv1a(token: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < token.length; i++) {
    h ^= token.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The floor for a static embedder in plain TypeScript: lower-case word tokens, sum one row of a random
 * 32768 x dim table per token, normalise, append to a growing Float32Array.
 */
function baseline(texts: readonly string[], dim: number): Throughput {
  const rows = 32768;
  const table = new Float32Array(rows * dim);
  let seed = 7;
  for (let i = 0; i < table.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    table[i] = seed / 4294967296 - 0.5;
  }
  const t0 = performance.now();
  let out = new Float32Array(1024 * dim);
  let count = 0;
  const v = new Float32Array(dim);
  const word = /[\p{L}\p{N}]+/gu;
  for (const text of texts) {
    v.fill(0);
    for (const match of text.toLowerCase().matchAll(word)) {
      const base = (fnv1a(match[0]) % rows) * dim;
      for (let d = 0; d < dim; d++) v[d] = v[d]! + table[base + d]!;
    }
    let n = 0;
    for (let d = 0; d < dim; d++) n += v[d]! * v[d]!;
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    if ((count + 1) * dim > out.length) {
      const grown = new Float32Array(out.length * 2);
      grown.set(out);
      out = grown;
    }
    for (let d = 0; d < dim; d++) out[count * dim + d] = v[d]! * inv;
    count++;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, chunksPerSecond: count / seconds };
}

/** First, median, last and slowest commit of one run, in ms: shows whether commits slow down as the table grows. */
function commitStats(ms: readonly number[]): { first: number; median: number; last: number; max: number } {
  return { first: ms[0] ?? 0, median: median(ms), last: ms.at(-1) ?? 0, max: Math.max(0, ...ms) };
}

interface OneRun {
  e2e: number;
  /** CPU seconds of the process (every thread, LanceDB's included) during the ingest. */
  cpu: number;
  chunks: number;
  files: number;
  modelLoad: number;
  embed: number;
  storeWrite: number;
  storeWriteCalls: number;
  storeWriteMs: number[];
  index: number;
  storeRead: number;
  storeBytes: number;
  liveBytes: number;
}

/**
 * The live data of a store: its size once every version but the current one is pruned (LanceDB's optimize
 * with a cut-off of now; the table is already compacted by the ingest). Measured after the timed run.
 */
async function liveBytes(storeDir: string): Promise<number> {
  const db = await connect(path.join(storeDir, DB_DIR));
  try {
    for (const name of await db.tableNames()) {
      const table = await db.openTable(name);
      await table.optimize({ cleanupOlderThan: new Date(Date.now() + 1000) });
      table.close();
    }
  } finally {
    db.close();
  }
  return folderBytes(storeDir);
}

async function ingestOnce(cwd: string, input: string, storeDir: string): Promise<OneRun> {
  rmSync(storeDir, { recursive: true, force: true });
  const timings = emptyTimings();
  const context = instrumentedContext(benchContext(cwd, storeDir), timings);
  try {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const summary = await runIngest(context, { inputs: [input] });
    const e2e = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (summary.skipped.length > 0) {
      log(`${summary.skipped.length} source(s) skipped, e.g. ${JSON.stringify(summary.skipped.slice(0, 3))}`);
    }
    return {
      e2e,
      cpu: (cpu.user + cpu.system) / 1e6,
      chunks: summary.chunksWritten,
      files: summary.added.length + summary.updated.length,
      modelLoad: timings.modelLoad / 1000,
      embed: timings.embed / 1000,
      storeWrite: timings.storeWrite / 1000,
      storeWriteCalls: timings.storeWriteCalls,
      storeWriteMs: timings.storeWriteMs,
      index: timings.optimize / 1000,
      storeRead: timings.storeRead / 1000,
      storeBytes: await folderBytes(storeDir),
      liveBytes: await liveBytes(storeDir),
    };
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  const args = childArgs(["corpus", "work", "runs"] as const);
  const corpus = args.corpus === "markdown" ? "markdown" : "faq";
  if (!args.work) throw new Error("missing --work <dir>");
  const runs = Number(args.runs ?? (corpus === "faq" ? 3 : 1));
  let cwd: string;
  let input: string;
  let markdown: MarkdownCorpus | undefined;
  if (corpus === "faq") {
    cwd = path.join(args.work, "faq");
    input = "docs";
    if (!existsSync(path.join(cwd, input))) {
      mkdirSync(cwd, { recursive: true });
      cpSync(FAQ_DIR, path.join(cwd, input), { recursive: true, filter: (src) => !src.endsWith("ATTRIBUTION.md") });
    }
  } else {
    markdown = await collectMarkdownCorpus(markdownCorpusDir(args.work));
    cwd = path.dirname(markdown.dir);
    input = path.basename(markdown.dir);
  }
  const storeDir = path.join(cwd, "store");

  log(`ingest ${corpus}: ${runs} end-to-end run(s) with runIngest`);
  const all: OneRun[] = [];
  let peak = 0;
  for (let i = 0; i < runs; i++) {
    const run = await ingestOnce(cwd, input, storeDir);
    peak = Math.max(peak, peakRssMb());
    log(
      `  run ${i + 1}: ${run.files} files, ${run.chunks} chunks in ${fmt(run.e2e)} s ` +
        `(model ${fmt(run.modelLoad)} s, embed ${fmt(run.embed)} s, writes ${fmt(run.storeWrite)} s ` +
        `in ${run.storeWriteCalls} commits, index ${fmt(run.index)} s; store ${fmt(run.storeBytes / 1e6)} MB, ` +
        `live ${fmt(run.liveBytes / 1e6)} MB)`,
    );
    all.push(run);
  }
  rmSync(storeDir, { recursive: true, force: true });
  const m = (pick: (r: OneRun) => number) => median(all.map(pick));

  log("second pass: discovery, load and chunk called directly");
  const config = benchConfig(cwd, storeDir);
  const prepared = await prepareCorpus(cwd, [input], config);
  const texts = prepared.chunks.map((c) => c.embedText);

  log(`embedding ${texts.length} chunks only (no store)`);
  const embedder = await builtinEmbedder(cwd);
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += EMBED_BATCH) await embedder.embedDocuments(texts.slice(i, i + EMBED_BATCH));
  const embedSeconds = (performance.now() - t0) / 1000;
  const dimension = embedder.dimension;
  await embedder.close();
  const base = baseline(texts, dimension);

  const e2e = m((r) => r.e2e);
  const modelLoad = m((r) => r.modelLoad);
  const embed = m((r) => r.embed);
  const storeWrite = m((r) => r.storeWrite);
  const index = m((r) => r.index);
  const storeRead = m((r) => r.storeRead);
  const chunks = all[0]!.chunks;
  const ingestSeconds = m((r) => r.e2e - r.modelLoad);
  const result: IngestResult = {
    corpus,
    files: all[0]!.files,
    bytes: prepared.bytes,
    chunks,
    runs,
    e2eSeconds: e2e,
    cpuSeconds: m((r) => r.cpu),
    ingestSeconds,
    chunksPerSecond: chunks / ingestSeconds,
    chunksPerSecondE2e: chunks / e2e,
    stages: {
      modelLoad,
      discoverLoadChunk: m((r) => r.e2e - r.modelLoad - r.embed - r.storeWrite - r.index - r.storeRead),
      embed,
      storeWrite,
      storeWriteCalls: m((r) => r.storeWriteCalls),
      commitMs: commitStats(all[all.length - 1]!.storeWriteMs),
      index,
      storeRead,
    },
    direct: {
      discover: prepared.discoverMs / 1000,
      load: prepared.loadMs / 1000,
      chunk: prepared.chunkMs / 1000,
    },
    embedOnly: { seconds: embedSeconds, chunksPerSecond: texts.length / embedSeconds },
    baseline: base,
    storeBytes: m((r) => r.storeBytes),
    liveBytes: m((r) => r.liveBytes),
    peakRssMb: peak,
    ...(markdown ? { markdown } : {}),
  };
  if (prepared.chunks.length !== chunks) {
    log(`note: the direct pass made ${prepared.chunks.length} chunks, runIngest wrote ${chunks}`);
  }
  log(
    `ingest ${corpus}: ${chunks} chunks, ${fmt(result.chunksPerSecond)} chunks/s (model loaded), ` +
      `${fmt(result.chunksPerSecondE2e)} chunks/s end to end; embed only ${fmt(result.embedOnly.chunksPerSecond)}/s; ` +
      `baseline ${fmt(base.chunksPerSecond)}/s`,
  );
  await writeResult(args.out, result);
}

await main();
