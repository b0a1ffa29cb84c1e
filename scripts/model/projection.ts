/**
 * The sentence-level correction of the builtin model (scripts/model/distill.ts fits it, the build applies it):
 * a square matrix M applied to every table row and one weight factor per token. Because a text's vector is
 * the normalised sum of its tokens' rows, multiplying each row by its factor and by M equals applying them to
 * the sum, so the runtime (StaticEmbedder, the ONNX graph) does not change.
 *
 * File layout (little-endian): "MRAGDST1", uint32 dimension, uint32 vocabulary size, 64 ASCII bytes: sha256
 * of the vocabulary (tokens joined by "\n"), float32 M [dimension x dimension] row-major (row vector times
 * M), uint8 factor codes [vocabulary]: factor = exp((code - 128) / 32).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { sha256 } from "./recipe.js";

const MAGIC = "MRAGDST1";
const HEADER = 8 + 4 + 4 + 64;
export const FACTOR_STEP = 32;

export interface Projection {
  dimension: number;
  vocabSize: number;
  vocabSha256: string;
  /** Row-major [dimension, dimension]: out = row * matrix. */
  matrix: Float32Array;
  /** Per-token weight factor, [vocabSize]. */
  factors: Float32Array;
}

export function vocabularySha256(tokens: readonly string[]): string {
  return sha256(tokens.join("\n"));
}

export function factorCode(factor: number): number {
  const code = Math.round(Math.log(Math.max(factor, 1e-9)) * FACTOR_STEP) + 128;
  return Math.max(0, Math.min(255, code));
}

export function encodeProjection(p: Projection): Uint8Array {
  const out = new Uint8Array(HEADER + p.dimension * p.dimension * 4 + p.vocabSize);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(MAGIC, "ascii"), 0);
  view.setUint32(8, p.dimension, true);
  view.setUint32(12, p.vocabSize, true);
  out.set(Buffer.from(p.vocabSha256, "ascii"), 16);
  let off = HEADER;
  for (let i = 0; i < p.dimension * p.dimension; i++, off += 4) view.setFloat32(off, p.matrix[i]!, true);
  for (let i = 0; i < p.vocabSize; i++) out[off + i] = factorCode(p.factors[i]!);
  return out;
}

export function decodeProjection(buf: Uint8Array): Projection {
  if (buf.length < HEADER || Buffer.from(buf.subarray(0, 8)).toString("ascii") !== MAGIC) {
    throw new Error("not a projection file (bad magic)");
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dimension = view.getUint32(8, true);
  const vocabSize = view.getUint32(12, true);
  if (buf.length !== HEADER + dimension * dimension * 4 + vocabSize) throw new Error("projection file is truncated");
  const vocabSha256 = Buffer.from(buf.subarray(16, 80)).toString("ascii");
  const matrix = new Float32Array(dimension * dimension);
  let off = HEADER;
  for (let i = 0; i < matrix.length; i++, off += 4) matrix[i] = view.getFloat32(off, true);
  const factors = new Float32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) factors[i] = Math.exp((buf[off + i]! - 128) / FACTOR_STEP);
  return { dimension, vocabSize, vocabSha256, matrix, factors };
}

export function readProjection(file: string): Projection {
  return decodeProjection(readFileSync(file));
}

export function writeProjection(file: string, p: Projection): void {
  writeFileSync(file, encodeProjection(p));
}

/**
 * Apply a projection to a quantised table in place of a new one: each row is dequantised (int8 times its
 * scale, which carries the token weight), multiplied by its factor and by M, and quantised again per row.
 */
export function applyProjection(
  table: Int8Array,
  scales: Float32Array,
  dimension: number,
  p: Projection,
): { table: Int8Array; scales: Float32Array } {
  if (p.dimension !== dimension) throw new Error(`projection is ${p.dimension}-d but the table is ${dimension}-d`);
  const rows = scales.length;
  if (p.vocabSize !== rows) throw new Error(`projection covers ${p.vocabSize} tokens but the table has ${rows}`);
  const outTable = new Int8Array(rows * dimension);
  const outScales = new Float32Array(rows);
  const x = new Float64Array(dimension);
  const y = new Float64Array(dimension);
  for (let r = 0; r < rows; r++) {
    const s = scales[r]!;
    if (s === 0) continue;
    const base = r * dimension;
    for (let j = 0; j < dimension; j++) x[j] = table[base + j]! * s;
    y.fill(0);
    for (let i = 0; i < dimension; i++) {
      const xi = x[i]!;
      if (xi === 0) continue;
      const m = i * dimension;
      for (let j = 0; j < dimension; j++) y[j] = y[j]! + xi * p.matrix[m + j]!;
    }
    const f = p.factors[r]!;
    let maxAbs = 0;
    for (let j = 0; j < dimension; j++) maxAbs = Math.max(maxAbs, Math.abs(y[j]!));
    if (maxAbs === 0 || f === 0) continue;
    const step = maxAbs / 127;
    for (let j = 0; j < dimension; j++) outTable[base + j] = Math.max(-127, Math.min(127, Math.round(y[j]! / step)));
    outScales[r] = Math.fround(step * f);
  }
  return { table: outTable, scales: outScales };
}
