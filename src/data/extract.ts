/**
 * Extracts a labelled feature set from a dataset directory: scan → read and hash each photo →
 * look the hash up in the feature cache → extract the misses (in a pool of worker threads, or
 * in-process) → one `Float32Array` of features for the photos with a face.
 *
 * A photo that cannot be read or decoded is reported in `stats.unreadable` and skipped; it never
 * aborts the run. An extractor that cannot be built or that throws (other than for image decoding)
 * aborts with a FedexError, after flushing the cache, so a rerun resumes where this one stopped.
 *
 * Node-only (files, worker threads).
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';

import { FedexError } from '../core/errors.js';
import {
  shapeSize,
  specKey,
  type FeatureBatch,
  type FeatureExtractor,
  type FeatureSpec,
} from '../core/types.js';
import {
  listPhotos,
  scanDatasetDir,
  type DatasetPhoto,
  type ScanOptions,
  type ScannedDataset,
} from './dataset-dir.js';
import { startExtractorPool, type ExtractorPool, type PhotoJob } from './extract-pool.js';
import { processPhoto, type PhotoOutcome } from './extract-protocol.js';
import {
  DEFAULT_EXTRACTOR_SOURCE,
  defaultReadImage,
  loadExtractorSource,
  sourceVariant,
  type ExtractorSource,
  type ReadImage,
} from './extractor-source.js';
import {
  hashBytes,
  openFeatureCache,
  type CacheRecovery,
  type FeatureCache,
  type FeatureCacheOptions,
} from './feature-cache.js';

/** One kept sample (a photo with a face). */
export interface FeatureSample {
  /** Path relative to the dataset directory, `/`-separated (`Ann/Ann_0001.jpg`). */
  id: string;
  /** Index into `people`. */
  label: number;
  /** sha256 hex of the photo's bytes. */
  hash: string;
}

/** What a run did. `photos === fromCache + extracted + unreadable.length`. */
export interface ExtractStats {
  photos: number;
  /** Photos answered by the cache (faces and remembered "no face"). */
  fromCache: number;
  /** Photos the extractor ran on (faces and "no face"; a duplicate photo counts once per file). */
  extracted: number;
  /** Ids of photos with no face found (from cache or extracted). */
  noFace: string[];
  /** Photos that could not be read or decoded, with the reason. */
  unreadable: Array<{ file: string; error: string }>;
  /** Wall-clock milliseconds of the whole run. */
  ms: number;
  /** Worker threads used (0 = in-process). */
  workers: number;
  /** Photos each worker extracted (empty in-process). */
  perWorker: number[];
  /**
   * The cache used (null with `cache: false`). `readOnly`: another live process held its writer
   * lock, so this run's new results were not saved.
   */
  cache: { file: string; readOnly: boolean; recovered: CacheRecovery } | null;
}

/** A labelled feature set (what `extractDataset` returns). */
export interface ExtractedFeatureSet {
  spec: FeatureSpec;
  /** Every person of the scanned dataset, label id = index (a person may have no kept sample). */
  people: string[];
  /** Photos with a face, in dataset order (person, then file). */
  samples: FeatureSample[];
  /** `samples.length × shapeSize(spec.shape)` values, sample-major. */
  features: Float32Array;
  stats: ExtractStats;
}

/** Progress of one photo, for a progress bar. */
export interface ExtractProgressInfo {
  /** Photo id (relative path). */
  file: string;
  outcome: 'face' | 'noFace' | 'unreadable';
  /** True when the cache answered. */
  cached: boolean;
}

export interface ExtractDatasetOptions {
  /** Dataset directory (one folder per person). Ignored when `dataset` is given. */
  dir?: string;
  /** Selection options for the scan of `dir`. */
  scan?: ScanOptions;
  /** An already scanned dataset. */
  dataset?: ScannedDataset;
  /**
   * An extractor instance to use in-process (tests inject fakes here). The caller keeps ownership:
   * it is not disposed. Overrides `source` and `concurrency`.
   */
  extractor?: FeatureExtractor;
  /** How to build extractors (in each worker, or in-process). Default `{ kind: 'face' }`. */
  source?: ExtractorSource;
  /**
   * Image reader for the in-process path. Default `readImageFile` (sharp). A function cannot cross
   * into workers: with workers, use a `module` source with `readImageExport`.
   */
  readImage?: ReadImage;
  /** Worker threads; 1 runs in-process. Default `min(2, available cores)`. */
  concurrency?: number;
  /**
   * The spec the extractor will produce, when known: lets a fully cached run skip building any
   * extractor. Checked against the extractor's spec when one is built.
   */
  spec?: FeatureSpec;
  /**
   * Feature cache options, or `false` for no cache. Default `{}` (the default directory). Its
   * `variant` defaults to the source's settings (`sourceVariant`), so e.g. features from the `tiny`
   * detector are never served to an `ssd` run.
   */
  cache?: FeatureCacheOptions | false;
  /** Called after each photo is settled. */
  onProgress?: (done: number, total: number, info: ExtractProgressInfo) => void;
}

/** Default worker count: two cores' worth (the target machines have two), never more than exist. */
export function defaultConcurrency(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(2, cores));
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Files read and hashed at once (I/O overlap; the hashing itself is fast). */
const HASH_PARALLELISM = 8;

function checkSpec(expected: FeatureSpec, actual: FeatureSpec): void {
  if (specKey(expected) !== specKey(actual) || expected.shape.join(',') !== actual.shape.join(',')) {
    throw new FedexError(
      'FEATURE_MISMATCH',
      `the extractor produces ${specKey(actual)} [${actual.shape.join(', ')}], the caller expected ${specKey(expected)} [${expected.shape.join(', ')}]`,
    );
  }
}

/**
 * Extracts features for every photo of a dataset directory (cached, in parallel).
 *
 * @example
 * const set = await extractDataset({
 *   dir: '../shared/datasets/bbt_faceapi_demo',
 *   onProgress: (done, total) => bar.update(done, total),
 * });
 * console.log(set.samples.length, set.stats.fromCache, set.stats.noFace);
 */
export async function extractDataset(options: ExtractDatasetOptions): Promise<ExtractedFeatureSet> {
  const start = Date.now();
  let dataset = options.dataset;
  if (!dataset) {
    if (!options.dir) throw new FedexError('BAD_ARGUMENT', 'extractDataset needs `dir` or `dataset`');
    dataset = await scanDatasetDir(options.dir, options.scan);
  }
  const source = options.source ?? DEFAULT_EXTRACTOR_SOURCE;
  const concurrency = options.concurrency ?? defaultConcurrency();
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new FedexError('BAD_ARGUMENT', `concurrency must be an integer >= 1 (got ${concurrency})`);
  }
  const inProcess = options.extractor !== undefined || concurrency === 1;
  if (!inProcess && options.readImage) {
    throw new FedexError(
      'BAD_ARGUMENT',
      'a readImage function cannot be used by worker threads: use concurrency 1, or a module source with readImageExport',
    );
  }

  if (options.spec && options.extractor) checkSpec(options.spec, options.extractor.spec);

  const photos = listPhotos(dataset);
  const total = photos.length;
  const hashes: Array<string | undefined> = new Array(total);
  const outcomes: Array<PhotoOutcome | undefined> = new Array(total);
  const stats: ExtractStats = {
    photos: total,
    fromCache: 0,
    extracted: 0,
    noFace: [],
    unreadable: [],
    ms: 0,
    workers: 0,
    perWorker: [],
    cache: null,
  };
  let done = 0;
  const settle = (i: number, outcome: PhotoOutcome, cached: boolean): void => {
    outcomes[i] = outcome;
    if (outcome.kind === 'unreadable') stats.unreadable.push({ file: photos[i].id, error: outcome.error });
    else if (cached) stats.fromCache += 1;
    else stats.extracted += 1;
    if (outcome.kind === 'noFace') stats.noFace.push(photos[i].id);
    done += 1;
    options.onProgress?.(done, total, { file: photos[i].id, outcome: outcome.kind, cached });
  };

  let local: { extractor: FeatureExtractor; readImage: ReadImage; owned: boolean } | undefined;
  let pool: ExtractorPool | undefined;
  let cache: FeatureCache | undefined;
  try {
    // Start building extractors while the photos are hashed: model loading takes seconds.
    let specPromise: Promise<FeatureSpec> | undefined;
    if (options.spec) specPromise = Promise.resolve(options.spec);
    else if (options.extractor) specPromise = Promise.resolve(options.extractor.spec);
    else if (inProcess) {
      specPromise = loadExtractorSource(source).then((l) => {
        local = { ...l, readImage: options.readImage ?? l.readImage, owned: true };
        return l.extractor.spec;
      });
    } else {
      pool = startExtractorPool(Math.min(concurrency, Math.max(1, total)), source);
      specPromise = pool.ready;
    }
    specPromise.catch(() => {}); // awaited below, after hashing; avoid an "unhandled" warning meanwhile

    await hashAll(photos, hashes, (i, error) => settle(i, { kind: 'unreadable', error }, false));
    const spec = await specPromise;
    const dim = shapeSize(spec.shape);
    if (options.cache !== false) {
      // An injected extractor's settings are unknown: it shares the spec's default variant.
      const variant = options.extractor ? undefined : sourceVariant(source);
      cache = openFeatureCache(spec, { variant, ...options.cache });
      stats.cache = { file: cache.file, readOnly: cache.readOnly, recovered: cache.recovered };
    }

    // Cache hits settle at once; misses are grouped by hash so a duplicated photo is extracted once.
    const misses = new Map<string, number[]>();
    for (let i = 0; i < total; i++) {
      const hash = hashes[i];
      if (hash === undefined) continue;
      const hit = cache?.get(hash);
      if (hit)
        settle(
          i,
          hit.status === 'face' ? { kind: 'face', features: hit.features } : { kind: 'noFace' },
          true,
        );
      else {
        const same = misses.get(hash);
        if (same) same.push(i);
        else misses.set(hash, [i]);
      }
    }
    const onOutcome = (indices: number[], outcome: PhotoOutcome): void => {
      if (outcome.kind === 'face' && outcome.features.length !== dim) {
        throw new FedexError(
          'FEATURE_MISMATCH',
          `the extractor returned ${outcome.features.length} values for ${photos[indices[0]].id}, spec ${specKey(spec)} has ${dim}`,
        );
      }
      if (outcome.kind !== 'unreadable')
        cache?.put(hashes[indices[0]]!, outcome.kind === 'face' ? outcome.features : null);
      for (const i of indices) settle(i, outcome, false);
    };

    if (misses.size > 0) {
      const groups = [...misses.values()];
      if (inProcess) {
        if (!local) {
          if (options.extractor) {
            local = {
              extractor: options.extractor,
              readImage: options.readImage ?? (await defaultReadImage()),
              owned: false,
            };
          } else {
            const l = await loadExtractorSource(source);
            local = { ...l, readImage: options.readImage ?? l.readImage, owned: true };
          }
        }
        if (options.spec) checkSpec(options.spec, local.extractor.spec);
        for (const indices of groups) {
          onOutcome(indices, await processPhoto(local.extractor, local.readImage, photos[indices[0]].path));
        }
      } else {
        pool ??= startExtractorPool(Math.min(concurrency, groups.length), source);
        const workerSpec = await pool.ready;
        if (options.spec) checkSpec(options.spec, workerSpec);
        const jobs: PhotoJob[] = groups.map((indices, key) => ({ key, path: photos[indices[0]].path }));
        stats.perWorker = await pool.run(jobs, (job, outcome) => onOutcome(groups[job.key], outcome));
        stats.workers = pool.size;
      }
    }

    const kept = photos.map((_, i) => i).filter((i) => outcomes[i]?.kind === 'face');
    const features = new Float32Array(kept.length * dim);
    const samples: FeatureSample[] = kept.map((i, row) => {
      features.set((outcomes[i] as { features: Float32Array }).features, row * dim);
      return { id: photos[i].id, label: photos[i].label, hash: hashes[i]! };
    });
    stats.noFace.sort(byCodePoint);
    stats.unreadable.sort((a, b) => byCodePoint(a.file, b.file));
    stats.ms = Date.now() - start;
    return { spec, people: dataset.people.map((p) => p.name), samples, features, stats };
  } finally {
    // Always: keep what was computed, stop every worker, release a model we built.
    try {
      cache?.close();
    } finally {
      await pool?.terminate();
      if (local?.owned) local.extractor.dispose();
    }
  }
}

async function hashAll(
  photos: readonly DatasetPhoto[],
  hashes: Array<string | undefined>,
  onUnreadable: (index: number, error: string) => void,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < photos.length) {
      const i = next++;
      try {
        hashes[i] = hashBytes(await readFile(photos[i].path));
      } catch (e) {
        onUnreadable(i, `cannot read file: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_PARALLELISM, photos.length) }, lane));
}

/** The set as a `FeatureBatch` (sample ids = relative paths, `labelNames` = people). */
export function toFeatureBatch(set: ExtractedFeatureSet): FeatureBatch {
  return {
    spec: set.spec,
    sampleIds: set.samples.map((s) => s.id),
    labels: Int32Array.from(set.samples, (s) => s.label),
    labelNames: set.people.slice(),
    features: set.features,
  };
}
