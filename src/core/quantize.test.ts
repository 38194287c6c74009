import { describe, expect, it } from 'vitest';
import { createRng } from './random.js';
import { dequantizeInt8, int8Scale, quantizeInt8 } from './quantize.js';

const FLOAT32_MAX = 3.4028234663852886e38;

describe('int8Scale', () => {
  it('is maxAbs / 127 when that is a float32', () => {
    // Prepare
    const values = new Float32Array([-254, 3, 1, 0.9]);
    // Execute
    const scale = int8Scale(values);
    // Assert
    expect(scale).toBe(2);
  });

  it('is 0 for an all-zero group and for an empty group', () => {
    // Execute & Assert
    expect(int8Scale(new Float32Array([0, -0, 0]))).toBe(0);
    expect(int8Scale(new Float32Array(0))).toBe(0);
  });

  it('rounds down to the largest float32 with 127 × scale ≤ maxAbs', () => {
    // Prepare
    const rng = createRng(7);
    let bad = 0;
    // Execute
    for (let i = 0; i < 5_000; i++) {
      const maxAbs = Math.fround(rng() * 10 ** Math.floor(rng() * 12 - 6));
      const scale = int8Scale(new Float32Array([maxAbs]));
      const next = scale + 2 ** (Math.floor(Math.log2(scale)) - 23); // next float32 up (normal range)
      if (Math.fround(scale) !== scale || 127 * scale > maxAbs || 127 * next <= maxAbs) bad++;
    }
    // Assert
    expect(bad).toBe(0);
  });

  it('never lets a dequantised value overflow float32, even at FLOAT32_MAX', () => {
    // Prepare
    const values = new Float32Array([FLOAT32_MAX, -FLOAT32_MAX]);
    // Execute
    const scale = int8Scale(values);
    const back = dequantizeInt8(quantizeInt8(values, scale), scale);
    // Assert
    expect(Array.from(back).every(Number.isFinite)).toBe(true);
    expect(back[0]).toBe(-back[1]);
  });
});

describe('quantizeInt8', () => {
  it('matches hand-worked codes, rounding ties away from zero', () => {
    // Prepare: scale 2, so x / scale = -127, 1.5, 0.5, 0.45, -0.5, -1.5, 0
    const values = new Float32Array([-254, 3, 1, 0.9, -1, -3, 0]);
    // Execute
    const q = quantizeInt8(values, 2);
    // Assert
    expect(Array.from(q)).toEqual([-127, 2, 1, 0, -1, -2, 0]);
  });

  it('clamps to ±127 and never produces -128', () => {
    // Prepare: a scale too small for the values
    const values = new Float32Array([1000, -1000, 127.4, -127.6]);
    // Execute
    const q = quantizeInt8(values, 1);
    // Assert
    expect(Array.from(q)).toEqual([127, -127, 127, -127]);
  });

  it('gives zeros for scale 0', () => {
    // Execute
    const q = quantizeInt8(new Float32Array([0, 0]), 0);
    // Assert
    expect(Array.from(q)).toEqual([0, 0]);
  });

  it('writes into a given output view without touching the rest of its buffer', () => {
    // Prepare
    const buffer = new Int8Array([9, 9, 9, 9]);
    // Execute
    quantizeInt8(new Float32Array([2, -2]), 2, buffer.subarray(1, 3));
    // Assert
    expect(Array.from(buffer)).toEqual([9, 1, -1, 9]);
  });
});

describe('dequantizeInt8', () => {
  it('multiplies codes by the scale', () => {
    // Execute
    const x = dequantizeInt8(new Int8Array([-127, 0, 1, 64]), 0.5);
    // Assert
    expect(Array.from(x)).toEqual([-63.5, 0, 0.5, 32]);
  });

  it('reconstructs random groups within scale / 2 per element', () => {
    // Prepare
    const rng = createRng(8);
    let worstRatio = 0;
    // Execute
    for (let g = 0; g < 200; g++) {
      const magnitude = 10 ** Math.floor(rng() * 8 - 4);
      const values = Float32Array.from({ length: 128 }, () => (rng() * 2 - 1) * magnitude);
      const scale = int8Scale(values);
      const back = dequantizeInt8(quantizeInt8(values, scale), scale);
      for (let i = 0; i < values.length; i++) {
        // Allow the float32 rounding of the product on top of the quantisation step.
        const bound = scale / 2 + Math.abs(back[i]) * 2 ** -24;
        worstRatio = Math.max(worstRatio, Math.abs(values[i] - back[i]) / bound);
      }
    }
    // Assert
    expect(worstRatio).toBeLessThanOrEqual(1);
  });
});
