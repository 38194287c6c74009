/**
 * Chinese whispers (Biemann 2006) on a distance-threshold graph — dlib's face clustering
 * (`dlib/examples/dnn_face_recognition_ex.cpp`): faces closer than a threshold get an edge, every
 * face starts as its own cluster, then faces visited in random order repeatedly take the label
 * with the largest total edge weight among their neighbours, until no label changes.
 *
 * Like dlib: unit edge weights, every face has an edge to itself (so a face with one neighbour
 * ties, and ties go to the smaller label — which is what lets pairs merge), and labels in a tie go
 * to the smallest. Unlike dlib, which draws `iterations × n` random nodes, we visit every node once
 * per pass in a fresh seeded order and stop after a pass that changes nothing: the same result
 * family, with a convergence test and a seed for reproducibility.
 *
 * The number of clusters is never given: it comes out of the graph. Platform-neutral and pure.
 */
import { createRng, shuffled } from '../core/random.js';
import { FedexError } from '../core/errors.js';
import { pairwiseDistances, type DistanceMatrix } from './distance.js';
import { canonicalLabels, checkThreshold, type Clustering } from './types.js';

/** Options of Chinese whispers; defaults in {@link DEFAULT_CHINESE_WHISPERS_OPTIONS}. */
export interface ChineseWhispersOptions {
  /** Faces at most this far apart (Euclidean) are joined by an edge. Default 0.55 (calibrated on LFW; see docs/clustering.md). */
  threshold?: number;
  /** At most this many passes over all faces. Default 100 (dlib's `num_iterations`). */
  maxPasses?: number;
  /** Seed of the visiting order. Default 0. */
  seed?: number;
}

export const DEFAULT_CHINESE_WHISPERS_OPTIONS: Required<ChineseWhispersOptions> = {
  threshold: 0.55,
  maxPasses: 100,
  seed: 0,
};

/** The threshold graph in compressed sparse rows, self-loops included. */
export interface ThresholdGraph {
  n: number;
  /** Neighbours of node i are `neighbours[offsets[i] .. offsets[i + 1])`. */
  offsets: Int32Array;
  neighbours: Int32Array;
}

/** Builds the graph of pairs at most `threshold` apart (every node also has an edge to itself). */
export function thresholdGraph(dist: DistanceMatrix, threshold: number): ThresholdGraph {
  const { n, data } = dist;
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    let deg = 0;
    for (let j = 0, o = i * n; j < n; j++) if (j === i || data[o + j] <= threshold) deg++;
    offsets[i + 1] = offsets[i] + deg;
  }
  const neighbours = new Int32Array(offsets[n]);
  for (let i = 0; i < n; i++) {
    let p = offsets[i];
    for (let j = 0, o = i * n; j < n; j++) if (j === i || data[o + j] <= threshold) neighbours[p++] = j;
  }
  return { n, offsets, neighbours };
}

/**
 * Chinese whispers over a precomputed distance matrix (see the module header).
 *
 * @example
 * chineseWhispersFromDistances(pairwiseDistances(descriptors), { threshold: 0.55, seed: 1 }).count;
 */
export function chineseWhispersFromDistances(
  dist: DistanceMatrix,
  options: ChineseWhispersOptions = {},
): Clustering {
  const o = { ...DEFAULT_CHINESE_WHISPERS_OPTIONS, ...options };
  checkThreshold('threshold', o.threshold);
  if (!(Number.isInteger(o.maxPasses) && o.maxPasses >= 1)) {
    throw new FedexError('BAD_ARGUMENT', `maxPasses must be an integer >= 1 (got ${o.maxPasses})`);
  }
  const { n } = dist;
  const graph = thresholdGraph(dist, o.threshold);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i;
  const weight = new Float64Array(n); // scratch: total weight per label around one node
  const touched = new Int32Array(n);
  const rng = createRng(o.seed);
  const nodes = Array.from({ length: n }, (_, i) => i);
  for (let pass = 0; pass < o.maxPasses; pass++) {
    let changed = 0;
    for (const i of shuffled(rng, nodes)) {
      let nt = 0;
      for (let p = graph.offsets[i]; p < graph.offsets[i + 1]; p++) {
        const l = labels[graph.neighbours[p]];
        if (weight[l] === 0) touched[nt++] = l;
        weight[l] += 1;
      }
      let best = labels[i];
      let bestWeight = -1;
      for (let t = 0; t < nt; t++) {
        const l = touched[t];
        if (weight[l] > bestWeight || (weight[l] === bestWeight && l < best)) {
          best = l;
          bestWeight = weight[l];
        }
        weight[l] = 0;
      }
      if (best !== labels[i]) {
        labels[i] = best;
        changed++;
      }
    }
    if (changed === 0) break;
  }
  return canonicalLabels(labels);
}

/**
 * Chinese whispers over descriptors (dlib's face clustering; see the module header).
 *
 * @throws FedexError BAD_ARGUMENT for bad descriptors or options.
 * @example
 * const { count, labels } = chineseWhispers(descriptors, { threshold: 0.55, seed: 0 });
 */
export function chineseWhispers(
  descriptors: readonly Float32Array[],
  options: ChineseWhispersOptions = {},
): Clustering {
  return chineseWhispersFromDistances(pairwiseDistances(descriptors), options);
}
