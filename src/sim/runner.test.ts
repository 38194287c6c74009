import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { FACE_FRONT_END_FLOPS } from '../device/costs.js';
import { initRuntime } from '../runtime/node.js';
import { LFW_TEST_SCAN } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { loadSimData, type SimData } from './data.js';
import { deviceProfile, drawProfiles } from './profiles.js';
import { buildPopulation, deviceId } from './population.js';
import {
  DEFAULT_SIM_OPTIONS,
  defaultLearningRate,
  runSimulation,
  type Arm,
  type SimReport,
} from './runner.js';
import { dropsOut, unitHash } from './transport.js';

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

  it('charges every device the same base in every arm: detection + landmarks and the bottom once per photo, one final pull', () => {
    const fleet = buildPopulation(data.trainByPerson, { devices: 30, seed: report.config.seed });
    const perPhoto = data.bottomFlopsPerPhoto + FACE_FRONT_END_FLOPS;
    const joulesPerFlop = deviceProfile('mid-range', 'lte').joulesPerFlop;
    const fx = report.arms.find((a) => a.name === 'fedex')!;
    // FedEx: the bottom once per photo (its upload task, or the settlement), detection, the pull.
    fleet.forEach((d, i) => {
      expect(fx.perDevice.flops[i]).toBe(d.samples.length * perPhoto);
      expect(fx.perDevice.energyJ[i]).toBeGreaterThanOrEqual(fx.perDevice.flops[i] * joulesPerFlop - 1e-6);
    });
    for (const a of report.arms) {
      const pull = a.settlement.modelPullBytes / fleet.length;
      expect(pull).toBeGreaterThan(0);
      expect(a.settlement.frontEndFlops).toBe(
        fleet.reduce((n, d) => n + d.samples.length, 0) * FACE_FRONT_END_FLOPS,
      );
      fleet.forEach((d, i) => {
        expect(a.perDevice.bytesDown[i]).toBeGreaterThanOrEqual(pull);
        expect(a.perDevice.flops[i]).toBeGreaterThanOrEqual(d.samples.length * perPhoto);
      });
    }
    // FedAvg: a device never selected pays exactly the base (no training, no upload).
    const cached = report.arms.find((a) => a.name === 'fedavg-cached')!;
    const idle = fleet.map((_, i) => i).filter((i) => cached.perDevice.bytesUp[i] === 0);
    expect(idle.length).toBeGreaterThan(0);
    expect(cached.participants).toBe(fleet.length - idle.length);
    for (const i of idle) {
      expect(cached.perDevice.flops[i]).toBe(fleet[i].samples.length * perPhoto);
      expect(cached.perDevice.bytesDown[i]).toBe(cached.settlement.modelPullBytes / fleet.length);
    }
    expect(report.comparisons.map((c) => c.arm)).toEqual(['fedavg-cached', 'fedavg-recompute']);
    expect(report.comparisons[1].deviceFlops!).toBeGreaterThan(report.comparisons[0].deviceFlops!);
    // Per participating device: FedAvg's participants also sent updates, the rest only pulled.
    expect(cached.summaryParticipating.bytes.mean).toBeGreaterThan(cached.summary.bytes.mean);
  });

  it('clocks the cloud by its FLOPs at the stated rate, and reports the measured time beside it', () => {
    const fx = report.arms.find((a) => a.name === 'fedex')!;
    const trained = fx.series.find((p) => p.cloudFlops > 0)!;
    expect(trained.cloudS).toBeCloseTo(trained.cloudFlops / (report.config.cloudGflops! * 1e9), 12);
    expect(trained.cloudWallS).toBeGreaterThan(0);
    expect(fx.series.filter((p) => p.round > 0).every((p) => p.deadlineS > 0)).toBe(true);
    const avg = report.arms.find((a) => a.name === 'fedavg-cached')!;
    const round = avg.series.find((p) => p.cloudFlops > 0)!;
    // A weighted mean: 2 FLOPs per weight per accepted result.
    expect(round.cloudFlops % (2 * report.cloudTrainableParams)).toBe(0);
  });

  it('personalizes after the campaign: FedAvg phones fine-tune and pay for it, FedEx runs it in the cloud', async () => {
    const base = {
      devices: 12,
      clientsPerRound: 4,
      maxRounds: 2,
      fedexRounds: 1,
      stopAtTarget: false,
      arms: [
        { strategy: 'fedex', bottomMode: 'cached' },
        { strategy: 'fedavg', bottomMode: 'cached' },
      ] as Arm[],
    };
    const before = tf.memory().numTensors;
    const plain = await runSimulation(data, base);
    const tuned = await runSimulation(data, {
      ...base,
      personalize: {
        localEpochs: 5,
        batchSize: 10,
        learningRate: 1,
        seed: 1,
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    const [fx, avg] = tuned.arms;
    expect(plain.arms[0].personal).toBeUndefined();
    // FedEx: a personal top per phone that uploaded, pulled by its phone (bytes only, no phone FLOPs).
    expect(fx.personal!.personalized).toBe(fx.participants);
    expect(fx.perDevice.flops).toEqual(plain.arms[0].perDevice.flops);
    const pulled = fx.perDevice.bytesDown.filter((b, i) => b > plain.arms[0].perDevice.bytesDown[i]).length;
    expect(pulled).toBe(fx.participants);
    // FedAvg: every phone fine-tunes locally, so every phone spends more FLOPs than without.
    expect(avg.personal!.personalized).toBe(12);
    avg.perDevice.flops.forEach((f, i) => expect(f).toBeGreaterThan(plain.arms[1].perDevice.flops[i]));
    // The same fine-tuning recipe in both arms (on the phone, in the cloud), each from its own global top.
    for (const a of tuned.arms) {
      expect(a.personal!.mean).toBeGreaterThan(0.5);
      expect(a.personal!.mean).toBeLessThanOrEqual(1);
    }
  }, 300_000);

  it('starts FedAvg from federated centroids when asked: one collection round, charged to the phones that take part', async () => {
    const base = {
      devices: 12,
      clientsPerRound: 4,
      maxRounds: 1,
      stopAtTarget: false,
      arms: [{ strategy: 'fedavg', bottomMode: 'cached' }] as Arm[],
    };
    const before = tf.memory().numTensors;
    const plain = await runSimulation(data, base);
    const fromCentroids = await runSimulation(data, { ...base, fedavgStart: 'centroids' });
    expect(tf.memory().numTensors).toBe(before);
    const [p] = plain.arms;
    const [c] = fromCentroids.arms;
    // The start is the nearest-centroid classifier of the phones' photos: far above a random head.
    expect(c.series[0].accuracy).toBeGreaterThan(p.series[0].accuracy + 0.3);
    expect(c.series[0].timeS).toBeGreaterThan(0); // the collection round took time
    expect(p.series[0].timeS).toBe(0);
    // The collection round faces availability (0.8 for mid-range phones) and dropouts like any
    // round: the phones that took part are those available in round 0 that did not drop out.
    const profiles = drawProfiles(
      DEFAULT_SIM_OPTIONS.profile,
      12,
      DEFAULT_SIM_OPTIONS.seed,
      DEFAULT_SIM_OPTIONS.catalog,
    );
    const ids = Array.from({ length: 12 }, (_, i) => deviceId(i, 12));
    const tookPart = ids.map(
      (id, i) =>
        unitHash(DEFAULT_SIM_OPTIONS.seed, `avail:0:${id}`) < profiles[i].availability &&
        !dropsOut(DEFAULT_SIM_OPTIONS.seed, 0, id, profiles[i].dropout),
    );
    const n = tookPart.filter(Boolean).length;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(12);
    c.perDevice.bytesUp.forEach((b, i) => {
      // Its per-person sums on top of whatever round 1 had it do.
      const collected = b - p.perDevice.bytesUp[i];
      if (tookPart[i]) expect(collected).toBeGreaterThan(0);
      else expect(collected).toBe(0);
    });
  }, 300_000);

  it("starts FedEx's cloud trainer from the uploads' class means when asked (--fedex-start centroids)", async () => {
    // A cloud trainer that barely moves (one epoch at a tiny rate): what each arm ships is its start.
    const base = {
      devices: 12,
      maxRounds: 1,
      fedexRounds: 1,
      stopAtTarget: false,
      arms: [{ strategy: 'fedex', bottomMode: 'cached' }] as Arm[],
      cloudTrain: { epochs: 1, learningRate: 1e-7, patience: 0, maxBatchesPerEpoch: 50 },
    };
    const before = tf.memory().numTensors;
    const initial = await runSimulation(data, base);
    const centroids = await runSimulation(data, { ...base, fedexStart: 'centroids' });
    expect(tf.memory().numTensors).toBe(before);
    expect(centroids.config.fedexStart).toBe('centroids');
    const [i] = initial.arms;
    const [c] = centroids.arms;
    expect(c.series[1].accuracy).toBeGreaterThan(0.5); // people no phone of the 12 has stay unknown
    expect(c.series[1].accuracy).toBeGreaterThan(i.series[1].accuracy + 0.3);
    // The same uploads, the same bytes: only the cloud's start differs.
    expect(c.perDevice.bytesUp).toEqual(i.perDevice.bytesUp);
  }, 300_000);

  it('leaves no tensor behind', () => {
    expect(tensorsAfter).toBe(tensorsBefore);
  });
});
