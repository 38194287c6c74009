import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithData } from '../testing/describe-with-data.js';
import { run, SYNTHETIC_SPEC, writeFeatureFile } from './testing/features.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fedex-eval-cli-'));
const features = path.join(tmp, 'features.fxfb');
const userModel = path.join(tmp, 'user-001');
const globalModel = path.join(tmp, 'global');

beforeAll(async () => {
  writeFeatureFile(features);
  const common = ['--features', features, '--head', 'linear', '--epochs', '30', '--lr', '0.05', '-q'];
  expect(
    (await run(['train', ...common, '--user', 'user-001', '--users', '3', '--out', userModel])).code,
  ).toBe(0);
  expect((await run(['train', ...common, '--global', '--out', globalModel])).code).toBe(0);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const meta = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'));

describe('fedex eval', () => {
  it("scores a user's model on that user's test photos by default, as train measured it", async () => {
    // Execute
    const r = await run(['eval', '--features', features, '--model', userModel]);

    // Assert: user-001 has 5 people (the default), 3 labelled each, the other 5 photos each for test.
    expect(r.code).toBe(0);
    const m = r.stdout.match(
      /^accuracy ([\d.]+)% \((\d+)\/25\) on test photos of user-001 \(5 people, 15 labelled, 25 test photos\), linear head\n$/,
    );
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![2]) / 25).toBeCloseTo(meta(userModel).metrics.testAccuracy, 10);
  });

  it('scores a global model on its test split, on one user, and on every labelled photo, as JSON', async () => {
    // Execute
    const test = JSON.parse(
      (await run(['eval', '--features', features, '--model', globalModel, '--json'])).stdout,
    );
    const user = JSON.parse(
      (await run(['eval', '--features', features, '--model', globalModel, '--user', 'user-002', '--json']))
        .stdout,
    );
    const all = JSON.parse(
      (await run(['eval', '--features', features, '--model', globalModel, '--all', '--json'])).stdout,
    );

    // Assert
    expect(test).toMatchObject({
      total: 12,
      head: 'linear',
      specKey: 'synthetic@1/embedding',
      unknownPeople: 0,
    });
    expect(test.accuracy).toBeCloseTo(meta(globalModel).metrics.testAccuracy, 10);
    expect(user.set).toMatch(/user-002/);
    expect(user.total).toBe(25);
    expect(all).toMatchObject({ total: 48, set: 'all 48 labelled photos' });
    expect(all.accuracy).toBeGreaterThan(0.8);
  });

  it("counts photos of people a user's model does not know as wrong", async () => {
    const r = JSON.parse(
      (await run(['eval', '--features', features, '--model', userModel, '--all', '--json'])).stdout,
    );
    expect(r.unknownPeople).toBe(8); // the one person of six that user-001 does not have
    expect(r.accuracy).toBeLessThanOrEqual(40 / 48);
  });

  it('refuses features of another split or shape with FEATURE_MISMATCH', async () => {
    // Prepare
    const other = writeFeatureFile(path.join(tmp, 'other.fxfb'), {
      ...SYNTHETIC_SPEC,
      split: 'stage2',
      shape: [16],
    });

    // Execute
    const r = await run(['eval', '--features', other, '--model', userModel]);

    // Assert
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /expected synthetic@1\/embedding \[16\], got synthetic@1\/stage2 \[16\] \[FEATURE_MISMATCH\]/,
    );
  });

  it('says when the folder holds no model, and rejects missing flags (exit 2)', async () => {
    const none = await run(['eval', '--features', features, '--model', path.join(tmp, 'missing')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/cannot read .*meta\.json.*\[MODEL_LOAD\]/);
    writeFileSync(path.join(tmp, 'meta.json'), '{"format":"something-else"}');
    expect((await run(['eval', '--features', features, '--model', tmp])).stderr).toMatch(
      /not a FedEx head description/,
    );
    expect((await run(['eval', '--model', userModel])).code).toBe(2);
    expect(
      (await run(['eval', '--features', features, '--model', userModel, '--all', '--user', 'user-000'])).code,
    ).toBe(2);
  });
});

describe('fedex eval over many simulated users (no --model)', () => {
  const population = ['--features', features, '--users', '4', '--people-per-user', '4'];

  it('prints mean, worst decile and min per head, and each user is scored as fedex train scores it', async () => {
    // Execute
    const r = await run([
      'eval',
      ...population,
      '--labelled',
      '3',
      '--test-per-person',
      '2',
      '--seed',
      '5',
      '--json',
    ]);
    const table = await run([
      'eval',
      ...population,
      '--labelled',
      '3',
      '--test-per-person',
      '2',
      '--seed',
      '5',
      '-q',
    ]);
    const trained = path.join(tmp, 'user-002-seed5');
    const train = await run([
      'train',
      '--features',
      features,
      '--head',
      'linear',
      '--user',
      'user-002',
      '--users',
      '4',
      '--people-per-user',
      '4',
      '--labelled-per-person',
      '3',
      '--test-per-person',
      '2',
      '--data-seed',
      '5',
      '--seed',
      '5',
      '--out',
      trained,
      '-q',
    ]);

    // Assert
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      users: 4,
      peoplePerUser: 4,
      labelledPerPerson: 3,
      minTestPerPerson: 2,
      seed: 5,
    });
    expect(report.heads.map((h: { head: string }) => h.head)).toEqual(['centroid', 'linear', 'mlp']);
    for (const h of report.heads) {
      const accs = h.perUser
        .map((u: { accuracy: number }) => u.accuracy)
        .sort((a: number, b: number) => a - b);
      expect(h.perUser).toHaveLength(4);
      expect(h.min).toBe(accs[0]);
      expect(h.worstDecile).toBe(accs[0]); // ceil(4 / 10) = 1 user
      expect(h.mean).toBeCloseTo(accs.reduce((a: number, b: number) => a + b, 0) / 4, 12);
      // 4 people x (8 - 3 labelled) photos each are tested for every user.
      expect(h.perUser.every((u: { test: number }) => u.test === 20)).toBe(true);
    }
    // The same protocol as `fedex train --user`: same users, same training, same test score.
    expect(train.code, train.stderr).toBe(0);
    const linear = report.heads.find((h: { head: string }) => h.head === 'linear');
    const user2 = linear.perUser.find((u: { id: string }) => u.id === 'user-002');
    expect(user2.accuracy).toBeCloseTo(meta(trained).metrics.testAccuracy, 10);
    // The table shows the same figures.
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^personalized top-1 on synthetic@1\/embedding: 4 users x 4 people, 3 labelled/,
    );
    const line = table.stdout.split('\n').find((l) => l.startsWith('linear'))!;
    expect(line).toContain(`${(linear.mean * 100).toFixed(1)}%`);
    expect(line).toContain(`${(linear.min * 100).toFixed(1)}%`);
  });

  it('gives the same figures for the same seed and other users for another seed', async () => {
    const once = JSON.parse(
      (await run(['eval', ...population, '--heads', 'centroid', '--seed', '3', '--json'])).stdout,
    );
    const again = JSON.parse(
      (await run(['eval', ...population, '--heads', 'centroid', '--seed', '3', '--json'])).stdout,
    );
    const other = JSON.parse(
      (await run(['eval', ...population, '--heads', 'centroid', '--seed', '4', '--json'])).stdout,
    );
    const strip = (r: { heads: Array<{ seconds?: number }> }) => r.heads.map(({ seconds: _s, ...h }) => h);
    expect(strip(again)).toEqual(strip(once));
    expect(other.seed).toBe(4);
    expect(other.testPhotos).toBe(once.testPhotos);
  });

  it('rejects bad settings before reading any photo (exit 2), and too few people with a clear line (exit 1)', async () => {
    const missing = path.join(tmp, 'no-such-file.fxfb'); // never read: the flags fail first
    const bad = async (args: string[], message: RegExp) => {
      const r = await run(['eval', '--features', missing, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    };
    await bad(['--heads', 'linear,knn'], /--heads must list heads of centroid, linear, mlp, upper/);
    await bad(['--labelled', '3', '--labelled-per-person', '3'], /same setting/);
    await bad(['--user', 'user-000'], /need --model DIR/);
    await bad(['--lr', '0'], /--lr must be a number/);
    await bad(['--mask', 'half'], /--mask must be one of none, all, probe, mixed; got "half"/);
    await bad(['--mask', 'probe'], /--mask draws masks on photos: it needs --data DIR/);
    expect((await run(['eval', '--users', '3'])).stderr).toMatch(/--features FILE or --data DIR/);
    expect(
      (await run(['eval', '--model', userModel, '--features', features, '--heads', 'mlp'])).stderr,
    ).toMatch(/--heads goes with the many-users evaluation/);
    // 8 photos per person: 6 labelled + 3 test need 9.
    const few = await run(['eval', '--features', features, '--labelled', '6', '--test-per-person', '3']);
    expect(few.code).toBe(1);
    expect(few.stderr).toMatch(/only 0 people have at least 9 photos .*\[DATASET_TOO_FEW_PHOTOS\]/);
  });
});

describeWithData('bbt_faceapi_demo', (bbt) => {
  it('evaluates straight from a folder of people (extracted through the feature cache)', async () => {
    // Execute: 8 people x 5 photos; users of 4 people, 3 named and 2 test photos each.
    const r = await run([
      'eval',
      '--data',
      bbt,
      '--users',
      '3',
      '--people-per-user',
      '4',
      '--labelled',
      '3',
      '--test-per-person',
      '2',
      '--heads',
      'centroid,linear',
      '--json',
      '-q',
    ]);

    // Assert
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      specKey: expect.stringMatching(/^faceapi-resnet@.*\/embedding$/),
      users: 3,
    });
    expect(report.source).toBe(path.resolve(bbt));
    const centroid = report.heads.find((h: { head: string }) => h.head === 'centroid');
    // The frozen descriptor names these 8 people almost perfectly (README: 24/24 in the face app).
    expect(centroid.mean).toBeGreaterThanOrEqual(0.9);
    expect(report.heads).toHaveLength(2);

    // The same users with masked probes (the labelled photos plain): the same test photos, drawn
    // with masks, and the frozen descriptor loses some of them.
    const masked = await run([
      'eval',
      '--data',
      bbt,
      '--users',
      '3',
      '--people-per-user',
      '4',
      '--labelled',
      '3',
      '--test-per-person',
      '2',
      '--heads',
      'centroid',
      '--mask',
      'probe',
      '--json',
      '-q',
    ]);
    expect(masked.code, masked.stderr).toBe(0);
    const m = JSON.parse(masked.stdout);
    expect(m.mask).toBe('probe');
    expect(m.testPhotos).toBe(report.testPhotos);
    console.info(
      `bbt centroid: plain probes ${centroid.mean.toFixed(3)}, masked probes ${m.heads[0].mean.toFixed(3)}`,
    );
    expect(m.heads[0].mean).toBeLessThan(centroid.mean);
  }, 300_000);
});
