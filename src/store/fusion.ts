/** The usual reciprocal-rank-fusion constant (Cormack et al. 2009; Milvus' RRF default). */
export const RRF_K = 60;

/** How many candidates each branch of a hybrid search should return before fusion. */
export function hybridCandidates(k: number): number {
  return Math.max(k * 4, 50);
}

/**
 * Reciprocal rank fusion over anything with an id: each item scores `sum(weight / (rrfK + rank))` over the
 * rankings it appears in (rank 1-based), items are deduplicated by id (the first ranking that holds one
 * supplies it), and the best `limit` are returned, best first. An id repeated inside one ranking counts once,
 * at its best rank. Ties are broken by the best rank reached in any list, then by id, so the order is
 * deterministic.
 */
export function fuseRankings<T extends { id: string }>(
  rankings: readonly (readonly T[])[],
  limit: number,
  rrfK: number = RRF_K,
  /** Per ranking, multiplies its contributions (weighted RRF); default 1 each. */
  weights: readonly number[] = [],
): { item: T; score: number }[] {
  const fused = new Map<string, { item: T; score: number; bestRank: number }>();
  for (const [r, ranking] of rankings.entries()) {
    const weight = weights[r] ?? 1;
    const seen = new Set<string>();
    let rank = 0;
    for (const item of ranking) {
      const id = item.id;
      if (seen.has(id)) continue;
      seen.add(id);
      rank++;
      const contribution = weight / (rrfK + rank);
      const entry = fused.get(id);
      if (entry) {
        entry.score += contribution;
        entry.bestRank = Math.min(entry.bestRank, rank);
      } else {
        fused.set(id, { item, score: contribution, bestRank: rank });
      }
    }
  }
  return [...fused.values()]
    .sort(
      (a, b) =>
        b.score - a.score || a.bestRank - b.bestRank || (a.item.id < b.item.id ? -1 : a.item.id > b.item.id ? 1 : 0),
    )
    .slice(0, Math.max(0, limit))
    .map(({ item, score }) => ({ item, score }));
}
