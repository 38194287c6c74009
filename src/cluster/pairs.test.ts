import { describe, expect, it } from 'vitest';
import { pairwiseDistances } from './distance.js';
import { bestPairThreshold } from './pairs.js';

describe('bestPairThreshold', () => {
  it('finds the gap between same-person and different-person distances (hand-worked)', () => {
    // Faces on a line: person A at 0 and 0.4, person B at 2 and 2.3.
    // Same pairs: 0.4, 0.3. Different pairs: 2, 2.3, 1.6, 1.9. All same <= 0.4 < 1.6 <= all different:
    // balanced accuracy 1 with the cut between 0.4 and 1.6 -> threshold 1.0.
    const dist = pairwiseDistances([0, 0.4, 2, 2.3].map((x) => Float32Array.of(x)));
    const r = bestPairThreshold(dist, [0, 0, 1, 1]);
    expect(r.balancedAccuracy).toBe(1);
    expect(r.threshold).toBeCloseTo(1.0, 6);
    expect(r.samePairs).toBe(2);
    expect(r.differentPairs).toBe(4);
  });

  it('balances the two kinds of pair (hand-worked overlap)', () => {
    // A at 0 and 1; B at 0.5 and 3. Same: 1 (A), 2.5 (B). Different: 0.5, 3, 0.5, 2.
    // Cut after 1: same hit 1/2, different kept 2/4 -> 0.5. Cut after 2.5 (everything up to 2.5 is
    // "same"): same 2/2, different 1/4 -> 0.625. Cut after 0.5: 0/2 and 2/4 -> 0.25. Best: 0.625.
    const dist = pairwiseDistances([0, 1, 0.5, 3].map((x) => Float32Array.of(x)));
    const r = bestPairThreshold(dist, [0, 0, 1, 1]);
    expect(r.balancedAccuracy).toBeCloseTo(0.625, 12);
    expect(r.threshold).toBeCloseTo(2.75, 6);
  });

  it('needs both kinds of pair', () => {
    expect(() =>
      bestPairThreshold(pairwiseDistances([Float32Array.of(0), Float32Array.of(1)]), [0, 1]),
    ).toThrow(/both/);
  });
});
