import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FACE_FRONT_END_FLOPS } from '../device/costs.js';
import { initRuntime } from '../runtime/node.js';
import { LFW_TEST_SCAN } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { arrivalDays, runDaily, type DailyReport } from './daily.js';
import { loadSimData, type SimData } from './data.js';
import { buildPopulation } from './population.js';

describe('arrivalDays', () => {
  it('puts the initial share on day 0 and the rest on later days, the same for the same seed', () => {
    const device = { id: 'd00001', people: [0], samples: Array.from({ length: 10 }, (_, i) => i) };
    const days = arrivalDays(device, { initialShare: 0.3, photosPerDay: 1, seed: 4 });
    expect(days.filter((d) => d === 0)).toHaveLength(3);
    expect(days.filter((d) => d > 0)).toHaveLength(7);
    expect(arrivalDays(device, { initialShare: 0.3, photosPerDay: 1, seed: 4 })).toEqual(days);
    // About one a day: the 7 later photos arrive within a few weeks, not all on day 1.
    expect(Math.max(...days)).toBeGreaterThan(2);
    expect(Math.max(...days)).toBeLessThan(40);
  });
});

describeWithData('lfw_deepfunneled_min5', (dir) => {
  let data: SimData;
  let report: DailyReport;
  let tensorsBefore = 0;
  const DAYS = 4;

  beforeAll(async () => {
    await initRuntime();
    data = await loadSimData({ split: 'embedding', dir, scan: LFW_TEST_SCAN });
    tensorsBefore = tf.memory().numTensors;
    report = await runDaily(data, { devices: 20, days: DAYS, roundsPerDay: 2, clientsPerRound: 5, seed: 2 });
  }, 300_000);

  it('runs both arms day by day, with cumulative costs that never go down', () => {
    expect(report.arms.map((a) => a.name)).toEqual(['fedex', 'fedavg-cached']);
    for (const a of report.arms) {
      expect(a.days.map((d) => d.day)).toEqual([0, 1, 2, 3]);
      for (let d = 1; d < DAYS; d++) {
        expect(a.days[d].flops).toBeGreaterThanOrEqual(a.days[d - 1].flops);
        expect(a.days[d].energyJ).toBeGreaterThan(a.days[d - 1].energyJ); // at least the day's pull
        expect(a.days[d].bytes).toBeGreaterThan(a.days[d - 1].bytes);
        expect(a.days[d].photos).toBeGreaterThanOrEqual(a.days[d - 1].photos);
      }
    }
    // FedEx trains in the cloud: its day-0 model beats chance by far.
    expect(report.arms[0].days[0].accuracy).toBeGreaterThan(5 / data.numClasses);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('charges a FedEx phone exactly detection + landmarks + bottom per arrived photo: it never trains', () => {
    const fleet = buildPopulation(data.trainByPerson, { devices: 20, seed: 2 });
    const o = { initialShare: report.config.initialShare, photosPerDay: report.config.photosPerDay, seed: 2 };
    const arrived = fleet.reduce((n, d) => n + arrivalDays(d, o).filter((a) => a < DAYS).length, 0);
    const perPhoto = FACE_FRONT_END_FLOPS + data.bottomFlopsPerPhoto;
    const fx = report.arms[0];
    expect(fx.final.flops.mean * fleet.length).toBeCloseTo(arrived * perPhoto, -3);
    // FedAvg pays the same for the photos, plus its training.
    expect(report.arms[1].final.flops.mean).toBeGreaterThan(fx.final.flops.mean);
    expect(report.ratios.flops!).toBeGreaterThan(1);
    // Without the front end both pay alike, FedEx's phone is left with the bottom alone.
    const frontEnd = (arrived * FACE_FRONT_END_FLOPS) / fleet.length;
    const fxBeyond = fx.final.flops.mean - frontEnd;
    expect(fxBeyond * fleet.length).toBeCloseTo(arrived * data.bottomFlopsPerPhoto, -3);
    expect(report.ratios.flopsBeyondFrontEnd!).toBeCloseTo(
      (report.arms[1].final.flops.mean - frontEnd) / fxBeyond,
      6,
    );
    expect(report.ratios.flopsBeyondFrontEnd!).toBeGreaterThan(report.ratios.flops!);
  });

  it('measures latency from a photo to the first shipped model that learned it, in whole days', () => {
    for (const a of report.arms) {
      expect(a.latencyH.learned).toBeGreaterThan(0);
      expect(a.latencyH.learned).toBeLessThanOrEqual(a.latencyH.photos);
      expect(a.latencyH.p10).toBeGreaterThanOrEqual(24);
      expect(a.latencyH.p50 % 24).toBe(0);
    }
  });
});
