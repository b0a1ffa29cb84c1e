import type { SearchHit } from "./types.js";

/** The usual reciprocal-rank-fusion constant (Cormack et al. 2009; Milvus' RRF default). */
export const RRF_K = 60;

/** How many candidates each branch of a hybrid search should return before fusion. */
export function hybridCandidates(k: number): number {
  return Math.max(k * 4, 50);
}

/**
 * Reciprocal rank fusion: each hit scores `sum(1 / (rrfK + rank))` over the rankings it appears in
 * (rank 1-based), hits are deduplicated by chunk id (the first ranking that holds a chunk supplies it), and
 * the best `limit` are returned, best first. A chunk repeated inside one ranking counts once, at its best
 * rank. Ties are broken by the best rank reached in any list, then by id, so the order is deterministic.
 */
export function reciprocalRankFusion(
  rankings: readonly (readonly SearchHit[])[],
  limit: number,
  rrfK: number = RRF_K,
): SearchHit[] {
  const fused = new Map<string, { hit: SearchHit; score: number; bestRank: number }>();
  for (const ranking of rankings) {
    const seen = new Set<string>();
    let rank = 0;
    for (const hit of ranking) {
      const id = hit.chunk.id;
      if (seen.has(id)) continue;
      seen.add(id);
      rank++;
      const contribution = 1 / (rrfK + rank);
      const entry = fused.get(id);
      if (entry) {
        entry.score += contribution;
        entry.bestRank = Math.min(entry.bestRank, rank);
      } else {
        fused.set(id, { hit, score: contribution, bestRank: rank });
      }
    }
  }
  return [...fused.values()]
    .sort(
      (a, b) =>
        b.score - a.score ||
        a.bestRank - b.bestRank ||
        (a.hit.chunk.id < b.hit.chunk.id ? -1 : a.hit.chunk.id > b.hit.chunk.id ? 1 : 0),
    )
    .slice(0, Math.max(0, limit))
    .map(({ hit, score }) => ({ chunk: hit.chunk, score }));
}
