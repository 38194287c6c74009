/**
 * The split extractor on real faces (bbt_faceapi_demo): the same chip as the face extractor, cut at
 * a split; the embedding split reproduces the face extractor's descriptor; `extractDataset` builds
 * it in worker threads from a `module` source and caches intermediate features per spec.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawImage } from '../core/types.js';
import { extractDataset } from '../data/extract.js';
import type { ExtractorSource } from '../data/extractor-source.js';
import { createFaceExtractor, type FaceExtractor } from '../face/extractor.js';
import { readImageFile } from '../platform/node/image.js';
import { initRuntime, tf } from '../runtime/node.js';
import { listPeople } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { backboneEntry, loadBackbone } from './backbones/registry.js';
import {
  assertSameSpec,
  chipFeatures,
  createSplitExtractor,
  type SplitExtractor,
} from './split-extractor.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LONG = 300_000;

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('createSplitExtractor options', () => {
  beforeAll(async () => {
    await initRuntime();
  });

  it('rejects an unknown backbone or split with their codes, leaking nothing', async () => {
    const before = tf.memory().numTensors;

    const unknownBackbone = createSplitExtractor({ backbone: 'vgg', split: 'x' });
    const unknownSplit = createSplitExtractor({ backbone: 'tiny-cnn', split: 'conv9' });

    await expect(unknownBackbone).rejects.toMatchObject({ code: 'MODEL_UNKNOWN_BACKBONE' });
    await expect(unknownSplit).rejects.toMatchObject({ code: 'MODEL_UNKNOWN_SPLIT' });
    expect(tf.memory().numTensors).toBe(before);
  });
});

describeWithData('bbt_faceapi_demo', (dir) => {
  const people = listPeople(dir);
  const files = [people[0].files[0], people[6].files[1]];
  let images: RawImage[];
  let faces: FaceExtractor;
  let embedding: SplitExtractor;

  beforeAll(async () => {
    await initRuntime();
    images = await Promise.all(files.map((f) => readImageFile(f)));
    faces = await createFaceExtractor();
    embedding = await createSplitExtractor({ backbone: 'faceapi-resnet', split: 'embedding' });
  }, LONG);
  afterAll(() => {
    faces?.dispose();
    embedding?.dispose();
  });

  it("gives the face extractor's descriptor at the embedding split, under the same spec", async () => {
    const diffs: number[] = [];
    for (const image of images) {
      const reference = await faces.extract(image);
      const mine = await embedding.extract(image);
      diffs.push(maxAbsDiff(reference!, mine!));
    }

    expect(embedding.spec).toEqual(faces.spec);
    expect(diffs.every((d) => d < 1e-4)).toBe(true);
  });

  it('gives [8, 8, 128] features at stage128 whose upper stage yields the descriptor', async () => {
    const face = await faces.extractFace(images[1]);
    const top = embedding.backbone.upperStage('stage128')!;

    const [f] = chipFeatures(embedding.backbone, 'stage128', [face!.aligned.chip]);
    const y = tf.tidy(
      () => (top.predict(tf.tensor4d(f, [1, 8, 8, 128])) as tf.Tensor).dataSync() as Float32Array,
    );
    top.dispose();

    expect(f).toHaveLength(8 * 8 * 128);
    expect(maxAbsDiff(y, face!.descriptor!)).toBeLessThan(1e-4);
  });

  it('resizes the chip to a backbone with another input size (faceres, 224×224)', async () => {
    const face = await faces.extractFace(images[0]);
    const faceres = await loadBackbone('faceres');

    const [f] = chipFeatures(faceres, 'conv_pw_11', [face!.aligned.chip]);
    const resized = tf.tidy(() => {
      const chip = tf.tensor4d(Float32Array.from(face!.aligned.chip.data), [1, 150, 150, 3]);
      return faceres
        .bottom(tf.image.resizeBilinear(chip, [224, 224]), 'conv_pw_11')
        .dataSync() as Float32Array;
    });
    faceres.dispose();

    expect(f).toHaveLength(14 * 14 * 512);
    expect(maxAbsDiff(f, resized)).toBe(0);
    expect(f.some((v) => v > 0)).toBe(true);
  });

  it('returns null for a photo without a face, and leaks no tensor over extractions', async () => {
    const black: RawImage = { width: 64, height: 64, channels: 3, data: new Uint8Array(64 * 64 * 3) };
    await embedding.extract(images[0]); // warm-up allocations outside the count
    const before = tf.memory().numTensors;

    const none = await embedding.extract(black);
    await embedding.extract(images[0]);
    embedding.extractChips([]);

    expect(none).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('guards the pairing: features of one split are refused by another split with FEATURE_MISMATCH', () => {
    expect(() => assertSameSpec(embedding.backbone.spec('stage128'), embedding.spec)).toThrow(
      expect.objectContaining({ code: 'FEATURE_MISMATCH' }),
    );
  });

  it(
    'runs as a module source in worker threads through extractDataset, then serves its split from the cache',
    async () => {
      const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'fedex-split-'));
      const source: ExtractorSource = {
        kind: 'module',
        url: path.join(HERE, 'split-extractor.ts'),
        exportName: 'createSplitExtractor',
        options: { backbone: 'tiny-cnn', split: 'conv2' },
      };
      // One photo: the pool starts one worker (each worker loads every model: seconds).
      const scan = { maxPeople: 1, maxPerPerson: 1, seed: 1 };
      try {
        const first = await extractDataset({ dir, scan, source, concurrency: 2, cache: { dir: cacheDir } });
        // With the spec known, a fully cached run builds no extractor at all.
        const second = await extractDataset({
          dir,
          scan,
          source,
          concurrency: 2,
          cache: { dir: cacheDir },
          spec: first.spec,
        });

        expect(first.spec).toEqual({
          backboneId: 'tiny-cnn',
          backboneVersion: '1-seed1',
          split: 'conv2',
          shape: [8, 8, 16],
        });
        expect(first.stats.workers).toBe(1);
        expect(first.stats.extracted).toBe(1);
        expect(first.samples).toHaveLength(1);
        expect(first.features).toHaveLength(
          backboneEntry('tiny-cnn').splits[1].shape.reduce((a, b) => a * b),
        );
        expect(second.stats.fromCache).toBe(1);
        expect(second.stats.workers).toBe(0);
        expect(Array.from(second.features)).toEqual(Array.from(first.features));
      } finally {
        rmSync(cacheDir, { recursive: true, force: true });
      }
    },
    LONG,
  );
});
