import { describe, expect, it } from 'vitest';
import { fromFloat16Bits } from '../float16.js';
import { UNLABELLED, type FeatureBatch, type WireDtype } from '../types.js';
import { peekHeader, peekPrefix } from '../codec.js';
import {
  bytesPerSample,
  decodeFeatureBatch,
  encodeFeatureBatch,
  peekFeatureBatchHeader,
} from './feature-batch.js';
import {
  codecErrorCode,
  featureBatchProblem,
  float16Payload,
  float32Payload,
  int8Payload,
  rawFeatureBatch,
  reseal,
  sampleBatch,
} from './test-support.js';

const DTYPES: WireDtype[] = ['float32', 'float16', 'int8'];
const NAMES = ['alice', 'bob', 'carol'];

/**
 * Largest |x - y| allowed after a round trip in `dtype`, for a value `x` of a sample whose largest
 * magnitude is `maxAbs`.
 */
function tolerance(dtype: WireDtype, maxAbs: number, x: number): number {
  if (dtype === 'float32') return 0;
  // Half precision: relative 2^-11 for normals, half the smallest subnormal step below them.
  if (dtype === 'float16') return Math.max(Math.abs(x) * 2 ** -11, 2 ** -25);
  // int8: half a quantisation step (scale = maxAbs / 127), plus float32 rounding of q × scale.
  return maxAbs / 127 / 2 + Math.abs(x) * 2 ** -23;
}

/** The worst ratio of error to tolerance over a round trip (<= 1 passes). */
function worstErrorRatio(dtype: WireDtype, before: FeatureBatch, after: FeatureBatch): number {
  const size = before.features.length / Math.max(1, before.sampleIds.length);
  let worst = 0;
  for (let s = 0; s < before.sampleIds.length; s++) {
    const sample = before.features.subarray(s * size, (s + 1) * size);
    const maxAbs = sample.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < size; i++) {
      const x = sample[i];
      const err = Math.abs(x - after.features[s * size + i]);
      const tol = tolerance(dtype, maxAbs, x);
      worst = Math.max(worst, tol === 0 ? (err === 0 ? 0 : Infinity) : err / tol);
    }
  }
  return worst;
}

describe('encodeFeatureBatch / decodeFeatureBatch round trip', () => {
  it.each(DTYPES)('round-trips a labelled batch with label names in %s within its precision', (dtype) => {
    // Prepare
    const batch = sampleBatch(1, 20, [128], { labelNames: NAMES });
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype }));
    // Assert
    expect(decoded.spec).toEqual(batch.spec);
    expect(decoded.sampleIds).toEqual(batch.sampleIds);
    expect(Array.from(decoded.labels)).toEqual(Array.from(batch.labels));
    expect(decoded.labelNames).toEqual(NAMES);
    expect(decoded.features).toBeInstanceOf(Float32Array);
    expect(worstErrorRatio(dtype, batch, decoded)).toBeLessThanOrEqual(1);
  });

  it.each(DTYPES)('round-trips a batch without label names in %s and leaves labelNames absent', (dtype) => {
    // Prepare
    const batch = sampleBatch(2, 5, [4, 3], { scale: 100 });
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype }));
    // Assert
    expect('labelNames' in decoded).toBe(false);
    expect(Array.from(decoded.labels)).toEqual([UNLABELLED, UNLABELLED, UNLABELLED, UNLABELLED, UNLABELLED]);
    expect(worstErrorRatio(dtype, batch, decoded)).toBeLessThanOrEqual(1);
  });

  it('keeps float32 features bit-exact, including -0 and extreme finite values', () => {
    // Prepare
    const batch = sampleBatch(3, 1, [5]);
    batch.features.set([-0, 3.4028234663852886e38, -1.401298464324817e-45, 1e-38, 0.1]);
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype: 'float32' }));
    // Assert
    expect(Object.is(decoded.features[0], -0)).toBe(true);
    expect(Array.from(decoded.features)).toEqual(Array.from(batch.features));
  });

  it('encodes float32 by default', () => {
    // Prepare
    const batch = sampleBatch(4, 2, [3]);
    // Execute
    const bytes = encodeFeatureBatch(batch);
    // Assert
    expect(peekPrefix(bytes).dtype).toBe('float32');
    expect(Array.from(decodeFeatureBatch(bytes).features)).toEqual(Array.from(batch.features));
  });

  it.each(DTYPES)('round-trips an empty batch (0 samples) in %s', (dtype) => {
    // Prepare
    const batch = sampleBatch(5, 0, [128], { labelNames: NAMES });
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype }));
    // Assert
    expect(decoded.sampleIds).toEqual([]);
    expect(decoded.labels.length).toBe(0);
    expect(decoded.features.length).toBe(0);
    expect(decoded.labelNames).toEqual(NAMES);
    expect(decoded.spec.shape).toEqual([128]);
  });

  it('round-trips an empty label-name list as an empty list, not as absent', () => {
    // Prepare
    const batch = sampleBatch(6, 2, [2], { labelNames: [] });
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch));
    // Assert
    expect(decoded.labelNames).toEqual([]);
  });

  it.each(DTYPES)('round-trips [37, 37, 128] feature maps in %s', (dtype) => {
    // Prepare
    const batch = sampleBatch(7, 3, [37, 37, 128], { scale: 8 });
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype }));
    // Assert
    expect(decoded.spec.shape).toEqual([37, 37, 128]);
    expect(decoded.features.length).toBe(3 * 37 * 37 * 128);
    expect(worstErrorRatio(dtype, batch, decoded)).toBeLessThanOrEqual(1);
  });

  it('round-trips a scalar shape [] (one value per sample)', () => {
    // Prepare
    const batch = sampleBatch(8, 3, []);
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch));
    // Assert
    expect(decoded.spec.shape).toEqual([]);
    expect(Array.from(decoded.features)).toEqual(Array.from(batch.features));
  });

  it('round-trips ids and names with non-ASCII text, a leading BOM and the empty string', () => {
    // Prepare
    const batch = sampleBatch(9, 4, [1], { labelNames: ['Zoë', '李雷'] });
    batch.sampleIds = ['\uFEFFbom', 'émoji-😀', '', 'dir/ß.jpg'];
    batch.spec.split = 'conv_4/Ü';
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch));
    // Assert
    expect(decoded.sampleIds).toEqual(batch.sampleIds);
    expect(decoded.labelNames).toEqual(['Zoë', '李雷']);
    expect(decoded.spec.split).toBe('conv_4/Ü');
  });

  it('quantises int8 per sample, so a quiet sample keeps its precision next to a loud one', () => {
    // Prepare
    const batch = sampleBatch(10, 2, [4]);
    batch.features.set([0.001, -0.002, 0.003, 0.004, 1000, -500, 250, 1]);
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype: 'int8' }));
    // Assert: the quiet sample's step is 0.004/127, not 1000/127
    for (let i = 0; i < 4; i++)
      expect(Math.abs(decoded.features[i] - batch.features[i])).toBeLessThan(0.004 / 127);
  });

  it('decodes a message that sits at an odd offset inside a larger buffer', () => {
    // Prepare: e.g. a message read out of a bigger network or file buffer
    const batch = sampleBatch(19, 3, [5], { labelNames: NAMES });
    const bytes = encodeFeatureBatch(batch);
    const backing = new Uint8Array(bytes.length + 10).fill(0xee);
    backing.set(bytes, 5);
    // Execute
    const decoded = decodeFeatureBatch(backing.subarray(5, 5 + bytes.length));
    // Assert
    expect(Array.from(decoded.features)).toEqual(Array.from(batch.features));
    expect(decoded.sampleIds).toEqual(batch.sampleIds);
  });

  it('clamps nothing in float16: 65504 survives and 65519 rounds to 65504', () => {
    // Prepare
    const batch = sampleBatch(11, 1, [2]);
    batch.features.set([65504, -65519]);
    // Execute
    const decoded = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype: 'float16' }));
    // Assert
    expect(Array.from(decoded.features)).toEqual([65504, -65504]);
  });
});

describe('the byte layout', () => {
  it('matches the layout in docs/wire-format.md byte for byte', () => {
    // Prepare: the same batch, once through the encoder and once written field by field
    const batch: FeatureBatch = {
      spec: { backboneId: 'test-net', backboneVersion: '1.0.0', split: 'embedding', shape: [2] },
      sampleIds: ['a', 'b'],
      labels: Int32Array.from([0, -1]),
      features: Float32Array.from([1, 2, 3, 4]),
    };
    // Execute
    const encoded = encodeFeatureBatch(batch, { dtype: 'float32' });
    // Assert
    expect(Array.from(encoded)).toEqual(Array.from(rawFeatureBatch()));
  });

  it('reproduces the hex dump in the docs for the float16 example', () => {
    // Prepare: the dump printed in docs/wire-format.md, "Example"
    const documented = `
      46 58 46 42 01 00 02 01 3c 00 00 00 08 00 00 00
      08 00 74 65 73 74 2d 6e 65 74 05 00 31 2e 30 2e
      30 09 00 65 6d 62 65 64 64 69 6e 67 01 02 00 00
      00 02 00 00 00 01 00 61 01 00 62 00 00 00 00 ff
      ff ff ff 01 00 00 00 03 00 61 6e 6e 00 3c 00 40
      00 42 00 44 20 a9 4e 1e`;
    const batch: FeatureBatch = {
      spec: { backboneId: 'test-net', backboneVersion: '1.0.0', split: 'embedding', shape: [2] },
      sampleIds: ['a', 'b'],
      labels: Int32Array.from([0, -1]),
      labelNames: ['ann'],
      features: Float32Array.from([1, 2, 3, 4]),
    };
    // Execute
    const encoded = encodeFeatureBatch(batch, { dtype: 'float16' });
    // Assert
    const hex = Array.from(encoded, (b) => b.toString(16).padStart(2, '0')).join(' ');
    expect(hex).toBe(documented.trim().split(/\s+/).join(' '));
  });

  it('puts magic, version, dtype, flags and sizes at their documented offsets', () => {
    // Prepare
    const batch = sampleBatch(12, 3, [8], { labelNames: NAMES });
    // Execute
    const bytes = encodeFeatureBatch(batch, { dtype: 'float16' });
    const view = new DataView(bytes.buffer);
    // Assert
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe('FXFB');
    expect(view.getUint16(4, true)).toBe(1);
    expect(view.getUint8(6)).toBe(2); // float16
    expect(view.getUint8(7)).toBe(1); // label names present
    const headerBytes = view.getUint32(8, true);
    const payloadBytes = view.getUint32(12, true);
    expect(payloadBytes).toBe(3 * 8 * 2);
    expect(bytes.length).toBe(16 + headerBytes + payloadBytes + 4);
    // The first half of the payload is sample 0, value 0.
    expect(fromFloat16Bits(view.getUint16(16 + headerBytes, true))).toBeCloseTo(batch.features[0], 3);
  });

  it('decodes hand-made float16 and int8 payloads to their documented values', () => {
    // Prepare: 0x3c00 = 1, 0xc000 = -2, 0x3555 = 0.333251953125, 0x0001 = 2^-24; int8 scales 0.5 and 2
    const f16 = rawFeatureBatch({ dtypeCode: 2, payload: float16Payload([0x3c00, 0xc000, 0x3555, 0x0001]) });
    const i8 = rawFeatureBatch({ dtypeCode: 3, payload: int8Payload([0.5, 2], [127, -3, 0, 0xff]) });
    // Execute
    const a = decodeFeatureBatch(f16);
    const b = decodeFeatureBatch(i8);
    // Assert
    expect(Array.from(a.features)).toEqual([1, -2, 0.333251953125, 2 ** -24]);
    expect(Array.from(b.features)).toEqual([63.5, -1.5, 0, -2]);
  });

  it.each([
    ['float32', 534],
    ['float16', 278],
    ['int8', 154],
  ] as const)('costs %s bytes per 128-d sample with a 16-character id, as measured', (dtype, expected) => {
    // Prepare: two batches that differ by one sample, 16-character ASCII ids
    const ids = (n: number): string[] =>
      Array.from({ length: n }, (_, i) => `sample-${String(i).padStart(9, '0')}`);
    const make = (n: number): FeatureBatch => ({ ...sampleBatch(13, n, [128]), sampleIds: ids(n) });
    // Execute
    const measured =
      encodeFeatureBatch(make(101), { dtype }).length - encodeFeatureBatch(make(100), { dtype }).length;
    // Assert
    expect(ids(1)[0]).toHaveLength(16);
    expect(measured).toBe(expected);
    expect(bytesPerSample({ shape: [128] }, dtype, 16)).toBe(expected);
  });

  it('adds a fixed overhead of 20 bytes plus the spec, shape and count to an empty batch', () => {
    // Prepare: spec strings of 14 + 6 + 9 bytes, shape [128]
    const batch = sampleBatch(14, 0, [128]);
    // Execute
    const bytes = encodeFeatureBatch(batch);
    // Assert: prefix 16 + strings (2 + 14) + (2 + 6) + (2 + 9) + rank 1 + dim 4 + count 4 + crc 4
    expect(bytes.length).toBe(16 + 16 + 8 + 11 + 1 + 4 + 4 + 4);
  });
});

describe('peekHeader', () => {
  it('reads spec, ids and labels from the header alone, without the payload', () => {
    // Prepare
    const batch = sampleBatch(15, 4, [128], { labelNames: NAMES });
    const bytes = encodeFeatureBatch(batch, { dtype: 'int8' });
    const headerOnly = bytes.subarray(0, 16 + new DataView(bytes.buffer).getUint32(8, true));
    // Execute
    const header = peekHeader(headerOnly);
    // Assert
    expect(header.kind).toBe('feature-batch');
    if (header.kind !== 'feature-batch') return;
    expect(header.dtype).toBe('int8');
    expect(header.spec).toEqual(batch.spec);
    expect(header.sampleIds).toEqual(batch.sampleIds);
    expect(Array.from(header.labels)).toEqual(Array.from(batch.labels));
    expect(header.labelNames).toEqual(NAMES);
    expect(header.totalBytes).toBe(bytes.length);
  });

  it('refuses a header that is cut short', () => {
    // Prepare
    const bytes = encodeFeatureBatch(sampleBatch(16, 4, [8]));
    // Execute
    const code = codecErrorCode(() => peekFeatureBatchHeader(bytes.subarray(0, 30)));
    // Assert
    expect(code).toBe('CODEC_TRUNCATED');
  });

  it('applies sample and feature-size limits', () => {
    // Prepare
    const bytes = encodeFeatureBatch(sampleBatch(17, 4, [8]));
    // Execute & Assert
    expect(codecErrorCode(() => peekHeader(bytes, { maxSamples: 3 }))).toBe('CODEC_TOO_LARGE');
    expect(codecErrorCode(() => peekHeader(bytes, { maxFeatureSize: 7 }))).toBe('CODEC_TOO_LARGE');
    expect(codecErrorCode(() => peekHeader(bytes, { maxSamples: 4, maxFeatureSize: 8 }))).toBe('no error');
  });

  it('lets a server refuse an oversized upload from its first 16 bytes', () => {
    // Prepare
    const bytes = encodeFeatureBatch(sampleBatch(18, 100, [128]));
    // Execute
    const prefix = peekPrefix(bytes.subarray(0, 16));
    const code = codecErrorCode(() => peekPrefix(bytes.subarray(0, 16), { maxBytes: 1000 }));
    // Assert
    expect(prefix.totalBytes).toBe(bytes.length);
    expect(prefix.kind).toBe('feature-batch');
    expect(code).toBe('CODEC_TOO_LARGE');
  });
});

describe('decodeFeatureBatch rejects', () => {
  const valid = (): Uint8Array => encodeFeatureBatch(sampleBatch(20, 3, [4], { labelNames: NAMES }));

  it('accepts the hand-made baseline message (so each rejection below is due to its one change)', () => {
    // Execute
    const batch = decodeFeatureBatch(rawFeatureBatch());
    // Assert
    expect(featureBatchProblem(batch)).toBeUndefined();
    expect(Array.from(batch.features)).toEqual([1, 2, 3, 4]);
  });

  it.each([
    ['an empty input', new Uint8Array(0), 'CODEC_TRUNCATED'],
    ['a 10-byte input with the right magic', rawFeatureBatch().subarray(0, 10), 'CODEC_TRUNCATED'],
    [
      'another format (PNG)',
      Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      'CODEC_BAD_MAGIC',
    ],
    ['a weights message', rawFeatureBatch({ magic: 'FXWT' }), 'CODEC_BAD_MAGIC'],
    ['version 2', rawFeatureBatch({ version: 2 }), 'CODEC_BAD_VERSION'],
    ['version 0', rawFeatureBatch({ version: 0 }), 'CODEC_BAD_VERSION'],
    ['dtype code 0', rawFeatureBatch({ dtypeCode: 0 }), 'CODEC_BAD_DTYPE'],
    ['dtype code 4', rawFeatureBatch({ dtypeCode: 4 }), 'CODEC_BAD_DTYPE'],
    ['an unknown flag bit', rawFeatureBatch({ flags: 0x02 }), 'CODEC_BAD_HEADER'],
    ['a wrong checksum', rawFeatureBatch({ badChecksum: true }), 'CODEC_CHECKSUM'],
    ['a header with slack bytes at its end', rawFeatureBatch({ headerSlack: 1 }), 'CODEC_BAD_HEADER'],
    ['more ids declared than present', rawFeatureBatch({ sampleCount: 3 }), 'CODEC_BAD_HEADER'],
    ['fewer ids declared than present', rawFeatureBatch({ sampleCount: 1 }), 'CODEC_BAD_HEADER'],
    [
      'a payload longer than the shape needs',
      rawFeatureBatch({ payload: float32Payload([1, 2, 3, 4, 5, 6]) }),
      'CODEC_SHAPE_MISMATCH',
    ],
    [
      'a payload shorter than the shape needs',
      rawFeatureBatch({ payload: float32Payload([1, 2, 3]) }),
      'CODEC_SHAPE_MISMATCH',
    ],
    [
      'a shape with a 0 dimension',
      rawFeatureBatch({ shape: [0], payload: new Uint8Array(0) }),
      'CODEC_SHAPE_MISMATCH',
    ],
    ['duplicate sample ids', rawFeatureBatch({ sampleIds: ['a', 'a'] }), 'CODEC_DUPLICATE_ID'],
    ['a label below -1', rawFeatureBatch({ labels: [0, -2] }), 'CODEC_BAD_LABEL'],
    ['a label of INT32_MIN', rawFeatureBatch({ labels: [-0x80000000, 0] }), 'CODEC_BAD_LABEL'],
    [
      'a label with no name when names are present',
      rawFeatureBatch({ flags: 1, labelNames: ['x', 'y'], labels: [2, 0] }),
      'CODEC_BAD_LABEL',
    ],
    [
      'more label names declared than present',
      rawFeatureBatch({ flags: 1, labelNames: ['x'], labelNameCount: 2 }),
      'CODEC_BAD_HEADER',
    ],
    [
      'an id that is not UTF-8 (0xff)',
      rawFeatureBatch({ sampleIds: ['a', Uint8Array.from([0xff])] }),
      'CODEC_BAD_HEADER',
    ],
    [
      'an overlong UTF-8 encoding',
      rawFeatureBatch({ sampleIds: ['a', Uint8Array.from([0xc0, 0xaf])] }),
      'CODEC_BAD_HEADER',
    ],
    [
      'a UTF-8-encoded surrogate',
      rawFeatureBatch({ backboneId: Uint8Array.from([0xed, 0xa0, 0x80]) }),
      'CODEC_BAD_HEADER',
    ],
    [
      'a truncated UTF-8 sequence',
      rawFeatureBatch({ split: Uint8Array.from([0x65, 0xe2, 0x82]) }),
      'CODEC_BAD_HEADER',
    ],
    ['a float32 NaN', rawFeatureBatch({ payload: float32Payload([1, NaN, 3, 4]) }), 'CODEC_NON_FINITE'],
    [
      'a float32 -Infinity',
      rawFeatureBatch({ payload: float32Payload([1, 2, 3, -Infinity]) }),
      'CODEC_NON_FINITE',
    ],
    [
      'a float16 Infinity',
      rawFeatureBatch({ dtypeCode: 2, payload: float16Payload([0, 0x7c00, 0, 0]) }),
      'CODEC_NON_FINITE',
    ],
    [
      'a float16 NaN',
      rawFeatureBatch({ dtypeCode: 2, payload: float16Payload([0xfe00, 0, 0, 0]) }),
      'CODEC_NON_FINITE',
    ],
    [
      'an int8 NaN scale',
      rawFeatureBatch({ dtypeCode: 3, payload: int8Payload([1, NaN], [1, 2, 3, 4]) }),
      'CODEC_NON_FINITE',
    ],
    [
      'a negative int8 scale',
      rawFeatureBatch({ dtypeCode: 3, payload: int8Payload([-1, 1], [1, 2, 3, 4]) }),
      'CODEC_BAD_VALUE',
    ],
    [
      'an int8 scale that would overflow float32',
      rawFeatureBatch({ dtypeCode: 3, payload: int8Payload([3e38, 1], [1, 2, 3, 4]) }),
      'CODEC_BAD_VALUE',
    ],
    [
      'the int8 code -128',
      rawFeatureBatch({ dtypeCode: 3, payload: int8Payload([1, 1], [1, 0x80, 3, 4]) }),
      'CODEC_BAD_VALUE',
    ],
  ] as const)('%s', (_name, bytes, code) => {
    // Execute
    const got = codecErrorCode(() => decodeFeatureBatch(bytes));
    // Assert
    expect(got).toBe(code);
  });

  it('a message cut short by one byte, or with its payload missing', () => {
    // Prepare
    const bytes = valid();
    // Execute & Assert
    expect(codecErrorCode(() => decodeFeatureBatch(bytes.subarray(0, bytes.length - 1)))).toBe(
      'CODEC_TRUNCATED',
    );
    expect(codecErrorCode(() => decodeFeatureBatch(bytes.subarray(0, 100)))).toBe('CODEC_TRUNCATED');
  });

  it('a message with trailing bytes', () => {
    // Prepare
    const bytes = valid();
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    // Execute
    const code = codecErrorCode(() => decodeFeatureBatch(longer));
    // Assert
    expect(code).toBe('CODEC_TRAILING_BYTES');
  });

  it('a message with one payload byte changed in transit', () => {
    // Prepare
    const bytes = valid().slice();
    bytes[bytes.length - 10] ^= 0x40;
    // Execute
    const code = codecErrorCode(() => decodeFeatureBatch(bytes));
    // Assert
    expect(code).toBe('CODEC_CHECKSUM');
  });

  it('a header claiming 2^31 samples, as too large, before allocating for them', () => {
    // Prepare: a tiny message whose count field says 2^31
    const bytes = rawFeatureBatch({ sampleCount: 2 ** 31 });
    // Execute
    const withDefaults = codecErrorCode(() => decodeFeatureBatch(bytes));
    const unlimited = codecErrorCode(() => decodeFeatureBatch(bytes, { maxSamples: Infinity }));
    // Assert: over the limit; and without a limit the header is still too small to hold them
    expect(withDefaults).toBe('CODEC_TOO_LARGE');
    expect(unlimited).toBe('CODEC_BAD_HEADER');
  });

  it('a header claiming 2^32 - 1 label names, before allocating for them', () => {
    // Prepare
    const bytes = rawFeatureBatch({ flags: 1, labelNames: ['x'], labelNameCount: 0xffffffff });
    // Execute
    const code = codecErrorCode(() => decodeFeatureBatch(bytes));
    // Assert
    expect(code).toBe('CODEC_BAD_HEADER');
  });

  it('a shape of 65536 × 65536 values per sample, as too large', () => {
    // Prepare
    const bytes = rawFeatureBatch({
      shape: [65536, 65536],
      payload: new Uint8Array(0),
      sampleIds: [],
      labels: [],
    });
    // Execute
    const code = codecErrorCode(() => decodeFeatureBatch(bytes));
    // Assert
    expect(code).toBe('CODEC_TOO_LARGE');
  });

  it('messages over the byte, sample or feature-size limits', () => {
    // Prepare
    const bytes = valid(); // 3 samples of shape [4]
    // Execute & Assert
    expect(codecErrorCode(() => decodeFeatureBatch(bytes, { maxBytes: bytes.length - 1 }))).toBe(
      'CODEC_TOO_LARGE',
    );
    expect(codecErrorCode(() => decodeFeatureBatch(bytes, { maxSamples: 2 }))).toBe('CODEC_TOO_LARGE');
    expect(codecErrorCode(() => decodeFeatureBatch(bytes, { maxFeatureSize: 3 }))).toBe('CODEC_TOO_LARGE');
    expect(
      codecErrorCode(() =>
        decodeFeatureBatch(bytes, { maxBytes: bytes.length, maxSamples: 3, maxFeatureSize: 4 }),
      ),
    ).toBe('no error');
  });

  it('an input that is not a Uint8Array', () => {
    // Prepare
    const notBytes = [0x46, 0x58, 0x46, 0x42] as unknown as Uint8Array;
    // Execute
    const code = codecErrorCode(() => decodeFeatureBatch(notBytes));
    // Assert
    expect(code).toBe('CODEC_BAD_HEADER');
  });

  it('nothing about a corrupted message: the checksum is checked before any field is trusted', () => {
    // Prepare: a valid message whose sample count is bumped without resealing
    const bytes = rawFeatureBatch();
    const countAt = 16 + 2 + 8 + 2 + 5 + 2 + 9 + 1 + 4;
    bytes[countAt] = 3;
    // Execute
    const before = codecErrorCode(() => decodeFeatureBatch(bytes));
    const after = codecErrorCode(() => decodeFeatureBatch(reseal(bytes)));
    // Assert
    expect(before).toBe('CODEC_CHECKSUM');
    expect(after).toBe('CODEC_BAD_HEADER');
  });
});

describe('encodeFeatureBatch rejects', () => {
  const base = (): FeatureBatch => sampleBatch(30, 2, [3], { labelNames: NAMES });

  it.each([
    ['a 0 dimension', [0, 3]],
    ['a fractional dimension', [1.5]],
    ['a negative dimension', [-3]],
    ['a NaN dimension', [NaN]],
    ['256 dimensions', new Array<number>(256).fill(1)],
  ])('a shape with %s', (_name, shape) => {
    // Prepare
    const batch = { ...base(), spec: { ...base().spec, shape } };
    // Execute
    const code = codecErrorCode(() => encodeFeatureBatch(batch));
    // Assert
    expect(code).toBe('CODEC_SHAPE_MISMATCH');
  });

  it('features whose length does not match ids × shape', () => {
    // Prepare
    const batch = { ...base(), features: new Float32Array(5) };
    // Execute
    const code = codecErrorCode(() => encodeFeatureBatch(batch));
    // Assert
    expect(code).toBe('CODEC_SHAPE_MISMATCH');
  });

  it('a sample-id count that differs from the label count', () => {
    // Prepare
    const batch = { ...base(), labels: Int32Array.from([0]) };
    // Execute
    const code = codecErrorCode(() => encodeFeatureBatch(batch));
    // Assert
    expect(code).toBe('CODEC_SHAPE_MISMATCH');
  });

  it('duplicate sample ids', () => {
    // Prepare
    const batch = { ...base(), sampleIds: ['x', 'x'] };
    // Execute
    const code = codecErrorCode(() => encodeFeatureBatch(batch));
    // Assert
    expect(code).toBe('CODEC_DUPLICATE_ID');
  });

  it('a label below -1, and a label without a name', () => {
    // Prepare
    const low = { ...base(), labels: Int32Array.from([-2, 0]) };
    const unnamed = { ...base(), labels: Int32Array.from([0, 3]) };
    // Execute & Assert
    expect(codecErrorCode(() => encodeFeatureBatch(low))).toBe('CODEC_BAD_LABEL');
    expect(codecErrorCode(() => encodeFeatureBatch(unnamed))).toBe('CODEC_BAD_LABEL');
  });

  it.each(DTYPES)('NaN and ±Infinity in %s', (dtype) => {
    // Prepare
    const bad = [NaN, Infinity, -Infinity].map((v) => {
      const batch = base();
      batch.features[4] = v;
      return batch;
    });
    // Execute
    const codes = bad.map((batch) => codecErrorCode(() => encodeFeatureBatch(batch, { dtype })));
    // Assert
    expect(codes).toEqual(['CODEC_NON_FINITE', 'CODEC_NON_FINITE', 'CODEC_NON_FINITE']);
  });

  it('float16 values that would round to Infinity, rather than clamping them', () => {
    // Prepare
    const batch = base();
    batch.features[1] = -65520;
    // Execute
    const f16 = codecErrorCode(() => encodeFeatureBatch(batch, { dtype: 'float16' }));
    const f32 = codecErrorCode(() => encodeFeatureBatch(batch, { dtype: 'float32' }));
    // Assert
    expect(f16).toBe('CODEC_NON_FINITE');
    expect(f32).toBe('no error');
  });

  it('a sample id with a lone surrogate, which UTF-8 cannot carry', () => {
    // Prepare
    const batch = { ...base(), sampleIds: ['a\uD800', 'b'] };
    // Execute
    const code = codecErrorCode(() => encodeFeatureBatch(batch));
    // Assert
    expect(code).toBe('CODEC_BAD_HEADER');
  });

  it('a sample id longer than 65535 UTF-8 bytes', () => {
    // Prepare
    const batch = { ...base(), sampleIds: ['é'.repeat(40_000), 'b'] };
    // Execute
    const code = codecErrorCode(() => encodeFeatureBatch(batch));
    // Assert
    expect(code).toBe('CODEC_TOO_LARGE');
  });
});
