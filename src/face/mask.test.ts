import { describe, expect, it } from 'vitest';
import type { RawImage } from '../core/types.js';
import { applyAffine, type Affine, type Point } from './geometry.js';
import {
  drawMask,
  insidePolygon,
  invertAffine,
  MASK_SHAPES,
  maskChip,
  maskPolygon,
  maskStyleFor,
} from './mask.js';

/**
 * A hand-made upright face in a 150×150 chip, dlib's 68-point order: jaw 0-16 on a half ellipse
 * from ear level (y 60) to the chin (75, 135); brows 17-26; nose bridge 27-30 from y 60 to 90;
 * nostrils 31-35 at y 95; eyes 36-47 around (55, 60) and (95, 60); mouth 48-67 around (75, 112).
 */
function face(dx = 0, dy = 0): Point[] {
  const p: Point[] = [];
  for (let i = 0; i <= 16; i++) {
    const a = Math.PI * (i / 16);
    p.push({ x: 75 - 45 * Math.cos(a), y: 60 + 75 * Math.sin(a) });
  }
  for (let i = 0; i < 10; i++) p.push({ x: 40 + i * 8, y: 45 });
  for (let i = 0; i < 4; i++) p.push({ x: 75, y: 60 + i * 10 });
  for (let i = 0; i < 5; i++) p.push({ x: 65 + i * 5, y: 95 });
  for (const cx of [55, 95])
    for (let i = 0; i < 6; i++)
      p.push({ x: cx + 8 * Math.cos((i * Math.PI) / 3), y: 60 + 3 * Math.sin((i * Math.PI) / 3) });
  for (let i = 0; i < 20; i++)
    p.push({ x: 75 + 15 * Math.cos((i * Math.PI) / 10), y: 112 + 5 * Math.sin((i * Math.PI) / 10) });
  return p.map((q) => ({ x: q.x + dx, y: q.y + dy }));
}

function grey(value = 100): RawImage {
  return { width: 150, height: 150, channels: 3, data: new Uint8Array(150 * 150 * 3).fill(value) };
}

const pixel = (img: RawImage, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

describe('synthetic masks', () => {
  it('inverts an affine map and tests points against a polygon by hand', () => {
    const m: Affine = [2, 0.5, 10, -0.5, 2, 20];
    const back = applyAffine(invertAffine(m), applyAffine(m, { x: 3, y: -7 }));
    expect(back.x).toBeCloseTo(3, 12);
    expect(back.y).toBeCloseTo(-7, 12);
    expect(() => invertAffine([1, 2, 0, 2, 4, 0])).toThrow(/not invertible/);
    const square = [
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 10, y: 10 },
      { x: 0, y: 10 },
    ];
    expect(insidePolygon(square, 5, 5)).toBe(true);
    expect(insidePolygon(square, 11, 5)).toBe(false);
    expect(insidePolygon(square, 5, -0.5)).toBe(false);
  });

  for (const shape of MASK_SHAPES) {
    it(`${shape}: covers the mouth, the nostrils and the chin, never the eyes or the brows`, () => {
      const poly = maskPolygon(face(), shape);
      expect(insidePolygon(poly, 75, 112)).toBe(true); // mouth
      expect(insidePolygon(poly, 75, 95)).toBe(true); // nostrils
      expect(insidePolygon(poly, 75, 130)).toBe(true); // chin, just above jaw point 8
      expect(insidePolygon(poly, 55, 60)).toBe(false); // eyes
      expect(insidePolygon(poly, 95, 60)).toBe(false);
      expect(insidePolygon(poly, 75, 45)).toBe(false); // brows
      expect(insidePolygon(poly, 5, 140)).toBe(false); // background
    });
  }

  it('paints the mask in its colour on a copy and leaves the eyes and the input alone', () => {
    const img = grey();
    const style = { shape: 'surgical' as const, colour: [200, 40, 40] as const, texture: 1 };
    const out = drawMask(img, face(), style);
    expect(pixel(img, 75, 112)).toEqual([100, 100, 100]); // the input is untouched
    expect(pixel(out, 55, 60)).toEqual([100, 100, 100]);
    const [r, g, b] = pixel(out, 75, 112);
    // Colour ± texture (6) and a shade of at most 18 + a 28 pleat.
    expect(r).toBeGreaterThan(150);
    expect(g).toBeLessThan(60);
    expect(b).toBeLessThan(60);
    expect(() => drawMask({ ...img, channels: 4 } as unknown as RawImage, face(), style)).toThrow(/RGB/);
    expect(() => maskPolygon(face().slice(0, 5), 'cloth')).toThrow(/68 landmarks/);
  });

  it('gives a photo the same mask every time and different photos a mix of shapes and colours', () => {
    expect(maskStyleFor(3, face())).toEqual(maskStyleFor(3, face()));
    const styles = Array.from({ length: 60 }, (_, i) => maskStyleFor(3, face(i % 7, Math.floor(i / 7))));
    expect(new Set(styles.map((s) => s.shape)).size).toBe(MASK_SHAPES.length);
    expect(new Set(styles.map((s) => s.colour.join())).size).toBeGreaterThanOrEqual(4);
    // Another seed masks the same faces differently.
    const other = Array.from({ length: 60 }, (_, i) => maskStyleFor(4, face(i % 7, Math.floor(i / 7))));
    expect(
      other.filter((s, i) => s.shape !== styles[i].shape || s.colour !== styles[i].colour).length,
    ).toBeGreaterThan(20);
  });

  it('maskChip draws on the chip where the photo landmarks land through the alignment map', () => {
    // The chip is the photo scaled by 2 and shifted: chip pixel (x, y) is photo (2x + 30, 2y + 10).
    const transform: Affine = [2, 0, 30, 0, 2, 10];
    const inPhoto = face().map((p) => applyAffine(transform, p));
    const masked = maskChip(grey(), transform, inPhoto, 9);
    const direct = drawMask(grey(), face(), maskStyleFor(9, face()));
    let differ = 0;
    for (let i = 0; i < masked.data.length; i++) if (Math.abs(masked.data[i] - direct.data[i]) > 1) differ++;
    expect(differ).toBeLessThan(masked.data.length * 0.002); // rounding at the outline only
    expect(pixel(masked, 75, 112)).not.toEqual([100, 100, 100]);
  });
});
