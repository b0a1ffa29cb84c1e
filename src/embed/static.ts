import { readFileSync } from "node:fs";
import path from "node:path";
import { EmbeddingError } from "../errors.js";
import { readStaticTable, type StaticTable } from "./onnx-table.js";
import type { Embedder } from "./types.js";
import { FastWordPieceEncoder } from "./wordpiece.js";

export interface StaticEmbedderOptions {
  /** Stable id recorded with collections, e.g. `builtin:mrag-static-en@1`. */
  modelId: string;
  /** Model folder with tokenizer.json, tokenizer_config.json and onnx/model.onnx. */
  dir: string;
  /** Expected vector length (checked on load). */
  dimension?: number;
  /** Extra sentence for load errors, e.g. how to build the model. */
  missingModelHint?: string;
}

interface Loaded {
  tokenizer: FastWordPieceEncoder;
  table: StaticTable;
}

/**
 * A static embedding model (word -> vector table, then a weighted mean) computed in plain TypeScript: the
 * token ids of the WordPiece tokenizer index the int8 table, each row times its scale (the token weight) is
 * summed, and the sum is L2-normalised. That is exactly what the model's ONNX graph computes (mean pooling
 * divides by the token count, which normalisation removes), without ONNX Runtime or transformers.js.
 *
 * A text with no known token (empty, or only characters the vocabulary lacks: a Chinese or Japanese text for
 * the English builtin model) has no direction of its own and gets the zero vector: it scores 0 against every
 * query instead of 1.0 against every other such text (a fixed shared vector ranked all Chinese chunks of the
 * multilingual eval set equal, at the top, for 35 of its 54 questions), and a query with it gets no dense
 * ranking at all (the search tool falls back to keywords).
 */
export class StaticEmbedder implements Embedder {
  readonly modelId: string;
  readonly #options: StaticEmbedderOptions;
  #dimension: number;
  #loaded: Loaded | null = null;

  constructor(options: StaticEmbedderOptions) {
    this.modelId = options.modelId;
    this.#options = options;
    this.#dimension = options.dimension ?? 0;
  }

  get dimension(): number {
    return this.#dimension;
  }

  /** Always true: the WordPiece tokenizer is mrag's own (test/embed/builtin.test.ts checks it against transformers.js). */
  get usesFastTokenizer(): boolean {
    return true;
  }

  async init(): Promise<void> {
    this.#state();
  }

  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    const state = this.#state();
    return texts.map((t) => this.#embed(state, t));
  }

  async embedQuery(text: string): Promise<Float32Array> {
    return this.#embed(this.#state(), text);
  }

  async close(): Promise<void> {
    this.#loaded = null;
  }

  #state(): Loaded {
    if (this.#loaded) return this.#loaded;
    const { dir } = this.#options;
    const hint = this.#options.missingModelHint ? `; ${this.#options.missingModelHint}` : "";
    const tokenizer = FastWordPieceEncoder.load(dir);
    if (!tokenizer) {
      throw new EmbeddingError(
        `${this.modelId}: ${path.join(dir, "tokenizer.json")} is missing or not a WordPiece tokenizer${hint}`,
      );
    }
    const file = path.join(dir, "onnx", "model.onnx");
    let table: StaticTable;
    try {
      table = readStaticTable(readFileSync(file));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new EmbeddingError(`${this.modelId}: cannot read the static table in ${file} (${why})${hint}`, {
        cause: err,
      });
    }
    if (this.#dimension > 0 && table.dimension !== this.#dimension) {
      throw new EmbeddingError(
        `${this.modelId}: the model produces ${table.dimension}-dimensional vectors but ${this.#dimension} were expected`,
      );
    }
    this.#dimension = table.dimension;
    this.#loaded = { tokenizer, table };
    return this.#loaded;
  }

  #embed(state: Loaded, text: string): Float32Array {
    const { table, scales, dimension, vocabSize } = state.table;
    const sum = new Float64Array(dimension);
    let any = false;
    for (const id of state.tokenizer.encodeTruncated(text)) {
      const scale = id < vocabSize ? scales[id]! : 0;
      if (scale === 0) continue;
      any = true;
      const base = id * dimension;
      for (let k = 0; k < dimension; k++) sum[k] = sum[k]! + table[base + k]! * scale;
    }
    let sq = 0;
    for (let k = 0; k < dimension; k++) sq += sum[k]! * sum[k]!;
    const out = new Float32Array(dimension);
    if (!any || !(sq > 0) || !Number.isFinite(sq)) return out;
    const inv = 1 / Math.sqrt(sq);
    for (let k = 0; k < dimension; k++) out[k] = sum[k]! * inv;
    return out;
  }
}
