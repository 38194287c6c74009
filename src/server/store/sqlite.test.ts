import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeWeights } from '../../core/codec.js';
import { specKey } from '../../core/types.js';
import { syntheticBatch, TEST_SPEC } from '../testing/harness.js';
import { MIGRATIONS } from './schema.js';
import { hashSecret, parseScope, sha256Hex, Store } from './sqlite.js';

let dir: string;
let file: string;
let store: Store;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fedex-store-'));
  file = path.join(dir, 'fedex.db');
  store = new Store(file, { synchronous: 'normal' });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function weights(fill: number): Uint8Array {
  return encodeWeights({
    metadata: {},
    tensors: [{ name: 'w', shape: [2], values: new Float32Array(2).fill(fill) }],
  });
}

describe('Store', () => {
  it('creates the schema once, in WAL mode, and reopens an existing file without migrating again', () => {
    expect(store.db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    store.createUser('Ana', 'ana');
    store.close();
    store = new Store(file);
    expect(store.getUser('ana')?.name).toBe('Ana');
    const ro = new Store(file, { readonly: true });
    expect(ro.getUser('ana')?.name).toBe('Ana');
    ro.close();
  });

  it('refuses a database from a newer FedEx', () => {
    store.db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    store.close();
    expect(() => new Store(file)).toThrow(/newer than this server knows/);
    store = new Store(path.join(dir, 'other.db'));
  });

  it('stores tokens hashed and finds devices by token', () => {
    store.createUser('Ana', 'ana');
    const { device, token } = store.enrollDevice('ana', 'phone');
    expect(store.deviceByToken(token)?.id).toBe(device.id);
    expect(store.deviceByToken(`${token}x`)).toBeUndefined();
    const rows = store.db.prepare('SELECT token_hash FROM devices').all() as { token_hash: string }[];
    expect(rows).toEqual([{ token_hash: hashSecret(token) }]);
    expect(() => store.enrollDevice('nobody', 'x')).toThrow(/no user/);
  });

  it('ingests a batch in one transaction: a re-sent sample replaces its features and keeps a label unless given', () => {
    store.createUser('Ana', 'ana');
    const { device } = store.enrollDevice('ana', 'phone');
    const b1 = syntheticBatch({ people: 2, perPerson: 2 });
    const r1 = store.ingestBatch({ device, batchId: 'one', sha256: 'x1', batch: b1 });
    expect(r1).toMatchObject({ samples: 4, inserted: 4, updated: 0, duplicate: false });
    // Same client ids again, unlabelled: features replaced, labels kept.
    const b2 = { ...b1, labels: new Int32Array(4).fill(-1), features: b1.features.map((v) => v + 1) };
    const r2 = store.ingestBatch({ device, batchId: 'two', sha256: 'x2', batch: b2 });
    expect(r2).toMatchObject({ inserted: 0, updated: 4 });
    const set = store.trainingSet('user:ana', store.specKeyFor(TEST_SPEC, 'ana'));
    expect(Array.from(set.labels)).toEqual([0, 0, 1, 1]);
    expect(set.features[0]).toBeCloseTo(b1.features[0] + 1, 5);
    // A batch that fails half-way (bad spec shape) stores nothing.
    const bad = syntheticBatch({
      people: 1,
      perPerson: 2,
      prefix: 'bad',
      spec: { ...TEST_SPEC, shape: [3] },
    });
    expect(() => store.ingestBatch({ device, batchId: 'bad', sha256: 'x3', batch: bad })).toThrow(/shape/);
    expect(store.countSamples()).toBe(4);
    expect(store.hasBatch('ana', 'bad')).toBe(false);
  });

  it('group-commits several uploads; a rejected one leaves the others stored', () => {
    store.createUser('Ana', 'ana');
    const { device } = store.enrollDevice('ana', 'phone');
    const ok = (i: number) => ({
      device,
      batchId: `g${i}`,
      sha256: `h${i}`,
      batch: syntheticBatch({ people: 1, perPerson: 3, prefix: `g${i}` }),
    });
    const bad = {
      ...ok(9),
      batch: syntheticBatch({ people: 1, perPerson: 2, prefix: 'bad', spec: { ...TEST_SPEC, shape: [3] } }),
    };
    const results = store.ingestMany([ok(1), bad, ok(2), { ...ok(1), sha256: 'other' }, ok(1)]);
    expect(results.map((r) => (r instanceof Error ? (r as { code?: string }).code : r.duplicate))).toEqual([
      false,
      'FEATURE_MISMATCH',
      false,
      'IDEMPOTENCY_CONFLICT',
      true,
    ]);
    expect(store.countBatches('ana')).toBe(2);
    expect(store.countSamples('ana')).toBe(6);
  });

  it('counts new labelled samples since the last training, relabels included', () => {
    store.createUser('Ana', 'ana');
    const { device } = store.enrollDevice('ana', 'phone');
    store.ingestBatch({
      device,
      batchId: 'b',
      sha256: 's',
      batch: syntheticBatch({ people: 3, perPerson: 4, labelled: 2 }),
    });
    expect(store.countNewLabelled('ana')).toBe(6);
    const { job } = store.enqueueJob('user:ana', 'manual');
    store.claimJob();
    const through = store.trainingSet('user:ana', store.specKeyFor(TEST_SPEC, 'ana')).throughSampleId;
    store.completeJob(job.id, { result: {}, trainedThrough: through });
    expect(store.countNewLabelled('ana')).toBe(0);
    const unlabelled = store.listSamples('ana', { label: -1 });
    expect(store.relabel('ana', { sampleIds: [unlabelled[0].id] }, 2)).toBe(1);
    expect(store.countNewLabelled('ana')).toBeGreaterThanOrEqual(1);
  });

  it("keeps each user's usage exact across new, re-sent, duplicate and rolled-back uploads", () => {
    // Prepare
    store.createUser('Ana', 'ana');
    const { device } = store.enrollDevice('ana', 'phone');
    const recount = () => {
      const fresh = new Store(file, { readonly: true });
      try {
        return fresh.usage('ana');
      } finally {
        fresh.close();
      }
    };
    const b1 = syntheticBatch({ people: 2, perPerson: 3 });

    // Execute
    const empty = store.usage('ana'); // counted, then cached
    store.ingestBatch({ device, batchId: 'one', sha256: 's1', batch: b1 });
    store.ingestBatch({ device, batchId: 'one', sha256: 's1', batch: b1 }); // duplicate
    store.ingestBatch({ device, batchId: 'two', sha256: 's2', batch: b1 }); // same samples re-sent
    const more = syntheticBatch({ people: 1, perPerson: 4, prefix: 'm' });
    store.ingestMany([{ device, batchId: 'three', sha256: 's3', batch: more }]);
    const afterWrites = store.usage('ana');
    store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true }) as number}`);
    const big = syntheticBatch({ people: 8, perPerson: 60, prefix: 'big' });
    expect(() => store.ingestMany([{ device, batchId: 'four', sha256: 's4', batch: big }])).toThrow(
      /out of storage/,
    );

    // Assert
    expect(empty).toEqual({ samples: 0, featureBytes: 0 });
    expect(afterWrites).toEqual({ samples: 10, featureBytes: 10 * 8 * 4 });
    expect(afterWrites).toEqual(recount());
    expect(store.usage('ana')).toEqual(recount()); // nothing of the failed group counted
  });

  it('numbers model versions per scope and serves the newest promoted one as latest', () => {
    store.registerSpec(TEST_SPEC);
    const k = specKey(TEST_SPEC);
    const base = { specKey: k, head: 'linear', config: {}, metrics: {}, labels: ['0', '1'] };
    const v1 = store.insertModel({ ...base, scope: 'user:a', weights: weights(1), status: 'promoted' });
    const v2 = store.insertModel({
      ...base,
      scope: 'user:a',
      weights: weights(2),
      status: 'rejected',
      reason: 'worse',
    });
    const g1 = store.insertModel({ ...base, scope: 'global', weights: weights(3), status: 'promoted' });
    expect([v1.version, v2.version, g1.version]).toEqual([1, 2, 1]);
    expect(v1.checksum).toBe(sha256Hex(weights(1)));
    expect(store.latestModelInfo('user:a')?.version).toBe(1);
    expect(store.modelVersion('user:a', 'latest')?.weights).toEqual(weights(1));
    expect(store.modelVersion('user:a', 2)?.reason).toBe('worse');
    expect(store.listModels({ scope: 'user:a' }).map((m) => m.version)).toEqual([2, 1]);
  });

  it('runs jobs one per scope, retries failures up to max attempts, and requeues jobs a crash left running', () => {
    const a = store.enqueueJob('user:a', 'manual', {}, 2).job;
    expect(store.enqueueJob('user:a', 'schedule').created).toBe(false); // one queued job per scope
    const g = store.enqueueJob('global', 'schedule').job;
    expect(store.claimJob()?.id).toBe(a.id);
    const a2 = store.enqueueJob('user:a', 'new-samples').job; // a is running: a second one may queue
    expect(store.claimJob()?.id).toBe(g.id); // but not run beside it
    expect(store.claimJob()).toBeUndefined();
    expect(store.failJob(a.id, 'boom').status).toBe('queued');
    expect(store.claimJob()?.id).toBe(a.id); // the oldest queued job of a free scope
    expect(store.failJob(a.id, 'boom again').status).toBe('failed'); // 2 attempts spent
    store.updateJobProgress(g.id, 0.5, 'half');
    expect(store.getJob(g.id)).toMatchObject({ progress: 0.5, message: 'half' });
    store.close();
    store = new Store(file); // the process died with g running
    expect(store.recoverRunningJobs()).toBe(1);
    expect(store.getJob(g.id)?.status).toBe('queued');
    expect(store.countJobs()).toEqual({ queued: 2, running: 0, cancelled: 0, done: 0, failed: 1 });
    expect(a2.scope).toBe('user:a');
  });

  it('parses scopes strictly', () => {
    expect(parseScope('global')).toEqual({ kind: 'global' });
    expect(parseScope('user:ab_c-1')).toEqual({ kind: 'user', userId: 'ab_c-1' });
    for (const bad of ['', 'user:', 'user:a b', 'users:a', 'global ', 'user:../x'])
      expect(parseScope(bad)).toBeNull();
  });
});

describe('Store.deleteSamples', () => {
  function userWithSamples(id: string, prefix: string) {
    store.createUser(id, id);
    const { device } = store.enrollDevice(id, 'phone');
    // 2 people x 3 samples, the first 2 of each labelled.
    const batch = syntheticBatch({ people: 2, perPerson: 3, labelled: 2, prefix });
    store.ingestBatch({ device, batchId: `${prefix}-1`, sha256: prefix, batch });
    return { device, clientIds: batch.sampleIds };
  }

  it("deletes by client id and by server id, features and all, and only the caller user's", () => {
    // Prepare
    const ana = userWithSamples('ana', 'a');
    userWithSamples('bob', 'b');
    const anaIds = store.listSamples('ana').map((s) => s.id);
    const bobIds = store.listSamples('bob').map((s) => s.id);
    expect(store.usage('ana').samples).toBe(6);

    // Execute: two of Ana's by client id (one labelled, one not), one by server id, and Bob's ids
    // sent as Ana's.
    const r = store.deleteSamples('ana', {
      clientIds: [ana.clientIds[0], ana.clientIds[2], 'never-uploaded'],
      sampleIds: [anaIds[4], ...bobIds],
    });

    // Assert
    expect(r).toEqual({ deleted: 3, labelled: 2, missing: 1 + bobIds.length });
    expect(store.listSamples('ana').map((s) => s.clientId)).toEqual([
      ana.clientIds[1],
      ana.clientIds[3],
      ana.clientIds[5],
    ]);
    expect(store.countSamples('bob')).toBe(6);
    expect(store.usage('ana').samples).toBe(3); // the quota sees the room made
    const rows = store.db.prepare("SELECT COUNT(*) AS n FROM samples WHERE user_id = 'ana'").get() as {
      n: number;
    };
    expect(rows.n).toBe(3);
  });

  it('is idempotent: a resent deletion deletes nothing more and changes no state', () => {
    const ana = userWithSamples('ana', 'a');
    expect(store.deleteSamples('ana', { clientIds: [ana.clientIds[0]] })).toMatchObject({ deleted: 1 });
    const removals = () =>
      (store.db.prepare("SELECT removals FROM users WHERE id = 'ana'").get() as { removals: number })
        .removals;
    const before = removals();
    expect(store.deleteSamples('ana', { clientIds: [ana.clientIds[0]] })).toEqual({
      deleted: 0,
      labelled: 0,
      missing: 1,
    });
    expect(removals()).toBe(before);
  });

  it('makes the user due for a retraining that forgets: removals are read with the training set and cleared by its job', () => {
    // Prepare: a finished training of Ana's head.
    const ana = userWithSamples('ana', 'a');
    const key = store.labelledSpecs('ana')[0].specKey;
    const first = store.trainingSet('user:ana', key);
    expect(first.removals).toEqual({ removals: 0, trained: 0 });
    expect(store.retrainState('ana')?.forgetPending).toBe(false);

    // Execute: an unlabelled sample goes (nothing to forget), then a labelled one.
    store.deleteSamples('ana', { clientIds: [ana.clientIds[2]] });
    const afterUnlabelled = store.retrainState('ana')!.forgetPending;
    store.deleteSamples('ana', { clientIds: [ana.clientIds[0]] });
    const set = store.trainingSet('user:ana', key);
    const pending = store.retrainState('ana')!.forgetPending;
    const { job } = store.enqueueJob('user:ana', 'deletion');
    store.claimJob();
    store.completeJob(job.id, {
      result: {},
      trainedThrough: set.throughSampleId,
      trainedRemovals: set.removals!.removals,
    });

    // Assert
    expect(afterUnlabelled).toBe(false);
    expect(pending).toBe(true);
    expect(set.removals).toEqual({ removals: 1, trained: 0 });
    expect(set.sampleIds).toHaveLength(3); // 4 labelled, 1 deleted
    expect(store.retrainState('ana')!.forgetPending).toBe(false);
    expect(store.listUsers('ana')[0].forgetPending).toBe(false);
  });
});
