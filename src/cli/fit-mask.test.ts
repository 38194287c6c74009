import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { parseMaskTranslationFile } from '../model/mask-translate.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { serveConfig } from './serve.js';
import { run } from './testing/features.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fedex-fit-mask-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('fedex fit-mask-translation: flags', () => {
  it.each([
    [['--max-people', '3'], /--max-people must be/],
    [['--min-photos', '1'], /--min-photos must be/],
    [['--bogus'], /Unknown option/],
  ])('rejects %j with exit code 2 and one clear line', async (argv, message) => {
    const r = await run(['fit-mask-translation', '--data', tmp, ...argv]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it("fedex serve takes the translation and the jobs' default head, and refuses a head it cannot train", () => {
    expect(serveConfig(['--mask-translation', 'm.json', '--head', 'centroid'], {})).toMatchObject({
      maskTranslation: 'm.json',
      training: { head: 'centroid' },
    });
    expect(() => serveConfig(['--head', 'nope'], {})).toThrow(/unknown head/);
    expect(() => serveConfig(['--head', 'upper'], {})).toThrow(/needs a backbone/);
  });

  it('fedex serve refuses a translation file that is not one, before it starts', async () => {
    const r = await run([
      'serve',
      '--data-dir',
      path.join(tmp, 'srv'),
      '--mask-translation',
      path.join(tmp, 'nope.json'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read the mask translation .*nope\.json/);
    expect(existsSync(path.join(tmp, 'srv'))).toBe(false);
  });
});

describeWithData('lfw_deepfunneled_min5', (dir) => {
  it('fits a translation on real photos, plain and masked, that predicts masked faces of people it never saw better than "no change"', async () => {
    const out = path.join(tmp, 'mask.json');
    const r = await run([
      'fit-mask-translation',
      '--data',
      dir,
      '--max-people',
      '6',
      '--max-per-person',
      '3',
      '--cache',
      path.join(tmp, 'cache'),
      '--out',
      out,
      '--json',
    ]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({
      people: 6,
      photos: 18,
      specKey: expect.stringMatching(/^faceapi-resnet@.*\/embedding$/),
    });
    // Held out over whole people, the map beats "a mask changes nothing" even from 15 photos.
    expect(summary.heldOutError).toBeLessThan(summary.identityError);
    const file = parseMaskTranslationFile(JSON.parse(readFileSync(out, 'utf8')));
    expect(file.specKey).toBe(summary.specKey);
    expect(file.translation.dim).toBe(128);
  }, 180_000);
});
