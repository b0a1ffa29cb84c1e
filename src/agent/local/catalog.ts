/**
 * GGUF models `mrag model pull` knows, and the cache folder they go to. Kept free of node-llama-cpp so the
 * preset's default model path can be resolved without loading it.
 *
 * The cache is `$MRAG_MODELS_DIR`, else `$XDG_CACHE_HOME/mrag/models`, else `~/.cache/mrag/models`.
 */
import os from "node:os";
import path from "node:path";

export interface KnownModel {
  /** What the user types: `mrag model pull gpt-oss-20b`. */
  name: string;
  /** Hugging Face repository and file. */
  repo: string;
  file: string;
  /**
   * sha256 of the file when pinned here; otherwise the hub's own (the LFS oid it reports for the file) is
   * fetched with the download and checked.
   */
  sha256?: string;
  /** One line for `mrag model list` and error messages. */
  about: string;
}

export const KNOWN_MODELS: readonly KnownModel[] = [
  {
    name: "gpt-oss-20b",
    repo: "ggml-org/gpt-oss-20b-GGUF",
    file: "gpt-oss-20b-mxfp4.gguf",
    about: "gpt-oss-20b in MXFP4 from ggml-org (about 12 GB; runs in 16 GB of RAM or VRAM with an 8k context)",
  },
];

export const DEFAULT_LOCAL_MODEL = "gpt-oss-20b";

export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MRAG_MODELS_DIR) return path.resolve(env.MRAG_MODELS_DIR);
  const cache = env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), ".cache");
  return path.join(cache, "mrag", "models");
}

export function knownModel(name: string): KnownModel | undefined {
  return KNOWN_MODELS.find((m) => m.name === name);
}

/** Where a known model lives once pulled. */
export function knownModelPath(model: KnownModel, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(modelsDir(env), model.file);
}

/**
 * The GGUF file `llm.model` names for the local preset: a known model's name (its cached file) or a path.
 */
export function resolveLocalModelPath(model: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const name = model ?? DEFAULT_LOCAL_MODEL;
  const known = knownModel(name);
  return known ? knownModelPath(known, env) : path.resolve(name);
}
