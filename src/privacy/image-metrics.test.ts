import { describe, expect, it } from 'vitest';
import { createRng } from '../core/random.js';
import { downsampleRgb, psnr, ssim, toGray } from './image-metrics.js';

const rng = createRng(5);
const img = Float32Array.from({ length: 48 * 48 }, (_, i) => 0.5 + 0.4 * Math.sin(i / 7) * Math.cos(i / 300));

describe('image metrics', () => {
  it('SSIM is 1 for the same image, lower for noise, near 0 for unrelated noise, symmetric', () => {
    expect(ssim(img, img, 48, 48)).toBeCloseTo(1, 9);
    const noisy = img.map((v) => v + (rng() - 0.5) * 0.2);
    const s = ssim(img, noisy, 48, 48);
    expect(s).toBeLessThan(0.95);
    expect(s).toBeGreaterThan(0.2);
    expect(ssim(noisy, img, 48, 48)).toBeCloseTo(s, 12);
    const unrelated = Float32Array.from({ length: 48 * 48 }, () => rng());
    expect(Math.abs(ssim(img, unrelated, 48, 48))).toBeLessThan(0.1);
    // A constant shift of the brightness keeps the structure: SSIM stays high.
    expect(
      ssim(
        img,
        img.map((v) => v + 0.05),
        48,
        48,
      ),
    ).toBeGreaterThan(0.9);
  });

  it('PSNR: 20 dB for an error of a tenth of the peak, Infinity for equal images', () => {
    const a = new Float32Array(100).fill(0.5);
    expect(
      psnr(
        a,
        a.map((v) => v + 0.1),
      ),
    ).toBeCloseTo(20, 4);
    expect(psnr(a, a)).toBe(Number.POSITIVE_INFINITY);
    expect(
      psnr(
        a.map((v) => v * 255),
        a.map((v) => v * 255 + 25.5),
        255,
      ),
    ).toBeCloseTo(20, 4);
  });

  it('downsamples by box averages and takes BT.601 luma', () => {
    const rgb = new Float32Array(4 * 4 * 3);
    for (let i = 0; i < 16; i++) rgb.set([i, 2 * i, 3 * i], i * 3);
    const d = downsampleRgb(rgb, 4, 2);
    // Top-left 2×2 block holds pixels 0, 1, 4, 5: mean 2.5.
    expect(Array.from(d.slice(0, 3))).toEqual([2.5, 5, 7.5]);
    expect(toGray([1, 1, 1, 0, 0, 1])[0]).toBeCloseTo(1, 9);
    expect(toGray([1, 1, 1, 0, 0, 1])[1]).toBeCloseTo(0.114, 9);
    expect(() => downsampleRgb(rgb, 4, 3)).toThrow(/cannot shrink/);
  });
});
