/** One question of an evaluation set. */
export interface EvalQuestion {
  /** Stable id: the dataset's own, or its index. */
  id: string;
  question: string;
  /** The reference answer, when the dataset has one (needed by `eval agent`). */
  answer?: string;
  /**
   * What counts as a correct retrieval: for datasets with a corpus, the `source` of gold documents; for a
   * user's JSONL, source ids or chunk ids of their already-ingested collection.
   */
  gold: string[];
}

/** A corpus document to ingest before evaluating, as a Markdown file at `source` (relative, POSIX). */
export interface EvalDocument {
  source: string;
  title: string;
  text: string;
}

export type DatasetFormat = "hotpotqa" | "musique" | "hipporag" | "jsonl";

export interface EvalDataset {
  /** For tables: the folder or file name. */
  name: string;
  /** The path it was read from. */
  path: string;
  format: DatasetFormat;
  questions: EvalQuestion[];
  /** Empty for JSONL: those questions are about the collection the user already ingested. */
  documents: EvalDocument[];
}
