import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    expect((await run(['eval', '--features', features])).stderr).toMatch(/--model DIR is required/);
    expect(
      (await run(['eval', '--features', features, '--model', userModel, '--all', '--user', 'user-000'])).code,
    ).toBe(2);
  });
});
