import type { Table } from "@lancedb/lancedb";
import { fuseScores } from "../fusion.js";
import { DEFAULT_LINK_EXPANSION, type LinkExpansion, linkBonuses, TitleDictionary } from "../links.js";
import type { SearchHit } from "../types.js";
import { numberColumn, rowToChunk, stringColumn, stringListColumn } from "./schema.js";

/** One branch's candidate: id and higher-is-better score, ids and scores only (rows are read for the winners). */
export interface Candidate {
  id: string;
  score: number;
}

/** Best first: score, then id (the order every branch's candidates are handed to fusion in). */
export function byCandidate(a: Candidate, b: Candidate): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** An Arrow result table, as far as ranking reads it. */
interface ArrowResult {
  getChild(name: string): unknown;
  get(index: number): unknown;
  readonly numRows: number;
}

/**
 * One branch's rows as candidates, best first (score, then id: unindexed rows come back unsorted), with each
 * row reachable by id. `toScore` turns the branch's raw column (distance or BM25) into higher-is-better.
 */
export function rankCandidates(
  table: ArrowResult,
  scoreColumn: string,
  toScore: (raw: number) => number,
  rows: Map<string, () => Record<string, unknown>>,
): Candidate[] {
  const ids = stringColumn(table as Parameters<typeof stringColumn>[0], "id");
  const raw = numberColumn(table as Parameters<typeof numberColumn>[0], scoreColumn);
  return ids
    .map((id, i) => {
      if (!rows.has(id)) rows.set(id, () => table.get(i) as Record<string, unknown>);
      return { id, score: toScore(raw[i] ?? Number.NaN) };
    })
    .sort(byCandidate);
}

/** Best first: score, then chunk id. */
export function byScoreThenId(a: SearchHit, b: SearchHit): number {
  return b.score - a.score || (a.chunk.id < b.chunk.id ? -1 : a.chunk.id > b.chunk.id ? 1 : 0);
}

/** Rows by id, as LanceDB returns them (the chunk columns at least). */
export type RowMap = Map<string, Record<string, unknown>>;

/** Collections larger than this skip the title-mention step (see TitleCache.build). */
export const MAX_TITLE_ROWS = 200_000;

/**
 * The title dictionary of a table, rebuilt when the table version moves (one scan of four small columns:
 * about 10 ms per 10k chunks). Concurrent searches on one version share one build.
 */
export class TitleCache {
  private cached: { version: number; dictionary: Promise<TitleDictionary> } | undefined;

  constructor(private readonly table: Table) {}

  async get(version: number): Promise<TitleDictionary> {
    if (this.cached?.version !== version) {
      const dictionary = this.build();
      this.cached = { version, dictionary };
      dictionary.catch(() => {
        if (this.cached?.dictionary === dictionary) this.cached = undefined;
      });
    }
    return this.cached.dictionary;
  }

  private async build(): Promise<TitleDictionary> {
    // Above this size the per-version scan (about 0.14 s and a few MB per 10k rows) would stall the first search
    // after every write; such collections rank without the mention step.
    if ((await this.table.countRows()) > MAX_TITLE_ROWS) return new TitleDictionary([]);
    const columns = await this.table.query().select(["id", "source", "position", "heading_path"]).toArrow();
    const ids = stringColumn(columns, "id");
    const sources = stringColumn(columns, "source");
    const positions = numberColumn(columns, "position");
    const headings = stringListColumn(columns, "heading_path");
    return new TitleDictionary(
      ids.map((id, i) => ({ id, source: sources[i]!, position: positions[i]!, title: headings[i]![0] })),
    );
  }
}

/**
 * The embedded store's hybrid ranking: convex fusion of the two branches' calibrated scores (dense weighted
 * `denseWeight` against keyword's 1), then second-hop expansion by title mentions among the top hits. The
 * branches hand in ids and scores only; `rows` reads the rows of candidates (called for the top of the fused
 * list, whose seeds' text the expansion reads, and for any candidate that moves into the top k later), and
 * documents reached only through a mention are fetched (under the search filter) by `fetch`; ids neither
 * returns are dropped. Only the k winners are built into chunks.
 */
export async function hybridRank(
  dense: readonly Candidate[],
  keyword: readonly Candidate[],
  options: {
    k: number;
    denseWeight: number;
    dictionary: TitleDictionary;
    rows: (ids: string[]) => Promise<RowMap> | RowMap;
    fetch: (ids: string[]) => Promise<Record<string, unknown>[]>;
    expansion?: LinkExpansion;
  },
): Promise<SearchHit[]> {
  const expansion = options.expansion ?? DEFAULT_LINK_EXPANSION;
  const fused = fuseScores([dense, keyword], [options.denseWeight, 1]);
  const candidates = new Set(fused.map((f) => f.item.id));
  const rows: RowMap = new Map();
  const read = async (ids: string[]) => {
    const wanted = ids.filter((id) => !rows.has(id));
    if (wanted.length > 0) for (const [id, row] of await options.rows(wanted)) rows.set(id, row);
  };
  const useLinks = options.dictionary.size > 0;
  // One read for the likely winners, which include the seeds whose text the expansion reads.
  await read(fused.slice(0, Math.max(options.k, useLinks ? expansion.seeds : 0)).map((f) => f.item.id));
  const scores = new Map(fused.map((f) => [f.item.id, f.score]));
  if (useLinks) {
    const ranked = fused.map((f) => ({
      id: f.item.id,
      score: f.score,
      get source() {
        return String(rows.get(f.item.id)?.source ?? "");
      },
      text: () => String(rows.get(f.item.id)?.text ?? ""),
    }));
    for (const [id, score] of linkBonuses(ranked, options.dictionary, expansion)) scores.set(id, score);
  }
  const order = () =>
    [...scores.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, options.k);
  // Read what moved into the top k: candidates by row, mentioned documents by id under the filter (one the
  // filter excludes leaves, and the next moves up).
  for (;;) {
    const missing = order()
      .map(([id]) => id)
      .filter((id) => !rows.has(id));
    if (missing.length === 0) break;
    const known = missing.filter((id) => candidates.has(id));
    await read(known);
    const mentioned = missing.filter((id) => !candidates.has(id));
    if (mentioned.length > 0) for (const row of await options.fetch(mentioned)) rows.set(String(row.id), row);
    for (const id of missing) if (!rows.has(id)) scores.delete(id);
  }
  return order().map(([id, score]) => ({ chunk: rowToChunk(rows.get(id)!), score }));
}
