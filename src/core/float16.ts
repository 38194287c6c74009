/**
 * IEEE 754 binary16 ("half") conversion, by hand: JavaScript has no Float16Array in the Node and
 * browser versions we support. Used by the wire codec to halve feature and weight uploads.
 *
 * Layout of a half: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits. Exponent 0 holds zero
 * and the subnormals (fraction × 2^-24); exponent 31 holds Infinity (fraction 0) and NaN.
 *
 * Rounding is round-to-nearest, ties-to-even, computed straight from the double value with exact
 * power-of-two scaling (no double rounding through float32, no endianness-dependent bit casts).
 * These functions never throw: deciding what to do with values that overflow to Infinity is the
 * caller's business (the codec rejects them).
 */

/** Largest finite half: 65504 (0x7bff). */
export const FLOAT16_MAX = 65504;

/** Smallest positive normal half: 2^-14 (0x0400). */
export const FLOAT16_MIN_NORMAL = 2 ** -14;

/** Smallest positive subnormal half: 2^-24 (0x0001). */
export const FLOAT16_MIN_SUBNORMAL = 2 ** -24;

/** Values whose magnitude is at least this round to Infinity (the tie 65520 goes to the even side). */
export const FLOAT16_OVERFLOW = 65520;

/** Bits of the canonical quiet NaN this module produces. */
export const FLOAT16_NAN_BITS = 0x7e00;

/** Rounds a non-negative double to an integer, ties to even. Exact for values below 2^52. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The 16-bit pattern of the half nearest to `x` (ties to even). Values of magnitude
 * `FLOAT16_OVERFLOW` (65520) or more become ±Infinity (0x7c00 / 0xfc00); NaN becomes 0x7e00;
 * magnitudes at most 2^-25 become ±0.
 *
 * @example
 * toFloat16Bits(1); // 0x3c00
 * toFloat16Bits(1 / 3); // 0x3555 (0.333251953125)
 */
export function toFloat16Bits(x: number): number {
  if (Number.isNaN(x)) return FLOAT16_NAN_BITS;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= FLOAT16_OVERFLOW) return sign | 0x7c00;
  if (a < FLOAT16_MIN_NORMAL) {
    // Subnormal range: a count of 2^-24 steps. A result of 1024 is the smallest normal (0x0400),
    // so rounding up across the boundary needs no special case.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  // Normal range: 2^e <= a < 2^(e+1) with e in [-14, 15]. log2 may be off by one near powers of
  // two, so correct it with exact comparisons.
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const m = roundHalfEven(a * 2 ** (10 - e)); // in [1024, 2048]
  // m === 2048 carries into the exponent by plain addition (and 65504 < a < 65520 stays finite).
  return sign | (((e + 15) << 10) + (m - 1024));
}

/**
 * Same as `toFloat16Bits(x)` for a float32 `x`, but from the float32's bit pattern and with integer
 * operations only: the codec's fast path over a Float32Array (about 20× faster than
 * `toFloat16Bits`). Tested against `toFloat16Bits` across every exponent and rounding boundary.
 */
export function float32BitsToFloat16Bits(bits32: number): number {
  const sign = (bits32 >>> 16) & 0x8000;
  const exponent = (bits32 >>> 23) & 0xff;
  const fraction = bits32 & 0x7fffff;
  if (exponent === 0xff) return sign | (fraction === 0 ? 0x7c00 : FLOAT16_NAN_BITS); // NaN keeps its sign
  const e = exponent - 112; // the half's biased exponent: (exponent - 127) + 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the 24-bit significand right by 14 - e and round.
    if (e < -10) return sign; // below 2^-25: rounds to zero (float32 subnormals land here too)
    const significand = fraction | 0x800000;
    const shift = 14 - e;
    const h = significand >>> shift;
    const rest = significand & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    return sign | (rest > halfway || (rest === halfway && h & 1) ? h + 1 : h);
  }
  const h = (e << 10) | (fraction >>> 13);
  const rest = fraction & 0x1fff;
  // Rounding up may carry into the exponent, up to 0x7c00 (Infinity), which is the right answer.
  return sign | (rest > 0x1000 || (rest === 0x1000 && h & 1) ? h + 1 : h);
}

/** 2^(i - 25) for each biased half exponent i: exact, and faster than `2 **` in the decode loop. */
const POW2: Float64Array = Float64Array.from({ length: 32 }, (_, i) => 2 ** (i - 25));

/**
 * The value of a 16-bit half pattern (only the low 16 bits of `bits` are read). Every half is
 * exactly representable as a float32, so `Math.fround(fromFloat16Bits(h)) === fromFloat16Bits(h)`.
 *
 * @example
 * fromFloat16Bits(0x3555); // 0.333251953125
 * fromFloat16Bits(0x0001); // 2^-24
 */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * POW2[1]; // 2^-24
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1024 + fraction) * POW2[exponent];
}

/** True when a half pattern is Infinity or NaN (exponent bits all ones). */
export function isFloat16NonFinite(bits: number): boolean {
  return (bits & 0x7c00) === 0x7c00;
}
