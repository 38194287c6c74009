import { beforeAll, describe, expect, it } from 'vitest';
import type { RawImage } from '../core/types.js';
import { initRuntime, tf } from '../runtime/node.js';
import { cropSquareResize, padImage, resizeImage, warpAffine } from './warp.js';

/** A w x h image whose pixel (x, y) is (x*7+y*3, x*11, y*13) mod 256. */
function pattern(w: number, h: number): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++)
      data.set([(x * 7 + y * 3) % 256, (x * 11) % 256, (y * 13) % 256], (y * w + x) * 3);
  }
  return { width: w, height: h, channels: 3, data };
}

const px = (img: RawImage, x: number, y: number): number[] =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

describe('warpAffine', () => {
  it('reproduces the image under the identity map', () => {
    const img = pattern(9, 7);

    const out = warpAffine(img, [1, 0, 0, 0, 1, 0], 9, 7);

    expect(Array.from(out.data)).toEqual(Array.from(img.data));
  });

  it('shifts by whole pixels exactly and fills outside the image with black', () => {
    const img = pattern(6, 5);

    const out = warpAffine(img, [1, 0, 2, 0, 1, 1], 6, 5); // chip (u, v) reads source (u + 2, v + 1)

    expect(px(out, 0, 0)).toEqual(px(img, 2, 1));
    expect(px(out, 3, 3)).toEqual(px(img, 5, 4));
    expect(px(out, 4, 0)).toEqual([0, 0, 0]); // source x = 6 is outside
  });

  it('interpolates bilinearly between pixel centres', () => {
    const img: RawImage = {
      width: 2,
      height: 1,
      channels: 3,
      data: Uint8Array.from([0, 100, 200, 100, 200, 0]),
    };

    const out = warpAffine(img, [1, 0, 0.25, 0, 1, 0], 1, 1);

    expect(px(out, 0, 0)).toEqual([25, 125, 150]);
  });

  it('averages 2x2 blocks when shrinking by 2 with 2x2 samples', () => {
    const img = pattern(8, 8);

    const out = warpAffine(img, [2, 0, 0.5, 0, 2, 0.5], 4, 4, { samples: 2 });

    for (let v = 0; v < 4; v++) {
      for (let u = 0; u < 4; u++) {
        const block = [
          px(img, 2 * u, 2 * v),
          px(img, 2 * u + 1, 2 * v),
          px(img, 2 * u, 2 * v + 1),
          px(img, 2 * u + 1, 2 * v + 1),
        ];
        const mean = [0, 1, 2].map((c) => Math.round(block.reduce((s, p) => s + p[c], 0) / 4));
        px(out, u, v).forEach((val, c) => expect(Math.abs(val - mean[c])).toBeLessThanOrEqual(1));
      }
    }
  });
});

describe('resizeImage', () => {
  it('shrinks by 2 to the exact 2x2 block means', () => {
    const img = pattern(6, 4);

    const out = resizeImage(img, 3, 2);

    for (let v = 0; v < 2; v++) {
      for (let u = 0; u < 3; u++) {
        const block = [
          px(img, 2 * u, 2 * v),
          px(img, 2 * u + 1, 2 * v),
          px(img, 2 * u, 2 * v + 1),
          px(img, 2 * u + 1, 2 * v + 1),
        ];
        expect(px(out, u, v)).toEqual(
          [0, 1, 2].map((c) => Math.round(block.reduce((s, p) => s + p[c], 0) / 4)),
        );
      }
    }
  });

  it('keeps a flat image flat at a fractional ratio, and weighs partly covered pixels', () => {
    // Prepare: 3 columns shrunk to 2: output 0 covers columns 0 and half of 1.
    const flat: RawImage = { width: 7, height: 5, channels: 3, data: new Uint8Array(7 * 5 * 3).fill(77) };
    const row: RawImage = {
      width: 3,
      height: 1,
      channels: 3,
      data: Uint8Array.from([0, 0, 0, 90, 90, 90, 30, 30, 30]),
    };

    const a = resizeImage(flat, 3, 2);
    const b = resizeImage(row, 2, 1);

    expect(Array.from(a.data).every((v) => v === 77)).toBe(true);
    expect(px(b, 0, 0)).toEqual([30, 30, 30]); // (0 * 1 + 90 * 0.5) / 1.5
    expect(px(b, 1, 0)).toEqual([50, 50, 50]); // (90 * 0.5 + 30 * 1) / 1.5
  });
});

describe('padImage', () => {
  it('frames the image with a black border', () => {
    const img = pattern(3, 2);

    const out = padImage(img, 2);

    expect([out.width, out.height]).toEqual([7, 6]);
    expect(px(out, 2, 2)).toEqual(px(img, 0, 0));
    expect(px(out, 4, 3)).toEqual(px(img, 2, 1));
    expect(px(out, 0, 0)).toEqual([0, 0, 0]);
    expect(px(out, 6, 5)).toEqual([0, 0, 0]);
  });
});

describe('cropSquareResize (face-api chip cut, in pure TS)', () => {
  beforeAll(async () => {
    await initRuntime();
  });

  /** face-api's ops: slice the clipped box, pad it centred to a square, legacy resizeBilinear. */
  function faceApiReference(
    img: RawImage,
    box: { x: number; y: number; width: number; height: number },
    size: number,
  ): Float32Array {
    return tf.tidy(() => {
      const x = Math.floor(Math.max(0, box.x));
      const y = Math.floor(Math.max(0, box.y));
      const w = Math.floor(Math.min(box.x + box.width - Math.max(0, box.x), img.width - Math.max(0, box.x)));
      const h = Math.floor(
        Math.min(box.y + box.height - Math.max(0, box.y), img.height - Math.max(0, box.y)),
      );
      const t = tf.tensor3d(Float32Array.from(img.data), [img.height, img.width, 3]);
      const crop = tf.slice3d(t, [y, x, 0], [h, w, 3]);
      const diff = Math.abs(w - h);
      const append = Math.round(diff * 0.5);
      const prepend = diff - append;
      const pads: [number, number][] =
        w < h
          ? [
              [0, 0],
              [prepend, append],
              [0, 0],
            ]
          : [
              [prepend, append],
              [0, 0],
              [0, 0],
            ];
      const square = tf.pad(crop, pads);
      return tf.image.resizeBilinear(square, [size, size], false, false).dataSync() as Float32Array;
    });
  }

  for (const [name, box] of [
    ['a square box inside the image', { x: 10, y: 5, width: 37, height: 37 }],
    ['a box clipped at the right and bottom border', { x: 30, y: 20, width: 45, height: 45 }],
    ['a box with a fractional origin', { x: 3.7, y: 8.2, width: 20.9, height: 33.4 }],
  ] as const) {
    it(`matches face-api's tfjs ops for ${name}`, () => {
      const img = pattern(64, 48);
      const n0 = tf.memory().numTensors;

      const ours = cropSquareResize(img, box, 150);
      const ref = faceApiReference(img, box, 150);

      expect(tf.memory().numTensors).toBe(n0);
      let worst = 0;
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours.data[i] - ref[i]));
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-3); // ours is the reference rounded to 8 bits
    });
  }
});
