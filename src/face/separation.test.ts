import { describe, expect, it } from 'vitest';
import { pairAuc, scoreDescriptors } from './separation.js';

const d = (...v: number[]): Float32Array => Float32Array.from(v);

describe('pairAuc', () => {
  it('is 1 when every same-person distance is below every different-person one', () => {
    expect(pairAuc([0.1, 0.2], [0.5, 0.9])).toBe(1);
  });

  it('counts ties as half and inversions as zero (hand-worked)', () => {
    // pairs (same, diff): (0.1,0.5)=1 (0.1,0.3)=1 (0.5,0.5)=0.5 (0.5,0.3)=0 -> 2.5 / 4
    expect(pairAuc([0.1, 0.5], [0.5, 0.3])).toBeCloseTo(0.625, 12);
  });
});

describe('scoreDescriptors', () => {
  it('labels photos by the nearest centroid of the labelled ones', () => {
    // Prepare: two people on a line, well apart; one test photo of b sits nearer a's centroid.
    const items = [
      { person: 'a', descriptor: d(0) },
      { person: 'a', descriptor: d(1) },
      { person: 'b', descriptor: d(10) },
      { person: 'b', descriptor: d(11) },
    ];
    // Execute: 1 labelled per person, so each split tests one photo per person.
    const s = scoreDescriptors(items, 1, 10, 3);
    // Assert: all right (the centroids are single photos, nearest is always the own person).
    expect(s.accuracy).toBe(1);
    expect(s.accuracyMin).toBe(1);
    expect(s.sameMean).toBe(1);
    expect(s.diffMean).toBe(10);
    expect(s.pairAuc).toBe(1);
  });

  it('scores a confusable person below 1', () => {
    const items = [
      { person: 'a', descriptor: d(0) },
      { person: 'a', descriptor: d(6) },
      { person: 'b', descriptor: d(5) },
      { person: 'b', descriptor: d(10) },
    ];

    const s = scoreDescriptors(items, 1, 50, 5);

    expect(s.accuracy).toBeLessThan(1);
    expect(s.accuracy).toBeGreaterThan(0);
  });
});
