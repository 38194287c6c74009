/**
 * Global-split suite: the global task (LFW people with >= 10 photos, up to 20 each, 80/20 split
 * per person) at the `embedding` and `stage128` splits of faceapi-resnet. Heads: nearest-centroid,
 * linear (on the average-pooled map for stage128), and for stage128 `upper` — the pretrained upper
 * stage plus a new classifier, trained end to end in the cloud, two ways: from a random classifier
 * with one learning rate (how it was first done: it ended well below the frozen embedding), and
 * LP-FT (classifier set from class centroids of the frozen upper stage's output, a linear-probe
 * epoch, the pretrained stage at a tenth of the rate, the start as an early-stopping candidate) so
 * it starts where the frozen model is and only keeps what beats it on validation.
 *
 * Needs LFW; features come from the shared cache (the first run extracts: slow for stage128).
 */
import { splitExtractorSource } from '../src/data/extractor-source.js';
import * as tf from '@tensorflow/tfjs';
import { extractDataset, type ExtractedFeatureSet } from '../src/data/extract.js';
import { buildGlobalTask, type GlobalTask } from '../src/data/users.js';
import { loadBackbone } from '../src/model/backbones/registry.js';
import { getHead } from '../src/model/heads/registry.js';
import { fitHead, type TrainOptions } from '../src/model/trainer.js';
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
    const upperEpochs = quick ? 3 : 12;
    const plans: Array<{
      set: ExtractedFeatureSet;
      head: string;
      label?: string;
      init?: 'centroids' | 'random';
      train: Partial<TrainOptions>;
    }> = [
      { set: emb, head: 'centroid', train: {} },
      { set: emb, head: 'linear', train: { epochs: 200, learningRate: 3e-3, patience: 15 } },
      { set: mid, head: 'centroid', train: {} },
      { set: mid, head: 'linear', train: { epochs: 200, learningRate: 3e-3, patience: 15 } },
      {
        set: mid,
        head: 'upper',
        label: 'upper (random classifier, one rate)',
        init: 'random',
        train: { epochs: upperEpochs, learningRate: 1e-4, patience: 15 },
      },
      {
        set: mid,
        head: 'upper',
        label: 'upper (LP-FT from centroids)',
        init: 'centroids',
        train: {
          epochs: upperEpochs,
          learningRate: 1e-3,
          pretrainedLearningRateScale: 0.1,
          probeEpochs: 1,
          validateStart: true,
          patience: 3,
        },
      },
    ];
    for (const p of plans) {
      const head = getHead(p.head);
      const split = p.set.spec.split;
      const name = p.label ?? p.head;
      const model = head.build(
        p.set.spec.shape,
        k,
        { backbone, split, ...(p.init ? { init: p.init } : {}) },
        0,
      );
      const data = { x: gather(p.set, task.train), y: train.y, shape: p.set.spec.shape };
      const t0 = performance.now();
      const result = await fitHead(head, model, data, {
        batchSize: 32,
        ...p.train,
        onEpoch: (e) =>
          log(`${name}/${split} epoch ${e.epoch} loss ${e.loss.toFixed(3)} val ${e.valAccuracy?.toFixed(3)}`),
      });
      const seconds = (performance.now() - t0) / 1000;
      const start = result.start
        ? `; start val ${result.start.valAccuracy.toFixed(3)}, kept epoch ${result.bestEpoch}`
        : '';
      rows.push({
        suite: 'global-split',
        name: `global top-1, ${name}, ${split}`,
        value: accuracy(model, p.set, task),
        unit: 'acc',
        note: `${ctx}; ${model.countParams()} params; ${seconds.toFixed(0)} s to train${start}`,
      });
      model.dispose();
    }
    backbone.dispose();
    return rows;
  },
};
