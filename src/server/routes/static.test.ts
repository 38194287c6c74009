import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../testing/harness.js';
import { safeStaticPath } from './static.js';

describe('safeStaticPath', () => {
  const root = path.resolve('/srv/sdk');

  it('resolves a plain file name inside the root', () => {
    expect(safeStaticPath(root, 'fedex-device.js', ['.js'])).toBe(path.join(root, 'fedex-device.js'));
  });

  it('refuses names that leave the folder or reach a sub-folder', () => {
    for (const name of [
      '..',
      '../secret.js',
      '../../etc/passwd.js',
      'a/../../x.js',
      'sub/x.js',
      '..\\x.js',
      '/etc/x.js',
      '.hidden.js',
      'x.js\0.js',
      '',
    ]) {
      expect(safeStaticPath(root, name, ['.js']), name).toBeNull();
    }
  });

  it('refuses extensions that are not allowed', () => {
    expect(safeStaticPath(root, 'package.json', ['.wasm'])).toBeNull();
    expect(safeStaticPath(root, 'fedex-device', ['.js'])).toBeNull();
  });
});

describe('static SDK routes', () => {
  let api: TestApi | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    api = undefined;
    dir = undefined;
  });

  const get = (p: string, headers: Record<string, string> = {}) => fetch(api!.url + p, { headers });

  it('serves the bundle, model files and wasm with their content types and an ETag', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fedex-sdk-'));
    writeFileSync(path.join(dir, 'fedex-device.js'), 'export const ok = 1;\n');
    writeFileSync(path.join(dir, 'fedex-device.js.map'), '{}');
    writeFileSync(path.join(dir, 'notes.md'), 'not served');
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'x.js'), 'nested');
    api = await startTestApi({ sdkDir: dir });

    const js = await get('/sdk/fedex-device.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
    expect(await js.text()).toBe('export const ok = 1;\n');
    const etag = js.headers.get('etag')!;
    expect((await get('/sdk/fedex-device.js', { 'if-none-match': etag })).status).toBe(304);
    expect((await get('/sdk/fedex-device.js.map')).headers.get('content-type')).toMatch(/^application\/json/);

    const manifest = await get('/sdk/models/face-api/face_recognition_model-weights_manifest.json');
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Array.isArray(await manifest.json())).toBe(true);
    const shard = await get('/sdk/models/face-api/tiny_face_detector_model.bin');
    expect(shard.headers.get('content-type')).toBe('application/octet-stream');
    expect((await shard.arrayBuffer()).byteLength).toBeGreaterThan(100_000);

    const wasm = await get('/sdk/wasm/tfjs-backend-wasm-simd.wasm');
    expect(wasm.status).toBe(200);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect([...new Uint8Array(await wasm.arrayBuffer()).slice(0, 4)]).toEqual([0, 0x61, 0x73, 0x6d]);

    const page = await get('/sdk/');
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain("from './fedex-device.js'");
  });

  it('answers 404 NOT_FOUND to traversal, other extensions and sub-folders', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fedex-sdk-'));
    writeFileSync(path.join(dir, 'fedex-device.js'), '');
    writeFileSync(path.join(dir, 'notes.md'), 'not served');
    api = await startTestApi({ sdkDir: dir });

    for (const p of [
      '/sdk/..%2F..%2Fpackage.json',
      '/sdk/..%2Fsdk%2Ffedex-device.js',
      '/sdk/wasm/..%2Fpackage.json',
      '/sdk/wasm/..%2F..%2F..%2F..%2Fpackage.json',
      '/sdk/wasm/index.js',
      '/sdk/models/face-api/..%2Fpackage.json',
      '/sdk/models/face-api/..%2F..%2F..%2F..%2Fpackage.json',
      '/sdk/models/face-api/%2Fetc%2Fpasswd',
      '/sdk/notes.md',
      '/sdk/sub/x.js',
      '/sdk/..%5Cpackage.json',
    ]) {
      const res = await get(p);
      expect(res.status, p).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code, p).toBe('NOT_FOUND');
    }
  });

  it('says to run npm run build:sdk when the bundle is missing', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fedex-sdk-'));
    api = await startTestApi({ sdkDir: path.join(dir, 'not-built') });

    const res = await get('/sdk/fedex-device.js');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(404);
    expect(body.error.message).toContain('npm run build:sdk');
  });
});

describe('static face app routes', () => {
  let api: TestApi | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    api = undefined;
    dir = undefined;
  });

  const get = (p: string, headers: Record<string, string> = {}) => fetch(api!.url + p, { headers });

  /** A folder laid out as Vite writes it: index.html and assets/. */
  function builtApp(): string {
    const d = mkdtempSync(path.join(tmpdir(), 'fedex-web-'));
    writeFileSync(
      path.join(d, 'index.html'),
      '<!doctype html><title>app</title><script src="/assets/i-1.js"></script>',
    );
    mkdirSync(path.join(d, 'assets'));
    writeFileSync(path.join(d, 'assets', 'i-1.js'), 'console.log(1);\n');
    writeFileSync(path.join(d, 'assets', 'i-1.css'), 'body{}');
    writeFileSync(path.join(d, 'assets', 'notes.md'), 'not served');
    writeFileSync(path.join(d, 'secret.js'), 'outside assets');
    writeFileSync(path.join(d, 'sw.js'), 'self.addEventListener("fetch", () => {});');
    return d;
  }

  it('serves index.html at / and the scripts and styles under /assets/, without auth', async () => {
    dir = builtApp();
    api = await startTestApi({ webDir: dir });

    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<title>app</title>');
    const etag = page.headers.get('etag')!;
    expect((await get('/', { 'if-none-match': etag })).status).toBe(304);

    const js = await get('/assets/i-1.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
    expect(await js.text()).toBe('console.log(1);\n');
    const sw = await get('/sw.js');
    expect(sw.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
    expect(await sw.text()).toContain('fetch');
    const css = await get('/assets/i-1.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toBe('body{}');
  });

  it('answers 404 to traversal, other extensions and files outside assets/', async () => {
    dir = builtApp();
    api = await startTestApi({ webDir: dir });
    for (const p of [
      '/assets/notes.md',
      '/assets/..%2Fsecret.js',
      '/assets/..%2Findex.html',
      '/assets/..%2F..%2F..%2Fpackage.json',
      '/assets/%2Fetc%2Fpasswd',
      '/assets/..%5Csecret.js',
      '/secret.js',
      '/index.html',
    ]) {
      const res = await get(p);
      expect(res.status, p).toBe(404);
      await res.arrayBuffer();
    }
  });

  it('says how to build the app when dist/web is missing', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fedex-web-'));
    api = await startTestApi({ webDir: path.join(dir, 'not-built') });
    const res = await get('/');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const text = await res.text();
    expect(text).toContain('npm run build:web');
    expect(text).toContain('npm start');
    const missing = await get('/assets/x.js');
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
  });

  it('keeps the face app out of the OpenAPI document', async () => {
    dir = builtApp();
    api = await startTestApi({ webDir: dir });
    const doc = (await (await get('/openapi.json')).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p === '/' || p.startsWith('/assets'))).toEqual([]);
  });
});
