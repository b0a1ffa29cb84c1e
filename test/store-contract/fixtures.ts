import { createHash } from "node:crypto";
import type { ChunkRecord, FileType } from "../../src/store/types.js";

/** Deterministic synthetic data for store tests: seeded PRNG, unit vectors, chunk records. */

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
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

export function normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

/** A unit vector drawn from a seeded PRNG (uniform in [-0.5, 0.5) per component, then normalised). */
export function unitVector(dimension: number, random: () => number): Float32Array {
  const v = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) v[i] = random() - 0.5;
  return normalise(v);
}

/** A unit vector for a string key: the same key always gives the same vector. */
export function vectorFor(key: string, dimension: number): Float32Array {
  const seed = createHash("sha256").update(key).digest().readUInt32LE(0);
  return unitVector(dimension, prng(seed));
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export interface ChunkOptions {
  text?: string;
  version?: string;
  headingPath?: string[];
  tags?: string[];
  fileType?: FileType;
  ingestedAt?: number;
  vector?: Float32Array;
}

/** One chunk of `source` at `position`; its id depends on source, position and text, like the real ids. */
export function makeChunk(source: string, position: number, dimension: number, o: ChunkOptions = {}): ChunkRecord {
  const version = o.version ?? "v1";
  const text = o.text ?? `chunk ${position} of ${source} (${version})`;
  const contentHash = sha256(text);
  return {
    id: sha256(`${source}\u0000${position}\u0000${contentHash}`).slice(0, 32),
    source,
    text,
    headingPath: o.headingPath ?? [],
    position,
    lineStart: position * 10 + 1,
    lineEnd: position * 10 + 9,
    fileType: o.fileType ?? "markdown",
    tags: o.tags ?? [],
    contentHash,
    sourceHash: sha256(`${source}@${version}`),
    ingestedAt: o.ingestedAt ?? 1_700_000_000_000,
    vector: o.vector ?? vectorFor(`${source}#${position}#${version}`, dimension),
  };
}

/** `count` chunks of one source, all of the same version (same sourceHash). */
export function makeSource(
  source: string,
  count: number,
  dimension: number,
  o: Omit<ChunkOptions, "text" | "vector"> = {},
): ChunkRecord[] {
  return Array.from({ length: count }, (_, i) => makeChunk(source, i, dimension, o));
}
