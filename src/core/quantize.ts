/**
 * Symmetric int8 quantisation: pure math over typed arrays, used by the wire codec for `int8`
 * payloads (one scale per feature sample, or per weight tensor) and testable by hand.
 *
 * For a group of values with largest magnitude `maxAbs`:
 *
 *   scale = maxAbs / 127, rounded *down* to a float32 (so 127 × scale never exceeds maxAbs and a
 *           dequantised value can never overflow float32);
 *   q     = round(x / scale), ties away from zero, clamped to [-127, 127] (-128 is never used, so
 *           the code is symmetric: q and -q decode to exact negatives);
 *   x'    = q × scale, so |x - x'| ≤ scale / 2 (plus float32 rounding of x').
 *
 * An all-zero group has scale 0 and quantises to zeros. Inputs must be finite: checking that is
 * the caller's job (the codec rejects NaN and Infinity before calling in).
 */

/** Largest quantised magnitude; -128 is deliberately unused. */
export const INT8_QMAX = 127;

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** The largest float32 that is at most `x` (for finite `x >= 0`). */
function fround32Down(x: number): number {
  const r = Math.fround(x);
  if (r <= x) return r;
  // Rounded up (so r > 0): the float32 just below a positive float32 is its bit pattern minus one.
  f32[0] = r;
  f32Bits[0] -= 1;
  return f32[0];
}

/**
 * The float32 scale of a group: `maxAbs / 127` rounded down to a float32 (0 for an all-zero group).
 *
 * @example
 * int8Scale(new Float32Array([-254, 3, 1])); // 2
 */
export function int8Scale(values: Float32Array): number {
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > maxAbs) maxAbs = a;
  }
  return fround32Down(maxAbs / INT8_QMAX);
}

/**
 * Quantises `values` with `scale` (from `int8Scale`) into `out` (allocated when omitted).
 * Rounds ties away from zero and clamps to [-127, 127]; a scale of 0 gives all zeros.
 */
export function quantizeInt8(
  values: Float32Array,
  scale: number,
  out: Int8Array = new Int8Array(values.length),
): Int8Array {
  if (scale === 0) {
    out.fill(0);
    return out;
  }
  for (let i = 0; i < values.length; i++) {
    // Ties away from zero, computed without `+ 0.5` (which misrounds 0.49999999999999994).
    const v = Math.abs(values[i]) / scale;
    let r = Math.floor(v);
    if (v - r >= 0.5) r++;
    const q = r > INT8_QMAX ? INT8_QMAX : r;
    out[i] = values[i] < 0 ? -q : q;
  }
  return out;
}

/** Dequantises `q × scale` into `out` (allocated when omitted). */
export function dequantizeInt8(
  q: Int8Array,
  scale: number,
  out: Float32Array = new Float32Array(q.length),
): Float32Array {
  for (let i = 0; i < q.length; i++) out[i] = q[i] * scale;
  return out;
}
