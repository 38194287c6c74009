/**
 * How well descriptors separate identities — the yardstick for comparing face pipelines
 * (alignment methods, detectors) in tests and bench/face.ts. Pure: typed arrays in, numbers out.
 *
 * - Nearest-centroid accuracy: per person, `train` seeded photos give a centroid (their mean);
 *   every other photo is labelled with the nearest centroid (Euclidean). Averaged over `splits`
 *   seeded train/test splits — the "user names a few faces, the rest get labelled" setting.
 * - Pair AUC: the probability that a same-person pair is closer than a different-person pair,
 *   over all pairs (ties count half). Threshold-free.
 */
import { createRng, shuffled } from '../core/random.js';

export interface SeparationScore {
  /** Nearest-centroid accuracy on the photos not used for centroids, mean over splits. */
  accuracy: number;
  /** Standard deviation of that accuracy over splits. */
  accuracyStd: number;
  /** Lowest accuracy of any split. */
  accuracyMin: number;
  /** P(a same-person pair is closer than a different-person pair). */
  pairAuc: number;
  /** Mean Euclidean distance of same-person pairs. */
  sameMean: number;
  /** Mean Euclidean distance of different-person pairs. */
  diffMean: number;
}

export function euclidean(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/**
 * Scores labelled descriptors (see the module header). Each person needs more than `train` photos.
 *
 * @example
 * scoreDescriptors([{ person: 'a', descriptor }, ...], 2, 20, 1).accuracy; // e.g. 0.99
 */
export function scoreDescriptors(
  items: readonly { person: string; descriptor: Float32Array }[],
  train: number,
  splits: number,
  seed: number,
): SeparationScore {
  const byPerson = new Map<string, Float32Array[]>();
  for (const it of items) byPerson.set(it.person, [...(byPerson.get(it.person) ?? []), it.descriptor]);
  const accs: number[] = [];
  const rng = createRng(seed);
  for (let s = 0; s < splits; s++) {
    const centroids: { person: string; c: Float32Array }[] = [];
    const tests: { person: string; d: Float32Array }[] = [];
    for (const [person, ds] of byPerson) {
      const order = shuffled(rng, ds);
      const tr = order.slice(0, train);
      const c = new Float32Array(ds[0].length);
      for (const d of tr) for (let i = 0; i < c.length; i++) c[i] += d[i] / tr.length;
      centroids.push({ person, c });
      for (const d of order.slice(train)) tests.push({ person, d });
    }
    let ok = 0;
    for (const t of tests) {
      let best = '';
      let bestDist = Infinity;
      for (const c of centroids) {
        const x = euclidean(t.d, c.c);
        if (x < bestDist) {
          bestDist = x;
          best = c.person;
        }
      }
      if (best === t.person) ok++;
    }
    accs.push(tests.length ? ok / tests.length : NaN);
  }
  const same: number[] = [];
  const diff: number[] = [];
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      (items[i].person === items[j].person ? same : diff).push(
        euclidean(items[i].descriptor, items[j].descriptor),
      );
    }
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const accuracy = mean(accs);
  return {
    accuracy,
    accuracyStd: Math.sqrt(mean(accs.map((a) => (a - accuracy) ** 2))),
    accuracyMin: Math.min(...accs),
    pairAuc: pairAuc(same, diff),
    sameMean: mean(same),
    diffMean: mean(diff),
  };
}

/** P(a value of `same` < a value of `diff`), ties counted half (Mann-Whitney U / (n·m)). */
export function pairAuc(same: readonly number[], diff: readonly number[]): number {
  if (same.length === 0 || diff.length === 0) return NaN;
  const all = [...same.map((v) => ({ v, s: 1 })), ...diff.map((v) => ({ v, s: 0 }))].sort(
    (a, b) => a.v - b.v,
  );
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].v === all[i].v) j++;
    const avgRank = (i + j + 1) / 2;
    for (let k = i; k < j; k++) if (all[k].s) rankSum += avgRank;
    i = j;
  }
  const n = same.length;
  // rankSum - n(n+1)/2 counts the (same, diff) pairs where same > diff.
  return 1 - (rankSum - (n * (n + 1)) / 2) / (n * diff.length);
}
