import { beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../../core/errors.js';
import { createRng } from '../../core/random.js';
import { nearestCentroidAccuracy } from '../../data/eval.js';
import { initRuntime, tf } from '../../runtime/node.js';
import { gaussianBlobs } from '../testing/blobs.js';
import { fakeBackbone, FAKE_STAGE_SHAPE } from '../testing/fake-backbone.js';
import { modelFromWeightsMessage, modelToWeightsMessage } from '../io.js';
import { fitHead } from '../trainer.js';
import { classPrototypes } from './centroid.js';
import { getHead, headNames, LOGITS_LAYER } from './registry.js';
import type { HeadOptions } from './types.js';

beforeAll(async () => {
  await initRuntime();
});

/** Each head with an input it applies to. */
const CASES: Array<{ name: string; shape: number[]; options: HeadOptions }> = [
  { name: 'centroid', shape: [12], options: {} },
  { name: 'linear', shape: [12], options: {} },
  { name: 'mlp', shape: [12], options: { hidden: [8, 6], dropout: 0.25 } },
  { name: 'upper', shape: FAKE_STAGE_SHAPE, options: { backbone: fakeBackbone(), split: 'stage' } },
];

function weightsOf(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

function expectFedexError(f: () => unknown, code: string, message?: RegExp): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(isFedexError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
}

describe('head registry', () => {
  it('lists the four heads', () => {
    expect(headNames().sort()).toEqual(['centroid', 'linear', 'mlp', 'upper']);
  });

  it('rejects an unknown head name with the known ones in the message', () => {
    expectFedexError(
      () => getHead('transformer'),
      'MODEL_UNKNOWN_HEAD',
      /known: centroid, linear, mlp, upper/,
    );
    expectFedexError(() => getHead('toString'), 'MODEL_UNKNOWN_HEAD');
  });
});

describe.each(CASES)('$name head (shared conformance)', ({ name, shape, options }) => {
  it('maps a batch of features to one probability row per sample', () => {
    // Prepare
    const model = getHead(name).build(shape, 3, options, 5);

    // Execute
    const probs = tf.tidy(
      () =>
        (
          model.predict(tf.randomNormal([4, ...shape], 0, 1, 'float32', 1)) as tf.Tensor
        ).arraySync() as number[][],
    );

    // Assert
    expect(probs).toHaveLength(4);
    for (const row of probs) {
      expect(row).toHaveLength(3);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    expect(model.getLayer(LOGITS_LAYER).getConfig()).toMatchObject({ units: 3 });
    model.dispose();
  });

  it('builds identical weights from the same seed', () => {
    const a = getHead(name).build(shape, 3, options, 9);
    const b = getHead(name).build(shape, 3, options, 9);
    expect(weightsOf(a)).toEqual(weightsOf(b));
    a.dispose();
    b.dispose();
  });
});

describe('seeded initialisation', () => {
  it('gives different new weights for different seeds', () => {
    for (const name of ['linear', 'mlp']) {
      const a = getHead(name).build([12], 3, {}, 1);
      const b = getHead(name).build([12], 3, {}, 2);
      expect(weightsOf(a)[0]).not.toEqual(weightsOf(b)[0]);
      a.dispose();
      b.dispose();
    }
  });
});

describe('linear and mlp heads', () => {
  it('average-pools a feature map by default and flattens it on request', () => {
    const pooled = getHead('linear').build([4, 4, 8], 2, {}, 0);
    const flat = getHead('linear').build([4, 4, 8], 2, { pooling: 'flatten' }, 0);
    expect(pooled.getLayer(LOGITS_LAYER).getWeights()[0].shape).toEqual([8, 2]);
    expect(flat.getLayer(LOGITS_LAYER).getWeights()[0].shape).toEqual([128, 2]);
    pooled.dispose();
    flat.dispose();
  });

  it('puts a dropout layer after each hidden layer only when asked', () => {
    const plain = getHead('mlp').build([12], 3, { hidden: [8, 6] }, 0);
    const dropped = getHead('mlp').build([12], 3, { hidden: [8, 6], dropout: 0.5 }, 0);
    const kinds = (m: tf.LayersModel) => m.layers.map((l) => l.getClassName());
    expect(kinds(plain)).toEqual(['InputLayer', 'Dense', 'Dense', 'Dense', 'Activation']);
    expect(kinds(dropped)).toEqual([
      'InputLayer',
      'Dense',
      'Dropout',
      'Dense',
      'Dropout',
      'Dense',
      'Activation',
    ]);
    plain.dispose();
    dropped.dispose();
  });

  it('rejects bad options and shapes', () => {
    expectFedexError(() => getHead('mlp').build([12], 3, { hidden: [] }), 'BAD_ARGUMENT');
    expectFedexError(() => getHead('mlp').build([12], 3, { dropout: 1 }), 'BAD_ARGUMENT');
    expectFedexError(() => getHead('linear').build([12], 0), 'BAD_ARGUMENT', /numClasses/);
    expectFedexError(() => getHead('linear').build([0], 2), 'BAD_ARGUMENT', /bad input shape/);
    expectFedexError(
      () => getHead('linear').build([3, 4], 2),
      'MODEL_HEAD_NOT_APPLICABLE',
      /average pooling/,
    );
  });
});

describe('centroid head', () => {
  it('predicts the nearest class centroid, like nearestCentroidAccuracy', async () => {
    // Prepare: overlapping blobs, so some test samples are misclassified.
    const data = gaussianBlobs({ dim: 10, perClass: [12, 12, 12, 12], spread: 1.2, seed: 4 });
    const train = Array.from({ length: 24 }, (_, i) => i);
    const test = Array.from({ length: 24 }, (_, i) => i + 24);
    const dim = 10;
    const trainData = { x: data.x.slice(0, 24 * dim), y: data.y.slice(0, 24), shape: [dim] };
    const head = getHead('centroid');
    const model = head.build([dim], 4);

    // Execute
    await fitHead(head, model, trainData);
    const predicted = tf.tidy(() =>
      Array.from(
        (model.predict(tf.tensor2d(data.x.slice(24 * dim), [24, dim])) as tf.Tensor).argMax(-1).dataSync(),
      ),
    );

    // Assert
    const accuracy = predicted.filter((p, i) => p === data.y[24 + i]).length / 24;
    expect(accuracy).toBeLessThan(1);
    expect(accuracy).toBeCloseTo(nearestCentroidAccuracy(data.x, dim, data.y, train, test), 10);
    model.dispose();
  });

  it('fits the temperature of its probabilities: confident on tight clusters, never changing the argmax', async () => {
    // Prepare: tight, well separated clusters at face-descriptor scale (distances < 1).
    const dim = 16;
    const data = gaussianBlobs({ dim, perClass: [6, 6, 6], spread: 0.05, seed: 9 });
    const scaled = Float32Array.from(data.x, (v) => v * 0.1);
    const head = getHead('centroid');
    const model = head.build([dim], 3);

    // Execute
    await fitHead(head, model, { x: scaled, y: data.y, shape: [dim] });
    const probs = tf.tidy(
      () => (model.predict(tf.tensor2d(scaled, [18, dim])) as tf.Tensor).arraySync() as number[][],
    );

    // Assert: at s = 1 these distances would give ~1/3 each; the fitted scale names them surely.
    probs.forEach((p, i) => {
      expect(p.indexOf(Math.max(...p))).toBe(data.y[i]);
      expect(Math.max(...p)).toBeGreaterThan(0.9);
    });
    model.dispose();
  });

  it('is not trainable and refuses a class without samples', () => {
    const head = getHead('centroid');
    const model = head.build([2], 3);
    expect(model.trainableWeights).toHaveLength(0);
    expectFedexError(
      () => head.fit!(model, { x: Float32Array.of(0, 0, 1, 1), y: Int32Array.of(0, 2), shape: [2] }),
      'MODEL_BAD_DATA',
      /no sample of class\(es\) 1/,
    );
    model.dispose();
  });
});

describe('upper head', () => {
  it('starts from the pretrained upper stage and trains it end to end', async () => {
    // Prepare
    const backbone = fakeBackbone();
    const reference = backbone.upperStage('stage')!;
    // A random classifier (a centroid start on two clean blobs would leave nothing to learn).
    const model = getHead('upper').build(
      FAKE_STAGE_SHAPE,
      2,
      { backbone, split: 'stage', init: 'random' },
      3,
    );
    const data = gaussianBlobs({ dim: 144, perClass: [8, 8], spread: 0.5, seed: 2, shape: FAKE_STAGE_SHAPE });

    // Assert: the upper stage's weights are the pretrained ones before training.
    const upperWeights = () =>
      model
        .getLayer('upper')
        .getWeights()
        .map((w) => w.dataSync());
    expect(upperWeights()).toEqual(reference.getWeights().map((w) => w.dataSync()));

    // Execute
    await fitHead(getHead('upper'), model, data, {
      epochs: 3,
      batchSize: 8,
      validationSplit: 0,
      learningRate: 0.01,
    });

    // Assert: they moved (end-to-end training), and every weight is trainable.
    expect(upperWeights()[0]).not.toEqual(reference.getWeights()[0].dataSync());
    expect(model.trainableWeights.length).toBe(model.weights.length);
    model.dispose();
    reference.dispose();
  });

  it('starts where the frozen model is: the classifier set from centroids of the stage output', async () => {
    // Prepare: three blobs in the stage's input space; the frozen stage's outputs, by hand.
    const backbone = fakeBackbone();
    const stage = backbone.upperStage('stage')!;
    const data = gaussianBlobs({
      dim: 144,
      perClass: [6, 6, 6],
      spread: 0.8,
      seed: 4,
      shape: FAKE_STAGE_SHAPE,
    });
    const n = data.y.length;
    const emb = tf.tidy(() =>
      (stage.predict(tf.tensor(data.x, [n, ...FAKE_STAGE_SHAPE])) as tf.Tensor).dataSync(),
    );
    const all = Array.from({ length: n }, (_, i) => i);
    const byHand = nearestCentroidAccuracy(Float32Array.from(emb), 16, data.y, all, all);
    const head = getHead('upper');
    const model = head.build(FAKE_STAGE_SHAPE, 3, { backbone, split: 'stage' }, 3);

    // Execute: prepare only (what the trainer runs before its first step).
    head.prepare!(model, data);

    // Assert: the model's top-1 is the nearest centroid on the frozen embedding, sample by sample.
    const predicted = tf.tidy(() =>
      Array.from(
        (model.predict(tf.tensor(data.x, [n, ...FAKE_STAGE_SHAPE])) as tf.Tensor).argMax(-1).dataSync(),
      ),
    );
    const right = predicted.filter((p, i) => p === data.y[i]).length / n;
    expect(right).toBeCloseTo(byHand, 10);
    // A random start (the old behaviour) is kept behind init: 'random', and prepare leaves it.
    const random = head.build(FAKE_STAGE_SHAPE, 3, { backbone, split: 'stage', init: 'random' }, 3);
    const before = random.getLayer(LOGITS_LAYER).getWeights()[0].dataSync().slice();
    head.prepare!(random, data);
    expect(random.getLayer(LOGITS_LAYER).getWeights()[0].dataSync()).toEqual(before);
    // Nor does it touch a model it did not build (one loaded, or a trained one seen anew).
    const other = tf.model({ inputs: random.inputs, outputs: random.outputs });
    head.prepare!(other, data);
    expect(random.getLayer(LOGITS_LAYER).getWeights()[0].dataSync()).toEqual(before);
    expect(() =>
      head.build(FAKE_STAGE_SHAPE, 3, { backbone, split: 'stage', init: 'zeros' as 'random' }),
    ).toThrow(/init must be/);
    // A round that has seen only some people (federated): their columns are set, the others kept.
    const partial = head.build(FAKE_STAGE_SHAPE, 4, { backbone, split: 'stage' }, 3);
    const [k0, b0] = partial
      .getLayer(LOGITS_LAYER)
      .getWeights()
      .map((w) => w.dataSync().slice());
    head.prepare!(partial, data); // classes 0..2 have samples, class 3 none
    const [k1, b1] = partial
      .getLayer(LOGITS_LAYER)
      .getWeights()
      .map((w) => w.dataSync());
    for (let d = 0; d < 16; d++) {
      expect(k1[d * 4 + 3]).toBe(k0[d * 4 + 3]);
      expect(k1[d * 4]).not.toBe(k0[d * 4]);
    }
    expect(b1[3]).toBe(b0[3]);
    expect(() => head.prepare!(partial, { ...data, y: data.y.map((c) => (c === 2 ? 9 : c)) })).toThrow(
      /label 9 is outside 0..3/,
    );
    partial.dispose();
    model.dispose();
    random.dispose();
    stage.dispose();
  });

  it('never ends below its start on validation (LP-FT with the start as a candidate)', async () => {
    const backbone = fakeBackbone();
    const head = getHead('upper');
    const model = head.build(FAKE_STAGE_SHAPE, 3, { backbone, split: 'stage' }, 3);
    const data = gaussianBlobs({
      dim: 144,
      perClass: [10, 10, 10],
      spread: 1.2,
      seed: 5,
      shape: FAKE_STAGE_SHAPE,
    });
    // A learning rate far too high: every epoch makes it worse, so the start is what it keeps.
    const result = await fitHead(head, model, data, {
      epochs: 4,
      batchSize: 8,
      learningRate: 5,
      validationSplit: 0.3,
      patience: 2,
      probeEpochs: 1,
      pretrainedLearningRateScale: 0.1,
      validateStart: true,
    });
    expect(result.start).toBeDefined();
    expect(result.final.valAccuracy).toBeGreaterThanOrEqual(result.start!.valAccuracy);
    expect(result.final.valLoss).toBeLessThanOrEqual(result.start!.valLoss);
    model.dispose();
  });

  it('refuses the last split with a clear error', () => {
    expectFedexError(
      () => getHead('upper').build([128], 5, { backbone: fakeBackbone(), split: 'embedding' }),
      'MODEL_HEAD_NOT_APPLICABLE',
      /split "embedding" is the last one of backbone fake-backbone/,
    );
  });

  it('refuses to build without a backbone, or for features of another shape', () => {
    expectFedexError(
      () => getHead('upper').build([6, 6, 4], 5),
      'MODEL_HEAD_NOT_APPLICABLE',
      /needs the backbone/,
    );
    expectFedexError(
      () => getHead('upper').build([5, 5, 4], 5, { backbone: fakeBackbone(), split: 'stage' }),
      'FEATURE_MISMATCH',
      /takes \[6, 6, 4\] but the features are \[5, 5, 4\]/,
    );
  });
});

describe('linear head, init centroids', () => {
  it('starts as the nearest-centroid classifier of its training samples; random by default', () => {
    const data = gaussianBlobs({ dim: 8, perClass: [5, 5, 5], spread: 1.2, seed: 11 });
    const n = data.y.length;
    const all = Array.from({ length: n }, (_, i) => i);
    const byHand = nearestCentroidAccuracy(data.x, 8, data.y, all, all);
    const head = getHead('linear');
    const model = head.build([8], 3, { init: 'centroids' }, 1);
    head.prepare!(model, { ...data, shape: [8] });
    const predicted = tf.tidy(() =>
      Array.from((model.predict(tf.tensor(data.x, [n, 8])) as tf.Tensor).argMax(-1).dataSync()),
    );
    expect(predicted.filter((p, i) => p === data.y[i]).length / n).toBeCloseTo(byHand, 10);
    const random = head.build([8], 3, {}, 1);
    const before = random.getLayer(LOGITS_LAYER).getWeights()[0].dataSync().slice();
    head.prepare!(random, { ...data, shape: [8] });
    expect(random.getLayer(LOGITS_LAYER).getWeights()[0].dataSync()).toEqual(before);
    expect(() => head.build([8], 3, { init: 'zeros' as 'random' })).toThrow(/linear head: init must be/);
    model.dispose();
    random.dispose();
  });
});

describe('centroid head with prototypes', () => {
  it('splits a class by farthest-point p-means, by hand', () => {
    // 1-d rows 0, 1, 10, 11: mean 5.5; the farthest is 0 (first of the ties), then 11.
    expect(Array.from(classPrototypes(Float32Array.of(0, 1, 10, 11), 1, 2))).toEqual([0.5, 10.5]);
    // Fewer distinct rows than prototypes: they repeat.
    expect(Array.from(classPrototypes(Float32Array.of(3, 3), 1, 2))).toEqual([3, 3]);
  });

  it('keeps two means a person, names faces near either, sums to 1 and survives the wire', async () => {
    // Two people in 4-d; each has photos near its centre and "twins" moved by the same shift.
    const rng = createRng(5);
    const centre = [
      [0, 0, 0, 0],
      [4, 0, 0, 0],
    ];
    // The twins of person 0 land next to person 1's photos: one mean a person cannot tell them apart.
    const shift = [4.4, 1, 0, 0];
    const rows: number[] = [];
    const y: number[] = [];
    for (const twin of [0, 1])
      for (let c = 0; c < 2; c++)
        for (let k = 0; k < 4; k++) {
          rows.push(...centre[c].map((v, d) => v + twin * shift[d] + (rng() - 0.5) * 0.4));
          y.push(c);
        }
    const data = { x: Float32Array.from(rows), y, shape: [4] as const };
    const head = getHead('centroid');
    const one = head.build([4], 2, {}, 0);
    const two = head.build([4], 2, { prototypes: 2 }, 0);
    head.fit!(one, data);
    head.fit!(two, data);
    // A twin of person 0 lies nearer person 1's single mean (6.2, 0.5) than person 0's (2.2, 0.5).
    const probe = tf.tensor2d([[shift[0], shift[1], 0, 0]]);
    const p1 = tf.tidy(() => (one.predict(probe) as tf.Tensor).dataSync());
    const p2 = tf.tidy(() => (two.predict(probe) as tf.Tensor).dataSync());
    expect(p1[0]).toBeLessThan(p1[1]);
    expect(p2[0]).toBeGreaterThan(0.9); // named right, and sure: the scale is fitted on the prototypes
    expect(p2[0] + p2[1]).toBeCloseTo(1, 6);
    // Through the wire format and back: the same probabilities.
    const { model: back } = await modelFromWeightsMessage(modelToWeightsMessage(two, { head: 'centroid' }));
    const p3 = tf.tidy(() => (back.predict(probe) as tf.Tensor).dataSync());
    expect(Array.from(p3)).toEqual(Array.from(p2));
    expect(() => head.build([4], 2, { prototypes: 0 })).toThrow(/prototypes must be an integer in \[1, 8\]/);
    probe.dispose();
    one.dispose();
    two.dispose();
    back.dispose();
  });
});
