import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { initRuntime } from '../runtime/node.js';
import { LFW_TEST_SCAN } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { loadSimData, type SimData } from './data.js';
import { deviceProfile } from './profiles.js';
import { buildPopulation } from './population.js';
import { defaultLearningRate, runSimulation, type SimReport } from './runner.js';

describeWithData('lfw_deepfunneled_min5', (dir) => {
  let data: SimData;
  let report: SimReport;
  let tensorsBefore = 0;
  let tensorsAfter = 0;

  beforeAll(async () => {
    await initRuntime();
    data = await loadSimData({ split: 'embedding', dir, scan: LFW_TEST_SCAN });
    tensorsBefore = tf.memory().numTensors;
    report = await runSimulation(data, {
      devices: 30,
      clientsPerRound: 5,
      maxRounds: 4,
      fedexRounds: 1,
      stopAtTarget: false,
      arms: [
        { strategy: 'fedex', bottomMode: 'cached' },
        { strategy: 'fedavg', bottomMode: 'cached' },
        { strategy: 'fedavg', bottomMode: 'recompute' },
      ],
    });
    tensorsAfter = tf.memory().numTensors;
  }, 300_000);

  it('loads the global task at the embedding split with its counted bottom FLOPs', () => {
    expect(data.numClasses).toBeGreaterThanOrEqual(20); // the 25 people of LFW_TEST_SCAN with enough faces
    expect(data.numClasses).toBeLessThanOrEqual(25);
    expect(data.spec.shape).toEqual([128]);
    expect(data.bottomFlopsPerPhoto).toBe(543_599_232);
    expect(defaultLearningRate(data)).toBeGreaterThan(20);
    expect(defaultLearningRate(data)).toBeLessThan(45);
  });

  it('really trains: FedEx beats the initial model after its one round, on a clock that only moves forward', () => {
    const fx = report.arms.find((a) => a.name === 'fedex')!;
    expect(fx.series[0]).toMatchObject({ round: 0, timeS: 0 });
    expect(fx.series[1].accuracy).toBeGreaterThan(fx.series[0].accuracy + 0.2);
    for (const a of report.arms)
      for (let i = 1; i < a.series.length; i++)
        expect(a.series[i].timeS).toBeGreaterThan(a.series[i - 1].timeS);
  });

  it('gives FedAvg the same training in both device modes, and only the recomputed bottom more FLOPs', () => {
    const cached = report.arms.find((a) => a.name === 'fedavg-cached')!;
    const recompute = report.arms.find((a) => a.name === 'fedavg-recompute')!;
    expect(recompute.series.map((p) => p.accuracy)).toEqual(cached.series.map((p) => p.accuracy));
    expect(recompute.perDevice.bytesUp).toEqual(cached.perDevice.bytesUp);
    let more = 0;
    cached.perDevice.flops.forEach((f, i) => {
      expect(recompute.perDevice.flops[i]).toBeGreaterThanOrEqual(f);
      if (recompute.perDevice.flops[i] > f) more++;
    });
    expect(more).toBeGreaterThan(0);
    expect(recompute.series.at(-1)!.timeS).toBeGreaterThanOrEqual(cached.series.at(-1)!.timeS);
  });

  it("counts a FedEx device's FLOPs as one bottom pass per photo, and its energy at least the compute's", () => {
    const fx = report.arms.find((a) => a.name === 'fedex')!;
    const fleet = buildPopulation(data.trainByPerson, { devices: 30, seed: report.config.seed });
    const joulesPerFlop = deviceProfile('mid-range', 'lte').joulesPerFlop;
    fleet.forEach((d, i) => {
      const f = fx.perDevice.flops[i];
      expect([0, d.samples.length * data.bottomFlopsPerPhoto]).toContain(f);
      expect(fx.perDevice.energyJ[i]).toBeGreaterThanOrEqual(f * joulesPerFlop - 1e-6);
    });
    expect(report.comparisons.map((c) => c.arm)).toEqual(['fedavg-cached', 'fedavg-recompute']);
    expect(report.comparisons[1].deviceFlops!).toBeGreaterThan(report.comparisons[0].deviceFlops!);
  });

  it('leaves no tensor behind', () => {
    expect(tensorsAfter).toBe(tensorsBefore);
  });
});
