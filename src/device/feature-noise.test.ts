/**
 * The device SDK's `featureNoise` against a real server (in process, port 0): what is uploaded is
 * the noisy feature, by about the stated ratio; without noise it is the clean feature; a re-sent
 * batch (a 503, or a whole failed sync and a restart) carries the very same bytes, because the
 * noise is drawn once per photo; local predictions are not noised; a bad spec is refused at open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFeatureBatch } from '../core/codec.js';
import { isFedexError } from '../core/errors.js';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../core/types.js';
import type { RunningServer } from '../server/server.js';
import { startDeviceTestServer, type DeviceTestServer } from './testing/server.js';
import { FedexDevice } from './sdk.js';
import { MemoryDeviceStore } from './store/memory.js';
import { enrollmentTokenFor, fakePhoto } from './testing/fixtures.js';
import type { DeviceOptions } from './types.js';

const LONG = 120_000;
/** Wide enough that the noise norm ÷ signal norm concentrates near the stated ratio. */
const DIM = 512;
const SPEC: FeatureSpec = Object.freeze({
  backboneId: 'fake-wide-bottom',
  backboneVersion: '1',
  split: 'embedding',
  shape: [DIM],
}) as FeatureSpec;

/** A deterministic bottom: the features of a photo are a function of its first two pixels. */
function wideExtractor(): FeatureExtractor {
  return {
    spec: SPEC,
    async extract(image: RawImage): Promise<Float32Array> {
      const person = image.data[0];
      const n = image.data[1];
      const f = new Float32Array(DIM);
      for (let i = 0; i < DIM; i++) f[i] = Math.sin(i * 0.37 + person * 1.3 + n * 0.11) + 0.2;
      return f;
    },
    dispose() {},
  };
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/**
 * Records the body of every batch upload. The first `failFirst` uploads, and every upload while
 * `down` is set, are answered 503 without reaching the server.
 */
function uploadRecorder(failFirst = 0) {
  const uploads: { status: number; body: Uint8Array }[] = [];
  const state = { failing: failFirst, down: false };
  const fn: typeof fetch = async (input, init) => {
    const url = String(input);
    if (!(init?.method === 'POST' && url.endsWith('/batches') && init.body instanceof Uint8Array))
      return fetch(input, init);
    const body = Uint8Array.from(init.body);
    if (state.down || state.failing > 0) {
      if (!state.down) state.failing -= 1;
      uploads.push({ status: 503, body });
      return new Response(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'try later' } }), {
        status: 503,
        headers: { 'content-type': 'application/json' },
      });
    }
    const res = await fetch(input, init);
    uploads.push({ status: res.status, body });
    return res;
  };
  return { fn, uploads, state };
}

const instant = { sleep: async () => {}, random: () => 0.5 };

describe('FedexDevice featureNoise', () => {
  let server: RunningServer;
  let users = 0;

  let running: DeviceTestServer | undefined;

  beforeAll(async () => {
    running = await startDeviceTestServer('noise');
    server = running.server;
  }, LONG);
  afterAll(async () => {
    await running?.close();
  });

  function options(store: MemoryDeviceStore, extra: Partial<DeviceOptions> = {}): DeviceOptions {
    return {
      server: server.url,
      store,
      extractor: wideExtractor(),
      batchSize: 4,
      retry: { maxAttempts: 2 },
      ...instant,
      ...extra,
    };
  }

  /** A new enrolled device of a new user. */
  async function enrolled(extra: Partial<DeviceOptions> = {}, store = new MemoryDeviceStore()) {
    const user = `noise-${++users}`;
    const token = await enrollmentTokenFor(server, user);
    const device = await FedexDevice.open(options(store, extra));
    await device.enroll({ enrollmentToken: token, name: `${user}-phone` });
    return { device, store, user };
  }

  const PHOTOS = [0, 1, 2, 3].map((n) => ({ image: fakePhoto(n % 2, n), id: `p-${n}.jpg` }));

  it(
    'uploads noisy features (noise norm about R times the feature norm) with gauss:0.5, clean ones without',
    async () => {
      // Prepare
      const clean = await Promise.all(PHOTOS.map((p) => wideExtractor().extract(p.image)));
      const plainRec = uploadRecorder();
      const noisyRec = uploadRecorder();
      const plain = await enrolled({ fetch: plainRec.fn });
      const noisy = await enrolled({ fetch: noisyRec.fn, featureNoise: 'gauss:0.5' });

      // Execute
      for (const p of PHOTOS) {
        await plain.device.addPhoto(p.image, { id: p.id, label: 'ann' });
        await noisy.device.addPhoto(p.image, { id: p.id, label: 'ann' });
      }
      const plainSync = await plain.device.sync();
      const noisySync = await noisy.device.sync();

      // Assert: one batch each, stored by the server.
      expect(plainSync).toMatchObject({ uploaded: 1, samples: 4 });
      expect(noisySync).toMatchObject({ uploaded: 1, samples: 4 });
      expect(plainRec.uploads).toHaveLength(1);
      expect(noisyRec.uploads).toHaveLength(1);
      expect(Buffer.from(noisyRec.uploads[0].body).equals(Buffer.from(plainRec.uploads[0].body))).toBe(false);
      const plainBatch = decodeFeatureBatch(plainRec.uploads[0].body);
      const noisyBatch = decodeFeatureBatch(noisyRec.uploads[0].body);
      expect(noisyBatch.sampleIds).toEqual(plainBatch.sampleIds);
      for (let i = 0; i < PHOTOS.length; i++) {
        const x = clean[i]!;
        const sent = plainBatch.features.subarray(i * DIM, (i + 1) * DIM);
        const got = noisyBatch.features.subarray(i * DIM, (i + 1) * DIM);
        // Without noise: the clean feature, up to float16 (relative error ≤ 2^-11 per value).
        for (let j = 0; j < DIM; j++)
          expect(Math.abs(sent[j] - x[j])).toBeLessThanOrEqual(1e-3 * Math.abs(x[j]) + 1e-6);
        // With gauss:0.5: ‖noise‖ / ‖x‖ ≈ 0.5 (a χ with 512 degrees of freedom: ±0.03 at 3σ).
        const diff = Array.from(got, (v, j) => v - x[j]);
        expect(norm(diff) / norm(x)).toBeGreaterThan(0.45);
        expect(norm(diff) / norm(x)).toBeLessThan(0.55);
      }
      expect((await noisy.device.status()).featureNoise).toBe('gauss:0.5');
      expect((await plain.device.status()).featureNoise).toBe('none');
      await plain.device.close();
      await noisy.device.close();
    },
    LONG,
  );

  it(
    'noises the same photo the same way when it is added again (no copies to average), and each device its own way',
    async () => {
      // Prepare: one photo added twice under different ids, on two devices with their own secrets.
      const recA = uploadRecorder();
      const recB = uploadRecorder();
      const a = await enrolled({ fetch: recA.fn, featureNoise: 'gauss:1', batchSize: 2 });
      const b = await enrolled({ fetch: recB.fn, featureNoise: 'gauss:1', batchSize: 2 });
      const photo = fakePhoto(1, 7);

      // Execute
      await a.device.addPhoto(photo, { id: 'first.jpg', label: 'cy' });
      await a.device.addPhoto(photo, { id: 'again.jpg', label: 'cy' });
      await b.device.addPhoto(photo, { id: 'first.jpg', label: 'cy' });
      await b.device.addPhoto(fakePhoto(1, 8), { id: 'other.jpg', label: 'cy' });
      await a.device.sync();
      await b.device.sync();

      // Assert: device a sent one noisy vector twice; device b's noise for that photo differs.
      const fa = decodeFeatureBatch(recA.uploads[0].body).features;
      const fb = decodeFeatureBatch(recB.uploads[0].body).features;
      expect(Array.from(fa.subarray(0, DIM))).toEqual(Array.from(fa.subarray(DIM, 2 * DIM)));
      expect(Array.from(fb.subarray(0, DIM))).not.toEqual(Array.from(fa.subarray(0, DIM)));
      // The secret stays on the device: 32 bytes in its store, in no request body.
      const secret = (await a.store.getBytes('noise-secret'))!;
      expect(secret.byteLength).toBe(32);
      expect(Buffer.from(recA.uploads[0].body).includes(Buffer.from(secret))).toBe(false);
      await a.device.close();
      await b.device.close();
    },
    LONG,
  );

  it('re-sends a failed upload byte for byte: the noise is drawn once per photo, not per attempt', async () => {
    // Prepare: the first upload answers 503 (retried at once); later uploads fail for a whole sync,
    // and the device restarts from its store before it syncs again.
    const rec = uploadRecorder(1);
    const { device, store } = await enrolled({ fetch: rec.fn, featureNoise: 'gauss:1' });
    for (const p of PHOTOS) await device.addPhoto(p.image, { id: p.id, label: 'bob' });

    // Execute
    const first = await device.sync();
    for (let n = 0; n < 4; n++) await device.addPhoto(fakePhoto(1, 10 + n), { id: `q-${n}.jpg` });
    rec.state.down = true;
    await expect(device.sync()).rejects.toSatisfy((e) => isFedexError(e, 'UNAVAILABLE'));
    // One more photo waits unencoded (pending, in the store) across the restart.
    await device.addPhoto(fakePhoto(0, 20), { id: 'r-0.jpg' });
    await device.close();
    rec.state.down = false;
    const reopened = await FedexDevice.open(options(store, { fetch: rec.fn, featureNoise: 'gauss:1' }));
    const [pendingKey] = await store.keys('pending.');
    const pending = (await store.getJson<{ features: number[] }>(pendingKey))!;
    const second = await reopened.sync();

    // Assert: every attempt at a batch sent the same bytes (503, retry; 503, 503, restart, upload);
    // the sample that waited unencoded went out as it was stored, noisy.
    expect(first).toMatchObject({ uploaded: 1, samples: 4 });
    expect(second).toMatchObject({ uploaded: 2, samples: 5, pending: 0 });
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
    expect(rec.uploads.map((u) => u.status)).toEqual([503, 201, 503, 503, 201, 201]);
    expect(same(rec.uploads[0].body, rec.uploads[1].body)).toBe(true);
    expect(same(rec.uploads[2].body, rec.uploads[3].body)).toBe(true);
    expect(same(rec.uploads[3].body, rec.uploads[4].body)).toBe(true);
    const last = decodeFeatureBatch(rec.uploads[5].body);
    expect(last.sampleIds).toEqual(['r-0.jpg']);
    const clean = (await wideExtractor().extract(fakePhoto(0, 20)))!;
    const stored = Float32Array.from(pending.features);
    expect(norm(stored.map((v, j) => v - clean[j])) / norm(clean)).toBeGreaterThan(0.8); // noisy at rest
    for (let j = 0; j < DIM; j++)
      expect(Math.abs(last.features[j] - stored[j])).toBeLessThanOrEqual(1e-3 * Math.abs(stored[j]) + 1e-6);
    await reopened.close();
  });

  it(
    'predicts on the clean features: the noise is for what leaves the device only',
    async () => {
      // Prepare: a model trained on noisy uploads of two people.
      const { device } = await enrolled({ featureNoise: 'gauss:1' });
      for (let n = 0; n < 4; n++) {
        await device.addPhoto(fakePhoto(0, n), { id: `ann-${n}`, label: 'ann' });
        await device.addPhoto(fakePhoto(1, n), { id: `bob-${n}`, label: 'bob' });
      }
      await device.sync();
      const job = await device.train({ head: 'centroid' });
      await device.waitForJob(job.id, { timeoutMs: 100_000, pollMs: 50 });
      expect((await device.pullModel()).updated).toBe(true);

      // Execute
      const photo = fakePhoto(0, 7);
      const predicted = await device.predict(photo);
      const onClean = device.predictFeatures((await wideExtractor().extract(photo))!);

      // Assert: the same answer to the last digit (noise would move the probabilities).
      expect(predicted).toEqual(onClean);
      await device.close();
    },
    LONG,
  );

  it('refuses a bad noise spec when the device is opened, before it touches its store', async () => {
    // Prepare
    const store = new MemoryDeviceStore();
    const touched: string[] = [];
    const watched = new Proxy(store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          touched.push(String(prop));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });

    // Execute / Assert
    for (const bad of ['gauss:-1', 'laplace:1', 'gauss:0.5,clip=0']) {
      await expect(FedexDevice.open(options(watched, { featureNoise: bad }))).rejects.toSatisfy(
        (e) => isFedexError(e, 'BAD_ARGUMENT') && /bad feature noise/.test((e as Error).message),
      );
    }
    await expect(
      FedexDevice.open(options(watched, { featureNoise: { kind: 'gaussian', ratio: Number.NaN } })),
    ).rejects.toSatisfy((e) => isFedexError(e, 'BAD_ARGUMENT'));
    expect(touched).toEqual([]);
  });
});
