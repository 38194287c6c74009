import { beforeAll, describe, expect, it } from 'vitest';

import { isFedexError } from '../../core/errors.js';
import { modelFromWeightsMessage } from '../../model/io.js';
import {
  classMeans,
  DEFAULT_OPEN_SET_MARGIN,
  nearestCentroid,
  OPEN_SET_RADII,
  parseOpenSetRule,
} from '../../model/open-set.js';
import { initRuntime, tf } from '../../runtime/node.js';
import { syntheticSet } from './test-data.js';
import { resolveTrainJobConfig, trainScope } from './train-task.js';

const config = resolveTrainJobConfig({ epochs: 40, learningRate: 0.01, patience: 0 });

beforeAll(async () => {
  await initRuntime();
});

describe('trainScope', () => {
  it('promotes a first model that predicts the right person, and leaks no tensors', async () => {
    // Prepare
    const set = syntheticSet(4, 10, 1);
    const before = tf.memory().numTensors;
    const fractions: number[] = [];

    // Execute
    const out = await trainScope({ scope: 'user:alice', set, config }, (f) => fractions.push(f));

    // Assert
    expect(tf.memory().numTensors).toBe(before);
    expect(out.promote).toBe(true);
    expect(out.reason).toBeNull();
    expect(out.labels).toEqual(['0', '1', '2', '3']);
    expect(out.metrics.heldOutAccuracy).toBe(1);
    expect(out.metrics.currentHeldOutAccuracy).toBeNull();
    expect(out.metrics.heldOut).toBe(8);
    expect(out.metrics.samples).toBe(40);
    expect(out.metrics.refitEpochs).toBeGreaterThan(0);
    expect(out.trainedThrough).toBe(40);
    expect(fractions.at(-1)).toBe(1);
    expect(fractions.some((f) => f > 0 && f < 0.5)).toBe(true);
    expect(fractions.some((f) => f > 0.5 && f < 1)).toBe(true);
    const { model, metadata } = await modelFromWeightsMessage(out.weights);
    expect(metadata).toMatchObject({ scope: 'user:alice', head: 'linear', labels: out.labels });
    const test = syntheticSet(4, 3, 99); // same centres, fresh noise
    const predicted = tf.tidy(() =>
      Array.from((model.predict(tf.tensor(test.features, [12, 128])) as tf.Tensor).argMax(-1).dataSync()),
    );
    model.dispose();
    expect(predicted).toEqual(Array.from(test.labels));
    // The open-set rule: every class's centroid of all 40 samples, a finite radius that takes in
    // the fresh photos of known people, a temperature fitted on the 8 held-out samples.
    const rule = parseOpenSetRule(metadata.openSet, 4, 128);
    const { means } = classMeans(set.features, set.labels, 128, 4);
    expect(rule.centroids).toEqual(Array.from(means, (v) => Math.fround(v)));
    expect(rule.margin).toBe(DEFAULT_OPEN_SET_MARGIN);
    expect(Number.isFinite(rule.radius)).toBe(true);
    for (let i = 0; i < 12; i++)
      expect(nearestCentroid(test.features.subarray(i * 128, (i + 1) * 128), rule).distance).toBeLessThan(
        rule.radius,
      );
    expect(rule.temperature).toBeGreaterThan(0);
  });

  it('ships the face descriptor an absolute open-set radius, and a configured one to any features', async () => {
    // Prepare: the same photos as the face descriptor's spec, and with an explicit radius.
    const set = syntheticSet(4, 10, 7);
    const face = { ...set, spec: { ...set.spec, backboneId: 'faceapi-resnet', split: 'embedding' } };
    const config = resolveTrainJobConfig({ epochs: 5 });

    // Execute
    const asFace = await trainScope({ scope: 'user:alice', set: face, config }, () => undefined);
    const fixed = await trainScope(
      { scope: 'user:alice', set, config: resolveTrainJobConfig({ epochs: 5, openSetRadius: 2.5 }) },
      () => undefined,
    );
    const relative = await trainScope({ scope: 'user:alice', set, config }, () => undefined);

    // Assert
    const ruleOf = async (w: typeof asFace.weights) => {
      const { model, metadata } = await modelFromWeightsMessage(w);
      model.dispose();
      return parseOpenSetRule(metadata.openSet, 4, 128);
    };
    expect((await ruleOf(asFace.weights)).radius).toBe(OPEN_SET_RADII['faceapi-resnet/embedding']);
    expect((await ruleOf(fixed.weights)).radius).toBe(2.5);
    const rel = await ruleOf(relative.weights);
    expect(rel.margin).toBe(DEFAULT_OPEN_SET_MARGIN);
    expect(rel.radius).not.toBe(2.5);
    expect(() => resolveTrainJobConfig({ openSetRadius: 0 })).toThrow(/openSetRadius/);
  });

  it('rejects a bad open-set margin', () => {
    expect(() => resolveTrainJobConfig({ openSetMargin: 0 })).toThrow(/openSetMargin/);
    expect(resolveTrainJobConfig({ openSetMargin: 3 }).openSetMargin).toBe(3);
    expect(() => resolveTrainJobConfig({ genericMargin: 1 })).toThrow(/genericMargin/);
    expect(() => resolveTrainJobConfig({ genericMargin: -0.1 })).toThrow(/genericMargin/);
    expect(resolveTrainJobConfig({ genericMargin: 0 }).genericMargin).toBe(0);
  });

  it('rejects a candidate trained on shuffled labels when the current model is right', async () => {
    // Prepare
    const good = syntheticSet(4, 10, 1);
    const current = await trainScope({ scope: 'user:alice', set: good, config });
    const shuffledLabels = Int32Array.from(good.labels, (_, i) => (i * 7) % 4);
    const before = tf.memory().numTensors;

    // Execute
    const out = await trainScope({
      scope: 'user:alice',
      set: { ...good, labels: shuffledLabels },
      current: { weights: current.weights, labels: current.labels, version: 1 },
      config,
    });

    // Assert
    expect(tf.memory().numTensors).toBe(before);
    expect(out.promote).toBe(false);
    expect(out.reason).toMatch(/below the current version 1/);
    expect(out.metrics.currentHeldOutAccuracy).toBeGreaterThan(out.metrics.heldOutAccuracy!);
    expect(out.metrics.refitEpochs).toBe(0);
  });

  it('keys global classes by user and label, and leaves out classes with too few samples', async () => {
    // Prepare
    const set = syntheticSet(3, 6, 2);
    set.owners = Array.from(set.labels, (_, i) => (i < 12 ? 'bob' : 'carol'));
    set.labels = Int32Array.from(set.labels, (l) => (l === 2 ? 0 : l));
    // one extra sample of a class with a single photo
    const one = { ...set, labels: Int32Array.from([...set.labels, 5]), owners: [...set.owners, 'dan'] };
    one.features = new Float32Array([...set.features, ...set.features.subarray(0, 128)]);

    // Execute
    const out = await trainScope({ scope: 'global', set: one, config: { ...config, refit: false } });

    // Assert
    expect(out.labels).toEqual(['bob/0', 'bob/1', 'carol/0']);
    expect(out.metrics.droppedClasses).toEqual(['dan/5']);
    expect(out.metrics.refitEpochs).toBe(0);
  });

  it('throws NOT_ENOUGH_DATA for one class, leaking nothing', async () => {
    const set = syntheticSet(1, 10, 3);
    const before = tf.memory().numTensors;
    const error = await trainScope({ scope: 'user:alice', set, config }).catch((e: unknown) => e);
    expect(isFedexError(error, 'NOT_ENOUGH_DATA')).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('trains the closed-form centroid head', async () => {
    const out = await trainScope({
      scope: 'user:alice',
      set: syntheticSet(3, 5, 4),
      config: resolveTrainJobConfig({ head: 'centroid' }),
    });
    expect(out.promote).toBe(true);
    expect(out.metrics.heldOutAccuracy).toBe(1);
  });

  it('trains on augmented twins (not the holdout) so photos moved as the twins were are named right', async () => {
    // A "mask" that covers 112 of the 128 values with one colour: the twins are the photos masked.
    const set = syntheticSet(4, 10, 5);
    const move = (rows: Float32Array) => rows.map((v, i) => (i % 128 < 112 ? 4 : v));
    const calls: number[] = [];
    const augment = (rows: Float32Array) => {
      calls.push(rows.length / 128);
      return move(rows);
    };
    const probes = syntheticSet(4, 5, 77);
    const accuracyOn = async (weights: Uint8Array) => {
      const { model } = await modelFromWeightsMessage(weights);
      const p = tf.tidy(() =>
        Array.from(
          (model.predict(tf.tensor(move(probes.features), [20, 128])) as tf.Tensor).argMax(-1).dataSync(),
        ),
      );
      model.dispose();
      return p.filter((c, i) => c === probes.labels[i]).length / p.length;
    };
    const before = tf.memory().numTensors;
    const plain = await trainScope({ scope: 'user:alice', set, config });
    const twins = await trainScope({ scope: 'user:alice', set, config, augment });
    expect(tf.memory().numTensors).toBe(before);
    // Candidate on the 32 training rows, refit on all 40, the open-set twin means of all 40; the 8
    // held out are never augmented for training.
    expect(calls).toEqual([32, 40, 40]);
    expect(twins.metrics.heldOut).toBe(8);
    expect(twins.metrics.augmentedSamples).toBe(40);
    expect(plain.metrics.augmentedSamples).toBeUndefined();
    expect(await accuracyOn(twins.weights)).toBe(1);
    expect(await accuracyOn(plain.weights)).toBeLessThan(0.5);
    await expect(
      trainScope({ scope: 'user:alice', set, config, augment: (rows) => rows.subarray(128) }),
    ).rejects.toThrow(/one row per row/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the centroid head two means a person when it trains on twins', async () => {
    const set = syntheticSet(4, 10, 5);
    const cover = (rows: Float32Array) => rows.map((v, i) => (i % 128 < 112 ? 4 : v));
    const out = await trainScope({
      scope: 'user:alice',
      set,
      config: resolveTrainJobConfig({ head: 'centroid' }),
      augment: cover,
    });
    const { model } = await modelFromWeightsMessage(out.weights);
    expect(model.getLayer('logits').getWeights()[0].shape).toEqual([128, 8]);
    const probes = syntheticSet(4, 5, 77);
    const p = tf.tidy(() =>
      Array.from(
        (model.predict(tf.tensor(cover(probes.features), [20, 128])) as tf.Tensor).argMax(-1).dataSync(),
      ),
    );
    model.dispose();
    expect(p).toEqual(Array.from(probes.labels));
  });

  it('rejects a bad config with a typed error', () => {
    expect(() => resolveTrainJobConfig({ epochs: 0 })).toThrow(/epochs/);
    expect(() => resolveTrainJobConfig({ head: 'nope' })).toThrow(/unknown head/);
    expect(() => resolveTrainJobConfig({ dtype: 'int4' as never })).toThrow(/dtype/);
  });
});
