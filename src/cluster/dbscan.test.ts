import { describe, expect, it } from 'vitest';
import { dbscan, NOISE } from './dbscan.js';

const line = (...xs: number[]): Float32Array[] => xs.map((x) => Float32Array.of(x));

describe('dbscan', () => {
  it('grows clusters from core faces and keeps border faces (hand-worked line)', () => {
    // eps 1, minPoints 3. Points 0, 1, 2, 3.5, 10:
    //   0: {0, 1} -> 2 < 3, not core; 1: {0, 1, 2} core; 2: {1, 2} not core; 3.5: alone; 10: alone.
    //   cluster from core 1 takes its border faces 0 and 2; 3.5 and 10 are noise.
    const r = dbscan(line(0, 1, 2, 3.5, 10), { eps: 1, minPoints: 3, noise: 'label' });
    expect(Array.from(r.labels)).toEqual([0, 0, 0, NOISE, NOISE]);
    expect(r.count).toBe(1);
  });

  it('makes each noise face a person of its own by default', () => {
    const r = dbscan(line(0, 1, 2, 3.5, 10), { eps: 1, minPoints: 3 });
    expect(Array.from(r.labels)).toEqual([0, 0, 0, 1, 2]);
    expect(r.count).toBe(3);
  });

  it('does not chain through border faces', () => {
    // Two dense groups with one non-core face between them (within eps of both but with too few neighbours).
    const r = dbscan(line(0, 0.1, 0.2, 1.1, 2.0, 2.1, 2.2), { eps: 0.95, minPoints: 4 });
    expect(r.count).toBe(2);
  });

  it('with minPoints 1 is connected components of the eps graph', () => {
    expect(dbscan(line(0, 1, 2, 5), { eps: 1, minPoints: 1 }).count).toBe(2);
  });

  it('rejects bad options', () => {
    expect(() => dbscan(line(0), { minPoints: 0 })).toThrow(/minPoints/);
    expect(() => dbscan(line(0), { noise: 'drop' as never })).toThrow(/noise/);
  });
});
