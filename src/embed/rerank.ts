import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { EmbeddingError, UsageError } from "../errors.js";
import { createHfEmbedder, expandHome, looksLikePath } from "./hf.js";
import { importTransformers, type TransformersEmbedder } from "./transformers.js";

/**
 * The optional reranker stage of search (`search.rerank`): a second model that rescores the first fused hits
 * against the query. Two kinds, picked from the model's config.json:
 *
 * - `cross-encoder`: a `*ForSequenceClassification` model with one label (ms-marco-MiniLM-L-6-v2, the bge
 *   rerankers) reads query and passage together; the score is the logistic of its logit, in (0, 1).
 * - `bi-encoder`: any other encoder (a sentence-embedding model such as all-MiniLM-L6-v2, `BertModel` or a
 *   sentence-transformers folder): query and passages are embedded apart and the score is their cosine.
 *
 * Models run on transformers.js (an optional dependency, imported only here and for `hf:` embedders) and are
 * loaded once per process and spec.
 */
export type RerankerKind = "cross-encoder" | "bi-encoder";

export interface Reranker {
  /** `hf:<hub id>` or `hf:<absolute folder>`. */
  readonly modelId: string;
  readonly kind: RerankerKind;
  /** One relevance score per passage, higher is better: logistic of the logit, or cosine. */
  score(query: string, passages: readonly string[]): Promise<number[]>;
}

export interface RerankerOptions {
  /** Allow downloading hub models on first use (default true); folders never download. */
  allowRemote?: boolean;
  cacheDir?: string;
  /** Query-passage pairs per model call (default 16). */
  batchSize?: number;
}

/** What the config key is called, for error messages that tell the user what to change. */
const KEY = "search.rerankModel";

/**
 * The kind of reranker a model's config.json describes; `hasPoolingConfig` is a sentence-transformers folder's
 * `1_Pooling/config.json`. Throws a one-line error for a classifier with several labels or a model that is
 * neither kind (a masked-LM head, a decoder).
 */
export function rerankerKind(modelId: string, config: unknown, hasPoolingConfig = false): RerankerKind {
  const record = typeof config === "object" && config !== null ? (config as Record<string, unknown>) : {};
  const architectures = Array.isArray(record.architectures)
    ? record.architectures.filter((a): a is string => typeof a === "string")
    : [];
  if (architectures.some((a) => a.endsWith("ForSequenceClassification"))) {
    const id2label = record.id2label;
    const labels =
      typeof record.num_labels === "number"
        ? record.num_labels
        : typeof id2label === "object" && id2label !== null
          ? Object.keys(id2label).length
          : 1;
    if (labels !== 1) {
      throw new UsageError(
        `${KEY} ${modelId}: a sequence classifier with ${labels} labels is not a reranker; a cross-encoder has one ` +
          "label (its relevance logit), e.g. hf:Xenova/ms-marco-MiniLM-L-6-v2",
      );
    }
    return "cross-encoder";
  }
  if (hasPoolingConfig || architectures.length === 0 || architectures.some((a) => /Model$/.test(a))) {
    return "bi-encoder";
  }
  throw new UsageError(
    `${KEY} ${modelId}: ${architectures.join(", ")} is neither a cross-encoder (*ForSequenceClassification, one ` +
      "label) nor a sentence-embedding model (*Model); give one of those",
  );
}

function logistic(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

interface Target {
  modelId: string;
  /** What transformers.js loads: a hub id or an absolute folder. */
  model: string;
  folder: string | null;
}

function resolveTarget(spec: string): Target {
  const target = (spec.startsWith("hf:") ? spec.slice(3) : spec).trim();
  if (!target) throw new UsageError(`${KEY} "hf:" needs a model id or a folder, e.g. hf:Xenova/ms-marco-MiniLM-L-6-v2`);
  if (!looksLikePath(target)) return { modelId: `hf:${target}`, model: target, folder: null };
  const folder = path.resolve(expandHome(target));
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new EmbeddingError(
      `${KEY} hf:${target}: the model folder ${folder} does not exist; give a transformers.js folder (config.json, ` +
        "tokenizer.json, onnx/model.onnx) or a hub id such as hf:Xenova/ms-marco-MiniLM-L-6-v2",
    );
  }
  return { modelId: `hf:${folder}`, model: folder, folder };
}

function folderDtype(folder: string): "fp32" | "q8" {
  const hasFp32 = existsSync(path.join(folder, "onnx", "model.onnx"));
  return !hasFp32 && existsSync(path.join(folder, "onnx", "model_quantized.onnx")) ? "q8" : "fp32";
}

function loadError(target: Target, err: unknown, localOnly: boolean): EmbeddingError | UsageError {
  if (err instanceof EmbeddingError || err instanceof UsageError) return err;
  const msg = (err instanceof Error ? err.message : String(err)).split("\n")[0];
  const how = target.folder
    ? "the folder needs config.json, tokenizer.json and onnx/model.onnx (or model_quantized.onnx)"
    : localOnly
      ? "downloads are off (embed.hf.allowRemote), so it needs a cached copy"
      : "it could not be loaded from the Hugging Face hub (it needs ONNX weights, e.g. the Xenova/ versions)";
  return new EmbeddingError(`${KEY} ${target.modelId}: cannot load the reranker (${msg}); ${how}`, { cause: err });
}

type TransformersModule = Awaited<ReturnType<typeof importTransformers>>;
type TensorLike = { data: unknown; dims: number[]; dispose?: () => void };

async function loadCrossEncoder(tf: TransformersModule, target: Target, options: RerankerOptions): Promise<Reranker> {
  const localOnly = target.folder !== null || options.allowRemote === false;
  const load = {
    local_files_only: localOnly,
    ...(options.cacheDir ? { cache_dir: options.cacheDir } : {}),
    ...(target.folder ? { dtype: folderDtype(target.folder) } : {}),
  };
  let tokenizer: Awaited<ReturnType<typeof tf.AutoTokenizer.from_pretrained>>;
  let model: Awaited<ReturnType<typeof tf.AutoModelForSequenceClassification.from_pretrained>>;
  try {
    tokenizer = await tf.AutoTokenizer.from_pretrained(target.model, load);
    model = await tf.AutoModelForSequenceClassification.from_pretrained(target.model, load);
  } catch (err) {
    throw loadError(target, err, localOnly);
  }
  const batchSize = Math.max(1, options.batchSize ?? 16);
  return {
    modelId: target.modelId,
    kind: "cross-encoder",
    async score(query, passages) {
      const scores: number[] = new Array(passages.length).fill(0);
      // Longest first, so that each batch pads to similar lengths.
      const order = passages.map((_, i) => i).sort((a, b) => passages[b]!.length - passages[a]!.length || a - b);
      for (let i = 0; i < order.length; i += batchSize) {
        const idx = order.slice(i, i + batchSize);
        let outputs: Record<string, TensorLike | undefined>;
        try {
          const inputs = tokenizer(
            idx.map(() => query),
            { text_pair: idx.map((j) => passages[j]!), padding: true, truncation: true },
          );
          outputs = (await model(inputs)) as Record<string, TensorLike | undefined>;
        } catch (err) {
          throw new EmbeddingError(
            `${KEY} ${target.modelId}: reranking failed: ${(err instanceof Error ? err.message : String(err)).split("\n")[0]}`,
            { cause: err },
          );
        }
        const logits = outputs.logits;
        if (logits?.dims.length !== 2 || logits.dims[1] !== 1) {
          throw new EmbeddingError(`${KEY} ${target.modelId}: the model gave no [batch, 1] logits output`);
        }
        const data = logits.data as Float32Array;
        idx.forEach((j, k) => {
          scores[j] = logistic(data[k]!);
        });
        for (const t of Object.values(outputs)) t?.dispose?.();
      }
      return scores;
    },
  };
}

async function loadBiEncoder(target: Target, options: RerankerOptions): Promise<Reranker> {
  let embedder: TransformersEmbedder;
  try {
    embedder = createHfEmbedder(`hf:${target.model}`, {
      ...(options.allowRemote !== undefined ? { allowRemote: options.allowRemote } : {}),
      ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
      batchSize: options.batchSize ?? 16,
    });
    await embedder.init();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new EmbeddingError(`${KEY} ${target.modelId}: cannot load the reranker: ${msg}`, { cause: err });
  }
  return {
    modelId: target.modelId,
    kind: "bi-encoder",
    async score(query, passages) {
      if (passages.length === 0) return [];
      const [q, docs] = await Promise.all([embedder.embedQuery(query), embedder.embedDocuments(passages)]);
      // Unit vectors (or zero for a text without a known token): the dot product is the cosine.
      return docs.map((d) => {
        let dot = 0;
        for (let i = 0; i < d.length; i++) dot += d[i]! * q[i]!;
        return dot;
      });
    },
  };
}

async function load(spec: string, options: RerankerOptions): Promise<Reranker> {
  const target = resolveTarget(spec);
  const tf = await importTransformers(`${KEY} ${target.modelId}`);
  let config: unknown;
  let pooling = false;
  if (target.folder) {
    const file = path.join(target.folder, "config.json");
    try {
      config = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new EmbeddingError(
        `${KEY} ${target.modelId}: cannot read ${file} (${(err as Error).message.split("\n")[0]}); a transformers.js ` +
          "folder needs config.json, tokenizer.json and onnx/model.onnx",
        { cause: err },
      );
    }
    pooling = existsSync(path.join(target.folder, "1_Pooling", "config.json"));
  } else {
    const localOnly = options.allowRemote === false;
    tf.env.allowRemoteModels = !localOnly;
    try {
      config = await tf.AutoConfig.from_pretrained(target.model, {
        local_files_only: localOnly,
        ...(options.cacheDir ? { cache_dir: options.cacheDir } : {}),
      });
    } catch (err) {
      throw loadError(target, err, localOnly);
    }
  }
  const kind = rerankerKind(target.modelId, config, pooling);
  return kind === "cross-encoder" ? loadCrossEncoder(tf, target, options) : loadBiEncoder(target, options);
}

const cache = new Map<string, Promise<Reranker>>();

/**
 * The reranker for `spec` (`hf:<hub id or folder>`), loaded once per process; a failed load is not cached, so
 * the next search tries again and reports again.
 */
export function loadReranker(spec: string, options: RerankerOptions = {}): Promise<Reranker> {
  const key = JSON.stringify([spec, options.allowRemote ?? true, options.cacheDir ?? null, options.batchSize ?? 16]);
  let pending = cache.get(key);
  if (!pending) {
    pending = load(spec, options);
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
  }
  return pending;
}
