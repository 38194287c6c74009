import { describe, expect, it } from 'vitest';
import { createRng } from './random.js';
import {
  float32BitsToFloat16Bits,
  FLOAT16_MAX,
  FLOAT16_MIN_NORMAL,
  FLOAT16_MIN_SUBNORMAL,
  fromFloat16Bits,
  isFloat16NonFinite,
  toFloat16Bits,
} from './float16.js';

// Hand-worked patterns: sign | exponent (5 bits, bias 15) | fraction (10 bits).
const HAND_WORKED: [string, number, number][] = [
  ['+0', 0, 0x0000],
  ['-0', -0, 0x8000],
  ['1 = 2^0 × 1.0', 1, 0x3c00],
  ['-2 = -(2^1 × 1.0)', -2, 0xc000],
  ['0.5 = 2^-1', 0.5, 0x3800],
  ['0.333251953125 = 2^-2 × 1.0101010101b', 0.333251953125, 0x3555],
  ['65504, the largest finite half', FLOAT16_MAX, 0x7bff],
  ['2^-14, the smallest normal', FLOAT16_MIN_NORMAL, 0x0400],
  ['1023 × 2^-24, the largest subnormal', 1023 * 2 ** -24, 0x03ff],
  ['2^-24, the smallest subnormal', FLOAT16_MIN_SUBNORMAL, 0x0001],
  ['-2^-24', -FLOAT16_MIN_SUBNORMAL, 0x8001],
  ['Infinity', Infinity, 0x7c00],
  ['-Infinity', -Infinity, 0xfc00],
];

// Ties and carries, each worked out by hand: the two neighbours and which one is even.
const ROUNDING: [string, number, number][] = [
  ['1/3 = 2^-2 × 1.0101010101|0101…b rounds down to 0x3555', 1 / 3, 0x3555],
  ['1 + 2^-11 ties between 0x3c00 and 0x3c01 → even 0x3c00', 1 + 2 ** -11, 0x3c00],
  ['1 + 3·2^-11 ties between 0x3c01 and 0x3c02 → even 0x3c02', 1 + 3 * 2 ** -11, 0x3c02],
  ['1 + 2^-11 + 2^-20 is past the tie → 0x3c01', 1 + 2 ** -11 + 2 ** -20, 0x3c01],
  ['2049 ties between 2048 (0x6800) and 2050 (0x6801) → 0x6800', 2049, 0x6800],
  ['2051 ties between 2050 and 2052 → 2052 (0x6802)', 2051, 0x6802],
  ['2047.5 ties between 2047 (0x67ff) and 2048 → carries into the exponent, 0x6800', 2047.5, 0x6800],
  ['2^-25 ties between 0 and 2^-24 → +0', 2 ** -25, 0x0000],
  ['just above 2^-25 rounds up to 2^-24', Math.fround(2 ** -25 * (1 + 2 ** -23)), 0x0001],
  ['3·2^-25 ties between 2^-24 and 2·2^-24 → 0x0002', 3 * 2 ** -25, 0x0002],
  ['1023.5 × 2^-24 ties between the largest subnormal and 2^-14 → 0x0400', 1023.5 * 2 ** -24, 0x0400],
  ['1e-10 underflows to +0', 1e-10, 0x0000],
  ['-1e-10 underflows to -0', -1e-10, 0x8000],
  ['65519 rounds down to 65504', 65519, 0x7bff],
  ['65520 ties between 65504 and 65536 (Infinity) → Infinity', 65520, 0x7c00],
  ['-70000 overflows to -Infinity', -70000, 0xfc00],
];

describe('toFloat16Bits', () => {
  it.each(HAND_WORKED)('encodes %s', (_name, value, bits) => {
    // Execute
    const got = toFloat16Bits(value);
    // Assert
    expect(got.toString(16)).toBe(bits.toString(16));
  });

  it.each(ROUNDING)('rounds to nearest even: %s', (_name, value, bits) => {
    // Execute
    const got = toFloat16Bits(value);
    // Assert
    expect(got.toString(16)).toBe(bits.toString(16));
  });

  it('encodes NaN as the canonical quiet NaN 0x7e00', () => {
    // Execute
    const got = toFloat16Bits(NaN);
    // Assert
    expect(got).toBe(0x7e00);
  });

  it('picks the nearest half for 20,000 random float32 values', () => {
    // Prepare: magnitudes spread over the whole half range, subnormals included
    const rng = createRng(16);
    const values = Array.from({ length: 20_000 }, () =>
      Math.fround((rng() < 0.5 ? -1 : 1) * rng() * 2 ** (Math.floor(rng() * 42) - 26)),
    );
    let farther = 0;
    // Execute
    for (const x of values) {
      const h = toFloat16Bits(x);
      const err = Math.abs(x - fromFloat16Bits(h));
      // Neighbouring patterns of the same sign are the neighbouring values.
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7fff) > 0x7bff || (n & 0x8000) !== (h & 0x8000)) continue;
        if (Math.abs(x - fromFloat16Bits(n)) < err) farther++;
      }
    }
    // Assert
    expect(farther).toBe(0);
  });

  it('keeps relative error within 2^-11 for normal values', () => {
    // Prepare
    const rng = createRng(11);
    let worst = 0;
    // Execute
    for (let i = 0; i < 10_000; i++) {
      const x = Math.fround((rng() * 2 - 1) * 1000);
      if (Math.abs(x) < FLOAT16_MIN_NORMAL) continue;
      worst = Math.max(worst, Math.abs(x - fromFloat16Bits(toFloat16Bits(x))) / Math.abs(x));
    }
    // Assert
    expect(worst).toBeLessThanOrEqual(2 ** -11);
  });
});

/** The bit pattern of a float32. */
function float32Bits(x: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  return view.getUint32(0);
}

/** The float32 with a given bit pattern. */
function float32Of(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, bits);
  return view.getFloat32(0);
}

describe('float32BitsToFloat16Bits', () => {
  it.each([...HAND_WORKED, ...ROUNDING].filter(([, v]) => Math.fround(v) === v))(
    'encodes %s',
    (_name, value, bits) => {
      // Execute
      const got = float32BitsToFloat16Bits(float32Bits(value));
      // Assert
      expect(got.toString(16)).toBe(bits.toString(16));
    },
  );

  it('agrees with toFloat16Bits on every exponent and every rounding-relevant low fraction', () => {
    // Prepare: for each sign and float32 exponent, a few high fractions × all 2^13 bits that the
    // half drops (all of them for exponents that land near the half range, a stride elsewhere)
    let disagreements = 0;
    let checked = 0;
    // Execute
    for (const sign of [0, 0x80000000]) {
      for (let exponent = 0; exponent <= 0xff; exponent++) {
        const nearHalfRange = exponent >= 100 && exponent <= 145;
        for (const high of [0, 0x2aa, 0x3ff]) {
          for (let low = 0; low < 0x2000; low += nearHalfRange ? 1 : 97) {
            const bits32 = (sign | (exponent << 23) | (high << 13) | low) >>> 0;
            const x = float32Of(bits32);
            const expected = Number.isNaN(x) ? 0x7e00 | (sign >>> 16) : toFloat16Bits(x);
            if (float32BitsToFloat16Bits(bits32) !== expected) disagreements++;
            checked++;
          }
        }
      }
    }
    // Assert
    expect(checked).toBeGreaterThan(2_000_000);
    expect(disagreements).toBe(0);
  });
});

describe('fromFloat16Bits', () => {
  it.each(HAND_WORKED)('decodes %s', (_name, value, bits) => {
    // Execute
    const got = fromFloat16Bits(bits);
    // Assert
    expect(Object.is(got, value)).toBe(true);
  });

  it('decodes every NaN pattern to NaN and both infinities to ±Infinity', () => {
    // Prepare
    const nans = [0x7c01, 0x7e00, 0x7fff, 0xfc01, 0xffff];
    // Execute
    const decoded = nans.map(fromFloat16Bits);
    // Assert
    expect(decoded.every(Number.isNaN)).toBe(true);
    expect(fromFloat16Bits(0x7c00)).toBe(Infinity);
    expect(fromFloat16Bits(0xfc00)).toBe(-Infinity);
  });

  it('round-trips every finite pattern exactly, and every value is a float32', () => {
    // Prepare
    let mismatches = 0;
    let notFloat32 = 0;
    // Execute
    for (let h = 0; h <= 0xffff; h++) {
      if (isFloat16NonFinite(h)) continue;
      const v = fromFloat16Bits(h);
      if (toFloat16Bits(v) !== h) mismatches++;
      if (Math.fround(v) !== v) notFloat32++;
    }
    // Assert
    expect(mismatches).toBe(0);
    expect(notFloat32).toBe(0);
  });
});

describe('isFloat16NonFinite', () => {
  it('is true exactly for exponent 31 (2 × 1024 patterns)', () => {
    // Execute
    let count = 0;
    for (let h = 0; h <= 0xffff; h++) if (isFloat16NonFinite(h)) count++;
    // Assert
    expect(count).toBe(2048);
    expect(isFloat16NonFinite(0x7bff)).toBe(false);
    expect(isFloat16NonFinite(0x7c00)).toBe(true);
  });
});
