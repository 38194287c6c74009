/**
 * Within-class whitening: a metric the cloud learns from many users' labelled features and every
 * user's nearest-centroid model then works in. The within-class scatter S_w (how a person's photos
 * spread around that person's mean: pose, light, a mask on or off) is estimated over all the
 * training people; features are mapped by P = S^-1/2 with S = S_w shrunk towards a multiple of
 * the identity, so directions along which one person's photos vary a lot (a mask's) count less in
 * the distance, and directions that tell people apart count more. Closed form (no SGD), one
 * symmetric eigendecomposition of a dim × dim matrix (Jacobi), fitted in a fraction of a second for
 * the 128-d face descriptor.
 *
 * It is what FedEx's cloud can learn and a FedAvg device cannot: it needs many people's features
 * at once, masked and not. Measured in bench `adapt` (masked LFW users, docs/adapt.md).
 *
 * Pure: typed arrays in and out; no tfjs, no I/O.
 */
import { FedexError } from '../core/errors.js';
import { classMeans } from './open-set.js';

export interface Whitening {
  dim: number;
  /** P, dim × dim, row-major: z = P (x - mean). */
  matrix: Float64Array;
  /** Mean of the training features (subtracted before P; distances do not depend on it). */
  mean: Float64Array;
  /** Shrinkage the scatter was fitted with (0 = none, 1 = the identity: plain Euclidean). */
  shrinkage: number;
}

/**
 * Eigenvalues and eigenvectors of a symmetric `n × n` matrix (row-major) by cyclic Jacobi
 * rotations. `vectors` holds the eigenvectors as columns, in the order of `values`.
 */
export function symmetricEigen(
  matrix: ArrayLike<number>,
  n: number,
  options: { maxSweeps?: number; tolerance?: number } = {},
): { values: Float64Array; vectors: Float64Array } {
  if (matrix.length !== n * n)
    throw new FedexError('BAD_ARGUMENT', `${matrix.length} values are not a ${n}×${n} matrix`);
  const a = Float64Array.from(matrix);
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++)
      if (Math.abs(a[i * n + j] - a[j * n + i]) > 1e-9 * (1 + Math.abs(a[i * n + j])))
        throw new FedexError('BAD_ARGUMENT', 'matrix is not symmetric');
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const maxSweeps = options.maxSweeps ?? 60;
  const tolerance = options.tolerance ?? 1e-12;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += a[i * n + i] ** 2;
      for (let j = i + 1; j < n; j++) off += a[i * n + j] ** 2;
    }
    if (off <= tolerance * tolerance * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < n - 1; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/**
 * Fits the whitening on labelled features `x` (rows of `dim`), labels `y` in 0..k-1. `shrinkage`
 * in [0, 1] blends the scatter with (its mean eigenvalue) × I: 0 trusts the estimate fully, 1 is
 * plain Euclidean distance (up to scale). Default 0.1.
 *
 * @example
 * // 2-d, two people; each person's photos spread ±2 along x and ±1 along y → S_w = diag(4, 1)
 * const w = fitWhitening(Float32Array.of(-2,-1, 2,1, 2,-1, -2,1, 8,9, 12,11, 12,9, 8,11), [0,0,0,0,1,1,1,1], 2, 2, { shrinkage: 0 });
 * // S_w = diag(32, 8) / (n - k = 6) = diag(16/3, 4/3) → w.matrix ≈ diag(√3/4, √3/2)
 */
export function fitWhitening(
  x: Float32Array,
  y: ArrayLike<number>,
  dim: number,
  k: number,
  options: { shrinkage?: number } = {},
): Whitening {
  const shrinkage = options.shrinkage ?? 0.1;
  if (!(shrinkage >= 0 && shrinkage <= 1))
    throw new FedexError('BAD_ARGUMENT', `shrinkage must be in [0, 1] (got ${shrinkage})`);
  const n = y.length;
  if (n <= k)
    throw new FedexError(
      'BAD_ARGUMENT',
      `need more samples (${n}) than classes (${k}) to estimate a scatter`,
    );
  const { means } = classMeans(x, y, dim, k);
  const scatter = new Float64Array(dim * dim);
  const r = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const c = y[i];
    for (let d = 0; d < dim; d++) r[d] = x[i * dim + d] - means[c * dim + d];
    for (let a = 0; a < dim; a++) {
      const ra = r[a];
      if (ra === 0) continue;
      for (let b = a; b < dim; b++) scatter[a * dim + b] += ra * r[b];
    }
  }
  let trace = 0;
  for (let a = 0; a < dim; a++) {
    for (let b = a; b < dim; b++) {
      const v = scatter[a * dim + b] / (n - k);
      scatter[a * dim + b] = v;
      scatter[b * dim + a] = v;
    }
    trace += scatter[a * dim + a];
  }
  const ridge = (trace / dim) * shrinkage;
  for (let a = 0; a < dim; a++)
    for (let b = 0; b < dim; b++)
      scatter[a * dim + b] = (1 - shrinkage) * scatter[a * dim + b] + (a === b ? ridge : 0);
  const { values, vectors } = symmetricEigen(scatter, dim);
  const floor = Math.max(1e-12, (trace / dim) * 1e-9);
  const matrix = new Float64Array(dim * dim);
  for (let a = 0; a < dim; a++)
    for (let b = 0; b < dim; b++) {
      let acc = 0;
      for (let e = 0; e < dim; e++)
        acc += (vectors[a * dim + e] * vectors[b * dim + e]) / Math.sqrt(Math.max(values[e], floor));
      matrix[a * dim + b] = acc;
    }
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += x[i * dim + d] / n;
  return { dim, matrix, mean, shrinkage };
}

/** Maps rows of `x` (each `w.dim` long) through the whitening. */
export function applyWhitening(w: Whitening, x: Float32Array): Float32Array {
  const { dim, matrix, mean } = w;
  if (x.length % dim !== 0) throw new FedexError('BAD_ARGUMENT', `${x.length} values are not rows of ${dim}`);
  const n = x.length / dim;
  const out = new Float32Array(x.length);
  const r = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) r[d] = x[i * dim + d] - mean[d];
    for (let a = 0; a < dim; a++) {
      let acc = 0;
      for (let b = 0; b < dim; b++) acc += matrix[a * dim + b] * r[b];
      out[i * dim + a] = acc;
    }
  }
  return out;
}
