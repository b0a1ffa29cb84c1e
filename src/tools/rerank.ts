import type { SearchHit } from "../store/types.js";
import type { MragContext } from "./context.js";

/**
 * The reranker stage of search (`search.rerank`, or the tool's `rerank` argument): the first
 * `search.rerankCandidates` fused hits are rescored by `search.rerankModel` (src/embed/rerank.ts) and sorted
 * by that score; hits past them keep their fused order and score below them. Ties keep the fused order.
 * The model and the passage builder are imported only when a search asks for reranking.
 */
export async function rerankHits(
  context: MragContext,
  query: string,
  hits: readonly SearchHit[],
  k: number,
): Promise<SearchHit[]> {
  if (hits.length === 0) return [];
  const { search, embed } = context.config;
  const [{ loadReranker }, { embeddingText }] = await Promise.all([
    import("../embed/rerank.js"),
    import("../ingest/sync.js"),
  ]);
  const reranker = await loadReranker(search.rerankModel, {
    allowRemote: embed.hf.allowRemote,
    ...(embed.hf.cacheDir ? { cacheDir: embed.hf.cacheDir } : {}),
  });
  const head = hits.slice(0, search.rerankCandidates);
  // The text the chunk was embedded from: its heading path gives the passage its context.
  const scores = await reranker.score(
    query,
    head.map((hit) => embeddingText(hit.chunk)),
  );
  const rescored = head
    .map((hit, i) => ({ hit: { ...hit, score: scores[i]! }, i }))
    .sort((a, b) => b.hit.score - a.hit.score || a.i - b.i)
    .map((entry) => entry.hit);
  return [...rescored, ...hits.slice(head.length)].slice(0, k);
}
