import { describe, expect, it } from 'vitest';
import {
  affineRollDegrees,
  affineScale,
  applyAffine,
  chipPoint,
  DLIB_TEMPLATE_5,
  type Point,
  similarityTransform,
} from './geometry.js';

describe('similarityTransform', () => {
  it('recovers a hand-made rotation by 90°, scale 2 and shift from two points', () => {
    // Prepare: (0,0) -> (10,10); (1,0) -> (10,12): x axis turns onto +y, length doubles.
    const from = [
      { x: 0, y: 0 },
      { x: 1, y: 0 },
    ];
    const to = [
      { x: 10, y: 10 },
      { x: 10, y: 12 },
    ];
    // Execute
    const m = similarityTransform(from, to);
    // Assert: a = 0, b = 2 -> [0, -2, 10, 2, 0, 10]
    const expected = [0, -2, 10, 2, 0, 10];
    m.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
    expect(applyAffine(m, { x: 0, y: 1 })).toEqual({ x: 8, y: 10 });
    expect(affineScale(m)).toBeCloseTo(2, 12);
    expect(affineRollDegrees(m)).toBeCloseTo(90, 12);
  });

  it('fits many noiseless points exactly', () => {
    const angle = 0.3;
    const s = 1.7;
    const truth = (p: Point): Point => ({
      x: s * (Math.cos(angle) * p.x - Math.sin(angle) * p.y) + 5,
      y: s * (Math.sin(angle) * p.x + Math.cos(angle) * p.y) - 3,
    });
    const from = DLIB_TEMPLATE_5.map((p) => chipPoint(p, 150, 0.25));

    const m = similarityTransform(from, from.map(truth));

    for (const p of from) {
      const got = applyAffine(m, p);
      expect(got.x).toBeCloseTo(truth(p).x, 9);
      expect(got.y).toBeCloseTo(truth(p).y, 9);
    }
  });

  it('gives the least-squares fit, not a reflection, for mirrored points', () => {
    // A mirror image cannot be matched by a similarity; the best one shrinks towards the centroid.
    const from = [
      { x: -1, y: 0 },
      { x: 1, y: 0 },
      { x: 0, y: 1 },
    ];
    const to = from.map((p) => ({ x: p.x, y: -p.y }));

    const m = similarityTransform(from, to);

    expect(m[0] * m[4] - m[1] * m[3]).toBeGreaterThanOrEqual(0); // no reflection
  });

  it('rejects fewer than two points and coincident points', () => {
    expect(() => similarityTransform([{ x: 0, y: 0 }], [{ x: 1, y: 1 }])).toThrow(RangeError);
    expect(() =>
      similarityTransform(
        [
          { x: 1, y: 1 },
          { x: 1, y: 1 },
        ],
        [
          { x: 0, y: 0 },
          { x: 1, y: 0 },
        ],
      ),
    ).toThrow(RangeError);
  });
});

describe('chipPoint', () => {
  it("applies dlib's padding rule: (padding + p) / (2 padding + 1) * size", () => {
    expect(chipPoint({ x: 0, y: 1 }, 150, 0.25)).toEqual({ x: 25, y: 125 });
    expect(chipPoint({ x: 0.5, y: 0.5 }, 150, 0)).toEqual({ x: 75, y: 75 });
  });
});
