/**
 * Test helpers for the wire codec: a field-by-field message builder written straight from
 * `docs/wire-format.md` (independent of the encoder, so tests can check the encoder against the
 * documented layout and can build messages the encoder would refuse), seeded sample batches, and
 * independent validity checks for decoded values. Used by tests only.
 */
import { crc32 } from '../crc32.js';
import { CodecError } from '../errors.js';
import { createRng } from '../random.js';
import type { FeatureBatch } from '../types.js';
import type { WeightsMessage } from './weights.js';

const utf8 = (s: string | Uint8Array): Uint8Array =>
  typeof s === 'string' ? new TextEncoder().encode(s) : s;

/** Little-endian byte builder for hand-made messages. */
export class RawBytes {
  private readonly parts: number[] = [];

  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }

  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }

  u32(v: number): this {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }

  i32(v: number): this {
    return this.u32(v >>> 0);
  }

  f32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.bytes(b);
  }

  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]);
    return this;
  }

  /** u16 byte length, then the bytes. */
  str16(s: string | Uint8Array): this {
    const b = utf8(s);
    return this.u16(b.length).bytes(b);
  }

  /** u32 byte length, then the bytes. */
  str32(s: string | Uint8Array): this {
    const b = utf8(s);
    return this.u32(b.length).bytes(b);
  }

  get length(): number {
    return this.parts.length;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** Fields of a hand-made feature-batch message; every one can be set to something invalid. */
export interface RawFeatureBatchFields {
  magic: string;
  version: number;
  dtypeCode: number;
  flags: number;
  backboneId: string | Uint8Array;
  backboneVersion: string | Uint8Array;
  split: string | Uint8Array;
  shape: number[];
  /** Declared sample count (defaults to `sampleIds.length`). */
  sampleCount?: number;
  sampleIds: (string | Uint8Array)[];
  labels: number[];
  /** Written when flags bit 0 is set. */
  labelNames: (string | Uint8Array)[];
  /** Declared label-name count (defaults to `labelNames.length`). */
  labelNameCount?: number;
  /** Extra zero bytes at the end of the header (declared in headerBytes). */
  headerSlack: number;
  payload: Uint8Array;
  /** Declared payload size (defaults to `payload.length`). */
  payloadBytes?: number;
  /** Store a wrong checksum. */
  badChecksum: boolean;
}

/** A float32 payload. */
export function float32Payload(values: number[]): Uint8Array {
  const w = new RawBytes();
  for (const v of values) w.f32(v);
  return w.finish();
}

/** A float16 payload from raw half bit patterns. */
export function float16Payload(bits: number[]): Uint8Array {
  const w = new RawBytes();
  for (const b of bits) w.u16(b);
  return w.finish();
}

/** An int8 payload: the scales (float32), then the codes. */
export function int8Payload(scales: number[], codes: number[]): Uint8Array {
  const w = new RawBytes();
  for (const s of scales) w.f32(s);
  for (const q of codes) w.u8(q);
  return w.finish();
}

const DEFAULT_RAW: RawFeatureBatchFields = {
  magic: 'FXFB',
  version: 1,
  dtypeCode: 1,
  flags: 0,
  backboneId: 'test-net',
  backboneVersion: '1.0.0',
  split: 'embedding',
  shape: [2],
  sampleIds: ['a', 'b'],
  labels: [0, -1],
  labelNames: [],
  headerSlack: 0,
  payload: float32Payload([1, 2, 3, 4]),
  badChecksum: false,
};

/** Prefix + header + payload + CRC, laid out as the docs say. */
export function rawMessage(
  magic: string,
  version: number,
  dtypeCode: number,
  flags: number,
  header: Uint8Array,
  payload: Uint8Array,
  declaredPayloadBytes = payload.length,
  badChecksum = false,
): Uint8Array {
  const w = new RawBytes()
    .bytes(utf8(magic))
    .u16(version)
    .u8(dtypeCode)
    .u8(flags)
    .u32(header.length)
    .u32(declaredPayloadBytes)
    .bytes(header)
    .bytes(payload);
  const body = w.finish();
  const crc = crc32(body) ^ (badChecksum ? 1 : 0);
  return new RawBytes().bytes(body).u32(crc).finish();
}

/** A hand-made feature-batch message (a valid one, 2 float32 samples of shape [2], by default). */
export function rawFeatureBatch(overrides: Partial<RawFeatureBatchFields> = {}): Uint8Array {
  const f = { ...DEFAULT_RAW, ...overrides };
  const h = new RawBytes().str16(f.backboneId).str16(f.backboneVersion).str16(f.split).u8(f.shape.length);
  for (const d of f.shape) h.u32(d);
  h.u32(f.sampleCount ?? f.sampleIds.length);
  for (const id of f.sampleIds) h.str16(id);
  for (const l of f.labels) h.i32(l);
  if (f.flags & 1) {
    h.u32(f.labelNameCount ?? f.labelNames.length);
    for (const n of f.labelNames) h.str16(n);
  }
  for (let i = 0; i < f.headerSlack; i++) h.u8(0);
  return rawMessage(
    f.magic,
    f.version,
    f.dtypeCode,
    f.flags,
    h.finish(),
    f.payload,
    f.payloadBytes,
    f.badChecksum,
  );
}

/** Rewrites the CRC-32 trailer so it matches the (possibly mutated) rest of the message. */
export function reseal(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 4) return bytes;
  const body = bytes.length - 4;
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(
    body,
    crc32(bytes.subarray(0, body)),
    true,
  );
  return bytes;
}

/** A seeded batch of `n` samples of `shape`, values in [-scale, scale], labels cycling through names. */
export function sampleBatch(
  seed: number,
  n: number,
  shape: number[],
  options: { scale?: number; labelNames?: string[] } = {},
): FeatureBatch {
  const rng = createRng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const scale = options.scale ?? 1;
  const names = options.labelNames;
  const batch: FeatureBatch = {
    spec: { backboneId: 'faceapi-resnet', backboneVersion: '1.7.15', split: 'embedding', shape },
    sampleIds: Array.from({ length: n }, (_, i) => `photo-${String(i).padStart(10, '0')}`),
    labels: Int32Array.from({ length: n }, (_, i) =>
      names && names.length > 0 ? (i % (names.length + 1)) - 1 : -1,
    ),
    features: Float32Array.from({ length: n * size }, () => (rng() * 2 - 1) * scale),
  };
  if (names) batch.labelNames = names;
  return batch;
}

/**
 * Why a decoded feature batch breaks the FeatureBatch contract, or `undefined` when it keeps it.
 * Written independently of the decoder's own checks.
 */
export function featureBatchProblem(b: FeatureBatch): string | undefined {
  const { shape } = b.spec;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 1)) return 'bad shape';
  for (const s of [b.spec.backboneId, b.spec.backboneVersion, b.spec.split])
    if (typeof s !== 'string') return 'spec';
  const n = b.sampleIds.length;
  if (!(b.labels instanceof Int32Array) || b.labels.length !== n) return 'labels length';
  if (!(b.features instanceof Float32Array)) return 'features type';
  if (b.features.length !== n * shape.reduce((a, c) => a * c, 1)) return 'features length';
  if (new Set(b.sampleIds).size !== n) return 'duplicate ids';
  if (!b.sampleIds.every((s) => typeof s === 'string')) return 'id type';
  for (const l of b.labels) {
    if (l < -1) return 'label < -1';
    if (b.labelNames && l >= b.labelNames.length) return 'label without name';
  }
  for (const v of b.features) if (!Number.isFinite(v)) return 'non-finite feature';
  return undefined;
}

/** Why decoded weights break the WeightsMessage contract, or `undefined`. */
export function weightsProblem(w: WeightsMessage): string | undefined {
  if (typeof w.metadata !== 'object' || w.metadata === null || Array.isArray(w.metadata)) return 'metadata';
  const names = new Set<string>();
  for (const t of w.tensors) {
    if (typeof t.name !== 'string' || t.name === '' || names.has(t.name)) return 'tensor name';
    names.add(t.name);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 1)) return 'shape';
    if (t.values.length !== t.shape.reduce((a, c) => a * c, 1)) return 'values length';
    for (const v of t.values) if (!Number.isFinite(v)) return 'non-finite value';
  }
  return undefined;
}

/**
 * The CodecError code `fn` throws, or `'no error'`. Any other exception is rethrown, so a test
 * using this fails loudly on a RangeError or TypeError.
 */
export function codecErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof CodecError) return e.code;
    throw e;
  }
  return 'no error';
}
