import { describe, expect, it } from 'vitest';
import { createRng } from './random.js';
import {
  applyFeatureNoise,
  applyKeyedFeatureNoise,
  keyedUniform,
  applyFeatureNoiseBatch,
  featureNoiseEpsilon,
  formatFeatureNoise,
  gaussianDelta,
  gaussianEpsilon,
  gaussianSource,
  logNormalCdf,
  parseFeatureNoise,
  secureUniform,
} from './feature-noise.js';

const norm = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));

describe('parseFeatureNoise', () => {
  it('reads none, relative and clipped noise, and round-trips', () => {
    expect(parseFeatureNoise('none')).toEqual({ kind: 'none' });
    expect(parseFeatureNoise('gauss:0.5')).toEqual({ kind: 'gaussian', ratio: 0.5 });
    expect(parseFeatureNoise('gauss:1,clip=40')).toEqual({ kind: 'gaussian', ratio: 1, clip: 40 });
    for (const s of ['none', 'gauss:0.25', 'gauss:2,clip=3.5'])
      expect(formatFeatureNoise(parseFeatureNoise(s))).toBe(s);
  });

  it('refuses what it cannot read, naming the value', () => {
    for (const s of [
      'gauss',
      'gauss:-1',
      'gauss:x',
      'gauss:1,clip=0',
      'gauss:1,clip=-2',
      'laplace:1',
      'gauss:1,clap=2',
    ])
      expect(() => parseFeatureNoise(s)).toThrow(/bad feature noise/);
  });
});

describe('applyFeatureNoise', () => {
  const x = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i) * 3);

  it('adds noise whose norm is the ratio times the signal norm, without changing the input', () => {
    const copy = Float32Array.from(x);
    const y = applyFeatureNoise(x, parseFeatureNoise('gauss:0.5'), gaussianSource(createRng(1)));
    expect(x).toEqual(copy);
    const diff = y.map((v, i) => v - x[i]);
    expect(norm(diff) / norm(x)).toBeGreaterThan(0.47);
    expect(norm(diff) / norm(x)).toBeLessThan(0.53);
  });

  it('clips to the norm first, then adds noise scaled to the clip', () => {
    const clip = norm(x) / 4;
    const y = applyFeatureNoise(x, { kind: 'gaussian', ratio: 0, clip }, gaussianSource(createRng(1)));
    expect(norm(y)).toBeCloseTo(clip, 2);
    const z = applyFeatureNoise(x, { kind: 'gaussian', ratio: 1, clip }, gaussianSource(createRng(2)));
    const diff = z.map((v, i) => v - y[i]);
    expect(norm(diff) / clip).toBeGreaterThan(0.94);
    expect(norm(diff) / clip).toBeLessThan(1.06);
  });

  it('is the same for the same seed, differs for another, and is unpredictable by default', () => {
    const noise = parseFeatureNoise('gauss:0.3');
    const a = applyFeatureNoise(x, noise, gaussianSource(createRng(7)));
    const b = applyFeatureNoise(x, noise, gaussianSource(createRng(7)));
    const c = applyFeatureNoise(x, noise, gaussianSource(createRng(8)));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(applyFeatureNoise(x, noise)).not.toEqual(applyFeatureNoise(x, noise));
  });

  it('noises each sample of a batch by its own norm; none copies', () => {
    const two = new Float32Array(8);
    two.set([1, 0, 0, 0], 0);
    two.set([100, 0, 0, 0], 4);
    const y = applyFeatureNoiseBatch(two, 4, parseFeatureNoise('gauss:0.1'), gaussianSource(createRng(3)));
    expect(Math.abs(y[1])).toBeLessThan(0.5);
    expect(Math.abs(y[5])).toBeGreaterThan(Math.abs(y[1]));
    const same = applyFeatureNoiseBatch(two, 4, parseFeatureNoise('none'));
    expect(same).toEqual(two);
    expect(same).not.toBe(two);
  });

  it('draws uniform floats in (0, 1) from the CSPRNG', () => {
    const u = secureUniform();
    const draws = Array.from({ length: 2000 }, u);
    expect(Math.min(...draws)).toBeGreaterThan(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const mean = draws.reduce((s, v) => s + v, 0) / draws.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
  });
});

describe('the Gaussian mechanism guarantee', () => {
  it('computes ln Φ to 1e-6 relative, deep into the tail', () => {
    expect(Math.exp(logNormalCdf(1))).toBeCloseTo(0.8413447460685429, 6);
    expect(Math.exp(logNormalCdf(-5)) / 2.866515718791939e-7).toBeCloseTo(1, 5);
    expect(logNormalCdf(-40)).toBeLessThan(-800); // no underflow to -Infinity
    expect(Number.isFinite(logNormalCdf(-40))).toBe(true);
  });

  it('is no looser than the classical bound σ = Δ·√(2 ln(1.25/δ))/ε, and exact at its own ε', () => {
    const delta = 1e-5;
    for (const eps0 of [0.1, 0.5, 0.9]) {
      const sigma = (1 * Math.sqrt(2 * Math.log(1.25 / delta))) / eps0;
      const eps = gaussianEpsilon(1, sigma, delta);
      expect(eps).toBeLessThanOrEqual(eps0);
      expect(eps).toBeGreaterThan(eps0 / 2);
      expect(gaussianDelta(1, sigma, eps)).toBeLessThanOrEqual(delta * (1 + 1e-6));
      expect(gaussianDelta(1, sigma, eps * 0.99)).toBeGreaterThan(delta);
    }
  });

  it('grows as the noise shrinks, and is infinite without clipping or noise', () => {
    const eps = [4, 2, 1, 0.5].map((s) => gaussianEpsilon(1, s, 1e-5));
    for (let i = 1; i < eps.length; i++) expect(eps[i]).toBeGreaterThan(eps[i - 1]);
    expect(featureNoiseEpsilon(parseFeatureNoise('gauss:1'), 128)).toBe(Number.POSITIVE_INFINITY);
    expect(featureNoiseEpsilon(parseFeatureNoise('none'), 128)).toBe(Number.POSITIVE_INFINITY);
    // A 128-d vector with noise as large as the clip: Δ/σ = 2√128 ≈ 22.6, so ε is large.
    const e = featureNoiseEpsilon(parseFeatureNoise('gauss:1,clip=1'), 128);
    expect(e).toBeGreaterThan(50);
    expect(e).toBeLessThan(1000);
  });
});

describe('keyed noise (what the device draws)', () => {
  const secret = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const other = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const x = Float32Array.from({ length: 1001 }, (_, i) => Math.cos(i / 3) * 2);

  it('is the same for the same photo and secret, independent for another photo or secret', async () => {
    const noise = parseFeatureNoise('gauss:0.5');
    const a = await applyKeyedFeatureNoise(x, noise, secret);
    expect(await applyKeyedFeatureNoise(x, noise, secret)).toEqual(a);
    const b = await applyKeyedFeatureNoise(x, noise, other);
    expect(b).not.toEqual(a);
    const y = x.map((v, i) => (i === 0 ? v + 1e-3 : v));
    const c = await applyKeyedFeatureNoise(y, noise, secret);
    // One value changed: the whole noise vector is new (not just one coordinate).
    const da = a.map((v, i) => v - x[i]);
    const dc = c.map((v, i) => v - y[i]);
    expect(dc.slice(1)).not.toEqual(da.slice(1));
    const ratio = norm(da) / norm(x);
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.55);
  });

  it('gives uniform floats in (0, 1) with the right mean, and refuses a short secret', async () => {
    const u = await keyedUniform(secret, new Uint8Array([1, 2, 3]), 4000);
    const draws = Array.from({ length: 4000 }, u);
    expect(Math.min(...draws)).toBeGreaterThan(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    expect(Math.abs(draws.reduce((s, v) => s + v, 0) / draws.length - 0.5)).toBeLessThan(0.02);
    expect(() => u()).toThrow(/ran out/);
    await expect(keyedUniform(new Uint8Array(8), new Uint8Array(1), 1)).rejects.toThrow(/at least 16 bytes/);
  });
});
