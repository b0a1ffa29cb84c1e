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
  /** Byte offsets in the kernel's memory. */
  private readonly at: { rows: number; query: number; scales: number; out: number };
  private readonly quantisedQuery: Int8Array;
  private readonly scores: Float32Array;

  private constructor(
    readonly version: number,
    readonly dimension: number,
    readonly ids: string[],
    readonly rowIds: BigUint64Array,
    private readonly kernel: Int8Kernel,
    /** count x dimension, or undefined when the collection is too large to keep one. */
    readonly floats: Float32Array | undefined,
  ) {
    this.count = ids.length;
    this.stride = int8Stride(dimension);
    const rows = 0;
    const query = rows + this.count * this.stride;
    const scales = query + this.stride;
    const out = scales + this.count * 4;
    this.at = { rows, query, scales, out };
    this.quantisedQuery = new Int8Array(kernel.memory.buffer, query, this.stride);
    this.scores = new Float32Array(kernel.memory.buffer, out, this.count);
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
    const bytes = count * stride + stride + count * 8;
    const pages = Math.ceil(bytes / PAGE) - kernel.memory.buffer.byteLength / PAGE;
    if (pages > 0) kernel.memory.grow(pages);
    const memory = kernel.memory.buffer;
    const int8 = new Int8Array(memory, 0, count * stride);
    const scales = new Float32Array(memory, count * stride + stride, count);
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
      row += n;
    }
    if (row !== count || (await table.version()) !== version) return undefined;
    return new DenseSnapshot(version, dimension, ids, rowIds, kernel, floats);
  }

  /**
   * The `limit` best rows by the int8 score (an approximation of the dot product within about 1e-3), among
   * those `allowed` passes when given (indexed like the rows). Best first.
   */
  shortlist(query: Float32Array, limit: number, allowed?: Uint8Array): Shortlist {
    quantise(query, 0, this.dimension, this.quantisedQuery, 0);
    this.kernel.scores(this.at.rows, this.at.query, this.count, this.stride, this.at.scales, this.at.out);
    return topK(this.scores, limit, allowed);
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
