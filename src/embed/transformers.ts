import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { FeatureExtractionPipeline } from "@huggingface/transformers";
import { EmbeddingError } from "../errors.js";
import type { Embedder } from "./types.js";

export type Pooling = "mean" | "cls";

/** Text prefixes and pooling a model family was trained with. */
export interface ModelConventions {
  queryPrefix?: string;
  documentPrefix?: string;
  pooling?: Pooling;
}

const RETRIEVAL_INSTRUCTION = "Represent this sentence for searching relevant passages: ";

/**
 * Prefixes (and pooling) of well-known embedding families, picked from a model id or folder name:
 * e5 (`query: ` / `passage: `), bge v1.5 English/Chinese (instruction on queries only, CLS pooling; not bge-m3),
 * nomic-embed-text (`search_query: ` / `search_document: `), mxbai-embed-large and snowflake-arctic-embed
 * (instruction on queries, CLS pooling). Unknown models get no prefix and mean pooling.
 */
export function conventionsFor(modelId: string): ModelConventions {
  const name = modelId.toLowerCase().replace(/\\/g, "/");
  const base = name.split("/").filter(Boolean).pop() ?? name;
  if (/(^|[-_])e5([-_]|$)/.test(base) && !base.includes("mistral")) {
    return { queryPrefix: "query: ", documentPrefix: "passage: ", pooling: "mean" };
  }
  if (base.startsWith("bge-") && !base.startsWith("bge-m3") && !base.includes("reranker")) {
    return { queryPrefix: RETRIEVAL_INSTRUCTION, pooling: "cls" };
  }
  if (base.startsWith("nomic-embed-text")) {
    return { queryPrefix: "search_query: ", documentPrefix: "search_document: ", pooling: "mean" };
  }
  if (base.startsWith("mxbai-embed-large") || base.startsWith("snowflake-arctic-embed")) {
    return { queryPrefix: RETRIEVAL_INSTRUCTION, pooling: "cls" };
  }
  return {};
}

/** Only the query/document prefixes of `conventionsFor` (what OpenAI-compatible endpoints need). */
export function prefixesFor(modelId: string): { queryPrefix?: string; documentPrefix?: string } {
  const { queryPrefix, documentPrefix } = conventionsFor(modelId);
  return { ...(queryPrefix ? { queryPrefix } : {}), ...(documentPrefix ? { documentPrefix } : {}) };
}

/**
 * Pooling declared by a sentence-transformers folder (`1_Pooling/config.json`), or null when the folder
 * has none or declares something other than mean / CLS pooling.
 */
export function poolingFromFolder(folder: string): Pooling | null {
  const file = path.join(folder, "1_Pooling", "config.json");
  if (!existsSync(file)) return null;
  try {
    const cfg = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    if (cfg.pooling_mode_cls_token === true) return "cls";
    if (cfg.pooling_mode_mean_tokens === true) return "mean";
  } catch {
    // unreadable: fall back to the defaults
  }
  return null;
}

/** Token ids and attention mask of a padded batch, row-major [batch, seq]. */
export interface EncodedBatch {
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  batch: number;
  seq: number;
}

/** BERT's punctuation class as transformers.js' BertPreTokenizer defines it. */
const PUNCTUATION = "\\p{P}\\u0021-\\u002F\\u003A-\\u0040\\u005B-\\u0060\\u007B-\\u007E";
const PRE_TOKEN = new RegExp(`[^\\s${PUNCTUATION}]+|[${PUNCTUATION}]`, "gu");
/** Control characters BertNormalizer(clean_text) drops (tab, newline and carriage return become spaces). */
const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\uFFFD]/gu;
/** CJK ideographs BertNormalizer(handle_chinese_chars) isolates (it tests UTF-16 code units, so BMP only). */
const CJK = /[\u4E00-\u9FFF\u3400-\u4DBF\uF900-\uFAFF]/g;
const SURROGATE = /[\uD800-\uDFFF]/;
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

interface AddedToken {
  id: number;
  content: string;
  normalized?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  single_word?: boolean;
}

/**
 * A fast re-implementation of exactly one tokenizer.json shape: WordPiece with BertNormalizer (optionally
 * followed by regex Replace normalizers), BertPreTokenizer, no post-processor and only non-normalised added
 * tokens (what mrag's builtin model uses). transformers.js' generic tokenizer spends about 1.5 ms per
 * 1,200-character chunk, more than the model itself; this one produces the same ids (the embedder checks that
 * on sample texts before using it) several times faster. `load` returns null for any other shape.
 */
export class FastWordPieceEncoder {
  readonly #vocab: Map<string, number>;
  readonly #unk: number;
  readonly #pad: number;
  readonly #prefix: string;
  readonly #maxChars: number;
  readonly #maxLength: number;
  readonly #added: Map<string, number>;
  readonly #addedSplit: RegExp | null;
  readonly #bert: { clean: boolean; cjk: boolean; lower: boolean; strip: boolean };
  readonly #replacements: { pattern: RegExp; content: string }[];
  readonly #cache = new Map<string, readonly number[]>();

  private constructor(init: {
    vocab: Map<string, number>;
    unk: number;
    pad: number;
    prefix: string;
    maxChars: number;
    maxLength: number;
    added: Map<string, number>;
    bert: { clean: boolean; cjk: boolean; lower: boolean; strip: boolean };
    replacements: { pattern: RegExp; content: string }[];
  }) {
    this.#vocab = init.vocab;
    this.#unk = init.unk;
    this.#pad = init.pad;
    this.#prefix = init.prefix;
    this.#maxChars = init.maxChars;
    this.#maxLength = init.maxLength;
    this.#added = init.added;
    this.#bert = init.bert;
    this.#replacements = init.replacements;
    const escaped = [...init.added.keys()]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    this.#addedSplit = escaped.length > 0 ? new RegExp(`(${escaped.join("|")})`, "g") : null;
  }

  /** Build from a model folder's tokenizer.json and tokenizer_config.json; null when the shape is not supported. */
  static load(folder: string): FastWordPieceEncoder | null {
    let tok: Record<string, unknown>;
    let cfg: Record<string, unknown>;
    try {
      tok = JSON.parse(readFileSync(path.join(folder, "tokenizer.json"), "utf8")) as Record<string, unknown>;
      const cfgFile = path.join(folder, "tokenizer_config.json");
      cfg = existsSync(cfgFile) ? (JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>) : {};
    } catch {
      return null;
    }
    return FastWordPieceEncoder.fromJson(tok, cfg);
  }

  /**
   * Build from parsed tokenizer.json and tokenizer_config.json objects; null when the shape is not supported.
   * `vocab` may pass an existing token -> id map of the same vocabulary (saves building one).
   */
  static fromJson(
    tok: Record<string, unknown>,
    cfg: Record<string, unknown>,
    vocab?: Map<string, number>,
  ): FastWordPieceEncoder | null {
    const model = tok.model as Record<string, unknown> | undefined;
    if (model?.type !== "WordPiece" || typeof model.vocab !== "object" || model.vocab === null) return null;
    if ((tok.pre_tokenizer as { type?: string } | null)?.type !== "BertPreTokenizer") return null;
    if (tok.post_processor !== null && tok.post_processor !== undefined) return null;
    if (cfg.remove_space || cfg.do_lowercase_and_remove_accent) return null;
    if (cfg.padding_side !== undefined && cfg.padding_side !== "right") return null;
    const norm = tok.normalizer as Record<string, unknown> | null;
    const parts = norm?.type === "Sequence" ? ((norm.normalizers as Record<string, unknown>[]) ?? []) : [norm];
    const [first, ...rest] = parts;
    if (first?.type !== "BertNormalizer") return null;
    const bert = {
      clean: first.clean_text === true,
      cjk: first.handle_chinese_chars === true,
      lower: first.lowercase === true,
      strip: first.lowercase === true && first.strip_accents !== false,
    };
    if (first.strip_accents === true && !bert.lower) return null;
    const replacements: { pattern: RegExp; content: string }[] = [];
    for (const r of rest) {
      const regex = (r?.pattern as { Regex?: unknown } | undefined)?.Regex;
      if (r?.type !== "Replace" || typeof regex !== "string" || /[$\\][\d<&`']/.test(String(r.content ?? "")))
        return null;
      try {
        replacements.push({ pattern: new RegExp(regex, "gu"), content: String(r.content ?? "") });
      } catch {
        return null;
      }
    }
    const vocabJson = model.vocab as Record<string, number>;
    const tokens = vocab && vocab.size > 0 ? vocab : new Map(Object.entries(vocabJson));
    const added = new Map<string, number>();
    for (const t of (tok.added_tokens as AddedToken[] | undefined) ?? []) {
      if (t.normalized || t.lstrip || t.rstrip || t.single_word) return null;
      added.set(t.content, t.id);
    }
    const unkToken = String(model.unk_token ?? "[UNK]");
    const unk = added.get(unkToken) ?? tokens.get(unkToken);
    const padToken = typeof cfg.pad_token === "string" ? cfg.pad_token : undefined;
    const pad = padToken === undefined ? 0 : (added.get(padToken) ?? tokens.get(padToken));
    if (unk === undefined || pad === undefined) return null;
    const maxLength = typeof cfg.model_max_length === "number" ? cfg.model_max_length : Number.POSITIVE_INFINITY;
    return new FastWordPieceEncoder({
      vocab: tokens,
      unk,
      pad,
      prefix: String(model.continuing_subword_prefix ?? "##"),
      maxChars: typeof model.max_input_chars_per_word === "number" ? model.max_input_chars_per_word : 100,
      maxLength: maxLength > 0 && maxLength < 1e9 ? maxLength : Number.POSITIVE_INFINITY,
      added,
      bert,
      replacements,
    });
  }

  /** Token ids of one text, before truncation and padding. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const sections = this.#addedSplit ? text.split(this.#addedSplit) : [text];
    for (const section of sections) {
      if (section.length === 0) continue;
      const special = this.#added.get(section);
      if (special !== undefined) {
        ids.push(special);
        continue;
      }
      const normalized = this.#normalize(section);
      for (const word of normalized.trim().match(PRE_TOKEN) ?? []) this.#word(word, ids);
    }
    return ids;
  }

  /** Token ids of one text truncated to model_max_length, as the pipeline's `truncation: true` does. */
  encodeTruncated(text: string): number[] {
    const ids = this.encode(text);
    return ids.length > this.#maxLength ? ids.slice(0, this.#maxLength) : ids;
  }

  /** Encode, truncate and right-pad a batch. */
  encodeBatch(texts: readonly string[]): EncodedBatch {
    return this.pad(texts.map((t) => this.encodeTruncated(t)));
  }

  /** Right-pad rows of ids into int64 tensors' data. */
  pad(rows: readonly (readonly number[])[]): EncodedBatch {
    const seq = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const inputIds = new BigInt64Array(rows.length * seq);
    const attentionMask = new BigInt64Array(rows.length * seq);
    // Write the low 32 bits through an Int32 view (ids are small and non-negative): much cheaper than BigInt().
    const ids32 = new Int32Array(inputIds.buffer);
    const mask32 = new Int32Array(attentionMask.buffer);
    const low = LITTLE_ENDIAN ? 0 : 1;
    rows.forEach((r, i) => {
      const base = i * seq;
      for (let j = 0; j < seq; j++) {
        const k = 2 * (base + j) + low;
        if (j < r.length) {
          ids32[k] = r[j]!;
          mask32[k] = 1;
        } else ids32[k] = this.#pad;
      }
    });
    return { inputIds, attentionMask, batch: rows.length, seq };
  }

  #normalize(text: string): string {
    let t = text;
    const b = this.#bert;
    if (b.clean) {
      t = t.replace(CONTROL, (c) => (c === "\t" || c === "\n" || c === "\r" ? " " : "")).replace(/\s/g, " ");
    }
    if (b.cjk) t = t.replace(CJK, " $& ");
    if (b.lower) {
      t = t.toLowerCase();
      if (b.strip) t = t.normalize("NFD").replace(/\p{Mn}/gu, "");
    }
    for (const r of this.#replacements) t = t.replaceAll(r.pattern, r.content);
    return t;
  }

  /** Greedy longest-match-first WordPiece, as transformers.js does it (over code points). */
  #word(word: string, out: number[]): void {
    const whole = this.#vocab.get(word);
    if (whole !== undefined && word.length <= this.#maxChars) {
      out.push(whole);
      return;
    }
    const cached = this.#cache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const chars = SURROGATE.test(word) ? [...word] : null;
    const length = chars ? chars.length : word.length;
    const slice = (a: number, b: number): string => (chars ? chars.slice(a, b).join("") : word.slice(a, b));
    let ids: number[] = [];
    if (length > this.#maxChars) ids = [this.#unk];
    else {
      let start = 0;
      while (start < length) {
        let end = length;
        let found: number | undefined;
        while (start < end) {
          const piece = start > 0 ? this.#prefix + slice(start, end) : slice(start, end);
          found = this.#vocab.get(piece);
          if (found !== undefined) break;
          end--;
        }
        if (found === undefined) {
          ids = [this.#unk];
          break;
        }
        ids.push(found);
        start = end;
      }
    }
    if (this.#cache.size > 100_000) this.#cache.clear();
    this.#cache.set(word, ids);
    for (const id of ids) out.push(id);
  }
}

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
    const tf = await import("@huggingface/transformers");
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

function fallbackVector(dim: number): Float32Array {
  return new Float32Array(dim).fill(dim > 0 ? 1 / Math.sqrt(dim) : 0);
}
