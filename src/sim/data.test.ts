/**
 * The simulator's data: masked photos (`maskedShare`) on synthetic sets (the seeded draw, the
 * swap of rows, a mismatch refused) and on real LFW photos with the pipeline's synthetic mask, and
 * the evaluator's masked / unmasked scores.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fitCentroids } from '../model/heads/centroid.js';
import { getHead } from '../model/heads/registry.js';
import { readWeights } from '../strategy/model-weights.js';
import { initRuntime } from '../runtime/node.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { loadSimData, wearMasks, type MaskableSet, type SimData } from './data.js';
import { createEvaluator } from './runner.js';

function featureSet(n: number, dim: number, value: (i: number) => number, ids = (i: number) => `p/${i}.jpg`) {
  const set: MaskableSet = {
    spec: { backboneId: 'b', backboneVersion: '1', split: 's', shape: [dim] },
    samples: Array.from({ length: n }, (_, i) => ({ id: ids(i), label: 0, hash: `${i}` })),
    features: new Float32Array(n * dim).map((_, j) => value(Math.floor(j / dim))),
  };
  return set;
}

describe('wearMasks', () => {
  it('swaps a seeded share of rows for their masked features, the same photos every time', () => {
    const n = 2000;
    const plain = featureSet(n, 3, (i) => i);
    const masked = featureSet(n, 3, (i) => -1 - i);
    const flags = wearMasks(plain, masked, 0.3, 7);
    const share = flags.reduce((a, f) => a + f, 0) / n;
    expect(share).toBeGreaterThan(0.26);
    expect(share).toBeLessThan(0.34);
    for (let i = 0; i < n; i++) {
      const row = Array.from(plain.features.subarray(i * 3, i * 3 + 3));
      expect(row).toEqual(flags[i] ? [-1 - i, -1 - i, -1 - i] : [i, i, i]);
    }
    // The draw is the photo's: the same ids and seed give the same flags; another seed others.
    const again = wearMasks(
      featureSet(n, 3, (i) => i),
      masked,
      0.3,
      7,
    );
    expect(Array.from(again)).toEqual(Array.from(flags));
    const other = wearMasks(
      featureSet(n, 3, (i) => i),
      masked,
      0.3,
      8,
    );
    expect(Array.from(other)).not.toEqual(Array.from(flags));
    // Shares 0 and 1: none and every photo.
    for (const share of [0, 1]) {
      const all = wearMasks(
        featureSet(10, 3, (i) => i),
        featureSet(10, 3, () => 0),
        share,
        1,
      );
      expect(all.every((f) => f === share)).toBe(true);
    }
  });

  it('refuses sets that hold different photos', () => {
    const plain = featureSet(4, 2, (i) => i);
    expect(() =>
      wearMasks(
        plain,
        featureSet(3, 2, () => 0),
        0.5,
        1,
      ),
    ).toThrow(/different photos/);
    expect(() =>
      wearMasks(
        plain,
        featureSet(
          4,
          2,
          () => 0,
          (i) => `q/${i}.jpg`,
        ),
        0.5,
        1,
      ),
    ).toThrow(/different photos/);
  });
});

describeWithData('lfw_deepfunneled_min5', (dir) => {
  // A small scan: every photo is extracted twice (plain and masked) on the first run.
  const scan = { minPhotos: 5, maxPeople: 6, maxPerPerson: 5, seed: 11 };
  let plain: SimData;
  let half: SimData;

  beforeAll(async () => {
    await initRuntime();
    plain = await loadSimData({ split: 'embedding', dir, scan });
    half = await loadSimData({ split: 'embedding', dir, scan, maskedShare: 0.5, maskSeed: 3 });
  }, 300_000);

  it('gives the masked photos the features of the photo with a synthetic mask, the rest unchanged', () => {
    expect(plain.masked).toBeUndefined();
    expect(half.masked).toBeDefined();
    expect(half.maskedShare).toBe(0.5);
    const flags = half.masked!;
    const count = flags.reduce((a, f) => a + f, 0);
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(flags.length);
    expect(half.train).toEqual(plain.train);
    expect(half.test).toEqual(plain.test);
    const d = plain.dim;
    for (let s = 0; s < flags.length; s++) {
      const a = plain.features.subarray(s * d, (s + 1) * d);
      const b = half.features.subarray(s * d, (s + 1) * d);
      const dist = Math.hypot(...Array.from(a, (v, j) => v - b[j]));
      if (flags[s]) expect(dist).toBeGreaterThan(0.05);
      else expect(dist).toBe(0);
    }
  });

  it('scores masked and unmasked test photos apart; their weighted mean is the global top-1', async () => {
    const model = getHead('centroid').build([half.dim], half.numClasses);
    fitCentroids(model, {
      x: Float32Array.from(
        half.train.flatMap((s) => Array.from(half.features.subarray(s * half.dim, (s + 1) * half.dim))),
      ),
      y: half.train.map((s) => half.labels[s]),
      shape: [half.dim],
    });
    const evaluator = createEvaluator(half, model, []);
    try {
      const accuracy = await evaluator.evaluate(readWeights(model));
      const { maskedAccuracy, plainAccuracy } = evaluator.last();
      const nMasked = half.test.filter((s) => half.masked![s]).length;
      const nPlain = half.test.length - nMasked;
      expect(nMasked).toBeGreaterThan(0);
      expect(nPlain).toBeGreaterThan(0);
      expect(maskedAccuracy).toBeGreaterThanOrEqual(0);
      expect(plainAccuracy).toBeGreaterThanOrEqual(0);
      expect((maskedAccuracy! * nMasked + plainAccuracy! * nPlain) / half.test.length).toBeCloseTo(
        accuracy,
        10,
      );
    } finally {
      evaluator.dispose();
      model.dispose();
    }
  });
});
