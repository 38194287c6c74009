/**
 * Cohort normalisation of face distances: how far is this face from faces of people who are
 * surely someone else? Each face's `k` nearest faces in a cohort — descriptors of people who are
 * not in the gallery — give it an impostor mean μ and spread σ; the distance of two faces i, j then
 * also reads as ½((d − μᵢ)/σᵢ + (d − μⱼ)/σⱼ): below 0, they are closer than either is to its
 * nearest strangers. A face in a crowded part of descriptor space (a common look, a poor photo)
 * has a small μ, and the same raw distance counts for less there. It is the per-face, non-linear
 * correction that a global metric (whitening, docs/clustering.md) could not give, and it is the
 * 13th feature of a cohort merge model (./learned-merge.ts).
 *
 * Pure and platform-neutral. The cohort is data the deployer brings (descriptors of other people,
 * e.g. the calibration people of `fedex cluster --eval`); none ships with the library.
 */
import { FedexError } from '../core/errors.js';
import { euclideanDistance as distance } from './distance.js';
import { checkDescriptors } from './types.js';

/** Nearest cohort faces per face. Default of every function here and of the cohort merge models. */
export const DEFAULT_COHORT_K = 20;

/** Per face (gallery order): the mean and the spread of its distances to its k nearest cohort faces. */
export interface CohortStats {
  /** The number of nearest cohort faces the statistics are over (a cohort model checks it). */
  k: number;
  mean: Float64Array;
  spread: Float64Array;
}

/**
 * Checks statistics for `n` faces: one mean and one spread per face, finite, spreads > 0, and
 * taken over `k` cohort faces when `k` is given.
 *
 * @throws FedexError BAD_ARGUMENT naming what is wrong.
 */
export function checkCohortStats(stats: CohortStats, n: number, k?: number): void {
  const bad = (why: string): never => {
    throw new FedexError('BAD_ARGUMENT', `cohort statistics: ${why}`);
  };
  if (stats.mean.length !== n || stats.spread.length !== n)
    bad(`they are for ${stats.mean.length} faces, not ${n}`);
  if (k !== undefined && stats.k !== k) bad(`taken over k = ${stats.k}, the model needs k = ${k}`);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(stats.mean[i])) bad(`face ${i} has a non-finite mean`);
    if (!(stats.spread[i] > 0 && Number.isFinite(stats.spread[i])))
      bad(`face ${i} has a spread that is not finite and > 0`);
  }
}

/** The spread is floored here, so a face with k identical neighbours cannot divide by zero. */
const MIN_SPREAD = 1e-6;

function checkK(k: number, cohortSize: number): void {
  if (!(Number.isInteger(k) && k >= 1)) {
    throw new FedexError('BAD_ARGUMENT', `cohort k must be a positive integer, got ${String(k)}`);
  }
  if (cohortSize < k) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `the cohort holds ${cohortSize} faces, fewer than k = ${k}: give it descriptors of more people`,
    );
  }
}

function statsOf(sorted: ArrayLike<number>, k: number): [number, number] {
  let m = 0;
  for (let t = 0; t < k; t++) m += sorted[t];
  m /= k;
  let v = 0;
  for (let t = 0; t < k; t++) v += (sorted[t] - m) ** 2;
  return [m, Math.max(Math.sqrt(v / k), MIN_SPREAD)];
}

/**
 * Each face's impostor mean and spread over its `k` nearest cohort faces.
 *
 * @throws FedexError BAD_ARGUMENT for descriptors of different lengths, a bad `k`, or a cohort
 *   smaller than `k`.
 * @example
 * const stats = cohortStats(galleryDescriptors, otherPeoplesDescriptors); // k = 20
 */
export function cohortStats(
  faces: readonly Float32Array[],
  cohort: readonly Float32Array[],
  k: number = DEFAULT_COHORT_K,
): CohortStats {
  checkK(k, cohort.length);
  const dim = checkDescriptors(faces);
  const cohortDim = checkDescriptors(cohort);
  if (dim > 0 && cohortDim !== dim) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `the cohort's descriptors have ${cohortDim} values, the faces' ${dim}: both must come from the same network and views`,
    );
  }
  const mean = new Float64Array(faces.length);
  const spread = new Float64Array(faces.length);
  const nearest = new Float64Array(k);
  faces.forEach((f, i) => {
    // The k smallest distances, kept sorted by insertion (k is small next to the cohort).
    let n = 0;
    for (let c = 0; c < cohort.length; c++) {
      const d = distance(f, cohort[c]);
      if (n === k && d >= nearest[k - 1]) continue;
      let t = n < k ? n++ : k - 1;
      while (t > 0 && nearest[t - 1] > d) {
        nearest[t] = nearest[t - 1];
        t--;
      }
      nearest[t] = d;
    }
    [mean[i], spread[i]] = statsOf(nearest, k);
  });
  return { k, mean, spread };
}

/**
 * A labelled cohort's nearest faces for many faces, computed once, from which the statistics of
 * any gallery follow while leaving out chosen people — what fitting and evaluation need: a
 * calibration gallery's faces must not find the gallery's own people in the cohort.
 *
 * @example
 * const index = new CohortIndex(descriptors, calibrationFaceIds, labels);
 * const stats = index.statsFor(gallery.faces, new Set(gallery.people));
 */
export class CohortIndex {
  /** Per face: the nearest `depth` cohort faces' distances (ascending) and persons. */
  private readonly near: { d: Float32Array; person: Int32Array }[] = [];

  /**
   * @param descriptors every face's descriptor (faces are named by index into it)
   * @param cohortFaces the indices of the cohort's faces
   * @param labels each face's person (by index); a face never finds its own person
   * @param k nearest cohort faces per face
   * @param depth neighbours kept per face (≥ k), so that up to `depth − k` left-out faces cost no recount
   * @throws FedexError BAD_ARGUMENT for a bad k or depth, cohort indices outside `descriptors`, or
   *   labels that are not one per descriptor.
   */
  constructor(
    private readonly descriptors: readonly Float32Array[],
    private readonly cohortFaces: readonly number[],
    private readonly labels: ArrayLike<number>,
    readonly k: number = DEFAULT_COHORT_K,
    depth = 256,
  ) {
    checkK(k, cohortFaces.length);
    checkDescriptors(descriptors);
    if (labels.length !== descriptors.length)
      throw new FedexError('BAD_ARGUMENT', `${labels.length} labels for ${descriptors.length} descriptors`);
    if (!cohortFaces.every((j) => Number.isInteger(j) && j >= 0 && j < descriptors.length))
      throw new FedexError('BAD_ARGUMENT', `cohort face indices must lie in 0..${descriptors.length - 1}`);
    if (!(Number.isInteger(depth) && depth >= k))
      throw new FedexError('BAD_ARGUMENT', `depth must be an integer >= k = ${k}, got ${String(depth)}`);
    const all = new Float64Array(cohortFaces.length);
    const order = Array.from({ length: cohortFaces.length }, (_, c) => c);
    for (let i = 0; i < descriptors.length; i++) {
      for (let c = 0; c < cohortFaces.length; c++) {
        const j = cohortFaces[c];
        all[c] =
          labels[j] === labels[i] ? Number.POSITIVE_INFINITY : distance(descriptors[i], descriptors[j]);
      }
      order.sort((a, b) => all[a] - all[b]);
      const m = Math.min(depth, order.length);
      const d = new Float32Array(m);
      const person = new Int32Array(m);
      for (let t = 0; t < m; t++) {
        d[t] = all[order[t]];
        person[t] = labels[cohortFaces[order[t]]];
      }
      this.near.push({ d, person });
    }
  }

  /** The statistics of faces `faces` with every cohort face of `leaveOut` people left out. */
  statsFor(faces: readonly number[], leaveOut: ReadonlySet<number> = new Set()): CohortStats {
    const mean = new Float64Array(faces.length);
    const spread = new Float64Array(faces.length);
    const kept = new Float64Array(this.k);
    faces.forEach((i, r) => {
      const { d, person } = this.near[i];
      let n = 0;
      for (let t = 0; t < d.length && n < this.k; t++) {
        if (!leaveOut.has(person[t]) && Number.isFinite(d[t])) kept[n++] = d[t];
      }
      if (n < this.k) {
        // More left-out faces than the kept depth: recount this face over the whole cohort.
        const rest = this.cohortFaces
          .filter((j) => !leaveOut.has(this.labels[j]) && this.labels[j] !== this.labels[i])
          .map((j) => distance(this.descriptors[i], this.descriptors[j]))
          .sort((a, b) => a - b);
        checkK(this.k, rest.length);
        kept.set(rest.slice(0, this.k));
      }
      [mean[r], spread[r]] = statsOf(kept, this.k);
    });
    return { k: this.k, mean, spread };
  }
}
