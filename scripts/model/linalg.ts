/**
 * Small dense linear algebra for the build: column means, covariance, a cyclic Jacobi eigensolver for
 * symmetric matrices, and PCA projection. Pure float64 arithmetic in a fixed order, so results are
 * bit-for-bit reproducible.
 */

/** Mean of the rows of a row-major [rows, dim] matrix, over the rows where `include(i)` is true. */
export function columnMeans(
  data: Float32Array | Float64Array,
  rows: number,
  dim: number,
  include: (row: number) => boolean,
): Float64Array {
  const mean = new Float64Array(dim);
  let count = 0;
  for (let i = 0; i < rows; i++) {
    if (!include(i)) continue;
    count++;
    const off = i * dim;
    for (let j = 0; j < dim; j++) mean[j] = mean[j]! + data[off + j]!;
  }
  if (count > 0) for (let j = 0; j < dim; j++) mean[j] = mean[j]! / count;
  return mean;
}

/** The few TensorFlow.js calls used here (the package's types point at a module it bundles). */
interface TfTensor {
  data(): Promise<Float32Array>;
  dispose(): void;
}
interface Tf {
  ready(): Promise<void>;
  tensor2d(values: Float32Array, shape: [number, number]): TfTensor;
  transpose(x: TfTensor): TfTensor;
  matMul(a: TfTensor, b: TfTensor): TfTensor;
}

let tfPromise: Promise<Tf> | undefined;
/** TF.js with the WASM backend (single-threaded SIMD here), which multiplies matrices far faster than plain JS. */
function loadTf(): Promise<Tf> {
  tfPromise ??= import("@energetic-ai/core").then(async (m) => {
    const tf = m as unknown as Tf;
    await tf.ready();
    return tf;
  });
  return tfPromise;
}

/** Included rows minus `mean`, as a float32 row-major matrix. */
function centredRows(
  data: Float32Array | Float64Array,
  rows: number,
  dim: number,
  mean: Float64Array,
  include: (row: number) => boolean,
): { matrix: Float32Array; index: number[] } {
  const index: number[] = [];
  for (let r = 0; r < rows; r++) if (include(r)) index.push(r);
  const matrix = new Float32Array(index.length * dim);
  index.forEach((r, i) => {
    for (let j = 0; j < dim; j++) matrix[i * dim + j] = data[r * dim + j]! - mean[j]!;
  });
  return { matrix, index };
}

/** Covariance matrix [dim, dim] of the included rows around `mean` (float32 products, float64 result). */
export async function covariance(
  data: Float32Array | Float64Array,
  rows: number,
  dim: number,
  mean: Float64Array,
  include: (row: number) => boolean,
): Promise<Float64Array> {
  const tf = await loadTf();
  const { matrix, index } = centredRows(data, rows, dim, mean, include);
  const x = tf.tensor2d(matrix, [index.length, dim]);
  const xt = tf.transpose(x);
  const product = tf.matMul(xt, x);
  const values = await product.data();
  for (const t of [x, xt, product]) t.dispose();
  const cov = new Float64Array(dim * dim);
  const n = Math.max(1, index.length);
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      // Average the two triangles so the matrix is exactly symmetric.
      const v = (values[i * dim + j]! + values[j * dim + i]!) / (2 * n);
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return cov;
}

export interface Eigen {
  /** Eigenvalues, descending. */
  values: Float64Array;
  /** Eigenvectors as rows: vectors[k * n + i] is component i of the k-th eigenvector. */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations. Each eigenvector's sign is fixed
 * so that its largest-magnitude component is positive.
 */
export function symmetricEigen(matrix: Float64Array, n: number, maxSweeps = 50): Eigen {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n); // rows are eigenvectors
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i]! ** 2;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off <= 1e-22 * total) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          if (k === p || k === q) continue;
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          const nkp = c * akp - s * akq;
          const nkq = s * akp + c * akq;
          a[k * n + p] = nkp;
          a[p * n + k] = nkp;
          a[k * n + q] = nkq;
          a[q * n + k] = nkq;
        }
        a[p * n + p] = app - t * apq;
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = 0;
        a[q * n + p] = 0;
        const pOff = p * n;
        const qOff = q * n;
        for (let k = 0; k < n; k++) {
          const vp = v[pOff + k]!;
          const vq = v[qOff + k]!;
          v[pOff + k] = c * vp - s * vq;
          v[qOff + k] = s * vp + c * vq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y * n + y]! - a[x * n + x]! || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src]!;
    let maxAbs = 0;
    let sign = 1;
    for (let k = 0; k < n; k++) {
      const x = v[src * n + k]!;
      if (Math.abs(x) > maxAbs) {
        maxAbs = Math.abs(x);
        sign = x < 0 ? -1 : 1;
      }
    }
    for (let k = 0; k < n; k++) vectors[dst * n + k] = sign * v[src * n + k]!;
  });
  return { values, vectors };
}

/**
 * Project rows onto the first `k` eigenvectors after subtracting `mean`: out[r, j] = (x_r - mean) . e_j.
 * Rows where `include(r)` is false become zero.
 */
export async function project(
  data: Float32Array | Float64Array,
  rows: number,
  dim: number,
  mean: Float64Array,
  eigenvectors: Float64Array,
  k: number,
  include: (row: number) => boolean,
): Promise<Float32Array> {
  const tf = await loadTf();
  const { matrix, index } = centredRows(data, rows, dim, mean, include);
  const basis = new Float32Array(dim * k); // [dim, k]: column c is eigenvector c
  for (let c = 0; c < k; c++) for (let j = 0; j < dim; j++) basis[j * k + c] = eigenvectors[c * dim + j]!;
  const x = tf.tensor2d(matrix, [index.length, dim]);
  const w = tf.tensor2d(basis, [dim, k]);
  const product = tf.matMul(x, w);
  const values = await product.data();
  for (const t of [x, w, product]) t.dispose();
  const out = new Float32Array(rows * k);
  index.forEach((r, i) => {
    out.set(values.subarray(i * k, (i + 1) * k), r * k);
  });
  return out;
}
