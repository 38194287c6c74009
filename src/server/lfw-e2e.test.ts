/**
 * The server end to end on real faces: 5 LFW users (5 people each, 3 labelled photos per person)
 * each enroll a device over real HTTP on loopback, upload their labelled features, train their
 * head as a job on the worker threads, pull the model (ETag) and predict their held-out photos
 * locally. The served models must reach the accuracy of the same head trained offline by
 * `fitHead` (what `fedex train --user` does). Needs the LFW dataset (skipped loudly without it,
 * failed under FEDEX_REQUIRE_DATA=1); features come from the feature cache when present.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encodeFeatureBatch } from '../core/codec.js';
import type { FeatureBatch } from '../core/types.js';
import { extractDataset, type ExtractedFeatureSet } from '../data/extract.js';
import { buildUsers, type SimUser } from '../data/users.js';
import { getHead } from '../model/heads/registry.js';
import { modelFromWeightsMessage } from '../model/io.js';
import { fitHead } from '../model/trainer.js';
import { initRuntime, tf } from '../runtime/node.js';
import { LFW_TEST_SCAN } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { DEFAULT_TRAIN_JOB_CONFIG } from './jobs/train-task.js';
import { startServer, type RunningServer } from './server.js';
import { caller, type Caller } from './testing/harness.js';

const LONG = 900_000;

describeWithData('lfw_deepfunneled_min5', (dir) => {
  let set: ExtractedFeatureSet;
  let users: SimUser[];
  let server: RunningServer;
  let dataDir: string;
  const devices = new Map<string, Caller>();

  beforeAll(async () => {
    await initRuntime();
    // 25 people with ≥ 5 photos, at most 8 photos each: enough for 5 disjoint users.
    set = await extractDataset({
      dir,
      scan: LFW_TEST_SCAN,
      concurrency: 2,
    });
    users = buildUsers(
      { people: set.people, samples: set.samples },
      {
        users: 5,
        peoplePerUser: 5,
        labelledPerPerson: 3,
        unlabelledPerPerson: 0,
        minTestPerPerson: 2,
        sharePeople: false,
        seed: 3,
      },
    );
    dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-e2e-'));
    server = await startServer({
      port: 0,
      dataDir,
      workers: 2,
      durability: 'normal',
      retrainAfterLabelled: 0,
    });
  }, LONG);
  afterAll(async () => {
    await server?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const dim = 128;
  /** The user's photos as a batch: label = the person's index among the user's people. */
  function batchOf(user: SimUser, indices: number[], labelled: boolean): FeatureBatch {
    const features = new Float32Array(indices.length * dim);
    indices.forEach((s, i) => features.set(set.features.subarray(s * dim, (s + 1) * dim), i * dim));
    return {
      spec: set.spec,
      sampleIds: indices.map((s) => set.samples[s].id),
      labels: Int32Array.from(indices, (s) => (labelled ? user.people.indexOf(set.samples[s].label) : -1)),
      labelNames: user.people.map((p) => set.people[p]),
      features,
    };
  }

  it(
    'enrolls 5 devices, ingests, trains on the workers, serves models that predict as well as offline training',
    async () => {
      const admin = caller(server.url, server.adminKey);
      for (const user of users) {
        expect((await admin.request('POST', '/v1/users', { name: user.id, id: user.id })).status).toBe(201);
        const t = await admin.request<{ enrollmentToken: string }>(
          'POST',
          `/v1/users/${user.id}/enrollment-tokens`,
          {},
        );
        const e = await caller(server.url, null).request<{ token: string }>('POST', '/v1/devices', {
          name: `${user.id}-phone`,
          enrollmentToken: t.json.enrollmentToken,
        });
        expect(e.status).toBe(201);
        devices.set(user.id, caller(server.url, e.json.token));
      }

      // Upload each user's labelled photos (the test photos stay on the device); one retry each.
      for (const user of users) {
        const bytes = encodeFeatureBatch(batchOf(user, user.labelled, true), { dtype: 'float16' });
        const d = devices.get(user.id)!;
        const url = `/v1/users/${user.id}/batches`;
        expect((await d.request('POST', url, bytes, { 'idempotency-key': `${user.id}-1` })).status).toBe(201);
        expect((await d.request('POST', url, bytes, { 'idempotency-key': `${user.id}-1` })).status).toBe(200);
        expect(await server.store.countSamples(user.id)).toBe(user.labelled.length);
      }
      // Another user's token cannot read or write the first user's data.
      const intruder = devices.get(users[1].id)!;
      expect((await intruder.request('GET', `/v1/users/${users[0].id}/samples`)).status).toBe(403);

      // Train every user's head as a job; the two workers run them in parallel.
      const jobs = new Map<string, number>();
      for (const user of users) {
        const r = await devices
          .get(user.id)!
          .request<{ job: { id: number } }>('POST', `/v1/users/${user.id}/train`, {});
        expect(r.status).toBe(202);
        jobs.set(user.id, r.json.job.id);
      }
      const deadline = Date.now() + 600_000;
      let seenProgress = false;
      for (const user of users) {
        for (;;) {
          const j = await devices
            .get(user.id)!
            .request<{ job: { status: string; progress: number; error: string | null } }>(
              'GET',
              `/v1/jobs/${jobs.get(user.id)}`,
            );
          if (j.json.job.status === 'running' && j.json.job.progress > 0) seenProgress = true;
          if (j.json.job.status === 'done') break;
          expect(j.json.job.status, j.json.job.error ?? '').not.toBe('failed');
          expect(Date.now()).toBeLessThan(deadline);
          await new Promise((r) => setTimeout(r, 100));
        }
      }

      // Pull each model, predict the held-out photos on the "device"; compare with offline training.
      const served: number[] = [];
      const confidences: number[] = [];
      const offline: number[] = [];
      for (const user of users) {
        const d = devices.get(user.id)!;
        const res = await d.request('GET', `/v1/models/user:${user.id}/latest`);
        expect(res.status).toBe(200);
        const etag = res.headers.get('etag')!;
        expect(
          (await d.request('GET', `/v1/models/user:${user.id}/latest`, undefined, { 'if-none-match': etag }))
            .status,
        ).toBe(304);
        const { model, metadata } = await modelFromWeightsMessage(res.bytes);
        const labels = metadata.labels as string[];
        const test = batchOf(user, user.test, true);
        const truth = Array.from(test.labels);
        const probs = tf.tidy(
          () =>
            (model.predict(tf.tensor2d(test.features, [test.labels.length, dim])) as tf.Tensor)
              .max(1)
              .arraySync() as number[],
        );
        confidences.push(...probs);
        const predicted = tf.tidy(
          () =>
            (model.predict(tf.tensor2d(test.features, [truth.length, dim])) as tf.Tensor)
              .argMax(1)
              .arraySync() as number[],
        );
        model.dispose();
        served.push(predicted.filter((c, i) => Number(labels[c]) === truth[i]).length / truth.length);

        const train = batchOf(user, user.labelled, true);
        const head = getHead(DEFAULT_TRAIN_JOB_CONFIG.head);
        const ref = head.build([dim], user.people.length, {}, 0);
        await fitHead(
          head,
          ref,
          { x: train.features, y: train.labels, shape: [dim] },
          { seed: 0, learningRate: DEFAULT_TRAIN_JOB_CONFIG.learningRate },
        );
        const refPred = tf.tidy(
          () =>
            (ref.predict(tf.tensor2d(test.features, [truth.length, dim])) as tf.Tensor)
              .argMax(1)
              .arraySync() as number[],
        );
        ref.dispose();
        offline.push(refPred.filter((c, i) => c === truth[i]).length / truth.length);
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      console.info(
        `server e2e (5 LFW users): served models ${mean(served).toFixed(3)} ${JSON.stringify(served.map((a) => +a.toFixed(3)))}, offline ${mean(offline).toFixed(3)}; progress seen: ${seenProgress}; median top probability ${[...confidences].sort((a, b) => a - b)[Math.floor(confidences.length / 2)].toFixed(2)}`,
      );
      expect(mean(served)).toBeGreaterThanOrEqual(mean(offline) - 0.02);
      expect(mean(served)).toBeGreaterThanOrEqual(0.9);
      // Confident enough that the device's default "unknown" threshold (0.5) names most faces.
      expect(confidences.filter((c) => c >= 0.5).length / confidences.length).toBeGreaterThanOrEqual(0.8);
      const models = await server.store.listModels();
      expect(models.filter((m) => m.status === 'promoted')).toHaveLength(5);
    },
    LONG,
  );
});
