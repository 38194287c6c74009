/**
 * Image decoding in the browser: File/Blob, ImageBitmap, <img>, <canvas>, OffscreenCanvas or
 * ImageData to a `RawImage` (8-bit RGB, interleaved), the browser twin of ../node/image.ts.
 *
 * The browser decodes (createImageBitmap, which applies EXIF orientation with
 * `imageOrientation: 'from-image'`); we draw onto a canvas and read `getImageData`. Alpha is
 * composited onto white, as in Node. PGM/PPM blobs, which browsers cannot decode, go through our
 * own parser (../pnm.ts).
 *
 * Node has no DOM: it runs in headless Chromium in `src/device/browser-face.test.ts` and
 * `src/device/browser-e2e.test.ts` (Blob PNGs and File inputs). Do not import this file from Node code.
 */
import { FedexError } from '../../core/errors.js';
import type { RawImage } from '../../core/types.js';
import { decodePnm, looksLikePnm } from '../pnm.js';

/** Anything the browser can turn into pixels. */
export type BrowserImageSource =
  Blob | ImageBitmap | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | ImageData;

/** Default pixel limit, the same as Node's `DEFAULT_DECODE_OPTIONS.maxPixels` (50 MP). */
export const DEFAULT_BROWSER_MAX_PIXELS = 50_000_000;

/**
 * Decodes a browser image source to 8-bit RGB.
 *
 * @throws FedexError IMAGE_DECODE (the browser could not decode it), IMAGE_TOO_LARGE.
 * @example
 * const img = await rawImageFrom(fileInput.files[0]);
 */
export async function rawImageFrom(
  source: BrowserImageSource,
  options: { maxPixels?: number } = {},
): Promise<RawImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_BROWSER_MAX_PIXELS;
  if (source instanceof ImageData) {
    checkSize(source.width, source.height, maxPixels);
    return fromRgba(source.data, source.width, source.height);
  }
  if (source instanceof Blob) {
    const head = new Uint8Array(await source.slice(0, 2).arrayBuffer());
    if (looksLikePnm(head)) return decodePnm(new Uint8Array(await source.arrayBuffer()), maxPixels);
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(source, { imageOrientation: 'from-image' });
    } catch (cause) {
      throw new FedexError('IMAGE_DECODE', 'the browser could not decode this image', { cause });
    }
    try {
      return drawAndRead(bitmap, bitmap.width, bitmap.height, maxPixels);
    } finally {
      bitmap.close();
    }
  }
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) {
    if (!source.complete || source.naturalWidth === 0) {
      throw new FedexError('IMAGE_DECODE', 'the <img> has not loaded (or failed to load)');
    }
    return drawAndRead(source, source.naturalWidth, source.naturalHeight, maxPixels);
  }
  const drawable = source as ImageBitmap | HTMLCanvasElement | OffscreenCanvas;
  return drawAndRead(drawable, drawable.width, drawable.height, maxPixels);
}

function checkSize(width: number, height: number, maxPixels: number): void {
  if (width < 1 || height < 1) throw new FedexError('IMAGE_DECODE', `empty image ${width}x${height}`);
  if (width * height > maxPixels) {
    throw new FedexError(
      'IMAGE_TOO_LARGE',
      `${width}x${height} image exceeds the limit of ${maxPixels} pixels`,
    );
  }
}

function drawAndRead(source: CanvasImageSource, width: number, height: number, maxPixels: number): RawImage {
  checkSize(width, height, maxPixels);
  const canvas =
    typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as
    CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new FedexError('IMAGE_DECODE', 'no 2D canvas context available');
  ctx.fillStyle = '#ffffff'; // alpha is composited onto white, as in Node
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(source, 0, 0, width, height);
  return fromRgba(ctx.getImageData(0, 0, width, height).data, width, height);
}

/** RGBA (ImageData layout, not premultiplied) to RGB, compositing any alpha onto white. */
function fromRgba(rgba: Uint8ClampedArray, width: number, height: number): RawImage {
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = rgba[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const v = rgba[i * 4 + c];
      out[i * 3 + c] = a === 255 ? v : Math.round((v * a + 255 * (255 - a)) / 255);
    }
  }
  return { width, height, channels: 3, data: out };
}
