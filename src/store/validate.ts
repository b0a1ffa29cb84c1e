import { UsageError } from "../errors.js";
import {
  type ChunkRecord,
  FILE_TYPES,
  MAX_K,
  SEARCH_MODES,
  SearchFilterSchema,
  type SearchRequest,
  type SourceReplacement,
} from "./types.js";

/**
 * Checks on everything a caller hands a store. Shared by every store; every message names the
 * offending field so a person or a model can fix the call.
 */

const COLLECTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_DIMENSION = 65_536;

export function validateCollectionName(name: unknown): string {
  if (typeof name !== "string" || !COLLECTION_NAME.test(name)) {
    throw new UsageError(
      `invalid collection name ${JSON.stringify(name)}: use 1-64 characters, each a letter, digit, "_" or "-"`,
    );
  }
  return name;
}

export function validateModelAndDimension(modelId: unknown, dimension: unknown): void {
  if (typeof modelId !== "string" || modelId.trim() === "") {
    throw new UsageError("modelId must be a non-empty string (the embedder id recorded in the collection)");
  }
  if (typeof dimension !== "number" || !Number.isInteger(dimension) || dimension < 1 || dimension > MAX_DIMENSION) {
    throw new UsageError(`dimension must be an integer from 1 to ${MAX_DIMENSION} (got ${String(dimension)})`);
  }
}

/** A search request that passed `validateSearchRequest`: same shape, every field checked, filter parsed. */
export type ValidSearch = SearchRequest;

function isFiniteVector(v: ArrayLike<number>): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return false;
  return true;
}

export function validateSearchRequest(request: SearchRequest, dimension: number, collection: string): ValidSearch {
  if (typeof request !== "object" || request === null) throw new UsageError("search request must be an object");
  const mode = request.mode;
  if (!(SEARCH_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`search mode must be one of ${SEARCH_MODES.join(", ")} (got ${JSON.stringify(mode)})`);
  }
  const k = request.k;
  if (typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > MAX_K) {
    throw new UsageError(`k must be an integer from 1 to ${MAX_K} (got ${JSON.stringify(k)})`);
  }
  const out: ValidSearch = { mode, k };
  if (mode === "dense" || mode === "hybrid") {
    const vector = request.vector as unknown;
    if (!(vector instanceof Float32Array) && !Array.isArray(vector)) {
      throw new UsageError(`vector is required for ${mode} search (a Float32Array of ${dimension} numbers)`);
    }
    const v = vector instanceof Float32Array ? vector : Float32Array.from(vector as number[]);
    if (v.length !== dimension) {
      throw new UsageError(
        `vector has ${v.length} components but collection "${collection}" stores ${dimension}-d vectors; ` +
          "embed the query with the collection's model",
      );
    }
    if (!isFiniteVector(v)) throw new UsageError("vector contains a non-finite number (NaN or Infinity)");
    out.vector = v;
  }
  if (mode === "keyword" || mode === "hybrid") {
    const text = request.text;
    if (typeof text !== "string" || text.trim() === "") {
      throw new UsageError(`text must be a non-empty string for ${mode} search`);
    }
    out.text = text;
  }
  if (request.denseWeight !== undefined) {
    const w = request.denseWeight;
    if (typeof w !== "number" || !Number.isFinite(w) || w < 0 || w > 10) {
      throw new UsageError(`denseWeight must be a number from 0 to 10 (got ${JSON.stringify(w)})`);
    }
    out.denseWeight = w;
  }
  if (request.filter !== undefined) {
    const parsed = SearchFilterSchema.safeParse(request.filter);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = ["filter", ...(issue?.path ?? []).map(String)].join(".");
      throw new UsageError(`${path}: ${issue?.message ?? "invalid filter"}`);
    }
    out.filter = parsed.data;
  }
  return out;
}

/** Check chunks before they are written: shape, vector length, file type. */
export function validateChunks(chunks: readonly ChunkRecord[], dimension: number, collection: string): void {
  for (const c of chunks) {
    const where = `chunk ${JSON.stringify(c?.id)}`;
    if (typeof c !== "object" || c === null) throw new UsageError("chunks must be objects");
    if (typeof c.id !== "string" || c.id === "") throw new UsageError("chunk id must be a non-empty string");
    if (typeof c.source !== "string" || c.source === "") {
      throw new UsageError(`${where}: source must be a non-empty string`);
    }
    if (typeof c.text !== "string") throw new UsageError(`${where}: text must be a string`);
    if (!(c.vector instanceof Float32Array) || c.vector.length !== dimension) {
      throw new UsageError(
        `${where}: vector must be a Float32Array of ${dimension} numbers for collection "${collection}" ` +
          `(got ${c.vector instanceof Float32Array ? c.vector.length : typeof c.vector})`,
      );
    }
    if (!(FILE_TYPES as readonly string[]).includes(c.fileType)) {
      throw new UsageError(`${where}: fileType must be one of ${FILE_TYPES.join(", ")} (got ${c.fileType})`);
    }
    for (const [name, value] of [
      ["position", c.position],
      ["lineStart", c.lineStart],
      ["lineEnd", c.lineEnd],
    ] as const) {
      if (!Number.isInteger(value) || value < 0 || value > 2_147_483_647) {
        throw new UsageError(`${where}: ${name} must be a non-negative integer (got ${String(value)})`);
      }
    }
    if (!Array.isArray(c.tags) || !c.tags.every((t) => typeof t === "string")) {
      throw new UsageError(`${where}: tags must be an array of strings`);
    }
    if (!Array.isArray(c.headingPath) || !c.headingPath.every((t) => typeof t === "string")) {
      throw new UsageError(`${where}: headingPath must be an array of strings`);
    }
    if (!Number.isFinite(c.ingestedAt)) throw new UsageError(`${where}: ingestedAt must be epoch milliseconds`);
  }
}

/**
 * Check a `replaceSources` call: each source named once and non-empty, every chunk valid (via `validateChunk`,
 * the store's own checks) and belonging to the source it replaces, no chunk id twice. Returns all chunks.
 */
export function validateReplacements(
  replacements: readonly SourceReplacement[],
  validate: (chunks: readonly ChunkRecord[]) => void,
): ChunkRecord[] {
  const sources = new Set<string>();
  const ids = new Set<string>();
  const chunks: ChunkRecord[] = [];
  for (const r of replacements) {
    if (typeof r.source !== "string" || r.source === "") throw new UsageError("replacement source must be non-empty");
    if (sources.has(r.source)) throw new UsageError(`source ${JSON.stringify(r.source)} is listed twice`);
    sources.add(r.source);
    validate(r.chunks);
    for (const c of r.chunks) {
      if (c.source !== r.source) {
        throw new UsageError(
          `chunk ${JSON.stringify(c.id)} has source ${JSON.stringify(c.source)} but replaces ${JSON.stringify(r.source)}`,
        );
      }
      if (ids.has(c.id)) throw new UsageError(`chunk id ${JSON.stringify(c.id)} appears twice`);
      ids.add(c.id);
      chunks.push(c);
    }
  }
  return chunks;
}

/** `before` and `after` of a neighbours call: integers from 0 to 1000. */
export function validateNeighbourCounts(before: number, after: number): void {
  for (const [name, value] of [
    ["before", before],
    ["after", after],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 1000) {
      throw new UsageError(`${name} must be an integer from 0 to 1000 (got ${String(value)})`);
    }
  }
}
