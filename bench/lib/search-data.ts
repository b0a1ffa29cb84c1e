/**
 * The search benchmark's real data on disk, shared by its child processes:
 * `<work>/search-data/rows.json` (the real chunks), `vectors.f32` (rows x dim), `queries.json` and
 * `queries.f32` (queries x dim), and `truth-<size>.json` (exact top-10 row indices per query, from the brute-force scan).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ChunkRecord } from "../../src/store/types.js";

export interface RealRow {
  source: string;
  text: string;
  headingPath: string[];
  embedText: string;
}

/** A store record for a benchmark row: the row's text and headings, a bench-only hash, no line numbers. */
export function benchRecord(
  row: RealRow,
  fields: { id: string; source: string; position: number; vector: Float32Array; ingestedAt: number },
): ChunkRecord {
  return {
    ...fields,
    text: row.text,
    headingPath: row.headingPath,
    lineStart: 0,
    lineEnd: 0,
    fileType: "markdown",
    tags: [],
    contentHash: "bench",
    sourceHash: "bench",
  };
}

export interface QuerySet {
  modelId: string;
  dimension: number;
  queries: string[];
  /** queries x dimension, from embedQuery. */
  vectors: Float32Array;
}

export interface SearchData {
  rows: RealRow[];
  /** rows x dimension, from embedDocuments. */
  vectors: Float32Array;
  queries: QuerySet;
}

const dataDir = (work: string) => path.join(work, "search-data");

function toBuffer(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function toFloat32(bytes: Buffer): Float32Array {
  // Copy into a fresh, aligned buffer.
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export async function writeSearchData(work: string, data: SearchData): Promise<void> {
  const dir = dataDir(work);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "rows.json"), JSON.stringify(data.rows));
  await writeFile(path.join(dir, "vectors.f32"), toBuffer(data.vectors));
  const { vectors, ...queries } = data.queries;
  await writeFile(path.join(dir, "queries.json"), JSON.stringify(queries));
  await writeFile(path.join(dir, "queries.f32"), toBuffer(vectors));
}

/** Only the queries (the query process should not hold the corpus). */
export async function readQuerySet(work: string): Promise<QuerySet> {
  const dir = dataDir(work);
  const queries = JSON.parse(await readFile(path.join(dir, "queries.json"), "utf8")) as Omit<QuerySet, "vectors">;
  return { ...queries, vectors: toFloat32(await readFile(path.join(dir, "queries.f32"))) };
}

export async function readSearchData(work: string): Promise<SearchData> {
  const dir = dataDir(work);
  return {
    rows: JSON.parse(await readFile(path.join(dir, "rows.json"), "utf8")) as RealRow[],
    vectors: toFloat32(await readFile(path.join(dir, "vectors.f32"))),
    queries: await readQuerySet(work),
  };
}

export async function writeTruth(work: string, size: number, truth: number[][]): Promise<void> {
  await writeFile(path.join(dataDir(work), `truth-${size}.json`), JSON.stringify(truth));
}

export async function readTruth(work: string, size: number): Promise<number[][]> {
  return JSON.parse(await readFile(path.join(dataDir(work), `truth-${size}.json`), "utf8")) as number[][];
}

/** The chunk id of row `i` in every benchmark collection. */
export const rowId = (i: number): string => `row-${i}`;

export function storeDirFor(work: string, size: number): string {
  return path.join(work, `search-${size}`, "store");
}

export const BENCH_COLLECTION = "bench";
