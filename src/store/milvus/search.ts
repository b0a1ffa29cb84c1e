import {
  type ConsistencyLevelEnum,
  type HybridSearchSingleReq,
  type MilvusClient,
  RRFRanker,
} from "@zilliz/milvus2-sdk-node";
import { UsageError } from "../../errors.js";
import { RRF_K } from "../fusion.js";
import type { CollectionMeta, SearchHit, SearchRequest } from "../types.js";
import { validateSearchRequest } from "../validate.js";
import { clientAnalysis } from "./analyzer.js";
import type { MilvusResponse } from "./connection.js";
import { and, compileSearchFilter } from "./expr.js";
import { type FieldKey, outputFields } from "./fields.js";
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
  /** The generation filter every read adds (undefined without generations). */
  visibility(): Promise<string | undefined>;
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
  const filter = and([compileSearchFilter(valid.filter, f), await ctx.visibility()]);
  const output = outputFields(f, layout.present);
  const common = {
    collection_name: ctx.physical,
    limit: valid.k,
    output_fields: output,
    consistency_level: ctx.consistencyLevel,
  };
  const dense = valid.vector ? Array.from(valid.vector) : [];
  const text = clientAnalysis(layout.analyzer)(valid.text ?? "");
  const what = `${valid.mode} search`;
  const asRows = (r: { results?: unknown }) => (r.results ?? []) as Row[];
  // The SDK forwards a branch's metric_type although its type does not declare it.
  const branch = (b: HybridSearchSingleReq & { metric_type: string }): HybridSearchSingleReq => ({
    ...b,
    params: {},
    ...(filter ? { expr: filter } : {}),
  });
  let results: Row[];
  if (valid.mode === "dense") {
    results = asRows(
      await ctx.call(what, () =>
        ctx.client.search({
          ...common,
          data: [dense],
          anns_field: f.dense,
          metric_type: ctx.metric,
          ...(filter ? { filter } : {}),
        }),
      ),
    );
  } else if (valid.mode === "keyword") {
    results = asRows(
      await ctx.call(what, () =>
        ctx.client.search({
          ...common,
          data: [text],
          anns_field: f.sparse,
          metric_type: "BM25",
          ...(filter ? { filter } : {}),
        }),
      ),
    );
  } else {
    // Both requests in one hybrid search, fused by Milvus' RRF reranker (no per-branch weight on Milvus).
    results = asRows(
      await ctx.call(what, () =>
        ctx.client.search({
          ...common,
          // Each branch names its metric: Milvus Lite refuses a BM25 branch without it (standalone infers it).
          data: [
            branch({ data: dense, anns_field: f.dense, metric_type: ctx.metric }),
            branch({ data: text, anns_field: f.sparse, metric_type: "BM25" }),
          ],
          rerank: RRFRanker(RRF_K),
        }),
      ),
    );
  }
  return results.map((row) => {
    const score = toNumber(row.score);
    return {
      chunk: rowToChunk(layout, { ...row, [f.id]: row[f.id] ?? row.id }),
      // Higher is better for every mode; L2 is a distance, so it is negated. A BM25 score of a hit is always
      // positive: Milvus Lite 3.2.2 returns it negated (its internal distance), which is turned back here.
      score:
        valid.mode === "dense" && ctx.metric === "L2" ? -score : valid.mode === "keyword" ? Math.abs(score) : score,
    };
  });
}
