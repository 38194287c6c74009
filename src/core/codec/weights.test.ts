import { describe, expect, it } from 'vitest';
import { createRng } from '../random.js';
import type { WireDtype } from '../types.js';
import { peekHeader } from '../codec.js';
import { encodeFeatureBatch } from './feature-batch.js';
import { decodeWeights, encodeWeights, peekWeightsHeader, type WeightsMessage } from './weights.js';
import {
  codecErrorCode,
  float32Payload,
  int8Payload,
  rawMessage,
  RawBytes,
  sampleBatch,
  weightsProblem,
} from './test-support.js';

const DTYPES: WireDtype[] = ['float32', 'float16', 'int8'];

/** A small softmax head over 128-d embeddings: kernel, bias and a scalar temperature. */
function head(seed: number): WeightsMessage {
  const rng = createRng(seed);
  const values = (n: number, scale: number): Float32Array =>
    Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale);
  return {
    metadata: {
      modelId: 'user-42/face-head',
      spec: { backboneId: 'faceapi-resnet', backboneVersion: '1.7.15', split: 'embedding', shape: [128] },
      head: 'softmax',
      version: 3,
    },
    tensors: [
      { name: 'dense/kernel', shape: [128, 5], values: values(640, 0.2) },
      { name: 'dense/bias', shape: [5], values: values(5, 0.01) },
      { name: 'temperature', shape: [], values: Float32Array.from([1.5]) },
    ],
  };
}

/** A hand-made weights message: metadata JSON, then tensors as [name, shape] pairs. */
function rawWeights(
  json: string,
  tensors: [string, number[]][],
  payload: Uint8Array,
  overrides: { count?: number; flags?: number; dtypeCode?: number } = {},
): Uint8Array {
  const h = new RawBytes().str32(json).u32(overrides.count ?? tensors.length);
  for (const [name, shape] of tensors) {
    h.str16(name).u8(shape.length);
    for (const d of shape) h.u32(d);
  }
  return rawMessage('FXWT', 1, overrides.dtypeCode ?? 1, overrides.flags ?? 0, h.finish(), payload);
}

describe('encodeWeights / decodeWeights round trip', () => {
  it.each(DTYPES)('round-trips metadata, names, shapes and values in %s within its precision', (dtype) => {
    // Prepare
    const message = head(1);
    // Execute
    const decoded = decodeWeights(encodeWeights(message, { dtype }));
    // Assert
    expect(decoded.metadata).toEqual(message.metadata);
    expect(decoded.tensors.map((t) => [t.name, t.shape])).toEqual(
      message.tensors.map((t) => [t.name, t.shape]),
    );
    expect(weightsProblem(decoded)).toBeUndefined();
    for (const [i, t] of message.tensors.entries()) {
      const maxAbs = t.values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (let j = 0; j < t.values.length; j++) {
        const x = t.values[j];
        const err = Math.abs(x - decoded.tensors[i].values[j]);
        // float32 exact; float16 relative 2^-11; int8 half a step of this tensor's own scale.
        const tol = {
          float32: 0,
          float16: Math.max(Math.abs(x) * 2 ** -11, 2 ** -25),
          int8: maxAbs / 254 + Math.abs(x) * 2 ** -23,
        }[dtype];
        expect(err).toBeLessThanOrEqual(tol);
      }
    }
  });

  it('round-trips a message with no tensors', () => {
    // Prepare
    const message: WeightsMessage = { metadata: { note: 'empty' }, tensors: [] };
    // Execute
    const decoded = decodeWeights(encodeWeights(message));
    // Assert
    expect(decoded).toEqual(message);
  });

  it('gives each decoded tensor its own buffer', () => {
    // Prepare
    const bytes = encodeWeights(head(2));
    // Execute
    const { tensors } = decodeWeights(bytes);
    // Assert
    expect(tensors.map((t) => t.values.buffer.byteLength)).toEqual(tensors.map((t) => t.values.length * 4));
  });

  it('peeks metadata and tensor shapes without the payload', () => {
    // Prepare
    const message = head(3);
    const bytes = encodeWeights(message, { dtype: 'float16' });
    const headerOnly = bytes.subarray(0, 16 + new DataView(bytes.buffer).getUint32(8, true));
    // Execute
    const header = peekWeightsHeader(headerOnly);
    const generic = peekHeader(headerOnly);
    // Assert
    expect(header.metadata).toEqual(message.metadata);
    expect(header.tensors).toEqual([
      { name: 'dense/kernel', shape: [128, 5] },
      { name: 'dense/bias', shape: [5] },
      { name: 'temperature', shape: [] },
    ]);
    expect(header.totalBytes).toBe(bytes.length);
    expect(generic.kind).toBe('weights');
  });

  it('decodes a hand-made int8 message with one scale per tensor', () => {
    // Prepare: tensor a (2 values, scale 0.5) and b (1 value, scale 4)
    const bytes = rawWeights(
      '{"v":1}',
      [
        ['a', [2]],
        ['b', []],
      ],
      int8Payload([0.5, 4], [2, 0xfe, 3]),
      { dtypeCode: 3 },
    );
    // Execute
    const { tensors } = decodeWeights(bytes);
    // Assert
    expect(tensors.map((t) => Array.from(t.values))).toEqual([[1, -1], [12]]);
  });
});

describe('decodeWeights rejects', () => {
  it('accepts the hand-made baseline message', () => {
    // Execute
    const decoded = decodeWeights(rawWeights('{}', [['w', [2]]], float32Payload([1, 2])));
    // Assert
    expect(decoded.tensors[0].values).toEqual(Float32Array.from([1, 2]));
  });

  it.each([
    ['a feature batch', encodeFeatureBatch(sampleBatch(1, 1, [2])), 'CODEC_BAD_MAGIC'],
    [
      'any flag bit',
      rawWeights('{}', [['w', [2]]], float32Payload([1, 2]), { flags: 1 }),
      'CODEC_BAD_HEADER',
    ],
    [
      'metadata that is not JSON',
      rawWeights('{nope', [['w', [2]]], float32Payload([1, 2])),
      'CODEC_BAD_HEADER',
    ],
    [
      'metadata that is a JSON array',
      rawWeights('[1]', [['w', [2]]], float32Payload([1, 2])),
      'CODEC_BAD_HEADER',
    ],
    [
      'metadata that is JSON null',
      rawWeights('null', [['w', [2]]], float32Payload([1, 2])),
      'CODEC_BAD_HEADER',
    ],
    [
      'duplicate tensor names',
      rawWeights(
        '{}',
        [
          ['w', [1]],
          ['w', [1]],
        ],
        float32Payload([1, 2]),
      ),
      'CODEC_DUPLICATE_ID',
    ],
    ['an empty tensor name', rawWeights('{}', [['', [2]]], float32Payload([1, 2])), 'CODEC_BAD_HEADER'],
    [
      'a payload that does not match the shapes',
      rawWeights('{}', [['w', [3]]], float32Payload([1, 2])),
      'CODEC_SHAPE_MISMATCH',
    ],
    ['a 0 dimension', rawWeights('{}', [['w', [0]]], new Uint8Array(0)), 'CODEC_SHAPE_MISMATCH'],
    [
      'more tensors declared than present',
      rawWeights('{}', [['w', [2]]], float32Payload([1, 2]), { count: 2 }),
      'CODEC_BAD_HEADER',
    ],
    [
      '2^32 - 1 tensors declared',
      rawWeights('{}', [['w', [2]]], float32Payload([1, 2]), { count: 0xffffffff }),
      'CODEC_TOO_LARGE',
    ],
    ['a NaN value', rawWeights('{}', [['w', [2]]], float32Payload([1, NaN])), 'CODEC_NON_FINITE'],
    [
      'a tensor of 2^32 - 1 values',
      rawWeights('{}', [['w', [0xffffffff]]], new Uint8Array(0)),
      'CODEC_TOO_LARGE',
    ],
  ] as const)('%s', (_name, bytes, code) => {
    // Execute
    const got = codecErrorCode(() => decodeWeights(bytes));
    // Assert
    expect(got).toBe(code);
  });

  it('messages over the byte, tensor-count or tensor-size limits', () => {
    // Prepare
    const bytes = encodeWeights(head(4));
    // Execute & Assert
    expect(codecErrorCode(() => decodeWeights(bytes, { maxBytes: 100 }))).toBe('CODEC_TOO_LARGE');
    expect(codecErrorCode(() => decodeWeights(bytes, { maxTensors: 2 }))).toBe('CODEC_TOO_LARGE');
    expect(codecErrorCode(() => decodeWeights(bytes, { maxTensorSize: 639 }))).toBe('CODEC_TOO_LARGE');
    expect(codecErrorCode(() => decodeWeights(bytes, { maxTensors: 3, maxTensorSize: 640 }))).toBe(
      'no error',
    );
  });

  it('truncated, extended and corrupted messages', () => {
    // Prepare
    const bytes = encodeWeights(head(5));
    const flipped = bytes.slice();
    flipped[40] ^= 1;
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    // Execute & Assert
    expect(codecErrorCode(() => decodeWeights(bytes.subarray(0, bytes.length - 4)))).toBe('CODEC_TRUNCATED');
    expect(codecErrorCode(() => decodeWeights(longer))).toBe('CODEC_TRAILING_BYTES');
    expect(codecErrorCode(() => decodeWeights(flipped))).toBe('CODEC_CHECKSUM');
  });
});

describe('encodeWeights rejects', () => {
  const tensor = { name: 'w', shape: [2], values: Float32Array.from([1, 2]) };

  it.each([
    ['metadata that is an array', [] as unknown as Record<string, unknown>],
    ['metadata with a BigInt', { n: 1n }],
    ['metadata that serialises to a string (a Date)', new Date(0) as unknown as Record<string, unknown>],
    [
      'metadata with a cycle',
      (() => {
        const m: Record<string, unknown> = {};
        m.self = m;
        return m;
      })(),
    ],
  ])('%s', (_name, metadata) => {
    // Execute
    const code = codecErrorCode(() => encodeWeights({ metadata, tensors: [tensor] }));
    // Assert
    expect(code).toBe('CODEC_BAD_HEADER');
  });

  it('duplicate and empty tensor names', () => {
    // Execute & Assert
    expect(codecErrorCode(() => encodeWeights({ metadata: {}, tensors: [tensor, tensor] }))).toBe(
      'CODEC_DUPLICATE_ID',
    );
    expect(codecErrorCode(() => encodeWeights({ metadata: {}, tensors: [{ ...tensor, name: '' }] }))).toBe(
      'CODEC_BAD_HEADER',
    );
  });

  it('values that do not match the shape, and shapes with a 0 dimension', () => {
    // Execute & Assert
    expect(codecErrorCode(() => encodeWeights({ metadata: {}, tensors: [{ ...tensor, shape: [3] }] }))).toBe(
      'CODEC_SHAPE_MISMATCH',
    );
    expect(
      codecErrorCode(() => encodeWeights({ metadata: {}, tensors: [{ ...tensor, shape: [2, 0] }] })),
    ).toBe('CODEC_SHAPE_MISMATCH');
  });

  it.each(DTYPES)('non-finite values in %s', (dtype) => {
    // Prepare
    const bad = { ...tensor, values: Float32Array.from([1, Infinity]) };
    // Execute
    const code = codecErrorCode(() => encodeWeights({ metadata: {}, tensors: [bad] }, { dtype }));
    // Assert
    expect(code).toBe('CODEC_NON_FINITE');
  });
});
