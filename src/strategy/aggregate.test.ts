import { describe, expect, it } from 'vitest';
import { clipToNorm, l2Distance, validateUpdate, weightedMean } from './aggregate.js';
import type { Weights } from './types.js';

const w = (...values: number[]): Weights => [
  { name: 'w', shape: [values.length], values: Float32Array.from(values) },
];
const two = (a: number[], b: number[]): Weights => [
  { name: 'kernel', shape: [a.length], values: Float32Array.from(a) },
  { name: 'bias', shape: [b.length], values: Float32Array.from(b) },
];

describe('weightedMean', () => {
  it('weights each client by its example count, not equally', () => {
    // Prepare: 1 example says 1, 3 examples say 5.
    const updates = [
      { weights: w(1, 10), numExamples: 1 },
      { weights: w(5, 2), numExamples: 3 },
    ];
    // Execute
    const mean = weightedMean(updates);
    // Assert: (1·1 + 3·5)/4 = 4 and (1·10 + 3·2)/4 = 4; the unweighted mean would be 3 and 6.
    expect(Array.from(mean[0].values)).toEqual([4, 4]);
    expect(Array.from(mean[0].values)).not.toEqual([3, 6]);
  });

  it('averages every tensor and keeps names and shapes', () => {
    const mean = weightedMean([
      { weights: two([0, 4], [2]), numExamples: 2 },
      { weights: two([3, 1], [-1]), numExamples: 1 },
      { weights: two([6, 1], [8]), numExamples: 1 },
    ]);
    // kernel: (2·0 + 3 + 6)/4 = 2.25, (2·4 + 1 + 1)/4 = 2.5; bias: (2·2 − 1 + 8)/4 = 2.75
    expect(mean.map((t) => t.name)).toEqual(['kernel', 'bias']);
    expect(Array.from(mean[0].values)).toEqual([2.25, 2.5]);
    expect(Array.from(mean[1].values)).toEqual([2.75]);
  });

  it('refuses an empty list and mismatched tensors', () => {
    expect(() => weightedMean([])).toThrow();
    expect(() =>
      weightedMean([
        { weights: w(1, 2), numExamples: 1 },
        { weights: w(1), numExamples: 1 },
      ]),
    ).toThrow();
  });
});

describe('l2Distance and clipToNorm', () => {
  it('measures the distance over all tensors', () => {
    expect(l2Distance(two([3, 0], [0]), two([0, 0], [4]))).toBeCloseTo(5);
  });

  it('moves an update outside the ball onto its surface, towards the global weights', () => {
    const global = w(1, 1);
    const clipped = clipToNorm(w(4, 5), global, 2.5); // distance 5, halved
    expect(Array.from(clipped[0].values)).toEqual([2.5, 3]);
    expect(l2Distance(clipped, global)).toBeCloseTo(2.5);
  });

  it('leaves an update inside the ball, or with clipping off, untouched', () => {
    const u = w(1, 2);
    expect(clipToNorm(u, w(1, 1), 2)).toBe(u);
    expect(clipToNorm(w(100), w(0), 0)[0].values[0]).toBe(100);
  });
});

describe('validateUpdate', () => {
  const global = two([0, 0], [0]);
  const ok = { rejectNorm: 10 };
  it('accepts a sound update', () => {
    expect(validateUpdate({ weights: two([1, 1], [1]), numExamples: 3 }, global, ok)).toBeNull();
  });
  it.each([
    ['NaN', { weights: two([Number.NaN, 0], [0]), numExamples: 1 }, /non-finite/],
    ['Infinity', { weights: two([0, 0], [Number.POSITIVE_INFINITY]), numExamples: 1 }, /non-finite/],
    ['a missing tensor', { weights: two([0, 0], [0]).slice(0, 1), numExamples: 1 }, /expected 2 tensors/],
    ['a wrong shape', { weights: two([0, 0, 0], [0]), numExamples: 1 }, /shape/],
    ['a wrong name', { weights: [global[1], global[0]], numExamples: 1 }, /named/],
    ['zero examples', { weights: global, numExamples: 0 }, /positive integer/],
    ['fractional examples', { weights: global, numExamples: 1.5 }, /positive integer/],
    ['an outlandish norm', { weights: two([100, 0], [0]), numExamples: 1 }, /limit 10/],
  ])('rejects %s', (_what, update, reason) => {
    expect(validateUpdate(update, global, ok)).toMatch(reason);
  });
  it('has no norm limit when rejectNorm is 0', () => {
    expect(
      validateUpdate({ weights: two([1e6, 0], [0]), numExamples: 1 }, global, { rejectNorm: 0 }),
    ).toBeNull();
  });
});
