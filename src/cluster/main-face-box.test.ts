import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readImageFile } from '../platform/node/image.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { boxFeatures, createMainFaceBoxExtractor, offCentre } from './main-face-box.js';

describe('boxFeatures', () => {
  it('gives the box centre offset and size as fractions of the image sides', () => {
    // Centre (150, 100) in a 250 x 200 image: 25 px right (0.1), 0 down; 50 x 40 px.
    const f = Array.from(boxFeatures({ x: 125, y: 80, width: 50, height: 40 }, 250, 200));
    [0.1, 0, 0.2, 0.2].forEach((want, k) => expect(f[k]).toBeCloseTo(want, 6));
  });
});

describe('offCentre', () => {
  it('flags a box whose centre is more than 20% of the side from the image centre', () => {
    expect(offCentre(Float32Array.of(0.05, -0.03, 0.4, 0.45))).toBe(false);
    // 0.12 and 0.16: 0.2 exactly from the centre is still the subject.
    expect(offCentre(Float32Array.of(0.12, 0.16, 0.4, 0.4))).toBe(false);
    expect(offCentre(Float32Array.of(-0.4, 0.1, 0.17, 0.5))).toBe(true);
    expect(offCentre(Float32Array.of(0.1, 0.1, 0.2, 0.2), 0.1)).toBe(true);
  });
});

describeWithData('bbt_faceapi_demo', (dir) => {
  it('locates the main face of a centred crop near the centre', async () => {
    const extractor = await createMainFaceBoxExtractor();
    try {
      const box = await extractor.extract(await readImageFile(path.join(dir, 'sheldon', 'sheldon1.png')));
      expect(box).not.toBeNull();
      expect(offCentre(box!)).toBe(false);
      expect(box![2]).toBeGreaterThan(0.3);
      expect(extractor.spec).toMatchObject({ backboneId: 'faceapi-main-face-box', split: 'box', shape: [4] });
    } finally {
      extractor.dispose();
    }
  });
});
