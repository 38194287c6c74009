/**
 * The input normalisation every arm sees (`fitStandardizer`, `standardizeData`), on synthetic
 * data, and on the real stage128 features: FedAvg with the default (standardised features, tuned
 * lr) learns within a few rounds where raw features leave it near chance (docs/sim.md).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initRuntime } from '../runtime/node.js';
import { LFW_TEST_SCAN } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { loadSimData, type SimData } from './data.js';
import { fitStandardizer, runSimulation, standardizeData, type SimReport } from './runner.js';

function syntheticData(): SimData {
  // 4 photos of a 2×1×2 map (positions × channels), all positive like pooled ReLU maps.
  // prettier-ignore
  const features = Float32Array.from([
    1, 10, 3, 10, // photo 0: pooled (2, 10)
    2, 20, 2, 20, // photo 1: pooled (2, 20)
    5, 30, 5, 30, // photo 2: pooled (5, 30) — test photo, must not be fitted on
    4, 16, 2, 24, // photo 3: pooled (3, 20)
  ]);
  return {
    split: 'synthetic',
    spec: { backboneId: 'x', backboneVersion: '0', split: 'synthetic', shape: [2, 1, 2] },
    features,
    dim: 4,
    labels: Int32Array.from([0, 1, 0, 1]),
    numClasses: 2,
    names: ['a', 'b'],
    train: [0, 1, 3],
    test: [2],
    trainByPerson: [[0], [1, 3]],
    testByPerson: [[2], []],
    bottomFlopsPerPhoto: 1,
  };
}

describe('fitStandardizer / standardizeData', () => {
  it('fits the pooled per-channel mean and std on the training photos only', () => {
    const st = fitStandardizer(syntheticData());
    expect(st.fittedOn).toBe(3);
    expect(st.mean[0]).toBeCloseTo(7 / 3, 6);
    expect(st.mean[1]).toBeCloseTo(50 / 3, 6);
    expect(st.std[0]).toBeCloseTo(Math.sqrt(2 / 9), 5);
    expect(st.std[1]).toBeCloseTo(Math.sqrt(200 / 9), 5);
  });

  it('gives the training photos zero-mean, unit-variance pooled channels, and leaves the input alone', () => {
    const data = syntheticData();
    const before = Float32Array.from(data.features);
    const out = standardizeData(data);
    expect(data.features).toEqual(before);
    for (let c = 0; c < 2; c++) {
      const pooled = data.train.map((s) => (out.features[s * 4 + c] + out.features[s * 4 + 2 + c]) / 2);
      const mean = pooled.reduce((a, b) => a + b, 0) / pooled.length;
      const variance = pooled.reduce((a, b) => a + (b - mean) ** 2, 0) / pooled.length;
      expect(mean).toBeCloseTo(0, 5);
      expect(variance).toBeCloseTo(1, 3);
    }
  });
});

describeWithData('lfw_deepfunneled_min5', (dir) => {
  let data: SimData;
  const run = (normalize: 'standardize' | 'none', learningRate?: number): Promise<SimReport> =>
    runSimulation(data, {
      devices: 40,
      clientsPerRound: 8,
      maxRounds: 3,
      stopAtTarget: false,
      normalize,
      ...(learningRate === undefined ? {} : { learningRate }),
      arms: [{ strategy: 'fedavg', bottomMode: 'cached' }],
    });

  beforeAll(async () => {
    await initRuntime();
    data = await loadSimData({ split: 'stage128', dir, scan: LFW_TEST_SCAN });
  }, 300_000);

  it('FedAvg at stage128 learns in 3 rounds on standardised features (default lr), not on raw ones', async () => {
    const chance = 1 / data.numClasses;
    const std = await run('standardize');
    expect(std.config.learningRate).toBe(3);
    const acc = std.arms[0].finalAccuracy;
    expect(acc).toBeGreaterThan(10 * chance);
    // Raw features at the old derived lr (the same 3 rounds): the mean direction swamps the update.
    const raw = await run('none');
    expect(raw.arms[0].finalAccuracy).toBeLessThan(acc / 2);
  }, 60_000);
});
