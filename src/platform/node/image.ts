/**
 * Image decoding in Node: bytes or a file to a `RawImage` (8-bit RGB, interleaved). JPEG, PNG,
 * GIF (first frame), WebP, TIFF and HEIF/AVIF go through `sharp` (libvips); PGM/PPM go through
 * our own parser (../pnm.ts) because sharp's prebuilt libvips has no PNM loader.
 *
 * What comes out is always 3 channels, 8 bits, upright: grey is replicated to RGB, alpha is
 * composited onto white (so transparent areas do not turn black), 16-bit samples are scaled to
 * 8 bits, and the EXIF orientation of phone photos is applied. Every failure is a FedexError
 * (IMAGE_DECODE, IMAGE_UNSUPPORTED, IMAGE_TOO_LARGE), never a crash or a raw sharp error.
 * Node-only (sharp, fs); the browser twin is ../browser/image.ts.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { FedexError, isFedexError } from '../../core/errors.js';
import type { RawImage } from '../../core/types.js';
import { decodePnm, looksLikePnm } from '../pnm.js';

/** Options of `decodeImage` / `readImageFile`. */
export interface DecodeOptions {
  /**
   * Refuse images with more pixels than this (IMAGE_TOO_LARGE), checked from the header before
   * decoding. Default 50,000,000 (a 50 MP phone photo; the decoded RGB takes 150 MB).
   */
  maxPixels?: number;
  /** Apply the EXIF orientation so the image is upright. Default `true`. */
  autoOrient?: boolean;
}

/** Defaults of `DecodeOptions` (see each field there). */
export const DEFAULT_DECODE_OPTIONS: Required<DecodeOptions> = {
  maxPixels: 50_000_000,
  autoOrient: true,
};

/** Formats we hand to sharp. SVG and PDF are refused: they are documents, not photos. */
const SHARP_FORMATS = new Set(['jpeg', 'png', 'gif', 'webp', 'tiff', 'heif', 'avif']);

/**
 * Decodes JPEG/PNG/GIF/WebP/TIFF/HEIF or PGM/PPM bytes to 8-bit RGB.
 *
 * @throws FedexError IMAGE_DECODE (not an image, corrupt or truncated), IMAGE_UNSUPPORTED (an
 *   image format we do not take, e.g. SVG), IMAGE_TOO_LARGE (over `maxPixels`).
 * @example
 * const img = await decodeImage(await readFile('face.jpg')); // { width, height, channels: 3, data }
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<RawImage> {
  const opts = { ...DEFAULT_DECODE_OPTIONS, ...options };
  if (!(bytes instanceof Uint8Array))
    throw new FedexError('BAD_ARGUMENT', 'decodeImage expects a Uint8Array');
  if (bytes.length === 0) throw new FedexError('IMAGE_DECODE', 'empty image data');
  if (looksLikePnm(bytes)) return decodePnm(bytes, opts.maxPixels);

  try {
    const input = sharp(bytes, { limitInputPixels: false, failOn: 'warning' });
    const meta = await input.metadata();
    if (!meta.format || !SHARP_FORMATS.has(meta.format)) {
      throw new FedexError(
        'IMAGE_UNSUPPORTED',
        `image format "${meta.format ?? 'unknown'}" is not supported`,
      );
    }
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    if (width * height > opts.maxPixels) {
      throw new FedexError(
        'IMAGE_TOO_LARGE',
        `${width}x${height} image exceeds the limit of ${opts.maxPixels} pixels`,
      );
    }
    let pipeline = input;
    if (opts.autoOrient) pipeline = pipeline.autoOrient();
    const { data, info } = await pipeline
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return toRgb(data, info.width, info.height, info.channels);
  } catch (cause) {
    if (isFedexError(cause)) throw cause;
    const message = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
    throw new FedexError('IMAGE_DECODE', `cannot decode image: ${message}`, { cause });
  }
}

/** Copies sharp's raw output into a fresh RGB buffer (sharp's Buffer may be pooled). */
function toRgb(data: Uint8Array, width: number, height: number, channels: number): RawImage {
  const n = width * height;
  const out = new Uint8Array(n * 3);
  if (channels === 3) {
    out.set(data.subarray(0, n * 3));
  } else if (channels === 1 || channels === 2) {
    for (let i = 0; i < n; i++) out.fill(data[i * channels], i * 3, i * 3 + 3);
  } else if (channels === 4) {
    for (let i = 0; i < n; i++) {
      out[i * 3] = data[i * 4];
      out[i * 3 + 1] = data[i * 4 + 1];
      out[i * 3 + 2] = data[i * 4 + 2];
    }
  } else {
    throw new FedexError('IMAGE_UNSUPPORTED', `decoder returned ${channels} channels`);
  }
  return { width, height, channels: 3, data: out };
}

/**
 * Reads and decodes an image file. A missing or unreadable file is IMAGE_DECODE too, with the
 * path in the message (the caller is usually walking a folder of photos).
 *
 * @example
 * const img = await readImageFile('photos/anna/0001.jpg');
 */
export async function readImageFile(path: string, options: DecodeOptions = {}): Promise<RawImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new FedexError('IMAGE_DECODE', `cannot read image file ${path}`, { cause });
  }
  try {
    return await decodeImage(bytes, options);
  } catch (e) {
    if (isFedexError(e)) throw new FedexError(e.code, `${path}: ${e.message}`, { cause: e.cause ?? e });
    throw e;
  }
}
