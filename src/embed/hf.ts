import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { EmbeddingError, UsageError } from "../errors.js";
import {
  conventionsFor,
  poolingFromFolder,
  TransformersEmbedder,
  type TransformersEmbedderOptions,
} from "./transformers.js";

export interface HfEmbedderOptions {
  /** Texts per model call (default 32). */
  batchSize?: number;
  /** Allow downloading hub models on first use (default true); local folders never download. */
  allowRemote?: boolean;
  /** Where downloaded hub models are cached (transformers.js' default cache when omitted). */
  cacheDir?: string;
  /** Weights variant; default: fp32 (onnx/model.onnx), or q8 when a local folder only has model_quantized.onnx. */
  dtype?: TransformersEmbedderOptions["dtype"];
}

/** True when the spec names a folder rather than a hub id (`org/name`). */
export function looksLikePath(target: string): boolean {
  return (
    path.isAbsolute(target) ||
    /^(\.{1,2}|~)([/\\]|$)/.test(target) ||
    /^[A-Za-z]:[/\\]/.test(target) ||
    (existsSync(target) && statSync(target).isDirectory())
  );
}

export function expandHome(target: string): string {
  return target === "~" || target.startsWith("~/") ? path.join(homedir(), target.slice(1)) : target;
}

/**
 * `hf:<hub id>` (e.g. `hf:Xenova/bge-small-en-v1.5`, downloaded once into the cache when allowed) or
 * `hf:<folder>` (absolute, `./relative` or `~/...`: a transformers.js model folder with config.json,
 * tokenizer.json and onnx/model.onnx). Prefixes and pooling follow the model family (see `conventionsFor`);
 * a folder's sentence-transformers `1_Pooling/config.json` overrides the pooling.
 * Model id: `hf:<hub id>`, or `hf:<absolute folder path>` for folders.
 */
export function createHfEmbedder(spec: string, options: HfEmbedderOptions = {}): TransformersEmbedder {
  const target = (spec.startsWith("hf:") ? spec.slice(3) : spec).trim();
  if (!target) throw new UsageError('embedder "hf:" needs a model id or a folder, e.g. hf:Xenova/bge-small-en-v1.5');
  const conventions = conventionsFor(target);
  const base: Omit<TransformersEmbedderOptions, "modelId" | "model"> = {
    batchSize: options.batchSize ?? 32,
    ...(conventions.queryPrefix ? { queryPrefix: conventions.queryPrefix } : {}),
    ...(conventions.documentPrefix ? { documentPrefix: conventions.documentPrefix } : {}),
  };

  if (looksLikePath(target)) {
    const folder = path.resolve(expandHome(target));
    if (!existsSync(folder) || !statSync(folder).isDirectory()) {
      throw new EmbeddingError(
        `hf:${target}: the model folder ${folder} does not exist; give a folder with config.json, tokenizer.json ` +
          "and onnx/model.onnx, or a Hugging Face model id such as hf:Xenova/bge-small-en-v1.5",
      );
    }
    const hasFp32 = existsSync(path.join(folder, "onnx", "model.onnx"));
    const hasQ8 = existsSync(path.join(folder, "onnx", "model_quantized.onnx"));
    return new TransformersEmbedder({
      ...base,
      modelId: `hf:${folder}`,
      model: folder,
      pooling: poolingFromFolder(folder) ?? conventions.pooling ?? "mean",
      localFilesOnly: true,
      dtype: options.dtype ?? (!hasFp32 && hasQ8 ? "q8" : "fp32"),
      missingModelHint: "A transformers.js model folder needs config.json, tokenizer.json and onnx/model.onnx.",
    });
  }

  const allowRemote = options.allowRemote ?? true;
  return new TransformersEmbedder({
    ...base,
    modelId: `hf:${target}`,
    model: target,
    pooling: conventions.pooling ?? "mean",
    localFilesOnly: !allowRemote,
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    ...(options.dtype ? { dtype: options.dtype } : {}),
    missingModelHint: allowRemote
      ? "Check the model id (it must have ONNX weights, e.g. the Xenova/ or onnx-community/ versions)."
      : `Allow downloads once (MRAG_HF_ALLOW_REMOTE=true or embed.hf.allowRemote) to fetch it into ${
          options.cacheDir ?? "the transformers.js cache"
        }, or use hf:<local folder>.`,
  });
}
