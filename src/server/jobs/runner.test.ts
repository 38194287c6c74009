import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { modelFromWeightsMessage } from '../../model/io.js';
import { initRuntime, tf } from '../../runtime/node.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Job } from '../store/types.js';
import { JobRunner, type JobFinishedEvent } from './runner.js';
import { clusteredFeatures, seedUser, waitFor } from './test-data.js';

// JOBS_LOG=1 prints the runner's log lines.
const FAST = { epochs: 30, learningRate: 0.01, patience: 0 };
/** Long enough to catch the job mid-training (a few seconds on one core). */
const SLOW = { epochs: 800, learningRate: 0.001, patience: 0, validationSplit: 0 };

let dir: string;
let dbFile: string;
let store: SqliteStore;
let runner: JobRunner;
const events: JobFinishedEvent[] = [];

const jobIs = (id: number, status: Job['status']) => async () => {
  const job = (await store.getJob(id))!;
  return job.status === status ? job : undefined;
};

beforeAll(async () => {
  await initRuntime();
  dir = mkdtempSync(path.join(os.tmpdir(), 'fedex-jobs-'));
  dbFile = path.join(dir, 'fedex.db');
  store = new SqliteStore(dbFile, { synchronous: 'normal' });
  await seedUser(store, 'alice', { people: 4, perPerson: 10, seed: 1 });
  await seedUser(store, 'solo', { people: 1, perPerson: 12, seed: 2 });
  runner = new JobRunner({
    store,
    database: dbFile,
    workers: 1,
    defaults: FAST,
    log: (l) => process.env.JOBS_LOG && console.log(l),
  });
  runner.on('finished', (e: JobFinishedEvent) => events.push(e));
  await runner.start();
});

afterAll(async () => {
  await runner?.stop();
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('JobRunner', () => {
  it('trains a queued job in a worker and promotes version 1, whose weights predict the right person', async () => {
    // Prepare
    const { job } = await store.enqueueJob('user:alice', 'manual');

    // Execute
    runner.kick();
    const done = await waitFor('job done', jobIs(job.id, 'done'));

    // Assert
    expect(done.attempts).toBe(1);
    expect(done.result).toMatchObject({ modelVersion: 1, promoted: true, heldOutAccuracy: 1 });
    const latest = (await store.modelVersion('user:alice', 'latest'))!;
    expect(latest).toMatchObject({ version: 1, status: 'promoted', head: 'linear', jobId: job.id });
    expect(latest.labels).toEqual(['0', '1', '2', '3']);
    expect((await store.getUser('alice'))!.trainedThrough).toBeGreaterThan(0);
    expect(await store.countNewLabelled('alice')).toBe(0);
    const { model } = await modelFromWeightsMessage(latest.weights);
    const test = clusteredFeatures(4, 2, 77);
    const predicted = tf.tidy(() =>
      Array.from((model.predict(tf.tensor(test.features, [8, 128])) as tf.Tensor).argMax(-1).dataSync()),
    );
    model.dispose();
    expect(predicted.map((c) => latest.labels[c])).toEqual(Array.from(test.labels, String));
    expect(events.at(-1)).toMatchObject({ outcome: 'done', model: { version: 1 } });
    expect(runner.stats()).toMatchObject({ workers: 1, busy: 0, completed: 1 });
  });

  it('shows progress while training; a worker killed mid-job requeues it, keeps version 1 served, and the retry finishes', async () => {
    // Prepare
    const { job } = await store.enqueueJob('user:alice', 'manual', SLOW);
    runner.kick();
    const running = await waitFor('progress', async () => {
      const j = (await store.getJob(job.id))!;
      return j.status === 'running' && j.progress > 0.05 && j.progress < 0.5 ? j : undefined;
    });
    expect(running.message).toMatch(/candidate epoch/);
    const worker: Worker = runner.workerOfJobForTest(job.id)!;

    // Execute
    await worker.terminate();

    // Assert
    const requeued = (await store.getJob(job.id))!;
    expect(requeued.status).toBe('queued');
    expect(requeued.error).toMatch(/exited unexpectedly/);
    expect((await store.latestModelInfo('user:alice'))!.version).toBe(1);
    const done = await waitFor('retry done', jobIs(job.id, 'done'), 90_000);
    expect(done.attempts).toBe(2);
    expect((await store.latestModelInfo('user:alice'))!.version).toBe(2);
    expect(runner.stats()).toMatchObject({ workers: 1, retried: 1 });
  });

  it('fails a job for good when the scope has one class (no retry)', async () => {
    const { job } = await store.enqueueJob('user:solo', 'manual');
    runner.kick();
    const failed = await waitFor('job failed', jobIs(job.id, 'failed'));
    expect(failed.attempts).toBe(1);
    expect(failed.error).toMatch(/NOT_ENOUGH_DATA/);
    expect(await store.latestModelInfo('user:solo')).toBeUndefined();
  });

  it('stop() ends every worker thread and puts the running job back on the queue', async () => {
    // Prepare
    const { job } = await store.enqueueJob('user:alice', 'manual', SLOW);
    runner.kick();
    await waitFor('running', jobIs(job.id, 'running'));
    const threads = runner.workerThreadsForTest();
    const exited = threads.map((w) => new Promise((r) => w.once('exit', r)));

    // Execute
    await runner.stop();

    // Assert
    await Promise.all(exited);
    expect(runner.workerThreadsForTest()).toEqual([]);
    expect(runner.stats().workers).toBe(0);
    expect((await store.getJob(job.id))!.status).toBe('queued');
  });

  it('a new store and runner on the same file resume the queued job', async () => {
    // Prepare: the job the last test's stop() put back on the queue, made fast; a fresh process.
    const queued = (await store.listJobs({ status: 'queued' }))[0];
    store.db.prepare('UPDATE jobs SET config = ? WHERE id = ?').run(JSON.stringify(FAST), queued.id);
    await store.close();
    store = new SqliteStore(dbFile, { synchronous: 'normal' });
    runner = new JobRunner({ store, database: dbFile, workers: 1, defaults: FAST });

    // Execute
    await runner.start();

    // Assert
    const done = await waitFor('resumed job done', jobIs(queued.id, 'done'));
    expect(done.attempts).toBe(2);
    expect((await store.latestModelInfo('user:alice'))!.version).toBe(3);
  });
});
