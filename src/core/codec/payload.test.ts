import { describe, expect, it } from 'vitest';
import { createRng } from '../random.js';
import type { WireDtype } from '../types.js';
import { LITTLE_ENDIAN_HOST, payloadByteLength, readPayload, writePayload } from './payload.js';
import { codecErrorCode } from './test-support.js';

const DTYPES: WireDtype[] = ['float32', 'float16', 'int8'];
const describeIndex = (i: number): string => `value ${i}`;

/** Writes `values` at an odd offset of a fresh buffer (as inside a real message) via one path. */
function write(
  dtype: WireDtype,
  values: Float32Array,
  groups: number[],
  littleEndianHost: boolean,
): Uint8Array {
  const bytes = new Uint8Array(3 + payloadByteLength(dtype, values.length, groups.length));
  writePayload(dtype, values, groups, new DataView(bytes.buffer), bytes, 3, describeIndex, littleEndianHost);
  return bytes;
}

describe('payload paths', () => {
  it('runs the tests on a little-endian host (the fast path)', () => {
    // Assert: the portable path is still covered by the tests below
    expect(LITTLE_ENDIAN_HOST).toBe(true);
  });

  it.each(DTYPES)(
    'writes identical %s bytes through the fast and the portable (big-endian host) path',
    (dtype) => {
      // Prepare
      const rng = createRng(3);
      const values = Float32Array.from({ length: 24 }, () => (rng() * 2 - 1) * 50);
      const groups = [8, 8, 8];
      // Execute
      const fast = write(dtype, values, groups, true);
      const portable = write(dtype, values, groups, false);
      // Assert
      expect(Array.from(portable)).toEqual(Array.from(fast));
    },
  );

  it.each(DTYPES)('reads identical %s values through the fast and the portable path', (dtype) => {
    // Prepare
    const rng = createRng(4);
    const values = Float32Array.from({ length: 24 }, () => (rng() * 2 - 1) * 50);
    const bytes = write(dtype, values, [12, 12], true);
    // Execute
    const fast = readPayload(dtype, bytes, 3, 24, [12, 12], describeIndex, true);
    const portable = readPayload(dtype, bytes, 3, 24, [12, 12], describeIndex, false);
    // Assert
    expect(Array.from(portable)).toEqual(Array.from(fast));
  });

  it('rejects non-finite float32 values on both read paths', () => {
    // Prepare
    const bytes = new Uint8Array(3 + 8);
    new DataView(bytes.buffer).setFloat32(7, NaN, true);
    // Execute & Assert
    for (const le of [true, false]) {
      expect(codecErrorCode(() => readPayload('float32', bytes, 3, 2, [2], describeIndex, le))).toBe(
        'CODEC_NON_FINITE',
      );
    }
  });

  it('sizes payloads as 4, 2 and 1 bytes per value, plus 4 per group for int8', () => {
    // Execute & Assert
    expect(payloadByteLength('float32', 10, 2)).toBe(40);
    expect(payloadByteLength('float16', 10, 2)).toBe(20);
    expect(payloadByteLength('int8', 10, 2)).toBe(18);
  });
});
