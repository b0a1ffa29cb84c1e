/**
 * The fitting half of the sentence-level distillation (scripts/model/distill.ts): the student is the builtin
 * static table (a text's vector is the weighted sum of its token rows); the teacher gives one unit vector per
 * training text. Fits, alternately,
 *
 * - W (student dim x teacher dim) by ridge regression of the teacher vectors on the normalised student
 *   vectors, and
 * - one log-weight per token by gradient ascent (Adam) on the cosine between the projected student vector and
 *   the teacher vector, with an L2 pull towards the original weights.
 *
 * All in float64 plain TypeScript; the matrices are small (256 x 384).
 */
import { symmetricEigen } from "./linalg.js";

/** Token ids of every text, concatenated, with offsets[i]..offsets[i+1] the ids of text i. */
export interface Encoded {
  ids: Int32Array;
  offsets: Int32Array;
}

export function encodeTexts(texts: readonly string[], encode: (t: string) => number[], keep: (id: number) => boolean) {
  const all: number[] = [];
  const offsets = new Int32Array(texts.length + 1);
  texts.forEach((t, i) => {
    for (const id of encode(t)) if (keep(id)) all.push(id);
    offsets[i + 1] = all.length;
  });
  return { ids: Int32Array.from(all), offsets } satisfies Encoded;
}

/** Unit student vectors [n, dim] of texts `subset` (indexes), rows scaled by `factors`. */
export function studentVectors(
  enc: Encoded,
  subset: readonly number[],
  rows: Float32Array,
  dim: number,
  factors: Float64Array,
): Float64Array {
  const out = new Float64Array(subset.length * dim);
  subset.forEach((t, i) => {
    const o = i * dim;
    for (let p = enc.offsets[t]!; p < enc.offsets[t + 1]!; p++) {
      const id = enc.ids[p]!;
      const f = factors[id]!;
      const base = id * dim;
      for (let j = 0; j < dim; j++) out[o + j] = out[o + j]! + f * rows[base + j]!;
    }
    let sq = 0;
    for (let j = 0; j < dim; j++) sq += out[o + j]! ** 2;
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let j = 0; j < dim; j++) out[o + j] = out[o + j]! * inv;
  });
  return out;
}

/** Solve A X = B for symmetric positive definite A [n, n], B [n, k] (Cholesky). */
export function choleskySolve(a: Float64Array, n: number, b: Float64Array, k: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let p = 0; p < j; p++) s -= l[i * n + p]! * l[j * n + p]!;
      if (i === j) {
        if (!(s > 0)) throw new Error("matrix is not positive definite");
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j]!;
    }
  }
  const x = Float64Array.from(b);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < n; i++) {
      let s = x[i * k + c]!;
      for (let p = 0; p < i; p++) s -= l[i * n + p]! * x[p * k + c]!;
      x[i * k + c] = s / l[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = x[i * k + c]!;
      for (let p = i + 1; p < n; p++) s -= l[p * n + i]! * x[p * k + c]!;
      x[i * k + c] = s / l[i * n + i]!;
    }
  }
  return x;
}

/** Ridge regression: W [d, k] minimising |X W - Y|^2 + lambda * n * |W|^2 (X [n, d], Y [n, k]). */
export function ridge(
  x: Float64Array,
  y: Float32Array | Float64Array,
  n: number,
  d: number,
  k: number,
  lambda: number,
) {
  const g = new Float64Array(d * d);
  const b = new Float64Array(d * k);
  for (let r = 0; r < n; r++) {
    const xo = r * d;
    const yo = r * k;
    for (let i = 0; i < d; i++) {
      const xi = x[xo + i]!;
      if (xi === 0) continue;
      const gi = i * d;
      for (let j = i; j < d; j++) g[gi + j] = g[gi + j]! + xi * x[xo + j]!;
      const bi = i * k;
      for (let j = 0; j < k; j++) b[bi + j] = b[bi + j]! + xi * y[yo + j]!;
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < i; j++) g[i * d + j] = g[j * d + i]!;
    g[i * d + i] = g[i * d + i]! + lambda * n;
  }
  return choleskySolve(g, d, b, k);
}

/**
 * A square M [d, d] with M M^T = W W^T (W [d, k], k >= d): x M has the same inner products as x W, so the
 * table stays d-dimensional. M = U sqrt(Lambda) from the eigen-decomposition of W W^T. With alpha < 1, M M^T
 * is (1 - alpha) I + alpha W W^T (scaled to trace d): inner products between those of the base table and the
 * teacher's.
 */
export function squareEquivalent(w: Float64Array, d: number, k: number, alpha = 1): Float64Array {
  const wwt = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += w[i * k + p]! * w[j * k + p]!;
      wwt[i * d + j] = s;
      wwt[j * d + i] = s;
    }
  }
  if (alpha !== 1) {
    // shrink towards the base model's geometry: (1 - alpha) I + alpha W W^T scaled to trace d
    let trace = 0;
    for (let i = 0; i < d; i++) trace += wwt[i * d + i]!;
    for (let i = 0; i < d * d; i++) wwt[i] = (alpha * d * wwt[i]!) / trace;
    for (let i = 0; i < d; i++) wwt[i * d + i] = wwt[i * d + i]! + (1 - alpha);
  }
  const eig = symmetricEigen(wwt, d);
  const m = new Float64Array(d * d);
  for (let c = 0; c < d; c++) {
    const s = Math.sqrt(Math.max(eig.values[c]!, 0));
    for (let i = 0; i < d; i++) m[i * d + c] = eig.vectors[c * d + i]! * s;
  }
  return m;
}

/** rows [vocab, d] times W [d, k] for the tokens in `used` (others stay zero). */
export function projectRows(
  rows: Float32Array,
  vocab: number,
  d: number,
  w: Float64Array,
  k: number,
  used: Uint8Array,
) {
  const out = new Float32Array(vocab * k);
  const acc = new Float64Array(k);
  for (let r = 0; r < vocab; r++) {
    if (!used[r]) continue;
    acc.fill(0);
    for (let i = 0; i < d; i++) {
      const x = rows[r * d + i]!;
      if (x === 0) continue;
      for (let j = 0; j < k; j++) acc[j] = acc[j]! + x * w[i * k + j]!;
    }
    out.set(acc, r * k);
  }
  return out;
}

export interface WeightFitOptions {
  epochs: number;
  batch: number;
  lr: number;
  /** L2 pull of the log-weights towards 0 (the original weights). */
  l2: number;
  /** Log-weights stay within [-limit, limit]. */
  limit: number;
}

/**
 * Gradient ascent on the mean cosine(sum_t exp(a_t) u_t, y) over `train` texts, u = projected rows [vocab, k].
 * Returns the log-weights a (0 for tokens never seen).
 */
export function fitLogWeights(
  enc: Encoded,
  train: readonly number[],
  u: Float32Array,
  teacher: Float32Array,
  k: number,
  vocab: number,
  opts: WeightFitOptions,
  log: (msg: string) => void,
): Float64Array {
  const a = new Float64Array(vocab);
  const m1 = new Float64Array(vocab);
  const m2 = new Float64Array(vocab);
  const grad = new Float64Array(vocab);
  const touched = new Uint8Array(vocab);
  const s = new Float64Array(k);
  const g = new Float64Array(k);
  let step = 0;
  const order = [...train];
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    // deterministic shuffle (LCG)
    let seed = 12345 + epoch;
    for (let i = order.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const j = seed % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let cosSum = 0;
    for (let b0 = 0; b0 < order.length; b0 += opts.batch) {
      const batch = order.slice(b0, b0 + opts.batch);
      grad.fill(0);
      touched.fill(0);
      for (const t of batch) {
        s.fill(0);
        const from = enc.offsets[t]!;
        const to = enc.offsets[t + 1]!;
        if (to === from) continue;
        for (let p = from; p < to; p++) {
          const id = enc.ids[p]!;
          const e = Math.exp(a[id]!);
          const base = id * k;
          for (let j = 0; j < k; j++) s[j] = s[j]! + e * u[base + j]!;
        }
        let sq = 0;
        let dot = 0;
        const yo = t * k;
        for (let j = 0; j < k; j++) {
          sq += s[j]! ** 2;
          dot += s[j]! * teacher[yo + j]!;
        }
        const norm = Math.sqrt(sq);
        if (!(norm > 0)) continue;
        const cos = dot / norm;
        cosSum += cos;
        for (let j = 0; j < k; j++) g[j] = (teacher[yo + j]! - (cos * s[j]!) / norm) / norm;
        for (let p = from; p < to; p++) {
          const id = enc.ids[p]!;
          const base = id * k;
          let ug = 0;
          for (let j = 0; j < k; j++) ug += u[base + j]! * g[j]!;
          grad[id] = grad[id]! + Math.exp(a[id]!) * ug;
          touched[id] = 1;
        }
      }
      step++;
      const b1 = 0.9;
      const b2 = 0.999;
      for (let id = 0; id < vocab; id++) {
        if (!touched[id]) continue;
        const gr = grad[id]! / batch.length - opts.l2 * a[id]!;
        m1[id] = b1 * m1[id]! + (1 - b1) * gr;
        m2[id] = b2 * m2[id]! + (1 - b2) * gr * gr;
        const mh = m1[id]! / (1 - b1 ** step);
        const vh = m2[id]! / (1 - b2 ** step);
        a[id] = Math.max(-opts.limit, Math.min(opts.limit, a[id]! + (opts.lr * mh) / (Math.sqrt(vh) + 1e-8)));
      }
    }
    log(`weights epoch ${epoch + 1}/${opts.epochs}: train cosine ${(cosSum / order.length).toFixed(4)}`);
  }
  return a;
}

/** Mean cosine between student vectors (unit, [n, d]) times W ([d, k]) and teacher rows. */
export function meanCosine(x: Float64Array, n: number, d: number, w: Float64Array, k: number, y: Float32Array) {
  let total = 0;
  const p = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    p.fill(0);
    for (let i = 0; i < d; i++) {
      const xi = x[r * d + i]!;
      if (xi === 0) continue;
      for (let j = 0; j < k; j++) p[j] = p[j]! + xi * w[i * k + j]!;
    }
    let sq = 0;
    let dot = 0;
    for (let j = 0; j < k; j++) {
      sq += p[j]! ** 2;
      dot += p[j]! * y[r * k + j]!;
    }
    total += sq > 0 ? dot / Math.sqrt(sq) : 0;
  }
  return total / n;
}

/** Spearman rank correlation. */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const ranks = (v: readonly number[]): number[] => {
    const idx = v.map((_, i) => i).sort((i, j) => v[i]! - v[j]!);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length; ) {
      let j = i;
      while (j + 1 < idx.length && v[idx[j + 1]!] === v[idx[i]!]) j++;
      for (let q = i; q <= j; q++) r[idx[q]!] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (ra.length - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i]! - mean) * (rb[i]! - mean);
    da += (ra[i]! - mean) ** 2;
    db += (rb[i]! - mean) ** 2;
  }
  return num / Math.sqrt(da * db);
}

/**
 * M [d, d] times a whitening of the vectors x M (x: unit student vectors [n, d] of training texts): component
 * c of the eigenbasis of their covariance is scaled by (lambda_c / lambda_0)^(-power/2), as the base table's
 * PCA whitening does for token rows. Power 0 returns M.
 */
export function whitenAfter(m: Float64Array, d: number, x: Float64Array, n: number, power: number): Float64Array {
  if (power === 0) return m;
  const z = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      const xi = x[r * d + i]!;
      if (xi === 0) continue;
      for (let j = 0; j < d; j++) z[r * d + j] = z[r * d + j]! + xi * m[i * d + j]!;
    }
  }
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mean[j] = mean[j]! + z[r * d + j]! / n;
  const cov = new Float64Array(d * d);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      const zi = z[r * d + i]! - mean[i]!;
      for (let j = i; j < d; j++) cov[i * d + j] = cov[i * d + j]! + zi * (z[r * d + j]! - mean[j]!);
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i * d + j] = cov[j * d + i]!;
  const eig = symmetricEigen(cov, d);
  const top = eig.values[0]!;
  const out = new Float64Array(d * d);
  // out = m V diag(f): column c of the result is (m v_c) f_c
  for (let c = 0; c < d; c++) {
    const f = (Math.max(eig.values[c]!, top * 1e-9) / top) ** (-power / 2);
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += m[i * d + j]! * eig.vectors[c * d + j]!;
      out[i * d + c] = s * f;
    }
  }
  return out;
}
