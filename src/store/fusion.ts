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

/**
 * Score-calibrated convex fusion (the embedded store's hybrid): each ranking's scores are min-max normalised
 * over its own candidates (best = 1, worst = 0; a ranking whose scores are all equal gives each 1), then
 * `score = sum(weight * normalised) / sum(weight)`, an item missing from a ranking counting 0 there. Unlike RRF
 * it keeps how far apart a branch's scores are, so a strong keyword match is not pulled level with a weak dense
 * one (on hotpotqa-100 with the builtin model RRF fell below BM25 alone; see docs/benchmarks.md).
 * Returns every fused item, best first, ties broken by id. An id repeated inside one ranking counts once.
 */
export function fuseScores<T extends { id: string; score: number }>(
  rankings: readonly (readonly T[])[],
  weights: readonly number[] = [],
): { item: T; score: number }[] {
  const total = rankings.reduce((sum, _, r) => sum + (weights[r] ?? 1), 0);
  const fused = new Map<string, { item: T; score: number }>();
  for (const [r, ranking] of rankings.entries()) {
    const weight = (weights[r] ?? 1) / (total > 0 ? total : 1);
    let best = Number.NEGATIVE_INFINITY;
    let worst = Number.POSITIVE_INFINITY;
    for (const item of ranking) {
      if (!Number.isFinite(item.score)) continue;
      best = Math.max(best, item.score);
      worst = Math.min(worst, item.score);
    }
    const seen = new Set<string>();
    for (const item of ranking) {
      if (seen.has(item.id)) continue;
      seen.add(item.id);
      const normalised = !Number.isFinite(item.score) ? 0 : best > worst ? (item.score - worst) / (best - worst) : 1;
      const entry = fused.get(item.id);
      if (entry) entry.score += weight * normalised;
      else fused.set(item.id, { item, score: weight * normalised });
    }
  }
  return [...fused.values()].sort(
    (a, b) => b.score - a.score || (a.item.id < b.item.id ? -1 : a.item.id > b.item.id ? 1 : 0),
  );
}
