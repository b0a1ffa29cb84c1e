/**
 * Turns teacher vectors into the final embedding table: PCA (optionally whitened, optionally dropping the
 * leading components) or plain centring, optional unit-length rows, token weights (SIF from Zipf rank,
 * log-rank or uniform; zero for stopwords), and int8 per-row quantisation whose per-row scale also carries the
 * token weight.
 */
import { columnMeans, covariance, project, symmetricEigen } from "./linalg.js";
import type { VocabEntry } from "./vocab.js";

export type Weighting =
  /** SIF: a / (a + p(w)), p from Zipf's law over GloVe's frequency rank. */
  | { scheme: "sif"; a: number }
  /** log(1 + rank), so rarer words weigh more (model2vec's earlier Zipf weighting). */
  | { scheme: "logrank" }
  | { scheme: "none" };

export interface TableOptions {
  /** PCA to this many dimensions (the teacher's dimension = a rotation); null keeps the teacher's axes. */
  pcaDimension: number | null;
  /** Without PCA: subtract the mean row (the common component). PCA always centres. */
  center: boolean;
  weighting: Weighting;
  /** Rank used for entries without a GloVe rank (technical words, pieces). */
  unknownRank: number;
  /** Extra weight factor for WordPiece continuation pieces and single characters. */
  pieceFactor: number;
  /** PCA only: skip this many leading principal components ("all-but-the-top" common-direction removal). */
  dropComponents?: number;
  /** PCA only: scale component c by (eigenvalue_c / eigenvalue_0)^(-power/2); 0 keeps PCA, 1 whitens fully. */
  whitenPower?: number;
  /** Scale every row to unit length before weighting. */
  normalizeRows?: boolean;
  /** Weight 0 for GloVe's `stopwordRank` most frequent words. */
  stopwordRank?: number;
  /** Weight 0 for these words (function words, question words). */
  stopwords?: readonly string[];
}

/** Size of GloVe 6B's vocabulary, the normaliser of the Zipf distribution. */
const GLOVE_VOCAB = 400_000;
const HARMONIC = Math.log(GLOVE_VOCAB) + 0.5772156649;

const stopwordSets = new WeakMap<readonly string[], Set<string>>();

function isStopword(word: string, list: readonly string[] | undefined): boolean {
  if (!list || list.length === 0) return false;
  let set = stopwordSets.get(list);
  if (!set) {
    set = new Set(list);
    stopwordSets.set(list, set);
  }
  return set.has(word);
}

export function tokenWeight(entry: VocabEntry, opts: TableOptions): number {
  if (entry.kind === "special") return 0;
  if (entry.rank !== null && entry.rank <= (opts.stopwordRank ?? 0)) return 0;
  if (entry.kind === "word" && isStopword(entry.token, opts.stopwords)) return 0;
  const rank = entry.rank ?? opts.unknownRank;
  let w: number;
  switch (opts.weighting.scheme) {
    case "sif": {
      const p = 1 / (rank * HARMONIC);
      w = opts.weighting.a / (opts.weighting.a + p);
      break;
    }
    case "logrank":
      w = Math.log1p(rank) / Math.log1p(opts.unknownRank);
      break;
    case "none":
      w = 1;
      break;
  }
  if (entry.kind === "continuation" || entry.kind === "char") w *= opts.pieceFactor;
  return w;
}

export interface EmbeddingTable {
  table: Int8Array;
  scales: Float32Array;
  dimension: number;
  /** Eigenvalue share kept by PCA (1 without PCA). */
  explainedVariance: number;
}

/** Build the quantised table from teacher vectors [entries.length, teacherDim] (special rows are ignored). */
export async function buildTable(
  entries: readonly VocabEntry[],
  teacher: Float32Array,
  teacherDim: number,
  opts: TableOptions,
  log: (msg: string) => void = () => {},
): Promise<EmbeddingTable> {
  const rows = entries.length;
  const include = (r: number): boolean => entries[r]?.kind !== "special";
  let vectors: Float32Array | Float64Array = teacher;
  let dim = teacherDim;
  let explainedVariance = 1;
  if (opts.pcaDimension !== null) {
    const t0 = performance.now();
    const mean = columnMeans(teacher, rows, teacherDim, include);
    const cov = await covariance(teacher, rows, teacherDim, mean, include);
    const t1 = performance.now();
    const eig = symmetricEigen(cov, teacherDim);
    const t2 = performance.now();
    const drop = opts.dropComponents ?? 0;
    dim = Math.min(opts.pcaDimension, teacherDim - drop);
    const basis = eig.vectors.subarray(drop * teacherDim, (drop + dim) * teacherDim);
    const projected = await project(teacher, rows, teacherDim, mean, basis, dim, include);
    const power = opts.whitenPower ?? 0;
    if (power !== 0) {
      const top = eig.values[0]!;
      const factors = Array.from(
        { length: dim },
        (_, c) => (Math.max(eig.values[drop + c]!, 1e-12) / top) ** (-power / 2),
      );
      for (let i = 0; i < projected.length; i++) projected[i] = projected[i]! * factors[i % dim]!;
    }
    vectors = projected;
    let kept = 0;
    let all = 0;
    eig.values.forEach((v, i) => {
      all += v;
      if (i >= drop && i < drop + dim) kept += v;
    });
    explainedVariance = kept / all;
    log(
      `PCA ${teacherDim} -> ${dim}: ${(100 * explainedVariance).toFixed(1)}% of variance kept ` +
        `(covariance ${((t1 - t0) / 1000).toFixed(1)} s, eigen ${((t2 - t1) / 1000).toFixed(1)} s, ` +
        `projection ${((performance.now() - t2) / 1000).toFixed(1)} s)`,
    );
  } else if (opts.center) {
    const mean = columnMeans(teacher, rows, teacherDim, include);
    const centred = new Float64Array(rows * teacherDim);
    for (let r = 0; r < rows; r++) {
      if (!include(r)) continue;
      for (let j = 0; j < teacherDim; j++) centred[r * teacherDim + j] = teacher[r * teacherDim + j]! - mean[j]!;
    }
    vectors = centred;
  }

  const table = new Int8Array(rows * dim);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const entry = entries[r]!;
    const w = tokenWeight(entry, opts);
    if (w === 0) continue;
    const off = r * dim;
    let maxAbs = 0;
    let sumSq = 0;
    for (let j = 0; j < dim; j++) {
      const x = vectors[off + j]!;
      maxAbs = Math.max(maxAbs, Math.abs(x));
      sumSq += x * x;
    }
    if (maxAbs === 0) continue;
    const step = maxAbs / 127;
    const rowWeight = opts.normalizeRows ? w / Math.sqrt(sumSq) : w;
    for (let j = 0; j < dim; j++) {
      table[off + j] = Math.max(-127, Math.min(127, Math.round(vectors[off + j]! / step)));
    }
    scales[r] = step * rowWeight;
  }
  return { table, scales, dimension: dim, explainedVariance };
}
