/**
 * Global-split suite: the global task (LFW people with >= 10 photos, up to 20 each, 80/20 split
 * per person) at the `embedding` and `stage128` splits of faceapi-resnet. Heads: nearest-centroid,
 * linear (on the average-pooled map for stage128), and for stage128 `upper` — the pretrained upper
 * stage plus a new classifier, trained end to end in the cloud.
 *
 * Needs LFW; features come from the shared cache (the first run extracts: slow for stage128).
 */
import { splitExtractorSource } from '../src/data/extractor-source.js';
import * as tf from '@tensorflow/tfjs';
import { extractDataset, type ExtractedFeatureSet } from '../src/data/extract.js';
import { buildGlobalTask, type GlobalTask } from '../src/data/users.js';
import { loadBackbone } from '../src/model/backbones/registry.js';
import { getHead } from '../src/model/heads/registry.js';
import { trainModel } from '../src/model/trainer.js';
import { initRuntime } from '../src/runtime/node.js';
import { datasetDir } from '../src/testing/datasets.js';
import { gather } from './split.js';
import type { BenchRow, BenchSuite } from './types.js';

/** People with at least 10 photos (158 in LFW), at most 20 photos each. */
export const GLOBAL_SCAN = { minPhotos: 10, maxPerPerson: 20, seed: 0 } as const;

function accuracy(model: tf.LayersModel, set: ExtractedFeatureSet, task: GlobalTask): number {
  const y = task.test.map((s) => task.taskLabels[s]);
  const pred = tf.tidy(() =>
    (model.predict(tf.tensor(gather(set, task.test), [y.length, ...set.spec.shape])) as tf.Tensor)
      .argMax(-1)
      .dataSync(),
  );
  return y.reduce((a, v, i) => a + (pred[i] === v ? 1 : 0), 0) / y.length;
}

export const globalSplitSuite: BenchSuite = {
  name: 'global-split',
  summary: 'global top-1 (158 LFW people) per head at the embedding and stage128 splits',
  async run({ quick, log }) {
    await initRuntime();
    const dir = datasetDir('lfw_deepfunneled_min5');
    if (!dir) {
      log('SKIPPED: lfw_deepfunneled_min5 not found (set FEDEX_DATA_DIR)');
      return [];
    }
    const progress = (what: string) => (done: number, total: number) => {
      if (done % 250 === 0 || done === total) log(`${what} features ${done}/${total}`);
    };
    const emb = await extractDataset({ dir, scan: GLOBAL_SCAN, onProgress: progress('embedding') });
    const mid = await extractDataset({
      dir,
      scan: GLOBAL_SCAN,
      source: splitExtractorSource('faceapi-resnet', 'stage128', { detector: 'ssd' }),
      onProgress: progress('stage128'),
    });
    if (emb.samples.map((s) => s.id).join() !== mid.samples.map((s) => s.id).join()) {
      throw new Error('embedding and stage128 sets hold different photos');
    }
    const task = buildGlobalTask(emb, { minPhotos: 10, testFraction: 0.2, seed: 3 });
    const k = task.people.length;
    const train = {
      y: task.train.map((s) => task.taskLabels[s]),
    };
    const ctx = `${k} people, ${task.train.length} train / ${task.test.length} test photos`;
    const rows: BenchRow[] = [];
    const backbone = await loadBackbone('faceapi-resnet');
    const plans: Array<{ set: ExtractedFeatureSet; head: string; epochs: number; lr: number }> = [
      { set: emb, head: 'centroid', epochs: 0, lr: 0 },
      { set: emb, head: 'linear', epochs: 200, lr: 3e-3 },
      { set: mid, head: 'centroid', epochs: 0, lr: 0 },
      { set: mid, head: 'linear', epochs: 200, lr: 3e-3 },
      { set: mid, head: 'upper', epochs: quick ? 3 : 12, lr: 1e-4 },
    ];
    for (const p of plans) {
      const head = getHead(p.head);
      const split = p.set.spec.split;
      const model = head.build(p.set.spec.shape, k, { backbone, split }, 0);
      const data = { x: gather(p.set, task.train), y: train.y, shape: p.set.spec.shape };
      const t0 = performance.now();
      if (head.fit) head.fit(model, data);
      else
        await trainModel(model, data, {
          epochs: p.epochs,
          batchSize: 32,
          learningRate: p.lr,
          patience: 15,
          onEpoch: (e) =>
            log(
              `${p.head}/${split} epoch ${e.epoch} loss ${e.loss.toFixed(3)} val ${e.valAccuracy?.toFixed(3)}`,
            ),
        });
      const seconds = (performance.now() - t0) / 1000;
      rows.push({
        suite: 'global-split',
        name: `global top-1, ${p.head}, ${split}`,
        value: accuracy(model, p.set, task),
        unit: 'acc',
        note: `${ctx}; ${model.countParams()} params; ${seconds.toFixed(0)} s to train`,
      });
      model.dispose();
    }
    backbone.dispose();
    return rows;
  },
};
