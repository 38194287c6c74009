/**
 * The FedEx wire codec: versioned, checksummed binary messages for feature batches (device to
 * cloud, "FXFB") and model weights (cloud to device, "FXWT"). This file is the public entry point;
 * the byte layout is specified in `docs/wire-format.md` and implemented under `./codec/`.
 *
 * Decoding is total: every byte string either decodes to a fully valid value or throws a
 * `CodecError` with a stable code. Platform-neutral (runs in browsers): no Node built-ins.
 */
import { CodecError } from './errors.js';
import {
  peekFeatureBatchHeader,
  type FeatureBatchHeader,
  type FeatureBatchLimits,
} from './codec/feature-batch.js';
import { peekWeightsHeader, type WeightsHeader, type WeightsLimits } from './codec/weights.js';
import { readPrefix, type WirePrefix } from './codec/format.js';

export {
  bytesPerSample,
  decodeFeatureBatch,
  DEFAULT_FEATURE_BATCH_LIMITS,
  encodeFeatureBatch,
  peekFeatureBatchHeader,
  type FeatureBatchHeader,
  type FeatureBatchLimits,
} from './codec/feature-batch.js';
export {
  decodeWeights,
  DEFAULT_WEIGHTS_LIMITS,
  encodeWeights,
  peekWeightsHeader,
  type WeightsHeader,
  type WeightsLimits,
  type WeightsMessage,
  type WeightTensor,
} from './codec/weights.js';
export {
  DEFAULT_ENCODE_OPTIONS,
  WIRE_CHECKSUM_BYTES,
  WIRE_DTYPE_CODES,
  WIRE_FLAGS,
  WIRE_FORMAT_VERSION,
  WIRE_MAGIC,
  WIRE_PREFIX_BYTES,
  type EncodeOptions,
  type WireKind,
  type WirePrefix,
} from './codec/format.js';

/** The header of either kind of message. */
export type WireHeader = FeatureBatchHeader | WeightsHeader;

/**
 * Reads only the 16-byte prefix: kind, version, dtype and declared sizes (`totalBytes` checked
 * against `maxBytes`, default unlimited). Lets a streaming server refuse an upload, or learn how
 * many bytes to buffer before `peekHeader` (`WIRE_PREFIX_BYTES + headerBytes`), from its first 16.
 *
 * @example
 * const { kind, totalBytes } = peekPrefix(firstChunk, { maxBytes: 8 << 20 });
 */
export function peekPrefix(bytes: Uint8Array, limits: { maxBytes?: number } = {}): WirePrefix {
  return readPrefix(bytes, { maxBytes: limits.maxBytes ?? Infinity });
}

/**
 * Reads and checks the header of either kind of message (chosen by its magic) without the payload
 * or the checksum. `bytes` may be a prefix of the message holding at least the header.
 *
 * @example
 * const h = peekHeader(bytes, { maxSamples: 500 });
 * if (h.kind === 'feature-batch' && specKey(h.spec) !== expected) reject();
 */
export function peekHeader(
  bytes: Uint8Array,
  limits: Partial<FeatureBatchLimits & WeightsLimits> = {},
): WireHeader {
  const { kind } = peekPrefix(bytes);
  switch (kind) {
    case 'feature-batch':
      return peekFeatureBatchHeader(bytes, limits);
    case 'weights':
      return peekWeightsHeader(bytes, limits);
    default:
      throw new CodecError('CODEC_BAD_MAGIC', 'unknown message kind');
  }
}
