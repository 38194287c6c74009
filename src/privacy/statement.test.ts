/**
 * The plain-words privacy statement on hand-made measurements (never the generated file, which the
 * bench rewrites): the row for (split, noise) is found whatever the noise's spelling, its numbers
 * appear rounded to whole percent, ε only when there is one, and an unmeasured setting says so
 * and names the command that measures it.
 */
import { describe, expect, it } from 'vitest';
import { canonicalNoise, findPrivacyRow, privacyStatement } from './statement.js';
import type { PrivacyMeasurements, PrivacyRow } from './types.js';

function row(split: string, noise: string, over: Partial<PrivacyRow> = {}): PrivacyRow {
  return {
    split,
    noise,
    accuracy: 0.934,
    reidTemplate: 0.876,
    reidInversion: 0.412,
    reidTemplatePerPerson: 0.96,
    reidInversionPerPerson: 0.52,
    chance: 0.02,
    ssim: 0.41,
    psnr: 17.2,
    genderAccuracy: 0.915,
    genderBaseline: 0.736,
    ageMae: 7.4,
    ageBaselineMae: 10.6,
    membershipAuc: 0.618,
    membershipModelAuc: 0.571,
    epsilon: null,
    ...over,
  };
}

const MEASURED: PrivacyMeasurements = {
  command: 'npm run bench -- --only privacy',
  measuredAt: '2025-01-01T00:00:00.000Z',
  victims: 50,
  rows: [
    row('embedding', 'none'),
    row('embedding', 'gauss:0.5', {
      accuracy: 0.881,
      reidTemplate: 0.305,
      reidInversion: 0.104,
      ssim: 0.22,
      genderAccuracy: 0.774,
      membershipAuc: 0.5049,
    }),
    row('stage128', 'gauss:1,clip=10', { epsilon: 4123.6, ssim: 0.71 }),
    row('stage128', 'int8', { epsilon: null }),
  ],
};

describe('privacyStatement', () => {
  it('says what left the device and what a server could infer, in whole percent', () => {
    // Execute
    const s = privacyStatement('embedding', 'none', MEASURED);
    const text = s.join('\n');

    // Assert
    expect(s[0]).toBe(
      "What left this device: 128 numbers per face from the face network's final face description " +
        '(split embedding). No photo, no face crop.',
    );
    expect(text).toContain('named the right person among 50 people 88% of the time');
    expect(text).toContain(
      "88% of the time from one photo's numbers, and 96% once it put together the photos you gave one name",
    );
    expect(text).toContain('named them right 41% of the time from one photo, 52% per name.');
    expect(text).toContain('(blind guessing: 2%)');
    expect(text).toContain('is a blurred likeness of the face (similarity 0.41');
    expect(text).toContain('guessed right 92% of the time, against 74%');
    expect(text).toContain('age to within 7 years on average (11 by guessing');
    expect(text).toContain(
      'it picked yours 62% of the time by matching their numbers, and 57% from your model alone (50% is a coin toss)',
    );
    expect(text).toContain('names people right 93% of the time with these numbers.');
    expect(text).not.toMatch(/ε|%\d|\d\.\d{3}/); // no ε without one; no unrounded figures
    for (const line of s) expect(line.length).toBeLessThan(260);
  });

  it('names the noise, the accuracy price against no noise, and finds a row however its noise is spelt', () => {
    // Execute
    const s = privacyStatement('embedding', ' gauss:0.50 ', MEASURED);
    const text = s.join('\n');

    // Assert
    expect(s[0]).toContain(
      'with random noise of about 50% of their own size added on this device first (gauss:0.5)',
    );
    expect(text).toContain("31% of the time from one photo's numbers");
    expect(text).toContain('is no recognisable picture of the face');
    expect(text).toContain('it picked yours 50% of the time by matching');
    expect(text).toContain('names people right 88% of the time with these numbers (93% with no noise).');
  });

  it('states ε when the row has one, and says a large one promises little', () => {
    // Execute
    const clipped = privacyStatement('stage128', 'gauss:1,clip=10', MEASURED);
    const int8 = privacyStatement('stage128', 'int8', MEASURED);

    // Assert
    expect(clipped[0]).toContain('8,192 numbers per face from a middle layer');
    expect(clipped.at(-1)).toBe(
      'Formal guarantee: differential privacy with ε = 4124 per photo (δ = 1e-5); an ε this large ' +
        'promises little by itself: the measurements above say more.',
    );
    expect(clipped.join('\n')).toContain('is a recognisable likeness of the face');
    expect(int8[0]).toContain('rounded to 8-bit precision');
    expect(int8.join('\n')).not.toContain('ε');
    expect(int8.join('\n')).not.toContain('with no noise'); // no clean row at this split to compare
  });

  it('says plainly that a setting was not measured and names the command that measures it', () => {
    // Execute
    const other = privacyStatement('embedding', 'gauss:1', MEASURED);
    const empty = privacyStatement('stage32', 'none', { ...MEASURED, rows: [], victims: 0, measuredAt: '' });

    // Assert
    expect(other).toEqual([
      expect.stringContaining('What left this device: 128 numbers'),
      'What a server could infer from them has not been measured for this setting (split embedding, ' +
        'noise gauss:1); `npm run bench -- --only privacy` measures it.',
      'Measured at this split: noise none, gauss:0.5.',
    ]);
    expect(empty).toHaveLength(2);
    expect(empty[0]).toContain('39,200 numbers per face from an early layer');
    expect(empty[1]).toContain('has not been measured');
    expect(empty[1]).toContain('npm run bench -- --only privacy');
  });

  it('compares the rebuilt image with an average face when the floor was measured', () => {
    const withFloor = { ...MEASURED, ssimMeanFace: 0.4 };
    const near = privacyStatement('embedding', 'none', withFloor).join('\n');
    expect(near).toContain(
      'looks no more like the face than an average face does, to the eye (similarity 0.41',
    );
    expect(near).toContain('and an average face scores 0.40');
    const far = privacyStatement('stage128', 'gauss:1,clip=10', withFloor).join('\n');
    expect(far).toContain('is a recognisable likeness of the face');
  });

  it('names the clip when the noise is clipped, and leaves out attributes a run did not measure', () => {
    const clipped = privacyStatement('stage128', 'gauss:1,clip=10', MEASURED);
    expect(clipped[0]).toContain('(their size first capped at 10) of about 100% of that cap');
    const unlabelled = {
      ...MEASURED,
      rows: [row('embedding', 'none', { genderAccuracy: null as unknown as number, ageMae: Number.NaN })],
    };
    const text = privacyStatement('embedding', 'none', unlabelled).join('\n');
    expect(text).not.toContain('Gender');
    expect(text).toContain('Who is in the photo');
  });

  it('describes a split it has no words for by its name', () => {
    expect(privacyStatement('block7', 'none', MEASURED)[0]).toContain(
      'the numbers the face network computes at its block7 layer',
    );
  });
});

describe('findPrivacyRow', () => {
  it('matches on split and canonical noise only', () => {
    expect(canonicalNoise('gauss:1.0,clip=10.0')).toBe('gauss:1,clip=10');
    expect(canonicalNoise('float16')).toBe('float16');
    expect(findPrivacyRow('stage128', 'gauss:1.0,clip=10', MEASURED)?.epsilon).toBe(4123.6);
    expect(findPrivacyRow('embedding', 'int8', MEASURED)).toBeUndefined();
  });
});
