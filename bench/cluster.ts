/**
 * Cluster suite: time to cluster 5,000 face descriptors (the goal: at most 5 s on the
 * project machine), per method, split into the distance matrix (pure JS and tfjs) and the
 * algorithm itself, plus end to end; and the cohort statistics of cohort normalisation
 * (src/cluster/cohort.ts; `--eval --cohort` only), against a cohort of 1,400 faces.
 *
 * Descriptors: real LFW descriptors from the shared feature cache when present (every cached photo
 * of lfw_deepfunneled_min5; nothing is extracted here), topped up to 5,000 with perturbed copies of
 * real ones (a real descriptor plus noise the size of same-person variation); pure synthetic
 * people when there is no cache. The note of each row says which.
 */
import { cohortStats } from '../src/cluster/cohort.js';
import { pairwiseDistances, type DistanceMatrix } from '../src/cluster/distance.js';
import { pairwiseDistancesTf } from '../src/cluster/distance-tf.js';
import { loadLabelledFaces } from '../src/cluster/lfw-data.js';
import { CLUSTER_METHODS, clusterDistances } from '../src/cluster/methods.js';
import { gaussian, syntheticFaces } from '../src/cluster/synthetic.js';
import { createRng } from '../src/core/random.js';
import { initRuntime } from '../src/runtime/node.js';
import { datasetDir } from '../src/testing/datasets.js';
import { type BenchRow, type BenchSuite, median, timeRuns } from './types.js';

const N = 5000;

/** 5,000 descriptors and a note saying where they come from. */
async function benchDescriptors(
  log: (line: string) => void,
): Promise<{ descriptors: Float32Array[]; source: string }> {
  const lfw = datasetDir('lfw_deepfunneled_min5');
  let real: Float32Array[] = [];
  if (lfw) {
    const { faces } = await loadLabelledFaces({ dir: lfw, scan: { minPhotos: 5 }, cacheOnly: true });
    real = faces.descriptors;
    log(`${real.length} real LFW descriptors in the feature cache`);
  }
  if (real.length === 0) {
    const photos = Array.from({ length: 420 }, (_, p) => 5 + (p % 16));
    return {
      descriptors: syntheticFaces({ photos, seed: 1 }).descriptors.slice(0, N),
      source: 'synthetic people (no LFW cache)',
    };
  }
  const rng = createRng(5);
  const out = real.slice(0, N);
  // Same-person photos are about 0.4 apart: noise of that size per copy, spread over 128 values.
  const sd = 0.4 / Math.sqrt(2 * 128);
  while (out.length < N) {
    const base = real[Math.floor(rng() * real.length)];
    out.push(Float32Array.from(base, (v) => v + gaussian(rng) * sd));
  }
  const copies = N - Math.min(real.length, N);
  return {
    descriptors: out,
    source: copies ? `${N - copies} real LFW + ${copies} perturbed copies` : `${N} real LFW`,
  };
}

export const clusterSuite: BenchSuite = {
  name: 'cluster',
  summary: 'clustering 5,000 face descriptors per method (distances + algorithm)',
  async run({ quick, log }) {
    const info = await initRuntime();
    const { descriptors, source } = await benchDescriptors(log);
    const runs = quick ? 1 : 3;
    const rows: BenchRow[] = [];
    let js: DistanceMatrix | undefined;
    const jsMs = median(await timeRuns(() => void (js = pairwiseDistances(descriptors)), runs, 0));
    const tfMs = median(await timeRuns(() => void pairwiseDistancesTf(descriptors), runs, 1));
    rows.push({ suite: 'cluster', name: `distances ${N} (JS)`, value: jsMs / 1000, unit: 's', note: source });
    rows.push({
      suite: 'cluster',
      name: `distances ${N} (tfjs ${info.backend})`,
      value: tfMs / 1000,
      unit: 's',
      note: source,
    });
    for (const method of CLUSTER_METHODS) {
      let count = 0;
      // clusterDistances copies the matrix for agglomerative methods (they use it as scratch space).
      const ms = median(
        await timeRuns(
          () => {
            count = clusterDistances(js!, method, {}, { descriptors }).count;
          },
          runs,
          0,
        ),
      );
      const row = (name: string, value: number, note: string): BenchRow => ({
        suite: 'cluster',
        name: `${method} ${N} ${name}`,
        value,
        unit: 's',
        note,
      });
      rows.push(row('(algorithm)', ms / 1000, `${count} clusters; calibrated defaults`));
      rows.push(
        row('end to end, tfjs distances', (ms + tfMs) / 1000, 'goal <= 5 s; what fedex cluster does'),
      );
      rows.push(
        row('end to end, JS distances', (ms + jsMs) / 1000, 'goal <= 5 s; clusterFaces without a matrix'),
      );
    }
    // A cohort the size of the evaluation's (the calibration people's 1,439 faces); for timing only,
    // so the cohort may overlap the faces.
    const cohort = descriptors.slice(0, 1400);
    const cohortMs = median(await timeRuns(() => void cohortStats(descriptors, cohort), runs, 0));
    rows.push({
      suite: 'cluster',
      name: `cohort statistics ${N} x ${cohort.length} (JS)`,
      value: cohortMs / 1000,
      unit: 's',
      note: 'cohort normalisation only (--eval --cohort): added before learned merges',
    });
    return rows;
  },
};
