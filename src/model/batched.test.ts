import { beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { initRuntime, tf } from '../runtime/node.js';
import { createRng } from '../core/random.js';
import {
  trainUsersBatched,
  upperVectorModel,
  userSeed,
  type BatchedOptions,
  type PretrainedDense,
  type UserSamples,
} from './batched.js';
import { createTinyCnn } from './backbones/tiny-cnn.js';
import { fitCentroids } from './heads/centroid.js';
import { trunkVectors, upperTrunk } from './heads/upper.js';
import { getHead } from './heads/registry.js';
import { gaussianBlobs } from './testing/blobs.js';
import { trainModel } from './trainer.js';

beforeAll(async () => {
  await initRuntime();
});

const DIM = 12;

/** Users with 2-4 classes and 2-6 samples per class (so sample and class counts differ). */
function makeUsers(count: number): UserSamples[] {
  return Array.from({ length: count }, (_, u) => {
    const k = 2 + (u % 3);
    const blobs = gaussianBlobs({
      dim: DIM,
      perClass: Array.from({ length: k }, (_, c) => 2 + ((u + 2 * c) % 5)),
      spread: 0.7,
      seed: 50 + u,
    });
    return { id: `user-${u}`, x: blobs.x, y: blobs.y, numClasses: k };
  });
}

/** Largest absolute difference between each user's batched weights and its separately trained ones. */
async function maxDifferenceFromSeparate(
  users: UserSamples[],
  options: Partial<BatchedOptions> & { head: 'linear' | 'mlp' },
) {
  const batched = await trainUsersBatched(users, DIM, options);
  let maxDiff = 0;
  for (const [u, user] of users.entries()) {
    const seed = userSeed(options.seed ?? 0, user.id!);
    const model = getHead(options.head).build([DIM], user.numClasses, { hidden: options.hidden }, seed);
    await trainModel(
      model,
      { x: user.x, y: user.y, shape: [DIM] },
      {
        epochs: options.epochs,
        learningRate: options.learningRate,
        batchSize:
          options.batchSize === 'full' || options.batchSize === undefined ? user.y.length : options.batchSize,
        validationSplit: 0,
        classWeight: options.classWeight ?? 'balanced',
        seed,
      },
    );
    const separate = model.getWeights().map((w) => w.dataSync());
    expect(batched.users[u].weights.map((w) => w.shape)).toEqual(model.getWeights().map((w) => w.shape));
    batched.users[u].weights.forEach((w, i) => {
      for (let j = 0; j < w.values.length; j++)
        maxDiff = Math.max(maxDiff, Math.abs(w.values[j] - separate[i][j]));
    });
    model.dispose();
  }
  return { maxDiff, batched };
}

describe('trainUsersBatched', () => {
  it('matches training each linear head separately (full batch)', async () => {
    const { maxDiff, batched } = await maxDifferenceFromSeparate(makeUsers(5), {
      head: 'linear',
      epochs: 15,
      learningRate: 0.05,
      batchSize: 'full',
      seed: 3,
    });
    expect(maxDiff).toBeLessThan(1e-4);
    expect(batched.users.every((u) => u.accuracy > 0.5)).toBe(true);
  });

  it('matches training each head separately with minibatches of uneven counts', async () => {
    // Users have 4 to 24 samples: with batch 3 they take 2 to 8 steps per epoch.
    const { maxDiff } = await maxDifferenceFromSeparate(makeUsers(5), {
      head: 'linear',
      epochs: 4,
      learningRate: 0.05,
      batchSize: 3,
      seed: 4,
    });
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('matches training each mlp head separately, without class weights', async () => {
    const { maxDiff } = await maxDifferenceFromSeparate(makeUsers(4), {
      head: 'mlp',
      hidden: [6, 5],
      epochs: 5,
      learningRate: 0.02,
      batchSize: 4,
      classWeight: 'none',
      seed: 5,
    });
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('gives the same heads whatever the chunk size', async () => {
    const users = makeUsers(5);
    const options = { head: 'linear' as const, epochs: 5, batchSize: 4, seed: 6 };
    const whole = await trainUsersBatched(users, DIM, { ...options, chunkSize: 5 });
    const chunked = await trainUsersBatched(users, DIM, { ...options, chunkSize: 2 });
    for (let u = 0; u < users.length; u++) {
      whole.users[u].weights.forEach((w, i) => {
        const other = chunked.users[u].weights[i].values;
        w.values.forEach((v, j) => expect(Math.abs(v - other[j])).toBeLessThan(1e-5));
      });
    }
  });

  it('exports a user as a standalone model that predicts with its trained weights', async () => {
    // Prepare
    const users = makeUsers(3);
    const result = await trainUsersBatched(users, DIM, { head: 'mlp', hidden: [5], epochs: 5, seed: 7 });

    // Execute
    const model = result.toModel(2);

    // Assert
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(
      result.users[2].weights.map((w) => Array.from(w.values)),
    );
    const probs = tf.tidy(
      () => model.predict(tf.tensor2d(users[2].x, [users[2].y.length, DIM])) as tf.Tensor,
    );
    expect(probs.shape).toEqual([users[2].y.length, users[2].numClasses]);
    probs.dispose();
    model.dispose();
  });

  it('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    await trainUsersBatched(makeUsers(4), DIM, { head: 'mlp', hidden: [4], epochs: 3, batchSize: 2 });
    await trainUsersBatched(makeUsers(4), DIM, { head: 'linear', epochs: 3 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses heads it cannot batch and labels outside a user’s classes', async () => {
    const users = makeUsers(2);
    await expect(trainUsersBatched(users, DIM, { head: 'centroid' as 'linear' })).rejects.toSatisfy(
      (e: unknown) => isFedexError(e, 'MODEL_HEAD_NOT_APPLICABLE'),
    );
    const bad = [{ ...users[0], numClasses: 1 }];
    await expect(trainUsersBatched(bad, DIM)).rejects.toSatisfy(
      (e: unknown) => isFedexError(e, 'MODEL_BAD_DATA') && /user user-0: label 1/.test((e as Error).message),
    );
    await expect(trainUsersBatched(users, DIM + 1)).rejects.toSatisfy((e: unknown) =>
      isFedexError(e, 'FEATURE_MISMATCH'),
    );
  });
});

/** A seeded stand-in for a pretrained dense layer `DIM → units`. */
function pretrainedDense(units: number, withBias: boolean, seed: number): PretrainedDense {
  const rng = createRng(seed);
  const values = (n: number) => Float32Array.from({ length: n }, () => (rng() - 0.5) * 0.6);
  return { name: 'fc', kernel: values(DIM * units), units, ...(withBias ? { bias: values(units) } : {}) };
}

describe('trainUsersBatched, upper (per-user fine-tuning of the pretrained last layer)', () => {
  /** Each user's `upperVectorModel` trained alone with `trainModel`, LP-FT options and centroid start. */
  async function separately(
    users: UserSamples[],
    pretrained: PretrainedDense,
    options: Partial<BatchedOptions>,
  ) {
    const out: tf.Tensor[][] = [];
    for (const user of users) {
      const model = upperVectorModel(DIM, pretrained, user.numClasses);
      await trainModel(
        model,
        { x: user.x, y: user.y, shape: [DIM] },
        {
          epochs: options.epochs,
          learningRate: options.learningRate,
          batchSize:
            options.batchSize === 'full' || options.batchSize === undefined
              ? user.y.length
              : options.batchSize,
          validationSplit: 0,
          classWeight: 'balanced',
          probeEpochs: options.probeEpochs ?? 0,
          pretrainedLearningRateScale: options.pretrainedLearningRateScale ?? 1,
          seed: userSeed(options.seed ?? 0, user.id!),
          initialize: (train) => fitCentroids(model, train),
        },
      );
      out.push(model.getWeights().map((w) => w.clone()));
      model.dispose();
    }
    return out;
  }

  async function maxDiff(
    users: UserSamples[],
    pretrained: PretrainedDense,
    options: Partial<BatchedOptions>,
  ) {
    const batched = await trainUsersBatched(users, DIM, { ...options, head: 'upper', pretrained });
    const alone = await separately(users, pretrained, options);
    let diff = 0;
    users.forEach((_, u) => {
      expect(batched.users[u].weights.map((w) => w.shape)).toEqual(alone[u].map((w) => w.shape));
      batched.users[u].weights.forEach((w, i) => {
        const other = alone[u][i].dataSync();
        for (let j = 0; j < w.values.length; j++) diff = Math.max(diff, Math.abs(w.values[j] - other[j]));
      });
    });
    tf.dispose(alone.flat());
    return { diff, batched };
  }

  it('matches each user trained alone: linear probe, then a lower rate for the pretrained layer (its own Adam)', async () => {
    const { diff, batched } = await maxDiff(makeUsers(4), pretrainedDense(6, false, 1), {
      epochs: 8,
      learningRate: 0.03,
      probeEpochs: 3,
      pretrainedLearningRateScale: 0.2,
      seed: 8,
    });
    expect(diff).toBeLessThan(1e-4);
    // No bias on the pretrained layer: kernel (DIM x 6), then the classifier's kernel and bias.
    expect(batched.users[0].weights.map((w) => w.shape)).toEqual([[DIM, 6], [6, 2], [2]]);
  });

  it('matches with minibatches of uneven counts, one rate and a biased pretrained layer', async () => {
    const { diff } = await maxDiff(makeUsers(5), pretrainedDense(5, true, 2), {
      epochs: 4,
      learningRate: 0.02,
      batchSize: 3,
      probeEpochs: 1,
      seed: 9,
    });
    expect(diff).toBeLessThan(1e-4);
  });

  it('starts at the nearest-centroid classifier and leaves the pretrained layer untouched while probing', async () => {
    // Prepare
    const users = makeUsers(3);
    const pretrained = pretrainedDense(6, true, 3);

    // Execute: every epoch a probe epoch.
    const result = await trainUsersBatched(users, DIM, {
      head: 'upper',
      pretrained,
      epochs: 3,
      probeEpochs: 3,
      learningRate: 1e-9,
    });

    // Assert: the pretrained layer is the given one exactly, and the classifier (barely moved) is the
    // centroid classifier on the pretrained layer's output.
    for (const [u, user] of users.entries()) {
      expect(Array.from(result.users[u].weights[0].values)).toEqual(Array.from(pretrained.kernel));
      expect(Array.from(result.users[u].weights[1].values)).toEqual(Array.from(pretrained.bias!));
      const reference = upperVectorModel(DIM, pretrained, user.numClasses);
      fitCentroids(reference, { x: user.x, y: user.y, shape: [DIM] });
      const [kernel] = reference.getLayer('logits').getWeights();
      const want = kernel.dataSync();
      result.users[u].weights[2].values.forEach((v, j) => expect(v).toBeCloseTo(want[j], 4));
      reference.dispose();
    }
  });

  it('cuts a backbone’s upper stage before its last dense layer, and refuses a bad pretrained layer', async () => {
    // Prepare
    const bb = createTinyCnn();
    const split = bb.splits[1];
    const before = tf.memory().numTensors;
    const cut = upperTrunk(bb, split.name);
    const stage = bb.upperStage(split.name)!;
    const rng = createRng(5);
    const n = 3;
    const x = Float32Array.from({ length: n * split.shape.reduce((a, b) => a * b, 1) }, () => rng());

    // Execute: the trunk's vectors through the last layer, against the whole stage.
    const vectors = trunkVectors(cut.trunk, x, split.shape, cut.dim);
    const vectorModel = upperVectorModel(cut.dim, cut.last, 2);
    const viaCut = vectorModel.getLayer(cut.last.name);
    const got = tf.tidy(() => (viaCut.apply(tf.tensor2d(vectors, [n, cut.dim])) as tf.Tensor).dataSync());
    const want = tf.tidy(() => (stage.predict(tf.tensor(x, [n, ...split.shape])) as tf.Tensor).dataSync());

    // Assert
    expect(cut.last.name).toBe('fc');
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 4));
    expect(() => upperTrunk(bb, bb.splits[bb.splits.length - 1].name)).toThrow(/no upper stage/);
    await expect(
      trainUsersBatched(makeUsers(2), DIM, { head: 'upper', pretrained: { ...cut.last } }),
    ).rejects.toSatisfy((e: unknown) => isFedexError(e, 'FEATURE_MISMATCH'));
    await expect(trainUsersBatched(makeUsers(2), DIM, { head: 'upper' })).rejects.toSatisfy((e: unknown) =>
      isFedexError(e, 'BAD_ARGUMENT'),
    );
    cut.dispose();
    stage.dispose();
    vectorModel.dispose();
    expect(tf.memory().numTensors).toBe(before);
    bb.dispose();
  });

  it('leaves no tensors behind', async () => {
    const before = tf.memory().numTensors;
    await trainUsersBatched(makeUsers(3), DIM, {
      head: 'upper',
      pretrained: pretrainedDense(4, false, 4),
      epochs: 3,
      probeEpochs: 1,
      pretrainedLearningRateScale: 0.5,
      batchSize: 2,
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
