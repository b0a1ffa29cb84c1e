import type { Table } from "@lancedb/lancedb";
import { createInt8Kernel, type Int8Kernel, int8Stride } from "./int8-kernel.js";
import { stringColumn } from "./schema.js";

/**
 * Float vectors are kept beside the int8 copy (for exact re-scoring without a store read) up to this many
 * bytes; above it, re-scoring reads the shortlisted vectors from the table. 160 MB is ~160k rows at 256-d.
 */
export const FLOAT_COPY_MAX_BYTES = 160 * 1024 * 1024;
/** WebAssembly pages are 64 KiB. */
const PAGE = 65_536;
/**
 * From this many rows a full int8 scan (~0.3 ms per 10k rows, memory-bound) is replaced by a prefilter on
 * binary codes (the sign of each component minus the collection mean; 32 bytes per 256-d row) and the int8
 * scan of the PREFILTER_SHARE of rows it ranks best. The prefilter is asymmetric: the query keeps 4 bits per
 * component, and each row's estimate is scaled by its distance from the mean (L1), which ranks far better than
 * the Hamming distance of two codes (docs/benchmarks.md).
 */
export const BINARY_PREFILTER_MIN_ROWS = 50_000;
/**
 * Rows the binary prefilter keeps, as a share of the collection: dense recall@10 against the exact scan 0.98 at
 * 3% (0.97 at 2%) on the bench's 10k real chunks, 1.00 on its 100k (docs/benchmarks.md).
 */
export const PREFILTER_SHARE = 0.03;

/** Byte offsets of one snapshot's arrays in the kernel's memory. */
interface Layout {
  rows: number;
  query: number;
  scales: number;
  out: number;
  /** Binary codes (codeBytes per row), each row's L1 distance from the mean and its code's popcount (f32). */
  codes: number;
  norms: number;
  counts: number;
  /** The query's lookup tables (32 bytes per code byte), the prefilter's row list and its int8 scores. */
  tables: number;
  index: number;
  gathered: number;
  codeBytes: number;
  maxKept: number;
  end: number;
}

function layout(count: number, stride: number, dimension: number, binaryMinRows: number, share: number): Layout {
  const binary = count >= binaryMinRows && dimension <= 496 * 8;
  const codeBytes = binary ? Math.ceil(dimension / 128) * 16 : 0;
  // The sampled threshold lets through the kept share within a few percent (sd ~ 1 / sqrt(share x 4096) of it):
  // room for twice as many.
  const maxKept = binary ? 2 * Math.ceil(count * share) + 2048 : 0;
  // The prefilter works on blocks of 16 rows: its arrays (and `out`, which it writes) are padded to them.
  const padded = Math.ceil(count / 16) * 16;
  const rows = 0;
  const query = rows + count * stride;
  const scales = query + stride;
  const out = scales + count * 4;
  const codes = out + padded * 4;
  const norms = codes + padded * codeBytes;
  const counts = norms + (binary ? padded * 4 : 0);
  const tables = counts + (binary ? padded * 4 : 0);
  const index = tables + 32 * codeBytes;
  const gathered = index + maxKept * 4;
  return {
    rows,
    query,
    scales,
    out,
    codes,
    norms,
    counts,
    tables,
    index,
    gathered,
    codeBytes,
    maxKept,
    end: gathered + maxKept * 4,
  };
}

/** What a scan hands over per batch (an Arrow RecordBatch). */
export interface ArrowBatch {
  readonly numRows: number;
  getChild(name: string): { data: readonly unknown[] } | null;
}

/** Row indexes into a snapshot, with their scores, best first. */
export interface Shortlist {
  rows: Int32Array;
  scores: Float32Array;
}

/**
 * Every vector of one table version, held in memory for an exact in-process scan: int8 (one scale per row)
 * scanned by the SIMD kernel, then the shortlist re-scored exactly in float32 (from the kept float copy or
 * from vectors the caller reads). With the row ids of that version, winners are fetched by `takeRowIds`.
 * Rows are in scan order; `ids[i]` and `rowIds[i]` describe row i.
 */
export class DenseSnapshot {
  readonly count: number;
  private readonly stride: number;
  private readonly at: Layout;
  private readonly quantisedQuery: Int8Array;
  private readonly scores: Float32Array;
  /** The collection's mean vector, when the binary prefilter is on. */
  private readonly mean: Float64Array | undefined;
  /** The share of rows the binary prefilter keeps. */
  readonly prefilterShare: number;

  private constructor(
    readonly version: number,
    readonly dimension: number,
    readonly ids: string[],
    readonly rowIds: BigUint64Array,
    private readonly kernel: Int8Kernel,
    /** count x dimension, or undefined when the collection is too large to keep one. */
    readonly floats: Float32Array | undefined,
    mean: Float64Array | undefined,
    at: Layout,
    share: number,
  ) {
    this.prefilterShare = share;
    this.count = ids.length;
    this.stride = int8Stride(dimension);
    this.at = at;
    this.quantisedQuery = new Int8Array(kernel.memory.buffer, this.at.query, this.stride);
    this.scores = new Float32Array(kernel.memory.buffer, this.at.out, this.count);
    this.mean = this.at.codeBytes > 0 ? mean : undefined;
    if (this.mean) this.writeCodes();
  }

  /** Whether searches prefilter by binary codes (large collections). */
  get prefiltered(): boolean {
    return this.mean !== undefined;
  }

  /**
   * Binary code of every row from its int8 copy (bit d set when component d is above the mean; transposed in
   * blocks of 16 rows for the kernel), with the row's L1 distance from the mean and the code's popcount.
   */
  private writeCodes(): void {
    const { count, stride, dimension } = this;
    const memory = this.kernel.memory.buffer;
    const int8 = new Int8Array(memory, this.at.rows, count * stride);
    const scales = new Float32Array(memory, this.at.scales, count);
    const bytes = this.at.codeBytes;
    const codes = new Uint8Array(memory, this.at.codes, Math.ceil(count / 16) * 16 * bytes);
    const norms = new Float32Array(memory, this.at.norms, count);
    const counts = new Float32Array(memory, this.at.counts, count);
    const mean = this.mean!;
    for (let r = 0; r < count; r++) {
      const scale = scales[r]!;
      const base = r * stride;
      const out = (r >> 4) * 16 * bytes + (r & 15);
      let l1 = 0;
      let ones = 0;
      for (let d = 0; d < dimension; d++) {
        const centred = int8[base + d]! * scale - mean[d]!;
        l1 += Math.abs(centred);
        if (centred > 0) {
          codes[out + 16 * (d >> 3)]! |= 1 << (d & 7);
          ones++;
        }
      }
      norms[r] = l1;
      counts[r] = ones;
    }
  }

  private byId: Map<string, number> | undefined;

  /** Row index by chunk id, built on first use (documents reached through a title mention). */
  rowById(): Map<string, number> {
    this.byId ??= new Map(this.ids.map((id, row) => [id, row]));
    return this.byId;
  }

  /** Bytes of memory this snapshot holds (for logs and the bench). */
  get bytes(): number {
    return this.kernel.memory.buffer.byteLength + (this.floats?.byteLength ?? 0) + this.rowIds.byteLength;
  }

  /**
   * Load every row's id, row id and vector at the table's current version, streaming (the float vectors of
   * a large table never sit in memory at once). Returns undefined when a commit landed meanwhile (the caller
   * tries again later), so a snapshot never mixes two versions.
   */
  static async load(
    table: Table,
    dimension: number,
    options: {
      floatCopyMaxBytes?: number;
      /** Collections from this many rows use the binary prefilter (default BINARY_PREFILTER_MIN_ROWS). */
      binaryMinRows?: number;
      /** The share of rows the prefilter keeps (default PREFILTER_SHARE). */
      prefilterShare?: number;
      /** More columns to read in the same scan, each batch handed to `onBatch` with its first row index. */
      columns?: string[];
      onStart?: (count: number) => void;
      onBatch?: (batch: ArrowBatch, firstRow: number) => void;
    } = {},
  ): Promise<DenseSnapshot | undefined> {
    const floatCopyMaxBytes = options.floatCopyMaxBytes ?? FLOAT_COPY_MAX_BYTES;
    const version = await table.version();
    const count = await table.countRows();
    options.onStart?.(count);
    const stride = int8Stride(dimension);
    const kernel = createInt8Kernel();
    const share = options.prefilterShare ?? PREFILTER_SHARE;
    const at = layout(count, stride, dimension, options.binaryMinRows ?? BINARY_PREFILTER_MIN_ROWS, share);
    const pages = Math.ceil(at.end / PAGE) - kernel.memory.buffer.byteLength / PAGE;
    if (pages > 0) kernel.memory.grow(pages);
    const memory = kernel.memory.buffer;
    const int8 = new Int8Array(memory, at.rows, count * stride);
    const scales = new Float32Array(memory, at.scales, count);
    const sum = at.codeBytes > 0 ? new Float64Array(dimension) : undefined;
    const floats = count * dimension * 4 <= floatCopyMaxBytes ? new Float32Array(count * dimension) : undefined;
    const ids: string[] = [];
    const rowIds = new BigUint64Array(count);
    let row = 0;
    for await (const batch of table
      .query()
      .select(["id", "vector", ...(options.columns ?? [])])
      .withRowId()) {
      const n = batch.numRows;
      if (row + n > count) return undefined;
      options.onBatch?.(batch, row);
      for (const id of stringColumn(batch, "id")) ids.push(id);
      rowIds.set(uint64Values(batch.getChild("_rowid")), row);
      const values = vectorValues(batch.getChild("vector"), n * dimension);
      for (let r = 0; r < n; r++) {
        const from = r * dimension;
        scales[row + r] = quantise(values, from, dimension, int8, (row + r) * stride);
      }
      floats?.set(values, row * dimension);
      if (sum) for (let i = 0; i < n * dimension; i++) sum[i % dimension]! += values[i]!;
      row += n;
    }
    if (row !== count || (await table.version()) !== version) return undefined;
    const mean = sum?.map((x) => x / Math.max(1, count));
    return new DenseSnapshot(version, dimension, ids, rowIds, kernel, floats, mean, at, share);
  }

  /**
   * The `limit` best rows by the int8 score (the dot product within about 1e-3), among
   * those `allowed` passes when given (indexed like the rows). Best first. `share` (at most the snapshot's
   * prefilterShare; 1 for a full scan) is for measurements.
   */
  shortlist(query: Float32Array, limit: number, allowed?: Uint8Array, share = this.prefilterShare): Shortlist {
    const queryScale = quantise(query, 0, this.dimension, this.quantisedQuery, 0);
    const scaled = (list: Shortlist): Shortlist => ({
      rows: list.rows,
      scores: list.scores.map((x) => x * queryScale),
    });
    const at = this.at;
    // A shortlist too long for the kept list (a large k) scans every row rather than re-rank too few.
    if (!this.mean || allowed || share >= 1 || limit * 20 > at.maxKept >> 1) {
      this.kernel.scores(at.rows, at.query, this.count, this.stride, at.scales, at.out);
      return scaled(topK(this.scores, limit, allowed));
    }
    // Binary prefilter: every row's estimate from its code, the best `keep` by a threshold taken from a sample of
    // the estimates, then the int8 scores of those rows only.
    const memory = this.kernel.memory.buffer;
    const { a, b, c } = writeTables(query, new Uint8Array(memory, at.tables, 32 * at.codeBytes));
    const blocks = Math.ceil(this.count / 16);
    this.kernel.binaryScores(at.codes, at.tables, blocks, at.codeBytes, at.norms, at.counts, at.out, a, b, c);
    const estimates = this.scores;
    const keep = Math.min(at.maxKept >> 1, Math.max(Math.ceil(this.count * share), limit * 20));
    const threshold = thresholdFor(estimates, keep);
    const kept = this.kernel.select(at.out, this.count, threshold, at.index, at.maxKept);
    const index = new Int32Array(memory, at.index, kept);
    this.kernel.gather(at.rows, at.query, at.index, kept, this.stride, at.scales, at.gathered);
    const best = topK(new Float32Array(memory, at.gathered, kept), limit);
    return scaled({ rows: best.rows.map((i) => index[i]!), scores: best.scores });
  }

  /** Exact dot products of the query with the given rows, from the float copy (undefined without one). */
  exactScores(query: Float32Array, rows: Int32Array): Float64Array | undefined {
    const floats = this.floats;
    if (!floats) return undefined;
    const out = new Float64Array(rows.length);
    const dim = this.dimension;
    for (let i = 0; i < rows.length; i++) out[i] = dot(floats, rows[i]! * dim, query, dim);
    return out;
  }
}

/**
 * The query quantised to 4 bits per component (u = round((q - lo) / step), 0..15) as the kernel's lookup tables
 * (see binaryScores in int8-kernel.ts): for code byte k, entry m of its low table is the sum of u over
 * components 8k + t with bit t of m set (t < 4), of its high table the same for 8k + 4 + t. With a = 2 step,
 * b = 2 lo and c = the sum of the quantised q, a S + b popcount - c is the sum over components of q times the
 * sign of the row's component.
 */
function writeTables(query: Float32Array, tables: Uint8Array): { a: number; b: number; c: number } {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const x of query) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const step = (hi - lo) / 15 || 1;
  tables.fill(0);
  let sum = 0;
  for (let d = 0; d < query.length; d++) {
    const u = Math.round((query[d]! - lo) / step);
    sum += lo + step * u;
    // Component d is bit d & 7 of code byte d >> 3: bit t of the low (t < 4) or the high nibble.
    const table = 32 * (d >> 3) + (d & 4 ? 16 : 0);
    const bit = 1 << (d & 3);
    for (let m = 0; m < 16; m++) if (m & bit) tables[table + m]! += u;
  }
  return { a: 2 * step, b: 2 * lo, c: sum };
}

/** A score above which about `keep` of `scores` lie, from an evenly spaced sample of 4096 of them. */
function thresholdFor(scores: Float32Array, keep: number): number {
  const n = scores.length;
  if (keep >= n) return Number.NEGATIVE_INFINITY;
  const size = Math.min(n, 4096);
  const sample = new Float32Array(size);
  for (let i = 0; i < size; i++) sample[i] = scores[Math.floor((i * n) / size)]!;
  // The sample's value at the kept share from the top (quickselect; the best are at the end).
  return select(sample, Math.min(size - 1, Math.floor((1 - keep / n) * size)));
}

/** The value of rank `k` (0 = smallest) of `values`, which it reorders (Hoare's quickselect). */
function select(values: Float32Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i++] = values[j]!;
        values[j--] = t;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return values[k]!;
  }
  return values[k]!;
}

/** Dot product of `a[from .. from + dim)` with `b`, summed in float32 like LanceDB's kernels. */
export function dot(a: ArrayLike<number>, from: number, b: ArrayLike<number>, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += a[from + d]! * b[d]!;
  return Math.fround(s);
}

/**
 * Symmetric int8 quantisation of `values[from .. from + dim)` into `out[at ..]` (values in [-127, 127], the
 * kernel's range); returns the scale that maps back (value ~ int8 * scale).
 */
function quantise(values: ArrayLike<number>, from: number, dim: number, out: Int8Array, at: number): number {
  let max = 0;
  for (let d = 0; d < dim; d++) max = Math.max(max, Math.abs(values[from + d]!));
  if (max === 0) {
    out.fill(0, at, at + dim);
    return 0;
  }
  const inv = 127 / max;
  for (let d = 0; d < dim; d++) out[at + d] = Math.round(values[from + d]! * inv);
  return max / 127;
}

/**
 * The `limit` highest of `scores` (restricted to rows `allowed` marks, when given), best first, ties by row
 * index. A bounded min-heap: one comparison per row, a heap step only for rows that beat the current worst.
 */
export function topK(scores: Float32Array, limit: number, allowed?: Uint8Array): Shortlist {
  const size = Math.max(0, Math.min(limit, scores.length));
  const heapRows = new Int32Array(size);
  const heapScores = new Float32Array(size);
  let filled = 0;
  // A new row has a higher index than every row in the heap, so on an equal score it is the worse one: once the
  // heap is full, only scores above the root (the worst entry) get in. Tight loop first, heap work rarely.
  let floor = Number.NEGATIVE_INFINITY;
  const n = scores.length;
  for (let row = 0; row < n && size > 0; row++) {
    const score = scores[row]!;
    if (filled === size && !(score > floor)) continue;
    if (allowed !== undefined && allowed[row] === 0) continue;
    if (filled < size) {
      let i = filled++;
      // Sift up: the root is the lowest score, then the highest row.
      while (i > 0) {
        const parent = (i - 1) >> 1;
        const ps = heapScores[parent]!;
        if (ps < score || (ps === score && heapRows[parent]! > row)) break;
        heapRows[i] = heapRows[parent]!;
        heapScores[i] = ps;
        i = parent;
      }
      heapRows[i] = row;
      heapScores[i] = score;
    } else {
      // Replace the root and sift down.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= filled) break;
        const r = l + 1;
        let m = l;
        if (
          r < filled &&
          (heapScores[r]! < heapScores[l]! || (heapScores[r] === heapScores[l] && heapRows[r]! > heapRows[l]!))
        ) {
          m = r;
        }
        const ms = heapScores[m]!;
        if (ms > score || (ms === score && heapRows[m]! < row)) break;
        heapRows[i] = heapRows[m]!;
        heapScores[i] = ms;
        i = m;
      }
      heapRows[i] = row;
      heapScores[i] = score;
    }
    if (filled === size) floor = heapScores[0]!;
  }
  const order = Array.from({ length: filled }, (_, i) => i).sort(
    (a, b) => heapScores[b]! - heapScores[a]! || heapRows[a]! - heapRows[b]!,
  );
  return {
    rows: Int32Array.from(order, (i) => heapRows[i]!),
    scores: Float32Array.from(order, (i) => heapScores[i]!),
  };
}

interface ArrowVectorLike {
  data: readonly { values: unknown; offset?: number; length: number; children?: { values: unknown }[] }[];
}

/** The values of a UInt64 column (row ids) as one BigUint64Array. */
function uint64Values(column: unknown): BigUint64Array {
  const chunks = (column as ArrowVectorLike | null)?.data ?? [];
  const parts = chunks.map((d) => (d.values as BigUint64Array).subarray(0, d.length));
  if (parts.length === 1) return parts[0]!;
  const out = new BigUint64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The flat float32 values of a FixedSizeList<Float32> column, `expected` of them. */
function vectorValues(column: unknown, expected: number): Float32Array {
  const chunks = (column as ArrowVectorLike | null)?.data ?? [];
  const parts = chunks.map((d) => d.children?.[0]?.values as Float32Array);
  const out = parts.length === 1 ? parts[0]! : new Float32Array(expected);
  if (parts.length !== 1) {
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
  }
  if (out.length < expected) throw new Error(`vector column holds ${out.length} values, expected ${expected}`);
  return out.length === expected ? out : out.subarray(0, expected);
}
