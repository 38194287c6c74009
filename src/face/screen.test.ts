import { describe, expect, it } from 'vitest';
import { iou, outsideShare, screenFaces } from './screen.js';

const box = (x: number, y: number, width: number, height: number) => ({ x, y, width, height });

describe('screenFaces', () => {
  it('computes overlap and the share outside the photo by hand', () => {
    // Two 10×10 boxes offset by 5 in x: intersection 50, union 150.
    expect(iou(box(0, 0, 10, 10), box(5, 0, 10, 10))).toBeCloseTo(1 / 3, 12);
    expect(iou(box(0, 0, 10, 10), box(20, 0, 10, 10))).toBe(0);
    // A 100×100 box whose left 40 columns are outside: 40%.
    expect(outsideShare(box(-40, 0, 100, 100), 300, 300)).toBeCloseTo(0.4, 12);
    expect(outsideShare(box(10, 10, 50, 50), 300, 300)).toBe(0);
  });

  it('drops the less confident of two boxes on the same face, whatever their order', () => {
    const v = screenFaces(
      [
        { box: box(12, 12, 100, 100), score: 0.8 },
        { box: box(10, 10, 100, 100), score: 0.95 },
      ],
      400,
      300,
    );
    expect(v).toEqual([
      { keep: false, duplicateOf: 1, flags: [] },
      { keep: true, flags: [] },
    ]);
  });

  it('flags a bystander (tiny next to the main face) and a face cut by the edge; keeps a tight crop', () => {
    // An LFW photo (250×250): the subject ~110 px, a bystander 20×23 px at the side, and a face
    // with 40% of its box past the right edge.
    const v = screenFaces(
      [
        { box: box(70, 60, 110, 120), score: 0.99 },
        { box: box(187, 133, 20, 23), score: 0.71 },
        { box: box(210, 40, 100, 100), score: 0.9 },
      ],
      250,
      250,
    );
    expect(v.map((x) => x.flags)).toEqual([[], ['small'], ['edge']]);
    // A tight crop (bbt, 150×150): the box pokes 5 px past the top (3.6%): a good face.
    expect(screenFaces([{ box: box(16, -5.4, 126.4, 149.2), score: 1 }], 150, 150)).toEqual([
      { keep: true, flags: [] },
    ]);
    // Under 32 px on its shorter side, even alone: small.
    expect(screenFaces([{ box: box(0, 0, 30, 40), score: 0.9 }], 50, 50)[0].flags).toEqual(['small']);
  });
});
