import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { EmbeddingError } from "../errors.js";
import { packageRoot } from "../paths.js";
import { StaticEmbedder } from "./static.js";

/** The parts of models/builtin/manifest.json the runtime uses (the build writes more). */
export interface BuiltinManifest {
  name: string;
  version: string;
  dimension: number;
  vocabSize: number;
  recipeHash: string;
  files: Record<string, { sha256: string; bytes: number }>;
  /** Ids of all-zero rows (padding, [UNK], stopwords), skipped before the model. */
  zeroTokenIds?: number[];
}

const BUILD_HINT = "run `npm run build:model` in the mrag folder (it also runs on `npm install`)";

/** models/builtin at the package root (found from this module, so src/ under vitest and dist/src/ both work). */
export function builtinModelDir(): string {
  return path.join(packageRoot(), "models", "builtin");
}

/** Read and check models/builtin/manifest.json; EmbeddingError when the model has not been built. */
export function readBuiltinManifest(dir: string = builtinModelDir()): BuiltinManifest {
  const file = path.join(dir, "manifest.json");
  if (!existsSync(file)) {
    throw new EmbeddingError(`the builtin embedding model is not built (${file} is missing); ${BUILD_HINT}`);
  }
  let manifest: BuiltinManifest;
  try {
    manifest = JSON.parse(readFileSync(file, "utf8")) as BuiltinManifest;
  } catch (err) {
    throw new EmbeddingError(`the builtin model manifest ${file} is unreadable; ${BUILD_HINT}`, { cause: err });
  }
  if (typeof manifest.name !== "string" || typeof manifest.version !== "string" || !(manifest.dimension > 0)) {
    throw new EmbeddingError(`the builtin model manifest ${file} is incomplete; ${BUILD_HINT}`);
  }
  for (const rel of Object.keys(manifest.files ?? {})) {
    if (!existsSync(path.join(dir, rel))) {
      throw new EmbeddingError(
        `the builtin embedding model is incomplete (${path.join(dir, rel)} is missing); ${BUILD_HINT}`,
      );
    }
  }
  return manifest;
}

export interface BuiltinEmbedderOptions {
  /** Model folder (default models/builtin at the package root). */
  dir?: string;
}

/**
 * The default embedder: mrag-static-en, a static (word -> vector) model distilled from Universal Sentence
 * Encoder lite, computed in plain TypeScript from the model folder (no ONNX Runtime), entirely offline.
 * Model id `builtin:<name>@<version>`.
 */
export function createBuiltinEmbedder(options: BuiltinEmbedderOptions = {}): StaticEmbedder {
  const dir = options.dir ?? builtinModelDir();
  const manifest = readBuiltinManifest(dir);
  return new StaticEmbedder({
    modelId: `builtin:${manifest.name}@${manifest.version}`,
    dir,
    dimension: manifest.dimension,
    missingModelHint: BUILD_HINT,
  });
}
