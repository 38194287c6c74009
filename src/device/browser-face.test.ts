/**
 * The face bottom in a real browser: headless Chromium loads the SDK bundle from a real server
 * (`/sdk/fedex-device.js`, models and `.wasm` from `/sdk/...`), decodes bbt photos with
 * `rawImageFrom` and extracts their 128-d descriptors; they must match Node's for the same photos.
 * Same network, same weights, same backend (WASM): only decoding (browser vs sharp) and float
 * summation order may differ, so cosine similarity must be near 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaceExtractor } from '../face/extractor.js';
import { readImageFile } from '../platform/node/image.js';
import { nodeFacePlatform } from '../platform/node/face.js';
import { initRuntime } from '../runtime/node.js';
import { startServer, type RunningServer } from '../server/server.js';
import { listPeople } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import {
  browserRequired,
  buildTestSdk,
  findChromium,
  launchChromium,
  openSdkPage,
  TEST_PREFIX,
} from './testing/chromium.js';
import { extractInPage, type ExtractResult } from './testing/page-flows.js';

const chromiumPath = findChromium();

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

if (!chromiumPath && !browserRequired()) {
  console.warn(
    '\n!!! SKIPPING browser tests: no chromium (apt-get install chromium, or set FEDEX_CHROMIUM)\n',
  );
}

describe.skipIf(!chromiumPath && !browserRequired())('browser face bottom (Chromium)', () => {
  it('has a chromium to run in', () => {
    expect(chromiumPath, 'no chromium found (FEDEX_REQUIRE_BROWSER=1)').not.toBeNull();
  });

  describeWithData('bbt_faceapi_demo', (dir) => {
    // One photo of each of the 8 characters.
    const photos = listPeople(dir).map((p) => ({ person: p.name, file: p.files[0] }));
    let browser: Browser;
    let server: RunningServer;
    let dataDir: string;
    let result: ExtractResult;
    const consoleLines: string[] = [];

    beforeAll(async () => {
      const sdk = await buildTestSdk();
      dataDir = mkdtempSync(path.join(tmpdir(), 'fedex-browser-'));
      server = await startServer({ port: 0, dataDir, workers: 0, durability: 'normal', sdkDir: sdk.dir });
      browser = await launchChromium(chromiumPath!);
      const { page, close } = await openSdkPage(browser, server.url, {
        photosDir: dir,
        onConsole: (l) => consoleLines.push(l),
      });
      const urls = photos.map((p) => `${TEST_PREFIX}photos/${path.relative(dir, p.file)}`);
      result = await page.evaluate(extractInPage, { urls });
      await close();
    });

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    });

    it('runs on the WASM backend and finds a face in every photo', () => {
      if (consoleLines.length) console.info(`browser console:\n${consoleLines.join('\n')}`);
      expect(result.backend).toBe('wasm');
      expect(result.descriptors.map((d) => d?.length ?? 0)).toEqual(photos.map(() => 128));
    });

    it('serves a demo page at /sdk/ that loads the models and describes a chosen photo', async () => {
      const page = await browser.newPage();
      try {
        await page.goto(`${server.url}/sdk/`);
        await page.waitForFunction(
          () => /ready: tfjs/.test(document.getElementById('log')!.textContent!),
          undefined,
          {
            timeout: 60_000,
          },
        );
        await page.setInputFiles('#photos', photos[0].file);
        await page.waitForFunction(
          () => /descriptor \[/.test(document.getElementById('log')!.textContent!),
          undefined,
          {
            timeout: 60_000,
          },
        );
        expect(await page.textContent('#log')).toContain('on wasm');
      } finally {
        await page.close();
      }
    });

    it("matches Node's descriptors for the same photos (cosine > 0.99)", async () => {
      await initRuntime();
      const node = await createFaceExtractor({}, nodeFacePlatform());
      const cosines: number[] = [];
      const nodeMs: number[] = [];
      try {
        for (const [i, p] of photos.entries()) {
          const t0 = performance.now();
          const d = await node.extract(await readImageFile(p.file));
          nodeMs.push(performance.now() - t0);
          expect(d, p.file).not.toBeNull();
          cosines.push(cosine(d!, result.descriptors[i]!));
        }
      } finally {
        node.dispose();
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      // The first photo also pays for compiling kernels; report the rest.
      console.info(
        `browser face: ${photos.length} photos, cosine to Node min ${Math.min(...cosines).toFixed(5)}; ` +
          `ms/photo Chromium ${mean(result.ms.slice(1)).toFixed(0)} (first ${result.ms[0].toFixed(0)}), ` +
          `Node ${mean(nodeMs.slice(1)).toFixed(0)} (first ${nodeMs[0].toFixed(0)})`,
      );
      expect(Math.min(...cosines)).toBeGreaterThan(0.99);
    });
  });
});
