/**
 * The device SDK against a real server (in process, port 0, one training worker), with a fake
 * bottom that reads the person from the photo's pixels: enrollment, photos, sync, training, model
 * pulls (ETag, checksum, corrupt and cut downloads), predictions, a restart from the store, a full
 * outbox, and that no request ever carries a photo's pixels.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { tf } from '../runtime/node.js';
import type { RunningServer } from '../server/server.js';
import { startDeviceTestServer, type DeviceTestServer } from './testing/server.js';
import { FedexDevice } from './sdk.js';
import { MemoryDeviceStore } from './store/memory.js';
import { enrollmentTokenFor, fakeExtractor, fakePhoto, NO_FACE, STRANGER } from './testing/fixtures.js';
import { UNKNOWN, type DeviceOptions } from './types.js';

const LONG = 120_000;
const PEOPLE = ['ann', 'bob', 'cho'];

/** A fetch that records every request body and can rewrite answers. */
function recordingFetch(rewrite?: (url: string, res: Response) => Promise<Response>) {
  const bodies: Uint8Array[] = [];
  const urls: string[] = [];
  const fn: typeof fetch = async (input, init) => {
    const url = String(input);
    urls.push(`${init?.method ?? 'GET'} ${url}`);
    const body = init?.body;
    if (body instanceof Uint8Array) bodies.push(body);
    else if (typeof body === 'string') bodies.push(new TextEncoder().encode(body));
    const res = await fetch(input, init);
    return rewrite ? rewrite(url, res) : res;
  };
  return { fn, bodies, urls };
}

/** True when `needle` occurs in `hay`. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(Buffer.from(needle)) >= 0;
}

const instant = { sleep: async () => {}, random: () => 0.5 };

describe('FedexDevice', () => {
  let server: RunningServer;

  let running: DeviceTestServer | undefined;

  beforeAll(async () => {
    running = await startDeviceTestServer('sdk');
    server = running.server;
  }, LONG);
  afterAll(async () => {
    await running?.close();
  });

  function options(store: MemoryDeviceStore, extra: Partial<DeviceOptions> = {}): DeviceOptions {
    return {
      server: server.url,
      store,
      extractor: fakeExtractor(),
      flopsPerPhoto: 1000,
      batchSize: 4,
      retry: { maxAttempts: 2 },
      ...instant,
      ...extra,
    };
  }

  it(
    'enrolls, uploads features only, trains, pulls with an ETag, predicts, and restarts from its store',
    async () => {
      // Prepare
      const store = new MemoryDeviceStore();
      const rec = recordingFetch();
      const token = await enrollmentTokenFor(server, 'alice');
      const device = await FedexDevice.open(options(store, { fetch: rec.fn }));
      const tensorsBefore = tf.memory().numTensors;

      // Execute: 5 labelled photos per person, 2 unlabelled, one without a face.
      const enrolled = await device.enroll({ enrollmentToken: token, name: 'alice-phone' });
      expect(enrolled.userId).toBe('alice');
      const photos = [];
      for (let p = 0; p < PEOPLE.length; p++)
        for (let n = 0; n < 5; n++)
          photos.push({ image: fakePhoto(p, n), id: `${PEOPLE[p]}-${n}.jpg`, label: PEOPLE[p] });
      for (const ph of photos) expect((await device.addPhoto(ph.image, ph)).found).toBe(true);
      expect((await device.addPhoto(fakePhoto(0, 9), { id: 'later-ann.jpg' })).found).toBe(true);
      expect((await device.addPhoto(fakePhoto(1, 9), { id: 'later-bob.jpg' })).found).toBe(true);
      expect((await device.addPhoto(fakePhoto(2, 9), { id: 'later-cho.jpg' })).found).toBe(true);
      const noFace = await device.addPhoto(fakePhoto(NO_FACE, 0), { id: 'wall.jpg' });
      expect(noFace).toEqual({ id: 'wall.jpg', found: false });
      await device.label('later-ann.jpg', 'ann');
      await expect(device.predict(fakePhoto(0, 1))).rejects.toMatchObject({ code: 'NO_MODEL' });

      const synced = await device.sync();
      expect(synced).toMatchObject({ samples: 18, pending: 0, relabelled: 1 }); // later-ann sat in an encoded batch
      expect(synced.uploaded).toBe(5); // 18 samples in batches of 4
      expect(await server.store.countSamples('alice')).toBe(18);
      expect((await server.store.getLabels('alice')).map((l) => l.name).sort()).toEqual([...PEOPLE].sort());
      const later = (await server.store.listSamples('alice', { limit: 100 })).find(
        (s) => s.clientId === 'later-ann.jpg',
      );
      expect(later?.label).toBe((await server.store.getLabels('alice')).find((l) => l.name === 'ann')!.id);
      // Photos labelled after their upload: relabels at the next sync.
      await device.label('later-bob.jpg', 'bob');
      await device.label('later-cho.jpg', 'cho');
      expect((await device.sync()).relabelled).toBe(2);

      const job = await device.train({ head: 'centroid' });
      expect((await device.waitForJob(job.id, { timeoutMs: 100_000, pollMs: 100 })).status).toBe('done');
      const pulled = await device.pullModel();
      const again = await device.pullModel();

      // Assert
      expect(pulled).toMatchObject({ updated: true, version: 1 });
      expect(again).toEqual({ updated: false, version: 1 });
      for (let p = 0; p < PEOPLE.length; p++) {
        const pred = await device.predict(fakePhoto(p, 7));
        expect(pred?.name).toBe(PEOPLE[p]);
        expect(pred?.candidates.map((c) => c.name).sort()).toEqual([...PEOPLE].sort());
      }
      const stranger = await device.predict(fakePhoto(STRANGER, 0));
      expect(stranger?.name).toBe(UNKNOWN);
      expect(stranger!.confidence).toBeLessThan(0.5);
      expect(await device.predict(fakePhoto(NO_FACE, 1))).toBeNull();
      // Open set: ann's direction four times as far (the linear head is surer than ever) is no
      // one the model knows: the model's radius says "unknown", however high the probability.
      const farAnn = new Float32Array(8);
      farAnn[0] = 12;
      const far = device.predictFeatures(farAnn);
      expect(far).toMatchObject({ name: UNKNOWN, unknownBecause: 'far' });
      expect(far.candidates[0].name).toBe('ann');
      expect(far.confidence).toBeGreaterThan(0.5);
      expect(far.strangeness).toBeGreaterThan(1);
      const near = device.predictFeatures((await fakeExtractor().extract(fakePhoto(0, 9)))!);
      expect(near.name).toBe('ann');
      expect(near.strangeness).toBeLessThan(1);
      expect(near.unknownBecause).toBeUndefined();

      const costs = device.costs();
      expect(costs.photos).toBe(19 + 5);
      expect(costs.flops).toBeGreaterThan(24 * 1000); // bottom per photo, plus the top per prediction
      expect(costs.bytesUp).toBeGreaterThan(0);
      expect(costs.bytesDown).toBeGreaterThan(0);
      // Nothing sent ever holds a photo's pixels.
      for (const ph of photos) {
        const pixels = ph.image.data.subarray(100, 164);
        for (const body of rec.bodies) expect(contains(body, pixels)).toBe(false);
      }
      await device.close();
      expect(tf.memory().numTensors).toBe(tensorsBefore);

      // A restart on the same store: enrollment, label map, model and costs come back.
      const reopened = await FedexDevice.open(options(store));
      expect(reopened.modelVersion).toBe(1);
      expect((await reopened.predict(fakePhoto(2, 8)))?.name).toBe('cho');
      expect(reopened.costs().photos).toBe(costs.photos + 1);
      // The rule came back with the model.
      expect(reopened.predictFeatures(farAnn)).toMatchObject({ name: UNKNOWN, unknownBecause: 'far' });
      expect((await reopened.pullModel()).updated).toBe(false);
      const status = await reopened.status();
      expect(status).toMatchObject({
        enrolled: true,
        userId: 'alice',
        samples: 18,
        labelled: 18,
        pendingSamples: 0,
      });

      // A corrupt download (a flipped byte) and a cut one leave the model held in place.
      // A new person makes a new version (other bytes, other ETag).
      for (let n = 0; n < 3; n++)
        await reopened.addPhoto(fakePhoto(3, n), { id: `dan-${n}.jpg`, label: 'dan' });
      expect((await reopened.sync()).samples).toBe(3);
      const job2 = await reopened.train({ head: 'centroid' });
      await reopened.waitForJob(job2.id, { timeoutMs: 100_000, pollMs: 100 });
      const versions = await server.store.listModels({ scope: 'user:alice' });
      expect(versions[0].status).toBe('promoted');
      await reopened.close();
      const flip = recordingFetch(async (url, res) => {
        if (!url.includes('/models/') || res.status !== 200) return res;
        const bytes = new Uint8Array(await res.arrayBuffer());
        bytes[bytes.length >> 1] ^= 0xff;
        return new Response(bytes, { status: 200, headers: res.headers });
      });
      const cut = recordingFetch(async (url, res) => {
        if (!url.includes('/models/') || res.status !== 200) return res;
        const bytes = new Uint8Array(await res.arrayBuffer());
        const headers = new Headers(res.headers);
        headers.delete('content-length');
        return new Response(bytes.subarray(0, bytes.length - 100), { status: 200, headers });
      });
      const cutDeclared = recordingFetch(async (url, res) => {
        if (!url.includes('/models/') || res.status !== 200) return res;
        const bytes = new Uint8Array(await res.arrayBuffer());
        return new Response(bytes.subarray(0, 200), { status: 200, headers: res.headers });
      });
      for (const [f, code] of [
        [flip, 'MODEL_CORRUPT'],
        [cut, 'MODEL_CORRUPT'],
        [cutDeclared, 'UNAVAILABLE'],
      ] as const) {
        const d = await FedexDevice.open(options(store, { fetch: f.fn }));
        const r = await d.pullModel();
        expect(r.updated).toBe(false);
        expect(r.version).toBe(1);
        expect(r.error?.code).toBe(code);
        expect((await d.predict(fakePhoto(1, 3)))?.name).toBe('bob');
        await d.close();
      }
      const fine = await FedexDevice.open(options(store));
      expect(await fine.pullModel()).toEqual({ updated: true, version: 2 });
      await fine.close();
      // A device may turn the open-set rule off: then only the probability decides.
      const lenient = await FedexDevice.open(options(store, { openSet: false }));
      expect(lenient.predictFeatures(farAnn)).toMatchObject({ name: 'ann' });
      expect(lenient.predictFeatures(farAnn).strangeness).toBeUndefined();
      await lenient.close();

      // A queued relabel that names a sample the server never stored (say its batch was refused)
      // relabels the others and leaves the queue: it must not block every later sync.
      await store.putJson('relabels', [{ clientIds: ['never-uploaded.jpg', 'dan-0.jpg'], name: 'bob' }]);
      const relabeller = await FedexDevice.open(options(store));
      expect((await relabeller.sync()).relabelled).toBe(1);
      expect((await relabeller.status()).queuedRelabels).toBe(0);
      const bobId = (await server.store.getLabels('alice')).find((l) => l.name === 'bob')!.id;
      expect(
        (await server.store.listSamples('alice', { limit: 100 })).find((x) => x.clientId === 'dan-0.jpg')
          ?.label,
      ).toBe(bobId);
      await relabeller.close();
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    },
    LONG,
  );

  it('settles names two devices of one user gave offline: a taken id moves, encoded batches are relabelled', async () => {
    // Prepare: both devices name their first person with provisional id 0 while offline.
    const token = await enrollmentTokenFor(server, 'carol', { uses: 2 });
    const a = await FedexDevice.open(options(new MemoryDeviceStore(), { batchSize: 2 }));
    const b = await FedexDevice.open(options(new MemoryDeviceStore(), { batchSize: 2 }));
    await a.enroll({ enrollmentToken: token, name: 'carol-phone' });
    await b.enroll({ enrollmentToken: token, name: 'carol-tablet' });
    for (let n = 0; n < 2; n++) {
      await a.addPhoto(fakePhoto(0, n), { id: `a-ann-${n}`, label: 'ann' });
      await b.addPhoto(fakePhoto(1, n), { id: `b-bob-${n}`, label: 'bob' });
    }
    await b.addPhoto(fakePhoto(0, 5), { id: 'b-ann-5', label: 'ann' });

    // Execute
    await a.sync();
    const synced = await b.sync();

    // Assert: bob moved to id 1 and its already-encoded samples were relabelled; ann kept a's id.
    const labels = await server.store.getLabels('carol');
    expect(labels).toEqual([
      { id: 0, name: 'ann' },
      { id: 1, name: 'bob' },
    ]);
    expect(synced.relabelled).toBe(2);
    const byClient = new Map(
      (await server.store.listSamples('carol', { limit: 100 })).map((s) => [s.clientId, s.label]),
    );
    expect(Object.fromEntries(byClient)).toEqual({
      'a-ann-0': 0,
      'a-ann-1': 0,
      'b-bob-0': 1,
      'b-bob-1': 1,
      'b-ann-5': 0,
    });
    await a.close();
    await b.close();
  });

  it('keeps a name given while its photo is being queued for upload (a background sync racing the naming)', async () => {
    // Prepare: a store whose outbox write waits until the test lets it go.
    let release!: () => void;
    let reached!: () => void;
    const atOutbox = new Promise<void>((r) => (reached = r));
    const gate = new Promise<void>((r) => (release = r));
    class SlowOutbox extends MemoryDeviceStore {
      override async putBytes(key: string, bytes: Uint8Array): Promise<void> {
        if (key.startsWith('outbox.')) {
          reached();
          await gate;
        }
        return super.putBytes(key, bytes);
      }
    }
    const store = new SlowOutbox();
    const token = await enrollmentTokenFor(server, 'dina');
    const device = await FedexDevice.open(options(store, { batchSize: 4 }));
    await device.enroll({ enrollmentToken: token, name: 'dina-phone' });
    for (let n = 0; n < 3; n++) await device.addPhoto(fakePhoto(0, n), { id: `d-${n}` });

    // Execute: the 4th photo fills the batch; while its outbox write waits, two photos are named
    // (one already encoded without a name, one encoded with the old name is renamed).
    const adding = device.addPhoto(fakePhoto(1, 0), { id: 'd-3', label: 'bob' });
    await atOutbox;
    await device.label('d-0', 'ann');
    await device.label('d-3', 'cho');
    release();
    await adding;
    await device.label('d-1', 'ann'); // after the batch left `pending`: the ordinary relabel path
    const waiting = await device.status();
    await device.sync();

    // Assert: the server holds every name given, and nothing is left waiting or written back.
    const names = new Map((await server.store.getLabels('dina')).map((l) => [l.id, l.name]));
    const byClient = Object.fromEntries(
      (await server.store.listSamples('dina', { limit: 100 })).map((s) => [
        s.clientId,
        names.get(s.label) ?? null,
      ]),
    );
    expect(byClient).toEqual({ 'd-0': 'ann', 'd-1': 'ann', 'd-2': null, 'd-3': 'cho' });
    expect(waiting.pendingSamples).toBe(4); // the one batch, in the outbox
    expect(await store.keys('pending.')).toEqual([]);
    expect((await device.status()).pendingSamples).toBe(0);
    await device.close();
  });

  it('surfaces OUTBOX_FULL when the server is away and the outbox is at its limit; sync drains it', async () => {
    // Prepare: a device whose server is unreachable, one batch of one sample in the outbox at most.
    const store = new MemoryDeviceStore();
    const token = await enrollmentTokenFor(server, 'bert');
    let online = true;
    const flaky: typeof fetch = (input, init) =>
      online ? fetch(input, init) : Promise.reject(new TypeError('fetch failed'));
    const device = await FedexDevice.open(
      options(store, { fetch: flaky, batchSize: 1, outbox: { maxBatches: 1, maxBytes: 1 << 20 } }),
    );
    await device.enroll({ enrollmentToken: token, name: 'bert-phone' });
    online = false;

    // Execute
    await device.addPhoto(fakePhoto(0, 0), { id: 'a', label: 'ann' });
    await device.addPhoto(fakePhoto(0, 1), { id: 'b', label: 'ann' }); // waits behind the full outbox
    const third = device.addPhoto(fakePhoto(0, 2), { id: 'c', label: 'ann' });
    await expect(third).rejects.toSatisfy((e) => isFedexError(e, 'OUTBOX_FULL'));
    await expect(device.sync()).rejects.toSatisfy((e) => isFedexError(e, 'UNAVAILABLE'));
    online = true;
    const synced = await device.sync();

    // Assert
    expect(synced).toMatchObject({ samples: 2, pending: 0 });
    expect(await server.store.countSamples('bert')).toBe(2);
    await device.close();
  });
  it(
    'forgets photos here and on the server: unsent ones are dropped, the rest deleted after upload, and the next model no longer knows a forgotten person',
    async () => {
      // Prepare: 3 people x 4 named photos, synced, a model that knows all 3.
      const store = new MemoryDeviceStore();
      const token = await enrollmentTokenFor(server, 'dora');
      const device = await FedexDevice.open(options(store));
      await device.enroll({ enrollmentToken: token, name: 'dora-phone' });
      for (let p = 0; p < PEOPLE.length; p++)
        for (let n = 0; n < 4; n++)
          await device.addPhoto(fakePhoto(p, n), { id: `${PEOPLE[p]}-${n}`, label: PEOPLE[p] });
      await device.sync();
      const first = await device.train({ head: 'centroid' });
      await device.waitForJob(first.id, { timeoutMs: 100_000, pollMs: 100 });
      expect((await device.pullModel()).version).toBe(1);
      expect((await device.predict(fakePhoto(2, 6)))?.name).toBe('cho');

      // Execute: forget every photo of cho (on the server), a photo not sent yet, a photo whose
      // batch waits in the outbox, and an id never added; restart before syncing.
      for (let n = 0; n < 4; n++) await device.addPhoto(fakePhoto(0, 10 + n), { id: `ann-new-${n}` }); // a full batch: outbox
      await device.addPhoto(fakePhoto(1, 10), { id: 'bob-new' }); // pending, never sent
      const forgotten = await device.forget([
        'cho-0',
        'cho-1',
        'cho-2',
        'cho-3',
        'ann-new-0',
        'bob-new',
        'nope',
      ]);
      const queued = (await device.status()).queuedDeletions;
      await device.close();
      const reopened = await FedexDevice.open(options(store));
      const synced = await reopened.sync();

      // Assert
      expect(forgotten).toBe(6);
      expect(queued).toBe(6);
      expect(synced).toMatchObject({ deleted: 5, pending: 0 }); // bob-new never reached the server
      const onServer = (await server.store.listSamples('dora', { limit: 100 })).map((s) => s.clientId);
      expect(onServer.filter((id) => id.startsWith('cho') || id === 'ann-new-0' || id === 'bob-new')).toEqual(
        [],
      );
      expect(onServer).toContain('ann-new-1');
      expect(await reopened.status()).toMatchObject({ queuedDeletions: 0, samples: 11 });
      // The server retrained by itself (trigger "deletion"); the pulled model has forgotten cho.
      const deadline = Date.now() + 100_000;
      let job = (await server.store.listJobs({ scope: 'user:dora', limit: 1 }))[0];
      while (!(job.trigger === 'deletion' && job.status === 'done')) {
        expect(job.status).not.toBe('failed');
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 50));
        job = (await server.store.listJobs({ scope: 'user:dora', limit: 1 }))[0];
      }
      expect((await reopened.pullModel()).version).toBe(2);
      expect((await reopened.status()).model?.labels).toBe(2);
      expect((await reopened.predict(fakePhoto(2, 6)))?.name).not.toBe('cho');
      expect((await reopened.predict(fakePhoto(0, 6)))?.name).toBe('ann');
      await reopened.close();
    },
    LONG,
  );
});
