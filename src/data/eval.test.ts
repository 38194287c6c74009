import { describe, expect, it } from 'vitest';

import { isFedexError } from '../core/errors.js';
import { nearestCentroidAccuracy, personalizedAccuracy, summarizeAccuracies } from './eval.js';
import type { SimUser } from './users.js';

describe('nearestCentroidAccuracy', () => {
  it('classifies by the nearest class mean (hand-worked, euclidean)', () => {
    // Prepare: 2-d points. Class 0 train (0,0),(2,0) → centroid (1,0); class 1 train (10,0),(10,4) → (10,2).
    // Test: (4,0) → d² 9 vs 40 → 0 (right); (6,2) → 26 vs 16 → 1 (right); (5,0) label 1 → 16 vs 29 → 0 (wrong).
    const features = Float32Array.of(0, 0, 2, 0, 10, 0, 10, 4, 4, 0, 6, 2, 5, 0);
    const labels = [0, 0, 1, 1, 0, 1, 1];

    // Execute
    const acc = nearestCentroidAccuracy(features, 2, labels, [0, 1, 2, 3], [4, 5, 6]);

    // Assert
    expect(acc).toBeCloseTo(2 / 3, 12);
  });

  it('compares directions with the cosine metric', () => {
    // Test (100, 1) points along x (class 0). With class 1 at (0, 1) both metrics agree; with class 1 at
    // (60, 60) it is nearer class 1 in euclidean terms, while cosine still sees its direction.
    const features = Float32Array.of(1, 0, 0, 1, 100, 1);
    const labels = [0, 1, 0];

    expect(nearestCentroidAccuracy(features, 2, labels, [0, 1], [2], 'cosine')).toBe(1);
    expect(nearestCentroidAccuracy(features, 2, labels, [0, 1], [2], 'euclidean')).toBe(1);
    const far = Float32Array.of(1, 0, 60, 60, 100, 1); // (100,1): d² 9802 to (1,0), 5081 to (60,60)
    expect(nearestCentroidAccuracy(far, 2, labels, [0, 1], [2], 'euclidean')).toBe(0);
    expect(nearestCentroidAccuracy(far, 2, labels, [0, 1], [2], 'cosine')).toBe(1);
  });

  it('counts a test sample whose class has no train sample as wrong', () => {
    const features = Float32Array.of(0, 1, 2);

    expect(nearestCentroidAccuracy(features, 1, [0, 1, 2], [0, 1], [2])).toBe(0);
  });

  it('returns NaN for an empty test set and rejects mismatched shapes', () => {
    expect(nearestCentroidAccuracy(Float32Array.of(0, 1), 1, [0, 1], [0, 1], [])).toBeNaN();
    let e: unknown;
    try {
      nearestCentroidAccuracy(Float32Array.of(0, 1, 2), 2, [0], [0], [0]);
    } catch (err) {
      e = err;
    }
    expect(isFedexError(e, 'BAD_ARGUMENT')).toBe(true);
  });
});

describe('personalizedAccuracy', () => {
  it('averages per-user accuracy and reports the worst decile', () => {
    // Prepare: 1-d features; labels 0 near 0, 1 near 10, 2 near 20. Sample 8 (label 1) sits at 1.
    const features = Float32Array.of(0, 10, 20, 1, 11, 19, 0.5, 9, 1);
    const labels = [0, 1, 2, 0, 1, 2, 0, 1, 1];
    const user = (id: string, labelled: number[], test: number[]): SimUser => ({
      id,
      people: [],
      labelled,
      unlabelled: [],
      test,
    });
    const users = [
      user('u0', [0, 1], [3, 4]), // both right → 1
      user('u1', [0, 1], [6, 8]), // 0.5 → 0 right; 1 → 0 wrong → 0.5
      user('u2', [1, 2], [4, 5, 7]), // all right → 1
    ];

    // Execute
    const r = personalizedAccuracy({ people: ['a', 'b', 'c'], labels, features, dim: 1 }, users);

    // Assert
    expect(r.perUser).toEqual([
      { id: 'u0', accuracy: 1, test: 2 },
      { id: 'u1', accuracy: 0.5, test: 2 },
      { id: 'u2', accuracy: 1, test: 3 },
    ]);
    expect(r.mean).toBeCloseTo(2.5 / 3, 12);
    expect(r.worstDecile).toBe(0.5); // ⌈3 / 10⌉ = 1 user
  });

  it('takes the dimension from a spec', () => {
    const features = Float32Array.of(0, 0, 10, 10, 1, 1);
    const set = {
      people: ['a', 'b'],
      samples: [{ label: 0 }, { label: 1 }, { label: 0 }],
      features,
      spec: { backboneId: 'x', backboneVersion: '1', split: 's', shape: [2] },
    };

    const r = personalizedAccuracy(set, [
      { id: 'u', people: [0, 1], labelled: [0, 1], unlabelled: [], test: [2] },
    ]);

    expect(r.mean).toBe(1);
  });
});

describe('summarizeAccuracies', () => {
  it('gives the mean, the mean of the lowest tenth (at least one user) and the min', () => {
    expect(summarizeAccuracies([1, 0.5, 1, 1])).toEqual({
      mean: 0.875,
      worstDecile: 0.5,
      min: 0.5,
      users: 4,
    });
    // 11 users: the worst decile is the 2 lowest.
    const accs = [0.2, 0.4, ...new Array<number>(9).fill(1)];
    const s = summarizeAccuracies(accs);
    expect(s.worstDecile).toBeCloseTo(0.3, 12);
    expect(s.min).toBe(0.2);
    expect(s.mean).toBeCloseTo(9.6 / 11, 12);
  });

  it('refuses no accuracies and values outside [0, 1]', () => {
    expect(() => summarizeAccuracies([])).toThrow(/at least one/);
    expect(() => summarizeAccuracies([0.5, Number.NaN])).toThrow(/in \[0, 1\]/);
    expect(() => summarizeAccuracies([1.5])).toThrow(/in \[0, 1\]/);
  });
});
