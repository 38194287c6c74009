import { describe, expect, it } from 'vitest';
import { FedexError } from '../core/errors.js';
import { createRng } from '../core/random.js';
import {
  applyMaskTranslation,
  fitMaskTranslation,
  fitMaskTranslationCv,
  maskTranslationToFile,
  parseMaskTranslationFile,
  translationError,
} from './mask-translate.js';

describe('fitMaskTranslation', () => {
  it('recovers an exact 1-d line by hand: masked = 2·plain + 1', () => {
    const t = fitMaskTranslation(Float32Array.of(0, 1, 2), Float32Array.of(1, 3, 5), 1, { ridge: 0 });
    expect(t.matrix[0]).toBeCloseTo(2, 10);
    expect(t.bias[0]).toBeCloseTo(1, 10);
    expect(Array.from(applyMaskTranslation(t, Float32Array.of(10)))).toEqual([21]);
  });

  it('shrinks the slope by the hand-worked ridge and leaves the bias unpenalised', () => {
    // x = (-1, 1), y = (-2, 2): centred, so b = 0 and a = Σxy / (Σx² + λn) = 4 / (2 + 1·2) = 1.
    const t = fitMaskTranslation(Float32Array.of(-1, 1), Float32Array.of(-2, 2), 1, { ridge: 1 });
    expect(t.matrix[0]).toBeCloseTo(1, 10);
    expect(t.bias[0]).toBeCloseTo(0, 10);
    // Shifted by 5 in y: the bias takes the shift whole (not shrunk).
    const s = fitMaskTranslation(Float32Array.of(-1, 1), Float32Array.of(3, 7), 1, { ridge: 1 });
    expect(s.bias[0]).toBeCloseTo(5, 10);
  });

  it('recovers a random 6-d affine map from noisy pairs', () => {
    const rng = createRng(3);
    const dim = 6;
    const a = Array.from({ length: dim * dim }, () => rng() * 2 - 1);
    const b = Array.from({ length: dim }, () => rng() * 2 - 1);
    const n = 400;
    const x = Float32Array.from({ length: n * dim }, () => rng() * 2 - 1);
    const y = new Float32Array(n * dim);
    for (let i = 0; i < n; i++)
      for (let o = 0; o < dim; o++) {
        let acc = b[o];
        for (let d = 0; d < dim; d++) acc += a[o * dim + d] * x[i * dim + d];
        y[i * dim + o] = acc + (rng() - 0.5) * 0.01;
      }
    const t = fitMaskTranslation(x, y, dim, { ridge: 0 });
    for (let i = 0; i < dim * dim; i++) expect(t.matrix[i]).toBeCloseTo(a[i], 2);
    for (let o = 0; o < dim; o++) expect(t.bias[o]).toBeCloseTo(b[o], 2);
    expect(translationError(t, x, y)).toBeLessThan(1e-4 * dim);
  });

  it('refuses pairs that are not the same photos, and a bad ridge', () => {
    expect(() => fitMaskTranslation(new Float32Array(4), new Float32Array(6), 2)).toThrow(/differ in length/);
    expect(() => fitMaskTranslation(new Float32Array(5), new Float32Array(5), 2)).toThrow(/not rows of 2/);
    expect(() => fitMaskTranslation(new Float32Array(2), new Float32Array(2), 2)).toThrow(/at least 2/);
    expect(() => fitMaskTranslation(new Float32Array(4), new Float32Array(4), 2, { ridge: -1 })).toThrow(
      FedexError,
    );
  });
});

describe('fitMaskTranslationCv', () => {
  it('picks a heavy ridge when the target is noise and a light one when it is a clean map', () => {
    const rng = createRng(9);
    const dim = 4;
    const n = 60;
    const groups = Array.from({ length: n }, (_, i) => i % 10);
    const x = Float32Array.from({ length: n * dim }, () => rng() * 2 - 1);
    const noise = Float32Array.from({ length: n * dim }, () => rng() * 2 - 1);
    const ridges = [1e-4, 10];
    const onNoise = fitMaskTranslationCv(x, noise, dim, groups, { ridges });
    expect(onNoise.translation.ridge).toBe(10);
    const clean = x.map((v) => 3 * v);
    const onClean = fitMaskTranslationCv(x, clean, dim, groups, { ridges });
    expect(onClean.translation.ridge).toBe(1e-4);
    expect(onClean.heldOut.get(1e-4)!).toBeLessThan(onClean.heldOut.get(10)!);
  });

  it('needs as many people as folds', () => {
    expect(() =>
      fitMaskTranslationCv(new Float32Array(8), new Float32Array(8), 2, [0, 0, 1, 1], { folds: 5 }),
    ).toThrow(/at least 5 people/);
  });
});

describe('mask translation files', () => {
  const t = fitMaskTranslation(
    Float32Array.of(0, 0, 1, 0, 0, 1, 1, 1),
    Float32Array.of(1, 0, 2, 0, 1, 1, 2, 1),
    2,
    {
      ridge: 0,
    },
  );

  it('round-trips through JSON', () => {
    const file = JSON.parse(
      JSON.stringify(maskTranslationToFile(t, 'net@1/embedding', { people: 2, photos: 4 })),
    );
    const back = parseMaskTranslationFile(file);
    expect(back.specKey).toBe('net@1/embedding');
    expect(back.translation).toEqual(t);
    expect(file.fittedOn).toEqual({ people: 2, photos: 4 });
  });

  it('names what is wrong in a bad file', () => {
    const good = maskTranslationToFile(t, 'net@1/embedding');
    const cases: Array<[unknown, RegExp]> = [
      [null, /not a JSON object/],
      [{ ...good, format: 'x' }, /format/],
      [{ ...good, version: 2 }, /version 2/],
      [{ ...good, specKey: '' }, /specKey/],
      [{ ...good, dim: 0 }, /dim/],
      [{ ...good, matrix: [1, 2, 3] }, /matrix must be an array of 4/],
      [{ ...good, bias: [1, 'x'] }, /bias holds a value/],
      [{ ...good, ridge: -1 }, /ridge/],
    ];
    for (const [value, message] of cases) expect(() => parseMaskTranslationFile(value)).toThrow(message);
  });
});
