/**
 * What the extraction pool and its workers say to each other, and the one-photo step both the
 * in-process path and the workers run (`processPhoto`), so the two paths cannot drift apart.
 *
 * Errors cross threads as plain `{ code, name, message }` and come back as FedexErrors.
 */
import { FedexError, isFedexError, type ErrorCode } from '../core/errors.js';
import type { FeatureExtractor, FeatureSpec } from '../core/types.js';
import type { ExtractorSource, ReadImage } from './extractor-source.js';

/** The result of one photo. Extractor failures other than image decoding are thrown, not returned. */
export type PhotoOutcome =
  { kind: 'face'; features: Float32Array } | { kind: 'noFace' } | { kind: 'unreadable'; error: string };

/** An error as it crosses a thread boundary. */
export interface SerializedError {
  code: ErrorCode;
  name: string;
  message: string;
}

/** `workerData` of an extraction worker. */
export interface WorkerInit {
  /** URL of the worker module to run (the bootstrap imports it after registering tsx). */
  entry: string;
  source: ExtractorSource;
}

/** Pool → worker. */
export type WorkerRequest = { type: 'job'; key: number; path: string };

/** Worker → pool. */
export type WorkerReply =
  | { type: 'ready'; spec: FeatureSpec }
  | { type: 'fatal'; error: SerializedError }
  | { type: 'result'; key: number; outcome: PhotoOutcome }
  | { type: 'failed'; key: number; error: SerializedError };

const IMAGE_CODES: readonly ErrorCode[] = ['IMAGE_DECODE', 'IMAGE_UNSUPPORTED', 'IMAGE_TOO_LARGE'];

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Reads one photo and extracts its features. A photo that cannot be read or decoded (including an
 * `IMAGE_*` error raised by the extractor) is `unreadable`; any other
 * extractor error is thrown: it means the extractor is broken, not the photo.
 */
export async function processPhoto(
  extractor: FeatureExtractor,
  readImage: ReadImage,
  file: string,
): Promise<PhotoOutcome> {
  let image;
  try {
    image = await readImage(file);
  } catch (e) {
    return { kind: 'unreadable', error: messageOf(e) };
  }
  try {
    const features = await extractor.extract(image);
    return features ? { kind: 'face', features } : { kind: 'noFace' };
  } catch (e) {
    if (IMAGE_CODES.some((c) => isFedexError(e, c))) return { kind: 'unreadable', error: messageOf(e) };
    throw e;
  }
}

/** Flattens an error for `postMessage`; non-FedexErrors get code `INTERNAL`. */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof FedexError) return { code: e.code, name: e.name, message: e.message };
  if (e instanceof Error) return { code: 'INTERNAL', name: e.name, message: e.message };
  return { code: 'INTERNAL', name: 'Error', message: String(e) };
}

/** Rebuilds a FedexError from its serialized form, prefixing where it happened. */
export function deserializeError(s: SerializedError, where: string): FedexError {
  const name = s.name && s.name !== 'Error' && s.name !== 'FedexError' ? `${s.name}: ` : '';
  const err = new FedexError(s.code, `${where}: ${name}${s.message}`);
  return err;
}
