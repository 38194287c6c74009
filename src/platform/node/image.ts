/**
 * Image decoding in Node (sharp). STUB: to be implemented by the face-pipeline work.
 */
import type { RawImage } from '../../core/types.js';

/** Decodes JPEG/PNG/GIF/PGM bytes to 8-bit RGB. Throws FedexError IMAGE_DECODE on bad bytes. */
export async function decodeImage(_bytes: Uint8Array): Promise<RawImage> {
  throw new Error('not implemented');
}

/** Reads and decodes an image file. */
export async function readImageFile(_path: string): Promise<RawImage> {
  throw new Error('not implemented');
}
