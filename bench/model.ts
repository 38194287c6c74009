/**
 * Model suite: the FedEx loop offline on real faces. Per simulated LFW user (5 people, 3 labelled
 * photos each, the rest as test), personalized top-1 of each head — nearest-centroid, linear, mlp —
 * trained in batch for all users at once; the global task (people with >= 10 photos); per-user
 * heads trained per minute (20 photos per user); and training throughput of single heads with
 * the achieved FLOP rate as a fraction of the backend's own matmul rate, measured in the same run.
 *
 * Needs the LFW dataset; uses the shared feature cache (LFW_SCAN, as the quant suite).
 */
import * as tf from '@tensorflow/tfjs';
import { personalizedAccuracy, summarizeAccuracies } from '../src/data/eval.js';
import { extractDataset, type ExtractedFeatureSet } from '../src/data/extract.js';
import { buildGlobalTask, buildUsers, type SimUser } from '../src/data/users.js';
import { trainUsersBatched, type UserSamples } from '../src/model/batched.js';
import { countModelCosts } from '../src/model/flops.js';
import { getHead } from '../src/model/heads/registry.js';
import { trainModel } from '../src/model/trainer.js';
import { initRuntime } from '../src/runtime/node.js';
import { datasetDir } from '../src/testing/datasets.js';
import { LFW_SCAN } from './quantization.js';
import { matmulGflops } from './runtime.js';
import { gather, localLabels } from './split.js';
import { type BenchRow, type BenchSuite } from './types.js';

const DIM = 128;

function userSamples(set: ExtractedFeatureSet, u: SimUser): UserSamples {
  return {
    id: u.id,
    x: gather(set, u.labelled),
    y: localLabels(set, u, u.labelled),
    numClasses: u.people.length,
  };
}

/** Top-1 of one user's trained head on its test photos. */
function userTestAccuracy(set: ExtractedFeatureSet, u: SimUser, model: tf.LayersModel): number {
  const y = localLabels(set, u, u.test);
  const pred = tf.tidy(() => {
    const logits = model.predict(tf.tensor2d(gather(set, u.test), [u.test.length, DIM])) as tf.Tensor;
    return logits.argMax(-1).dataSync();
  });
  return y.reduce((a, v, i) => a + (pred[i] === v ? 1 : 0), 0) / y.length;
}

export const modelSuite: BenchSuite = {
  name: 'model',
  summary: 'personalized and global top-1 per head (LFW, embedding split); users/min; training FLOP rate',
  async run({ quick, log }) {
    await initRuntime();
    const dir = datasetDir('lfw_deepfunneled_min5');
    if (!dir) {
      log('SKIPPED: lfw_deepfunneled_min5 not found (set FEDEX_DATA_DIR)');
      return [];
    }
    const set = await extractDataset({ dir, scan: LFW_SCAN });
    const rows: BenchRow[] = [];
    const nUsers = quick ? 50 : 100;
    const users = buildUsers(set, {
      users: nUsers,
      peoplePerUser: 5,
      labelledPerPerson: 3,
      unlabelledPerPerson: 0,
      minTestPerPerson: 1,
      seed: 1,
    });
    const testPhotos = users.reduce((a, u) => a + u.test.length, 0);
    const ctx = `${users.length} users x 5 people, 3 labelled/person, ${testPhotos} test photos`;

    // Nearest centroid: no training.
    const nc = personalizedAccuracy(set, users);
    rows.push({
      suite: 'model',
      name: 'personalized top-1, centroid, embedding',
      value: nc.mean,
      unit: 'acc',
      note: `worst decile ${nc.worstDecile.toFixed(3)}; ${ctx}`,
    });

    for (const head of ['linear', 'mlp'] as const) {
      const res = await trainUsersBatched(
        users.map((u) => userSamples(set, u)),
        DIM,
        { head, hidden: head === 'mlp' ? [64] : undefined, epochs: 100, learningRate: 0.01 },
      );
      const accs = users.map((u, i) => {
        const m = res.toModel(i);
        try {
          return userTestAccuracy(set, u, m);
        } finally {
          m.dispose();
        }
      });
      const s = summarizeAccuracies(accs);
      rows.push({
        suite: 'model',
        name: `personalized top-1, ${head}, embedding`,
        value: s.mean,
        unit: 'acc',
        note: `worst decile ${s.worstDecile.toFixed(3)}; batched, 100 full-batch epochs, lr 0.01${head === 'mlp' ? ', hidden 64' : ''}`,
      });
    }

    // Per-user heads per minute: 20 photos per user (5 people x 4), all users trained in batch.
    const many = buildUsers(set, {
      users: quick ? 500 : 2000,
      peoplePerUser: 5,
      labelledPerPerson: 4,
      unlabelledPerPerson: 0,
      minTestPerPerson: 1,
      seed: 2,
    });
    for (const head of ['linear', 'mlp'] as const) {
      const res = await trainUsersBatched(
        many.map((u) => userSamples(set, u)),
        DIM,
        { head, hidden: head === 'mlp' ? [64] : undefined, epochs: 100, learningRate: 0.01 },
      );
      rows.push({
        suite: 'model',
        name: `per-user heads trained, ${head}`,
        value: res.usersPerMinute,
        unit: 'users/min',
        note: `${many.length} users x 20 photos, 100 epochs, one process (one core)${head === 'mlp' ? ', hidden 64' : ''}`,
      });
    }

    // Global task: one classifier over people with >= 10 photos.
    const task = buildGlobalTask(set, { minPhotos: 10, testFraction: 0.2, seed: 3 });
    const k = task.people.length;
    const ytr = task.train.map((s) => task.taskLabels[s]);
    const yte = task.test.map((s) => task.taskLabels[s]);
    const xte = gather(set, task.test);
    const globalAcc = (model: tf.LayersModel): number => {
      const pred = tf.tidy(() =>
        (model.predict(tf.tensor2d(xte, [yte.length, DIM])) as tf.Tensor).argMax(-1).dataSync(),
      );
      return yte.reduce((a, y, i) => a + (pred[i] === y ? 1 : 0), 0) / yte.length;
    };
    const data = { x: gather(set, task.train), y: ytr, shape: [DIM] };
    const matmul = await matmulGflops(1024, 5);
    rows.push({ suite: 'model', name: 'matmul 1024 (same run, yardstick)', value: matmul, unit: 'GFLOP/s' });
    for (const name of ['centroid', 'linear', 'mlp']) {
      const head = getHead(name);
      const model = head.build([DIM], k, {}, 0);
      const t0 = performance.now();
      let epochs = 0;
      if (head.fit) head.fit(model, data);
      else
        epochs = (
          await trainModel(model, data, { epochs: 200, batchSize: 64, learningRate: 3e-3, patience: 15 })
        ).epochs;
      const seconds = (performance.now() - t0) / 1000;
      rows.push({
        suite: 'model',
        name: `global top-1, ${name}, embedding`,
        value: globalAcc(model),
        unit: 'acc',
        note: `${k} people, ${ytr.length} train / ${yte.length} test photos${epochs ? `, ${epochs} epochs in ${seconds.toFixed(1)} s` : ''}`,
      });
      if (head.training === 'gradient') {
        // Throughput at a sensible batch size: samples/s of training and the FLOP rate it implies.
        const costs = countModelCosts(model).totals;
        const flopsPerSample = costs.forwardFlops + costs.backwardFlops;
        for (const batch of [64, 256]) {
          const probe = head.build([DIM], k, {}, 1);
          const n = ytr.length;
          const t1 = performance.now();
          await trainModel(probe, data, { epochs: 5, batchSize: batch, validationSplit: 0, patience: 1000 });
          const sps = (5 * n) / ((performance.now() - t1) / 1000);
          probe.dispose();
          const gflops = (sps * flopsPerSample) / 1e9;
          rows.push({
            suite: 'model',
            name: `train ${name} 128->${k}, batch ${batch}`,
            value: sps,
            unit: 'samples/s',
            note: `${gflops.toFixed(2)} GFLOP/s = ${((100 * gflops) / matmul).toFixed(0)}% of matmul rate (${(flopsPerSample / 1e3).toFixed(0)} kFLOP/sample fwd+bwd)`,
          });
        }
      }
      model.dispose();
    }
    return rows;
  },
};
