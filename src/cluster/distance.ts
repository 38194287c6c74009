/**
 * Pairwise Euclidean distances between face descriptors, as one dense symmetric n×n matrix — the
 * input every clustering algorithm here works from. Euclidean because the dlib/face-api descriptor
 * was trained for it (dlib's "same person" rule is distance < 0.6).
 *
 * 5,000 faces give 25M float32 values (100 MB): fine on a server or desktop. The matrix is filled
 * from ‖a‖² + ‖b‖² − 2a·b over one flat copy of the descriptors (one cache-friendly dot product per
 * pair, 4-way unrolled), and only the upper triangle is computed.
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
  const x = flatten(descriptors, dim);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = i * dim, end = k + dim; k < end; k++) s += x[k] * x[k];
    norms[i] = s;
  }
  const tail = dim - (dim % 4);
  for (let i = 0; i < n; i++) {
    const oi = i * dim;
    const ni = norms[i];
    for (let j = i + 1; j < n; j++) {
      const oj = j * dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let k = 0;
      for (; k < tail; k += 4) {
        s0 += x[oi + k] * x[oj + k];
        s1 += x[oi + k + 1] * x[oj + k + 1];
        s2 += x[oi + k + 2] * x[oj + k + 2];
        s3 += x[oi + k + 3] * x[oj + k + 3];
      }
      for (; k < dim; k++) s0 += x[oi + k] * x[oj + k];
      const sq = ni + norms[j] - 2 * (s0 + s1 + s2 + s3);
      // Rounding can make the square of a tiny distance slightly negative.
      const d = sq > 0 ? Math.sqrt(sq) : 0;
      data[i * n + j] = d;
      data[j * n + i] = d;
    }
  }
  return { n, data };
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
