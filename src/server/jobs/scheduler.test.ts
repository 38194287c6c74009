import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { SqliteStore } from '../store/sqlite.js';
import { GLOBAL_SCHEDULE, Scheduler } from './scheduler.js';
import { seedUser } from './test-data.js';

const HOUR = 3600_000;
let dir: string;
let store: SqliteStore;
let clock: number;
const kick = vi.fn();

/** A scheduler on the shared store and clock; `userIntervalMs` 24 h, global off unless asked. */
function scheduler(options: { globalIntervalMs?: number; minNewLabelled?: number } = {}): Scheduler {
  return new Scheduler({
    store,
    runner: { kick },
    now: () => clock,
    globalIntervalMs: 0,
    ...options,
  });
}

/** Marks a job done as a finished training would (trained through every sample so far). */
async function finishTraining(jobId: number): Promise<void> {
  await store.claimJob();
  const ids: number[] = [];
  for (const u of await store.listUsers())
    for (const x of await store.listSamples(u.id, { limit: 1000 })) ids.push(x.id);
  const through = Math.max(0, ...ids);
  await store.completeJob(jobId, { result: {}, trainedThrough: through });
}

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fedex-sched-'));
  clock = Date.now();
  store = new SqliteStore(path.join(dir, 'fedex.db'), { synchronous: 'normal', now: () => clock });
  kick.mockClear();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Scheduler', () => {
  it('queues a user with enough new labelled samples once, and kicks the runner', async () => {
    // Prepare
    await seedUser(store, 'alice', { people: 2, perPerson: 5, seed: 1 }); // 10 labelled
    await seedUser(store, 'bob', { people: 2, perPerson: 2, seed: 2 }); // 4: below the threshold
    const s = scheduler();

    // Execute
    const first = await s.tick();
    const second = await s.tick();

    // Assert
    expect(first.enqueued.map((j) => [j.scope, j.trigger])).toEqual([['user:alice', 'new-samples']]);
    expect(second.enqueued).toEqual([]);
    expect(kick).toHaveBeenCalledTimes(1);
  });

  it('does not queue a user again while the job runs, nor after it trained through the samples', async () => {
    await seedUser(store, 'alice', { people: 2, perPerson: 5, seed: 1 });
    const s = scheduler();
    const [job] = (await s.tick()).enqueued;
    await store.claimJob();
    expect((await s.tick()).enqueued).toEqual([]); // running
    await store.completeJob(job.id, { result: {}, trainedThrough: 10 });
    expect((await s.tick()).enqueued).toEqual([]); // nothing new
    await seedUser(store, 'alice', { people: 2, perPerson: 5, seed: 3, batchId: 'b2' });
    expect((await s.tick()).enqueued.map((j) => j.trigger)).toEqual(['new-samples']);
  });

  it('queues a user with a few new samples on schedule, once the interval has passed', async () => {
    await seedUser(store, 'alice', { people: 2, perPerson: 5, seed: 1 });
    const s = scheduler();
    await finishTraining((await s.tick()).enqueued[0].id);
    await seedUser(store, 'alice', { people: 2, perPerson: 1, seed: 4, batchId: 'b2' }); // 2 new
    expect((await s.tick()).enqueued).toEqual([]);
    clock += 25 * HOUR;
    expect((await s.tick()).enqueued.map((j) => [j.scope, j.trigger])).toEqual([['user:alice', 'schedule']]);
  });

  it('queues a never-trained user with few samples a day after the user was created', async () => {
    await seedUser(store, 'bob', { people: 2, perPerson: 2, seed: 2 });
    const s = scheduler();
    expect((await s.tick()).enqueued).toEqual([]);
    clock += 25 * HOUR;
    expect((await s.tick()).enqueued.map((j) => j.trigger)).toEqual(['schedule']);
  });

  it('leaves a scope alone for a while after its job failed', async () => {
    await seedUser(store, 'alice', { people: 2, perPerson: 5, seed: 1 });
    const s = scheduler();
    const [job] = (await s.tick()).enqueued;
    await store.claimJob();
    await store.failJob(job.id, 'NOT_ENOUGH_DATA: one class', false);
    expect((await s.tick()).enqueued).toEqual([]);
    clock += 11 * 60_000;
    expect((await s.tick()).enqueued).toHaveLength(1);
  });

  it('queues the global model when its schedule entry is old and two users have labels, and marks it', async () => {
    await seedUser(store, 'alice', { people: 1, perPerson: 3, seed: 1 });
    const s = scheduler({ globalIntervalMs: 24 * HOUR, minNewLabelled: 0 });
    expect((await s.tick()).enqueued).toEqual([]); // one user, one label: one class
    await seedUser(store, 'bob', { people: 1, perPerson: 3, seed: 2 });
    expect((await s.tick()).enqueued.map((j) => j.scope)).toEqual(['global']);
    expect(await store.lastScheduledRun(GLOBAL_SCHEDULE)).toBe(clock);
    await finishTraining((await store.listJobs({ scope: 'global' }))[0].id);
    clock += 23 * HOUR;
    expect((await s.tick()).enqueued).toEqual([]);
    clock += 2 * HOUR;
    expect((await s.tick()).enqueued.map((j) => j.scope)).toContain('global');
  });

  it('afterIngest queues the uploading user when the threshold is reached', async () => {
    await seedUser(store, 'alice', { people: 2, perPerson: 4, seed: 1 }); // 8
    const s = scheduler();
    expect(await s.afterIngest('alice')).toBeUndefined();
    await seedUser(store, 'alice', { people: 2, perPerson: 1, seed: 5, batchId: 'b2' }); // 10
    expect(await s.afterIngest('alice')).toMatchObject({ scope: 'user:alice', trigger: 'new-samples' });
    expect(kick).toHaveBeenCalledTimes(1);
    expect(await s.afterIngest('alice')).toBeUndefined();
    expect(await s.afterIngest('nobody')).toBeUndefined();
  });

  it('queues a user at once after a labelled sample was deleted, whatever the counts, until a job has seen it', async () => {
    // Prepare: a trained user with nothing new (below every threshold, interval not passed).
    await seedUser(store, 'alice', { people: 2, perPerson: 5, seed: 1 });
    const s = scheduler();
    const [first] = (await s.tick()).enqueued;
    await finishTraining(first.id);
    expect((await s.tick()).enqueued).toEqual([]);
    const [one] = await store.listSamples('alice', { limit: 1 });

    // Execute
    await store.deleteSamples('alice', { sampleIds: [one.id] });
    const job = await s.afterIngest('alice');

    // Assert
    expect(job).toMatchObject({ scope: 'user:alice', trigger: 'deletion' });
    expect(kick).toHaveBeenCalledTimes(2);
    // Done with the removals it read: nothing more is due.
    await store.claimJob();
    await store.completeJob(job!.id, { result: {}, trainedThrough: 10, trainedRemovals: 1 });
    expect((await s.tick()).enqueued).toEqual([]);
  });

  it('start() ticks on a timer that does not keep the process alive; stop() ends it', async () => {
    vi.useFakeTimers();
    try {
      await seedUser(store, 'alice', { people: 2, perPerson: 5, seed: 1 });
      const s = new Scheduler({
        store,
        runner: { kick },
        tickMs: 1000,
        globalIntervalMs: 0,
        now: () => clock,
      });
      s.start();
      await vi.advanceTimersByTimeAsync(1000);
      expect(await store.listJobs({ scope: 'user:alice' })).toHaveLength(1);
      s.stop();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
