import { describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import type { RawImage } from '../core/types.js';
import { descriptorViews, meanDescriptor, mirrorImage } from './views.js';

function image(width: number, height: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
  return { width, height, channels: 3, data };
}

describe('descriptorViews', () => {
  it('lists the plain chip first, then its mirror, then the other borders with theirs', () => {
    expect(descriptorViews(1)).toEqual([{ paddingOffset: 0, mirror: false }]);
    expect(descriptorViews(2)).toEqual([
      { paddingOffset: 0, mirror: false },
      { paddingOffset: 0, mirror: true },
    ]);
    const six = descriptorViews(6);
    expect(six).toHaveLength(6);
    expect(six.map((v) => v.paddingOffset)).toEqual([0, 0, -0.1, -0.1, 0.1, 0.1]);
    expect(six.filter((v) => v.mirror)).toHaveLength(3);
  });

  it('rejects a count it has no recipe for', () => {
    for (const bad of [0, 3, 1.5]) {
      let err: unknown;
      try {
        descriptorViews(bad as 1);
      } catch (e) {
        err = e;
      }
      expect(isFedexError(err, 'BAD_ARGUMENT'), String(bad)).toBe(true);
    }
  });
});

describe('mirrorImage', () => {
  it('swaps columns left to right and keeps each pixel’s channels together', () => {
    const img = image(3, 2);
    const m = mirrorImage(img);
    for (let y = 0; y < 2; y++)
      for (let x = 0; x < 3; x++)
        for (let c = 0; c < 3; c++)
          expect(m.data[(y * 3 + x) * 3 + c]).toBe(img.data[(y * 3 + (2 - x)) * 3 + c]);
    expect(m.width).toBe(3);
    expect(m.height).toBe(2);
  });

  it('is its own inverse and leaves the input untouched', () => {
    const img = image(5, 4);
    const copy = img.data.slice();
    expect(mirrorImage(mirrorImage(img)).data).toEqual(img.data);
    expect(img.data).toEqual(copy);
  });
});

describe('meanDescriptor', () => {
  it('averages element-wise', () => {
    expect(Array.from(meanDescriptor([Float32Array.of(1, 2), Float32Array.of(3, 6)]))).toEqual([2, 4]);
  });

  it('rejects no descriptors and descriptors of different lengths', () => {
    expect(() => meanDescriptor([])).toThrow(/no descriptors/);
    expect(() => meanDescriptor([Float32Array.of(1), Float32Array.of(1, 2)])).toThrow(/lengths differ/);
  });
});
