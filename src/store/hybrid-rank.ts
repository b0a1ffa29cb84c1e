import { fuseScores } from "./fusion.js";
import { DEFAULT_LINK_EXPANSION, type LinkExpansion, linkBonuses, type TitleDictionary } from "./links.js";

/**
 * The hybrid ranking both stores use, on whatever row type the store reads: convex fusion of the two branches'
 * calibrated scores (fusion.ts), then second-hop expansion by title mentions among the top hits (links.ts).
 */

/** One branch's candidate: id and higher-is-better score. */
export interface Candidate {
  id: string;
  score: number;
}

/** Best first: score, then id (the order every branch's candidates are handed to fusion in). */
export function byCandidate(a: Candidate, b: Candidate): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The dense branch's weight against keyword's 1 when the request names none (the builtin model's measured
 * weight; `mrag` passes `denseWeightFor(embedder)` from src/tools/search.ts).
 */
export const DEFAULT_DENSE_WEIGHT = 0.5;

/** Collections larger than this skip the title-mention step (building the dictionary reads every row). */
export const MAX_TITLE_ROWS = 200_000;

export interface HybridRankOptions<R> {
  k: number;
  denseWeight: number;
  dictionary: TitleDictionary;
  /** Rows of candidates by id (ids it does not return are dropped). */
  rows: (ids: string[]) => Promise<Map<string, R>> | Map<string, R>;
  /** Rows of documents reached only through a mention, by id, under the search filter. */
  fetch: (ids: string[]) => Promise<Map<string, R>>;
  source: (row: R) => string;
  text: (row: R) => string;
  expansion?: LinkExpansion;
}

/**
 * Fuse (dense weighted `denseWeight` against keyword's 1), then pull up the documents the top hits mention.
 * `rows` is called for the top of the fused list, whose seeds' text the expansion reads, and for any candidate
 * that moves into the top k later; documents reached only through a mention are read by `fetch` (one the filter
 * excludes leaves, and the next moves up). Returns the k winners with their rows, best first.
 */
export async function rankHybrid<R>(
  dense: readonly Candidate[],
  keyword: readonly Candidate[],
  options: HybridRankOptions<R>,
): Promise<{ id: string; score: number; row: R }[]> {
  const expansion = options.expansion ?? DEFAULT_LINK_EXPANSION;
  const fused = fuseScores([dense, keyword], [options.denseWeight, 1]);
  const candidates = new Set(fused.map((f) => f.item.id));
  const rows = new Map<string, R>();
  const read = async (ids: string[]) => {
    const wanted = ids.filter((id) => !rows.has(id));
    if (wanted.length > 0) for (const [id, row] of await options.rows(wanted)) rows.set(id, row);
  };
  const useLinks = options.dictionary.size > 0;
  // One read for the likely winners, which include the seeds whose text the expansion reads.
  await read(fused.slice(0, Math.max(options.k, useLinks ? expansion.seeds : 0)).map((f) => f.item.id));
  const scores = new Map(fused.map((f) => [f.item.id, f.score]));
  if (useLinks) {
    const ranked = fused.map((f) => {
      const row = () => rows.get(f.item.id);
      return {
        id: f.item.id,
        score: f.score,
        get source() {
          const r = row();
          return r === undefined ? "" : options.source(r);
        },
        text: () => {
          const r = row();
          return r === undefined ? "" : options.text(r);
        },
      };
    });
    for (const [id, score] of linkBonuses(ranked, options.dictionary, expansion)) scores.set(id, score);
  }
  const order = () =>
    [...scores.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, options.k);
  for (;;) {
    const missing = order()
      .map(([id]) => id)
      .filter((id) => !rows.has(id));
    if (missing.length === 0) break;
    await read(missing.filter((id) => candidates.has(id)));
    const mentioned = missing.filter((id) => !candidates.has(id));
    if (mentioned.length > 0) for (const [id, row] of await options.fetch(mentioned)) rows.set(id, row);
    for (const id of missing) if (!rows.has(id)) scores.delete(id);
  }
  return order().map(([id, score]) => ({ id, score, row: rows.get(id)! }));
}
