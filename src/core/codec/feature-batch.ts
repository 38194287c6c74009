/**
 * The feature-batch message ("FXFB"): what a device uploads after running the frozen bottom of a
 * network, and what extract files hold. Byte layout in `docs/wire-format.md`.
 *
 * Decoding is total: any byte string either becomes a fully checked `FeatureBatch` (float32,
 * finite, unique ids, labels in range) or throws a `CodecError`. Sizes declared by the message are
 * checked against limits before anything is allocated for them.
 */
import { CodecError } from '../errors.js';
import { shapeSize, type FeatureBatch, type FeatureSpec, type WireDtype } from '../types.js';
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
  WIRE_FLAGS,
  WIRE_MAX_DECODED_VALUES,
  WIRE_PREFIX_BYTES,
  writeShape,
  DEFAULT_ENCODE_OPTIONS,
  type EncodeOptions,
  type WirePrefix,
} from './format.js';
import { checkFinite, payloadByteLength, readPayload, writePayload } from './payload.js';

/** Flag bit 0: the header ends with a list of label names. */
const FLAG_LABEL_NAMES = WIRE_FLAGS['feature-batch'];

/** Limits a decoder enforces on untrusted input. */
export interface FeatureBatchLimits {
  /** Largest whole message, in bytes. */
  maxBytes: number;
  /** Most samples in one batch. */
  maxSamples: number;
  /** Most values in one sample's feature (the product of the shape). */
  maxFeatureSize: number;
}

/**
 * Default decode limits: 256 MiB per message, 100,000 samples, 4,194,304 values per sample (a
 * [37, 37, 128] map has 175,232). Servers should pass tighter limits for their spec.
 */
export const DEFAULT_FEATURE_BATCH_LIMITS: Readonly<FeatureBatchLimits> = {
  maxBytes: 256 * 1024 * 1024,
  maxSamples: 100_000,
  maxFeatureSize: 1 << 22,
};

/** Everything in a feature-batch message except the features, read without touching the payload. */
export interface FeatureBatchHeader {
  kind: 'feature-batch';
  version: number;
  dtype: WireDtype;
  spec: FeatureSpec;
  sampleIds: string[];
  labels: Int32Array;
  labelNames?: string[];
  /** Length the whole message must have. */
  totalBytes: number;
}

/**
 * Marginal wire bytes of one sample: its id (u16 length + `idBytes` of UTF-8), its label (4), its
 * feature values, and for `int8` its scale (4). A message adds a fixed overhead on top (prefix,
 * spec, counts, checksum); see the docs.
 *
 * @example
 * bytesPerSample({ shape: [128] }, 'float16'); // 2 + 16 + 4 + 256 = 278
 */
export function bytesPerSample(spec: Pick<FeatureSpec, 'shape'>, dtype: WireDtype, idBytes = 16): number {
  return 2 + idBytes + 4 + payloadByteLength(dtype, shapeSize(spec.shape), 1);
}

function describeValue(featureSize: number): (index: number) => string {
  return (i) => `feature value ${i % featureSize} of sample ${Math.floor(i / featureSize)}`;
}

/** Checks labels against -1 and, when names are given, against their count. */
function checkLabels(labels: ArrayLike<number>, labelNames: readonly string[] | undefined): void {
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < -1 || label > 0x7fffffff) {
      throw new CodecError('CODEC_BAD_LABEL', `label of sample ${i} is ${label}; labels are int32 >= -1`);
    }
    if (labelNames !== undefined && label >= labelNames.length) {
      throw new CodecError(
        'CODEC_BAD_LABEL',
        `label of sample ${i} is ${label} but only ${labelNames.length} label names exist`,
      );
    }
  }
}

function checkUniqueIds(ids: readonly string[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < ids.length; i++) {
    if (seen.has(ids[i]))
      throw new CodecError('CODEC_DUPLICATE_ID', `sample id "${ids[i]}" appears more than once`);
    seen.add(ids[i]);
  }
}

/**
 * Encodes a feature batch. Rejects, with a CodecError: a shape with a dimension that is not an
 * integer >= 1 (SHAPE_MISMATCH), ids/labels/features whose lengths disagree (SHAPE_MISMATCH),
 * duplicate ids (DUPLICATE_ID), labels below -1 or without a name (BAD_LABEL), NaN/±Infinity or,
 * for float16, values beyond ±65504 (NON_FINITE), strings that are not well-formed Unicode
 * (BAD_HEADER) and strings or messages too long for their length fields (TOO_LARGE).
 *
 * @example
 * const bytes = encodeFeatureBatch(batch, { dtype: 'float16' });
 */
export function encodeFeatureBatch(batch: FeatureBatch, options: Partial<EncodeOptions> = {}): Uint8Array {
  const { dtype } = { ...DEFAULT_ENCODE_OPTIONS, ...options };
  const { spec, sampleIds, labels, labelNames, features } = batch;
  const featureSize = checkShapeForEncode(spec.shape, 'feature shape');
  const n = sampleIds.length;
  if (labels.length !== n) {
    throw new CodecError('CODEC_SHAPE_MISMATCH', `${n} sample ids but ${labels.length} labels`);
  }
  if (n > U32_MAX) throw new CodecError('CODEC_TOO_LARGE', `${n} samples exceed the format's u32 count`);
  if (features.length !== n * featureSize) {
    throw new CodecError(
      'CODEC_SHAPE_MISMATCH',
      `${features.length} feature values, but ${n} samples of shape [${spec.shape.join(', ')}] need ${n * featureSize}`,
    );
  }
  checkUniqueIds(sampleIds);
  checkLabels(labels, labelNames);
  const describe = describeValue(featureSize);
  checkFinite(features, describe);

  const w = new ByteWriter();
  w.string16(spec.backboneId, 'backbone id');
  w.string16(spec.backboneVersion, 'backbone version');
  w.string16(spec.split, 'split name');
  writeShape(w, spec.shape);
  w.u32(n);
  for (let i = 0; i < n; i++) w.string16(sampleIds[i], `sample id ${i}`);
  for (let i = 0; i < n; i++) w.i32(labels[i]);
  if (labelNames !== undefined) {
    w.u32(labelNames.length);
    for (let i = 0; i < labelNames.length; i++) w.string16(labelNames[i], `label name ${i}`);
  }
  const groups = new Array<number>(n).fill(featureSize);
  return assembleMessage(
    'feature-batch',
    dtype,
    labelNames !== undefined ? FLAG_LABEL_NAMES : 0,
    w.finish(),
    payloadByteLength(dtype, features.length, n),
    (view, bytes, offset) => writePayload(dtype, features, groups, view, bytes, offset, describe),
  );
}

/** Parses and checks the header; `prefix` has been read and the header region is present. */
function parseHeader(
  bytes: Uint8Array,
  prefix: WirePrefix,
  limits: FeatureBatchLimits,
): { header: FeatureBatchHeader; featureSize: number } {
  const r = new ByteReader(bytes, WIRE_PREFIX_BYTES, WIRE_PREFIX_BYTES + prefix.headerBytes);
  const backboneId = r.string16('backbone id');
  const backboneVersion = r.string16('backbone version');
  const split = r.string16('split name');
  const { shape, size: featureSize } = readShape(r, limits.maxFeatureSize, 'feature shape');
  const n = r.u32('sample count');
  if (n > limits.maxSamples) {
    throw new CodecError(
      'CODEC_TOO_LARGE',
      `batch declares ${n} samples, over the limit of ${limits.maxSamples}`,
    );
  }
  // Each sample needs at least 6 header bytes (empty id + label): refuse before allocating for n.
  if (n * 6 > r.remaining) {
    throw new CodecError('CODEC_BAD_HEADER', `batch declares ${n} samples but the header has room for fewer`);
  }
  const sampleIds = new Array<string>(n);
  for (let i = 0; i < n; i++) sampleIds[i] = r.string16(`sample id ${i}`);
  checkUniqueIds(sampleIds);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = r.i32(`label ${i}`);
  let labelNames: string[] | undefined;
  if (prefix.flags & FLAG_LABEL_NAMES) {
    const count = r.u32('label name count');
    if (count * 2 > r.remaining) {
      throw new CodecError('CODEC_BAD_HEADER', `header declares ${count} label names but has room for fewer`);
    }
    labelNames = new Array<string>(count);
    for (let i = 0; i < count; i++) labelNames[i] = r.string16(`label name ${i}`);
  }
  r.expectEnd('feature-batch header');
  checkLabels(labels, labelNames);

  const expected = payloadByteLength(prefix.dtype, n * featureSize, n);
  if (prefix.payloadBytes !== expected) {
    throw new CodecError(
      'CODEC_SHAPE_MISMATCH',
      `payload is ${prefix.payloadBytes} bytes, but ${n} ${prefix.dtype} samples of shape [${shape.join(', ')}] take ${expected}`,
    );
  }
  if (n * featureSize > WIRE_MAX_DECODED_VALUES) {
    throw new CodecError(
      'CODEC_TOO_LARGE',
      `batch holds ${n * featureSize} values, over ${WIRE_MAX_DECODED_VALUES}`,
    );
  }
  const header: FeatureBatchHeader = {
    kind: 'feature-batch',
    version: prefix.version,
    dtype: prefix.dtype,
    spec: { backboneId, backboneVersion, split, shape },
    sampleIds,
    labels,
    totalBytes: prefix.totalBytes,
  };
  if (labelNames !== undefined) header.labelNames = labelNames;
  return { header, featureSize };
}

/**
 * Reads and checks a feature-batch header without reading the payload or verifying the checksum
 * (`bytes` may be just the first `16 + headerBytes` bytes of an upload). For servers to check the
 * spec, ids and limits cheaply; the message must still go through `decodeFeatureBatch`.
 */
export function peekFeatureBatchHeader(
  bytes: Uint8Array,
  limits: Partial<FeatureBatchLimits> = {},
): FeatureBatchHeader {
  const lim = { ...DEFAULT_FEATURE_BATCH_LIMITS, ...limits };
  const prefix = readPrefix(bytes, { expected: 'feature-batch', maxBytes: lim.maxBytes });
  requireHeader(bytes, prefix);
  return parseHeader(bytes, prefix, lim).header;
}

/**
 * Decodes a feature-batch message into float32 features (whatever the wire dtype), or throws a
 * CodecError: CODEC_BAD_MAGIC, BAD_VERSION, BAD_DTYPE, TOO_LARGE (over `limits`), TRUNCATED,
 * TRAILING_BYTES, CHECKSUM, BAD_HEADER, SHAPE_MISMATCH, DUPLICATE_ID, BAD_LABEL, NON_FINITE or
 * BAD_VALUE. Checks run in that order: size and checksum before any field is trusted.
 *
 * @example
 * const batch = decodeFeatureBatch(bytes, { maxSamples: 1000, maxFeatureSize: 128 });
 */
export function decodeFeatureBatch(
  bytes: Uint8Array,
  limits: Partial<FeatureBatchLimits> = {},
): FeatureBatch {
  const lim = { ...DEFAULT_FEATURE_BATCH_LIMITS, ...limits };
  const prefix = readPrefix(bytes, { expected: 'feature-batch', maxBytes: lim.maxBytes });
  verifyWholeMessage(bytes, prefix);
  const { header, featureSize } = parseHeader(bytes, prefix, lim);
  const n = header.sampleIds.length;
  const features = readPayload(
    prefix.dtype,
    bytes,
    WIRE_PREFIX_BYTES + prefix.headerBytes,
    n * featureSize,
    new Array<number>(n).fill(featureSize),
    describeValue(featureSize),
  );
  const batch: FeatureBatch = {
    spec: header.spec,
    sampleIds: header.sampleIds,
    labels: header.labels,
    features,
  };
  if (header.labelNames !== undefined) batch.labelNames = header.labelNames;
  return batch;
}
