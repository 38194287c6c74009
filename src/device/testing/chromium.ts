/**
 * Test and bench support for running the browser SDK in a real Chromium (Debian's `chromium`,
 * driven by `playwright-core`; no browser download). Node-only; never bundled.
 *
 * - `findChromium()`: the executable, or null (tests skip, or fail under `FEDEX_REQUIRE_BROWSER=1`).
 * - `buildTestSdk()`: the bundle built once per process into a temporary folder.
 * - `openSdkPage()`: a page on the server's origin whose HTML and photos are served by the test
 *   itself (`page.route`), so the server needs no test routes; every request the page sends is
 *   recorded with its body.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildSdk, type BuiltSdk } from '../../../scripts/build-sdk.js';

/** Launch flags: no GPU, no background traffic (so recorded requests are the page's own). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
] as const;

/** `FEDEX_CHROMIUM`, else the first of the usual Debian / Ubuntu paths that exists, else null. */
export function findChromium(): string | null {
  const candidates = [
    process.env.FEDEX_CHROMIUM,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

/** True when a missing browser must fail tests rather than skip them (CI sets it). */
export function browserRequired(): boolean {
  return process.env.FEDEX_REQUIRE_BROWSER === '1';
}

/** Starts headless Chromium with a temporary profile. */
export async function launchChromium(executablePath: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS] });
}

let built: Promise<BuiltSdk & { dir: string }> | undefined;

/** The SDK bundle, built once per process into a temporary folder (removed at exit). */
export function buildTestSdk(): Promise<BuiltSdk & { dir: string }> {
  if (!built) {
    const dir = mkdtempSync(path.join(tmpdir(), 'fedex-sdk-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    built = buildSdk({ outDir: dir, minify: false }).then((b) => ({ ...b, dir }));
  }
  return built;
}

/** One request the page sent. */
export interface RecordedRequest {
  method: string;
  url: string;
  body: Uint8Array | null;
}

/** Where the test serves its own files on the server's origin. */
export const TEST_PREFIX = '/__test__/';

/**
 * The test page: imports the bundle and leaves it at `window.fedex` (a function given to
 * `page.evaluate` cannot `import()` itself: vitest rewrites dynamic imports in test code).
 */
const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>fedex test</title><body>test page
<script type="module">
import * as sdk from '/sdk/fedex-device.js';
window.fedex = sdk;
</script></body>`;

/**
 * Opens a page at `<server>/__test__/index.html` (served by the test, on the server's origin) that
 * has imported `/sdk/fedex-device.js` as `window.fedex`. Files under `photosDir` are served at
 * `/__test__/photos/<relative path>`. Console errors are forwarded to `onConsole`.
 */
export async function openSdkPage(
  browser: Browser,
  server: string,
  options: { photosDir?: string; onConsole?: (line: string) => void } = {},
): Promise<{ page: Page; requests: RecordedRequest[]; close(): Promise<void> }> {
  const context = await browser.newContext();
  // tsx (the bench) compiles with keepNames: functions handed to page.evaluate call `__name`.
  await context.addInitScript('globalThis.__name = (f) => f;');
  const page = await context.newPage();
  const requests: RecordedRequest[] = [];
  page.on('request', (r) => {
    const body = r.postDataBuffer();
    requests.push({ method: r.method(), url: r.url(), body: body ? new Uint8Array(body) : null });
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') options.onConsole?.(`[${m.type()}] ${m.text()}`);
  });
  page.on('pageerror', (e) => options.onConsole?.(`[pageerror] ${e.message}`));
  const base = server.replace(/\/$/, '');
  await page.route(`${base}${TEST_PREFIX}**`, async (route) => {
    const rel = decodeURIComponent(new URL(route.request().url()).pathname.slice(TEST_PREFIX.length));
    if (rel === 'index.html') {
      return route.fulfill({
        contentType: 'text/html',
        body: TEST_PAGE,
      });
    }
    if (options.photosDir && rel.startsWith('photos/')) {
      const root = path.resolve(options.photosDir);
      const file = path.resolve(root, rel.slice('photos/'.length));
      if (file.startsWith(root + path.sep) && existsSync(file)) {
        const type = file.endsWith('.png') ? 'image/png' : 'image/jpeg';
        return route.fulfill({ contentType: type, body: readFileSync(file) });
      }
    }
    return route.fulfill({ status: 404, body: 'not found' });
  });
  await page.goto(`${base}${TEST_PREFIX}index.html`);
  await page.waitForFunction(() => 'fedex' in window, undefined, { timeout: 60_000 });
  return { page, requests, close: () => context.close() };
}

/**
 * True when `bytes` contains a JPEG (FF D8 FF), PNG (89 'PNG'), GIF ('GIF8') or WebP
 * ('RIFF' .... 'WEBP') signature anywhere.
 */
export function containsImageSignature(bytes: Uint8Array): boolean {
  const at = (i: number, text: string) => {
    for (let k = 0; k < text.length; k++) if (bytes[i + k] !== text.charCodeAt(k)) return false;
    return true;
  };
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd8 && bytes[i + 2] === 0xff) return true;
    if (bytes[i] === 0x89 && at(i + 1, 'PNG')) return true;
    if (at(i, 'GIF8')) return true;
    if (at(i, 'RIFF') && i + 12 <= bytes.length && at(i + 8, 'WEBP')) return true;
  }
  return false;
}
