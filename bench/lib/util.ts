/** Small helpers shared by the benchmarks: statistics, memory, random numbers, vector maths, formatting. */
import { readFileSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";

/** Latency summary in milliseconds. */
export interface LatencySummary {
  n: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((s, x) => s + x, 0) / Math.max(1, sorted.length);
  return {
    n: sorted.length,
    mean,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** The middle value (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Peak resident set size of this process in MB: VmHWM from /proc (Linux), else `resourceUsage().maxRSS`.
 */
export function peakRssMb(): number {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

export function currentRssMb(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}

/** Total size in bytes of the files under a folder. */
export async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(full);
    else if (entry.isFile()) total += (await stat(full)).size;
  }
  return total;
}

/** Deterministic PRNG (mulberry32), uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal sample (Box-Muller). */
export function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** L2-normalise `length` floats of `v` starting at `offset`, in place. */
export function normaliseInPlace(v: Float32Array, offset = 0, length = v.length - offset): void {
  let n = 0;
  for (let i = offset; i < offset + length; i++) n += v[i]! * v[i]!;
  const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
  for (let i = offset; i < offset + length; i++) v[i] = v[i]! * inv;
}

/**
 * Exact top-k by dot product over `count` vectors stored contiguously in `flat`, with a k-sized min-heap
 * (the weakest of the current best at the root). Returns row indices, best first.
 */
export function bruteForceTopK(
  flat: Float32Array,
  count: number,
  dim: number,
  query: Float32Array,
  k: number,
): number[] {
  const heapScore = new Float64Array(k);
  const heapIndex = new Int32Array(k);
  let size = 0;
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && heapScore[l]! < heapScore[m]!) m = l;
      if (r < size && heapScore[r]! < heapScore[m]!) m = r;
      if (m === i) return;
      const s = heapScore[i]!;
      const x = heapIndex[i]!;
      heapScore[i] = heapScore[m]!;
      heapIndex[i] = heapIndex[m]!;
      heapScore[m] = s;
      heapIndex[m] = x;
      i = m;
    }
  };
  for (let row = 0, base = 0; row < count; row++, base += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += flat[base + d]! * query[d]!;
    if (size < k) {
      // Sift up.
      let i = size++;
      heapScore[i] = s;
      heapIndex[i] = row;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (heapScore[parent]! <= heapScore[i]!) break;
        const ps = heapScore[parent]!;
        const pi = heapIndex[parent]!;
        heapScore[parent] = heapScore[i]!;
        heapIndex[parent] = heapIndex[i]!;
        heapScore[i] = ps;
        heapIndex[i] = pi;
        i = parent;
      }
    } else if (s > heapScore[0]!) {
      heapScore[0] = s;
      heapIndex[0] = row;
      siftDown(0);
    }
  }
  const out: { row: number; score: number }[] = [];
  for (let i = 0; i < size; i++) out.push({ row: heapIndex[i]!, score: heapScore[i]! });
  return out.sort((a, b) => b.score - a.score || a.row - b.row).map((x) => x.row);
}

export const seconds = (ms: number): number => ms / 1000;

/** A number with sensible precision for tables: 0.123, 1.23, 12.3, 1234. */
export function fmt(n: number | undefined | null, digits?: number): string {
  if (n === undefined || n === null || Number.isNaN(n)) return "n/a";
  if (digits !== undefined) return n.toFixed(digits);
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString("en-US");
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
