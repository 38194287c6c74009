import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModelDir } from '../platform/node/model-store.js';
import { initRuntime, tf } from '../runtime/node.js';
import { run, SYNTHETIC_PEOPLE, SYNTHETIC_SPEC as SPEC, writeFeatureFile } from './testing/features.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fedex-train-cli-'));
const features = path.join(tmp, 'features.fxfb');

beforeAll(async () => {
  await initRuntime();
  writeFeatureFile(features);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('fedex train', () => {
  it("trains one user's linear head and writes model.json, weights.bin and meta.json", async () => {
    // Prepare
    const out = path.join(tmp, 'user-002');

    // Execute
    const r = await run([
      'train',
      '--features',
      features,
      '--head',
      'linear',
      '--user',
      'user-002',
      '--out',
      out,
      '--users',
      '4',
      '--people-per-user',
      '3',
    ]);
    // The same user with a validation split asked for explicitly
    const validated = await run([
      'train',
      '--features',
      features,
      '--head',
      'linear',
      '--user',
      'user-002',
      '--out',
      path.join(tmp, 'user-002-val'),
      '--epochs',
      '5',
      '--val-split',
      '0.2',
      '--users',
      '4',
      '--people-per-user',
      '3',
      '--json',
    ]);

    // Assert: 3 labelled photos a person: none held out for validation, and the server's step size
    expect(r.stderr).toMatch(/^epoch 1: loss [\d.]+ acc [\d.]+\n/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /trained linear head for user-002 \(3 people, 9 labelled, 15 test photos\) on synthetic@1\/embedding \[16\]/,
    );
    for (const f of ['model.json', 'weights.bin', 'meta.json'])
      expect(existsSync(path.join(out, f))).toBe(true);
    const meta = JSON.parse(readFileSync(path.join(out, 'meta.json'), 'utf8'));
    expect(meta).toMatchObject({
      format: 'fedex-head',
      head: 'linear',
      spec: SPEC,
      task: {
        kind: 'user',
        user: 'user-002',
        users: 4,
        peoplePerUser: 3,
        labelledPerPerson: 3,
        minTestPerPerson: 1,
        dataSeed: 0,
      },
      training: {
        epochs: 100,
        learningRate: 0.03,
        batchSize: 32,
        validationSplit: 0,
        patience: 10,
        classWeight: 'balanced',
        seed: 0,
      },
      metrics: { trainSamples: 9, valSamples: 0, testSamples: 15 },
      features: { file: 'features.fxfb', samples: 50 },
    });
    expect(meta.labels).toHaveLength(3);
    expect(meta.metrics.testAccuracy).toBeGreaterThan(0.8);
    expect(validated.code).toBe(0);
    const validatedMeta = JSON.parse(readFileSync(path.join(tmp, 'user-002-val', 'meta.json'), 'utf8'));
    expect(validatedMeta.metrics).toMatchObject({ trainSamples: 6, valSamples: 3 });
    const model = await readModelDir(out);
    expect(model.outputs[0].shape).toEqual([null, 3]);
    model.dispose();
  });

  it('trains a global mlp head with dropout and reports JSON', async () => {
    // Prepare
    const out = path.join(tmp, 'global-mlp');

    // Execute
    const r = await run([
      'train',
      '--features',
      features,
      '--head',
      'mlp',
      '--hidden',
      '12,8',
      '--dropout',
      '0.1',
      '--global',
      '--out',
      out,
      '--epochs',
      '30',
      '--lr',
      '0.02',
      '--json',
    ]);

    // Assert
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({
      head: 'mlp',
      headOptions: { hidden: [12, 8], dropout: 0.1 },
      labels: SYNTHETIC_PEOPLE,
      task: { kind: 'global', minPhotos: 2, testFraction: 0.2, dataSeed: 0 },
    });
    // round(8 · 0.2) = 2 test photos per person; the unlabelled photos take no part.
    expect(summary.metrics.testSamples).toBe(12);
    expect(summary.metrics.trainSamples + summary.metrics.valSamples).toBe(36);
  });

  it('trains the same weights twice from the same seed', async () => {
    const args = [
      'train',
      '--features',
      features,
      '--head',
      'mlp',
      '--hidden',
      '8',
      '--dropout',
      '0.2',
      '--global',
      '--epochs',
      '5',
      '-q',
      '--seed',
      '9',
    ];
    await run([...args, '--out', path.join(tmp, 'seed-a')]);
    await run([...args, '--out', path.join(tmp, 'seed-b')]);
    expect(readFileSync(path.join(tmp, 'seed-a', 'weights.bin'))).toEqual(
      readFileSync(path.join(tmp, 'seed-b', 'weights.bin')),
    );
  });

  it("trains the pretrained upper stage of the features' backbone", async () => {
    // Prepare: features with the spec of tiny-cnn's intermediate split conv2 ([8, 8, 16]).
    const file = writeFeatureFile(path.join(tmp, 'tiny.fxfb'), {
      backboneId: 'tiny-cnn',
      backboneVersion: '1-seed1',
      split: 'conv2',
      shape: [8, 8, 16],
    });
    const out = path.join(tmp, 'upper');

    // Execute
    const r = await run([
      'train',
      '--features',
      file,
      '--head',
      'upper',
      '--global',
      '--out',
      out,
      '--epochs',
      '2',
      '-q',
    ]);

    // Assert
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const meta = JSON.parse(readFileSync(path.join(out, 'meta.json'), 'utf8'));
    expect(meta.headOptions).toEqual({ backboneId: 'tiny-cnn' });
    const model = await readModelDir(out);
    const probs = tf.tidy(() => model.predict(tf.zeros([1, 8, 8, 16])) as tf.Tensor);
    expect(probs.shape).toEqual([1, 6]);
    probs.dispose();
    model.dispose();
  });

  it('explains that the upper head does not apply to the last split', async () => {
    const file = writeFeatureFile(path.join(tmp, 'tiny-embedding.fxfb'), {
      backboneId: 'tiny-cnn',
      backboneVersion: '1-seed1',
      split: 'embedding',
      shape: [16],
    });
    const r = await run([
      'train',
      '--features',
      file,
      '--head',
      'upper',
      '--global',
      '--out',
      path.join(tmp, 'nope'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /split "embedding" is the last one of backbone tiny-cnn.*\[MODEL_HEAD_NOT_APPLICABLE\]/,
    );
  });

  it('rejects missing and conflicting flags before any work (exit 2)', async () => {
    const base = ['train', '--features', features, '--out', path.join(tmp, 'x')];
    const cases: Array<[string[], RegExp]> = [
      [['train', '--head', 'linear', '--global', '--out', tmp], /--features FILE is required/],
      [[...base, '--global'], /--head is required: one of centroid, linear, mlp, upper/],
      [[...base, '--head', 'svm', '--global'], /--head: unknown head "svm"/],
      [[...base, '--head', 'linear'], /--user ID or --global/],
      [[...base, '--head', 'linear', '--global', '--user', 'user-000'], /exclude each other/],
      [[...base, '--head', 'linear', '--global', '--lr', 'fast'], /--lr must be a number in \(0, 10\]/],
      [
        [...base, '--head', 'linear', '--global', '--val-split', '1'],
        /--val-split must be a number in \[0, 1\)/,
      ],
      [[...base, '--head', 'mlp', '--global', '--hidden', '12,x'], /--hidden must be widths/],
      [[...base, '--head', 'linear', '--user', 'user-999', '--users', '3'], /no simulated user "user-999"/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(argv);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(2);
    }
  });

  it('reports an unreadable or corrupt feature file clearly', async () => {
    const missing = await run([
      'train',
      '--features',
      path.join(tmp, 'none.fxfb'),
      '--head',
      'linear',
      '--global',
      '--out',
      tmp,
    ]);
    expect(missing.stderr).toMatch(/cannot read .*none\.fxfb/);
    const corrupt = path.join(tmp, 'corrupt.fxfb');
    writeFileSync(corrupt, 'not a feature batch at all');
    const r = await run(['train', '--features', corrupt, '--head', 'linear', '--global', '--out', tmp]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[CODEC_/);
  });

  it('prints its help', async () => {
    const r = await run(['train', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /Usage: fedex train --features FILE --head NAME \(--user ID \| --global\) --out DIR/,
    );
  });
});
