import { beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { initRuntime, tf } from '../runtime/node.js';
import { getHead, LOGITS_LAYER } from './heads/registry.js';
import { gaussianBlobs } from './testing/blobs.js';
import {
  balancedClassWeights,
  DEFAULT_TRAIN_OPTIONS,
  epochOrder,
  fitHead,
  stratifiedSplit,
  trainModel,
  type EpochProgress,
} from './trainer.js';

beforeAll(async () => {
  await initRuntime();
});

const DIM = 16;

function weightsOf(model: tf.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

describe('stratifiedSplit', () => {
  it('holds out the same fraction of every class, seeded', () => {
    // Prepare: 10 of class 0, 5 of class 1, 1 of class 2.
    const y = [...new Array(10).fill(0), ...new Array(5).fill(1), 2];

    // Execute
    const a = stratifiedSplit(y, 0.2, 7);
    const b = stratifiedSplit(y, 0.2, 7);
    const c = stratifiedSplit(y, 0.2, 8);

    // Assert: round(10·0.2) = 2 and round(5·0.2) = 1 validated; the single class-2 sample trains.
    expect(a).toEqual(b);
    expect(a.val.map((i) => y[i]).sort()).toEqual([0, 0, 1]);
    expect(a.train).toContain(15);
    expect([...a.train, ...a.val].sort((p, q) => p - q)).toEqual(y.map((_, i) => i));
    expect(c.val).not.toEqual(a.val);
  });

  it('rejects a fraction outside [0, 1)', () => {
    expect(() => stratifiedSplit([0, 1], 1, 0)).toThrow(/validation split/);
  });
});

describe('balancedClassWeights', () => {
  it('weighs class c by n / (k · n_c)', () => {
    // 4 samples, 2 classes present (class 2 absent): class 0 has 3 -> 4/(2·3); class 1 has 1 -> 4/(2·1).
    expect(balancedClassWeights([0, 0, 0, 1], [0, 1, 2, 3], 3)).toEqual([4 / 6, 2, 0]);
  });
});

describe('epochOrder', () => {
  it('is a seeded permutation that differs between epochs', () => {
    const idx = Array.from({ length: 20 }, (_, i) => i);
    expect(epochOrder(1, 0, idx)).toEqual(epochOrder(1, 0, idx));
    expect(epochOrder(1, 0, idx)).not.toEqual(epochOrder(1, 1, idx));
    expect([...epochOrder(1, 3, idx)].sort((a, b) => a - b)).toEqual(idx);
  });
});

describe('trainModel', () => {
  it('learns separable classes and reports progress every epoch', async () => {
    // Prepare
    const data = gaussianBlobs({ dim: DIM, perClass: [20, 20, 20, 20], spread: 0.4, seed: 1 });
    const model = getHead('linear').build([DIM], 4, {}, 1);
    const seen: EpochProgress[] = [];

    // Execute
    const result = await trainModel(model, data, {
      epochs: 25,
      learningRate: 0.02,
      batchSize: 16,
      patience: 0,
      onEpoch: (p) => seen.push(p),
    });

    // Assert
    expect(seen).toEqual(result.history);
    expect(seen.map((p) => p.epoch)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    for (const p of seen) {
      expect(Object.keys(p).sort()).toEqual(['accuracy', 'epoch', 'loss', 'valAccuracy', 'valLoss']);
    }
    expect(seen[24].loss).toBeLessThan(seen[0].loss);
    expect(result.final.valAccuracy).toBe(1);
    expect(result.valIndices).toHaveLength(16); // 4 per class of 20
    expect(result.trainIndices).toHaveLength(64);
    model.dispose();
  });

  it('gives identical weights for the same seed, dropout included, and different ones for another seed', async () => {
    // Prepare
    const data = gaussianBlobs({ dim: DIM, perClass: [10, 10, 10], spread: 0.8, seed: 2 });
    const run = async (seed: number) => {
      const model = getHead('mlp').build([DIM], 3, { hidden: [12, 8], dropout: 0.3 }, 5);
      await trainModel(model, data, { epochs: 6, batchSize: 7, seed, learningRate: 0.01 });
      const w = weightsOf(model);
      model.dispose();
      return w;
    };

    // Execute
    const [a, b, c] = [await run(3), await run(3), await run(4)];

    // Assert
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
  });

  it('leaves no tensors behind besides the model weights', async () => {
    // Prepare
    const data = gaussianBlobs({ dim: DIM, perClass: [8, 8, 8], spread: 0.5, seed: 3 });
    const model = getHead('mlp').build([DIM], 3, { hidden: [8], dropout: 0.2 }, 1);
    const before = tf.memory().numTensors;

    // Execute: validation, early stopping and weight restoring all allocate.
    await trainModel(model, data, { epochs: 8, batchSize: 5, patience: 2, learningRate: 0.05 });

    // Assert
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('stops early and restores the weights of the best validation epoch', async () => {
    // Prepare: heavily overlapping classes and a large learning rate, so validation loss turns up.
    const data = gaussianBlobs({ dim: DIM, perClass: [15, 15], spread: 3, seed: 4 });
    const model = getHead('mlp').build([DIM], 2, { hidden: [64] }, 2);
    const snapshots: number[][][] = [];

    // Execute
    const result = await trainModel(model, data, {
      epochs: 200,
      batchSize: 4,
      learningRate: 0.05,
      validationSplit: 0.3,
      patience: 3,
      onEpoch: () => snapshots.push(weightsOf(model)),
    });

    // Assert
    expect(result.stopReason).toBe('early-stopping');
    expect(result.epochs).toBe(result.bestEpoch + 3);
    const valLosses = result.history.map((p) => p.valLoss!);
    expect(Math.min(...valLosses)).toBe(result.final.valLoss);
    expect(weightsOf(model)).toEqual(snapshots[result.bestEpoch - 1]);
    model.dispose();
  });

  it('weighs classes so a rare person is not ignored', async () => {
    // Prepare: 40 samples of class 0, 4 of class 1, overlapping; a test set from the same two blobs
    // (same seed, so the same centres; its first 8 samples repeat the training ones and are skipped).
    const data = gaussianBlobs({ dim: DIM, perClass: [40, 4], spread: 2, seed: 5 });
    const test = gaussianBlobs({ dim: DIM, perClass: [204, 204], spread: 2, seed: 5 });
    const options = { epochs: 30, batchSize: 8, validationSplit: 0, learningRate: 0.02, seed: 1 };
    const rareRecall = (model: tf.LayersModel) =>
      tf.tidy(() => {
        const n = test.y.length;
        const predicted = (model.predict(tf.tensor2d(test.x, [n, DIM])) as tf.Tensor).argMax(-1).dataSync();
        let hit = 0;
        let total = 0;
        for (let i = 8; i < n; i++) {
          if (test.y[i] !== 1) continue;
          total += 1;
          if (predicted[i] === 1) hit += 1;
        }
        return hit / total;
      });
    const balanced = getHead('linear').build([DIM], 2, {}, 1);
    const plain = getHead('linear').build([DIM], 2, {}, 1);

    // Execute
    const r = await trainModel(balanced, data, { ...options, classWeight: 'balanced' });
    await trainModel(plain, data, { ...options, classWeight: 'none' });

    // Assert: weights 44/(2·40) and 44/(2·4); the rare class is found more often on unseen samples.
    expect(r.classWeights).toEqual([44 / 80, 44 / 8]);
    expect(rareRecall(balanced)).toBeGreaterThan(rareRecall(plain) + 0.05);
    balanced.dispose();
    plain.dispose();
  });

  it('rejects features of another shape with FEATURE_MISMATCH', async () => {
    const model = getHead('linear').build([DIM], 2);
    const data = gaussianBlobs({ dim: 8, perClass: [2, 2], spread: 1, seed: 1 });
    await expect(trainModel(model, data)).rejects.toSatisfy(
      (e: unknown) =>
        isFedexError(e, 'FEATURE_MISMATCH') && /\[16\] but the data has \[8\]/.test((e as Error).message),
    );
    model.dispose();
  });

  it('rejects labels outside the model classes and bad options', async () => {
    const model = getHead('linear').build([2], 2);
    const data = { x: Float32Array.of(0, 0, 1, 1), y: Int32Array.of(0, 2), shape: [2] };
    await expect(trainModel(model, data)).rejects.toSatisfy((e: unknown) =>
      isFedexError(e, 'MODEL_BAD_DATA'),
    );
    const ok = { ...data, y: Int32Array.of(0, 1) };
    await expect(trainModel(model, ok, { epochs: 0 })).rejects.toSatisfy((e: unknown) =>
      isFedexError(e, 'BAD_ARGUMENT'),
    );
    await expect(trainModel(model, ok, { learningRate: -1 })).rejects.toSatisfy((e: unknown) =>
      isFedexError(e, 'BAD_ARGUMENT'),
    );
    model.dispose();
  });

  it('stops when aborted', async () => {
    const data = gaussianBlobs({ dim: DIM, perClass: [10, 10], spread: 0.5, seed: 6 });
    const model = getHead('linear').build([DIM], 2);
    const controller = new AbortController();
    const result = await trainModel(model, data, {
      epochs: 50,
      onEpoch: (p) => {
        if (p.epoch === 2) controller.abort();
      },
      signal: controller.signal,
    });
    expect(result.stopReason).toBe('aborted');
    expect(result.epochs).toBe(2);
    model.dispose();
  });

  it('probes first (only the logits layer moves), then trains the rest at a scaled rate', async () => {
    // An mlp: a hidden layer (standing for a pretrained stage) and the logits layer.
    const data = gaussianBlobs({ dim: DIM, perClass: [8, 8], spread: 0.4, seed: 3 });
    const build = () => getHead('mlp').build([DIM], 2, { hidden: [6] }, 5);
    const hiddenOf = (m: tf.LayersModel) => m.getLayer('hidden_1').getWeights()[0].dataSync().slice();
    const logitsOf = (m: tf.LayersModel) => m.getLayer(LOGITS_LAYER).getWeights()[0].dataSync().slice();
    const probe = build();
    const h0 = hiddenOf(probe);
    const l0 = logitsOf(probe);
    await trainModel(probe, data, {
      epochs: 2,
      batchSize: 4,
      validationSplit: 0,
      probeEpochs: 2,
      learningRate: 0.01,
    });
    expect(hiddenOf(probe)).toEqual(h0);
    expect(logitsOf(probe)).not.toEqual(l0);

    // Probe, then fine-tune everything at one rate: the pretrained layer joins after probing (tfjs's
    // Adam keys moments by position, which one shared optimizer would misalign).
    const after = build();
    await trainModel(after, data, { epochs: 3, batchSize: 4, validationSplit: 0, probeEpochs: 1 });
    expect(hiddenOf(after)).not.toEqual(h0);
    after.dispose();

    // One epoch at scale 0.1 moves the hidden layer about a tenth as far as at scale 1 (Adam's
    // first steps are ± the rate, so the ratio is near 0.1 whatever the gradients).
    const moved = async (scale: number) => {
      const m = build();
      await trainModel(m, data, {
        epochs: 1,
        batchSize: 16,
        validationSplit: 0,
        learningRate: 0.01,
        pretrainedLearningRateScale: scale,
      });
      const w = hiddenOf(m);
      let d = 0;
      for (let i = 0; i < w.length; i++) d += Math.abs(w[i] - h0[i]);
      m.dispose();
      return d;
    };
    const ratio = (await moved(0.1)) / (await moved(1));
    expect(ratio).toBeGreaterThan(0.05);
    expect(ratio).toBeLessThan(0.2);
    probe.dispose();
    await expect(trainModel(build(), data, { probeEpochs: -1 })).rejects.toThrow(/probeEpochs/);
    await expect(trainModel(build(), data, { pretrainedLearningRateScale: 0 })).rejects.toThrow(/Scale/);
  });

  it('with validateStart keeps the starting weights when no epoch beats them', async () => {
    const data = gaussianBlobs({ dim: DIM, perClass: [10, 10], spread: 1.5, seed: 8 });
    const model = getHead('linear').build([DIM], 2, {}, 1);
    // Start from a trained model, then "train" it at an absurd rate: every epoch is worse.
    await trainModel(model, data, { epochs: 30, batchSize: 4, validationSplit: 0, learningRate: 0.05 });
    const before = model.getWeights().map((w) => w.dataSync().slice());
    const result = await trainModel(model, data, {
      epochs: 3,
      batchSize: 4,
      learningRate: 50,
      validationSplit: 0.3,
      validateStart: true,
      patience: 0,
    });
    expect(result.bestEpoch).toBe(0);
    expect(result.final.valAccuracy).toBe(result.start!.valAccuracy);
    expect(model.getWeights().map((w) => w.dataSync())).toEqual(before);
    model.dispose();
  });

  it('has documented defaults', () => {
    expect(DEFAULT_TRAIN_OPTIONS).toMatchObject({
      epochs: 100,
      batchSize: 32,
      validationSplit: 0.2,
      patience: 10,
      classWeight: 'balanced',
    });
  });
});

describe('fitHead', () => {
  it('fits a closed-form head without a training loop and without leaks', async () => {
    const data = gaussianBlobs({ dim: DIM, perClass: [5, 5, 5], spread: 0.3, seed: 7 });
    const head = getHead('centroid');
    const model = head.build([DIM], 3);
    const before = tf.memory().numTensors;
    const result = await fitHead(head, model, data, { epochs: 50 });
    expect(result.epochs).toBe(1);
    expect(result.final.accuracy).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('weightDecay', () => {
  it('shrinks the kernels (not the biases) by the L2 penalty, and refuses a negative one', async () => {
    const data = gaussianBlobs({ dim: 6, perClass: [8, 8, 8], spread: 0.3, seed: 2 });
    const head = getHead('linear');
    const norm = async (weightDecay: number) => {
      const model = head.build([6], 3, {}, 1);
      await trainModel(
        model,
        { ...data, shape: [6] },
        {
          epochs: 60,
          learningRate: 0.05,
          validationSplit: 0,
          patience: 0,
          weightDecay,
        },
      );
      const [kernel] = model.getLayer(LOGITS_LAYER).getWeights();
      const n = tf.tidy(() => tf.norm(kernel).dataSync()[0]);
      model.dispose();
      return n;
    };
    const before = tf.memory().numTensors;
    const free = await norm(0);
    const decayed = await norm(0.5);
    expect(decayed).toBeLessThan(free * 0.7);
    expect(tf.memory().numTensors).toBe(before);
    const model = head.build([6], 3, {}, 1);
    await expect(trainModel(model, { ...data, shape: [6] }, { weightDecay: -1 })).rejects.toThrow(
      /weightDecay/,
    );
    model.dispose();
  });
});

describe('optimizer sgd', () => {
  it('takes one plain step w - lr * gradient of the mean cross-entropy (worked by hand), and refuses an unknown optimizer', async () => {
    // Two samples in 2-d, two classes, one full batch, unweighted: the gradient of the mean
    // softmax cross-entropy is dW = X^T (P - Y) / n, db = sum(P - Y) / n.
    const x = new Float32Array([1, 0, 0, 2]);
    const y = [0, 1];
    const head = getHead('linear');
    const model = head.build([2], 2, {}, 3);
    const layer = model.getLayer(LOGITS_LAYER);
    layer.setWeights([
      tf.tensor2d([
        [0.5, -0.5],
        [0, 0],
      ]),
      tf.tensor1d([0, 0]),
    ]);
    const lr = 0.5;
    await trainModel(
      model,
      { x, y, shape: [2] },
      {
        optimizer: 'sgd',
        learningRate: lr,
        epochs: 1,
        batchSize: 2,
        validationSplit: 0,
        patience: 0,
        classWeight: 'none',
      },
    );
    // Sample 0: logits (0.5, -0.5) -> p = (e^0.5, e^-0.5) / sum; sample 1: logits (0, 0) -> (1/2, 1/2).
    const p0 = Math.exp(0.5) / (Math.exp(0.5) + Math.exp(-0.5));
    const r0 = [p0 - 1, 1 - p0]; // P - Y for sample 0 (class 0)
    const r1 = [0.5, -0.5]; // sample 1 (class 1)
    const dW = [
      [(1 * r0[0] + 0 * r1[0]) / 2, (1 * r0[1] + 0 * r1[1]) / 2],
      [(0 * r0[0] + 2 * r1[0]) / 2, (0 * r0[1] + 2 * r1[1]) / 2],
    ];
    const db = [(r0[0] + r1[0]) / 2, (r0[1] + r1[1]) / 2];
    const [kernel, bias] = layer.getWeights().map((w) => Array.from(w.dataSync()));
    const want = [0.5 - lr * dW[0][0], -0.5 - lr * dW[0][1], 0 - lr * dW[1][0], 0 - lr * dW[1][1]];
    want.forEach((v, i) => expect(kernel[i]).toBeCloseTo(v, 5));
    db.forEach((v, i) => expect(bias[i]).toBeCloseTo(-lr * v, 5));
    await expect(trainModel(model, { x, y, shape: [2] }, { optimizer: 'rmsprop' as 'sgd' })).rejects.toThrow(
      /optimizer must be one of adam, sgd/,
    );
    model.dispose();
  });
});
