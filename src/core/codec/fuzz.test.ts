/**
 * Property-based fuzzing of the wire codec with fast-check (fixed seed, reproducible).
 *
 * Totality: for arbitrary bytes, truncations and bit flips of valid messages, and hand-built
 * messages with NaN values or wrong shapes, `decodeFeatureBatch` / `decodeWeights` either return a
 * value that keeps its contract or throw a CodecError (code `CODEC_*`), never anything else.
 * Round trips: encode → decode of arbitrary valid batches / weights is exact in float32 and within
 * the documented precision in float16 and int8.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CodecError } from '../errors.js';
import type { FeatureBatch, WireDtype } from '../types.js';
import { decodeFeatureBatch, encodeFeatureBatch } from './feature-batch.js';
import { decodeWeights, encodeWeights, type WeightsMessage } from './weights.js';
import {
  featureBatchProblem,
  float32Payload,
  rawFeatureBatch,
  reseal,
  sampleBatch,
  weightsProblem,
} from './test-support.js';

const SEED = 0x5eed_f00d;
const RUNS = 1500;
let cases = 0;

afterAll(() => {
  console.info(`codec fuzz: ${cases} generated cases (seed ${SEED})`);
});

const DTYPES: WireDtype[] = ['float32', 'float16', 'int8'];

type Outcome = { ok: true; problem: string | undefined } | { ok: false; code: string };

/** Decodes and classifies; any exception other than a CodecError is rethrown (fails the property). */
function attempt<T>(
  decode: (b: Uint8Array) => T,
  problem: (v: T) => string | undefined,
  bytes: Uint8Array,
): Outcome {
  cases++;
  try {
    return { ok: true, problem: problem(decode(bytes)) };
  } catch (e) {
    if (e instanceof CodecError && e.code.startsWith('CODEC_')) return { ok: false, code: e.code };
    throw e;
  }
}

/** Holds when the outcome is a well-formed value or a CodecError. */
function total(o: Outcome): boolean {
  return o.ok ? o.problem === undefined : o.code.startsWith('CODEC_');
}

const decodeFB = (b: Uint8Array): Outcome => attempt(decodeFeatureBatch, featureBatchProblem, b);
const decodeW = (b: Uint8Array): Outcome => attempt(decodeWeights, weightsProblem, b);
const decodeEither = (b: Uint8Array): boolean => total(decodeFB(b)) && total(decodeW(b));

// ---- arbitraries --------------------------------------------------------------------------

const dtypeArb = fc.constantFrom<WireDtype>(...DTYPES);
const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 });
const finite32 = (max: number) =>
  fc
    .float({ min: Math.fround(-max), max: Math.fround(max), noNaN: true, noDefaultInfinity: true })
    .map((x) => Math.fround(x));

/** Arbitrary valid feature batches (encodable in every dtype: |values| <= 60000 for float16). */
const batchArb: fc.Arbitrary<FeatureBatch> = fc
  .record({
    shape: shapeArb,
    ids: fc.uniqueArray(fc.string({ maxLength: 12 }), { minLength: 0, maxLength: 6 }),
    names: fc.option(fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 4 }), {
      nil: undefined,
    }),
    backboneId: fc.string({ maxLength: 16 }),
    split: fc.constantFrom('embedding', 'conv4', ''),
    scale: fc.constantFrom(1e-3, 1, 100, 60000),
  })
  .chain(({ shape, ids, names, backboneId, split, scale }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const labelMax = names ? names.length - 1 : 1000;
    return fc
      .record({
        labels: fc.array(fc.integer({ min: -1, max: labelMax }), {
          minLength: ids.length,
          maxLength: ids.length,
        }),
        values: fc.array(finite32(scale), { minLength: ids.length * size, maxLength: ids.length * size }),
      })
      .map(({ labels, values }) => {
        const batch: FeatureBatch = {
          spec: { backboneId, backboneVersion: '1', split, shape },
          sampleIds: ids,
          labels: Int32Array.from(labels),
          features: Float32Array.from(values),
        };
        if (names) batch.labelNames = names;
        return batch;
      });
  });

const weightsArb: fc.Arbitrary<WeightsMessage> = fc
  .record({
    names: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 10 }), { minLength: 0, maxLength: 4 }),
    metadata: fc.dictionary(
      fc.string({ maxLength: 8 }),
      fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.boolean()),
    ),
    scale: fc.constantFrom(1e-3, 1, 100, 60000),
  })
  .chain(({ names, metadata, scale }) =>
    fc
      .tuple(
        ...names.map((name) =>
          shapeArb.chain((shape) => {
            const size = shape.reduce((a, b) => a * b, 1);
            return fc
              .array(finite32(scale), { minLength: size, maxLength: size })
              .map((v) => ({ name, shape, values: Float32Array.from(v) }));
          }),
        ),
      )
      .map((tensors) => ({ metadata, tensors })),
  );

/** A valid message of either kind, in any dtype. */
const validMessageArb = fc.oneof(
  fc.tuple(batchArb, dtypeArb).map(([b, dtype]) => encodeFeatureBatch(b, { dtype })),
  fc.tuple(weightsArb, dtypeArb).map(([w, dtype]) => encodeWeights(w, { dtype })),
);

function tolerance(dtype: WireDtype, maxAbs: number, x: number): number {
  if (dtype === 'float32') return 0;
  if (dtype === 'float16') return Math.max(Math.abs(x) * 2 ** -11, 2 ** -25);
  // int8: half a step of the scale (maxAbs / 127) plus float32 rounding; when maxAbs is so small
  // that the float32 scale itself is subnormal, the step is limited by subnormal spacing (2^-149).
  return maxAbs / 254 + Math.abs(x) * 2 ** -23 + (maxAbs < 2 ** -100 ? maxAbs : 0);
}

function withinTolerance(dtype: WireDtype, before: Float32Array, after: Float32Array): boolean {
  if (before.length !== after.length) return false;
  const maxAbs = before.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (let i = 0; i < before.length; i++) {
    if (Math.abs(before[i] - after[i]) > tolerance(dtype, maxAbs, before[i])) return false;
  }
  return true;
}

const params = (numRuns = RUNS): fc.Parameters<unknown> => ({ seed: SEED, numRuns });

// ---- properties ---------------------------------------------------------------------------

describe('codec fuzz: decoding is total', () => {
  it('arbitrary bytes decode to a valid value or throw a CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (b) => decodeEither(b)),
      params(5000),
    );
  });

  it('arbitrary bytes behind a valid magic/version prefix, resealed, are handled', () => {
    const prefixArb = fc.tuple(
      fc.constantFrom('FXFB', 'FXWT'),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 3 }),
      fc.uint8Array({ minLength: 8, maxLength: 200 }),
    );
    fc.assert(
      fc.property(prefixArb, ([magic, version, dtype, flags, rest]) => {
        const b = new Uint8Array(8 + rest.length);
        b.set(new TextEncoder().encode(magic), 0);
        b[4] = version;
        b[6] = dtype;
        b[7] = flags;
        b.set(rest, 8);
        return decodeEither(b) && decodeEither(reseal(b.slice()));
      }),
      params(),
    );
  });

  it('every truncation of a valid message throws a CodecError', () => {
    fc.assert(
      fc.property(validMessageArb, fc.nat(), (msg, cut) => {
        const len = cut % msg.length; // strictly shorter
        const o1 = decodeFB(msg.subarray(0, len));
        const o2 = decodeW(msg.subarray(0, len));
        return !o1.ok && !o2.ok;
      }),
      params(),
    );
  });

  it('bit flips of a valid message are rejected or decode to a valid value (also when resealed)', () => {
    fc.assert(
      fc.property(
        validMessageArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (msg, flips, resealIt) => {
          const b = msg.slice();
          for (const [at, bit] of flips) b[at % b.length] ^= 1 << bit;
          const mutated = resealIt ? reseal(b) : b;
          const fb = decodeFB(mutated);
          const w = decodeW(mutated);
          // Without resealing, the CRC must catch any flip: nothing decodes.
          if (!resealIt && (fb.ok || w.ok)) return false;
          return total(fb) && total(w);
        },
      ),
      params(),
    );
  });

  it('trailing or spliced bytes after a valid message are rejected', () => {
    fc.assert(
      fc.property(validMessageArb, fc.uint8Array({ minLength: 1, maxLength: 32 }), (msg, extra) => {
        const b = new Uint8Array(msg.length + extra.length);
        b.set(msg);
        b.set(extra, msg.length);
        return total(decodeFB(b)) && total(decodeW(b)) && !decodeFB(b).ok && !decodeW(b).ok;
      }),
      params(),
    );
  });

  it('hand-built messages with NaN/Infinity values or wrong shapes are rejected with a CodecError', () => {
    const bad = fc.constantFrom(NaN, Infinity, -Infinity);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 4 }),
        fc.integer({ min: -3, max: 3 }),
        fc.option(bad, { nil: undefined }),
        fc.nat(),
        (n, shape, countDelta, badValue, badAt) => {
          const size = shape.reduce((a, b) => a * b, 1);
          const count = Math.max(0, n * size + countDelta);
          const values = Array.from({ length: count }, (_, i) => i / 7);
          if (badValue !== undefined && count > 0) values[badAt % count] = badValue;
          const bytes = rawFeatureBatch({
            shape,
            sampleIds: Array.from({ length: n }, (_, i) => `s${i}`),
            labels: Array.from({ length: n }, () => -1),
            payload: float32Payload(values),
          });
          const o = decodeFB(bytes);
          // A rank-0 shape ([]) is a scalar per sample, which the format allows.
          const wellShaped = shape.every((d) => d >= 1) && countDelta === 0;
          const mustReject = !wellShaped || (badValue !== undefined && count > 0);
          if (mustReject && o.ok) return false;
          return total(o);
        },
      ),
      params(),
    );
  });
});

describe('codec fuzz: round trips', () => {
  it('feature batches round-trip (float32 exact, float16/int8 within tolerance)', () => {
    fc.assert(
      fc.property(batchArb, dtypeArb, (batch, dtype) => {
        cases++;
        const d = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype }));
        expect(featureBatchProblem(d)).toBeUndefined();
        expect(d.spec).toEqual(batch.spec);
        expect(d.sampleIds).toEqual(batch.sampleIds);
        expect(Array.from(d.labels)).toEqual(Array.from(batch.labels));
        expect(d.labelNames).toEqual(batch.labelNames);
        const size = batch.spec.shape.reduce((a, b) => a * b, 1);
        for (let s = 0; s < batch.sampleIds.length; s++) {
          const before = batch.features.subarray(s * size, (s + 1) * size);
          const after = d.features.subarray(s * size, (s + 1) * size);
          if (!withinTolerance(dtype, before, after)) return false;
        }
        return true;
      }),
      params(),
    );
  });

  it('weights round-trip (float32 exact, float16/int8 within tolerance)', () => {
    fc.assert(
      fc.property(weightsArb, dtypeArb, (w, dtype) => {
        cases++;
        const d = decodeWeights(encodeWeights(w, { dtype }));
        expect(weightsProblem(d)).toBeUndefined();
        expect(d.metadata).toEqual(w.metadata);
        expect(d.tensors.map((t) => [t.name, t.shape])).toEqual(w.tensors.map((t) => [t.name, t.shape]));
        return w.tensors.every((t, i) => withinTolerance(dtype, t.values, d.tensors[i].values));
      }),
      params(),
    );
  });

  it('a larger seeded batch still round-trips in every dtype (sanity anchor)', () => {
    const batch = sampleBatch(3, 30, [16], { labelNames: ['a', 'b'] });
    for (const dtype of DTYPES) {
      cases++;
      const d = decodeFeatureBatch(encodeFeatureBatch(batch, { dtype }));
      expect(featureBatchProblem(d)).toBeUndefined();
    }
  });
});
