/**
 * Feature noise: the device-side defence against a curious server (`--feature-noise`). Each
 * uploaded feature vector is clipped to an L2 norm and Gaussian noise is added to it on the device,
 * before it is encoded, so the server never sees the clean vector. Pure math, platform-neutral.
 *
 * Spec strings (what the CLI flag and the SDK option take):
 *   none                  no noise (the default)
 *   gauss:R               relative noise: per-coordinate σ = R·‖x‖/√d, so the noise vector's norm is
 *                         about R times the feature's own norm; no clipping, no formal guarantee
 *   gauss:R,clip=C        clipped: x is scaled down to ‖x‖ ≤ C, then σ = R·C/√d; every sample's
 *                         release is (ε, δ)-differentially private with ε from {@link gaussianEpsilon}
 *                         (sensitivity 2C: any two clipped vectors differ by at most 2C)
 *
 * The honest reading of ε: the guarantee is per photo, for the whole feature vector, and a feature
 * map has thousands of coordinates; at noise a model can still learn from, ε is in the hundreds or
 * more, i.e. no meaningful formal protection. The privacy bench (`npm run bench -- --only
 * privacy`) measures what the noise buys against real attacks instead.
 *
 * Randomness: on a device the noise must be unpredictable and must not be drawn afresh for a photo
 * sent again (a server could average the copies). The device keys it ({@link applyKeyedFeatureNoise}:
 * HMAC of the clean features under a secret that never leaves the device, expanded by AES-CTR);
 * where WebCrypto is missing it falls back to the platform's CSPRNG (`crypto.getRandomValues`). A
 * seeded source is for benches and tests only.
 */
import { FedexError } from './errors.js';

/** Parsed `--feature-noise`. */
export type FeatureNoise =
  | { kind: 'none' }
  | {
      kind: 'gaussian';
      /** Noise norm relative to the signal norm (or to `clip`). */
      ratio: number;
      /** L2 clipping norm; absent for relative noise. */
      clip?: number;
    };

export const NO_NOISE: FeatureNoise = { kind: 'none' };

/** Uniform floats in [0, 1). */
export type UniformSource = () => number;

/** Parses a `--feature-noise` value; FedexError BAD_ARGUMENT naming the problem otherwise. */
export function parseFeatureNoise(spec: string): FeatureNoise {
  const s = spec.trim();
  if (s === '' || s === 'none') return NO_NOISE;
  const m = /^gauss:([^,]+)(?:,clip=(.+))?$/.exec(s);
  const bad = (why: string) =>
    new FedexError(
      'BAD_ARGUMENT',
      `bad feature noise "${spec}": ${why} (expected none, gauss:R or gauss:R,clip=C with R ≥ 0 and C > 0)`,
    );
  if (!m) throw bad('unknown form');
  const ratio = Number(m[1]);
  if (!Number.isFinite(ratio) || ratio < 0) throw bad(`ratio "${m[1]}" is not a number ≥ 0`);
  if (m[2] === undefined) return { kind: 'gaussian', ratio };
  const clip = Number(m[2]);
  if (!Number.isFinite(clip) || clip <= 0) throw bad(`clip "${m[2]}" is not a number > 0`);
  return { kind: 'gaussian', ratio, clip };
}

/** The spec string of a parsed noise (round-trips through {@link parseFeatureNoise}). */
export function formatFeatureNoise(noise: FeatureNoise): string {
  if (noise.kind === 'none') return 'none';
  return noise.clip === undefined ? `gauss:${noise.ratio}` : `gauss:${noise.ratio},clip=${noise.clip}`;
}

/** The platform's CSPRNG as uniform floats in (0, 1) (53-bit, never exactly 0). */
export function secureUniform(): UniformSource {
  const c = globalThis.crypto;
  if (!c?.getRandomValues) {
    throw new FedexError('BAD_ARGUMENT', 'feature noise needs crypto.getRandomValues on this platform');
  }
  const buf = new Uint32Array(256);
  let at = buf.length;
  return () => {
    if (at + 2 > buf.length) {
      c.getRandomValues(buf);
      at = 0;
    }
    const hi = buf[at++] >>> 5; // 27 bits
    const lo = buf[at++] >>> 6; // 26 bits
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  };
}

/** Uniform floats in (0, 1) from 8 bytes each (53 bits, never exactly 0). */
function uniformsFromBytes(bytes: Uint8Array): UniformSource {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  return () => {
    if (at + 8 > bytes.byteLength) throw new FedexError('BAD_ARGUMENT', 'keyed noise: the keystream ran out');
    const hi = view.getUint32(at) >>> 5; // 27 bits
    const lo = view.getUint32(at + 4) >>> 6; // 26 bits
    at += 8;
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  };
}

/** Whether keyed noise can run here (WebCrypto: Node, and browsers in a secure context). */
export function keyedNoiseAvailable(): boolean {
  return typeof globalThis.crypto?.subtle?.importKey === 'function';
}

/**
 * `count` uniform floats that are a function of (`secret`, `message`) and unpredictable without
 * the secret: HMAC-SHA-256(secret, message) keys AES-256-CTR, whose keystream (encrypting zeros)
 * gives 8 bytes per float. The device keys its noise this way with a secret that never leaves it
 * and the photo's clean features as the message: the same photo added twice gets the same noise,
 * so a server cannot average copies to undo it, and a server without the secret cannot predict it.
 */
export async function keyedUniform(
  secret: Uint8Array,
  message: Uint8Array,
  count: number,
): Promise<UniformSource> {
  if (!keyedNoiseAvailable()) {
    throw new FedexError(
      'BAD_ARGUMENT',
      'keyed feature noise needs WebCrypto (crypto.subtle) on this platform',
    );
  }
  if (secret.byteLength < 16)
    throw new FedexError('BAD_ARGUMENT', 'keyed noise: the secret needs at least 16 bytes');
  const subtle = globalThis.crypto.subtle;
  const hmac = await subtle.importKey(
    'raw',
    Uint8Array.from(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const seed = new Uint8Array(await subtle.sign('HMAC', hmac, Uint8Array.from(message)));
  const aes = await subtle.importKey('raw', seed, { name: 'AES-CTR' }, false, ['encrypt']);
  const stream = new Uint8Array(
    await subtle.encrypt(
      { name: 'AES-CTR', counter: new Uint8Array(16), length: 64 },
      aes,
      new Uint8Array(count * 8),
    ),
  );
  return uniformsFromBytes(stream);
}

/**
 * {@link applyFeatureNoise} with noise keyed to (`secret`, the clean features): deterministic for
 * the same photo on the same device, independent across photos and devices.
 */
export async function applyKeyedFeatureNoise(
  x: Float32Array,
  noise: FeatureNoise,
  secret: Uint8Array,
): Promise<Float32Array> {
  if (noise.kind === 'none') return Float32Array.from(x);
  const message = new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  // Box-Muller takes two uniforms per pair of normals.
  const uniform = await keyedUniform(secret, message, x.length + (x.length % 2));
  return applyFeatureNoise(x, noise, gaussianSource(uniform));
}

/** Standard normal draws (Box-Muller) from a uniform source. */
export function gaussianSource(uniform: UniformSource): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = Math.max(uniform(), Number.MIN_VALUE);
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/**
 * One feature vector with the noise applied (a new array; `x` is not changed). `normal` gives
 * standard normal draws ({@link gaussianSource}); the CSPRNG when absent.
 */
export function applyFeatureNoise(
  x: Float32Array,
  noise: FeatureNoise,
  normal: () => number = gaussianSource(secureUniform()),
): Float32Array {
  if (noise.kind === 'none') return Float32Array.from(x);
  const d = x.length;
  let norm = 0;
  for (let i = 0; i < d; i++) norm += x[i] * x[i];
  norm = Math.sqrt(norm);
  const scale = noise.clip !== undefined && norm > noise.clip ? noise.clip / norm : 1;
  const sigma = (noise.ratio * (noise.clip ?? norm)) / Math.sqrt(Math.max(1, d));
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) out[i] = x[i] * scale + (sigma > 0 ? sigma * normal() : 0);
  return out;
}

/** Noise applied to each of `n` samples of `dim` values laid out one after another. */
export function applyFeatureNoiseBatch(
  features: Float32Array,
  dim: number,
  noise: FeatureNoise,
  normal: () => number = gaussianSource(secureUniform()),
): Float32Array {
  if (noise.kind === 'none') return Float32Array.from(features);
  const out = new Float32Array(features.length);
  for (let o = 0; o + dim <= features.length; o += dim) {
    out.set(applyFeatureNoise(features.subarray(o, o + dim), noise, normal), o);
  }
  return out;
}

// ---- the guarantee -----------------------------------------------------------------------------

/**
 * ln erfc(x) for x ≥ 0, in log space so it never underflows (Numerical Recipes' `erfcc`
 * Chebyshev fit, fractional error below 1.2e-7 everywhere).
 */
function logErfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t *
                      (0.27886807 +
                        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(t) - x * x + poly;
}

/** ln Φ(z), the standard normal CDF, accurate deep in the lower tail. */
export function logNormalCdf(z: number): number {
  if (z < 0) return Math.log(0.5) + logErfc(-z / Math.SQRT2);
  return Math.log1p(-0.5 * Math.exp(logErfc(z / Math.SQRT2)));
}

/**
 * δ of the Gaussian mechanism with L2 sensitivity `sensitivity` and noise σ at a given ε, by the
 * exact condition of Balle & Wang (ICML 2018, "Improving the Gaussian mechanism for differential
 * privacy", Theorem 8): δ(ε) = Φ(Δ/2σ − εσ/Δ) − e^ε Φ(−Δ/2σ − εσ/Δ).
 */
export function gaussianDelta(sensitivity: number, sigma: number, epsilon: number): number {
  const a = sensitivity / (2 * sigma);
  const b = (epsilon * sigma) / sensitivity;
  const first = Math.exp(logNormalCdf(a - b));
  const second = Math.exp(epsilon + logNormalCdf(-a - b));
  return Math.max(0, first - second);
}

/**
 * The smallest ε for which the Gaussian mechanism (sensitivity Δ, noise σ) is (ε, δ)-DP, by
 * bisection on {@link gaussianDelta} (decreasing in ε). Infinity for σ = 0.
 */
export function gaussianEpsilon(sensitivity: number, sigma: number, delta: number): number {
  if (!(sensitivity > 0) || !(delta > 0 && delta < 1)) {
    throw new FedexError('BAD_ARGUMENT', 'gaussianEpsilon: sensitivity must be > 0 and δ in (0, 1)');
  }
  if (!(sigma > 0)) return Number.POSITIVE_INFINITY;
  if (gaussianDelta(sensitivity, sigma, 0) <= delta) return 0;
  let hi = 1;
  while (gaussianDelta(sensitivity, sigma, hi) > delta) {
    hi *= 2;
    if (hi > 1e12) return Number.POSITIVE_INFINITY;
  }
  let lo = 0;
  for (let i = 0; i < 100 && hi - lo > 1e-9 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (gaussianDelta(sensitivity, sigma, mid) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * ε (at δ) of one sample's release under `noise` for a `dim`-dimensional feature: Infinity without
 * clipping (relative noise scales with the signal, so there is no bound) or without noise.
 */
export function featureNoiseEpsilon(noise: FeatureNoise, dim: number, delta = 1e-5): number {
  if (noise.kind === 'none' || noise.clip === undefined || noise.ratio === 0) return Number.POSITIVE_INFINITY;
  const sigma = (noise.ratio * noise.clip) / Math.sqrt(Math.max(1, dim));
  return gaussianEpsilon(2 * noise.clip, sigma, delta);
}
