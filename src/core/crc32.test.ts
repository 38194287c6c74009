import { describe, expect, it } from 'vitest';
import { crc32, crc32Update } from './crc32.js';
import { createRng, randomInt } from './random.js';

/** The textbook bit-at-a-time CRC-32, as an independent reference for the table-driven one. */
function bitwiseCrc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('crc32', () => {
  it('matches the standard check value for "123456789"', () => {
    // Prepare
    const input = ascii('123456789');
    // Execute
    const crc = crc32(input);
    // Assert
    expect(crc).toBe(0xcbf43926);
  });

  it('matches published vectors (empty, "a", "abc", the quick brown fox, 32 zero bytes)', () => {
    // Prepare: values as printed by zlib.crc32 / Python's binascii.crc32
    const vectors: [Uint8Array, number][] = [
      [new Uint8Array(0), 0x00000000],
      [ascii('a'), 0xe8b7be43],
      [ascii('abc'), 0x352441c2],
      [ascii('The quick brown fox jumps over the lazy dog'), 0x414fa339],
      [new Uint8Array(32), 0x190a55ad],
    ];
    // Execute
    const got = vectors.map(([bytes]) => crc32(bytes));
    // Assert
    expect(got).toEqual(vectors.map(([, crc]) => crc));
  });

  it('returns an unsigned 32-bit integer even when the top bit is set', () => {
    // Prepare
    const input = ascii('123456789');
    // Execute
    const crc = crc32(input);
    // Assert
    expect(crc).toBeGreaterThan(0x7fffffff);
    expect(Number.isInteger(crc)).toBe(true);
  });

  it('gives the same value when fed in pieces', () => {
    // Prepare
    const whole = ascii('The quick brown fox jumps over the lazy dog');
    // Execute
    const pieced = crc32Update(
      crc32Update(crc32Update(0, whole.subarray(0, 7)), whole.subarray(7, 20)),
      whole.subarray(20),
    );
    // Assert
    expect(pieced).toBe(crc32(whole));
  });

  it('changes when any single bit of the input flips', () => {
    // Prepare
    const input = ascii('feature batch');
    const original = crc32(input);
    let unchanged = 0;
    // Execute
    for (let i = 0; i < input.length * 8; i++) {
      const copy = input.slice();
      copy[i >> 3] ^= 1 << (i & 7);
      if (crc32(copy) === original) unchanged++;
    }
    // Assert
    expect(unchanged).toBe(0);
  });

  it('agrees with the bit-at-a-time reference for random inputs of every length 0-300 and odd offsets', () => {
    // Prepare
    const rng = createRng(32);
    const backing = Uint8Array.from({ length: 400 }, () => randomInt(rng, 256));
    let disagreements = 0;
    // Execute
    for (let len = 0; len <= 300; len++) {
      const view = backing.subarray(len % 7, (len % 7) + len);
      if (crc32(view) !== bitwiseCrc32(view)) disagreements++;
    }
    // Assert
    expect(disagreements).toBe(0);
  });
});
