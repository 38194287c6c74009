/**
 * The parts every FedEx wire message shares: the 16-byte prefix, the dtype codes, bounds-checked
 * little-endian reading and writing, strict UTF-8, and the CRC-32 trailer. `docs/wire-format.md`
 * is the byte-exact description; keep the two in step.
 *
 * Every read is bounds-checked and every failure is a `CodecError`, never a `RangeError` from a
 * DataView or a `TypeError` from TextDecoder. Platform-neutral: Uint8Array, DataView,
 * TextEncoder and TextDecoder only.
 */
import { crc32 } from '../crc32.js';
import { CodecError, type ErrorCode } from '../errors.js';
import type { WireDtype } from '../types.js';

/** The only format version this code reads and writes (see "Versioning" in the docs). */
export const WIRE_FORMAT_VERSION = 1;

/** Bytes before the header: magic 4, version 2, dtype 1, flags 1, header and payload sizes 4 + 4. */
export const WIRE_PREFIX_BYTES = 16;

/** Bytes of the CRC-32 trailer. */
export const WIRE_CHECKSUM_BYTES = 4;

/** Four ASCII bytes at offset 0 naming the kind of message. */
export const WIRE_MAGIC = { 'feature-batch': 'FXFB', weights: 'FXWT' } as const;

/** Kinds of wire message. */
export type WireKind = keyof typeof WIRE_MAGIC;

/**
 * Flag bits (byte 7) each kind defines; any other bit set is rejected. Feature batches: bit 0 = label
 * names present. Weights: none.
 */
export const WIRE_FLAGS: Readonly<Record<WireKind, number>> = { 'feature-batch': 0x01, weights: 0x00 };

/** Byte at offset 6. 0 is deliberately unused so that a zeroed prefix never looks valid. */
export const WIRE_DTYPE_CODES: Readonly<Record<WireDtype, number>> = { float32: 1, float16: 2, int8: 3 };

/**
 * Most values a decoder will materialise from one message (2^30, a 4 GiB Float32Array), whatever the
 * limits say: a 4 GiB int8 payload would otherwise ask for a 16 GiB array, which throws a RangeError.
 */
export const WIRE_MAX_DECODED_VALUES = 2 ** 30;

/** Largest value of a u32 field. */
export const U32_MAX = 0xffffffff;

/** Largest length of a string with a u16 length prefix, in UTF-8 bytes. */
export const U16_MAX = 0xffff;

/** How to encode a message. */
export interface EncodeOptions {
  /** Precision of the payload on the wire. */
  dtype: WireDtype;
}

/** Default encode options: `float32` (lossless). */
export const DEFAULT_ENCODE_OPTIONS: Readonly<EncodeOptions> = { dtype: 'float32' };

type CodecCode = Extract<ErrorCode, `CODEC_${string}`>;

/** What the 16-byte prefix says. */
export interface WirePrefix {
  kind: WireKind;
  version: number;
  dtype: WireDtype;
  flags: number;
  /** Bytes of the kind-specific header, which starts at offset 16. */
  headerBytes: number;
  /** Bytes of the payload, which starts at offset `16 + headerBytes`. */
  payloadBytes: number;
  /** Length of the whole message: `16 + headerBytes + payloadBytes + 4`. */
  totalBytes: number;
}

function dtypeOfCode(code: number): WireDtype | undefined {
  for (const [dtype, c] of Object.entries(WIRE_DTYPE_CODES)) if (c === code) return dtype as WireDtype;
  return undefined;
}

function magicBytes(kind: WireKind): number[] {
  return Array.from(WIRE_MAGIC[kind], (ch) => ch.charCodeAt(0));
}

/** The kind whose magic starts `bytes` (a 1-3 byte prefix of a magic counts as a match). */
function kindOfMagic(bytes: Uint8Array): WireKind | undefined {
  for (const kind of Object.keys(WIRE_MAGIC) as WireKind[]) {
    const magic = magicBytes(kind);
    let match = true;
    for (let i = 0; i < Math.min(4, bytes.length); i++) if (bytes[i] !== magic[i]) match = false;
    if (match) return kind;
  }
  return undefined;
}

/**
 * Reads and checks the 16-byte prefix: input type, magic (of `expected` when given), version,
 * dtype, flags known to the kind, and `totalBytes <= maxBytes` (checked before anything is
 * allocated, so a server can refuse an oversized upload from its first 16 bytes).
 */
export function readPrefix(
  bytes: Uint8Array,
  options: { expected?: WireKind; maxBytes: number },
): WirePrefix {
  // A tag check rather than instanceof, so arrays from another realm (an iframe, a worker) pass.
  if (Object.prototype.toString.call(bytes) !== '[object Uint8Array]') {
    throw new CodecError('CODEC_BAD_HEADER', 'expected a Uint8Array');
  }
  const kind = kindOfMagic(bytes);
  if (kind === undefined || (options.expected !== undefined && kind !== options.expected)) {
    const want = options.expected ? `"${WIRE_MAGIC[options.expected]}"` : 'a FedEx magic';
    throw new CodecError(
      'CODEC_BAD_MAGIC',
      `not a FedEx message of the expected kind (magic is not ${want})`,
    );
  }
  if (bytes.length < WIRE_PREFIX_BYTES) {
    throw new CodecError(
      'CODEC_TRUNCATED',
      `message is ${bytes.length} bytes, shorter than its 16-byte prefix`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== WIRE_FORMAT_VERSION) {
    throw new CodecError(
      'CODEC_BAD_VERSION',
      `format version ${version} is not supported (this reader knows 1)`,
    );
  }
  const dtypeCode = view.getUint8(6);
  const dtype = dtypeOfCode(dtypeCode);
  if (dtype === undefined) throw new CodecError('CODEC_BAD_DTYPE', `unknown dtype code ${dtypeCode}`);
  const flags = view.getUint8(7);
  if ((flags & ~WIRE_FLAGS[kind]) !== 0) {
    throw new CodecError('CODEC_BAD_HEADER', `unknown flag bits 0x${flags.toString(16)}`);
  }
  const headerBytes = view.getUint32(8, true);
  const payloadBytes = view.getUint32(12, true);
  const totalBytes = WIRE_PREFIX_BYTES + headerBytes + payloadBytes + WIRE_CHECKSUM_BYTES;
  if (totalBytes > options.maxBytes) {
    throw new CodecError(
      'CODEC_TOO_LARGE',
      `message declares ${totalBytes} bytes, over the limit of ${options.maxBytes}`,
    );
  }
  return { kind, version, dtype, flags, headerBytes, payloadBytes, totalBytes };
}

/** Throws unless `bytes` is exactly the declared length and its CRC-32 trailer matches. */
export function verifyWholeMessage(bytes: Uint8Array, prefix: WirePrefix): void {
  if (bytes.length < prefix.totalBytes) {
    throw new CodecError(
      'CODEC_TRUNCATED',
      `message is ${bytes.length} bytes, its prefix declares ${prefix.totalBytes}`,
    );
  }
  if (bytes.length > prefix.totalBytes) {
    throw new CodecError(
      'CODEC_TRAILING_BYTES',
      `message is ${bytes.length} bytes, ${bytes.length - prefix.totalBytes} more than its prefix declares`,
    );
  }
  const body = prefix.totalBytes - WIRE_CHECKSUM_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stored = view.getUint32(body, true);
  const actual = crc32(bytes.subarray(0, body));
  if (stored !== actual) {
    throw new CodecError(
      'CODEC_CHECKSUM',
      `checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${actual.toString(16)}): the message is corrupt`,
    );
  }
}

/** Throws unless the header (offsets 16 to `16 + headerBytes`) is present; for peeking. */
export function requireHeader(bytes: Uint8Array, prefix: WirePrefix): void {
  const end = WIRE_PREFIX_BYTES + prefix.headerBytes;
  if (bytes.length < end) {
    throw new CodecError('CODEC_TRUNCATED', `message is ${bytes.length} bytes, its header ends at ${end}`);
  }
}

/** Assembles prefix + header + payload + CRC-32 into one buffer; `fillPayload` writes the payload. */
export function assembleMessage(
  kind: WireKind,
  dtype: WireDtype,
  flags: number,
  header: Uint8Array,
  payloadBytes: number,
  fillPayload: (view: DataView, bytes: Uint8Array, offset: number) => void,
): Uint8Array {
  if (header.length > U32_MAX || payloadBytes > U32_MAX) {
    throw new CodecError(
      'CODEC_TOO_LARGE',
      `header (${header.length} B) or payload (${payloadBytes} B) exceeds 4 GiB`,
    );
  }
  const total = WIRE_PREFIX_BYTES + header.length + payloadBytes + WIRE_CHECKSUM_BYTES;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(magicBytes(kind), 0);
  view.setUint16(4, WIRE_FORMAT_VERSION, true);
  view.setUint8(6, WIRE_DTYPE_CODES[dtype]);
  view.setUint8(7, flags);
  view.setUint32(8, header.length, true);
  view.setUint32(12, payloadBytes, true);
  out.set(header, WIRE_PREFIX_BYTES);
  fillPayload(view, out, WIRE_PREFIX_BYTES + header.length);
  const body = total - WIRE_CHECKSUM_BYTES;
  view.setUint32(body, crc32(out.subarray(0, body)), true);
  return out;
}

const encoder = new TextEncoder();
// fatal: invalid UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a leading U+FEFF is kept,
// so a string that starts with one round-trips instead of silently losing it.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** UTF-8 bytes of `s`. Rejects lone surrogates, which TextEncoder would silently turn into U+FFFD. */
export function utf8Bytes(s: unknown, what: string): Uint8Array {
  if (typeof s !== 'string') throw new CodecError('CODEC_BAD_HEADER', `${what} is not a string`);
  if (LONE_SURROGATE.test(s)) throw new CodecError('CODEC_BAD_HEADER', `${what} is not well-formed Unicode`);
  return encoder.encode(s);
}

/** Growable little-endian writer, for headers (payloads are written straight into the message). */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  private reserve(n: number): number {
    const at = this.len;
    if (at + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, at + n));
      grown.set(this.buf.subarray(0, at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    this.len += n;
    return at;
  }

  u8(v: number): void {
    const at = this.reserve(1); // before reading this.view, which reserve() may replace
    this.view.setUint8(at, v);
  }

  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }

  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }

  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }

  raw(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }

  /** A string with a u16 byte-length prefix. */
  string16(s: unknown, what: string): void {
    const bytes = utf8Bytes(s, what);
    if (bytes.length > U16_MAX) {
      throw new CodecError(
        'CODEC_TOO_LARGE',
        `${what} is ${bytes.length} UTF-8 bytes, over the 65535 the format allows`,
      );
    }
    this.u16(bytes.length);
    this.raw(bytes);
  }

  /** A string with a u32 byte-length prefix. */
  string32(s: unknown, what: string): void {
    const bytes = utf8Bytes(s, what);
    this.u32(bytes.length);
    this.raw(bytes);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/**
 * Bounds-checked little-endian reader over `bytes[start, end)`. Reading past `end` throws a
 * CodecError with `overrunCode` (the header region is already known to be present, so running
 * off its end means the header contradicts itself: CODEC_BAD_HEADER).
 */
export class ByteReader {
  private readonly view: DataView;
  private pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly end: number,
    private readonly overrunCode: CodecCode = 'CODEC_BAD_HEADER',
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private take(n: number, what: string): number {
    if (n > this.end - this.pos) {
      throw new CodecError(
        this.overrunCode,
        `${what} runs past the end of the header (${n} bytes needed, ${this.remaining} left)`,
      );
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.take(1, what));
  }

  u16(what: string): number {
    return this.view.getUint16(this.take(2, what), true);
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), true);
  }

  i32(what: string): number {
    return this.view.getInt32(this.take(4, what), true);
  }

  private utf8(n: number, what: string): string {
    const at = this.take(n, what);
    try {
      return decoder.decode(this.bytes.subarray(at, at + n));
    } catch (cause) {
      throw new CodecError('CODEC_BAD_HEADER', `${what} is not valid UTF-8`, { cause });
    }
  }

  /** A string with a u16 byte-length prefix. */
  string16(what: string): string {
    return this.utf8(this.u16(what), what);
  }

  /** A string with a u32 byte-length prefix. */
  string32(what: string): string {
    return this.utf8(this.u32(what), what);
  }

  /** Throws unless every byte up to `end` was read: a header with slack is malformed. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) {
      throw new CodecError('CODEC_BAD_HEADER', `${what} has ${this.remaining} unread bytes at its end`);
    }
  }
}

/**
 * Checks one shape on encode: at most 255 dimensions, each an integer in [1, 2^32 - 1].
 * Returns its element count.
 */
export function checkShapeForEncode(shape: unknown, what: string): number {
  if (!Array.isArray(shape)) throw new CodecError('CODEC_SHAPE_MISMATCH', `${what} is not an array`);
  if (shape.length > 255) {
    throw new CodecError(
      'CODEC_SHAPE_MISMATCH',
      `${what} has ${shape.length} dimensions, over the 255 allowed`,
    );
  }
  let size = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > U32_MAX) {
      throw new CodecError(
        'CODEC_SHAPE_MISMATCH',
        `${what} [${shape.join(', ')}] has a dimension that is not an integer >= 1`,
      );
    }
    size *= d;
  }
  return size;
}

/** Writes a shape: u8 rank, then rank × u32 dims. */
export function writeShape(w: ByteWriter, shape: readonly number[]): void {
  w.u8(shape.length);
  for (const d of shape) w.u32(d);
}

/**
 * Reads a shape (u8 rank, rank × u32 dims); every dim must be >= 1 (CODEC_SHAPE_MISMATCH) and the
 * element count at most `maxSize` (CODEC_TOO_LARGE, checked dimension by dimension so the product
 * never grows past it).
 */
export function readShape(r: ByteReader, maxSize: number, what: string): { shape: number[]; size: number } {
  const rank = r.u8(`${what} rank`);
  const shape: number[] = [];
  let size = 1;
  for (let i = 0; i < rank; i++) {
    const d = r.u32(`${what} dimension ${i}`);
    if (d === 0) throw new CodecError('CODEC_SHAPE_MISMATCH', `${what} dimension ${i} is 0`);
    size *= d;
    if (size > maxSize) {
      throw new CodecError('CODEC_TOO_LARGE', `${what} has more than ${maxSize} elements (the limit)`);
    }
    shape.push(d);
  }
  return { shape, size };
}
