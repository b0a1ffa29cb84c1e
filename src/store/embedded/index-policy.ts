import { Index } from "@lancedb/lancedb";

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
   * After a write, fold new rows into the full-text index (an incremental optimize) once the rows it does not
   * cover exceed this fraction of the rows it covers. LanceDB 0.31 scores rows outside the index with
   * statistics that can drop them (a term new to the index that occurs more often in the new rows than there
   * are rows gets a negative IDF), so the uncovered share is kept small.
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

/** The vector index: IVF_FLAT on dot product (the vectors are unit length), `partitions` partitions. */
export function vectorIndex(partitions: number): Index {
  return Index.ivfFlat({ distanceType: "dot", numPartitions: partitions });
}

/** How the vector index was trained, as recorded in the store marker. */
export interface VectorIndexRecord {
  rows: number;
  partitions: number;
  builtAt: number;
}
