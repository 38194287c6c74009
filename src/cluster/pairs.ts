/**
 * Pair verification on labelled faces: the distance that best tells "same person" from
 * "different people" over all pairs, scored by balanced accuracy (the mean of the same-pair and
 * different-pair hit rates, as LFW's balanced pair lists do — over all pairs, different-person
 * pairs outnumber same-person ones a hundredfold and would pull the threshold down).
 *
 * Platform-neutral and pure.
 */
import { FedexError } from '../core/errors.js';
import type { DistanceMatrix } from './distance.js';

export interface PairThreshold {
  /** Pairs at most this far apart are called "same person". */
  threshold: number;
  /** Balanced accuracy at that threshold. */
  balancedAccuracy: number;
  /** Share of same-person pairs at most `threshold` apart. */
  sameRate: number;
  /** Share of different-person pairs further than `threshold` apart. */
  differentRate: number;
  samePairs: number;
  differentPairs: number;
}

/**
 * The best balanced-accuracy threshold over all pairs of a labelled set. The threshold returned is
 * the midpoint between the last distance called "same" and the next distance.
 *
 * @throws FedexError BAD_ARGUMENT when there is no same-person or no different-person pair.
 * @example
 * bestPairThreshold(pairwiseDistances(descriptors), labels).threshold; // e.g. 0.55
 */
export function bestPairThreshold(dist: DistanceMatrix, labels: ArrayLike<number>): PairThreshold {
  const { n, data } = dist;
  if (labels.length !== n) throw new FedexError('BAD_ARGUMENT', `${labels.length} labels for ${n} faces`);
  const m = (n * (n - 1)) / 2;
  const d = new Float32Array(m);
  const same = new Uint8Array(m);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++, k++) {
      d[k] = data[i * n + j];
      same[k] = labels[i] === labels[j] ? 1 : 0;
    }
  }
  const order = Uint32Array.from({ length: m }, (_, i) => i).sort((a, b) => d[a] - d[b]);
  const nSame = same.reduce((s, v) => s + v, 0);
  const nDiff = m - nSame;
  if (nSame === 0 || nDiff === 0) {
    throw new FedexError(
      'BAD_ARGUMENT',
      'pair calibration needs both same-person and different-person pairs',
    );
  }
  // Walk the sorted distances; after pair t, everything up to it is called "same".
  let best = { acc: 0.5, at: -1, hitSame: 0, hitDiff: nDiff };
  let hitSame = 0;
  let falseSame = 0;
  for (let t = 0; t < m; t++) {
    if (same[order[t]]) hitSame++;
    else falseSame++;
    if (t + 1 < m && d[order[t + 1]] === d[order[t]]) continue; // only cut between distinct distances
    const acc = (hitSame / nSame + (nDiff - falseSame) / nDiff) / 2;
    if (acc > best.acc) best = { acc, at: t, hitSame, hitDiff: nDiff - falseSame };
  }
  const lo = best.at >= 0 ? d[order[best.at]] : 0;
  const hi = best.at + 1 < m ? d[order[best.at + 1]] : lo;
  return {
    threshold: (lo + hi) / 2,
    balancedAccuracy: best.acc,
    sameRate: best.hitSame / nSame,
    differentRate: best.hitDiff / nDiff,
    samePairs: nSame,
    differentPairs: nDiff,
  };
}
