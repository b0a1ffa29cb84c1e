import {
  type CollectionState,
  checkWindow,
  type FieldSpec,
  fieldData,
  type Hit,
  MAX_RESULT_WINDOW,
  type SparseVector,
  templatesOf,
} from "./collection.js";
import { invalidParameter, invalidParameterValue, MilvusError, notSupported, unexpected } from "./errors.js";
import type { Scalar } from "./expr.js";
import { decodeMessage } from "./proto.js";
import type { KeyValuePair, WireHybridSearchRequest, WirePlaceholderGroup, WireSearchRequest } from "./wire.js";

type Metric = "COSINE" | "IP" | "L2" | "BM25";

interface SubResult {
  metric: Metric;
  hits: Hit[][];
}

function kv(pairs: KeyValuePair[], key: string): string | undefined {
  return pairs.find((p) => p.key === key)?.value;
}

function intParam(pairs: KeyValuePair[], key: string, fallback: number): number {
  const text = kv(pairs, key);
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n)) throw unexpected(`${key} [${text}] is invalid`);
  return n;
}

function annsField(coll: CollectionState, name: string | undefined): FieldSpec {
  const vectors = coll.fields.filter((f) => f.dataType.endsWith("Vector"));
  if (!name) {
    if (vectors.length === 1) return vectors[0]!;
    throw invalidParameter("multiple anns_fields exist, please specify a anns_field in search_params");
  }
  const field = coll.field(name);
  if (!field) throw unexpected(`failed to get field schema by name: fieldName(${name}) not found`);
  if (!field.dataType.endsWith("Vector")) throw unexpected(`field (${name}) to search is not of vector data type`);
  return field;
}

function dimensionMismatch(expected: number, actual: number): MilvusError {
  return new MilvusError(
    2000,
    "UnexpectedError",
    `failed to search: worker(1) query failed: parser searchRequest failed:  => vector dimension mismatch, expected vector size(byte) ${expected}, actual ${actual}.`,
  );
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function denseScore(metric: Metric, query: Float32Array, stored: Float32Array): number {
  if (metric === "IP") return dot(query, stored);
  if (metric === "L2") {
    let sum = 0;
    for (let i = 0; i < query.length; i++) sum += (query[i]! - stored[i]!) ** 2;
    return sum;
  }
  const norms = Math.sqrt(dot(query, query)) * Math.sqrt(dot(stored, stored));
  return norms === 0 ? 0 : dot(query, stored) / norms;
}

function sparseDot(a: SparseVector, b: SparseVector): number | undefined {
  let sum = 0;
  let shared = false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w !== undefined) {
      sum += v * w;
      shared = true;
    }
  }
  return shared ? sum : undefined;
}

function decodeSparseQuery(bytes: Buffer): SparseVector {
  const vector: SparseVector = new Map();
  for (let i = 0; i + 8 <= bytes.length; i += 8) vector.set(bytes.readUInt32LE(i), bytes.readFloatLE(i + 4));
  return vector;
}

/** Higher is better for every metric except L2, which is a distance; ties keep primary-key order. */
function rank(coll: CollectionState, metric: Metric, hits: Hit[]): Hit[] {
  const sign = metric === "L2" ? 1 : -1;
  return hits.sort((a, b) => sign * (a.score - b.score) || coll.comparePk(a.row, b.row));
}

/** One (sub-)search: validate it as Milvus does and return the ranked hits per query, offset and limit applied. */
function runSearch(coll: CollectionState, request: WireSearchRequest): SubResult {
  if (request.function_score && request.function_score.functions.length > 0)
    throw notSupported("function_score rerankers");
  if (request.search_input === "ids") throw notSupported("search by primary keys");
  if (request.partition_names.some((p) => p !== "_default")) {
    throw new MilvusError(200, "UnexpectedError", `partition not found[partition=${request.partition_names[0]}]`);
  }
  const params = request.search_params;
  if (kv(params, "group_by_field")) throw notSupported("grouping search");
  if (kv(params, "iterator") === "true") throw notSupported("search iterators");
  const field = annsField(coll, kv(params, "anns_field"));
  const index = coll.indexes.get(field.name);
  const topk = intParam(params, "topk", 10);
  const offset = intParam(params, "offset", 0);
  if (topk <= 0 || topk > MAX_RESULT_WINDOW) {
    throw unexpected(`topk [${topk}] is invalid, it should be in range [1, ${MAX_RESULT_WINDOW}], but got ${topk}`);
  }
  checkWindow(offset, topk);
  const candidates = coll.searchCandidates(request.dsl, templatesOf(request.expr_template_values));
  const metricRequested = (kv(params, "metric_type") ?? "").toUpperCase();
  const metric = (index?.metricType ?? "") as Metric;
  if (metricRequested && metricRequested !== metric) {
    throw invalidParameterValue(metric, metricRequested, "metric type not match");
  }
  const group = decodeMessage<WirePlaceholderGroup>(
    "milvus.proto.common.PlaceholderGroup",
    request.placeholder_group ?? Buffer.alloc(0),
  );
  const placeholder = group.placeholders[0];
  if (!placeholder || placeholder.values.length === 0)
    throw invalidParameter("nq (number of search vector per search request) should be in range [1, 16384]");
  const hits = placeholder.values.map((value) => {
    let scored: Hit[];
    if (field.bm25Input !== undefined) {
      if (placeholder.type !== "VarChar") {
        throw invalidParameter(`please provide raw text for search on BM25 function output field ${field.name}`);
      }
      scored = coll.bm25(field, value.toString("utf8"), candidates);
    } else if (field.dataType === "FloatVector") {
      if (placeholder.type !== "FloatVector") {
        throw invalidParameter(`search data type ${placeholder.type} does not match field type ${field.dataType}`);
      }
      const expected = field.dim! * 4;
      if (value.length !== expected) throw dimensionMismatch(expected, value.length);
      const query = new Float32Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.length));
      scored = candidates.map((row) => ({
        row,
        score: denseScore(metric, query, row.cells.get(field.name) as Float32Array),
      }));
    } else if (field.dataType === "SparseFloatVector") {
      if (placeholder.type !== "SparseFloatVector") {
        throw invalidParameter(`search data type ${placeholder.type} does not match field type ${field.dataType}`);
      }
      const query = decodeSparseQuery(value);
      scored = [];
      for (const row of candidates) {
        const stored = row.cells.get(field.name) as SparseVector | null;
        const score = stored ? sparseDot(query, stored) : undefined;
        if (score !== undefined) scored.push({ row, score });
      }
    } else {
      throw notSupported(`search on ${field.dataType}`);
    }
    return rank(coll, metric, scored).slice(offset, offset + topk);
  });
  return { metric, hits };
}

function roundTo(score: number, decimals: number): number {
  if (decimals < 0) return score;
  const factor = 10 ** decimals;
  return Math.round(score * factor) / factor;
}

function searchResults(
  coll: CollectionState,
  perQuery: Hit[][],
  outputFields: readonly string[],
  roundDecimal: number,
): Record<string, unknown> {
  const fields = coll.resolveOutput(outputFields.length > 0 ? outputFields : [], false);
  const flat = perQuery.flat();
  const ids = flat.map((h) => h.row.cells.get(coll.pk.name) as Scalar);
  return {
    num_queries: String(perQuery.length),
    top_k: String(Math.max(0, ...perQuery.map((q) => q.length))),
    topks: perQuery.map((q) => String(q.length)),
    scores: flat.map((h) => roundTo(h.score, roundDecimal)),
    ids:
      coll.pk.dataType === "VarChar"
        ? { str_id: { data: ids as string[] } }
        : { int_id: { data: ids.map((v) => String(v)) } },
    fields_data: fields.map((f) =>
      fieldData(
        f,
        flat.map((h) => h.row),
      ),
    ),
    output_fields: fields.map((f) => f.name),
    primary_field_name: coll.pk.name,
  };
}

export function search(coll: CollectionState, request: WireSearchRequest): Record<string, unknown> {
  const { hits } = runSearch(coll, request);
  const roundDecimal = intParam(request.search_params, "round_decimal", -1);
  return searchResults(coll, hits, request.output_fields, roundDecimal);
}

/** Milvus's score normalisation for the weighted ranker (each metric mapped into [0, 1], higher better). */
function normalize(metric: Metric, score: number): number {
  switch (metric) {
    case "COSINE":
      return (1 + score) * 0.5;
    case "IP":
      return 0.5 + Math.atan(score) / Math.PI;
    case "BM25":
      return (2 * Math.atan(score)) / Math.PI;
    case "L2":
      return 1 - (2 * Math.atan(score)) / Math.PI;
  }
}

export function hybridSearch(coll: CollectionState, request: WireHybridSearchRequest): Record<string, unknown> {
  if (request.function_score && request.function_score.functions.length > 0)
    throw notSupported("function_score rerankers");
  if (request.requests.length === 0) throw invalidParameter("no ann search requests");
  const rankParams = request.rank_params;
  const limit = intParam(rankParams, "limit", 10);
  const offset = intParam(rankParams, "offset", 0);
  checkWindow(offset, limit);
  const roundDecimal = intParam(rankParams, "round_decimal", -1);
  const strategy = (kv(rankParams, "strategy") ?? "rrf").toLowerCase();
  let params: Record<string, unknown> = {};
  try {
    params = JSON.parse(kv(rankParams, "params") ?? "{}") as Record<string, unknown>;
  } catch {
    throw invalidParameter(`invalid rank params: ${kv(rankParams, "params")}`);
  }
  const subs = request.requests.map((r) => {
    const sub = runSearch(coll, r);
    if (sub.hits.length !== 1) throw notSupported("hybrid search with nq > 1");
    return { metric: sub.metric, hits: sub.hits[0]! };
  });
  const fused = new Map<string, Hit>();
  const add = (hit: Hit, score: number) => {
    const key = String(hit.row.cells.get(coll.pk.name));
    const seen = fused.get(key);
    fused.set(key, { row: hit.row, score: (seen?.score ?? 0) + score });
  };
  if (strategy === "rrf") {
    const k = params.k === undefined ? 60 : Number(params.k);
    if (!(k > 0 && k < 16384)) throw unexpected("The rank params k should be in range (0, 16384)");
    for (const sub of subs) {
      sub.hits.forEach((hit, i) => {
        add(hit, 1 / (k + i + 1));
      });
    }
  } else if (strategy === "weighted") {
    const weights = Array.isArray(params.weights) ? params.weights.map(Number) : [];
    if (weights.length !== subs.length) {
      throw invalidParameterValue(
        subs.length,
        weights.length,
        "the length of weights param mismatch with ann search requests",
      );
    }
    if (weights.some((w) => !(w >= 0 && w <= 1))) throw unexpected("rank param weight should be in range [0, 1]");
    subs.forEach((sub, i) => {
      for (const hit of sub.hits) add(hit, weights[i]! * normalize(sub.metric, hit.score));
    });
  } else {
    throw notSupported(`rank strategy ${strategy}`);
  }
  const ranked = [...fused.values()]
    .sort((a, b) => b.score - a.score || coll.comparePk(a.row, b.row))
    .slice(offset, offset + limit)
    // The final rows are fetched again by key (Milvus's requery), so they carry the current field values.
    .map((hit) => ({ row: coll.rowByKey(hit.row.cells.get(coll.pk.name) as Scalar) ?? hit.row, score: hit.score }));
  return searchResults(coll, [ranked], request.output_fields, roundDecimal);
}
