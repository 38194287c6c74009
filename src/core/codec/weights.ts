/**
 * The weights message ("FXWT"): what the cloud ships back to a device after training the top of a
 * network: a JSON metadata object (model id, feature spec, head name, version, ...) and a list of
 * named float tensors. Byte layout in `docs/wire-format.md`.
 *
 * Decoding is total, as for feature batches: a fully checked `WeightsMessage` or a `CodecError`.
 */
import { CodecError } from '../errors.js';
import type { WireDtype } from '../types.js';
import {
  assembleMessage,
  ByteReader,
  ByteWriter,
  checkShapeForEncode,
  readPrefix,
  readShape,
  requireHeader,
  U32_MAX,
  verifyWholeMessage,
  WIRE_MAX_DECODED_VALUES,
  WIRE_PREFIX_BYTES,
  writeShape,
  DEFAULT_ENCODE_OPTIONS,
  type EncodeOptions,
  type WirePrefix,
} from './format.js';
import { checkFinite, payloadByteLength, readPayload, writePayload } from './payload.js';

/** One named tensor. `values.length` is the product of `shape` (1 for a scalar, `[]`). */
export interface WeightTensor {
  /** Unique, non-empty name within the message, e.g. `dense_1/kernel`. */
  name: string;
  shape: number[];
  values: Float32Array;
}

/** Weights plus what they belong to. */
export interface WeightsMessage {
  /**
   * A JSON object describing the model (e.g. `{ modelId, spec, head, version }`). It travels as
   * JSON text, so it round-trips as `JSON.parse(JSON.stringify(metadata))`.
   */
  metadata: Record<string, unknown>;
  tensors: WeightTensor[];
}

/** Limits a decoder enforces on untrusted input. */
export interface WeightsLimits {
  /** Largest whole message, in bytes. */
  maxBytes: number;
  /** Most tensors in one message. */
  maxTensors: number;
  /** Most values in one tensor. */
  maxTensorSize: number;
}

/** Default decode limits: 256 MiB per message, 4096 tensors, 2^26 (67,108,864) values per tensor. */
export const DEFAULT_WEIGHTS_LIMITS: Readonly<WeightsLimits> = {
  maxBytes: 256 * 1024 * 1024,
  maxTensors: 4096,
  maxTensorSize: 1 << 26,
};

/** Everything in a weights message except the values, read without touching the payload. */
export interface WeightsHeader {
  kind: 'weights';
  version: number;
  dtype: WireDtype;
  metadata: Record<string, unknown>;
  tensors: { name: string; shape: number[] }[];
  /** Length the whole message must have. */
  totalBytes: number;
}

function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeIn(
  tensors: readonly { name: string }[],
  sizes: readonly number[],
): (index: number) => string {
  return (i) => {
    let t = 0;
    while (t < sizes.length - 1 && i >= sizes[t]) i -= sizes[t++];
    return `value ${i} of tensor "${tensors[t].name}"`;
  };
}

/**
 * Encodes weights in one dtype (int8 uses one scale per tensor). Rejects metadata that is not a
 * JSON-serialisable object (BAD_HEADER), empty or duplicate tensor names (BAD_HEADER,
 * DUPLICATE_ID), bad shapes or value counts (SHAPE_MISMATCH) and non-finite values (NON_FINITE).
 *
 * @example
 * const bytes = encodeWeights({ metadata: { head: 'softmax', version: 3 }, tensors }, { dtype: 'float16' });
 */
export function encodeWeights(message: WeightsMessage, options: Partial<EncodeOptions> = {}): Uint8Array {
  const { dtype } = { ...DEFAULT_ENCODE_OPTIONS, ...options };
  const { metadata, tensors } = message;
  let json: string | undefined;
  try {
    json = isJsonObject(metadata) ? JSON.stringify(metadata) : undefined;
  } catch (cause) {
    throw new CodecError('CODEC_BAD_HEADER', 'weights metadata cannot be serialised as JSON', { cause });
  }
  // Objects with toJSON (a Date, say) can serialise to something other than a JSON object.
  if (json === undefined || !json.startsWith('{')) {
    throw new CodecError('CODEC_BAD_HEADER', 'weights metadata must be a JSON object');
  }
  if (tensors.length > U32_MAX)
    throw new CodecError('CODEC_TOO_LARGE', `${tensors.length} tensors is too many`);

  const w = new ByteWriter();
  w.string32(json, 'weights metadata');
  w.u32(tensors.length);
  const names = new Set<string>();
  const sizes: number[] = [];
  let total = 0;
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name.length === 0) {
      throw new CodecError('CODEC_BAD_HEADER', 'a tensor name is empty');
    }
    if (names.has(t.name))
      throw new CodecError('CODEC_DUPLICATE_ID', `tensor name "${t.name}" appears more than once`);
    names.add(t.name);
    const size = checkShapeForEncode(t.shape, `shape of tensor "${t.name}"`);
    if (t.values.length !== size) {
      throw new CodecError(
        'CODEC_SHAPE_MISMATCH',
        `tensor "${t.name}" has ${t.values.length} values but shape [${t.shape.join(', ')}] needs ${size}`,
      );
    }
    checkFinite(t.values, (i) => `value ${i} of tensor "${t.name}"`);
    w.string16(t.name, 'tensor name');
    writeShape(w, t.shape);
    sizes.push(size);
    total += size;
  }
  const values = new Float32Array(total);
  let at = 0;
  for (const t of tensors) {
    values.set(t.values, at);
    at += t.values.length;
  }
  return assembleMessage(
    'weights',
    dtype,
    0,
    w.finish(),
    payloadByteLength(dtype, total, sizes.length),
    (view, bytes, offset) =>
      writePayload(dtype, values, sizes, view, bytes, offset, describeIn(tensors, sizes)),
  );
}

/** Parses and checks the header; `prefix` has been read and the header region is present. */
function parseHeader(
  bytes: Uint8Array,
  prefix: WirePrefix,
  limits: WeightsLimits,
): { header: WeightsHeader; sizes: number[]; total: number } {
  const r = new ByteReader(bytes, WIRE_PREFIX_BYTES, WIRE_PREFIX_BYTES + prefix.headerBytes);
  const json = r.string32('weights metadata');
  let metadata: unknown;
  try {
    metadata = JSON.parse(json);
  } catch (cause) {
    throw new CodecError('CODEC_BAD_HEADER', 'weights metadata is not valid JSON', { cause });
  }
  if (!isJsonObject(metadata))
    throw new CodecError('CODEC_BAD_HEADER', 'weights metadata is not a JSON object');
  const count = r.u32('tensor count');
  if (count > limits.maxTensors) {
    throw new CodecError(
      'CODEC_TOO_LARGE',
      `message declares ${count} tensors, over the limit of ${limits.maxTensors}`,
    );
  }
  // Each tensor needs at least 4 header bytes (name length, a 1-byte name, rank): refuse early.
  if (count * 4 > r.remaining) {
    throw new CodecError(
      'CODEC_BAD_HEADER',
      `message declares ${count} tensors but the header has room for fewer`,
    );
  }
  const tensors: { name: string; shape: number[] }[] = [];
  const names = new Set<string>();
  const sizes: number[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const name = r.string16(`tensor name ${i}`);
    if (name.length === 0) throw new CodecError('CODEC_BAD_HEADER', `tensor ${i} has an empty name`);
    if (names.has(name))
      throw new CodecError('CODEC_DUPLICATE_ID', `tensor name "${name}" appears more than once`);
    names.add(name);
    const { shape, size } = readShape(r, limits.maxTensorSize, `shape of tensor "${name}"`);
    tensors.push({ name, shape });
    sizes.push(size);
    total += size;
  }
  r.expectEnd('weights header');
  const expected = payloadByteLength(prefix.dtype, total, count);
  if (prefix.payloadBytes !== expected) {
    throw new CodecError(
      'CODEC_SHAPE_MISMATCH',
      `payload is ${prefix.payloadBytes} bytes, but ${count} ${prefix.dtype} tensors of ${total} values take ${expected}`,
    );
  }
  if (total > WIRE_MAX_DECODED_VALUES) {
    throw new CodecError('CODEC_TOO_LARGE', `message holds ${total} values, over ${WIRE_MAX_DECODED_VALUES}`);
  }
  const header: WeightsHeader = {
    kind: 'weights',
    version: prefix.version,
    dtype: prefix.dtype,
    metadata,
    tensors,
    totalBytes: prefix.totalBytes,
  };
  return { header, sizes, total };
}

/**
 * Reads and checks a weights header (metadata, names, shapes) without the payload or checksum;
 * `bytes` may be just the first `16 + headerBytes` bytes.
 */
export function peekWeightsHeader(bytes: Uint8Array, limits: Partial<WeightsLimits> = {}): WeightsHeader {
  const lim = { ...DEFAULT_WEIGHTS_LIMITS, ...limits };
  const prefix = readPrefix(bytes, { expected: 'weights', maxBytes: lim.maxBytes });
  requireHeader(bytes, prefix);
  return parseHeader(bytes, prefix, lim).header;
}

/**
 * Decodes a weights message into float32 tensors, or throws a CodecError (same codes and order as
 * `decodeFeatureBatch`).
 *
 * @example
 * const { metadata, tensors } = decodeWeights(bytes);
 */
export function decodeWeights(bytes: Uint8Array, limits: Partial<WeightsLimits> = {}): WeightsMessage {
  const lim = { ...DEFAULT_WEIGHTS_LIMITS, ...limits };
  const prefix = readPrefix(bytes, { expected: 'weights', maxBytes: lim.maxBytes });
  verifyWholeMessage(bytes, prefix);
  const { header, sizes, total } = parseHeader(bytes, prefix, lim);
  const values = readPayload(
    prefix.dtype,
    bytes,
    WIRE_PREFIX_BYTES + prefix.headerBytes,
    total,
    sizes,
    describeIn(header.tensors, sizes),
  );
  let at = 0;
  const tensors = header.tensors.map(({ name, shape }, i) => {
    const t = { name, shape, values: values.slice(at, at + sizes[i]) };
    at += sizes[i];
    return t;
  });
  return { metadata: header.metadata, tensors };
}
