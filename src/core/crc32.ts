/**
 * CRC-32 (IEEE 802.3 / zlib / PNG: reflected polynomial 0xEDB88320, initial value and final XOR
 * 0xFFFFFFFF). The wire codec seals every message with it so that corruption in transit or on disk
 * is caught before a single field is trusted. It is an error-detecting code, not a signature: it
 * does not protect against someone who means harm.
 *
 * Platform-neutral and dependency-free (written by hand so browsers need no zlib).
 */

/**
 * Slicing-by-4 tables: TABLES[0] is the classic byte-at-a-time table; TABLES[k][n] is the CRC
 * contribution of byte n followed by k zero bytes, so four bytes can be folded in per step (about
 * 3× faster than byte at a time, which matters for multi-megabyte feature maps).
 */
const TABLES: Int32Array[] = (() => {
  // Int32Array, not Uint32Array: entries >= 2^31 would otherwise leave V8's small-integer fast path.
  const t0 = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c;
  }
  const tables = [t0];
  for (let k = 1; k < 4; k++) {
    const prev = tables[k - 1];
    tables.push(Int32Array.from(prev, (v) => (v >>> 8) ^ t0[v & 0xff]));
  }
  return tables;
})();
const [T0, T1, T2, T3] = TABLES;

/**
 * Continues a CRC-32 over more bytes. Start with `crc = 0` (the CRC of nothing); the result of one
 * call is the `crc` of the next, so `crc32Update(crc32Update(0, a), b) === crc32(a ++ b)`.
 */
export function crc32Update(crc: number, bytes: Uint8Array): number {
  let c = ~crc;
  const n = bytes.length;
  const whole = n - (n % 4);
  let i = 0;
  for (; i < whole; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = T3[c & 0xff] ^ T2[(c >>> 8) & 0xff] ^ T1[(c >>> 16) & 0xff] ^ T0[c >>> 24];
  }
  for (; i < n; i++) c = T0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * CRC-32 of `bytes`, as an unsigned 32-bit integer.
 *
 * @example
 * crc32(new TextEncoder().encode('123456789')); // 0xcbf43926
 */
export function crc32(bytes: Uint8Array): number {
  return crc32Update(0, bytes);
}
