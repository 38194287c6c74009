/**
 * One suite, run against every {@link Store} implementation: the embedded SQLite file and
 * PostgreSQL (a fresh schema per test; skipped with a warning when no server answers, failed under
 * FEDEX_REQUIRE_SERVICES=1). Times come from a settable clock, features are `10·i + d`, so every
 * expected value can be worked out by hand. PostgreSQL-only behaviour (migrations across
 * processes, connection failures) is at the end.
 */
import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FedexError } from '../../core/errors.js';
import { PG_MIGRATIONS } from './pg-schema.js';
import { PgStore, pgStorageError } from './postgres.js';
import {
  hashSecret,
  parseScope,
  redactUrl,
  sha256Hex,
  type Store,
  type StoreKind,
  type UserQuota,
} from './store.js';
import {
  createTestDatabase,
  postgresTestUrl,
  REGISTRY_SPEC,
  STORE_KINDS,
  storeSkipReason,
  testBatch,
  testClock,
  TEST_SPEC,
  type TestDatabase,
} from './testing.js';
import type { Device, IngestResult, NewModel } from './types.js';

const SKIP: Record<StoreKind, string | undefined> = {
  sqlite: await storeSkipReason('sqlite'),
  postgres: await storeSkipReason('postgres'),
};

const T0 = 1_000_000;
const HOUR = 3600_000;

/** The error a call rejected with (awaited at once, so no rejection is ever left unhandled). */
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );

for (const kind of STORE_KINDS) {
  describe.skipIf(SKIP[kind] !== undefined)(`Store conformance: ${kind}`, () => {
    let db: TestDatabase;
    let store: Store;
    let clock: ReturnType<typeof testClock>;
    beforeEach(async () => {
      clock = testClock(T0);
      db = await createTestDatabase(kind);
      store = await db.open({ now: clock.now });
    });
    afterEach(async () => {
      await db?.cleanup();
    });

    async function userWithDevice(id: string): Promise<Device> {
      await store.createUser(id, id);
      return (await store.enrollDevice(id, 'phone')).device;
    }
    const keyOf = (userId: string) => store.specKeyFor(TEST_SPEC, userId);
    const ids = async (userId: string) => (await store.listSamples(userId)).map((s) => s.id);
    const labelsOf = async (userId: string) => (await store.listSamples(userId)).map((s) => s.label);
    async function ingest(
      device: Device,
      batchId: string,
      clientIds: string[],
      labels: number[],
      quota?: UserQuota,
    ) {
      return store.ingestBatch({
        device,
        batchId,
        sha256: `sha-${batchId}`,
        batch: testBatch(clientIds, labels),
        quota,
      });
    }
    /** A finished training of the user's head that saw everything up to `through`. */
    async function trainedThrough(userId: string, through: number, removals?: number) {
      const { job } = await store.enqueueJob(`user:${userId}`, 'manual');
      await store.claimJob();
      await store.completeJob(job.id, { result: {}, trainedThrough: through, trainedRemovals: removals });
    }
    /** {@link trainedThrough}, claimed after the clock moved on (a training that started later). */
    async function trainedThroughLater(userId: string, through: number) {
      clock.advance(100);
      await trainedThrough(userId, through);
    }
    function newModel(scope: NewModel['scope'], fill: number, extra: Partial<NewModel> = {}): NewModel {
      return {
        scope,
        specKey: store.specKeyFor(REGISTRY_SPEC),
        head: 'linear',
        config: { lr: 0.1 },
        metrics: { heldOutAccuracy: 0.9 },
        labels: ['0', '1'],
        weights: new Uint8Array([fill, fill, fill]),
        status: 'promoted',
        ...extra,
      };
    }

    // ---- users, devices, enrollment -----------------------------------------------------------

    describe('users and devices', () => {
      it('creates a user once and refuses a malformed or taken id', async () => {
        const ana = await store.createUser('Ana', 'ana');

        await expect(store.createUser('Other', 'ana')).rejects.toMatchObject({
          code: 'IDEMPOTENCY_CONFLICT',
        });
        await expect(store.createUser('X', 'a b')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
        const generated = await store.createUser('Anon');

        expect(ana).toEqual({
          id: 'ana',
          name: 'Ana',
          createdAt: T0,
          trainedThrough: 0,
          lastTrainedAt: null,
        });
        expect(await store.getUser('ana')).toEqual(ana);
        expect(await store.getUser('nobody')).toBeUndefined();
        expect(generated.id).toMatch(/^[0-9a-f]{16}$/);
      });

      it('lists users oldest first with their devices, samples, labels and newest promoted version', async () => {
        const device = await userWithDevice('ana');
        clock.advance(1);
        await store.createUser('Bob', 'bob');
        await ingest(device, 'b', ['a', 'b', 'c'], [0, 1, -1]);
        await store.registerSpec(REGISTRY_SPEC);
        await store.insertModel(newModel('user:ana', 1));
        await store.insertModel(newModel('user:ana', 2, { status: 'rejected', reason: 'worse' }));

        const users = await store.listUsers();

        expect(users).toEqual([
          {
            id: 'ana',
            name: 'ana',
            createdAt: T0,
            trainedThrough: 0,
            lastTrainedAt: null,
            devices: 1,
            samples: 3,
            labelled: 2,
            newLabelled: 2,
            forgetPending: false,
            modelVersion: 1,
          },
          {
            id: 'bob',
            name: 'Bob',
            createdAt: T0 + 1,
            trainedThrough: 0,
            lastTrainedAt: null,
            devices: 0,
            samples: 0,
            labelled: 0,
            newLabelled: 0,
            forgetPending: false,
            modelVersion: null,
          },
        ]);
        expect((await store.listUsers('bob')).map((u) => u.id)).toEqual(['bob']);
        expect(await store.retrainState('ana')).toEqual({
          id: 'ana',
          createdAt: T0,
          lastTrainedAt: null,
          newLabelled: 2,
          forgetPending: false,
        });
        expect(await store.retrainState('nobody')).toBeUndefined();
      });

      it('stores device tokens hashed, finds devices by token, and stops a revoked one', async () => {
        await store.createUser('Ana', 'ana');
        const { device, token } = await store.enrollDevice('ana', 'phone');

        clock.advance(5);
        await store.touchDevice(device.id);
        clock.advance(5);
        const revoked = await store.revokeDevice(device.id);
        clock.advance(5);
        const again = await store.revokeDevice(device.id);

        expect(device).toMatchObject({ userId: 'ana', name: 'phone', createdAt: T0, lastSeenAt: null });
        expect(await db.query('SELECT token_hash FROM devices')).toEqual([{ token_hash: hashSecret(token) }]);
        expect([revoked, again, await store.revokeDevice('nope')]).toEqual([true, true, false]);
        // Revoked at the first call; the second changes nothing.
        expect(await store.getDevice(device.id)).toEqual({
          ...device,
          lastSeenAt: T0 + 5,
          revokedAt: T0 + 10,
        });
        expect(await store.deviceByToken(token)).toBeUndefined();
        expect(await store.listDevices('ana')).toEqual([]);
        await expect(store.enrollDevice('nobody', 'x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      });

      it('finds a live device by its token only', async () => {
        await store.createUser('Ana', 'ana');
        const { device, token } = await store.enrollDevice('ana', 'phone');
        clock.advance(1);
        const tablet = await store.enrollDevice('ana', 'tablet');

        expect(await store.deviceByToken(token)).toEqual(device);
        expect(await store.deviceByToken(`${token}x`)).toBeUndefined();
        expect((await store.listDevices('ana')).map((d) => d.id)).toEqual([device.id, tablet.device.id]);
      });

      it('enrolls with a token until its uses are spent or it expires', async () => {
        await store.createUser('Ana', 'ana');
        const twoUses = await store.createEnrollmentToken('ana', { ttlMs: 1001, uses: 2 });
        const oneDay = await store.createEnrollmentToken('ana');

        clock.advance(1000);
        const phone = await store.enrollWithToken(twoUses.token, 'phone');
        clock.advance(1); // exactly at expiry: still valid
        await store.enrollWithToken(twoUses.token, 'tablet');
        const spent = await failure(store.enrollWithToken(twoUses.token, 'third'));
        clock.advance(24 * HOUR);
        const expired = await failure(store.enrollWithToken(oneDay.token, 'late'));

        expect(twoUses.expiresAt).toBe(T0 + 1001);
        expect(oneDay.expiresAt).toBe(T0 + 24 * HOUR);
        expect(phone.device).toMatchObject({ userId: 'ana', name: 'phone', createdAt: T0 + 1000 });
        expect(await store.deviceByToken(phone.token)).toEqual(phone.device);
        expect(spent).toMatchObject({ code: 'AUTH_INVALID' });
        expect(expired).toMatchObject({ code: 'AUTH_INVALID' });
        await expect(store.enrollWithToken('fxe_unknown', 'x')).rejects.toMatchObject({
          code: 'AUTH_INVALID',
        });
        await expect(store.createEnrollmentToken('nobody')).rejects.toMatchObject({ code: 'NOT_FOUND' });
        expect((await store.listDevices('ana')).map((d) => d.name)).toEqual(['phone', 'tablet']);
      });

      it('spends a one-use enrollment token once when two stores race for it', async () => {
        await store.createUser('Ana', 'ana');
        const other = await db.open({ now: clock.now });
        const { token } = await store.createEnrollmentToken('ana', { uses: 1 });

        const outcomes = await Promise.allSettled([
          store.enrollWithToken(token, 'one'),
          other.enrollWithToken(token, 'two'),
        ]);

        expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
        expect(await store.listDevices('ana')).toHaveLength(1);
      });
    });

    // ---- labels and specs ----------------------------------------------------------------------

    it("names labels: setLabels inserts or renames, an upload's names never overwrite one", async () => {
      const device = await userWithDevice('ana');
      const batch = (ids: string[], names: string[]) => testBatch(ids, [0], { labelNames: names });
      await store.ingestBatch({ device, batchId: '1', sha256: '1', batch: batch(['a'], ['zero', 'one']) });
      const first = await store.getLabels('ana');

      const set = await store.setLabels('ana', [
        { id: 1, name: 'uno' },
        { id: 2, name: 'dos' },
      ]);
      await store.ingestBatch({
        device,
        batchId: '2',
        sha256: '2',
        batch: batch(['b'], ['cero', '', 'x', 'tres']),
      });

      expect(first).toEqual([
        { id: 0, name: 'zero' },
        { id: 1, name: 'one' },
      ]);
      expect(set).toEqual([
        { id: 0, name: 'zero' },
        { id: 1, name: 'uno' },
        { id: 2, name: 'dos' },
      ]);
      expect(await store.getLabels('ana')).toEqual([...set, { id: 3, name: 'tres' }]);
      expect(await store.getLabels('bob')).toEqual([]);
    });

    it('keys a registry spec shared by everyone and any other spec per user, each with one shape', async () => {
      await store.createUser('Ana', 'ana');
      await store.createUser('Bob', 'bob');

      const registry = await store.registerSpec(REGISTRY_SPEC, 'ana');
      const anas = await store.registerSpec(TEST_SPEC, 'ana');
      const bobs = await store.registerSpec({ ...TEST_SPEC, shape: [2] }, 'bob'); // Bob's own shape

      expect(store.specKeyFor(TEST_SPEC)).toBe('test-net@1/embedding');
      expect([registry, anas, bobs]).toEqual([
        'tiny-cnn@1/embedding',
        'test-net@1/embedding#ana',
        'test-net@1/embedding#bob',
      ]);
      expect(store.specKeyFor(REGISTRY_SPEC, 'bob')).toBe(registry);
      expect(await store.registerSpec(TEST_SPEC, 'ana')).toBe(anas); // idempotent
      await expect(store.registerSpec({ ...TEST_SPEC, shape: [2] }, 'ana')).rejects.toThrow(
        'spec test-net@1/embedding#ana has shape [4] here, the batch says [2]',
      );
      await expect(store.registerSpec({ ...REGISTRY_SPEC, shape: [8] }, 'ana')).rejects.toThrow(
        'tiny-cnn at split embedding produces shape [16], the batch says [8]',
      );
      expect(await store.getSpec(bobs)).toEqual({ ...TEST_SPEC, shape: [2] });
      expect(await store.getSpec('nope')).toBeUndefined();
    });

    it("keeps a user's own spec out of other users' and the global training sets", async () => {
      const device = await userWithDevice('ana');
      await store.createUser('Bob', 'bob');
      await ingest(device, 'own', ['a', 'b'], [0, 1]);
      const registryBatch = testBatch(['r1', 'r2', 'r3'], [0, 0, 1], { spec: REGISTRY_SPEC });
      await store.ingestBatch({ device, batchId: 'reg', sha256: 'reg', batch: registryBatch });

      expect((await store.trainingSet('user:ana', keyOf('ana'))).sampleIds).toHaveLength(2);
      await expect(store.trainingSet('user:bob', keyOf('ana'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(store.trainingSet('global', keyOf('ana'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(store.trainingSet('global', 'no-such-spec')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(store.trainingSet('users:x' as 'global', keyOf('ana'))).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
      expect(await store.labelledSpecs('ana')).toEqual([
        { specKey: 'tiny-cnn@1/embedding', labelled: 3 },
        { specKey: 'test-net@1/embedding#ana', labelled: 2 },
      ]);
      expect(await store.labelledSpecs()).toEqual([{ specKey: 'tiny-cnn@1/embedding', labelled: 3 }]);
    });

    // ---- ingest --------------------------------------------------------------------------------

    describe('ingest', () => {
      it('stores a batch in one transaction: a re-sent sample replaces its features and keeps a label unless given', async () => {
        const device = await userWithDevice('ana');
        const first = await ingest(device, 'one', ['a', 'b', 'c', 'd'], [0, 0, 1, 1]);
        clock.advance(10);
        const resent = testBatch(['a', 'b', 'c', 'd'], [-1, -1, 2, -1], {
          value: (i, d) => 100 + 10 * i + d,
        });
        const second = await store.ingestBatch({ device, batchId: 'two', sha256: 'x2', batch: resent });
        const set = await store.trainingSet('user:ana', keyOf('ana'));
        const stored = await db.query<{ features: Uint8Array }>(
          'SELECT features FROM samples WHERE client_id = ?',
          ['b'],
        );

        expect(first).toEqual({
          batchId: 'one',
          samples: 4,
          inserted: 4,
          updated: 0,
          duplicate: false,
          receivedAt: T0,
        });
        expect(second).toEqual({
          batchId: 'two',
          samples: 4,
          inserted: 0,
          updated: 4,
          duplicate: false,
          receivedAt: T0 + 10,
        });
        expect(Array.from(set.labels)).toEqual([0, 0, 2, 1]);
        expect(Array.from(set.features)).toEqual([
          100, 101, 102, 103, 110, 111, 112, 113, 120, 121, 122, 123, 130, 131, 132, 133,
        ]);
        // Little-endian float32, the same bytes in either database.
        expect(Buffer.from(stored[0].features)).toEqual(
          Buffer.from(new Float32Array([110, 111, 112, 113]).buffer),
        );
        expect(
          (await store.listSamples('ana')).map((s) => [s.clientId, s.batchId, s.createdAt, s.updatedAt]),
        ).toEqual([
          ['a', 'two', T0, T0 + 10],
          ['b', 'two', T0, T0 + 10],
          ['c', 'two', T0, T0 + 10],
          ['d', 'two', T0, T0 + 10],
        ]);
        expect((await store.getDevice(device.id))?.lastSeenAt).toBe(T0 + 10);
      });

      it('stores nothing of a batch that fails half-way', async () => {
        const device = await userWithDevice('ana');
        await ingest(device, 'one', ['a', 'b'], [0, 1]);
        const newSpec = { ...TEST_SPEC, backboneVersion: '2' };
        // A device that does not exist: its new spec is written, then its first sample fails.
        const ghost = { ...device, id: 'ghost' };

        const mismatch = await failure(
          store.ingestBatch({
            device,
            batchId: 'bad',
            sha256: 'x',
            batch: testBatch(['e'], [0], { spec: { ...TEST_SPEC, shape: [3] } }),
          }),
        );
        const halfWay = await failure(
          store.ingestBatch({
            device: ghost,
            batchId: 'half',
            sha256: 'h',
            batch: testBatch(['f'], [0], { spec: newSpec }),
          }),
        );

        expect(mismatch).toMatchObject({ code: 'FEATURE_MISMATCH' });
        expect(halfWay).toBeInstanceOf(Error); // a foreign-key violation, in either database's words
        expect(await store.getSpec(store.specKeyFor(newSpec, 'ana'))).toBeUndefined();
        expect(await store.hasBatch('ana', 'bad')).toBe(false);
        expect(await store.hasBatch('ana', 'half')).toBe(false);
        expect(await store.countSamples('ana')).toBe(2);
      });

      it('answers a retried batch id with its first result and refuses the id with other bytes', async () => {
        const device = await userWithDevice('ana');
        const bob = await userWithDevice('bob');
        const first = await ingest(device, 'b1', ['a', 'b'], [0, -1]);
        clock.advance(5);

        const retried = await ingest(device, 'b1', ['a', 'b'], [0, -1]);
        const conflict = await failure(
          store.ingestBatch({ device, batchId: 'b1', sha256: 'other', batch: testBatch(['c'], [0]) }),
        );
        const bobs = await ingest(bob, 'b1', ['a'], [0]); // batch ids are per user

        expect(retried).toEqual({ ...first, duplicate: true });
        expect(retried.receivedAt).toBe(T0);
        expect(conflict).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
        expect(bobs.duplicate).toBe(false);
        expect(await store.hasBatch('ana', 'b1')).toBe(true);
        expect(await store.hasBatch('ana', 'b2')).toBe(false);
        expect([await store.countBatches('ana'), await store.countBatches()]).toEqual([1, 2]);
        expect([await store.countSamples('ana'), await store.countSamples()]).toEqual([2, 3]);
      });

      it('group-commits several uploads; a rejected one leaves the others stored', async () => {
        const device = await userWithDevice('ana');
        const ok = (i: number) => ({
          device,
          batchId: `g${i}`,
          sha256: `h${i}`,
          batch: testBatch([`g${i}-0`, `g${i}-1`, `g${i}-2`], [0, 0, -1]),
        });
        const badShape = { ...ok(9), batch: testBatch(['bad'], [0], { spec: { ...TEST_SPEC, shape: [3] } }) };
        const overQuota = { ...ok(3), quota: { maxSamples: 7, maxFeatureBytes: 0 } };
        // Rejected by the database itself (a foreign key), not by the store's checks.
        const ghost = { ...ok(4), device: { ...device, id: 'ghost' } };

        const results = await store.ingestMany([
          ok(1),
          badShape,
          ok(2),
          { ...ok(1), sha256: 'other' },
          ok(1),
          overQuota,
          ghost,
          ok(5),
        ]);

        const outcome = (r: IngestResult | Error) =>
          r instanceof FedexError ? r.code : r instanceof Error ? 'database error' : r.duplicate;
        expect(results.map(outcome)).toEqual([
          false,
          'FEATURE_MISMATCH',
          false,
          'IDEMPOTENCY_CONFLICT',
          true,
          'QUOTA_EXCEEDED',
          'database error',
          false,
        ]);
        expect(await store.countBatches('ana')).toBe(3);
        expect(await store.countSamples('ana')).toBe(9);
        expect(await store.ingestMany([])).toEqual([]);
      });

      it('group-commits from two stores naming the same users in opposite orders', async () => {
        const ana = await userWithDevice('ana');
        const bob = await userWithDevice('bob');
        const other = await db.open({ now: clock.now });
        const input = (device: Device, id: string) => ({
          device,
          batchId: id,
          sha256: id,
          batch: testBatch([`${id}-0`, `${id}-1`], [0, 1]),
        });

        const rounds = await Promise.all(
          [0, 1, 2, 3].flatMap((i) => [
            store.ingestMany([input(ana, `s${i}`), input(bob, `s${i}`)]),
            other.ingestMany([input(bob, `o${i}`), input(ana, `o${i}`)]),
          ]),
        );

        expect(rounds.flat().every((r) => !(r instanceof Error) && r.inserted === 2)).toBe(true);
        expect([await store.countSamples('ana'), await store.countSamples('bob')]).toEqual([16, 16]);
      });

      it('refuses an upload over the quota before writing, counting only samples new to the store', async () => {
        const device = await userWithDevice('ana');
        const four = { maxSamples: 4, maxFeatureBytes: 0 };
        const bytes64 = { maxSamples: 0, maxFeatureBytes: 64 }; // 4 samples of 4 float32

        await ingest(device, 'q1', ['a', 'b', 'c'], [0, 0, 0], four);
        const resentPlusOne = await ingest(device, 'q2', ['a', 'b', 'c', 'd'], [0, 0, 0, 0], four);
        const fifth = await failure(ingest(device, 'q3', ['e'], [0], four));
        const overBytes = await failure(ingest(device, 'q4', ['a', 'e'], [0, 0], bytes64));
        const onlyResent = await ingest(device, 'q5', ['a', 'b'], [1, 1], bytes64);

        expect(resentPlusOne).toMatchObject({ inserted: 1, updated: 3 });
        expect(fifth).toMatchObject({
          code: 'QUOTA_EXCEEDED',
          message: 'this user would hold 5 samples, over the quota of 4; relabel or delete old ones',
        });
        expect(overBytes).toMatchObject({
          code: 'QUOTA_EXCEEDED',
          message: 'this user would hold 80 bytes of features, over the quota of 64',
        });
        expect(onlyResent).toMatchObject({ inserted: 0, updated: 2 });
        expect(await store.hasBatch('ana', 'q3')).toBe(false);
        expect(await store.usage('ana')).toEqual({ samples: 4, featureBytes: 64 });
      });

      it("keeps each user's usage exact across new, re-sent, duplicate uploads and deletions", async () => {
        const device = await userWithDevice('ana');
        const empty = await store.usage('ana');

        await ingest(device, 'one', ['a', 'b', 'c'], [0, 0, -1]);
        await ingest(device, 'one', ['a', 'b', 'c'], [0, 0, -1]); // duplicate
        await ingest(device, 'two', ['a', 'b'], [1, 1]); // re-sent
        const registry = testBatch(['x', 'y'], [0, 1], { spec: REGISTRY_SPEC });
        await store.ingestMany([{ device, batchId: 'three', sha256: 's3', batch: registry }]);
        const afterWrites = await store.usage('ana');
        await store.deleteSamples('ana', { clientIds: ['a'] });
        const afterDelete = await store.usage('ana');
        const other = await db.open({ readonly: true });

        expect(empty).toEqual({ samples: 0, featureBytes: 0 });
        expect(afterWrites).toEqual({ samples: 5, featureBytes: 3 * 16 + 2 * 64 });
        expect(afterDelete).toEqual({ samples: 4, featureBytes: 2 * 16 + 2 * 64 });
        expect(await other.usage('ana')).toEqual(afterDelete); // counted afresh by another process
      });

      it('stores a batch id once when two stores ingest it at the same time', async () => {
        const device = await userWithDevice('ana');
        const other = await db.open({ now: clock.now });
        const inputs = ['p', 'q', 'r', 's'].map((id) => ({
          device,
          batchId: id,
          sha256: `h-${id}`,
          batch: testBatch([`${id}0`, `${id}1`, `${id}2`], [0, 1, -1]),
        }));

        const results = await Promise.all(
          inputs.flatMap((input) => [store.ingestBatch(input), other.ingestBatch(input)]),
        );

        for (let i = 0; i < inputs.length; i++) {
          const pair = [results[2 * i], results[2 * i + 1]];
          expect(pair.map((r) => r.duplicate).sort()).toEqual([false, true]);
          expect(pair.map((r) => r.inserted)).toEqual([3, 3]);
        }
        expect(await store.countSamples('ana')).toBe(12);
        expect(await store.countBatches('ana')).toBe(4);
      });
    });

    // ---- samples -------------------------------------------------------------------------------

    describe('samples', () => {
      it('lists samples by page after an id, and by label', async () => {
        const device = await userWithDevice('ana');
        await ingest(device, 'b', ['a', 'b', 'c', 'd', 'e'], [0, -1, 1, -1, 2]);
        const all = await store.listSamples('ana');

        const page1 = await store.listSamples('ana', { limit: 2 });
        const page2 = await store.listSamples('ana', { limit: 2, after: page1[1].id });
        const clients = (list: { clientId: string }[]) => list.map((s) => s.clientId);

        expect(all[0]).toEqual({
          id: all[0].id,
          clientId: 'a',
          deviceId: device.id,
          batchId: 'b',
          specKey: 'test-net@1/embedding#ana',
          label: 0,
          createdAt: T0,
          updatedAt: T0,
        });
        expect(clients(all)).toEqual(['a', 'b', 'c', 'd', 'e']);
        expect([clients(page1), clients(page2)]).toEqual([
          ['a', 'b'],
          ['c', 'd'],
        ]);
        expect(clients(await store.listSamples('ana', { label: -1 }))).toEqual(['b', 'd']);
        expect(clients(await store.listSamples('ana', { label: 2 }))).toEqual(['e']);
        expect(await store.listSamples('bob')).toEqual([]);
      });

      it('relabels all or nothing, naming the first unknown id, and makes the relabelled samples new', async () => {
        const device = await userWithDevice('ana');
        const bob = await userWithDevice('bob');
        await ingest(device, 'b', ['a', 'b', 'c', 'd'], [0, 0, -1, -1]);
        await ingest(bob, 'b', ['z'], [0]);
        const [a, , c, d] = await ids('ana');
        const [bobs] = await ids('bob');
        await trainedThrough('ana', d);
        const before = await store.countNewLabelled('ana');

        const changed = await store.relabel('ana', { sampleIds: [c], clientIds: ['d'] }, 1);
        const unknownId = await failure(store.relabel('ana', { sampleIds: [a, bobs] }, 5));
        const unknownClient = await failure(store.relabel('ana', { clientIds: ['a', 'zz', 'yy'] }, 5));

        expect(before).toBe(0);
        expect(changed).toBe(2);
        expect((await store.getUser('ana'))?.trainedThrough).toBe(c - 1);
        expect(await store.countNewLabelled('ana')).toBe(2);
        expect(unknownId).toMatchObject({ code: 'NOT_FOUND', message: `no sample ${bobs} for this user` });
        expect(unknownClient).toMatchObject({ code: 'NOT_FOUND', message: 'no sample "zz" for this user' });
        expect(await labelsOf('ana')).toEqual([0, 0, 1, 1]);
        expect(await labelsOf('bob')).toEqual([0]);
        expect(await store.relabel('ana', { clientIds: ['a'] }, -1)).toBe(1); // -1 clears a label
        expect(await labelsOf('ana')).toEqual([-1, 0, 1, 1]);
      });

      it('keeps a sample relabelled while its user trained new: the finished job does not mark it seen', async () => {
        const device = await userWithDevice('ana');
        await ingest(device, 'b', ['a', 'b', 'c', 'd'], [0, 0, 1, 1]);
        const [, b, , d] = await ids('ana');
        const { job } = await store.enqueueJob('user:ana', 'manual');
        await store.claimJob(); // started at T0
        const set = await store.trainingSet('user:ana', keyOf('ana')); // read with b labelled 0

        clock.advance(50);
        await store.relabel('ana', { sampleIds: [b] }, 1); // while it trains
        clock.advance(50);
        await store.completeJob(job.id, { result: {}, trainedThrough: set.throughSampleId });

        expect(set.throughSampleId).toBe(d);
        // Not raised over b: b (and what follows it) is still new, so the user is retrained.
        expect((await store.getUser('ana'))?.trainedThrough).toBe(b - 1);
        expect(await store.countNewLabelled('ana')).toBe(3);
        // A training that starts after the relabel sees it: then everything is seen.
        await trainedThroughLater('ana', d);
        expect(await store.countNewLabelled('ana')).toBe(0);
      });

      it('counts a sample re-sent with another label as new labelled data (as a relabel), not one re-sent as it was', async () => {
        const device = await userWithDevice('ana');
        await ingest(device, 'b1', ['a', 'b', 'c'], [0, 0, 1]);
        const [, b, c] = await ids('ana');
        await trainedThrough('ana', c);

        await ingest(device, 'b2', ['a', 'c'], [0, -1]); // same label; no label (the old one stays)
        const unchanged = await store.countNewLabelled('ana');
        await ingest(device, 'b3', ['b', 'c'], [1, 1]); // b renamed; c re-sent with its own label

        expect(unchanged).toBe(0);
        expect(await labelsOf('ana')).toEqual([0, 1, 1]);
        expect((await store.getUser('ana'))?.trainedThrough).toBe(b - 1);
        expect(await store.countNewLabelled('ana')).toBe(2); // b, and c after it
      });

      it('relabels a long list in steps, every id checked before the first write', async () => {
        const device = await userWithDevice('ana');
        await ingest(device, 'b', ['a', 'b', 'c', 'd', 'e'], [-1, -1, -1, -1, -1]);
        const [a, b, c] = await ids('ana');

        const refused = await failure(
          store.relabelInSteps('ana', { clientIds: ['a', 'b', 'c', 'd', 'zz'] }, 3, 2),
        );
        const unchanged = await labelsOf('ana');
        const changed = await store.relabelInSteps(
          'ana',
          { sampleIds: [a, b, c], clientIds: ['d', 'e'] },
          3,
          2,
        );

        expect(refused).toMatchObject({ code: 'NOT_FOUND', message: 'no sample "zz" for this user' });
        expect(unchanged).toEqual([-1, -1, -1, -1, -1]);
        expect(changed).toBe(5);
        expect(await labelsOf('ana')).toEqual([3, 3, 3, 3, 3]);
      });

      it('counts new labelled samples since the last training, relabels included', async () => {
        const device = await userWithDevice('ana');
        // 3 people × 4 samples, the first 2 of each labelled.
        const clientIds = [0, 1, 2].flatMap((p) => [0, 1, 2, 3].map((i) => `p${p}-${i}`));
        await ingest(
          device,
          'b',
          clientIds,
          [0, 1, 2].flatMap((p) => [p, p, -1, -1]),
        );
        const all = await store.listSamples('ana');
        const before = await store.countNewLabelled('ana');
        await trainedThrough('ana', (await store.trainingSet('user:ana', keyOf('ana'))).throughSampleId);
        const afterTraining = await store.countNewLabelled('ana');

        await store.relabel('ana', { clientIds: ['p0-2'] }, 0);

        expect([before, afterTraining]).toEqual([6, 0]);
        // Everything labelled from p0-2 on counts again: p0-2, p1-0, p1-1, p2-0, p2-1.
        expect(await store.countNewLabelled('ana')).toBe(5);
        expect((await store.getUser('ana'))?.trainedThrough).toBe(all[2].id - 1);
      });
    });

    describe('deleteSamples', () => {
      async function userWithSamples(id: string, prefix: string) {
        const device = await userWithDevice(id);
        // 2 people × 3 samples, the first 2 of each labelled.
        const clientIds = [0, 1].flatMap((p) => [0, 1, 2].map((i) => `${prefix}-${p}-${i}`));
        await ingest(device, `${prefix}-1`, clientIds, [0, 0, -1, 1, 1, -1]);
        return { device, clientIds };
      }

      it("deletes by client id and by server id, features and all, and only the caller user's", async () => {
        const ana = await userWithSamples('ana', 'a');
        await userWithSamples('bob', 'b');
        const anaIds = await ids('ana');
        const bobIds = await ids('bob');
        const before = await store.usage('ana');

        // Two of Ana's by client id (one labelled, one not), one by server id, and Bob's ids as Ana's.
        const r = await store.deleteSamples('ana', {
          clientIds: [ana.clientIds[0], ana.clientIds[2], 'never-uploaded'],
          sampleIds: [anaIds[4], ...bobIds],
        });

        expect(before.samples).toBe(6);
        expect(r).toEqual({ deleted: 3, labelled: 2, missing: 1 + bobIds.length });
        expect((await store.listSamples('ana')).map((s) => s.clientId)).toEqual([
          ana.clientIds[1],
          ana.clientIds[3],
          ana.clientIds[5],
        ]);
        expect(await store.countSamples('bob')).toBe(6);
        expect(await store.usage('ana')).toEqual({ samples: 3, featureBytes: 3 * 16 });
        expect(await db.query('SELECT COUNT(*) AS n FROM samples WHERE user_id = ?', ['ana'])).toEqual([
          { n: 3 },
        ]);
      });

      it('is idempotent: a resent deletion deletes nothing more and changes no state', async () => {
        const ana = await userWithSamples('ana', 'a');
        const removals = async () =>
          (await db.query<{ removals: number }>('SELECT removals FROM users WHERE id = ?', ['ana']))[0]
            .removals;

        const first = await store.deleteSamples('ana', { clientIds: [ana.clientIds[0]] });
        const afterFirst = await removals();
        const resent = await store.deleteSamples('ana', { clientIds: [ana.clientIds[0]] });

        expect(first).toEqual({ deleted: 1, labelled: 1, missing: 0 });
        expect(resent).toEqual({ deleted: 0, labelled: 0, missing: 1 });
        expect([afterFirst, await removals()]).toEqual([1, 1]);
      });

      it('makes the user due for a retraining that forgets: removals are read with the training set and cleared by its job', async () => {
        const ana = await userWithSamples('ana', 'a');
        const first = await store.trainingSet('user:ana', keyOf('ana'));
        const pendingAtStart = (await store.retrainState('ana'))?.forgetPending;

        await store.deleteSamples('ana', { clientIds: [ana.clientIds[2]] }); // unlabelled: nothing to forget
        const afterUnlabelled = (await store.retrainState('ana'))?.forgetPending;
        await store.deleteSamples('ana', { clientIds: [ana.clientIds[0]] });
        const set = await store.trainingSet('user:ana', keyOf('ana'));
        const pending = (await store.retrainState('ana'))?.forgetPending;
        await trainedThrough('ana', set.throughSampleId, set.removals?.removals);

        expect(first.removals).toEqual({ removals: 0, trained: 0 });
        expect([pendingAtStart, afterUnlabelled, pending]).toEqual([false, false, true]);
        expect(set.removals).toEqual({ removals: 1, trained: 0 });
        expect(set.sampleIds).toHaveLength(3); // 4 labelled, 1 deleted
        expect((await store.retrainState('ana'))?.forgetPending).toBe(false);
        expect((await store.listUsers('ana'))[0].forgetPending).toBe(false);
      });
    });

    // ---- training sets -------------------------------------------------------------------------

    describe('trainingSet', () => {
      it('reads the newest maxSamples labelled samples in ascending id order, through the newest sample', async () => {
        const device = await userWithDevice('ana');
        await ingest(device, 'b', ['a', 'b', 'c', 'd', 'e', 'f'], [0, 1, -1, 0, 1, -1]);
        const [a, b, , d, e, f] = await ids('ana');

        const newest = await store.trainingSet('user:ana', keyOf('ana'), { maxSamples: 3 });
        const all = await store.trainingSet('user:ana', keyOf('ana'));
        const none = await store.trainingSet('user:ana', keyOf('ana'), { maxSamples: 0 });
        const registry = testBatch(['r'], [-1], { spec: REGISTRY_SPEC });
        await store.ingestBatch({ device, batchId: 'r', sha256: 'r', batch: registry });
        const afterOtherSpec = await store.trainingSet('user:ana', keyOf('ana'));

        expect(newest).toEqual({
          spec: TEST_SPEC,
          specKey: 'test-net@1/embedding#ana',
          sampleIds: [b, d, e],
          labels: Int32Array.from([1, 0, 1]),
          owners: ['ana', 'ana', 'ana'],
          features: Float32Array.from([10, 11, 12, 13, 30, 31, 32, 33, 40, 41, 42, 43]),
          throughSampleId: f, // the newest sample, unlabelled as it is
          removals: { removals: 0, trained: 0 },
        });
        expect(all.sampleIds).toEqual([a, b, d, e]);
        expect(none.sampleIds).toEqual([]);
        expect(afterOtherSpec.throughSampleId).toBe((await ids('ana'))[6]); // any spec counts
      });

      it('names the owners of global samples by a keyed pseudonym of the user id, per database', async () => {
        const ana = await userWithDevice('ana');
        const bob = await userWithDevice('bob');
        const reg = (clientIds: string[], labels: number[]) =>
          testBatch(clientIds, labels, { spec: REGISTRY_SPEC });
        await store.ingestBatch({ device: ana, batchId: '1', sha256: '1', batch: reg(['a1', 'a2'], [0, 1]) });
        await store.ingestBatch({
          device: bob,
          batchId: '1',
          sha256: '1',
          batch: reg(['b1', 'b2'], [0, -1]),
        });
        const [salt] = await db.query<{ value: string }>(
          "SELECT value FROM settings WHERE name = 'pseudonym_salt'",
        );
        const expected = (userId: string) =>
          createHmac('sha256', salt.value).update(userId).digest('hex').slice(0, 16);

        const set = await store.trainingSet('global', 'tiny-cnn@1/embedding');
        const elsewhere = await createTestDatabase(kind);
        let otherSalt: string;
        try {
          otherSalt = await (await elsewhere.open()).pseudonym('ana');
        } finally {
          await elsewhere.cleanup();
        }

        expect(salt.value).toMatch(/^[0-9a-f]{32}$/);
        expect(set.owners).toEqual([expected('ana'), expected('ana'), expected('bob')]);
        expect(Array.from(set.labels)).toEqual([0, 1, 0]);
        expect(set.removals).toBeUndefined();
        expect(set.throughSampleId).toBe((await ids('bob'))[1]);
        expect(await store.pseudonym('ana')).toBe(expected('ana'));
        expect(otherSalt).not.toBe(expected('ana'));
      });
    });

    // ---- models --------------------------------------------------------------------------------

    describe('models', () => {
      it('numbers model versions per scope and serves the newest promoted one as latest', async () => {
        await store.registerSpec(REGISTRY_SPEC);
        const v1 = await store.insertModel(newModel('user:a', 1));
        clock.advance(1);
        const v2 = await store.insertModel(newModel('user:a', 2, { status: 'rejected', reason: 'worse' }));
        const g1 = await store.insertModel(newModel('global', 3, { jobId: 7 }));

        expect([v1.version, v2.version, g1.version]).toEqual([1, 2, 1]);
        expect(v1).toEqual({
          id: v1.id,
          scope: 'user:a',
          version: 1,
          specKey: 'tiny-cnn@1/embedding',
          head: 'linear',
          config: { lr: 0.1 },
          metrics: { heldOutAccuracy: 0.9 },
          labels: ['0', '1'],
          checksum: sha256Hex(new Uint8Array([1, 1, 1])),
          size: 3,
          status: 'promoted',
          reason: null,
          jobId: null,
          createdAt: T0,
        });
        expect(g1.jobId).toBe(7);
        expect((await store.latestModelInfo('user:a'))?.version).toBe(1);
        expect(await store.latestModelInfo('user:b')).toBeUndefined();
        expect((await store.modelVersion('user:a', 'latest'))?.weights).toEqual(new Uint8Array([1, 1, 1]));
        expect(await store.modelVersion('user:a', 2)).toMatchObject({ reason: 'worse', createdAt: T0 + 1 });
        expect(await store.modelVersion('user:a', 3)).toBeUndefined();
        expect((await store.listModels({ scope: 'user:a' })).map((m) => m.version)).toEqual([2, 1]);
        expect((await store.listModels()).map((m) => m.id)).toEqual([g1.id, v2.id, v1.id]);
        expect(await store.listModels({ limit: 1 })).toHaveLength(1);
      });

      it('numbers concurrent inserts of one scope from two stores without a clash or a gap', async () => {
        await store.registerSpec(REGISTRY_SPEC);
        const other = await db.open({ now: clock.now });

        const inserted = await Promise.all(
          [1, 2, 3, 4, 5, 6].map((i) => (i % 2 ? store : other).insertModel(newModel('global', i))),
        );

        expect(inserted.map((m) => m.version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
      });
    });

    // ---- the job queue -------------------------------------------------------------------------

    describe('jobs', () => {
      it('runs jobs one per scope, retries failures up to max attempts, and requeues jobs a crash left running', async () => {
        const a = (await store.enqueueJob('user:a', 'manual', {}, 2)).job;
        const second = await store.enqueueJob('user:a', 'schedule'); // one queued job per scope
        const g = (await store.enqueueJob('global', 'schedule')).job;
        const claimedA = await store.claimJob();
        const a2 = (await store.enqueueJob('user:a', 'new-samples')).job; // a runs: a second may queue
        const claimedG = await store.claimJob(); // but not run beside it
        const nothing = await store.claimJob();
        const failedOnce = await store.failJob(a.id, 'boom');
        clock.advance(1000); // the default backoff
        const retried = await store.claimJob(); // the oldest queued job of a free scope
        const failedTwice = await store.failJob(a.id, 'boom again'); // 2 attempts spent
        await store.updateJobProgress(g.id, 0.5, 'half');
        const progress = await store.getJob(g.id);
        const restarted = await db.open({ now: clock.now }); // the process died with g running

        const recovered = await restarted.recoverRunningJobs();

        expect(second).toEqual({ job: a, created: false });
        expect([claimedA?.id, claimedG?.id, nothing, retried?.id]).toEqual([a.id, g.id, undefined, a.id]);
        expect(failedOnce).toMatchObject({ status: 'queued', attempts: 1, runAfter: T0 + 1000 });
        expect(failedTwice).toMatchObject({
          status: 'failed',
          attempts: 2,
          error: 'boom again',
          finishedAt: T0 + 1000,
        });
        expect(progress).toMatchObject({ progress: 0.5, message: 'half' });
        expect(recovered).toBe(1);
        expect(await store.getJob(g.id)).toMatchObject({
          status: 'queued',
          error: 'the server stopped while the job was running',
          runAfter: T0 + 1000, // no backoff
          leaseOwner: null,
        });
        expect(await store.countJobs()).toEqual({ queued: 2, running: 0, cancelled: 0, done: 0, failed: 1 });
        expect((await store.listJobs()).map((j) => j.id)).toEqual([a2.id, g.id, a.id]);
        expect((await store.listJobs({ scope: 'user:a' })).map((j) => j.id)).toEqual([a2.id, a.id]);
        expect((await store.listJobs({ status: 'failed' })).map((j) => j.id)).toEqual([a.id]);
        expect(await store.listJobs({ limit: 1 })).toHaveLength(1);
        expect(await store.getJob(9999)).toBeUndefined();
      });

      it('claims the oldest due job: running under the lease, one attempt counted', async () => {
        const { job } = await store.enqueueJob('user:ana', 'manual', { epochs: 3 });
        clock.advance(10);

        const claimed = await store.claimJob({ owner: 'w1', ms: 5000 });
        const none = await store.claimJob({ owner: 'w2', ms: 5000 });
        await store.enqueueJob('global', 'schedule');
        const local = await store.claimJob(); // the single-process runner: its own long lease

        expect(job).toMatchObject({
          status: 'queued',
          trigger: 'manual',
          attempts: 0,
          maxAttempts: 3,
          config: { epochs: 3 },
          createdAt: T0,
          runAfter: 0,
          leaseOwner: null,
          leaseUntil: null,
        });
        expect(claimed).toEqual({
          ...job,
          status: 'running',
          attempts: 1,
          progress: 0,
          message: 'starting',
          startedAt: T0 + 10,
          updatedAt: T0 + 10,
          leaseOwner: 'w1',
          leaseUntil: T0 + 5010,
        });
        expect(none).toBeUndefined();
        expect(local).toMatchObject({
          scope: 'global',
          leaseOwner: 'local',
          leaseUntil: T0 + 10 + 24 * HOUR,
        });
      });

      it('never hands one job to two of many concurrent claims from two stores', async () => {
        const other = await db.open({ now: clock.now });
        for (let i = 0; i < 10; i++) await store.enqueueJob(`user:u${i}`, 'manual');

        const claims = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? other : store).claimJob({ owner: `w${i}`, ms: 60_000 }),
          ),
        );

        const got = claims.filter((j) => j !== undefined);
        expect(got).toHaveLength(10);
        expect(new Set(got.map((j) => j.id)).size).toBe(10);
        expect(await store.countJobs()).toMatchObject({ queued: 0, running: 10 });
        for (const [i, j] of claims.entries()) {
          if (j) expect((await store.getJob(j.id))?.leaseOwner).toBe(`w${i}`);
        }
      });

      it('lets another worker take a job whose lease expired, counting the attempt', async () => {
        const { job } = await store.enqueueJob('user:ana', 'manual');
        await store.claimJob({ owner: 'w1', ms: 1000 }); // lease until T0 + 1000

        clock.advance(1000);
        const atTheEdge = await store.claimJob({ owner: 'w2', ms: 1000 });
        clock.advance(1);
        const taken = await store.claimJob({ owner: 'w2', ms: 1000 });

        expect(atTheEdge).toBeUndefined();
        expect(taken).toMatchObject({
          id: job.id,
          status: 'running',
          attempts: 2,
          startedAt: T0 + 1001,
          leaseOwner: 'w2',
          leaseUntil: T0 + 2001,
          error: 'lease expired: w1 stopped renewing its claim (attempt 1 of 3)',
        });
        expect(await store.heartbeatJob(job.id, { owner: 'w1', ms: 1000 })).toBe('lost');
      });

      it("fails a job for good when its last attempt's lease expires (dead letter)", async () => {
        const { job } = await store.enqueueJob('user:ana', 'manual', {}, 2);
        await store.claimJob({ owner: 'w1', ms: 1000 });
        clock.advance(1001);
        await store.claimJob({ owner: 'w2', ms: 1000 }); // attempt 2 of 2, lease until T0 + 2001
        clock.advance(1001);

        const none = await store.claimJob({ owner: 'w3', ms: 1000 });

        expect(none).toBeUndefined();
        expect(await store.getJob(job.id)).toMatchObject({
          status: 'failed',
          attempts: 2,
          message: 'failed',
          error: 'lease expired: w2 stopped renewing its claim (attempt 2 of 2)',
          finishedAt: T0 + 2002,
          leaseOwner: null,
          leaseUntil: null,
        });
        expect(await store.countJobs()).toMatchObject({ failed: 1, running: 0, queued: 0 });
      });

      it('answers a heartbeat with held, cancelled or lost', async () => {
        const { job } = await store.enqueueJob('user:ana', 'manual');
        await store.claimJob({ owner: 'w1', ms: 1000 });
        clock.advance(900);

        const held = await store.heartbeatJob(job.id, { owner: 'w1', ms: 1000 });
        const renewed = await store.getJob(job.id);
        const notMine = await store.heartbeatJob(job.id, { owner: 'w2', ms: 1000 });
        clock.advance(600); // past the first lease, within the renewed one
        const stillHeld = await store.claimJob({ owner: 'w2', ms: 1000 });
        await store.cancelJob(job.id, 'admin');
        const cancelled = await store.heartbeatJob(job.id, { owner: 'w1', ms: 1000 });

        expect([held, notMine, cancelled]).toEqual(['held', 'lost', 'cancelled']);
        expect(renewed).toMatchObject({ leaseUntil: T0 + 1900, updatedAt: T0 + 900 });
        expect(stillHeld).toBeUndefined();
        expect(await store.heartbeatJob(9999, { owner: 'w1', ms: 1000 })).toBe('lost');
      });

      it('stores nothing for a completion whose lease was lost, and the new holder stores one version', async () => {
        await store.registerSpec(REGISTRY_SPEC);
        const { job } = await store.enqueueJob('global', 'schedule');
        await store.claimJob({ owner: 'w1', ms: 1000 });
        clock.advance(1001);
        await store.claimJob({ owner: 'w2', ms: 1000 });

        const stale = await store.completeJob(
          job.id,
          { result: { by: 'w1' }, model: newModel('global', 1) },
          { owner: 'w1', ms: 1000 },
        );
        const done = await store.completeJob(
          job.id,
          { result: { by: 'w2' }, model: newModel('global', 2) },
          { owner: 'w2', ms: 1000 },
        );
        const again = await store.completeJob(
          job.id,
          { result: {}, model: newModel('global', 3) },
          { owner: 'w2', ms: 1000 },
        );
        const lateFailure = await store.failJob(job.id, 'late', true, { owner: 'w1', ms: 1000 });

        expect(stale.stale).toBe(true);
        expect(stale.model).toBeUndefined();
        expect(stale.job).toMatchObject({ status: 'running', leaseOwner: 'w2' });
        expect(done.stale).toBeUndefined();
        expect(done.model).toMatchObject({ version: 1, jobId: job.id });
        expect(done.job).toMatchObject({
          status: 'done',
          progress: 1,
          message: 'done',
          error: null,
          result: { by: 'w2', modelVersion: 1, promoted: true },
          finishedAt: T0 + 1001,
        });
        expect(again.stale).toBe(true);
        expect(lateFailure).toEqual(done.job);
        expect((await store.listModels({ scope: 'global' })).map((m) => m.version)).toEqual([1]);
        expect((await store.modelVersion('global', 1))?.weights).toEqual(new Uint8Array([2, 2, 2]));
      });

      it("completes a job: its model, the user's trained-through mark and the job's status together", async () => {
        const device = await userWithDevice('ana');
        await ingest(device, 'b', ['a', 'b', 'c'], [0, 1, 1]);
        const set = await store.trainingSet('user:ana', keyOf('ana'));
        const { job } = await store.enqueueJob('user:ana', 'manual');
        await store.claimJob();
        clock.advance(100);

        await store.completeJob(job.id, {
          result: { accuracy: 1 },
          trainedThrough: set.throughSampleId,
          trainedRemovals: 0,
        });
        const user = await store.getUser('ana');
        const second = (await store.enqueueJob('user:ana', 'manual')).job;
        await store.claimJob();
        await store.completeJob(second.id, { result: {}, trainedThrough: 1 }); // a lower mark never lowers it

        expect(user).toMatchObject({ trainedThrough: set.throughSampleId, lastTrainedAt: T0 + 100 });
        expect((await store.getUser('ana'))?.trainedThrough).toBe(set.throughSampleId);
        expect((await store.getJob(job.id))?.result).toEqual({ accuracy: 1 });
        expect(await store.countNewLabelled('ana')).toBe(0);
        await expect(store.completeJob(9999, { result: {} })).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await expect(store.failJob(9999, 'x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
        // A late failure report of a finished job changes nothing (it used to requeue it).
        const late = await store.failJob(job.id, 'late report');
        expect(late).toMatchObject({ status: 'done', error: null, attempts: 1 });
        expect((await store.listJobs({ status: 'queued' })).map((j) => j.id)).not.toContain(job.id);
      });

      it('backs a failed attempt off by backoff × 2^(attempt-1); it cannot be claimed before', async () => {
        const queue = await db.open({ now: clock.now, queue: { backoffMs: 250 } });
        const { job } = await queue.enqueueJob('user:ana', 'manual', {}, 3);
        await queue.claimJob({ owner: 'w1', ms: 60_000 });
        clock.advance(50);

        const first = await queue.failJob(job.id, 'boom', true, { owner: 'w1', ms: 60_000 }); // T0 + 50
        clock.advance(249);
        const early = await queue.claimJob({ owner: 'w2', ms: 60_000 });
        clock.advance(1);
        const due = await queue.claimJob({ owner: 'w2', ms: 60_000 }); // T0 + 300
        const stale = await queue.failJob(job.id, 'not mine', true, { owner: 'w1', ms: 60_000 });
        const second = await queue.failJob(job.id, 'boom 2', true, { owner: 'w2', ms: 60_000 });
        clock.advance(500);
        await queue.claimJob({ owner: 'w3', ms: 60_000 });
        const last = await queue.failJob(job.id, 'boom 3', true, { owner: 'w3', ms: 60_000 });
        const noRetry = (await queue.enqueueJob('global', 'manual')).job;
        await queue.claimJob();
        const given = await queue.failJob(noRetry.id, 'bad config', false);

        expect(first).toMatchObject({
          status: 'queued',
          attempts: 1,
          runAfter: T0 + 50 + 250,
          error: 'boom',
          message: 'retrying after: boom',
          leaseOwner: null,
          leaseUntil: null,
          finishedAt: null,
        });
        expect(early).toBeUndefined();
        expect(due).toMatchObject({ id: job.id, attempts: 2, leaseOwner: 'w2' });
        expect(stale).toEqual(due); // not the caller's: unchanged
        expect(second).toMatchObject({ status: 'queued', attempts: 2, runAfter: T0 + 300 + 500 });
        expect(last).toMatchObject({ status: 'failed', attempts: 3, error: 'boom 3', finishedAt: T0 + 800 });
        expect(given).toMatchObject({ status: 'failed', attempts: 1, error: 'bad config' });
      });

      it('cancels a queued job once; it is never claimed, and a cancelled running job stores nothing', async () => {
        await store.registerSpec(REGISTRY_SPEC);
        const { job } = await store.enqueueJob('user:ana', 'manual');
        clock.advance(5);

        const cancelled = await store.cancelJob(job.id, 'admin');
        const claim = await store.claimJob();
        const twice = await store.cancelJob(job.id, 'admin');
        const fresh = await store.enqueueJob('user:ana', 'manual');
        await store.claimJob({ owner: 'w1', ms: 1000 });
        const whileRunning = await store.cancelJob(fresh.job.id, 'bob');
        const completion = await store.completeJob(
          fresh.job.id,
          { result: {}, model: newModel('user:ana', 1) },
          { owner: 'w1', ms: 1000 },
        );
        const failure = await store.failJob(fresh.job.id, 'boom');

        expect(cancelled).toEqual({
          job: {
            ...job,
            status: 'cancelled',
            message: 'cancelled by admin',
            finishedAt: T0 + 5,
            updatedAt: T0 + 5,
          },
          changed: true,
          wasRunning: false,
        });
        expect(claim).toBeUndefined();
        expect(twice).toEqual({ ...cancelled, changed: false });
        expect(fresh.created).toBe(true);
        expect(whileRunning).toMatchObject({ changed: true, wasRunning: true, job: { status: 'cancelled' } });
        expect(completion).toEqual({ job: whileRunning.job });
        expect(failure).toEqual(whileRunning.job);
        expect(await store.listModels()).toEqual([]);
        await expect(store.cancelJob(9999, 'admin')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      });

      it("writes a running job's progress, clamped, and renews the lease only for its holder", async () => {
        const { job } = await store.enqueueJob('user:ana', 'manual');
        await store.claimJob({ owner: 'w1', ms: 1000 });
        clock.advance(500);

        await store.updateJobProgress(job.id, 1.7, 'epoch 3', { owner: 'w1', ms: 1000 });
        const mine = await store.getJob(job.id);
        await store.updateJobProgress(job.id, 0.2, 'not mine', { owner: 'w2', ms: 1000 });
        const notMine = await store.getJob(job.id);
        await store.updateJobProgress(job.id, -1, null);

        expect(mine).toMatchObject({
          progress: 1,
          message: 'epoch 3',
          leaseUntil: T0 + 1500,
          updatedAt: T0 + 500,
        });
        expect(notMine).toEqual(mine);
        expect(await store.getJob(job.id)).toMatchObject({ progress: 0, message: null });
      });
    });

    it('remembers the last run of each schedule', async () => {
      const never = await store.lastScheduledRun('nightly');
      await store.markScheduledRun('nightly');
      const first = await store.lastScheduledRun('nightly');
      await store.markScheduledRun('nightly', 5);

      expect(never).toBeUndefined();
      expect(first).toBe(T0);
      expect(await store.lastScheduledRun('nightly')).toBe(5);
      expect(await store.lastScheduledRun('hourly')).toBeUndefined();
    });

    it('says it is healthy and where it is', async () => {
      expect(store.kind).toBe(kind);
      expect(await store.health()).toBe('ok');
      await expect(store.assertWritable()).resolves.toBeUndefined();
      expect(store.location).not.toBe('');
    });

    describe('federated rounds', () => {
      const bytesOf = (...values: number[]) => Uint8Array.from(values);
      /** Round `round` for `devices`, each training from weights `w` (bytes 1, 2, 3). */
      const newRound = (round: number, devices: string[], deadlineMs = 10_000) => ({
        round,
        deadlineAt: clock.t + deadlineMs,
        tasks: devices.map((deviceId) => ({
          deviceId,
          task: JSON.stringify({ kind: 'train', round, seed: 3 }),
          weightsKey: 'w',
        })),
        weights: [{ key: 'w', bytes: bytesOf(1, 2, 3), etag: '"w-1"' }],
      });

      it('publishes a round: a selected device sees its task and weights, another sees the round only', async () => {
        const before = await store.currentRound('a');

        await store.publishRound(newRound(1, ['a', 'b']));
        const a = await store.currentRound('a');
        const c = await store.currentRound('c');
        const task = await store.roundTask('a', 1);

        expect(before).toEqual({ last: 0, finished: false, open: null });
        expect(a).toEqual({
          last: 1,
          finished: false,
          open: {
            round: 1,
            deadlineAt: T0 + 10_000,
            task: '{"kind":"train","round":1,"seed":3}',
            weightsEtag: '"w-1"',
            reported: false,
          },
        });
        expect(c.open).toMatchObject({ round: 1, task: null, weightsEtag: null, reported: false });
        expect([task.task, task.reported, task.weights?.etag]).toEqual([
          '{"kind":"train","round":1,"seed":3}',
          false,
          '"w-1"',
        ]);
        expect(Array.from(task.weights!.bytes)).toEqual([1, 2, 3]);
        expect(await store.roundProgress(1)).toEqual({
          round: 1,
          deadlineAt: T0 + 10_000,
          closed: false,
          tasks: 2,
          updates: 0,
        });
        expect(await failure(store.roundTask('c', 1))).toMatchObject({ code: 'NOT_SELECTED' });
        expect(await failure(store.roundTask('a', 2))).toMatchObject({ code: 'NOT_FOUND' });
        expect(await store.roundProgress(2)).toBeUndefined();
      });

      it('refuses a second round while one is open, and a round number not above the last', async () => {
        await store.publishRound(newRound(1, ['a']));

        const whileOpen = await failure(store.publishRound(newRound(2, ['a'])));
        clock.advance(10_000); // round 1's deadline
        const sameNumber = await failure(store.publishRound(newRound(1, ['a'])));
        const notInteger = await failure(store.publishRound(newRound(1.5, ['a'])));
        const twoTasks = await failure(store.publishRound(newRound(3, ['a', 'a'])));
        await store.publishRound(newRound(3, ['a']));

        expect(whileOpen).toMatchObject({
          code: 'BAD_ARGUMENT',
          message: expect.stringMatching(/round 1 is still open/),
        });
        expect(sameNumber).toMatchObject({ code: 'BAD_ARGUMENT', message: expect.stringMatching(/after 1/) });
        expect(notInteger).toMatchObject({ code: 'BAD_ARGUMENT' });
        expect(twoTasks).toMatchObject({ code: 'BAD_ARGUMENT' });
        expect((await store.roundProgress(1))?.closed).toBe(true); // closed when round 3 came
        expect((await store.currentRound('a')).open?.round).toBe(3);
        expect(await failure(store.roundTask('a', 1))).toMatchObject({ code: 'ROUND_CLOSED' });
      });

      it('records one update per device in arrival order, and closes when every selected device reported', async () => {
        await store.publishRound(newRound(1, ['a', 'b', 'c']));

        const b = await store.recordRoundUpdate('b', 1, bytesOf(7), '{"n":2}');
        const a = await store.recordRoundUpdate('a', 1, bytesOf(8, 9), '{"n":1}');
        const again = await failure(store.recordRoundUpdate('a', 1, bytesOf(0), '{}'));
        const stranger = await failure(store.recordRoundUpdate('x', 1, bytesOf(0), '{}'));
        const unknown = await failure(store.recordRoundUpdate('a', 2, bytesOf(0), '{}'));
        const seen = await store.currentRound('a');
        const c = await store.recordRoundUpdate('c', 1, bytesOf(5), '{"n":3}');
        const late = await failure(store.recordRoundUpdate('c', 1, bytesOf(0), '{}'));
        const updates = await store.closeRound(1);

        expect([b, a, c]).toEqual([{ received: 1 }, { received: 2 }, { received: 3 }]);
        expect(again).toMatchObject({ code: 'DUPLICATE_UPDATE' });
        expect(stranger).toMatchObject({ code: 'NOT_SELECTED' });
        expect(unknown).toMatchObject({ code: 'NOT_FOUND' });
        expect(seen.open).toMatchObject({ round: 1, reported: true });
        expect(late).toMatchObject({ code: 'ROUND_CLOSED' });
        expect(updates.map((u) => [u.deviceId, Array.from(u.bytes), u.result])).toEqual([
          ['b', [7], '{"n":2}'],
          ['a', [8, 9], '{"n":1}'],
          ['c', [5], '{"n":3}'],
        ]);
        expect(await store.roundProgress(1)).toMatchObject({ closed: true, tasks: 3, updates: 3 });
        expect(await store.currentRound('a')).toEqual({ last: 1, finished: false, open: null });
      });

      it('records one of two updates of a device posted at once through two store instances', async () => {
        const other = await db.open({ now: clock.now });
        await store.publishRound(newRound(1, ['a', 'b']));

        const outcomes = await Promise.allSettled([
          store.recordRoundUpdate('a', 1, bytesOf(1), '{"via":"one"}'),
          other.recordRoundUpdate('a', 1, bytesOf(2), '{"via":"two"}'),
        ]);
        const updates = await other.closeRound(1);

        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        expect(outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason)).toEqual([
          expect.objectContaining({ code: 'DUPLICATE_UPDATE' }),
        ]);
        expect(updates.map((u) => u.deviceId)).toEqual(['a']);
      });

      it('closes at the deadline: the round is no longer open and an update is ROUND_CLOSED', async () => {
        await store.publishRound(newRound(1, ['a', 'b'], 1000));
        await store.recordRoundUpdate('a', 1, bytesOf(1), '{}');

        clock.advance(999);
        const justBefore = await store.currentRound('b');
        clock.advance(1);
        const atDeadline = await store.currentRound('b');
        const late = await failure(store.recordRoundUpdate('b', 1, bytesOf(2), '{}'));
        const weights = await failure(store.roundTask('b', 1));
        const updates = await store.closeRound(1);

        expect(justBefore.open?.round).toBe(1);
        expect(atDeadline).toEqual({ last: 1, finished: false, open: null });
        expect(late).toMatchObject({ code: 'ROUND_CLOSED' });
        expect(weights).toMatchObject({ code: 'ROUND_CLOSED' });
        expect(updates.map((u) => u.deviceId)).toEqual(['a']);
        expect(await failure(store.closeRound(9))).toMatchObject({ code: 'NOT_FOUND' });
      });

      it('closes a round that was explicitly closed or finished, and tells devices the run is over', async () => {
        await store.publishRound(newRound(1, ['a']));
        await store.closeRound(1);
        const closed = await failure(store.recordRoundUpdate('a', 1, bytesOf(1), '{}'));
        await store.publishRound(newRound(2, ['a']));

        await store.finishRounds();
        const finished = await store.currentRound('a');
        await store.publishRound(newRound(3, []));
        const empty = await store.roundProgress(3);

        expect(closed).toMatchObject({ code: 'ROUND_CLOSED' });
        expect(finished).toEqual({ last: 2, finished: true, open: null });
        expect(empty).toMatchObject({ closed: true, tasks: 0 }); // a round without tasks is over at once
        expect(await store.currentRound('a')).toEqual({ last: 3, finished: false, open: null });
      });

      it('lists the devices that polled within a time window, sorted', async () => {
        await store.currentRound('b');
        clock.advance(500);
        await store.currentRound('a');
        await store.currentRound('C');

        expect(await store.activeRoundDevices(1000)).toEqual(['C', 'a', 'b']);
        expect(await store.activeRoundDevices(100)).toEqual(['C', 'a']);
      });
    });
  });
}

describe('parseScope', () => {
  it('parses scopes strictly', () => {
    expect(parseScope('global')).toEqual({ kind: 'global' });
    expect(parseScope('user:ab_c-1')).toEqual({ kind: 'user', userId: 'ab_c-1' });
    for (const bad of ['', 'user:', 'user:a b', 'users:a', 'global ', 'user:../x'])
      expect(parseScope(bad)).toBeNull();
  });
});

// ---- PostgreSQL only ---------------------------------------------------------------------------

describe('pgStorageError', () => {
  it('types failures of the connection or the server as UNAVAILABLE and a full disk as STORAGE_FULL', () => {
    const code = (e: unknown) => (pgStorageError(e) as { code?: string }).code;
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const aggregate = Object.assign(new AggregateError([refused], ''), { code: undefined });

    expect(code(refused)).toBe('UNAVAILABLE');
    expect(code(aggregate)).toBe('UNAVAILABLE');
    expect(
      code(
        Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      ),
    ).toBe('UNAVAILABLE');
    expect(code(Object.assign(new Error('connection failure'), { code: '08006' }))).toBe('UNAVAILABLE');
    expect(code(new Error('Connection terminated unexpectedly'))).toBe('UNAVAILABLE');
    expect(code(new Error('timeout exceeded when trying to connect'))).toBe('UNAVAILABLE');
    expect(code(Object.assign(new Error('could not extend file'), { code: '53100' }))).toBe('STORAGE_FULL');
    expect((pgStorageError(refused) as Error).message).toBe(
      'the database cannot take the request now (ECONNREFUSED)',
    );
  });

  it('returns anything else unchanged', () => {
    const unique = Object.assign(new Error('duplicate key'), { code: '23505' });
    const typed = new FedexError('NOT_FOUND', 'no job 1');

    expect(pgStorageError(unique)).toBe(unique);
    expect(pgStorageError(typed)).toBe(typed);
    expect(pgStorageError('text')).toBe('text');
  });
});

describe('PgStore.open on a server that cannot be reached', () => {
  it('throws one UNAVAILABLE error naming the URL without its password', async () => {
    const started = Date.now();
    const failed = await PgStore.open('postgres://fedex:s3cret@127.0.0.1:1/fedex').catch((e: unknown) => e);

    expect(failed).toBeInstanceOf(FedexError);
    expect(failed).toMatchObject({ code: 'UNAVAILABLE' });
    expect((failed as Error).message).toMatch(
      /^cannot connect to PostgreSQL at postgres:\/\/fedex:\*\*\*@127\.0\.0\.1:1\/fedex: .*ECONNREFUSED/,
    );
    expect((failed as Error).message).not.toContain('s3cret');
    expect(Date.now() - started).toBeLessThan(10_000); // not the test's timeout: the pool's
  });
});

describe.skipIf(SKIP.postgres !== undefined)('PgStore specifics', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  async function database(): Promise<TestDatabase> {
    const db = await createTestDatabase('postgres');
    cleanups.push(() => db.cleanup());
    return db;
  }

  it('migrates a new schema once when two processes open it at the same time', async () => {
    const db = await database();

    const [a, b] = await Promise.all([db.open(), db.open()]);
    const versions = await db.query<{ version: number }>(
      'SELECT version FROM schema_version ORDER BY version',
    );
    await db.open(); // a third start finds nothing to do

    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(PG_MIGRATIONS).toHaveLength(6);
    expect(await db.query('SELECT COUNT(*) AS n FROM schema_version')).toEqual([{ n: 6 }]);
    expect([await a.health(), await b.health()]).toEqual(['ok', 'ok']);
  });

  it('refuses a database newer than it knows, and a read-only open of an empty schema', async () => {
    const db = await database();
    await db.open();
    await db.query('INSERT INTO schema_version (version, applied_at) VALUES (7, 0)');
    const url = postgresTestUrl();

    const newer = await failure(db.open());
    const empty = await failure(PgStore.open(url, { schema: 'fedex_t_never_created', readonly: true }));
    const badName = await failure(PgStore.open(url, { schema: 'bad-name' }));

    expect(newer).toMatchObject({
      code: 'UNAVAILABLE',
      message: 'the database has schema version 7, newer than this server knows (6); upgrade FedEx',
    });
    expect(empty).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/holds no FedEx schema$/),
    });
    expect(badName).toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('throws one UNAVAILABLE error for a database that does not exist', async () => {
    const url = new URL(postgresTestUrl());
    url.pathname = '/fedex_no_such_database';

    const failed = await failure(PgStore.open(url.toString()));

    expect(failed).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(
        /^cannot connect to PostgreSQL at .*fedex_no_such_database: .*does not exist/,
      ),
    });
  });

  it('opens read-only: it reads, and a write is UNAVAILABLE', async () => {
    const db = await database();
    const writer = await db.open();
    await writer.createUser('Ana', 'ana');

    const reader = await db.open({ readonly: true });

    expect((await reader.getUser('ana'))?.name).toBe('Ana');
    expect(await failure(reader.createUser('Bob', 'bob'))).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('recovers by itself when the server drops its connections (a restart)', async () => {
    const db = await database();
    const store = (await db.open()) as PgStore;
    await store.createUser('Ana', 'ana');
    const pids = async () =>
      (await store.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows.map((r) => r.pid);
    const idle = await pids();

    // Terminate the idle connection: the pool hears it ('error' on an idle client) and drops it.
    await db.query('SELECT pg_terminate_backend(?::int, 5000)', idle);
    await waitFor(() => store.lastIdleError !== undefined);
    const afterIdleLoss = await store.getUser('ana');

    // Terminate a checked-out connection: its next statement fails UNAVAILABLE, the pool goes on.
    const client = await store.pool.connect();
    client.on('error', () => undefined);
    const [{ pid }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    await db.query('SELECT pg_terminate_backend(?::int, 5000)', [pid]);
    const failed = await client.query('SELECT 1').catch((e: unknown) => pgStorageError(e));
    client.release(true);

    expect(afterIdleLoss?.name).toBe('Ana');
    expect(store.lastIdleError?.message).toMatch(/terminat/);
    expect(failed).toMatchObject({ code: 'UNAVAILABLE' });
    expect(await store.health()).toBe('ok');
    expect((await store.getUser('ana'))?.name).toBe('Ana');
  });

  it('keeps the password out of its location', async () => {
    const db = await database();
    const store = await db.open();

    expect(store.location).toBe(redactUrl(postgresTestUrl()));
    expect(redactUrl('postgres://fedex:s3cret@db:5432/fedex')).toBe('postgres://fedex:***@db:5432/fedex');
    expect(store.kind).toBe('postgres');
  });
});

async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
