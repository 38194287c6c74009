import { describe, expect, it } from 'vitest';
import type { RawImage } from '../core/types.js';
import { alignFace, alignmentTransform, faceApiAlignBox } from './align.js';
import {
  affineRollDegrees,
  affineScale,
  applyAffine,
  chipPoint,
  DLIB_5_FROM_68,
  DLIB_TEMPLATE_5,
  type Point,
} from './geometry.js';

/** 68 landmarks: every point at `fill`, except the ones given by index. */
function landmarks68(fill: Point, set: Record<number, Point>): Point[] {
  return Array.from({ length: 68 }, (_, i) => set[i] ?? fill);
}

/** Rotation by `deg` and scale `s` about the origin, then a shift. */
function similarity(deg: number, s: number, tx: number, ty: number): (p: Point) => Point {
  const t = (deg * Math.PI) / 180;
  return (p) => ({
    x: s * (Math.cos(t) * p.x - Math.sin(t) * p.y) + tx,
    y: s * (Math.sin(t) * p.x + Math.cos(t) * p.y) + ty,
  });
}

describe('alignmentTransform', () => {
  it('dlib5 recovers the similarity that placed the five template points in the photo', () => {
    // Prepare: put dlib's chip template into a photo rotated 20°, scaled 1.5, shifted.
    const truth = similarity(20, 1.5, 100, 40);
    const template = DLIB_TEMPLATE_5.map((p) => chipPoint(p, 150, 0.25));
    const set: Record<number, Point> = {};
    DLIB_5_FROM_68.forEach((idx, k) => (set[idx] = truth(template[k])));
    const lm = landmarks68({ x: 0, y: 0 }, set);

    // Execute
    const m = alignmentTransform(lm, 'dlib5');

    // Assert: the chip maps back onto the photo by exactly that similarity.
    expect(affineScale(m)).toBeCloseTo(1.5, 9);
    expect(affineRollDegrees(m)).toBeCloseTo(20, 9);
    const probe = applyAffine(m, { x: 75, y: 75 });
    expect(probe.x).toBeCloseTo(truth({ x: 75, y: 75 }).x, 9);
    expect(probe.y).toBeCloseTo(truth({ x: 75, y: 75 }).y, 9);
  });

  it('eyes removes the roll of a tilted head', () => {
    // Prepare: eye landmarks of an upright face, then tilted by -15°.
    const tilt = similarity(-15, 1, 0, 0);
    const set: Record<number, Point> = {};
    for (let i = 36; i < 42; i++) set[i] = tilt({ x: 40, y: 50 });
    for (let i = 42; i < 48; i++) set[i] = tilt({ x: 80, y: 50 });

    const m = alignmentTransform(landmarks68({ x: 60, y: 90 }, set), 'eyes');

    // dlib's template eyes are level to 0.02°, so the chip turns the head upright to that.
    expect(Math.abs(affineRollDegrees(m) + 15)).toBeLessThan(0.05);
  });

  it('rejects a landmark list that is not 68 points', () => {
    expect(() => alignmentTransform([{ x: 0, y: 0 }], 'dlib5')).toThrow(RangeError);
  });
});

describe('faceApiAlignBox', () => {
  it("follows face-api's alignDlib rule on hand-worked landmarks", () => {
    // Eye centres (40,50) and (60,50), mouth centre (50,70): eye-mouth distance sqrt(500) = 22.36;
    // side = floor(22.36 / 0.45) = 49; reference point (50, 56.67);
    // x = floor(50 - 0.5*49) = 25, y = floor(56.67 - 0.43*49) = 35.
    const set: Record<number, Point> = {};
    for (let i = 36; i < 42; i++) set[i] = { x: 40, y: 50 };
    for (let i = 42; i < 48; i++) set[i] = { x: 60, y: 50 };
    for (let i = 48; i < 68; i++) set[i] = { x: 50, y: 70 };

    expect(faceApiAlignBox(landmarks68({ x: 0, y: 0 }, set))).toEqual({
      x: 25,
      y: 35,
      width: 49,
      height: 49,
    });
  });
});

describe('alignFace', () => {
  it('cuts a 150x150 chip whose template eye point shows the photo at the landmark', () => {
    // Prepare: a photo that is bright only in a small square around one eye corner (landmark 36).
    const img: RawImage = { width: 300, height: 300, channels: 3, data: new Uint8Array(300 * 300 * 3) };
    const truth = similarity(10, 1.2, 60, 50);
    const template = DLIB_TEMPLATE_5.map((p) => chipPoint(p, 150, 0.25));
    const set: Record<number, Point> = {};
    DLIB_5_FROM_68.forEach((idx, k) => (set[idx] = truth(template[k])));
    const eye = set[36];
    for (let y = Math.round(eye.y) - 3; y <= Math.round(eye.y) + 3; y++) {
      for (let x = Math.round(eye.x) - 3; x <= Math.round(eye.x) + 3; x++)
        img.data.fill(255, (y * 300 + x) * 3, (y * 300 + x) * 3 + 3);
    }

    // Execute
    const { chip, method } = alignFace(img, landmarks68({ x: 150, y: 150 }, set), 'dlib5');

    // Assert: bright at the template's eye-corner position, dark at the nose position.
    const at = (p: Point): number => chip.data[(Math.round(p.y) * 150 + Math.round(p.x)) * 3];
    expect([chip.width, chip.height, method]).toEqual([150, 150, 'dlib5']);
    expect(at(template[2])).toBe(255);
    expect(at(template[4])).toBe(0);
  });
});
