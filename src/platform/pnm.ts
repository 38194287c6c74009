/**
 * Netpbm (PGM/PPM) decoding in pure TypeScript. Platform-neutral: sharp's prebuilt libvips and
 * browsers decode neither, yet grey face sets (ORL/AT&T, Yale) ship as PGM.
 *
 * Supported: P2 (ASCII grey), P5 (binary grey), P3 (ASCII RGB), P6 (binary RGB), any maxval from
 * 1 to 65535 (16-bit samples are big-endian, as the format says). Samples are rescaled to 8 bits
 * with rounding. Bitmaps (P1/P4) and PAM (P7) are refused with IMAGE_UNSUPPORTED. Bytes after the
 * first image (multi-image files) are ignored. Never throws anything but a FedexError.
 */
import { FedexError } from '../core/errors.js';
import type { RawImage } from '../core/types.js';

/** True when the bytes start like a Netpbm file (`P1`..`P7`). */
export function looksLikePnm(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] >= 0x31 && bytes[1] <= 0x37;
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c;
}

/** Reads whitespace/comment-separated ASCII integers, as the Netpbm header and ASCII bodies use. */
class TokenReader {
  pos: number;
  constructor(
    private readonly bytes: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  /** Next unsigned integer, or throws IMAGE_DECODE. */
  int(what: string): number {
    const b = this.bytes;
    for (;;) {
      while (this.pos < b.length && isSpace(b[this.pos])) this.pos++;
      if (this.pos < b.length && b[this.pos] === 0x23 /* # */) {
        while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
        continue;
      }
      break;
    }
    let n = 0;
    let digits = 0;
    while (this.pos < b.length && b[this.pos] >= 0x30 && b[this.pos] <= 0x39) {
      n = n * 10 + (b[this.pos] - 0x30);
      this.pos++;
      digits++;
      if (digits > 9) throw new FedexError('IMAGE_DECODE', `PNM: ${what} has too many digits`);
    }
    if (digits === 0) {
      throw new FedexError('IMAGE_DECODE', `PNM: expected ${what} at byte ${this.pos}`);
    }
    return n;
  }
}

/**
 * Decodes a P2/P3/P5/P6 image to 8-bit RGB (grey is replicated into R, G and B).
 *
 * @param maxPixels refuse (IMAGE_TOO_LARGE) before allocating when `width * height` exceeds it.
 * @example
 * const img = decodePnm(new TextEncoder().encode('P2 2 1 255 0 255\n')); // 2x1, black then white
 */
export function decodePnm(bytes: Uint8Array, maxPixels = Number.MAX_SAFE_INTEGER): RawImage {
  if (!looksLikePnm(bytes)) throw new FedexError('IMAGE_DECODE', 'PNM: missing P1..P7 magic');
  const kind = bytes[1] - 0x30;
  if (kind === 1 || kind === 4 || kind === 7) {
    throw new FedexError(
      'IMAGE_UNSUPPORTED',
      `PNM: P${kind} (${kind === 7 ? 'PAM' : 'bitmap'}) is not supported`,
    );
  }
  const reader = new TokenReader(bytes, 2);
  if (bytes.length > 2 && !isSpace(bytes[2]) && bytes[2] !== 0x23) {
    throw new FedexError('IMAGE_DECODE', 'PNM: magic must be followed by whitespace');
  }
  const width = reader.int('width');
  const height = reader.int('height');
  const maxval = reader.int('maxval');
  if (width < 1 || height < 1) throw new FedexError('IMAGE_DECODE', `PNM: empty image ${width}x${height}`);
  if (maxval < 1 || maxval > 65535)
    throw new FedexError('IMAGE_DECODE', `PNM: maxval ${maxval} outside 1..65535`);
  const pixels = width * height;
  if (pixels > maxPixels) {
    throw new FedexError(
      'IMAGE_TOO_LARGE',
      `PNM: ${width}x${height} exceeds the limit of ${maxPixels} pixels`,
    );
  }
  const grey = kind === 2 || kind === 5;
  const samples = pixels * (grey ? 1 : 3);
  const out = new Uint8Array(pixels * 3);
  const scale = 255 / maxval;

  const put = (i: number, v: number): void => {
    if (v > maxval) throw new FedexError('IMAGE_DECODE', `PNM: sample ${v} exceeds maxval ${maxval}`);
    const q = maxval === 255 ? v : Math.round(v * scale);
    if (grey) {
      out[i * 3] = q;
      out[i * 3 + 1] = q;
      out[i * 3 + 2] = q;
    } else {
      out[i] = q;
    }
  };

  if (kind === 2 || kind === 3) {
    for (let i = 0; i < samples; i++) put(i, reader.int(`sample ${i}`));
  } else {
    // Exactly one whitespace byte separates maxval from the binary raster.
    const start = reader.pos;
    if (start >= bytes.length || !isSpace(bytes[start])) {
      throw new FedexError('IMAGE_DECODE', 'PNM: missing whitespace before the raster');
    }
    const bytesPerSample = maxval < 256 ? 1 : 2;
    const body = start + 1;
    const need = samples * bytesPerSample;
    if (bytes.length - body < need) {
      throw new FedexError('IMAGE_DECODE', `PNM: raster truncated (${bytes.length - body} of ${need} bytes)`);
    }
    if (bytesPerSample === 1) {
      for (let i = 0; i < samples; i++) put(i, bytes[body + i]);
    } else {
      for (let i = 0; i < samples; i++) put(i, (bytes[body + 2 * i] << 8) | bytes[body + 2 * i + 1]);
    }
  }
  return { width, height, channels: 3, data: out };
}
