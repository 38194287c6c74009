/**
 * Split suite: the FedEx loop at an intermediate split of the face-api ResNet (`stage128`,
 * [8,8,128] per photo), against the `embedding` split on the same photos and users. Heads:
 * nearest-centroid and linear on the flattened map, and `upper` — the pretrained layers after the
 * split plus a new classifier, trained end to end in the cloud (the "heavier model" a phone could
 * not train), for a subset of users because it is slow on one WASM core.
 *
 * Needs LFW; features come from the shared cache (the first run extracts, which takes a while).
 */
import { splitExtractorSource } from '../src/data/extractor-source.js';
import * as tf from '@tensorflow/tfjs';
import { personalizedAccuracy } from '../src/data/eval.js';
import { extractDataset, type ExtractedFeatureSet } from '../src/data/extract.js';
import { buildUsers, type SimUser } from '../src/data/users.js';
import { trainUsersBatched } from '../src/model/batched.js';
import { loadBackbone } from '../src/model/backbones/registry.js';
import { getHead } from '../src/model/heads/registry.js';
import { trainModel } from '../src/model/trainer.js';
import { initRuntime } from '../src/runtime/node.js';
import { datasetDir } from '../src/testing/datasets.js';
import { shapeSize } from '../src/core/types.js';
import type { BenchRow, BenchSuite } from './types.js';

/** The selection both splits are extracted on: 200 people x 5 photos. */
export const SPLIT_SCAN = { minPhotos: 5, limit: 1000, seed: 0 } as const;
const SPLIT = 'stage128';

/** Features of samples `idx`, packed. */
export function gather(set: ExtractedFeatureSet, idx: number[]): Float32Array {
  const dim = shapeSize(set.spec.shape);
  const out = new Float32Array(idx.length * dim);
  idx.forEach((s, i) => out.set(set.features.subarray(s * dim, (s + 1) * dim), i * dim));
  return out;
}

/** A user's local label (index into its people) of each sample in `idx`. */
export function localLabels(set: ExtractedFeatureSet, u: SimUser, idx: number[]): number[] {
  const local = new Map(u.people.map((p, i) => [p, i]));
  return idx.map((s) => local.get(set.samples[s].label)!);
}

function accuracyOf(model: tf.LayersModel, set: ExtractedFeatureSet, u: SimUser): number {
  const y = localLabels(set, u, u.test);
  const pred = tf.tidy(() =>
    (model.predict(tf.tensor(gather(set, u.test), [u.test.length, ...set.spec.shape])) as tf.Tensor)
      .argMax(-1)
      .dataSync(),
  );
  return y.reduce((a, v, i) => a + (pred[i] === v ? 1 : 0), 0) / y.length;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export const splitSuite: BenchSuite = {
  name: 'split',
  summary: `personalized top-1 at the ${SPLIT} split vs embedding (centroid, linear, upper) on LFW users`,
  async run({ quick, log }) {
    await initRuntime();
    const dir = datasetDir('lfw_deepfunneled_min5');
    if (!dir) {
      log('SKIPPED: lfw_deepfunneled_min5 not found (set FEDEX_DATA_DIR)');
      return [];
    }
    const progress = (what: string) => (done: number, total: number) => {
      if (done % 200 === 0 || done === total) log(`${what} features ${done}/${total}`);
    };
    const emb = await extractDataset({ dir, scan: SPLIT_SCAN, onProgress: progress('embedding') });
    const mid = await extractDataset({
      dir,
      scan: SPLIT_SCAN,
      source: splitExtractorSource('faceapi-resnet', SPLIT, { detector: 'ssd' }),
      onProgress: progress(SPLIT),
    });
    // Same photos in both sets (a photo with no face is missing from both).
    if (emb.samples.map((s) => s.id).join() !== mid.samples.map((s) => s.id).join()) {
      throw new Error('embedding and stage128 sets hold different photos');
    }
    const users = buildUsers(emb, {
      users: quick ? 40 : 100,
      peoplePerUser: 5,
      labelledPerPerson: 3,
      unlabelledPerPerson: 0,
      minTestPerPerson: 1,
      seed: 4,
    });
    const ctx = `${users.length} users x 5 people, 3 labelled/person; ${emb.samples.length} photos of ${emb.people.length} people`;
    const rows: BenchRow[] = [];
    for (const set of [emb, mid]) {
      const split = set.spec.split;
      const nc = personalizedAccuracy(set, users);
      rows.push({
        suite: 'split',
        name: `personalized top-1, centroid, ${split}`,
        value: nc.mean,
        unit: 'acc',
        note: `worst decile ${nc.worstDecile.toFixed(3)}; ${ctx}`,
      });
      const dim = shapeSize(set.spec.shape);
      const res = await trainUsersBatched(
        users.map((u) => ({
          id: u.id,
          x: gather(set, u.labelled),
          y: localLabels(set, u, u.labelled),
          numClasses: u.people.length,
        })),
        dim,
        { head: 'linear', epochs: 100, learningRate: 0.01, chunkSize: dim > 1000 ? 50 : 1000 },
      );
      const accs = users.map((u, i) => {
        const m = res.toModel(i);
        const model =
          set.spec.shape.length > 1
            ? tf.sequential({ layers: [tf.layers.flatten({ inputShape: set.spec.shape }), m] })
            : m;
        try {
          return accuracyOf(model, set, u);
        } finally {
          model.dispose();
        }
      });
      rows.push({
        suite: 'split',
        name: `personalized top-1, linear, ${split}`,
        value: mean(accs),
        unit: 'acc',
        note: `batched, 100 full-batch epochs; ${dim} inputs`,
      });
    }
    // The heavier model: pretrained upper stage + classifier, per user, end to end.
    const backbone = await loadBackbone('faceapi-resnet');
    const some = users.slice(0, quick ? 4 : 12);
    const accs: number[] = [];
    const baseline: number[] = [];
    const t0 = performance.now();
    let params = 0;
    for (const u of some) {
      const model = getHead('upper').build(mid.spec.shape, u.people.length, { backbone, split: SPLIT }, 0);
      params = model.countParams();
      await trainModel(
        model,
        { x: gather(mid, u.labelled), y: localLabels(mid, u, u.labelled), shape: mid.spec.shape },
        { epochs: 30, batchSize: 16, learningRate: 1e-4, validationSplit: 0 },
      );
      accs.push(accuracyOf(model, mid, u));
      baseline.push(personalizedAccuracy(emb, [u]).mean);
      model.dispose();
    }
    backbone.dispose();
    const seconds = (performance.now() - t0) / 1000;
    rows.push({
      suite: 'split',
      name: `personalized top-1, upper, ${SPLIT}`,
      value: mean(accs),
      unit: 'acc',
      note: `${some.length} users; centroid on embedding for the same users ${mean(baseline).toFixed(3)}; ${params} params; 30 epochs lr 1e-4; ${(seconds / some.length).toFixed(1)} s/user`,
    });
    return rows;
  },
};
