/**
 * Labelled face descriptors of a one-folder-per-person dataset (LFW) for calibration, evaluation
 * and benchmarks — through the shared feature cache, so descriptors computed once by anyone
 * (`fedex extract`) are reused.
 *
 * Two modes: the normal one (`extractDataset`: cache hits, then the face extractor on the misses,
 * in worker threads), and `cacheOnly`, which never runs the extractor: it reads a private copy of
 * the cache file, so it neither waits for nor disturbs a running extraction that holds the cache's
 * writer lock, and it reports the photos the cache does not know yet.
 *
 * Node-only (files, worker threads). Not re-exported by ./index.ts.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../core/types.js';
import type { ScanOptions } from '../data/dataset-dir.js';
import { extractDataset, type ExtractedFeatureSet, type ExtractProgressInfo } from '../data/extract.js';
import { DEFAULT_EXTRACTOR_SOURCE, type ExtractorSource, sourceVariant } from '../data/extractor-source.js';
import type { DescriptorViews } from '../face/views.js';
import { cacheFileFor, defaultCacheDir } from '../data/feature-cache.js';
import { boxFeatures, DEFAULT_MAX_SUBJECT_OFFSET, mainFaceBoxSpec, offCentre } from './main-face-box.js';

/**
 * The LFW selection every FedEx engineer extracts (`fedex extract --min-photos 5 --max-per-person 20`):
 * 423 people of lfw_deepfunneled_min5, at most 20 seeded photos each. Using the same selection
 * means hitting the same cache entries.
 */
export const LFW_CLUSTER_SCAN: Readonly<ScanOptions> = { minPhotos: 5, maxPerPerson: 20, seed: 0 };

/** Labelled descriptors: one entry per photo with a face. */
export interface LabelledFaces {
  descriptors: Float32Array[];
  /** Person index (into `people`) of each descriptor. */
  labels: Int32Array;
  /** Sample ids (`Person/Person_0001.jpg`). */
  ids: string[];
  people: string[];
}

export interface LoadFacesOptions {
  /** Dataset directory (one folder per person). */
  dir: string;
  /** Selection. Default {@link LFW_CLUSTER_SCAN}. */
  scan?: ScanOptions;
  /** Never run the extractor; photos the cache lacks are listed in `missing`. Default false. */
  cacheOnly?: boolean;
  /** Feature cache directory. Default: the shared default (`$FEDEX_CACHE_DIR` or `.cache/features`). */
  cacheDir?: string;
  onProgress?: (done: number, total: number, info: ExtractProgressInfo) => void;
  /** Descriptor views averaged per face (the face pipeline's `descriptorViews`). Default 1. */
  views?: DescriptorViews;
}

/** The face extractor's feature spec, known without loading any model. */
export function faceDescriptorSpec(): FeatureSpec {
  const require = createRequire(import.meta.url);
  const { version } = require('@vladmandic/face-api/package.json') as { version: string };
  return { backboneId: 'faceapi-resnet', backboneVersion: version, split: 'embedding', shape: [128] };
}

function toLabelledFaces(set: ExtractedFeatureSet): LabelledFaces {
  const dim = 128;
  const descriptors: Float32Array[] = [];
  const labels: number[] = [];
  const ids: string[] = [];
  set.samples.forEach((s, row) => {
    descriptors.push(set.features.slice(row * dim, (row + 1) * dim));
    labels.push(s.label);
    ids.push(s.id);
  });
  return { descriptors, labels: Int32Array.from(labels), ids, people: set.people };
}

/**
 * Loads labelled descriptors of a dataset directory (see the module header).
 *
 * @example
 * const { faces, missing } = await loadLabelledFaces({ dir: lfwDir, cacheOnly: true });
 */
export async function loadLabelledFaces(
  options: LoadFacesOptions,
): Promise<{ faces: LabelledFaces; missing: string[]; set: ExtractedFeatureSet }> {
  const scan = options.scan ?? LFW_CLUSTER_SCAN;
  const source: ExtractorSource =
    (options.views ?? 1) === 1
      ? DEFAULT_EXTRACTOR_SOURCE
      : { kind: 'face', options: { descriptorViews: options.views } };
  if (!options.cacheOnly) {
    const set = await extractDataset({
      dir: options.dir,
      scan,
      source,
      // Known up front, so a fully cached run builds no extractor at all.
      spec: faceDescriptorSpec(),
      cache: options.cacheDir ? { dir: options.cacheDir } : {},
      onProgress: options.onProgress,
    });
    return { faces: toLabelledFaces(set), missing: [], set };
  }
  const spec = faceDescriptorSpec();
  const variant = sourceVariant(source);
  const shared = cacheFileFor(options.cacheDir ?? defaultCacheDir(), spec, variant);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fedex-cluster-cache-'));
  const root = path.resolve(options.dir);
  const missing: string[] = [];
  try {
    if (existsSync(shared)) copyFileSync(shared, path.join(tmp, path.basename(shared)));
    // A stand-in extractor that only ever sees cache misses: it records them and answers "no
    // face", which the copy remembers and the shared cache never sees.
    const stub: FeatureExtractor = { spec, extract: async () => null, dispose: () => {} };
    const readImage = async (file: string): Promise<RawImage> => {
      missing.push(path.relative(root, file).split(path.sep).join('/'));
      return { width: 1, height: 1, channels: 3, data: new Uint8Array(3) };
    };
    const set = await extractDataset({
      dir: options.dir,
      scan,
      extractor: stub,
      readImage,
      cache: { dir: tmp, ...(variant ? { variant } : {}) },
      onProgress: options.onProgress,
    });
    missing.sort();
    return { faces: toLabelledFaces(set), missing, set };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** What {@link checkLfwSubjects} found. */
export interface SubjectCheck {
  /** Photos whose main face is off-centre: not the LFW subject (ids, sorted). */
  offCentre: string[];
  /** Photos checked (with a face). */
  checked: number;
  /** Photos the box extractor ran on now (0 when everything came from the cache). */
  extracted: number;
}

/**
 * Finds the photos of a one-folder-per-person dataset of centred crops (LFW) whose main face is
 * not centred — the face described there is not the named person's (see ./main-face-box.ts).
 * Boxes are cached like descriptors; the first run over LFW's 4,200 selected photos takes about
 * 10 to 25 minutes on 2 cores (depending on the load), later runs a second.
 *
 * @example
 * const { offCentre } = await checkLfwSubjects({ dir: lfwDir }); // e.g. ['Boris_Becker/Boris_Becker_0004.jpg', ...]
 */
export async function checkLfwSubjects(options: {
  dir: string;
  scan?: ScanOptions;
  maxOffset?: number;
  cacheDir?: string;
  onProgress?: LoadFacesOptions['onProgress'];
}): Promise<SubjectCheck> {
  const set = await extractDataset({
    dir: options.dir,
    scan: options.scan ?? LFW_CLUSTER_SCAN,
    source: {
      kind: 'module',
      url: new URL('./main-face-box.ts', import.meta.url).href,
      exportName: 'createMainFaceBoxExtractor',
    },
    spec: mainFaceBoxSpec(),
    cache: options.cacheDir ? { dir: options.cacheDir } : {},
    onProgress: options.onProgress,
  });
  const maxOffset = options.maxOffset ?? DEFAULT_MAX_SUBJECT_OFFSET;
  const off = set.samples
    .filter((_, row) => offCentre(set.features.subarray(row * 4, row * 4 + 4), maxOffset))
    .map((s) => s.id);
  return { offCentre: off.sort(), checked: set.samples.length, extracted: set.stats.extracted };
}

/** What {@link lookAgainForSubjects} found. */
export interface SubjectLookAgain {
  /** Descriptors of the centred face found on the second look, by sample id. */
  found: Map<string, Float32Array>;
  /** Photos where even the second look found no centred face (ids, sorted). */
  notFound: string[];
}

/** Detection confidence of {@link lookAgainForSubjects}'s second look. */
export const SUBJECT_LOOK_AGAIN_CONFIDENCE = 0.1;

/**
 * A second look at the photos whose main face was off-centre (from {@link checkLfwSubjects}):
 * there, the detector's confident faces were all bystanders and the LFW subject was found with
 * low confidence or not at all, so it was left out of the main-face rule. This runs the same
 * pipeline (and views) with every detection down to `minConfidence` (default 0.1) taking part in
 * the main-face rule; when the main face it picks is centred, its descriptor replaces the
 * bystander's; otherwise the photo is in `notFound`. In process, uncached (a few photos: ~0.5 s
 * each with 1 view).
 *
 * @example
 * const { found, notFound } = await lookAgainForSubjects({ dir: lfwDir, ids: offCentre, views: 6 });
 */
export async function lookAgainForSubjects(options: {
  dir: string;
  ids: readonly string[];
  views?: DescriptorViews;
  minConfidence?: number;
  maxOffset?: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<SubjectLookAgain> {
  const found = new Map<string, Float32Array>();
  const notFound: string[] = [];
  if (options.ids.length === 0) return { found, notFound };
  const { initRuntime } = await import('../runtime/node.js');
  await initRuntime();
  const { createFaceExtractor } = await import('../face/extractor.js');
  const { readImageFile } = await import('../platform/node/image.js');
  const face = await createFaceExtractor({
    minConfidence: options.minConfidence ?? SUBJECT_LOOK_AGAIN_CONFIDENCE,
    // Everything down to minConfidence already counts: no separate low-confidence tier.
    retryMinConfidence: 0,
    descriptorViews: options.views ?? 1,
  });
  try {
    let done = 0;
    for (const id of options.ids) {
      const image = await readImageFile(path.join(options.dir, ...id.split('/')));
      const f = await face.extractFace(image);
      const centred =
        f?.descriptor &&
        !offCentre(
          boxFeatures(f.box, image.width, image.height),
          options.maxOffset ?? DEFAULT_MAX_SUBJECT_OFFSET,
        );
      if (centred) found.set(id, f.descriptor!);
      else notFound.push(id);
      options.onProgress?.(++done, options.ids.length);
    }
  } finally {
    face.dispose();
  }
  return { found, notFound: notFound.sort() };
}

/** The faces with some descriptors replaced (by sample id); ids not among the faces are ignored. */
export function withDescriptors(
  faces: LabelledFaces,
  replace: ReadonlyMap<string, Float32Array>,
): LabelledFaces {
  return { ...faces, descriptors: faces.descriptors.map((d, i) => replace.get(faces.ids[i]) ?? d) };
}

/** The faces without the given sample ids. */
export function withoutIds(faces: LabelledFaces, drop: ReadonlySet<string>): LabelledFaces {
  const keep = faces.ids.map((id) => !drop.has(id));
  return {
    descriptors: faces.descriptors.filter((_, i) => keep[i]),
    labels: faces.labels.filter((_, i) => keep[i]),
    ids: faces.ids.filter((_, i) => keep[i]),
    people: faces.people,
  };
}
