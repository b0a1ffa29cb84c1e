/**
 * Diagnostic, not part of `run.js`: the in-memory dense scan of a store that `run.js search --keep` left, with
 * the binary prefilter at several shares (1 = the full int8 scan), interleaved query by query in one process so
 * the machine's load hits every variant alike. Prints p50/p95 per variant and dense recall@10 against the
 * exact top 10 the build wrote.
 *
 *   node dist/bench/search-ab.js --work <dir> --size 100000 [--shares 1,0.03,0.02,0.01] [--rounds 3]
 *   node dist/bench/search-ab.js --work <dir> --size 100000 --hybrid 1 [--rounds 3]
 *
 * --hybrid 1: the whole in-memory hybrid search (k 10, 50 candidates a branch), the dense branch scanning every
 * row against the default (prefiltered from BINARY_PREFILTER_MIN_ROWS), interleaved the same way.
 */
import { performance } from "node:perf_hooks";
import { DenseSnapshot } from "../src/store/embedded/dense-snapshot.js";
import { TitleCache } from "../src/store/embedded/hybrid.js";
import { SnapshotSearch } from "../src/store/embedded/memory-search.js";
import { openStore } from "../src/store/index.js";
import { childArgs } from "./lib/child.js";
import { BENCH_COLLECTION, readQuerySet, readTruth, rowId, storeDirFor } from "./lib/search-data.js";
import { fmt, log, summarize } from "./lib/util.js";

const K = 10;

async function main(): Promise<void> {
  const args = childArgs(["work", "size", "shares", "rounds", "limit", "hybrid"] as const);
  if (!args.work || !args.size) throw new Error("missing --work <dir> or --size <n>");
  const size = Number(args.size);
  const shares = (args.shares ?? "1,0.03,0.02,0.01").split(",").map(Number);
  const rounds = Number(args.rounds ?? 3);
  const limit = Number(args.limit ?? K + 16);
  const set = await readQuerySet(args.work);
  const truth = await readTruth(args.work, size);
  const dim = set.dimension;
  const store = await openStore(storeDirFor(args.work, size), args.work);
  try {
    const collection = await store.openCollection(BENCH_COLLECTION, {
      modelId: set.modelId,
      dimension: dim,
      create: false,
    });
    const table = (collection as unknown as { lanceTable: Parameters<typeof DenseSnapshot.load>[0] }).lanceTable;
    if (args.hybrid !== undefined) {
      await hybridAB(table, dim, set, rounds, size);
      return;
    }
    const t0 = performance.now();
    const snapshot = await DenseSnapshot.load(table, dim, {
      binaryMinRows: 0,
      prefilterShare: Math.max(...shares.filter((s) => s < 1), 0.01),
    });
    if (!snapshot) throw new Error("snapshot not loaded");
    log(`[${size}] snapshot ${fmt((performance.now() - t0) / 1000)} s, ${fmt(snapshot.bytes / 1e6)} MB`);
    const n = set.queries.length;
    const times = shares.map(() => [] as number[]);
    const found = shares.map(() => 0);
    // CPU time per variant: on a loaded machine wall time mostly measures the scheduler.
    const cpu = shares.map(() => 0);
    for (let r = 0; r < rounds; r++) {
      for (let q = 0; q < n; q++) {
        const vector = set.vectors.subarray(q * dim, (q + 1) * dim);
        for (const [v, share] of shares.entries()) {
          const ts = performance.now();
          const c0 = process.cpuUsage();
          const list = snapshot.shortlist(vector, limit, undefined, share);
          const exact = snapshot.exactScores(vector, list.rows);
          const order = Array.from(list.rows, (row, i) => ({ row, score: exact ? exact[i]! : list.scores[i]! }));
          order.sort((a, b) => b.score - a.score || a.row - b.row);
          times[v]!.push(performance.now() - ts);
          const c1 = process.cpuUsage(c0);
          cpu[v]! += c1.user + c1.system;
          if (r === 0) {
            const want = new Set((truth[q] ?? []).map(rowId));
            found[v]! += order.slice(0, K).filter((o) => want.has(snapshot.ids[o.row]!)).length;
          }
        }
      }
    }
    const T = (globalThis as unknown as { __t?: number[][] }).__t;
    if (T)
      log(
        `breakdown p50 (estimate, threshold, select, gather, topK ms; kept): ${T.map((x) => fmt(summarize(x).p50)).join(" ")}`,
      );
    for (const [v, share] of shares.entries()) {
      const s = summarize(times[v]!);
      log(
        `[${size}] share ${share}: p50 ${fmt(s.p50)} ms, p95 ${fmt(s.p95)}, p99 ${fmt(s.p99)}, cpu mean ${fmt(cpu[v]! / 1000 / (rounds * n))} ms, recall@10 ${fmt(found[v]! / (n * K))}`,
      );
    }
  } finally {
    await store.close();
  }
}

/** Interleaved hybrid searches: every row scanned against the default prefilter. */
async function hybridAB(
  table: Parameters<typeof DenseSnapshot.load>[0],
  dim: number,
  set: Awaited<ReturnType<typeof readQuerySet>>,
  rounds: number,
  size: number,
): Promise<void> {
  const titles = new TitleCache(table);
  const variants = [
    ["full scan", new SnapshotSearch(table, dim, titles, { binaryMinRows: Number.MAX_SAFE_INTEGER })],
    ["default", new SnapshotSearch(table, dim, titles)],
  ] as const;
  for (const [, search] of variants) if (!(await search.prepare())) throw new Error("snapshot not loaded");
  const n = set.queries.length;
  const times = variants.map(() => [] as number[]);
  const cpu = variants.map(() => 0);
  let same = 0;
  for (let r = 0; r < rounds; r++) {
    for (let q = 0; q < n; q++) {
      const vector = set.vectors.subarray(q * dim, (q + 1) * dim);
      const ids: string[][] = [];
      for (const [v, [, search]] of variants.entries()) {
        const ts = performance.now();
        const c0 = process.cpuUsage();
        const hits = await search.hybrid(vector, set.queries[q]!, { k: K, depth: 50, denseWeight: 0.5 });
        times[v]!.push(performance.now() - ts);
        const c1 = process.cpuUsage(c0);
        cpu[v]! += c1.user + c1.system;
        ids.push((hits ?? []).map((h) => h.chunk.id));
      }
      if (r === 0 && ids[0]!.join() === ids[1]!.join()) same++;
    }
  }
  for (const [v, [name]] of variants.entries()) {
    const s = summarize(times[v]!);
    log(
      `[${size}] hybrid, ${name}: p50 ${fmt(s.p50)} ms, p95 ${fmt(s.p95)}, p99 ${fmt(s.p99)}, cpu mean ${fmt(cpu[v]! / 1000 / (rounds * n))} ms`,
    );
  }
  log(`[${size}] same top ${K} in both: ${same} of ${n} queries`);
  for (const [, search] of variants) search.close();
}

await main();
