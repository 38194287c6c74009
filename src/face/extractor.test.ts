import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import type { RawImage } from '../core/types.js';
import { readImageFile } from '../platform/node/image.js';
import { initRuntime, tf } from '../runtime/node.js';
import { createFaceExtractor, type FaceExtractor } from './extractor.js';

const require = createRequire(import.meta.url);
const PKG = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
const FACE_API_VERSION = (
  JSON.parse(readFileSync(path.join(PKG, 'package.json'), 'utf8')) as { version: string }
).version;

describe('createFaceExtractor', () => {
  let extractor: FaceExtractor;
  let photo: RawImage;

  beforeAll(async () => {
    await initRuntime();
    extractor = await createFaceExtractor({ detector: 'tiny' });
    photo = await readImageFile(path.join(PKG, 'demo', 'sample2.jpg'));
  });
  afterAll(() => extractor?.dispose());

  it("declares the face-api ResNet embedding spec with face-api's package version", () => {
    expect(extractor.spec).toEqual({
      backboneId: 'faceapi-resnet',
      backboneVersion: FACE_API_VERSION,
      split: 'embedding',
      shape: [128],
    });
  });

  it("returns the main face's 128-d descriptor, the same on a second call", async () => {
    const a = await extractor.extract(photo);
    const b = await extractor.extract(photo);

    expect(a).toBeInstanceOf(Float32Array);
    expect(a).toHaveLength(128);
    expect(Array.from(a as Float32Array).every(Number.isFinite)).toBe(true);
    expect(Array.from(b as Float32Array)).toEqual(Array.from(a as Float32Array));
  });

  it('returns null for a photo without a face', async () => {
    const blank: RawImage = { width: 80, height: 60, channels: 3, data: new Uint8Array(80 * 60 * 3) };

    expect(await extractor.extract(blank)).toBeNull();
  });

  it('exposes the main face through every stage, and counts stage times and paths', async () => {
    extractor.pipeline.resetStats();

    const face = await extractor.extractFace(photo);
    const stats = extractor.stats();

    expect(face?.aligned.chip.width).toBe(150);
    expect(face?.landmarks).toHaveLength(68);
    expect(stats.images).toBe(1);
    expect(stats.paths.default).toBe(1);
    expect(stats.faces.described).toBe(1); // only the main face goes past detection
    for (const stage of ['detect', 'landmarks', 'align', 'descriptor'] as const) {
      expect(stats.ms[stage]).toBeGreaterThan(0);
    }
  });

  it('leaks no tensor per extraction', async () => {
    await extractor.extract(photo);
    const n0 = tf.memory().numTensors;

    await extractor.extract(photo);

    expect(tf.memory().numTensors).toBe(n0);
  });

  it('fails with FACE_MODEL_LOAD naming the folder when the model files are missing', async () => {
    const e = await createFaceExtractor({ modelDir: '/nonexistent/models' }).then(
      () => undefined,
      (err: unknown) => err,
    );

    expect(isFedexError(e, 'FACE_MODEL_LOAD')).toBe(true);
    expect((e as Error).message).toContain('/nonexistent/models');
  });
});
