import { Index, type Table } from "@lancedb/lancedb";

/** When and how indexes are built; the defaults are justified by bench/store-vector-index.ts. */
export interface IndexPolicy {
  /** Build the IVF_FLAT vector index once a collection has at least this many rows; below it search is exact. */
  vectorIndexMinRows: number;
  /**
   * Minimum partitions probed per dense query once the vector index exists. The maximum is unbounded, so
   * LanceDB keeps probing while more partitions can still hold better rows (and when a narrow filter leaves
   * too few rows in the first ones).
   */
  nprobes: number;
  /** optimize() removes table versions older than this. */
  cleanupOlderThanMs: number;
  /**
   * After a write, bring new rows into the full-text index once the rows it does not cover exceed this
   * fraction of the rows it covers. LanceDB 0.31 scores rows outside the index with a document frequency that
   * counts every occurrence of a term in them: a term that occurs more often in the new rows than the table
   * has rows gets a negative IDF, and those rows are dropped from the results. So the uncovered share is kept
   * small.
   */
  ftsMaxUnindexedRatio: number;
  /** optimize() retrains the vector index (new partitions) once the collection has grown this many times over. */
  vectorIndexRetrainGrowth: number;
}

export const DEFAULT_INDEX_POLICY: IndexPolicy = {
  vectorIndexMinRows: 50_000,
  nprobes: 20,
  cleanupOlderThanMs: 60_000,
  ftsMaxUnindexedRatio: 0.2,
  vectorIndexRetrainGrowth: 4,
};

/** IVF partitions for `rows` rows: about sqrt(rows), the LanceDB default, at least 1. */
export function vectorIndexPartitions(rows: number): number {
  return Math.max(1, Math.round(Math.sqrt(rows)));
}

export const FTS_COLUMN = "search_text";
export const FTS_INDEX = "search_text_idx";
export const VECTOR_COLUMN = "vector";
export const VECTOR_INDEX = "vector_idx";

/**
 * The full-text index configuration: simple tokenizer, lower case, English stemming and stop words. Chinese,
 * Japanese and Korean arrive already split into space-separated tokens (store/keyword-text.ts).
 */
export function ftsIndex(): Index {
  return Index.fts({
    baseTokenizer: "simple",
    language: "English",
    lowercase: true,
    stem: true,
    removeStopWords: true,
    asciiFolding: true,
    withPosition: false,
  });
}

/** How the vector index was trained, as recorded in the store marker. */
export interface VectorIndexRecord {
  rows: number;
  partitions: number;
  builtAt: number;
}

/**
 * Up to this many rows an ingest keeps the full-text index current by rebuilding it rather than by compacting.
 * A rebuild costs about 0.05-0.1 ms a row here, so this bounds one at some seconds; above it the fold's
 * compaction leaves fragments of LanceDB's target size (1M rows) alone and the fold itself is incremental.
 */
export const FTS_REBUILD_MAX_ROWS = 200_000;

/** LanceDB turns the cut-off date into an age and back into a date a moment later; this keeps the boundary. */
const CLEANUP_MARGIN_MS = 1000;

/**
 * Index upkeep of one collection table: the full-text index kept close to the rows, compaction with pruning of
 * old versions, and the vector index. Callers hold the store's write lock.
 */
export class TableMaintenance {
  constructor(
    private readonly table: Table,
    private readonly policy: IndexPolicy,
    private readonly vectorRecord: {
      read(): Promise<VectorIndexRecord | undefined>;
      write(record: VectorIndexRecord): Promise<void>;
    },
  ) {}

  async indexState(): Promise<{ fts: boolean; vector: string | undefined }> {
    const list = await this.table.listIndices();
    const fts = list.some((i) => i.columns.includes(FTS_COLUMN) && i.indexType.toUpperCase().includes("FTS"));
    const vector = list.find((i) => i.columns.includes(VECTOR_COLUMN))?.indexType;
    return { fts, vector };
  }

  /**
   * Index upkeep after a write. The full-text index is created with the first rows; rows added since its last
   * fold would otherwise be searched outside it (see ftsMaxUnindexedRatio), so past the ratio they are brought
   * in. After a lone write that is a fold (optimize: it also compacts the table, rewriting every small fragment).
   * Within an ingest ("more") it is a rebuild of the full-text index alone, up to FTS_REBUILD_MAX_ROWS: that
   * writes the index only (4 MB at 20k chunks of the bench corpus, where each compaction rewrote 40 MB of data),
   * and the ingest's one optimize() compacts at the end. When optimize() follows at once ("last"), it does the
   * upkeep.
   */
  async afterWrite(ingest?: "more" | "last"): Promise<void> {
    // Read even when upkeep is left to optimize(): reading the index is what finds its files damaged (the
    // fold reads only the new rows), so the ingest repairs it (test/reliability/store-repair.test.ts).
    const stats = await this.table.indexStats(FTS_INDEX);
    if (ingest === "last") return;
    if (!stats) {
      await this.createFullTextIndex();
      return;
    }
    if (stats.numUnindexedRows <= this.policy.ftsMaxUnindexedRatio * stats.numIndexedRows) return;
    if (ingest === "more" && stats.numIndexedRows + stats.numUnindexedRows <= FTS_REBUILD_MAX_ROWS) {
      await this.createFullTextIndex();
      return;
    }
    await this.compact();
  }

  async createFullTextIndex(): Promise<void> {
    await this.table.createIndex(FTS_COLUMN, { config: ftsIndex(), name: FTS_INDEX, replace: true });
  }

  /** Compaction, pruning of old versions and folding new rows into the existing indexes, in one call. */
  async compact(): Promise<void> {
    await this.table.optimize({ cleanupOlderThan: await this.cleanupCutoff() });
  }

  /**
   * LanceDB prunes versions by creation time, but a version stops being current only when the next one is
   * committed: after an idle hour the version every search starts on is an hour old, and pruning it right after
   * the next write deletes files under searches still reading it (they fail with "Not found"). So the cut-off
   * moves back far enough to keep every version that was current within `cleanupOlderThanMs`.
   */
  private async cleanupCutoff(): Promise<Date> {
    const keepSince = Date.now() - this.policy.cleanupOlderThanMs;
    const versions = (await this.table.listVersions()).sort((a, b) => a.version - b.version);
    let cutoff = keepSince;
    for (let i = 0; i + 1 < versions.length; i++) {
      const replacedAt = versions[i + 1]!.timestamp.getTime();
      if (replacedAt >= keepSince) cutoff = Math.min(cutoff, versions[i]!.timestamp.getTime() - CLEANUP_MARGIN_MS);
    }
    return new Date(cutoff);
  }

  /** Compact and fold, create a missing full-text index, and build or retrain the vector index when due. */
  async optimize(): Promise<void> {
    const policy = this.policy;
    await this.compact();
    const state = await this.indexState();
    const rows = await this.table.countRows();
    if (!state.fts && rows > 0) await this.createFullTextIndex();
    if (rows < policy.vectorIndexMinRows) return;
    const record = await this.vectorRecord.read();
    if (state.vector !== undefined && !record) {
      // An index without a record (built elsewhere): adopt it as trained on the current rows.
      await this.vectorRecord.write({ rows, partitions: vectorIndexPartitions(rows), builtAt: Date.now() });
      return;
    }
    const grown = record !== undefined && rows >= policy.vectorIndexRetrainGrowth * record.rows;
    if (state.vector === undefined || grown) {
      const partitions = vectorIndexPartitions(rows);
      await this.table.createIndex(VECTOR_COLUMN, {
        config: Index.ivfFlat({ distanceType: "dot", numPartitions: partitions }),
        name: VECTOR_INDEX,
        replace: true,
      });
      await this.vectorRecord.write({ rows, partitions, builtAt: Date.now() });
    }
  }
}
