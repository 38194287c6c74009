/**
 * Three devices of three LFW users (5 people each, 3 labelled photos per person, people not
 * shared) run the whole device SDK against a real server on loopback: enroll, add the labelled
 * photos, sync, train, pull, predict the held-out photos on the device. During the second
 * device's sync the server goes away (stopped mid-upload) and comes back on the same port and
 * data folder; an acknowledgement is lost on the way too. The device keeps its outbox, the sync
 * completes, and the server holds every sample exactly once. Served models must predict as well
 * as the same head trained offline by `fitHead` on the same features (−0.02).
 *
 * To keep CI fast, devices 1 and 2 use a bottom that looks the photo's features up in the feature
 * cache (the photo is a 1×1 image carrying the sample index); device 3 runs the real face
 * pipeline on the actual photo files. Needs the LFW dataset (skipped loudly without it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import type { FeatureExtractor, RawImage } from '../core/types.js';
import { extractDataset, type ExtractedFeatureSet } from '../data/extract.js';
import { buildUsers, type SimUser } from '../data/users.js';
import { createFaceExtractor } from '../face/extractor.js';
import { getHead } from '../model/heads/registry.js';
import { fitHead } from '../model/trainer.js';
import { readImageFile } from '../platform/node/image.js';
import { nodeFacePlatform } from '../platform/node/face.js';
import { initRuntime, tf } from '../runtime/node.js';
import { DEFAULT_TRAIN_JOB_CONFIG } from '../server/jobs/train-task.js';
import { startServer, type RunningServer } from '../server/server.js';
import { LFW_TEST_SCAN } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { FedexDevice } from './sdk.js';
import { MemoryDeviceStore } from './store/memory.js';
import { enrollmentTokenFor } from './testing/fixtures.js';

const LONG = 900_000;
const DIM = 128;

/** A 1×1 "photo" that carries a sample index (for the lookup bottom). */
function indexPhoto(s: number): RawImage {
  return { width: 1, height: 1, channels: 3, data: Uint8Array.of(s & 255, (s >> 8) & 255, (s >> 16) & 255) };
}

/** A bottom that answers the cached features of the sample an `indexPhoto` names. */
function lookupExtractor(set: ExtractedFeatureSet): FeatureExtractor {
  return {
    spec: set.spec,
    async extract(image) {
      const s = image.data[0] | (image.data[1] << 8) | (image.data[2] << 16);
      return set.features.slice(s * DIM, (s + 1) * DIM);
    },
    dispose() {},
  };
}

describeWithData('lfw_deepfunneled_min5', (dir) => {
  let set: ExtractedFeatureSet;
  let users: SimUser[];
  let server: RunningServer;
  let dataDir: string;
  let face: FeatureExtractor;

  beforeAll(async () => {
    await initRuntime();
    set = await extractDataset({
      dir,
      scan: LFW_TEST_SCAN,
      concurrency: 2,
    });
    users = buildUsers(
      { people: set.people, samples: set.samples },
      {
        users: 3,
        peoplePerUser: 5,
        labelledPerPerson: 3,
        unlabelledPerPerson: 0,
        minTestPerPerson: 2,
        sharePeople: false,
        seed: 3,
      },
    );
    face = await createFaceExtractor({}, nodeFacePlatform());
    dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-lfw-device-'));
    server = await startServer({
      port: 0,
      dataDir,
      workers: 1,
      durability: 'normal',
      retrainAfterLabelled: 0,
    });
  }, LONG);
  afterAll(async () => {
    face?.dispose();
    await server?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    'three devices survive a server outage mid-sync, store every sample once, and predict like offline training',
    async () => {
      // Prepare: device 2's fetch stops the server on its 2nd upload, and loses the answer to the
      // first upload after the restart (stored by the server, never acknowledged to the device).
      const port = server.port;
      let uploads = 0;
      let loseNextAnswer = false;
      let outage: Promise<void> | undefined;
      const flakyFetch: typeof fetch = async (input, init) => {
        const isUpload = init?.method === 'POST' && String(input).endsWith('/batches');
        if (isUpload) uploads++;
        if (isUpload && uploads === 2) {
          outage = server.close();
          await outage;
        }
        const res = await fetch(input, init);
        if (isUpload && loseNextAnswer) {
          loseNextAnswer = false;
          throw new TypeError('fetch failed (the answer was lost)');
        }
        return res;
      };
      const readPhoto = (s: number) => readImageFile(path.join(dir, set.samples[s].id));
      const devices = users.map((user, u) => ({
        user,
        real: u === 2,
        store: new MemoryDeviceStore(),
        fetch: u === 1 ? flakyFetch : undefined,
      }));
      const open = (d: (typeof devices)[number]) =>
        FedexDevice.open({
          server: `http://127.0.0.1:${port}`,
          store: d.store,
          extractor: d.real ? face : lookupExtractor(set),
          batchSize: 4,
          retry: { maxAttempts: 3, baseMs: 1 },
          fetch: d.fetch,
          sleep: async () => {},
        });
      const photoOf = async (d: (typeof devices)[number], s: number) =>
        d.real ? await readPhoto(s) : indexPhoto(s);

      // Execute: enroll and add labelled photos on every device.
      const opened: FedexDevice[] = [];
      for (const d of devices) {
        const token = await enrollmentTokenFor(server, d.user.id);
        const device = await open(d);
        await device.enroll({ enrollmentToken: token, name: `${d.user.id}-phone` });
        for (const s of d.user.labelled) {
          const r = await device.addPhoto(await photoOf(d, s), {
            id: set.samples[s].id,
            label: set.people[set.samples[s].label],
          });
          expect(r.found, set.samples[s].id).toBe(true);
        }
        opened.push(device);
      }
      // Sync: device 2 loses the server after its first batch.
      expect((await opened[0].sync()).samples).toBe(15);
      const failed = await opened[1].sync().catch((e: unknown) => e);
      expect(isFedexError(failed, 'UNAVAILABLE')).toBe(true);
      await outage;
      expect((await opened[1].status()).pendingSamples).toBe(15 - 4);
      // The device restarts too; its outbox is in its store.
      await opened[1].close();
      opened[1] = await open(devices[1]);
      expect((await opened[1].status()).pendingSamples).toBe(15 - 4);
      server = await startServer({
        port,
        dataDir,
        workers: 1,
        durability: 'normal',
        retrainAfterLabelled: 0,
      });
      loseNextAnswer = true;
      const resumed = await opened[1].sync();
      expect(resumed).toMatchObject({ samples: 11, pending: 0 });
      expect(uploads).toBe(1 + 3 + 1 + 3); // ok, 3 tries into the outage, the lost answer, 3 batches
      expect((await opened[2].sync()).samples).toBe(15);
      for (const d of devices)
        expect(await server.store.countSamples(d.user.id)).toBe(d.user.labelled.length);

      // Train, pull, predict the held-out photos on each device.
      const served: number[] = [];
      const offline: number[] = [];
      const msPerPhoto: number[] = [];
      for (let u = 0; u < devices.length; u++) {
        const d = devices[u];
        const device = opened[u];
        const job = await device.train();
        await device.waitForJob(job.id, { timeoutMs: 600_000, pollMs: 200 });
        expect(await device.pullModel()).toMatchObject({ updated: true, version: 1 });
        expect((await device.pullModel()).updated).toBe(false);
        const before = device.costs('session');
        let right = 0;
        for (const s of d.user.test) {
          const p = await device.predict(await photoOf(d, s));
          if (p?.candidates[0].name === set.people[set.samples[s].label]) right++;
        }
        const after = device.costs('session');
        msPerPhoto.push((after.ms.extract - before.ms.extract) / d.user.test.length);
        served.push(right / d.user.test.length);

        const x = (idx: number[]) => {
          const f = new Float32Array(idx.length * DIM);
          idx.forEach((s, i) => f.set(set.features.subarray(s * DIM, (s + 1) * DIM), i * DIM));
          return f;
        };
        const y = Int32Array.from(d.user.labelled, (s) => d.user.people.indexOf(set.samples[s].label));
        const head = getHead(DEFAULT_TRAIN_JOB_CONFIG.head);
        const ref = head.build([DIM], d.user.people.length, {}, 0);
        await fitHead(head, ref, { x: x(d.user.labelled), y, shape: [DIM] }, { seed: 0 });
        const truth = d.user.test.map((s) => d.user.people.indexOf(set.samples[s].label));
        const refPred = tf.tidy(
          () =>
            (ref.predict(tf.tensor2d(x(d.user.test), [truth.length, DIM])) as tf.Tensor)
              .argMax(1)
              .arraySync() as number[],
        );
        ref.dispose();
        offline.push(refPred.filter((c, i) => c === truth[i]).length / truth.length);
      }
      const costs = opened.map((dev) => dev.costs('total'));
      for (const dev of opened) await dev.close();

      // Assert
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const real = costs[2];
      console.info(
        `device e2e (3 LFW users): served ${mean(served).toFixed(3)} ${JSON.stringify(served.map((a) => +a.toFixed(3)))}, ` +
          `offline ${mean(offline).toFixed(3)}; real bottom ${msPerPhoto[2].toFixed(0)} ms/photo; ` +
          `device 3 bytes up ${real.bytesUp} (${(real.bytesUp / 15).toFixed(0)}/labelled photo), down ${real.bytesDown}; ` +
          `uploads seen by the flaky fetch: ${uploads}`,
      );
      expect(mean(served)).toBeGreaterThanOrEqual(mean(offline) - 0.02);
      for (const d of devices)
        expect(await server.store.countSamples(d.user.id)).toBe(d.user.labelled.length);
    },
    LONG,
  );
});
