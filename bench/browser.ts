/**
 * Browser device benchmarks (headless Debian chromium driven by playwright-core, tfjs WASM in the
 * page; skipped with a note when no chromium is installed):
 *
 * - ms per photo of the face bottom in Chromium (decode + detect + align + embed), median after a
 *   warm-up photo, on face-api's demo group photos (1920 px JPEGs) and the bbt crops (150 px, most
 *   found only by the padded retry, so several detector passes), with Node's figure for the same
 *   photos in the same run;
 * - the device life in the page (enroll, add the bbt photos 3 labelled per character, sync, train,
 *   pull, predict the rest): bytes up per photo, from the bodies the page actually sent.
 *
 *   npm run bench -- --only browser [--quick]
 *
 * Machines are shared and noisy; nothing here is a test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { createFaceExtractor } from '../src/face/extractor.js';
import { nodeFacePlatform } from '../src/platform/node/face.js';
import { readImageFile } from '../src/platform/node/image.js';
import { initRuntime } from '../src/runtime/node.js';
import { startServer } from '../src/server/server.js';
import { datasetDir, listPeople } from '../src/testing/datasets.js';
import {
  buildTestSdk,
  findChromium,
  launchChromium,
  openSdkPage,
  TEST_PREFIX,
} from '../src/device/testing/chromium.js';
import { deviceFlowInPage, extractInPage, type FlowPhoto } from '../src/device/testing/page-flows.js';
import { demoPhotos } from './face.js';
import { type BenchRow, type BenchSuite, median } from './types.js';

const ADMIN_KEY = 'fxa_bench-browser-admin-key-0123';

/** Node's face bottom on the same photos: ms per photo, decode (sharp) included. */
async function nodeMsPerPhoto(files: string[]): Promise<number[]> {
  await initRuntime();
  const extractor = await createFaceExtractor({}, nodeFacePlatform());
  const ms: number[] = [];
  try {
    for (const f of files) {
      const t0 = performance.now();
      await extractor.extract(await readImageFile(f));
      ms.push(performance.now() - t0);
    }
  } finally {
    extractor.dispose();
  }
  return ms;
}

export const browserSuite: BenchSuite = {
  name: 'browser',
  summary: 'device SDK in headless Chromium: face bottom ms/photo (vs Node), bytes up per photo',
  async run({ quick, log }) {
    const chromium = findChromium();
    if (!chromium) {
      log('SKIPPED: no chromium found (apt-get install chromium, or set FEDEX_CHROMIUM)');
      return [];
    }
    const rows: BenchRow[] = [];
    const sdk = await buildTestSdk();
    log(`bundle ${(sdk.bytes / 1e6).toFixed(2)} MB (unminified test build)`);
    const dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-bench-browser-'));
    const server = await startServer({
      port: 0,
      dataDir,
      workers: 1,
      durability: 'normal',
      adminKey: ADMIN_KEY,
      retrainAfterLabelled: 0,
      sdkDir: sdk.dir,
    });
    const browser = await launchChromium(chromium);
    try {
      const bbt = datasetDir('bbt_faceapi_demo');
      const sets: { name: string; dir: string; files: string[] }[] = [];
      const demo = demoPhotos().slice(0, quick ? 3 : 6);
      sets.push({ name: 'face-api demo 1920px', dir: path.dirname(demo[0]), files: demo });
      if (bbt) {
        const all = listPeople(bbt).flatMap((p) => p.files);
        sets.push({ name: 'bbt 150px', dir: bbt, files: quick ? all.slice(0, 8) : all });
      } else log('bbt_faceapi_demo missing: bbt rows skipped');

      for (const set of sets) {
        const page = await openSdkPage(browser, server.url, { photosDir: set.dir });
        const urls = set.files.map((f) => `${TEST_PREFIX}photos/${path.relative(set.dir, f)}`);
        const r = await page.page.evaluate(extractInPage, { urls });
        await page.close();
        const node = await nodeMsPerPhoto(set.files);
        const chromeMs = median(r.ms.slice(1));
        const nodeMs = median(node.slice(1));
        const decodeMs = median(r.decodeMs.slice(1));
        const note =
          `${set.files.length} photos, median after 1 warm-up; first ${r.ms[0].toFixed(0)} ms; ` +
          `decode ${decodeMs.toFixed(0)} ms of it`;
        rows.push(
          {
            suite: 'browser',
            name: `Chromium face bottom, ${set.name}`,
            value: chromeMs,
            unit: 'ms/photo',
            note,
          },
          {
            suite: 'browser',
            name: `Node face bottom, ${set.name}`,
            value: nodeMs,
            unit: 'ms/photo',
            note: `same photos; Chromium/Node ${(chromeMs / nodeMs).toFixed(2)}x`,
          },
        );
        log(
          `${set.name}: Chromium ${chromeMs.toFixed(0)} ms/photo, Node ${nodeMs.toFixed(0)} (${r.backend})`,
        );
      }

      if (bbt) {
        const admin = async (url: string, body: unknown) => {
          const res = await fetch(server.url + url, {
            method: 'POST',
            headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          if (res.status !== 201) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
          return (await res.json()) as { enrollmentToken: string };
        };
        await admin('/v1/users', { name: 'bench', id: 'bench' });
        const { enrollmentToken } = await admin('/v1/users/bench/enrollment-tokens', {});
        const photo = (file: string, label: string | null): FlowPhoto => {
          const rel = path.relative(bbt, file);
          return { url: `${TEST_PREFIX}photos/${rel}`, id: rel, label };
        };
        const people = listPeople(bbt);
        const add = people.flatMap((p) => p.files.slice(0, 3).map((f) => photo(f, p.name)));
        const test = people.flatMap((p) => p.files.slice(3).map((f) => photo(f, null)));
        const page = await openSdkPage(browser, server.url, { photosDir: bbt });
        const t0 = performance.now();
        const r = await page.page.evaluate(deviceFlowInPage, {
          enrollmentToken,
          storeName: 'fedex-bench',
          add,
          test,
          jobTimeoutMs: 300_000,
          train: {},
        });
        const wall = performance.now() - t0;
        await page.close();
        const sent = page.requests.filter((q) => q.body && q.body.length > 0);
        const batchBytes = sent
          .filter((q) => q.method === 'POST' && /\/batches$/.test(q.url))
          .reduce((n, q) => n + q.body!.length, 0);
        const allBytes = sent.reduce((n, q) => n + q.body!.length, 0);
        const right = r.predictions.filter((p) => p.name === p.id.split('/')[0]).length;
        rows.push(
          {
            suite: 'browser',
            name: 'bytes up per photo (feature batches)',
            value: batchBytes / r.uploadedSamples,
            unit: 'B/photo',
            note: `${r.uploadedSamples} photos in ${r.uploadedBatches} FXFB batch(es), float16`,
          },
          {
            suite: 'browser',
            name: 'bytes up per photo (every request body)',
            value: allBytes / r.uploadedSamples,
            unit: 'B/photo',
            note: `${sent.length} requests with a body (enroll, labels, batches, train)`,
          },
          {
            suite: 'browser',
            name: 'Chromium addPhoto, bbt',
            value: median(r.addMs.slice(1)),
            unit: 'ms/photo',
            note: 'decode + bottom + store in IndexedDB',
          },
          {
            suite: 'browser',
            name: 'device life in the page, bbt',
            value: wall / 1000,
            unit: 's',
            note: `enroll, add ${add.length}, sync, train, pull, predict ${test.length} (${right} named right)`,
          },
        );
      }
    } finally {
      await browser.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
    return rows;
  },
};
