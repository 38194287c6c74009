import { describe, expect, it } from 'vitest';
import { bcubed, countDistinct, nmi, pairwiseF, scoreClustering } from './metrics.js';

describe('bcubed', () => {
  it('matches a small example worked by hand', () => {
    // Prepare: faces 1..5; truth A A A B B; predicted clusters x x y y y.
    //   face 1 (A, in x={1,2}):   precision 2/2 (both of x are A)   recall 2/3 (2 of A's 3 in x)
    //   face 2 (A, in x):         precision 1                       recall 2/3
    //   face 3 (A, in y={3,4,5}): precision 1/3 (only 3 is A)       recall 1/3
    //   face 4 (B, in y):         precision 2/3 (4, 5 are B)        recall 2/2
    //   face 5 (B, in y):         precision 2/3                     recall 1
    //   precision = (1 + 1 + 1/3 + 2/3 + 2/3) / 5 = 11/15; recall = (2/3 + 2/3 + 1/3 + 1 + 1) / 5 = 11/15
    const predicted = [0, 0, 1, 1, 1];
    const truth = [0, 0, 0, 1, 1];
    // Execute
    const s = bcubed(predicted, truth);
    // Assert
    expect(s.precision).toBeCloseTo(11 / 15, 12);
    expect(s.recall).toBeCloseTo(11 / 15, 12);
    expect(s.f).toBeCloseTo(11 / 15, 12);
  });

  it('separates precision from recall (hand-worked: everything in one cluster)', () => {
    // truth A A B, one cluster: precision per face 2/3, 2/3, 1/3 -> 5/9; recall 1 for all.
    // F = 2 · (5/9) · 1 / (5/9 + 1) = (10/9) / (14/9) = 5/7
    const s = bcubed([0, 0, 0], [0, 0, 1]);
    expect(s.precision).toBeCloseTo(5 / 9, 12);
    expect(s.recall).toBe(1);
    expect(s.f).toBeCloseTo(5 / 7, 12);
  });

  it('gives 1 for the right partition under other names, and for no faces', () => {
    expect(bcubed([3, 3, 9], [1, 1, 0]).f).toBe(1);
    expect(bcubed([], []).f).toBe(1);
  });

  it('rejects labellings of different lengths', () => {
    expect(() => bcubed([0], [0, 1])).toThrow(/different numbers of faces/);
  });
});

describe('pairwiseF', () => {
  it('matches a small example worked by hand', () => {
    // truth A A A B B, predicted x x y y y (faces 1..5):
    //   same-cluster pairs: 12, 34, 35, 45 (4); same-person pairs: 12, 13, 23, 45 (4); both: 12, 45
    //   precision 2/4, recall 2/4, F 1/2
    const s = pairwiseF([0, 0, 1, 1, 1], [0, 0, 0, 1, 1]);
    expect(s).toEqual({ precision: 0.5, recall: 0.5, f: 0.5 });
  });

  it('scores 1 for precision when no pair is claimed (all faces apart)', () => {
    // truth A A B: real pairs {12}; nothing claimed -> precision 1 (nothing wrong), recall 0, F 0
    expect(pairwiseF([0, 1, 2], [0, 0, 1])).toEqual({ precision: 1, recall: 0, f: 0 });
  });

  it('scores 1 when everyone has one photo and every face stays apart', () => {
    expect(pairwiseF([0, 1, 2], [5, 6, 7]).f).toBe(1);
  });
});

describe('nmi', () => {
  it('is 1 for the same partition and 0 for an independent one', () => {
    expect(nmi([0, 0, 1, 1], [5, 5, 7, 7])).toBeCloseTo(1, 12);
    expect(nmi([0, 1, 0, 1], [0, 0, 1, 1])).toBeCloseTo(0, 12);
  });

  it('matches a hand-worked value', () => {
    // truth A A B B, predicted x x x y. Cells: (x,A)=2 (x,B)=1 (y,B)=1; |x|=3 |y|=1 |A|=|B|=2, n=4.
    // MI = 2/4 ln(4·2/(3·2)) + 1/4 ln(4·1/(3·2)) + 1/4 ln(4·1/(1·2)) = ½ln(4/3) + ¼ln(2/3) + ¼ln2
    // H(pred) = −(¾ln¾ + ¼ln¼), H(truth) = ln 2; NMI = MI / ((H(pred) + H(truth)) / 2)
    const mi = 0.5 * Math.log(4 / 3) + 0.25 * Math.log(2 / 3) + 0.25 * Math.log(2);
    const hp = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
    const expected = mi / ((hp + Math.log(2)) / 2);
    expect(nmi([0, 0, 0, 1], [0, 0, 1, 1])).toBeCloseTo(expected, 12);
    expect(expected).toBeCloseTo(0.3437, 3);
  });

  it('is 1 when both sides are one group and 0 when only one side is', () => {
    expect(nmi([0, 0], [1, 1])).toBe(1);
    expect(nmi([0, 0], [0, 1])).toBe(0);
    expect(nmi([], [])).toBe(1);
  });
});

describe('scoreClustering', () => {
  it('reports the signed error in the number of people', () => {
    const s = scoreClustering([0, 0, 1, 2], [0, 0, 1, 1]);
    expect(s.predictedCount).toBe(3);
    expect(s.trueCount).toBe(2);
    expect(s.countError).toBe(1);
    expect(countDistinct(Int32Array.from([4, 4, 4]))).toBe(1);
  });
});
