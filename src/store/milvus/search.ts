import type { ConsistencyLevelEnum, MilvusClient } from "@zilliz/milvus2-sdk-node";
import { UsageError } from "../../errors.js";
import { hybridCandidates } from "../fusion.js";
import { byCandidate, type Candidate, DEFAULT_DENSE_WEIGHT, rankHybrid } from "../hybrid-rank.js";
import type { TitleDictionary } from "../links.js";
import type { CollectionMeta, SearchHit, SearchRequest, StoredChunk } from "../types.js";
import { validateSearchRequest } from "../validate.js";
import { clientAnalysis } from "./analyzer.js";
import type { MilvusResponse } from "./connection.js";
import { and, compileSearchFilter } from "./expr.js";
import { type FieldKey, outputFields } from "./fields.js";
import { type GenerationState, visibleExpression } from "./generations.js";
import { type Row, rowToChunk, toNumber } from "./rows.js";
import type { CollectionLayout } from "./schema.js";

/** What a search needs from its collection. */
export interface MilvusSearchContext {
  meta: CollectionMeta;
  /** The Milvus collection name. */
  physical: string;
  layout: CollectionLayout;
  /** The dense field's metric (COSINE, IP or L2). */
  metric: string;
  client: MilvusClient;
  consistencyLevel: ConsistencyLevelEnum;
  /** One SDK call, with the collection named in any error. */
  call<T extends MilvusResponse>(what: string, fn: () => Promise<T>): Promise<T>;
  /** The commit state, read fresh (undefined without generations): every read of one search uses one state. */
  state(): Promise<GenerationState | undefined>;
  /** The title dictionary of the rows visible in `state` (empty where the title step does not apply). */
  titles(state: GenerationState | undefined): Promise<TitleDictionary>;
  /** Chunks of these ids matching `filter` (which holds the visibility). */
  readByIds(ids: readonly string[], filter: string | undefined): Promise<StoredChunk[]>;
}

export async function searchCollection(ctx: MilvusSearchContext, request: SearchRequest): Promise<SearchHit[]> {
  const { meta, layout } = ctx;
  const f = layout.fields;
  const has = (key: FieldKey) => layout.present.has(key);
  const valid = validateSearchRequest(request, meta.dimension, meta.name);
  if ((valid.mode === "keyword" || valid.mode === "hybrid") && !layout.bm25) {
    throw new UsageError(
      `collection "${meta.name}" has no BM25 full-text field, so ${valid.mode} search is not possible; ` +
        'use mode "dense", or ingest into a collection mrag creates',
    );
  }
  if (valid.filter) {
    const needed: [keyof typeof valid.filter, FieldKey][] = [
      ["tags", "tags"],
      ["fileTypes", "fileType"],
    ];
    for (const [key, field] of needed) {
      if (valid.filter[key] !== undefined && !has(field)) {
        throw new UsageError(`filter.${key}: collection "${meta.name}" has no ${field} field to filter on`);
      }
    }
  }
  const state = await ctx.state();
  const filter = and([compileSearchFilter(valid.filter, f), state ? visibleExpression(state) : undefined]);
  const dense = valid.vector ? Array.from(valid.vector) : [];
  const text = clientAnalysis(layout.analyzer, layout.keywordAnalysis)(valid.text ?? "");
  const what = `${valid.mode} search`;
  const branch = async (
    which: "dense" | "keyword",
    limit: number,
  ): Promise<{ chunk: StoredChunk; score: number }[]> => {
    const response = await ctx.call(what, () =>
      ctx.client.search({
        collection_name: ctx.physical,
        limit,
        output_fields: outputFields(f, layout.present),
        consistency_level: ctx.consistencyLevel,
        ...(which === "dense"
          ? { data: [dense], anns_field: f.dense, metric_type: ctx.metric }
          : { data: [text], anns_field: f.sparse, metric_type: "BM25" }),
        ...(filter ? { filter } : {}),
      }),
    );
    // One query vector: the results are one list of rows.
    const rows = ((response as { results?: unknown }).results ?? []) as Row[];
    return rows.map((row) => {
      const score = toNumber(row.score);
      return {
        chunk: rowToChunk(layout, { ...row, [f.id]: row[f.id] ?? row.id }),
        // Higher is better for every mode; L2 is a distance, so it is negated. A BM25 score of a hit is always
        // positive: Milvus Lite 3.2.2 returns it negated (its internal distance), which is turned back here.
        score: which === "keyword" ? Math.abs(score) : ctx.metric === "L2" ? -score : score,
      };
    });
  };
  if (valid.mode !== "hybrid") return branch(valid.mode, valid.k);
  // Hybrid: both branches at once, fused here as on the embedded store (calibrated convex fusion, then the
  // title-mention second hop). Milvus' RRF reranker kept only ranks and fell below BM25 alone (docs/milvus.md).
  const depth = hybridCandidates(valid.k);
  const [denseHits, keywordHits, dictionary] = await Promise.all([
    branch("dense", depth),
    branch("keyword", depth),
    ctx.titles(state),
  ]);
  const chunks = new Map<string, StoredChunk>();
  const candidates = (hits: { chunk: StoredChunk; score: number }[]): Candidate[] =>
    hits
      .map(({ chunk, score }) => {
        chunks.set(chunk.id, chunk);
        return { id: chunk.id, score };
      })
      .sort(byCandidate);
  const ranked = await rankHybrid(candidates(denseHits), candidates(keywordHits), {
    k: valid.k,
    denseWeight: valid.denseWeight ?? DEFAULT_DENSE_WEIGHT,
    dictionary,
    rows: (ids) => new Map(ids.flatMap((id) => (chunks.has(id) ? [[id, chunks.get(id)!] as const] : []))),
    fetch: async (ids) => new Map((await ctx.readByIds(ids, filter)).map((c) => [c.id, c])),
    source: (c) => c.source,
    text: (c) => c.text,
  });
  return ranked.map(({ row, score }) => ({ chunk: row, score }));
}
