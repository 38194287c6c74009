/**
 * Real data for the simulator: the LFW global task's features at one split of faceapi-resnet,
 * read through the shared feature cache (features are computed once per photo, ever; a cache miss
 * extracts, which is slow for intermediate splits), plus the counted FLOPs of the device's bottom
 * at that split. Node-only (files).
 */
import { FedexError } from '../core/errors.js';
import { shapeSize, type FeatureSpec } from '../core/types.js';
import { createRng, deriveSeed } from '../core/random.js';
import { extractDataset, type ExtractedFeatureSet } from '../data/extract.js';
import { splitExtractorSource } from '../data/extractor-source.js';
import { buildGlobalTask } from '../data/users.js';
import { FACE_EMBEDDING_FLOPS } from '../device/costs.js';
import { FACEAPI_RESNET_SPLITS } from '../model/backbones/faceapi-resnet.js';
import { loadBackbone } from '../model/backbones/registry.js';
import { sumCosts } from '../model/layer-cost.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { datasetsRoot } from '../data/datasets-root.js';
import type { ScanOptions } from '../data/dataset-dir.js';

/** The scan of the global task (same as bench/global-split.ts): people with >= 10 photos, <= 20 each. */
export const SIM_SCAN = Object.freeze({ minPhotos: 10, maxPerPerson: 20, seed: 0 });
/** Seed of the task's 80/20 train/test split (same as the strategy bench). */
export const SIM_TASK_SEED = 3;
export const SIM_DATASET = 'lfw_deepfunneled_min5';

/** Split names the simulator accepts (faceapi-resnet's). */
export const SIM_SPLITS: readonly string[] = FACEAPI_RESNET_SPLITS.map((s) => s.name);

/** Features of the global task at one split, and what the device's bottom costs there. */
export interface SimData {
  split: string;
  spec: FeatureSpec;
  /** All kept samples' features, sample-major. */
  features: Float32Array;
  dim: number;
  /** Task label per sample (-1: not in the task). */
  labels: Int32Array;
  numClasses: number;
  names: string[];
  train: number[];
  test: number[];
  /** Training sample indices per task label. */
  trainByPerson: number[][];
  /** Test sample indices per task label. */
  testByPerson: number[][];
  /** FLOPs of the device's frozen bottom for one photo (counted from the layers). */
  bottomFlopsPerPhoto: number;
  /**
   * With `maskedShare` > 0: 1 for each sample whose features are those of the photo with the
   * pipeline's synthetic mask (the same photo, face and crop), 0 for a plain one.
   */
  masked?: Uint8Array;
  /** The share of photos asked to be masked (absent or 0: none). */
  maskedShare?: number;
}

/** Groups sample indices by task label. */
export function byPerson(indices: readonly number[], labels: Int32Array, numClasses: number): number[][] {
  const out: number[][] = Array.from({ length: numClasses }, () => []);
  for (const s of indices) if (labels[s] >= 0) out[labels[s]].push(s);
  return out;
}

/** FLOPs of faceapi-resnet's bottom up to `split`, for one photo. */
export async function bottomFlops(split: string): Promise<number> {
  if (split === 'embedding') return FACE_EMBEDDING_FLOPS;
  const bb = await loadBackbone('faceapi-resnet');
  try {
    return sumCosts(bb.bottomCosts(split)).forwardFlops;
  } finally {
    bb.dispose();
  }
}

/**
 * Loads the global task at `split` (embedding: face-api's descriptor; other splits: the backbone's
 * bottom, SSD detector, as bench/global-split.ts). `DATASET_NOT_FOUND` when LFW is missing.
 *
 * @example
 * const data = await loadSimData({ split: 'embedding' }); // 158 people, ~2,400 train / ~600 test
 */
export async function loadSimData(options: {
  split: string;
  dir?: string;
  /**
   * Which photos form the task (default `SIM_SCAN`, the global task of the strategy bench). A
   * smaller scan makes a quick run or a test: e.g. `{ ...SIM_SCAN, maxPeople: 20 }`.
   */
  scan?: ScanOptions;
  /**
   * Share of photos, in [0, 1], that wear a face mask: each photo (training and test alike) is
   * drawn masked with this probability, seeded by its id and `maskSeed`, and then carries the
   * features of the photo with the pipeline's synthetic mask (a second cache variant; the first
   * run extracts every photo again). Default 0.
   */
  maskedShare?: number;
  /** Seed of the masked draw. Default 0. */
  maskSeed?: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<SimData> {
  const { split } = options;
  const scan = options.scan ?? SIM_SCAN;
  const maskedShare = options.maskedShare ?? 0;
  if (!SIM_SPLITS.includes(split))
    throw new FedexError('BAD_ARGUMENT', `unknown split "${split}"; known: ${SIM_SPLITS.join(', ')}`);
  if (!(maskedShare >= 0 && maskedShare <= 1))
    throw new FedexError('BAD_ARGUMENT', `maskedShare must be in [0, 1] (got ${maskedShare})`);
  const dir = options.dir ?? path.join(datasetsRoot(), SIM_DATASET);
  if (!existsSync(dir))
    throw new FedexError(
      'DATASET_NOT_FOUND',
      `dataset ${SIM_DATASET} not found (set FEDEX_DATA_DIR to the datasets folder)`,
    );
  const extract = (mask: boolean) =>
    extractDataset({
      dir,
      scan,
      ...(split === 'embedding'
        ? mask
          ? { source: { kind: 'face' as const, options: { mask: 'synthetic' as const } } }
          : {}
        : {
            source: splitExtractorSource('faceapi-resnet', split, {
              detector: 'ssd',
              ...(mask ? { mask: 'synthetic' as const } : {}),
            }),
          }),
      onProgress: options.onProgress
        ? (done: number, total: number) => options.onProgress!(done, total)
        : undefined,
    });
  const set = await extract(false);
  const masked =
    maskedShare > 0 ? wearMasks(set, await extract(true), maskedShare, options.maskSeed ?? 0) : undefined;
  const task = buildGlobalTask(set, {
    minPhotos: Math.max(2, scan.minPhotos ?? 2),
    testFraction: 0.2,
    seed: SIM_TASK_SEED,
  });
  const numClasses = task.people.length;
  return {
    split,
    spec: set.spec,
    features: set.features,
    dim: shapeSize(set.spec.shape),
    labels: task.taskLabels,
    numClasses,
    names: task.names,
    train: task.train,
    test: task.test,
    trainByPerson: byPerson(task.train, task.taskLabels, numClasses),
    testByPerson: byPerson(task.test, task.taskLabels, numClasses),
    bottomFlopsPerPhoto: await bottomFlops(split),
    maskedShare,
    ...(masked ? { masked } : {}),
  };
}

/** What `wearMasks` reads of an extracted set. */
export type MaskableSet = Pick<ExtractedFeatureSet, 'spec' | 'samples' | 'features'>;

/**
 * Puts masks on a seeded share of `set`'s photos, in place: each sample is masked with probability
 * `share` (a hash of its id and `seed`), and its features are replaced by the masked variant's.
 * Returns the 0/1 flag per sample. Throws when the two sets do not hold the same photos.
 */
export function wearMasks(set: MaskableSet, maskedSet: MaskableSet, share: number, seed: number): Uint8Array {
  const dim = shapeSize(set.spec.shape);
  if (
    maskedSet.samples.length !== set.samples.length ||
    maskedSet.samples.some((s, i) => s.id !== set.samples[i].id) ||
    shapeSize(maskedSet.spec.shape) !== dim
  )
    throw new FedexError('FEATURE_MISMATCH', 'the plain and masked feature sets hold different photos');
  const flags = new Uint8Array(set.samples.length);
  set.samples.forEach((s, i) => {
    if (createRng(deriveSeed(seed, `mask:${s.id}`))() >= share) return;
    flags[i] = 1;
    set.features.set(maskedSet.features.subarray(i * dim, (i + 1) * dim), i * dim);
  });
  return flags;
}
