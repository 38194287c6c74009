import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeFeatureBatch } from '../core/codec.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { run } from './testing/features.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fedex-extract-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('fedex extract: flags are checked before any work', () => {
  it.each([
    [['--dtype', 'int9'], /--dtype must be one of float32, float16, int8/],
    [['--backbone', 'vgg'], /--backbone: unknown "vgg"/],
    [['--split', 'stage999'], /faceapi-resnet has no split "stage999"/],
    [['--limit', '0'], /--limit must be between 1/],
    [['--cache', 'x', '--no-cache'], /exclude each other/],
    [['--bogus'], /Unknown option/],
  ])('rejects %j with exit code 2 and a clear message', async (argv, message) => {
    // Execute
    const r = await run(['extract', '--data', tmp, ...argv]);

    // Assert
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('[BAD_ARGUMENT]');
  });

  it('says the dataset folder is missing, exit code 1, and writes nothing', async () => {
    const out = path.join(tmp, 'none.fxfb');
    const r = await run(['extract', '--data', path.join(tmp, 'nope'), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DATASET_NOT_FOUND');
    expect(existsSync(out)).toBe(false);
  });
});

describeWithData('bbt_faceapi_demo', (dir) => {
  it('writes a feature-batch file of 128-d descriptors with person names as labels', async () => {
    // Prepare
    const out = path.join(tmp, 'bbt.fxfb');

    // Execute: two people, in-process, float16 on the wire.
    const r = await run([
      'extract',
      '--data',
      dir,
      '--out',
      out,
      '--max-people',
      '2',
      '--seed',
      '1',
      '--dtype',
      'float16',
      '--concurrency',
      '1',
      '--json',
    ]);

    // Assert
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { samples: number; people: number; dtype: string };
    expect(summary).toMatchObject({ people: 2, samples: 10, dtype: 'float16' });
    const batch = decodeFeatureBatch(new Uint8Array(readFileSync(out)));
    expect(batch.spec).toMatchObject({ backboneId: 'faceapi-resnet', split: 'embedding', shape: [128] });
    expect(batch.sampleIds).toHaveLength(10);
    expect(batch.labelNames).toHaveLength(2);
    expect(new Set(batch.labels)).toEqual(new Set([0, 1]));
  });
});
