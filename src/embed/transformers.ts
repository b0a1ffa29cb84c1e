import path from "node:path";
import type { FeatureExtractionPipeline } from "@huggingface/transformers";
import { EmbeddingError } from "../errors.js";
import type { Pooling } from "./conventions.js";
import type { Embedder } from "./types.js";
import { type EncodedBatch, FastWordPieceEncoder } from "./wordpiece.js";

export { conventionsFor, type ModelConventions, type Pooling, poolingFromFolder, prefixesFor } from "./conventions.js";
export { type EncodedBatch, FastWordPieceEncoder } from "./wordpiece.js";

export interface TransformersEmbedderOptions {
  /** Id recorded in collections: `builtin:mrag-static-en@1`, `hf:Xenova/bge-small-en-v1.5`, `hf:/abs/folder`. */
  modelId: string;
  /** What transformers.js loads: a hub id (`Xenova/bge-small-en-v1.5`) or an absolute folder path. */
  model: string;
  /** Known vector length (checked at init); discovered from a probe embedding when omitted. */
  dimension?: number;
  /** Texts per model call (default 32). */
  batchSize?: number;
  queryPrefix?: string;
  documentPrefix?: string;
  pooling?: Pooling;
  /** Never download: only the folder / the cache (default true). */
  localFilesOnly?: boolean;
  /** Where hub models are cached (transformers.js' default cache when omitted). */
  cacheDir?: string;
  /** ONNX weights variant: `fp32` loads onnx/model.onnx, `q8` onnx/model_quantized.onnx, ... */
  dtype?: "auto" | "fp32" | "fp16" | "q8" | "int8" | "uint8" | "q4" | "bnb4" | "q4f16";
  /** Use FastWordPieceEncoder when a local folder's tokenizer supports it and matches transformers.js (default true). */
  fastTokenizer?: boolean;
  /**
   * Token ids whose embedding row is all zeros (padding, [UNK], zero-weight stopwords of a static model). With
   * the fast tokenizer and mean pooling they are dropped before the model: the mean then changes only by a
   * constant factor, which normalisation removes, and the model has fewer tokens to process.
   */
  zeroTokenIds?: readonly number[];
  /** Extra sentence for "model not found" errors, e.g. how to build or download it. */
  missingModelHint?: string;
}

/** Texts the fast tokenizer must encode exactly like transformers.js before it is used. */
const TOKENIZER_CHECK_TEXTS = [
  "How is data stored in Milvus? See https://milvus.io/docs (v2.4) and www.example.com/a?b=c.",
  "Crème brûlée, naïve café; ÅNGSTRÖM Ǆ ß İstanbul \u00e9\u0301 — “quotes” «guillemets» 100%!",
  "tabs\tnew\nlines\r\u000b\u000c\u0085\u200b\ufeff\u2028nbsp\u00a0end \u0000\ufffd",
  "中文字符和日本語のテキスト 한국어 𠀀𪚥 emoji 👍🏽 math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  "supercalifragilisticexpialidocious getElementById k8s ipv6 x86_64 [PAD] [UNK]x [pad] ##ing",
  `${"a".repeat(120)} ${"zq".repeat(40)} snake_case_identifier CamelCaseIdentifier 3.14159e-10`,
];

type TransformersModule = typeof import("@huggingface/transformers");
type TensorLike = { data: unknown; dims: number[]; dispose?: () => void };
/** The part of an onnxruntime InferenceSession used to fetch one output. */
interface OrtSession {
  inputNames?: readonly string[];
  outputNames?: readonly string[];
  run(feeds: Record<string, unknown>, fetches: string[]): Promise<Record<string, TensorLike | undefined>>;
}
interface LoadedState {
  pipe: FeatureExtractionPipeline;
  tf: TransformersModule;
  fast: FastWordPieceEncoder | null;
}

/**
 * An `Embedder` over a transformers.js feature-extraction pipeline (ONNX Runtime for Node): mean or CLS
 * pooling, L2-normalised, documents batched (sorted by length so batches pad little), optional query and
 * document prefixes. Used for the builtin static model and for `hf:` models.
 *
 * It calls the pipeline's tokenizer and model and pools itself (the same maths as the pipeline's
 * `{ pooling, normalize: true }`, but without its slow JavaScript pooling loop); a model that outputs
 * `sentence_embedding` (mrag's builtin) is used as is. For local folders whose tokenizer.json is the simple
 * WordPiece shape of the builtin model, `FastWordPieceEncoder` replaces the generic tokenizer after checking
 * that both agree on sample texts.
 *
 * A text with no known token (empty, or only characters the vocabulary lacks) has no direction of its own;
 * it gets a fixed unit vector (all components equal) so that it can still be stored and compared.
 */
export class TransformersEmbedder implements Embedder {
  readonly modelId: string;
  readonly #options: TransformersEmbedderOptions;
  #dimension: number;
  #loaded: LoadedState | null = null;
  #loading: Promise<LoadedState> | null = null;
  #zeroIdSet: ReadonlySet<number> | null = null;

  constructor(options: TransformersEmbedderOptions) {
    this.modelId = options.modelId;
    this.#options = options;
    this.#dimension = options.dimension ?? 0;
  }

  get dimension(): number {
    return this.#dimension;
  }

  /** Whether the fast tokenizer is in use (after `init()`). */
  get usesFastTokenizer(): boolean {
    return this.#loaded?.fast != null;
  }

  async init(): Promise<void> {
    await this.#state();
  }

  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    const prefix = this.#options.documentPrefix ?? "";
    return this.#embedMany(texts.map((t) => prefix + t));
  }

  async embedQuery(text: string): Promise<Float32Array> {
    const [vector] = await this.#embedMany([(this.#options.queryPrefix ?? "") + text]);
    if (!vector) throw new EmbeddingError(`${this.modelId}: no vector returned for the query`);
    return vector;
  }

  async close(): Promise<void> {
    const pending = this.#loading;
    this.#loading = null;
    // A load still in flight is awaited so that its ONNX session is released too.
    const loaded = this.#loaded ?? (pending ? await pending.catch(() => null) : null);
    this.#loaded = null;
    if (loaded) await loaded.pipe.dispose();
  }

  #state(): Promise<LoadedState> {
    if (this.#loaded) return Promise.resolve(this.#loaded);
    this.#loading ??= this.#load().then(
      (state) => {
        this.#loaded = state;
        return state;
      },
      (err: unknown) => {
        this.#loading = null;
        throw err;
      },
    );
    return this.#loading;
  }

  async #load(): Promise<LoadedState> {
    const o = this.#options;
    const localOnly = o.localFilesOnly ?? true;
    const tf = await importTransformers(this.modelId);
    // transformers.js does not pass `local_files_only` everywhere (config lookups during file resolution
    // still try the hub), so the global switch must agree with this load.
    tf.env.allowRemoteModels = !localOnly;
    let pipe: FeatureExtractionPipeline;
    try {
      pipe = await tf.pipeline("feature-extraction", o.model, {
        local_files_only: localOnly,
        ...(o.cacheDir ? { cache_dir: o.cacheDir } : {}),
        ...(o.dtype ? { dtype: o.dtype } : {}),
      });
    } catch (err) {
      throw this.#loadError(err, localOnly);
    }
    let fast: FastWordPieceEncoder | null = null;
    if ((o.fastTokenizer ?? true) && path.isAbsolute(o.model)) {
      // The pipeline's tokenizer keeps the parsed JSON (`_tokenizerJSON`, `_tokenizerConfig`); reusing it
      // saves parsing the vocabulary twice. Fall back to reading the files if that ever changes.
      const held = pipe.tokenizer as unknown as {
        _tokenizerJSON?: unknown;
        _tokenizerConfig?: unknown;
        _tokenizer?: { model?: { tokens_to_ids?: unknown } };
      };
      const map = held._tokenizer?.model?.tokens_to_ids;
      fast =
        isRecord(held._tokenizerJSON) && isRecord(held._tokenizerConfig)
          ? FastWordPieceEncoder.fromJson(
              held._tokenizerJSON,
              held._tokenizerConfig,
              map instanceof Map ? (map as Map<string, number>) : undefined,
            )
          : FastWordPieceEncoder.load(o.model);
      if (fast && !agrees(fast, pipe)) fast = null;
    }
    const state = { pipe, tf, fast };
    const probe = await this.#run(state, ["dimension probe"]);
    const dim = probe[0]?.length ?? 0;
    if (this.#dimension > 0 && dim !== this.#dimension) {
      await pipe.dispose();
      throw new EmbeddingError(
        `${this.modelId}: the model produces ${dim}-dimensional vectors but ${this.#dimension} were expected`,
      );
    }
    this.#dimension = dim;
    return state;
  }

  #loadError(err: unknown, localOnly: boolean): EmbeddingError {
    const msg = err instanceof Error ? err.message : String(err);
    const hint = this.#options.missingModelHint ? ` ${this.#options.missingModelHint}` : "";
    if (
      /not found locally|Could not locate file|local_files_only|allowRemoteModels|ENOENT|Unauthorized access/i.test(msg)
    ) {
      const where = path.isAbsolute(this.#options.model) ? ` in ${this.#options.model}` : "";
      const how = localOnly
        ? "downloads are off, so it needs an existing local copy"
        : "it could not be downloaded from the Hugging Face hub";
      return new EmbeddingError(`${this.modelId}: model files not found${where}; ${how}.${hint}`, { cause: err });
    }
    if (/fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network/i.test(msg)) {
      return new EmbeddingError(
        `${this.modelId}: cannot reach the Hugging Face hub to download the model (${msg}); download it once ` +
          `with network access, or point hf: at a local folder.${hint}`,
        { cause: err },
      );
    }
    return new EmbeddingError(`${this.modelId}: cannot load the model: ${msg}.${hint}`, { cause: err });
  }

  async #embedMany(texts: readonly string[]): Promise<Float32Array[]> {
    const state = await this.#state();
    if (state.fast && (this.#options.pooling ?? "mean") === "mean") return this.#embedFast(state, state.fast, texts);
    const out: Float32Array[] = new Array(texts.length);
    const batchSize = Math.max(1, this.#options.batchSize ?? 32);
    // Longest first, so that each batch pads to similar lengths and the first batch shows the peak memory.
    const order = texts.map((_, i) => i).sort((a, b) => texts[b]!.length - texts[a]!.length || a - b);
    for (let i = 0; i < order.length; i += batchSize) {
      const idx = order.slice(i, i + batchSize);
      const vectors = await this.#run(
        state,
        idx.map((j) => texts[j]!),
      );
      idx.forEach((j, k) => {
        out[j] = vectors[k]!;
      });
    }
    return out;
  }

  /** Fast path: tokenize everything, drop zero-row tokens, batch by token count, pool inside the model. */
  async #embedFast(state: LoadedState, fast: FastWordPieceEncoder, texts: readonly string[]): Promise<Float32Array[]> {
    const zero = this.#zeroIds;
    const rows = texts.map((t) => {
      const ids = fast.encodeTruncated(t);
      return zero.size > 0 ? ids.filter((id) => !zero.has(id)) : ids;
    });
    const out: Float32Array[] = new Array(texts.length);
    const order = rows
      .map((_, i) => i)
      .filter((i) => rows[i]!.length > 0)
      .sort((a, b) => rows[b]!.length - rows[a]!.length || a - b);
    const batchSize = Math.max(1, this.#options.batchSize ?? 32);
    for (let i = 0; i < order.length; i += batchSize) {
      const idx = order.slice(i, i + batchSize);
      let pooled: Float32Array[];
      try {
        pooled = await this.#forwardIds(state, fast.pad(idx.map((j) => rows[j]!)));
      } catch (err) {
        if (err instanceof EmbeddingError) throw err;
        throw new EmbeddingError(
          `${this.modelId}: embedding failed: ${err instanceof Error ? err.message : String(err)}`,
          {
            cause: err,
          },
        );
      }
      idx.forEach((j, k) => {
        const v = pooled[k];
        if (v && normalizeInPlace(v)) out[j] = v;
      });
    }
    const dim = this.#dimension || out.find((v) => v !== undefined)?.length || 0;
    for (let j = 0; j < texts.length; j++) out[j] ??= fallbackVector(dim);
    return out;
  }

  get #zeroIds(): ReadonlySet<number> {
    this.#zeroIdSet ??= new Set(this.#options.zeroTokenIds ?? []);
    return this.#zeroIdSet;
  }

  /** One model call; texts without any token get the fallback vector. */
  async #run(state: LoadedState, texts: readonly string[]): Promise<Float32Array[]> {
    const live = texts.map((_, i) => i).filter((i) => texts[i]!.trim() !== "");
    const result: (Float32Array | null)[] = texts.map(() => null);
    if (live.length > 0) {
      try {
        const pooled = await this.#forward(
          state,
          live.map((i) => texts[i]!),
        );
        live.forEach((i, k) => {
          result[i] = pooled[k] ?? null;
        });
      } catch (err) {
        if (err instanceof EmbeddingError) throw err;
        throw new EmbeddingError(
          `${this.modelId}: embedding failed: ${err instanceof Error ? err.message : String(err)}`,
          {
            cause: err,
          },
        );
      }
    }
    const dim = this.#dimension || result.find((r) => r !== null)?.length || 0;
    return result.map((v) => (v && normalizeInPlace(v) ? v : fallbackVector(dim)));
  }

  /** Tokenize, run the model and pool (not yet normalised). */
  async #forward(state: LoadedState, texts: string[]): Promise<Float32Array[]> {
    if (state.fast) return this.#forwardIds(state, state.fast.encodeBatch(texts));
    const enc = state.pipe.tokenizer(texts, { padding: true, truncation: true }) as unknown as Record<
      string,
      TensorLike
    >;
    const [batch = 0, seq = 0] = enc.input_ids!.dims;
    if (seq === 0) return [];
    return this.#pool(state, enc, enc.attention_mask!.data as BigInt64Array, batch, seq);
  }

  async #forwardIds(state: LoadedState, enc: EncodedBatch): Promise<Float32Array[]> {
    if (enc.seq === 0) return [];
    const { Tensor } = state.tf;
    const inputs = {
      input_ids: new Tensor("int64", enc.inputIds, [enc.batch, enc.seq]),
      attention_mask: new Tensor("int64", enc.attentionMask, [enc.batch, enc.seq]),
    };
    // A model with an in-graph `sentence_embedding` is asked for that output only, straight from its ONNX
    // Runtime session: ORT then keeps [batch, seq, dim] `last_hidden_state` internal instead of copying it out.
    const session = (state.pipe.model as unknown as { sessions?: Record<string, unknown> }).sessions?.model as
      | OrtSession
      | undefined;
    if ((this.#options.pooling ?? "mean") === "mean" && session?.outputNames?.includes("sentence_embedding")) {
      const feeds: Record<string, unknown> = {};
      for (const name of session.inputNames ?? []) {
        const t = inputs[name as keyof typeof inputs];
        if (!t) return this.#pool(state, inputs, enc.attentionMask, enc.batch, enc.seq);
        feeds[name] = t.ort_tensor;
      }
      const out = await session.run(feeds, ["sentence_embedding"]);
      const sentence = out.sentence_embedding;
      if (sentence && sentence.dims.length === 2) {
        const dim = Number(sentence.dims[1]);
        const data = sentence.data as Float32Array;
        const rows = Array.from({ length: enc.batch }, (_, i) => data.slice(i * dim, (i + 1) * dim));
        sentence.dispose?.();
        return rows;
      }
    }
    return this.#pool(state, inputs, enc.attentionMask, enc.batch, enc.seq);
  }

  /** Run the model; take `sentence_embedding` for mean pooling when the model has it, else pool here. */
  async #pool(
    state: LoadedState,
    inputs: Record<string, unknown>,
    mask: BigInt64Array,
    batch: number,
    seq: number,
  ): Promise<Float32Array[]> {
    const outputs = (await state.pipe.model(inputs)) as Record<string, TensorLike | undefined>;
    try {
      const pooling = this.#options.pooling ?? "mean";
      const sentence = outputs.sentence_embedding;
      const hidden = outputs.last_hidden_state ?? outputs.logits ?? outputs.token_embeddings;
      if (pooling === "mean" && sentence && sentence.dims.length === 2) {
        const dim = sentence.dims[1]!;
        const data = sentence.data as Float32Array;
        return Array.from({ length: batch }, (_, i) => data.slice(i * dim, (i + 1) * dim));
      }
      if (hidden && hidden.dims.length === 3) {
        return poolHidden(hidden.data as Float32Array, mask, batch, seq, hidden.dims[2]!, pooling);
      }
      throw new EmbeddingError(`${this.modelId}: the model has no last_hidden_state output to pool`);
    } finally {
      for (const t of Object.values(outputs)) t?.dispose?.();
    }
  }
}

/**
 * transformers.js (and ONNX Runtime under it) is an optional dependency: only `hf:` models need it, and it is
 * several hundred MB, so a default install goes without. Missing, it is one line saying how to add it.
 */
export async function importTransformers(modelId: string): Promise<TransformersModule> {
  try {
    return await import("@huggingface/transformers");
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new EmbeddingError(
        `${modelId}: hf: models run on transformers.js, which is not installed; add it with \`npm i @huggingface/transformers\` (the builtin embedder needs nothing)`,
        { cause: err },
      );
    }
    throw err;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Same ids as the transformers.js tokenizer on the check texts? */
function agrees(fast: FastWordPieceEncoder, pipe: FeatureExtractionPipeline): boolean {
  try {
    for (const text of TOKENIZER_CHECK_TEXTS) {
      const expected = (pipe.tokenizer.encode(text) as number[]).map(Number);
      const actual = fast.encode(text);
      if (expected.length !== actual.length || expected.some((id, i) => id !== actual[i])) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Mean over unmasked tokens, or the first token, of a row-major [batch, seq, dim] tensor. */
function poolHidden(
  data: Float32Array,
  mask: BigInt64Array,
  batch: number,
  seq: number,
  dim: number,
  pooling: Pooling,
): Float32Array[] {
  const out: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    const v = new Float32Array(dim);
    if (pooling === "cls") v.set(data.subarray(b * seq * dim, b * seq * dim + dim));
    else {
      let count = 0;
      for (let t = 0; t < seq; t++) {
        if (mask[b * seq + t] === 0n) continue;
        count++;
        const off = (b * seq + t) * dim;
        for (let k = 0; k < dim; k++) v[k] = v[k]! + data[off + k]!;
      }
      if (count > 0) for (let k = 0; k < dim; k++) v[k] = v[k]! / count;
    }
    out.push(v);
  }
  return out;
}

/** Scale to unit length; false when the vector is zero or not finite (a text whose tokens are all unknown). */
function normalizeInPlace(v: Float32Array): boolean {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  if (!Number.isFinite(sum) || sum <= 0) return false;
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  return true;
}

/**
 * The vector of a text with no token (empty, or only tokens the model drops): zero, like the static path
 * (static.ts), so it ranks with nothing instead of scoring 1.0 against every other such text.
 */
function fallbackVector(dim: number): Float32Array {
  return new Float32Array(dim);
}
