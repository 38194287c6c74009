import path from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import type { RawImage } from '../core/types.js';
import { nodeFacePlatform } from '../platform/node/face.js';
import { readImageFile } from '../platform/node/image.js';
import { initRuntime, tf } from '../runtime/node.js';
import { CHIP_SIZE, createFacePipeline, type DetectedFace, type FacePipeline } from './pipeline.js';
import type { Point } from './geometry.js';
import { alignFace } from './align.js';
import { meanDescriptor, mirrorImage } from './views.js';
import { warpAffine } from './warp.js';

const require = createRequire(import.meta.url);
const DEMO = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The face's box region only (no margin), resampled to 150x150: a "tight face crop". */
function tightCrop(image: RawImage, face: DetectedFace): RawImage {
  const side = Math.max(face.box.width, face.box.height);
  const cx = face.box.x + face.box.width / 2;
  const cy = face.box.y + face.box.height / 2;
  const s = side / 150;
  return warpAffine(image, [s, 0, cx - side / 2, 0, s, cy - side / 2], 150, 150, { samples: Math.round(s) });
}

describe('FacePipeline on a real group photo', () => {
  let pipeline: FacePipeline;
  let group: RawImage;
  let faces: DetectedFace[];

  beforeAll(async () => {
    await initRuntime();
    pipeline = await createFacePipeline(nodeFacePlatform());
    group = await readImageFile(path.join(DEMO, 'sample1.jpg'));
    faces = await pipeline.detect(group);
  });
  afterAll(() => pipeline?.dispose());

  it('finds the three faces of the demo photo at the default threshold', () => {
    expect(faces).toHaveLength(3);
    for (const f of faces) {
      expect(f.path).toBe('default');
      expect(f.score).toBeGreaterThan(0.9);
      expect(f.box.width).toBeGreaterThan(100);
    }
  });

  it('puts the 68 landmarks inside their face, eyes above the mouth', async () => {
    const all = await pipeline.landmarks(group, faces);

    all.forEach((lm, i) => {
      const b = faces[i].box;
      expect(lm).toHaveLength(68);
      const inside = lm.filter(
        (p) => p.x >= b.x - 10 && p.x <= b.x + b.width + 10 && p.y >= b.y - 10 && p.y <= b.y + b.height + 10,
      );
      expect(inside.length).toBeGreaterThanOrEqual(66);
      const eyeY = (lm[36].y + lm[45].y) / 2;
      expect(eyeY).toBeLessThan(lm[57].y); // lower lip
      expect(lm[36].x).toBeLessThan(lm[45].x); // image-left eye corner left of image-right one
    });
  });

  it('leaves no tensor behind in detect, landmarks, align, describe and analyze', async () => {
    // Prepare: the tiny detector loads on first use; its weights are not a leak.
    await pipeline.detect(group, { detector: 'tiny' });
    const n0 = tf.memory().numTensors;
    // Execute + Assert, stage by stage
    const found = await pipeline.detect(group);
    expect(tf.memory().numTensors).toBe(n0);
    const lm = await pipeline.landmarks(group, found);
    expect(tf.memory().numTensors).toBe(n0);
    const aligned = pipeline.align(group, lm);
    expect(tf.memory().numTensors).toBe(n0);
    await pipeline.describe(aligned.map((a) => a.chip));
    expect(tf.memory().numTensors).toBe(n0);
    await pipeline.analyze(group);
    await pipeline.detect(group, { detector: 'tiny' });
    expect(tf.memory().numTensors).toBe(n0);
  });

  it('computes batched descriptors equal to one-at-a-time ones (within 1e-4)', async () => {
    const lm = await pipeline.landmarks(group, faces);
    const chips = pipeline.align(group, lm).map((a) => a.chip);

    const batched = await pipeline.describe(chips, { batchSize: 16 });
    const single = await pipeline.describe(chips, { batchSize: 1 });

    expect(batched).toHaveLength(3);
    batched.forEach((d, i) => {
      expect(d).toHaveLength(128);
      expect(maxAbsDiff(d, single[i])).toBeLessThan(1e-4);
    });
  });

  it('averages the descriptors of a face and its mirror image with descriptorViews 2', async () => {
    const two = await createFacePipeline(nodeFacePlatform(), { descriptorViews: 2 });
    try {
      const lm = await pipeline.landmarks(group, faces);
      const aligned = pipeline.align(group, lm);
      const chips = aligned.map((a) => a.chip);
      const [plain, mirrored] = [
        await pipeline.describe(chips),
        await pipeline.describe(chips.map((c) => mirrorImage(c))),
      ];
      const n0 = tf.memory().numTensors;

      const views = await two.describeViews(group, lm, aligned);
      const analysed = await two.analyze(group);

      expect(tf.memory().numTensors).toBe(n0);
      views.forEach((d, i) => {
        expect(maxAbsDiff(d, meanDescriptor([plain[i], mirrored[i]]))).toBeLessThan(1e-4);
        expect(maxAbsDiff(analysed.faces[i].descriptor!, d)).toBeLessThan(1e-4);
        // A real change, not the plain descriptor again: the mirror moves a face's descriptor.
        expect(maxAbsDiff(d, plain[i])).toBeGreaterThan(1e-3);
      });
    } finally {
      two.dispose();
    }
  });

  it('averages 6 views: three chip borders, each with its mirror image', async () => {
    const six = await createFacePipeline(nodeFacePlatform(), { descriptorViews: 6 });
    try {
      const lm = await pipeline.landmarks(group, faces.slice(0, 1));
      const aligned = pipeline.align(group, lm);
      const chips = [0.25, 0.15, 0.35].map(
        (padding) => alignFace(group, lm[0], 'dlib5', { size: CHIP_SIZE, padding }).chip,
      );
      const each = await pipeline.describe(chips.flatMap((c) => [c, mirrorImage(c)]));

      const [d] = await six.describeViews(group, lm, aligned);

      expect(maxAbsDiff(d, meanDescriptor(each))).toBeLessThan(1e-4);
    } finally {
      six.dispose();
    }
  });

  it('describes only the chip and its mirror for face-api box crops, which have no border to vary', async () => {
    const six = await createFacePipeline(nodeFacePlatform(), {
      descriptorViews: 6,
      alignment: 'faceapi-box',
    });
    try {
      const lm = await pipeline.landmarks(group, faces.slice(0, 1));
      const aligned = six.align(group, lm);
      const [plain, mirrored] = await pipeline.describe([aligned[0].chip, mirrorImage(aligned[0].chip)]);
      const before = six.stats().faces.described;

      const [d] = await six.describeViews(group, lm, aligned);

      expect(six.stats().faces.described - before).toBe(2);
      expect(maxAbsDiff(d, meanDescriptor([plain, mirrored]))).toBeLessThan(1e-4);
    } finally {
      six.dispose();
    }
  });

  it('gives batched landmarks equal to one-face-per-call landmarks', async () => {
    const together = await pipeline.landmarks(group, faces);
    const apart: Point[][] = [];
    for (const f of faces) apart.push(...(await pipeline.landmarks(group, [f])));

    together.forEach((lm, i) =>
      lm.forEach((p, j) => {
        expect(Math.abs(p.x - apart[i][j].x)).toBeLessThan(1e-3);
        expect(Math.abs(p.y - apart[i][j].y)).toBeLessThan(1e-3);
      }),
    );
  });

  it('exposes the aligned chips apart from descriptors, as RawImages and as one tensor', async () => {
    const { faces: analyzed } = await pipeline.analyze(group, { descriptors: false });
    const chips = analyzed.map((f) => f.aligned.chip);

    const batch = pipeline.chipBatch(chips);

    expect(analyzed.every((f) => f.descriptor === undefined)).toBe(true);
    expect(chips.every((c) => c.width === CHIP_SIZE && c.height === CHIP_SIZE)).toBe(true);
    expect(batch.shape).toEqual([3, CHIP_SIZE, CHIP_SIZE, 3]);
    expect(batch.dtype).toBe('float32');
    const values = batch.dataSync();
    expect(values[CHIP_SIZE * CHIP_SIZE * 3 + 5]).toBe(chips[1].data[5]);
    batch.dispose();
  });

  it('picks as main face the large face nearest the centre', async () => {
    const a = await pipeline.analyze(group);

    // Faces centred at x = 502, 931, 1577 in a 1920 px wide photo: the middle one wins.
    expect(a.main).toBe(1);
    expect(a.faces[a.main].box.x).toBeGreaterThan(800);
    expect(a.path).toBe('default');
  });

  it('finds a tight face crop the detector misses, once the crop gets a black border', async () => {
    // Prepare: face 0 cut to its own box; the detector alone does not find it (checked below).
    const crop = tightCrop(group, faces[0]);
    const noRetry = await createFacePipeline(nodeFacePlatform(), { retryMinConfidence: 0, retryPadding: 0 });
    try {
      // Execute
      const without = await noRetry.detect(crop);
      const withRetry = await pipeline.detect(crop);
      // Assert
      expect(without).toHaveLength(0);
      expect(withRetry).toHaveLength(1);
      expect(withRetry[0].path).toBe('padded');
      // The box is in the crop's own coordinates, roughly covering it.
      expect(withRetry[0].box.width).toBeGreaterThan(75);
      expect(withRetry[0].box.x + withRetry[0].box.width / 2).toBeGreaterThan(40);
      expect(withRetry[0].box.x + withRetry[0].box.width / 2).toBeLessThan(110);
    } finally {
      noRetry.dispose();
    }
  });

  it('finds no face in a blank image and counts it', async () => {
    const blank: RawImage = {
      width: 64,
      height: 48,
      channels: 3,
      data: new Uint8Array(64 * 48 * 3).fill(128),
    };
    const before = pipeline.stats().paths.none;

    const a = await pipeline.analyze(blank);

    expect(a.faces).toHaveLength(0);
    expect(a.main).toBe(-1);
    expect(a.path).toBeNull();
    expect(pipeline.stats().paths.none).toBe(before + 1);
  });

  it('finds the demo faces with the tiny detector too', async () => {
    const tinyFaces = await pipeline.detect(group, { detector: 'tiny' });

    expect(tinyFaces).toHaveLength(3);
  });
});

describe('createFacePipeline options', () => {
  beforeAll(async () => {
    await initRuntime();
  });

  it('rejects unknown detectors and out-of-range thresholds with BAD_ARGUMENT', async () => {
    for (const bad of [
      { detector: 'yolo' as 'ssd' },
      { minConfidence: 1.5 },
      { tinyInputSize: 100 },
      { batchSize: 0 },
      { descriptorViews: 3 as 1 },
    ]) {
      const e = await createFacePipeline(nodeFacePlatform(), bad).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isFedexError(e, 'BAD_ARGUMENT'), JSON.stringify(bad)).toBe(true);
    }
  });

  it('rejects a RawImage whose data does not match its size', async () => {
    const p = await createFacePipeline(nodeFacePlatform(), { detector: 'tiny' });
    try {
      const e = await p.detect({ width: 10, height: 10, channels: 3, data: new Uint8Array(5) }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isFedexError(e, 'BAD_ARGUMENT')).toBe(true);
    } finally {
      p.dispose();
    }
  });

  it('frees every network on dispose and refuses use afterwards', async () => {
    const n0 = tf.memory().numTensors;
    const p = await createFacePipeline(nodeFacePlatform(), { detector: 'tiny' });
    expect(tf.memory().numTensors).toBeGreaterThan(n0);

    p.dispose();

    expect(tf.memory().numTensors).toBe(n0);
    const e = await p
      .describe([{ width: 150, height: 150, channels: 3, data: new Uint8Array(150 * 150 * 3) }])
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(isFedexError(e, 'BAD_ARGUMENT')).toBe(true);
  });
});
