/**
 * Tensor payloads in each wire dtype, shared by feature batches and weights. Values are split into
 * consecutive groups (one per feature sample, or one per weight tensor); only `int8` uses them,
 * storing one float32 scale per group.
 *
 *   float32: every value as a little-endian IEEE float32 (4 bytes)
 *   float16: every value as a little-endian IEEE half, round-to-nearest-even (2 bytes)
 *   int8:    all group scales as float32 (4 bytes each), then every value as an int8 code
 *
 * Encoding rejects NaN and ±Infinity, and for float16 any value that would round to Infinity
 * (|x| >= 65520): silently clamping would corrupt training data. Decoding rejects the same, so a
 * decoded array is always finite.
 */
import { CodecError } from '../errors.js';
import { float32BitsToFloat16Bits, fromFloat16Bits, isFloat16NonFinite } from '../float16.js';
import { int8Scale, quantizeInt8 } from '../quantize.js';
import type { WireDtype } from '../types.js';

/**
 * True on little-endian hosts (all current browsers and Node platforms), where float32 payloads
 * can be copied as raw bytes; the DataView path keeps big-endian hosts correct.
 */
export const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Payload bytes of `elementCount` values split into `groupCount` groups. */
export function payloadByteLength(dtype: WireDtype, elementCount: number, groupCount: number): number {
  switch (dtype) {
    case 'float32':
      return elementCount * 4;
    case 'float16':
      return elementCount * 2;
    case 'int8':
      return groupCount * 4 + elementCount;
  }
}

/** Throws CODEC_NON_FINITE at the first NaN or ±Infinity, naming it with `describe(index)`. */
export function checkFinite(values: Float32Array, describe: (index: number) => string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new CodecError(
        'CODEC_NON_FINITE',
        `${describe(i)} is ${values[i]}; only finite values can be encoded`,
      );
    }
  }
}

/**
 * Writes `values` (already checked finite) at `offset` of the message. `groupSizes` must sum to
 * `values.length`.
 */
export function writePayload(
  dtype: WireDtype,
  values: Float32Array,
  groupSizes: readonly number[],
  view: DataView,
  bytes: Uint8Array,
  offset: number,
  describe: (index: number) => string,
  littleEndianHost = LITTLE_ENDIAN_HOST,
): void {
  switch (dtype) {
    case 'float32':
      if (littleEndianHost)
        bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
      else for (let i = 0; i < values.length; i++) view.setFloat32(offset + 4 * i, values[i], true);
      return;
    case 'float16': {
      // Same-endian views of one buffer, so this reads the float32 bit patterns on any host.
      const bits32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
      for (let i = 0; i < values.length; i++) {
        const bits = float32BitsToFloat16Bits(bits32[i]);
        if (isFloat16NonFinite(bits)) {
          throw new CodecError(
            'CODEC_NON_FINITE',
            `${describe(i)} is ${values[i]}, beyond the float16 range (±65504); encode as float32 instead`,
          );
        }
        view.setUint16(offset + 2 * i, bits, true);
      }
      return;
    }
    case 'int8': {
      const codes = new Int8Array(
        bytes.buffer,
        bytes.byteOffset + offset + 4 * groupSizes.length,
        values.length,
      );
      let start = 0;
      for (let g = 0; g < groupSizes.length; g++) {
        const end = start + groupSizes[g];
        const group = values.subarray(start, end);
        const scale = int8Scale(group);
        view.setFloat32(offset + 4 * g, scale, true);
        quantizeInt8(group, scale, codes.subarray(start, end));
        start = end;
      }
      return;
    }
  }
}

/**
 * Reads a payload of `elementCount` values at `offset`; the caller has already checked that
 * exactly `payloadByteLength(...)` bytes are there. Always returns float32 values, all finite.
 */
export function readPayload(
  dtype: WireDtype,
  bytes: Uint8Array,
  offset: number,
  elementCount: number,
  groupSizes: readonly number[],
  describe: (index: number) => string,
  littleEndianHost = LITTLE_ENDIAN_HOST,
): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float32': {
      let out: Float32Array;
      if (littleEndianHost) {
        // Copy into a fresh (hence aligned) buffer and view it; no per-value DataView calls.
        const copy = new Uint8Array(elementCount * 4);
        copy.set(bytes.subarray(offset, offset + copy.length));
        out = new Float32Array(copy.buffer);
      } else {
        out = new Float32Array(elementCount);
        for (let i = 0; i < elementCount; i++) out[i] = view.getFloat32(offset + 4 * i, true);
      }
      for (let i = 0; i < elementCount; i++) {
        if (!Number.isFinite(out[i])) throw new CodecError('CODEC_NON_FINITE', `${describe(i)} is ${out[i]}`);
      }
      return out;
    }
    case 'float16': {
      const out = new Float32Array(elementCount);
      for (let i = 0; i < elementCount; i++) {
        const bits = view.getUint16(offset + 2 * i, true);
        if (isFloat16NonFinite(bits)) {
          throw new CodecError(
            'CODEC_NON_FINITE',
            `${describe(i)} is ${fromFloat16Bits(bits)} (float16 0x${bits.toString(16)})`,
          );
        }
        out[i] = fromFloat16Bits(bits);
      }
      return out;
    }
    case 'int8': {
      const out = new Float32Array(elementCount);
      const codesAt = offset + 4 * groupSizes.length;
      let start = 0;
      for (let g = 0; g < groupSizes.length; g++) {
        const scale = view.getFloat32(offset + 4 * g, true);
        if (!Number.isFinite(scale))
          throw new CodecError('CODEC_NON_FINITE', `int8 scale of group ${g} is ${scale}`);
        // Negative scales would flip signs; scales this large would overflow float32 at |q| = 127.
        if (scale < 0 || !Number.isFinite(Math.fround(127 * scale))) {
          throw new CodecError(
            'CODEC_BAD_VALUE',
            `int8 scale of group ${g} is ${scale}, outside [0, 3.4e38 / 127]`,
          );
        }
        const end = start + groupSizes[g];
        for (let i = start; i < end; i++) {
          const q = view.getInt8(codesAt + i);
          if (q === -128) {
            throw new CodecError(
              'CODEC_BAD_VALUE',
              `${describe(i)} has int8 code -128; symmetric codes are in [-127, 127]`,
            );
          }
          out[i] = q * scale;
        }
        start = end;
      }
      return out;
    }
  }
}
