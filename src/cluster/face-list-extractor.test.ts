import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceVariant } from '../data/extractor-source.js';
import { createFaceExtractor } from '../face/extractor.js';
import { decodeFaceList, faceChip, faceListLength, FACE_LIST_MAX } from '../face/face-list.js';
import { readImageFile } from '../platform/node/image.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { createFaceListExtractor, faceListSource, faceListSpec } from './face-list-extractor.js';

describe('faceListSource / faceListSpec', () => {
  it('gives every setting that changes the record its own cache variant', () => {
    const variants = [
      faceListSource(),
      faceListSource({ faces: 'all', face: { descriptorViews: 6 } }),
      faceListSource({ faces: 'main' }),
      faceListSource({ faces: 'main', face: { descriptorViews: 6 } }),
      faceListSource({ face: { detector: 'tiny' } }),
    ].map(sourceVariant);
    expect(new Set(variants).size).toBe(variants.length);
    // Defaults left out or spelled out: the same entries.
    expect(sourceVariant(faceListSource({ faces: 'all', face: { descriptorViews: 1 } }))).toBe(variants[0]);
  });

  it('sizes the record for FACE_LIST_MAX faces, or one with --faces main', () => {
    expect(faceListSpec('all').shape).toEqual([faceListLength(FACE_LIST_MAX)]);
    expect(faceListSpec('main').shape).toEqual([faceListLength(1)]);
    expect(faceListSpec('all').split).toMatch(/^face-list-v\d+$/);
  });
});

describeWithData('bbt_faceapi_demo', (dir) => {
  it('stores the main face with the descriptor fedex extract computes, and the transform of its chip', async () => {
    // Prepare
    const photo = await readImageFile(path.join(dir, 'penny', 'penny1.png'));
    const list = await createFaceListExtractor({ faces: 'all' });
    const plain = await createFaceExtractor();
    try {
      // Execute
      const record = await list.extract(photo);
      const analysed = await plain.extractFace(photo);
      // Assert
      expect(list.spec).toEqual(faceListSpec('all'));
      expect(record).not.toBeNull();
      const decoded = decodeFaceList(record!);
      expect(decoded.main).toBeGreaterThanOrEqual(0);
      const main = decoded.faces[decoded.main];
      expect(Array.from(main.descriptor)).toEqual(Array.from(analysed!.descriptor!));
      // The chip cut again from the photo is the chip that was described (transform in float32).
      const chip = faceChip(photo, main);
      const want = analysed!.aligned.chip;
      expect([chip.width, chip.height]).toEqual([want.width, want.height]);
      let worst = 0;
      for (let k = 0; k < chip.data.length; k++)
        worst = Math.max(worst, Math.abs(chip.data[k] - want.data[k]));
      expect(worst).toBeLessThanOrEqual(2);
      expect(main.box.width).toBeGreaterThan(20);
      expect(main.score).toBeGreaterThan(0);
      expect(main.chipTransform[0]).not.toBe(0);
    } finally {
      list.dispose();
      plain.dispose();
    }
  });

  it('answers null for a photo without a face', async () => {
    const list = await createFaceListExtractor({ faces: 'main' });
    try {
      const grey = {
        width: 64,
        height: 48,
        channels: 3 as const,
        data: new Uint8Array(64 * 48 * 3).fill(128),
      };
      expect(await list.extract(grey)).toBeNull();
    } finally {
      list.dispose();
    }
  });
});
