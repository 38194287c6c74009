import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { specKey } from '../../core/types.js';
import { modelFromWeightsMessage } from '../../model/io.js';
import { maskTranslationToFile, type MaskTranslation } from '../../model/mask-translate.js';
import { nearestCentroid, parseOpenSetRule } from '../../model/open-set.js';
import { initRuntime, tf } from '../../runtime/node.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Job } from '../store/types.js';
import { readMaskTranslationFile } from './mask-translation-file.js';
import { JobRunner } from './runner.js';
import { clusteredFeatures, seedUser, TEST_SPEC, waitFor } from './test-data.js';

// A "mask" that covers 112 of the 128 values with one colour, as a translation file: the twins
// the workers make are the photos masked.
const DIM = 128;
const COVERED = 112;
const maskRows = (rows: Float32Array) => rows.map((v, i) => (i % DIM < COVERED ? 4 : v));
function coverTranslation(): MaskTranslation {
  const matrix = new Float64Array(DIM * DIM);
  for (let d = COVERED; d < DIM; d++) matrix[d * DIM + d] = 1;
  const bias = Float64Array.from({ length: DIM }, (_, d) => (d < COVERED ? 4 : 0));
  return { dim: DIM, matrix, bias, ridge: 0 };
}

let dir: string;
let store: SqliteStore;
let runner: JobRunner;

const jobDone = (id: number) => async () => {
  const job = (await store.getJob(id))!;
  return job.status === 'done' || job.status === 'failed' ? job : undefined;
};

async function train(config: Record<string, unknown> = {}): Promise<Job> {
  const { job } = await store.enqueueJob('user:alice', 'manual', config);
  runner.kick();
  return waitFor(`job ${job.id}`, jobDone(job.id));
}

async function maskedAccuracy(): Promise<number> {
  const latest = (await store.modelVersion('user:alice', 'latest'))!;
  const { model } = await modelFromWeightsMessage(latest.weights);
  const probes = clusteredFeatures(4, 5, 77);
  const p = tf.tidy(() =>
    Array.from(
      (model.predict(tf.tensor(maskRows(probes.features), [20, DIM])) as tf.Tensor).argMax(-1).dataSync(),
    ),
  );
  model.dispose();
  return p.filter((c, i) => latest.labels[c] === String(probes.labels[i])).length / p.length;
}

beforeAll(async () => {
  await initRuntime();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fedex-twins-'));
  const file = path.join(dir, 'mask.json');
  writeFileSync(file, JSON.stringify(maskTranslationToFile(coverTranslation(), specKey(TEST_SPEC))));
  store = new SqliteStore(path.join(dir, 'fedex.db'), { synchronous: 'normal' });
  await seedUser(store, 'alice', { people: 4, perPerson: 10, seed: 5 });
  runner = new JobRunner({
    store,
    database: path.join(dir, 'fedex.db'),
    workers: 1,
    defaults: { epochs: 40, learningRate: 0.01, patience: 0 },
    maskTranslation: file,
  });
  await runner.start();
});

afterAll(async () => {
  await runner?.stop();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('masked twins in the training workers (--mask-translation)', () => {
  it('trains on the twins when asked, so masked photos of the people are named', async () => {
    const without = await train({ maskTwins: false });
    expect(without.status).toBe('done');
    const plainModel = (await store.modelVersion('user:alice', 'latest'))!;
    expect(plainModel.metrics.augmentedSamples).toBeUndefined();
    expect(await maskedAccuracy()).toBeLessThan(0.5);

    const withTwins = await train(); // maskTwins defaults to true
    expect(withTwins.status).toBe('done');
    const twinModel = (await store.modelVersion('user:alice', 'latest'))!;
    expect(twinModel.version).toBe(plainModel.version + 1);
    expect(twinModel.metrics.augmentedSamples).toBe(40);
    expect(await maskedAccuracy()).toBe(1);
    // The open-set rule carries the twins' class means: a masked photo is near its person.
    const { model, metadata } = await modelFromWeightsMessage(twinModel.weights);
    model.dispose();
    const rule = parseOpenSetRule(metadata.openSet, 4, DIM);
    expect(rule.twins).toHaveLength(4 * DIM);
    const probes = maskRows(clusteredFeatures(4, 5, 78).features);
    const near = (r: typeof rule) =>
      Array.from(
        { length: 20 },
        (_, i) => nearestCentroid(probes.subarray(i * DIM, (i + 1) * DIM), r).distance,
      );
    expect(Math.max(...near(rule))).toBeLessThan(rule.radius);
    expect(Math.min(...near({ ...rule, twins: undefined }))).toBeGreaterThan(rule.radius);
  });

  it('makes no twins for features of another spec', async () => {
    const other = path.join(dir, 'other.json');
    writeFileSync(
      other,
      JSON.stringify(maskTranslationToFile(coverTranslation(), 'another-net@1/embedding')),
    );
    await runner.stop(); // only the runner with the other spec's file takes the job
    const r = new JobRunner({
      store,
      database: path.join(dir, 'fedex.db'),
      workers: 1,
      maskTranslation: other,
    });
    await r.start();
    try {
      const { job } = await store.enqueueJob('user:alice', 'manual', { epochs: 5 });
      r.kick();
      const done = await waitFor('job', jobDone(job.id));
      expect(done.status).toBe('done');
      expect((await store.modelVersion('user:alice', 'latest'))!.metrics.augmentedSamples).toBeUndefined();
    } finally {
      await r.stop();
    }
  });

  it('refuses a missing or broken file in one line naming it', () => {
    expect(() => readMaskTranslationFile(path.join(dir, 'nope.json'))).toThrow(
      /cannot read the mask translation .*nope\.json/,
    );
    const broken = path.join(dir, 'broken.json');
    writeFileSync(broken, '{"format":"fedex-mask-translation","version":1}');
    expect(() => readMaskTranslationFile(broken)).toThrow(/broken\.json: mask translation file: specKey/);
    writeFileSync(broken, 'not json');
    expect(() => readMaskTranslationFile(broken)).toThrow(/broken\.json is not JSON/);
  });
});
