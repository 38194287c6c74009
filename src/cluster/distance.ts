/**
 * Pairwise Euclidean distances between face descriptors, as one dense symmetric n×n matrix — the
 * input every clustering algorithm here works from. Euclidean because the dlib/face-api descriptor
 * was trained for it (dlib's "same person" rule is distance < 0.6).
 *
 * 5,000 faces give 25M float32 values (100 MB): fine on a server or desktop. The matrix is filled
 * from ‖a‖² + ‖b‖² − 2a·b over one flat float64 copy of the descriptors, upper triangle only, in
 * 2×2 blocks of pairs. ./distance-tf.ts computes the same matrix on the tfjs engine, about 3x
 * faster on the WASM backend; every algorithm takes either.
 *
 * Platform-neutral and pure.
 */
import { checkDescriptors } from './types.js';

/** A dense symmetric distance matrix: `data[i * n + j]` is the distance from face i to face j. */
export interface DistanceMatrix {
  n: number;
  data: Float32Array;
}

/** Copies descriptors into one row-major Float32Array (`n × dim`). */
export function flatten(descriptors: readonly Float32Array[], dim: number): Float32Array {
  const flat = new Float32Array(descriptors.length * dim);
  for (let i = 0; i < descriptors.length; i++) flat.set(descriptors[i], i * dim);
  return flat;
}

/**
 * All pairwise Euclidean distances (diagonal 0).
 *
 * @throws FedexError BAD_ARGUMENT for descriptors of different lengths or non-finite values.
 * @example
 * const d = pairwiseDistances([Float32Array.of(0, 0), Float32Array.of(3, 4)]);
 * d.data[1]; // 5
 */
export function pairwiseDistances(descriptors: readonly Float32Array[]): DistanceMatrix {
  const n = descriptors.length;
  const dim = checkDescriptors(descriptors);
  const data = new Float32Array(n * n);
  if (n === 0) return { n, data };
  // Float64 copy: V8 reads it without a float32 -> float64 conversion per element.
  const x = Float64Array.from(flatten(descriptors, dim));
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) norms[i] = dot(x, i * dim, x, i * dim, dim);
  const put = (i: number, j: number, ij: number): void => {
    const sq = norms[i] + norms[j] - 2 * ij;
    // Rounding can make the square of a tiny distance slightly negative.
    const d = sq > 0 ? Math.sqrt(sq) : 0;
    data[i * n + j] = d;
    data[j * n + i] = d;
  };
  // Upper triangle in 2x2 blocks of pairs: each loaded value serves two dot products.
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const a0 = i * dim;
    const a1 = a0 + dim;
    put(i, i + 1, dot(x, a0, x, a1, dim));
    let j = i + 2;
    for (; j + 1 < n; j += 2) {
      const b0 = j * dim;
      const b1 = b0 + dim;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let k = 0; k < dim; k++) {
        const u0 = x[a0 + k];
        const u1 = x[a1 + k];
        const v0 = x[b0 + k];
        const v1 = x[b1 + k];
        s00 += u0 * v0;
        s01 += u0 * v1;
        s10 += u1 * v0;
        s11 += u1 * v1;
      }
      put(i, j, s00);
      put(i, j + 1, s01);
      put(i + 1, j, s10);
      put(i + 1, j + 1, s11);
    }
    if (j < n) {
      put(i, j, dot(x, a0, x, j * dim, dim));
      put(i + 1, j, dot(x, a1, x, j * dim, dim));
    }
  }
  // With n odd the last row has no pair left to compute (its column was filled above).
  return { n, data };
}

function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, dim: number): number {
  let s = 0;
  for (let k = 0; k < dim; k++) s += a[ao + k] * b[bo + k];
  return s;
}

/** Euclidean distance of two descriptors of the same length. */
export function euclideanDistance(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) {
    const t = a[k] - b[k];
    s += t * t;
  }
  return Math.sqrt(s);
}
