/**
 * An embedding model as the rest of mrag sees it. Vectors are L2-normalised Float32Arrays, or all zeros for a
 * text the model has no word for (`isZeroVector`): such a text has no dense ranking.
 */
export interface Embedder {
  /** Stable id recorded in every collection, e.g. `builtin:mrag-static-en@1`, `hf:Xenova/bge-small-en-v1.5`, `openai:nomic-embed-text`. */
  readonly modelId: string;
  /** Vector length; 0 until `init()` for providers that discover it from the first response. */
  readonly dimension: number;
  /** Load the model or check the endpoint; idempotent. */
  init(): Promise<void>;
  /** Embed passages for storage (adds the document prefix the model expects, if any). */
  embedDocuments(texts: readonly string[]): Promise<Float32Array[]>;
  /** Embed a search query (adds the query prefix the model expects, if any). */
  embedQuery(text: string): Promise<Float32Array>;
  /** Release native resources. */
  close(): Promise<void>;
}
