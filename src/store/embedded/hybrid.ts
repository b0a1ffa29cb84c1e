import type { Table } from "@lancedb/lancedb";
import { byCandidate, type Candidate, MAX_TITLE_ROWS, rankHybrid } from "../hybrid-rank.js";
import { type LinkExpansion, TitleDictionary } from "../links.js";
import type { SearchHit } from "../types.js";
import { numberColumn, rowToChunk, stringColumn, stringListColumn } from "./schema.js";

export { byCandidate, type Candidate, MAX_TITLE_ROWS };

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
 * The embedded store's hybrid ranking (store/hybrid-rank.ts) on LanceDB rows. The branches hand in ids and
 * scores only; `rows` reads the rows of candidates, `fetch` those of documents reached only through a mention
 * (under the search filter). Only the k winners are built into chunks.
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
  const ranked = await rankHybrid(dense, keyword, {
    ...options,
    fetch: async (ids) => new Map((await options.fetch(ids)).map((row) => [String(row.id), row])),
    source: (row) => String(row.source ?? ""),
    text: (row) => String(row.text ?? ""),
  });
  return ranked.map(({ row, score }) => ({ chunk: rowToChunk(row), score }));
}
