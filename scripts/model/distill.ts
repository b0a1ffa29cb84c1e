/**
 * Dev script: sentence-level distillation of the builtin model towards all-MiniLM-L6-v2 (the tokenlearn idea,
 * kept small enough to commit). Writes scripts/model/minilm-projection.bin, which `npm run build:model`
 * applies to the table it distils from USE-lite (scripts/model/projection.ts), so the install stays offline.
 *
 *   node dist/scripts/build-model.js --without-projection --out /tmp/mrag-base   # the table to correct
 *   node dist/scripts/model/distill.js --base /tmp/mrag-base [--teacher models/hf/all-MiniLM-L6-v2]
 *     [--sentences 24000] [--passages 4000] [--lambda 1e-3] [--rounds 1] [--epochs 4] [--alphas 1,0.5]
 *     [--whiten 0,0.5] [--datasets /work/shared/datasets] [--wordsim <dir with simlex999.txt, wordsim353.tsv>]
 *     [--no-report] [--write [--write-alpha 0.5] [--write-whiten 0.5] [--write-identity] [--write-file f]]
 *
 * The defaults reproduce the committed file: W fitted by ridge, one round of token weights, W refitted, then
 * the inner products shrunk halfway towards the base table's (alpha 0.5) and the output half-whitened.
 *
 * Training text: scripts/model/distill-corpus.ts (READMEs under node_modules, /usr/share/doc, man pages,
 * Python docstrings; never the evaluation sets). Every tenth text is held out to report the fit. The teacher's
 * vectors are cached under /tmp/mrag-distill. Reports, before and after: held-out cosine to the teacher,
 * Spearman of held-out pair similarities against the teacher's, SimLex-999 / WordSim-353 Spearman (if given),
 * and the dense retrieval checks of evaluate.ts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readStaticTable } from "../../src/embed/onnx-table.js";
import { FastWordPieceEncoder } from "../../src/embed/wordpiece.js";
import { findPackageRoot } from "./build.js";
import { type Corpus, collectCorpus } from "./distill-corpus.js";
import {
  type Encoded,
  encodeTexts,
  fitLogWeights,
  meanCosine,
  projectRows,
  ridge,
  spearman,
  squareEquivalent,
  studentVectors,
  whitenAfter,
} from "./distill-fit.js";
import { embedCorpusWithTeacher } from "./distill-teacher.js";
import { type EmbedFn, evaluateHotpot, evaluateMilvus } from "./evaluate.js";
import { vocabularySha256, writeProjection } from "./projection.js";
import { sha256 } from "./recipe.js";

const log = (m: string): void => {
  process.stderr.write(`[distill] ${m}\n`);
};

interface Student {
  encoder: FastWordPieceEncoder;
  rows: Float32Array;
  dim: number;
  vocab: number;
  tokens: string[];
  nonZero: (id: number) => boolean;
}

function loadStudent(dir: string): Student {
  const encoder = FastWordPieceEncoder.load(dir);
  if (!encoder) throw new Error(`${dir}: no WordPiece tokenizer`);
  const t = readStaticTable(readFileSync(path.join(dir, "onnx", "model.onnx")));
  const rows = new Float32Array(t.table.length);
  for (let r = 0; r < t.vocabSize; r++) {
    const s = t.scales[r]!;
    for (let j = 0; j < t.dimension; j++) rows[r * t.dimension + j] = t.table[r * t.dimension + j]! * s;
  }
  const vocabJson = JSON.parse(readFileSync(path.join(dir, "tokenizer.json"), "utf8")) as {
    model: { vocab: Record<string, number> };
  };
  const tokens = new Array<string>(t.vocabSize);
  for (const [tok, id] of Object.entries(vocabJson.model.vocab)) tokens[id] = tok;
  return {
    encoder,
    rows,
    dim: t.dimension,
    vocab: t.vocabSize,
    tokens,
    nonZero: (id) => id < t.vocabSize && t.scales[id]! !== 0,
  };
}

/** Embed texts with the student, rows scaled by `factors`, then times M [dim, dim]. */
function studentEmbedFn(st: Student, factors: Float64Array, m: Float64Array | null): EmbedFn {
  return async (texts) =>
    texts.map((text) => {
      const d = st.dim;
      const s = new Float64Array(d);
      for (const id of st.encoder.encodeTruncated(text)) {
        if (!st.nonZero(id)) continue;
        const f = factors[id]!;
        for (let j = 0; j < d; j++) s[j] = s[j]! + f * st.rows[id * d + j]!;
      }
      let out = s;
      if (m) {
        out = new Float64Array(d);
        for (let i = 0; i < d; i++) {
          const x = s[i]!;
          if (x === 0) continue;
          for (let j = 0; j < d; j++) out[j] = out[j]! + x * m[i * d + j]!;
        }
      }
      const n = Math.hypot(...out);
      return Float32Array.from(out, (x) => (n > 0 ? x / n : 0));
    });
}

function readWordSim(file: string): [string, string, number][] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#"))
    .map((l) => l.split("\t"))
    .map(([a, b, s]) => [a!.toLowerCase(), b!.toLowerCase(), Number(s)] as [string, string, number]);
}

function cos(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

interface Report {
  heldOutCosine: number;
  pairSpearman: number;
  simlex?: number;
  wordsim?: number;
  milvusRank: number;
  faqR1: number;
  faqMrr: number;
  hotpotR5: number;
  hotpotR10: number;
}

let reportsOn = true;

async function report(
  name: string,
  st: Student,
  factors: Float64Array,
  w: Float64Array | null,
  alpha: number,
  whiten: { power: number; x: Float64Array; n: number },
  k: number,
  heldOut: { enc: Encoded; idx: number[]; teacher: Float32Array; texts: string[] },
  values: { datasets: string; wordsim?: string | undefined },
): Promise<Report | null> {
  const d = st.dim;
  if (!reportsOn) return null;
  const x = studentVectors(heldOut.enc, heldOut.idx, st.rows, d, factors);
  // without W the student is not in the teacher's space: no cosine to report
  const heldOutCosine = w && alpha === 1 ? meanCosine(x, heldOut.idx.length, d, w, k, heldOut.teacher) : Number.NaN;
  const m = w ? whitenAfter(squareEquivalent(w, d, k, alpha), d, whiten.x, whiten.n, whiten.power) : null;
  const embed = studentEmbedFn(st, factors, m);
  const vecs = await embed(heldOut.texts);
  const sCos: number[] = [];
  const tCos: number[] = [];
  for (let i = 0; i + 1 < vecs.length; i += 2) {
    sCos.push(cos(vecs[i]!, vecs[i + 1]!));
    tCos.push(cos(heldOut.teacher.subarray(i * k, (i + 1) * k), heldOut.teacher.subarray((i + 1) * k, (i + 2) * k)));
  }
  const out: Report = {
    heldOutCosine,
    pairSpearman: spearman(sCos, tCos),
    milvusRank: 0,
    faqR1: 0,
    faqMrr: 0,
    hotpotR5: 0,
    hotpotR10: 0,
  };
  if (values.wordsim) {
    for (const [key, file] of [
      ["simlex", "simlex999.txt"],
      ["wordsim", "wordsim353.tsv"],
    ] as const) {
      const pairs = readWordSim(path.join(values.wordsim, file));
      const a = await embed(pairs.map((p) => p[0]));
      const b = await embed(pairs.map((p) => p[1]));
      out[key] = spearman(
        pairs.map((_, i) => cos(a[i]!, b[i]!)),
        pairs.map((p) => p[2]),
      );
    }
  }
  const mv = await evaluateMilvus(embed, path.join(values.datasets, "milvus-faq"));
  const hp = await evaluateHotpot(embed, path.join(values.datasets, "hotpotqa-100"));
  Object.assign(out, {
    milvusRank: mv.targetRank,
    faqR1: mv.recallAt1,
    faqMrr: mv.mrrAt10,
    hotpotR5: hp.recallAt5,
    hotpotR10: hp.recallAt10,
  });
  const f = (v: number | undefined): string => (v === undefined ? "-" : v.toFixed(3));
  process.stdout.write(
    `| ${name} | ${f(out.heldOutCosine)} | ${f(out.pairSpearman)} | ${f(out.simlex)} | ${f(out.wordsim)} | ` +
      `${out.milvusRank} | ${f(out.faqR1)} | ${f(out.faqMrr)} | ${f(out.hotpotR5)} | ${f(out.hotpotR10)} |\n`,
  );
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      base: { type: "string", default: "/tmp/mrag-base" },
      teacher: { type: "string" },
      sentences: { type: "string", default: "24000" },
      passages: { type: "string", default: "4000" },
      lambda: { type: "string", default: "1e-3" },
      rounds: { type: "string", default: "1" },
      epochs: { type: "string", default: "4" },
      l2: { type: "string", default: "1e-3" },
      lr: { type: "string", default: "0.02" },
      "no-weights": { type: "boolean", default: false },
      datasets: { type: "string", default: "/work/shared/datasets" },
      wordsim: { type: "string" },
      cache: { type: "string", default: "/tmp/mrag-distill" },
      alphas: { type: "string", default: "1,0.5" },
      "write-alpha": { type: "string", default: "0.5" },
      whiten: { type: "string", default: "0" },
      "write-whiten": { type: "string", default: "0.5" },
      write: { type: "boolean", default: false },
      "write-file": { type: "string" },
      "write-identity": { type: "boolean", default: false },
      "no-report": { type: "boolean", default: false },
    },
  });
  const root = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));
  reportsOn = !values["no-report"];
  const teacherDir = path.resolve(values.teacher ?? path.join(root, "models", "hf", "all-MiniLM-L6-v2"));
  if (!existsSync(path.join(teacherDir, "tokenizer.json"))) {
    throw new Error(`${teacherDir} is not a model folder; run node dist/scripts/model/prepare-minilm.js`);
  }
  const st = loadStudent(path.resolve(values.base));
  log(`student ${values.base}: ${st.vocab} tokens x ${st.dim}`);
  const t0 = performance.now();
  const corpusOptions = {
    nodeModules: path.join(root, "node_modules"),
    maxSentences: Number(values.sentences),
    maxPassages: Number(values.passages),
    exclude: ["milvus", "zilliz"],
  };
  const corpusFile = path.join(values.cache, `corpus-${sha256(JSON.stringify(corpusOptions)).slice(0, 16)}.json`);
  let corpus: Corpus;
  if (existsSync(corpusFile)) corpus = JSON.parse(readFileSync(corpusFile, "utf8")) as Corpus;
  else {
    corpus = collectCorpus(corpusOptions);
    mkdirSync(values.cache, { recursive: true });
    writeFileSync(corpusFile, JSON.stringify(corpus));
  }
  log(
    `corpus: ${corpus.files} files, ${corpus.sentences.length} sentences, ${corpus.passages.length} passages ` +
      `(${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
  const texts = [...corpus.sentences, ...corpus.passages];
  const teacher = await embedCorpusWithTeacher(texts, teacherDir, path.join(values.cache, "teacher"), log);
  const k = teacher.dimension;
  const enc = encodeTexts(texts, (t) => st.encoder.encodeTruncated(t), st.nonZero);
  const train: number[] = [];
  const held: number[] = [];
  texts.forEach((_, i) => {
    if (enc.offsets[i + 1]! === enc.offsets[i]!) return;
    (i % 10 === 0 ? held : train).push(i);
  });
  const trainY = new Float32Array(train.length * k);
  train.forEach((t, i) => {
    trainY.set(teacher.vectors.subarray(t * k, (t + 1) * k), i * k);
  });
  const heldTeacher = new Float32Array(held.length * k);
  held.forEach((t, i) => {
    heldTeacher.set(teacher.vectors.subarray(t * k, (t + 1) * k), i * k);
  });
  const heldOut = { enc, idx: held, teacher: heldTeacher, texts: held.map((i) => texts[i]!) };
  log(`train ${train.length} texts, held out ${held.length}`);

  process.stdout.write(
    "| variant | held-out cos | pair Spearman | SimLex | WordSim | milvus rank | FAQ R@1 | FAQ MRR@10 | hotpot R@5 | hotpot R@10 |\n" +
      "|---|---|---|---|---|---|---|---|---|---|\n",
  );
  const ones = new Float64Array(st.vocab).fill(1);
  const noWhiten = { power: 0, x: new Float64Array(0), n: 0 };
  await report("base (v1 table)", st, ones, null, 1, noWhiten, k, heldOut, values);

  const lambda = Number(values.lambda);
  let factors = ones;
  let w = ridge(studentVectors(enc, train, st.rows, st.dim, ones), trainY, train.length, st.dim, k, lambda);
  const alphas = values.alphas.split(",").map(Number);
  const powers = values.whiten.split(",").map(Number);
  const variants = async (label: string, xTrain: Float64Array): Promise<void> => {
    for (const alpha of alphas) {
      for (const power of powers) {
        const wh = { power, x: xTrain, n: train.length };
        await report(`${label}, alpha ${alpha}, whiten ${power}`, st, factors, w, alpha, wh, k, heldOut, values);
      }
    }
  };
  let xTrain = studentVectors(enc, train, st.rows, st.dim, factors);
  await variants(`W (ridge ${lambda})`, xTrain);
  if (!values["no-weights"]) {
    const used = new Uint8Array(st.vocab);
    for (const id of enc.ids) used[id] = 1;
    for (let round = 1; round < Number(values.rounds) + 1; round++) {
      const u = projectRows(st.rows, st.vocab, st.dim, w, k, used);
      // teacher rows aligned with text indexes for fitLogWeights
      const a = fitLogWeights(
        enc,
        train,
        u,
        teacher.vectors,
        k,
        st.vocab,
        { epochs: Number(values.epochs), batch: 256, lr: Number(values.lr), l2: Number(values.l2), limit: 3 },
        log,
      );
      factors = Float64Array.from(a, (x, id) => Math.exp(x) * ones[id]!);
      xTrain = studentVectors(enc, train, st.rows, st.dim, factors);
      w = ridge(xTrain, trainY, train.length, st.dim, k, lambda);
      await report(`token weights only, round ${round}`, st, factors, null, 1, noWhiten, k, heldOut, values);
      await variants(`W + token weights, round ${round}`, xTrain);
    }
  }
  if (values.write) {
    const m = values["write-identity"]
      ? Float64Array.from({ length: st.dim * st.dim }, (_, i) => (i % (st.dim + 1) === 0 ? 1 : 0))
      : whitenAfter(
          squareEquivalent(w, st.dim, k, Number(values["write-alpha"])),
          st.dim,
          xTrain,
          train.length,
          Number(values["write-whiten"]),
        );
    const file = path.resolve(values["write-file"] ?? path.join(root, "scripts", "model", "minilm-projection.bin"));
    writeProjection(file, {
      dimension: st.dim,
      vocabSize: st.vocab,
      vocabSha256: vocabularySha256(st.tokens),
      matrix: Float32Array.from(m),
      factors: Float32Array.from(factors),
    });
    log(`wrote ${file}`);
  }
  writeFileSync(path.join(values.cache, "last-run.json"), JSON.stringify({ values, texts: texts.length }));
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
