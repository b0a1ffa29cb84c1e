import type { Table } from "@lancedb/lancedb";
import type { SearchHit } from "../types.js";
import { type KeywordIndex, KeywordIndexBuilder } from "./bm25.js";
import { DenseSnapshot, FLOAT_COPY_MAX_BYTES, type Shortlist } from "./dense-snapshot.js";
import { inList } from "./filter.js";
import { byCandidate, type Candidate, hybridRank, type RowMap, type TitleCache } from "./hybrid.js";
import { ROW_STORE_COLUMNS, type RowStore, RowStoreBuilder } from "./row-store.js";
import { CHUNK_COLUMNS, numberColumn, rowToChunk, stringColumn } from "./schema.js";

/**
 * Up to this many rows the first search of a process loads the snapshot and waits for it (vectors, postings
 * and rows load at ~10k rows a second, the Snowball stemmer being most of it); above it the snapshot loads in the
 * background from the second search on (or when `prepare` asks) while searches take the LanceDB path, so a
 * one-shot CLI search never waits for it.
 */
export const SNAPSHOT_SYNC_MAX_ROWS = 5_000;
/**
 * Up to this many rows the keyword branch is BM25 over postings in memory too (about 230 bytes and 40 µs of
 * build per row of real text); above it LanceDB's full-text index serves it (ids and scores only).
 */
export const KEYWORD_MEMORY_MAX_ROWS = 400_000;

/** One table version in memory: every vector, and the postings when the collection is small enough. */
export interface Snapshot {
  dense: DenseSnapshot;
  keyword: KeywordIndex | undefined;
  /** The chunk columns, when the keyword postings are in memory and the text fits the budget. */
  rows: RowStore | undefined;
  readonly version: number;
}
const FTS_COLUMN = "search_text";

/** Extra int8 candidates re-scored exactly: the int8 ranking is off by at most a few places (measured). */
function shortlistSize(limit: number): number {
  return limit + Math.max(16, limit >> 1);
}

interface ArrowLike {
  getChild(name: string): unknown;
  readonly numRows: number;
}

/**
 * The per-process in-memory dense search of one collection: a DenseSnapshot of the current table version,
 * loaded on first use and again after the version moves (the old one is dropped at once). Searches on a
 * version whose snapshot is not loaded get undefined and take the LanceDB path, so a search never mixes
 * versions and never waits for a large load, except for one that `prepare` (a server's warm-up) started:
 * searches wait for that one, so a warming server never loads LanceDB's own vector index beside it (1 GB at
 * 1M rows).
 */
export class SnapshotSearch {
  private snapshot: Snapshot | undefined;
  private loading: { version: number; promise: Promise<Snapshot | undefined>; awaited: boolean } | undefined;
  private closed = false;
  /** Searches that found no snapshot of a collection above SNAPSHOT_SYNC_MAX_ROWS (see forVersion). */
  private largeSearches = 0;

  constructor(
    private readonly table: Table,
    private readonly dimension: number,
    private readonly titles: TitleCache,
    private readonly tuning: {
      /** Above this many bytes of float vectors, exact re-scoring reads the shortlist's vectors from the table. */
      floatCopyMaxBytes?: number;
      /** From this many rows the dense scan is prefiltered by binary codes. */
      binaryMinRows?: number;
    } = {},
  ) {}

  /** The snapshot of `version`, loading it (and waiting only for small collections) when missing. */
  private async forVersion(version: number): Promise<Snapshot | undefined> {
    if (this.snapshot?.version === version) return this.snapshot;
    this.snapshot = undefined;
    if (this.loading?.version !== version) {
      const rows = await this.table.countRows();
      if (rows <= SNAPSHOT_SYNC_MAX_ROWS) {
        const promise = this.load(version);
        this.loading = { version, promise, awaited: false };
        return promise;
      }
      // A large load pays only for a reader that keeps searching: a one-shot CLI search would otherwise wait
      // for it before exiting (2.5 -> 6.5-8.7 s at 1M rows, measured). The first search just takes LanceDB.
      this.largeSearches += 1;
      if (this.largeSearches > 1) this.loading = { version, promise: this.load(version), awaited: false };
      return undefined;
    }
    return this.loading.awaited ? this.loading.promise : undefined;
  }

  private async load(version: number): Promise<Snapshot | undefined> {
    try {
      let keyword: KeywordIndexBuilder | undefined;
      let rows: RowStoreBuilder | undefined;
      const count = await this.table.countRows();
      const small = count <= KEYWORD_MEMORY_MAX_ROWS;
      const dense = await DenseSnapshot.load(this.table, this.dimension, {
        floatCopyMaxBytes: this.tuning.floatCopyMaxBytes ?? FLOAT_COPY_MAX_BYTES,
        ...(this.tuning.binaryMinRows !== undefined ? { binaryMinRows: this.tuning.binaryMinRows } : {}),
        onStart: (n) => {
          if (n > KEYWORD_MEMORY_MAX_ROWS) return;
          keyword = new KeywordIndexBuilder(n);
          rows = new RowStoreBuilder(n);
        },
        columns: small ? [FTS_COLUMN, ...ROW_STORE_COLUMNS] : [],
        onBatch: (batch) => {
          if (keyword) for (const text of stringColumn(batch, FTS_COLUMN)) keyword.add(text);
          rows?.add(batch);
        },
      });
      const snapshot = dense && {
        dense,
        keyword: keyword?.finish(),
        rows: rows?.finish(dense.ids),
        version: dense.version,
      };
      if (!this.closed && snapshot && snapshot.version === version) this.snapshot = snapshot;
      return this.snapshot?.version === version ? this.snapshot : undefined;
    } catch {
      // The table moved or closed under the load; searches keep the LanceDB path and the next one retries.
      return undefined;
    } finally {
      if (this.loading?.version === version) this.loading = undefined;
    }
  }

  /** Load the snapshot of the current version and wait for it (warm-up, benchmarks). */
  async prepare(): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const version = await this.table.version();
      if (this.snapshot?.version === version) return true;
      if (this.loading?.version === version) this.loading.awaited = true;
      const pending = this.loading?.version === version ? this.loading.promise : undefined;
      if (!pending) this.snapshot = undefined;
      const promise = pending ?? this.load(version);
      if (!pending) this.loading = { version, promise, awaited: true };
      if (await promise) return true;
    }
    return false;
  }

  close(): void {
    this.closed = true;
    this.snapshot = undefined;
  }

  /**
   * Dense top `k` from the snapshot of the current version, or undefined when there is none (yet) or a commit
   * landed while it ran: then the caller takes the LanceDB path.
   */
  dense(vector: Float32Array, k: number): Promise<SearchHit[] | undefined> {
    return this.onOneVersion(async ({ dense: snapshot, rows: store }) => {
      const best = this.rescore(snapshot, vector, snapshot.shortlist(vector, shortlistSize(k))).slice(0, k);
      if (store) return best.map((b) => ({ chunk: store.chunk(b.row), score: b.score }));
      const rows = await this.take(
        snapshot,
        Int32Array.from(best, (b) => b.row),
        [...CHUNK_COLUMNS],
      );
      return best.flatMap((b) => {
        const row = rows.get(b.id);
        return row ? [{ chunk: rowToChunk(row), score: b.score }] : [];
      });
    });
  }

  /**
   * Hybrid from the snapshot's dense branch and LanceDB's full-text branch, ids and scores only: the keyword
   * query runs on LanceDB's threads while this thread scans, and only the fused winners' rows are read.
   */
  hybrid(
    vector: Float32Array,
    text: string,
    options: { k: number; depth: number; denseWeight: number },
  ): Promise<SearchHit[] | undefined> {
    return this.onOneVersion(async ({ dense: snapshot, keyword: postings, rows: store }) => {
      // Without postings in memory LanceDB's index answers, on its own threads while this one scans.
      const lanceKeyword = postings ? undefined : this.lanceKeyword(text, options.depth);
      const list = snapshot.shortlist(vector, shortlistSize(options.depth));
      const rowIds = new Map<string, bigint>();
      const rowOf = new Map<string, number>();
      const dense: Candidate[] = this.rescore(snapshot, vector, list)
        .slice(0, options.depth)
        .map((b) => {
          rowIds.set(b.id, snapshot.rowIds[b.row]!);
          rowOf.set(b.id, b.row);
          return { id: b.id, score: b.score };
        });
      const keyword = postings
        ? memoryKeywordCandidates(snapshot, postings.search(text, options.depth), rowIds, rowOf)
        : keywordCandidates(await lanceKeyword!, rowIds);
      return hybridRank(dense, keyword, {
        k: options.k,
        denseWeight: options.denseWeight,
        dictionary: await this.titles.get(snapshot.version),
        rows: (ids) =>
          store && postings
            ? new Map(ids.flatMap((id) => (rowOf.has(id) ? [[id, store.record(rowOf.get(id)!)] as const] : [])))
            : this.takeByRowIds(ids.flatMap((id) => rowIds.get(id) ?? [])),
        fetch: async (ids) => {
          if (!store) return this.fetchByIds(ids);
          const byId = snapshot.rowById();
          return ids.flatMap((id) => {
            const row = byId.get(id);
            return row === undefined ? [] : [store.record(row)];
          });
        },
      });
    });
  }

  /** Keyword top `k` by BM25 over the postings in memory; undefined when they are not loaded (or too large). */
  keyword(text: string, k: number): Promise<SearchHit[] | undefined> {
    return this.onOneVersion(async ({ dense: snapshot, keyword: postings, rows: store }) => {
      if (!postings) return undefined;
      const rowIds = new Map<string, bigint>();
      const rowOf = new Map<string, number>();
      const best = memoryKeywordCandidates(snapshot, postings.search(text, k), rowIds, rowOf);
      if (store) return best.map((c) => ({ chunk: store.chunk(rowOf.get(c.id)!), score: c.score }));
      const rows = await this.takeByRowIds(best.map((c) => rowIds.get(c.id)!));
      return best.flatMap((c) => {
        const row = rows.get(c.id);
        return row ? [{ chunk: rowToChunk(row), score: c.score }] : [];
      });
    });
  }

  private lanceKeyword(text: string, limit: number): Promise<ArrowLike> {
    return this.table
      .query()
      .fullTextSearch(text, { columns: FTS_COLUMN })
      .select(["id", "_score"])
      .withRowId()
      .limit(limit)
      .toArrow();
  }

  /** Run `search` on the current version's snapshot; undefined when there is none or the version moved. */
  private async onOneVersion<T>(search: (snapshot: Snapshot) => Promise<T | undefined>): Promise<T | undefined> {
    const version = await this.table.version();
    const snapshot = await this.forVersion(version);
    if (!snapshot) return undefined;
    let result: T | undefined;
    try {
      result = await search(snapshot);
    } catch (error) {
      // Row ids are those of `version`; a compaction committed meanwhile can make a take fail.
      if ((await this.table.version()) !== version) return undefined;
      throw error;
    }
    return (await this.table.version()) === version ? result : undefined;
  }

  /**
   * The shortlist re-scored exactly from the float copy, best first, ties by id. Without one (collections over
   * FLOAT_COPY_MAX_BYTES) the int8 scores stand: reading the shortlist's vectors back cost more (a take of 26
   * vectors ~6 ms at 100k rows) than the scan, for scores already within ~1e-3.
   */
  private rescore(
    snapshot: DenseSnapshot,
    vector: Float32Array,
    list: Shortlist,
  ): { row: number; id: string; score: number }[] {
    const exact = snapshot.exactScores(vector, list.rows);
    return Array.from(list.rows, (row, i) => ({
      row,
      id: snapshot.ids[row]!,
      score: exact ? exact[i]! : list.scores[i]!,
    })).sort(byCandidate);
  }

  private take(snapshot: DenseSnapshot, rows: Int32Array, columns: string[]): Promise<RowMap> {
    return this.takeByRowIds(
      Array.from(rows, (r) => snapshot.rowIds[r]!),
      columns,
    );
  }

  private async takeByRowIds(rowIds: bigint[], columns: string[] = [...CHUNK_COLUMNS]): Promise<RowMap> {
    const rows: RowMap = new Map();
    if (rowIds.length === 0) return rows;
    for (const row of await this.table.takeRowIds(rowIds).select(columns).toArray()) rows.set(String(row.id), row);
    return rows;
  }

  private async fetchByIds(ids: readonly string[]): Promise<Record<string, unknown>[]> {
    return this.table
      .query()
      .where(inList("id", ids))
      .select([...CHUNK_COLUMNS])
      .toArray();
  }
}

/** The in-memory keyword branch's rows as candidates, best first; their row ids are added to `rowIds`. */
function memoryKeywordCandidates(
  snapshot: DenseSnapshot,
  list: Shortlist,
  rowIds: Map<string, bigint>,
  rowOf: Map<string, number>,
): Candidate[] {
  return Array.from(list.rows, (row, i) => {
    const id = snapshot.ids[row]!;
    if (!rowIds.has(id)) rowIds.set(id, snapshot.rowIds[row]!);
    if (!rowOf.has(id)) rowOf.set(id, row);
    return { id, score: list.scores[i]! };
  }).sort(byCandidate);
}

/** The keyword branch's ids and BM25 scores, best first; their row ids are added to `rowIds`. */
function keywordCandidates(result: ArrowLike, rowIds: Map<string, bigint>): Candidate[] {
  const ids = stringColumn(result as Parameters<typeof stringColumn>[0], "id");
  const scores = numberColumn(result as Parameters<typeof numberColumn>[0], "_score");
  const rows = (result.getChild("_rowid") as { toArray(): BigUint64Array } | null)?.toArray();
  return ids
    .map((id, i) => {
      const rowId = rows?.[i];
      if (rowId !== undefined && !rowIds.has(id)) rowIds.set(id, rowId);
      return { id, score: scores[i] ?? Number.NaN };
    })
    .sort(byCandidate);
}
