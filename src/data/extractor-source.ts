/**
 * How to create a feature extractor, as plain data: it crosses into worker threads (structured
 * clone), where each worker builds its own extractor. `face` is the real pipeline; `module` points at
 * any module exporting a factory (tests point workers at a fake extractor this way, and so can users
 * with their own backbone).
 *
 * Node-only (dynamic imports of Node modules).
 */
import { DEFAULT_FACE_OPTIONS } from '../face/pipeline.js';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { FedexError } from '../core/errors.js';
import type { FeatureExtractor, RawImage } from '../core/types.js';
import type { FaceExtractorOptions } from '../face/extractor.js';

/** Reads and decodes one image file. Throws for unreadable or undecodable files. */
export type ReadImage = (path: string) => Promise<RawImage>;

/** Where extractors (and the image reader that feeds them) come from. */
export type ExtractorSource =
  | {
      kind: 'face';
      /** Passed to `createFaceExtractor`. Must be structured-cloneable. */
      options?: FaceExtractorOptions;
    }
  | {
      kind: 'module';
      /** Module URL (`file://…`, `.ts` works: workers register tsx) or absolute path. */
      url: string;
      /** Export called with `options` to create the extractor. Default `createExtractor`. */
      exportName?: string;
      /** Passed to the factory. Must be structured-cloneable. */
      options?: unknown;
      /** Export of the same module used to read images instead of `readImageFile`. */
      readImageExport?: string;
    };

/**
 * The source of a backbone's frozen bottom cut at `split`, run on each aligned face chip (in each
 * worker, so the cache and the pool work as for faces). The 128-d face-api descriptor is the face
 * pipeline itself, so `faceapi-resnet` / `embedding` gives the face source.
 *
 * @example
 * extractDataset({ dir, source: splitExtractorSource('faceapi-resnet', 'stage128', { detector: 'ssd' }) });
 */
export function splitExtractorSource(
  backbone: string,
  split: string,
  face: FaceExtractorOptions = {},
): ExtractorSource {
  if (backbone === 'faceapi-resnet' && split === 'embedding') return { kind: 'face', options: face };
  // This module's own extension: `.ts` when run from source, `.js` once built.
  const ext = path.extname(fileURLToPath(import.meta.url)) || '.js';
  return {
    kind: 'module',
    url: new URL(`../model/split-extractor${ext}`, import.meta.url).href,
    exportName: 'createSplitExtractor',
    options: { backbone, split, face },
  };
}

/** The default source: the face pipeline with its default options. */
export const DEFAULT_EXTRACTOR_SOURCE: ExtractorSource = { kind: 'face' };

function toUrl(u: string): string {
  return path.isAbsolute(u) ? pathToFileURL(u).href : u;
}

/** The Node image reader (`readImageFile`, sharp-based), loaded lazily. */
export async function defaultReadImage(): Promise<ReadImage> {
  const { readImageFile } = await import('../platform/node/image.js');
  return readImageFile;
}

/**
 * Builds an extractor and its image reader from a source. Errors keep their code when they are
 * FedexErrors; anything else becomes `FACE_MODEL_LOAD` with the original as `cause`.
 */
export async function loadExtractorSource(
  source: ExtractorSource,
): Promise<{ extractor: FeatureExtractor; readImage: ReadImage }> {
  try {
    if (source.kind === 'face') {
      // The face networks run on the tfjs engine that initRuntime configures (WASM by default,
      // FEDEX_BACKEND to choose); each worker thread has its own engine, so each initialises it.
      const { initRuntime } = await import('../runtime/node.js');
      await initRuntime();
      const { createFaceExtractor } = await import('../face/extractor.js');
      const extractor = await createFaceExtractor(source.options ?? {});
      return { extractor, readImage: await defaultReadImage() };
    }
    const mod = (await import(toUrl(source.url))) as Record<string, unknown>;
    const name = source.exportName ?? 'createExtractor';
    const factory = mod[name];
    if (typeof factory !== 'function') {
      throw new FedexError('BAD_ARGUMENT', `extractor module ${source.url} has no function export ${name}`);
    }
    let readImage: ReadImage;
    if (source.readImageExport) {
      const reader = mod[source.readImageExport];
      if (typeof reader !== 'function') {
        throw new FedexError(
          'BAD_ARGUMENT',
          `extractor module ${source.url} has no function export ${source.readImageExport}`,
        );
      }
      readImage = reader as ReadImage;
    } else {
      readImage = await defaultReadImage();
    }
    const extractor = (await (factory as (o: unknown) => Promise<FeatureExtractor> | FeatureExtractor)(
      source.options,
    )) as FeatureExtractor;
    return { extractor, readImage };
  } catch (e) {
    if (e instanceof FedexError) throw e;
    const what = source.kind === 'face' ? 'the face extractor' : `the extractor from ${source.url}`;
    throw new FedexError(
      'FACE_MODEL_LOAD',
      `could not create ${what}: ${(e as Error)?.message ?? String(e)}`,
      { cause: e },
    );
  }
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The extractor settings of a source as a stable string, used as the feature cache's `variant`:
 * settings such as the face detector change the features without changing the spec, so features
 * made with other settings must not be served. Where the models come from (`modelDir`, `modelUrl`)
 * does not count. Empty (`''`) for default settings. Spelling a default out (`{ detector: 'ssd' }`)
 * gives another variant: a one-time recomputation, never a wrong answer.
 */
export function sourceVariant(source: ExtractorSource): string {
  let options = source.options;
  if (source.kind === 'face') {
    // Defaults spelled out or left implicit give the same features, hence the same cache file;
    // where the models load from and how many faces share a call change nothing either.
    const merged: Record<string, unknown> = { ...DEFAULT_FACE_OPTIONS, ...(options ?? {}) };
    const {
      modelDir: _dir,
      modelUrl: _url,
      batchSize: _batch,
      descriptorViews,
      mask,
      maskSeed,
      ...rest
    } = merged;
    // Added after caches existed: the plain descriptor (1 view, no mask) keeps its cache file.
    options = {
      ...rest,
      ...(descriptorViews === 1 ? {} : { descriptorViews }),
      ...(mask === 'none' ? {} : { mask, maskSeed }),
    };
  }
  const json = options === undefined || options === null ? '' : stableJson(options);
  return json === '{}' ? '' : json;
}
