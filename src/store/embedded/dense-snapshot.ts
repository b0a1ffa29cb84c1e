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
 * binary codes (the sign of each component minus the collection mean; 32 bytes per 256-d row, compared by
 * Hamming distance) and the int8 scan of the PREFILTER_SHARE of rows nearest by it.
 */
export const BINARY_PREFILTER_MIN_ROWS = 250_000;
/** Rows the binary prefilter keeps, as a share of the collection (recall@10 0.97 at 2% on the bench's 100k). */
export const PREFILTER_SHARE = 0.03;

/** Byte offsets of one snapshot's arrays in the kernel's memory. */
interface Layout {
  rows: number;
  query: number;
  scales: number;
  out: number;
  /** Binary codes (codeBytes per row), the query's code, the prefilter's row list and its scores. */
  codes: number;
  queryCode: number;
  index: number;
  gathered: number;
  codeBytes: number;
  maxKept: number;
  end: number;
}

function layout(count: number, stride: number, dimension: number, binaryMinRows: number): Layout {
  const binary = count >= binaryMinRows && dimension <= 496 * 8;
  const codeBytes = binary ? Math.ceil(dimension / 128) * 16 : 0;
  const maxKept = binary ? Math.ceil(count * PREFILTER_SHARE) + 1024 : 0;
  const rows = 0;
  const query = rows + count * stride;
  const scales = query + stride;
  const out = scales + count * 4;
  const codes = out + count * 4;
  const queryCode = codes + count * codeBytes;
  const index = queryCode + codeBytes;
  const gathered = index + maxKept * 4;
  return {
    rows,
    query,
    scales,
    out,
    codes,
    queryCode,
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
  ) {
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

  /** Binary code of every row from its int8 copy: bit d set when component d is above the mean. */
  private writeCodes(): void {
    const { count, stride, dimension } = this;
    const memory = this.kernel.memory.buffer;
    const int8 = new Int8Array(memory, this.at.rows, count * stride);
    const scales = new Float32Array(memory, this.at.scales, count);
    const codes = new Uint8Array(memory, this.at.codes, count * this.at.codeBytes);
    // In int8 units per row: component d is above the mean when int8 > mean[d] / scale.
    const mean = this.mean!;
    for (let r = 0; r < count; r++) {
      const scale = scales[r]! || 1;
      const base = r * stride;
      const out = r * this.at.codeBytes;
      for (let d = 0; d < dimension; d++) {
        if (int8[base + d]! > mean[d]! / scale) codes[out + (d >> 3)]! |= 1 << (d & 7);
      }
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
    const at = layout(count, stride, dimension, options.binaryMinRows ?? BINARY_PREFILTER_MIN_ROWS);
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
    return new DenseSnapshot(version, dimension, ids, rowIds, kernel, floats, mean, at);
  }

  /**
   * The `limit` best rows by the int8 score (the dot product within about 1e-3), among
   * those `allowed` passes when given (indexed like the rows). Best first.
   */
  shortlist(query: Float32Array, limit: number, allowed?: Uint8Array): Shortlist {
    const queryScale = quantise(query, 0, this.dimension, this.quantisedQuery, 0);
    const scaled = (list: Shortlist): Shortlist => ({
      rows: list.rows,
      scores: list.scores.map((x) => x * queryScale),
    });
    const at = this.at;
    if (!this.mean || allowed) {
      this.kernel.scores(at.rows, at.query, this.count, this.stride, at.scales, at.out);
      return scaled(topK(this.scores, limit, allowed));
    }
    // Binary prefilter: Hamming distances of every code, the nearest `keep` rows by a counting threshold
    // (ties at the threshold by row order), then the int8 scores of those rows only.
    const memory = this.kernel.memory.buffer;
    const code = new Uint8Array(memory, at.queryCode, at.codeBytes);
    code.fill(0);
    for (let d = 0; d < this.dimension; d++) if (query[d]! > this.mean[d]!) code[d >> 3]! |= 1 << (d & 7);
    this.kernel.hamming(at.codes, at.queryCode, this.count, at.codeBytes, at.out);
    const distances = new Int32Array(memory, at.out, this.count);
    const keep = Math.min(at.maxKept, Math.max(Math.ceil(this.count * PREFILTER_SHARE), limit * 20));
    const histogram = new Int32Array(at.codeBytes * 8 + 1);
    for (let r = 0; r < this.count; r++) histogram[distances[r]!]!++;
    let threshold = 0;
    let below = 0;
    while (threshold < histogram.length - 1 && below + histogram[threshold]! < keep) below += histogram[threshold++]!;
    let atThreshold = keep - below;
    const index = new Int32Array(memory, at.index, at.maxKept);
    let kept = 0;
    for (let r = 0; r < this.count; r++) {
      const h = distances[r]!;
      if (h < threshold || (h === threshold && atThreshold-- > 0)) index[kept++] = r;
    }
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
