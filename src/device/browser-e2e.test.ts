/**
 * The device SDK end to end in a real browser: headless Chromium loads `/sdk/fedex-device.js` from
 * a real server (training worker included), enrolls with a token the admin made, adds the bbt
 * photos (3 labelled per character), syncs, asks for training, waits for the job, pulls the model
 * and names the 16 held-out photos on the device. Every request the page sends is recorded: no
 * body may carry image bytes, and every upload must be an FXFB feature batch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WIRE_MAGIC } from '../core/codec/format.js';
import { startServer, type RunningServer } from '../server/server.js';
import { listPeople } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import {
  browserRequired,
  buildTestSdk,
  containsImageSignature,
  findChromium,
  launchChromium,
  openSdkPage,
  type RecordedRequest,
  TEST_PREFIX,
} from './testing/chromium.js';
import {
  deviceFlowInPage,
  type DeviceFlowResult,
  type FlowPhoto,
  reopenInPage,
  type ReopenResult,
} from './testing/page-flows.js';

const chromiumPath = findChromium();
const ADMIN_KEY = 'fxa_browser-e2e-admin-key-0123';
const LABELLED_PER_PERSON = 3;

describe.skipIf(!chromiumPath && !browserRequired())('device SDK end to end in Chromium', () => {
  describeWithData('bbt_faceapi_demo', (dir) => {
    const people = listPeople(dir);
    const toPhoto = (file: string, label: string | null): FlowPhoto => {
      const rel = path.relative(dir, file);
      return { url: `${TEST_PREFIX}photos/${rel}`, id: rel, label };
    };
    const add = people.flatMap((p) => p.files.slice(0, LABELLED_PER_PERSON).map((f) => toPhoto(f, p.name)));
    const test = people.flatMap((p) =>
      p.files.slice(LABELLED_PER_PERSON).map((f) => ({ ...toPhoto(f, null), person: p.name })),
    );

    let browser: Browser;
    let server: RunningServer;
    let dataDir: string;
    let result: DeviceFlowResult;
    let requests: RecordedRequest[];
    let reopened: ReopenResult;
    let afterReload: RecordedRequest[];
    const consoleLines: string[] = [];

    beforeAll(async () => {
      const sdk = await buildTestSdk();
      dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-browser-e2e-'));
      server = await startServer({
        port: 0,
        dataDir,
        workers: 1,
        durability: 'normal',
        adminKey: ADMIN_KEY,
        retrainAfterLabelled: 0,
        sdkDir: sdk.dir,
      });
      const admin = (url: string, body: unknown) =>
        fetch(server.url + url, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }).then(async (r) => {
          if (r.status !== 201) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
          return (await r.json()) as Record<string, unknown>;
        });
      await admin('/v1/users', { name: 'bbt fan', id: 'bbt' });
      const { enrollmentToken } = await admin('/v1/users/bbt/enrollment-tokens', {});

      browser = await launchChromium(chromiumPath!);
      const page = await openSdkPage(browser, server.url, {
        photosDir: dir,
        onConsole: (l) => consoleLines.push(l),
      });
      requests = page.requests;
      result = await page.page.evaluate(deviceFlowInPage, {
        enrollmentToken: enrollmentToken as string,
        storeName: 'fedex-e2e',
        add,
        test,
        jobTimeoutMs: 300_000,
        train: {}, // the server's defaults
      });
      // A reload: the same origin's IndexedDB must give back the enrollment and the model.
      await page.page.reload();
      await page.page.waitForFunction(() => 'fedex' in window, undefined, { timeout: 60_000 });
      const before = page.requests.length;
      reopened = await page.page.evaluate(reopenInPage, { storeName: 'fedex-e2e', url: test[0].url });
      afterReload = page.requests.slice(before);
      await page.close();
    }, 600_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('enrolls, uploads every labelled face, trains and pulls a model', async () => {
      if (consoleLines.length) console.info(`browser console:\n${consoleLines.join('\n')}`);
      expect(result.backend).toBe('wasm');
      expect(result.userId).toBe('bbt');
      expect(result.found).toBe(add.length);
      expect(result.uploadedSamples).toBe(add.length);
      expect(result.jobStatus).toBe('done');
      expect(result.modelVersion).not.toBeNull();
      expect((await server.store.listUsers('bbt'))[0]).toBeDefined();
    });

    it('names the held-out photos on the device (accuracy >= 0.9, above the unknown threshold)', () => {
      const correct = result.predictions.filter((p, i) => p.name === test[i].person).length;
      const topCorrect = result.predictions.filter((p, i) => p.top === test[i].person).length;
      const accuracy = correct / test.length;
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const up = requests
        .filter((r) => r.method === 'POST' && /\/batches$/.test(r.url))
        .reduce((n, r) => n + (r.body?.length ?? 0), 0);
      console.info(
        `browser e2e: ${correct}/${test.length} held-out photos named (${(accuracy * 100).toFixed(1)}%), ` +
          `top candidate right ${topCorrect}/${test.length}; ` +
          `addPhoto ${mean(result.addMs.slice(1)).toFixed(0)} ms, predict ${mean(result.predictMs).toFixed(0)} ms ` +
          `per photo; ${(up / add.length).toFixed(0)} bytes up per photo (batch bodies); costs ${JSON.stringify(result.costs)}`,
      );
      expect(result.predictions).toHaveLength(test.length);
      expect(topCorrect / test.length).toBeGreaterThanOrEqual(0.9);
      expect(accuracy).toBeGreaterThanOrEqual(0.9);
    });

    it('sends no image bytes: only JSON and FXFB feature batches leave the page', () => {
      const withBody = requests.filter((r) => r.body && r.body.length > 0);
      const uploads = requests.filter(
        (r) => r.method === 'POST' && /\/v1\/users\/[^/]+\/batches$/.test(r.url),
      );
      const magic = new TextEncoder().encode(WIRE_MAGIC['feature-batch']);

      expect(uploads.length).toBeGreaterThanOrEqual(1);
      for (const r of withBody) {
        expect(containsImageSignature(r.body!), `${r.method} ${r.url}`).toBe(false);
      }
      for (const r of uploads) {
        expect([...r.body!.subarray(0, 4)], r.url).toEqual([...magic]);
      }
      // Photos only ever travel from the test's route to the page, never back.
      for (const r of requests.filter((x) => x.url.includes(`${TEST_PREFIX}photos/`))) {
        expect(r.method).toBe('GET');
      }
    });

    it('keeps enrollment and model in IndexedDB across a reload (no model download)', () => {
      expect(reopened).toEqual({
        userId: 'bbt',
        modelVersion: result.modelVersion,
        pendingSamples: 0,
        prediction: test[0].person,
      });
      expect(afterReload.filter((r) => r.url.includes('/v1/models/'))).toEqual([]);
    });
  });
});
