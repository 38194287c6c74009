import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { nodeFaceApi } from '../platform/node/face.js';
import { faceApiModelDir, fileModelLoader } from '../platform/node/model-files.js';
import { initRuntime, tf } from '../runtime/node.js';
import { loadFaceNet, urlModelLoader } from './models.js';

async function loadError(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isFedexError(e, 'FACE_MODEL_LOAD'), `expected FACE_MODEL_LOAD, got ${String(e)}`).toBe(true);
  return e as Error;
}

describe('face model loading', () => {
  let tmp = '';
  beforeAll(async () => {
    await initRuntime();
    tmp = await mkdtemp(path.join(tmpdir(), 'fedex-models-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("loads a face-api net from the package's model folder and frees it all on dispose", async () => {
    // Prepare
    const n0 = tf.memory().numTensors;
    const net = new (nodeFaceApi().FaceLandmark68Net)();
    // Execute
    await loadFaceNet(net, fileModelLoader(), 'face_landmark_68_model');
    // Assert
    expect(net.isLoaded).toBe(true);
    expect(tf.memory().numTensors).toBeGreaterThan(n0);
    net.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });

  it('reports a missing model folder as FACE_MODEL_LOAD naming the file', async () => {
    const net = new (nodeFaceApi().FaceLandmark68Net)();
    const missing = path.join(tmp, 'no-such-dir');

    const e = await loadError(loadFaceNet(net, fileModelLoader(missing), 'face_landmark_68_model'));

    expect(e.message).toContain(path.join(missing, 'face_landmark_68_model-weights_manifest.json'));
    expect(net.isLoaded).toBe(false);
  });

  it('rejects a manifest that is not JSON', async () => {
    const dir = await mkdtemp(path.join(tmp, 'badjson-'));
    await writeFile(path.join(dir, 'face_landmark_68_model-weights_manifest.json'), '{ nope');

    const e = await loadError(
      loadFaceNet(new (nodeFaceApi().FaceLandmark68Net)(), fileModelLoader(dir), 'face_landmark_68_model'),
    );

    expect(e.message).toMatch(/not valid JSON/);
  });

  it('rejects a truncated weights shard without leaking tensors', async () => {
    // Prepare: the real manifest next to a shard cut in half.
    const dir = await mkdtemp(path.join(tmp, 'short-'));
    const src = faceApiModelDir();
    await copyFile(
      path.join(src, 'face_landmark_68_model-weights_manifest.json'),
      path.join(dir, 'face_landmark_68_model-weights_manifest.json'),
    );
    const bin = await readFile(path.join(src, 'face_landmark_68_model.bin'));
    await writeFile(path.join(dir, 'face_landmark_68_model.bin'), bin.subarray(0, bin.length >> 1));
    const n0 = tf.memory().numTensors;

    // Execute
    const e = await loadError(
      loadFaceNet(new (nodeFaceApi().FaceLandmark68Net)(), fileModelLoader(dir), 'face_landmark_68_model'),
    );

    // Assert
    expect(e.message).toMatch(/bytes/);
    expect(tf.memory().numTensors).toBe(n0);
  });

  it('refuses a manifest whose shard path leaves the model folder', async () => {
    const dir = await mkdtemp(path.join(tmp, 'escape-'));
    await writeFile(
      path.join(dir, 'face_landmark_68_model-weights_manifest.json'),
      JSON.stringify([{ paths: ['../../etc/passwd'], weights: [] }]),
    );

    const e = await loadError(
      loadFaceNet(new (nodeFaceApi().FaceLandmark68Net)(), fileModelLoader(dir), 'face_landmark_68_model'),
    );

    expect(e.message).toMatch(/outside/);
  });

  describe('over HTTP (urlModelLoader)', () => {
    let server: Server;
    let base = '';
    beforeAll(async () => {
      const dir = faceApiModelDir();
      server = createServer((req, res) => {
        // Serves exactly /models/<file>; anything else is a 404.
        const m = /^\/models\/([\w.-]+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
        (m ? readFile(path.join(dir, m[1])) : Promise.reject(new Error('no'))).then(
          (body) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body),
          () => res.writeHead(404).end('not found'),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models/`;
    });
    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('loads a net from a base URL', async () => {
      const net = new (nodeFaceApi().TinyFaceDetector)();

      await loadFaceNet(net, urlModelLoader(base), 'tiny_face_detector_model');

      expect(net.isLoaded).toBe(true);
      net.dispose();
    });

    it('reports an HTTP 404 as FACE_MODEL_LOAD naming the URL', async () => {
      const loader = urlModelLoader(`${base}missing/`);
      const e = await loadError(
        loadFaceNet(new (nodeFaceApi().TinyFaceDetector)(), loader, 'tiny_face_detector_model'),
      );

      expect(e.message).toContain(`${base}missing/tiny_face_detector_model-weights_manifest.json`);
      expect(e.message).toContain('404');
    });
  });
});
