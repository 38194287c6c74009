import { describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import { CohortIndex, cohortStats } from './cohort.js';
import { syntheticFaces } from './synthetic.js';

const v = (...xs: number[]): Float32Array => Float32Array.from(xs);

function badArgument(f: () => unknown, message: RegExp): void {
  try {
    f();
  } catch (e) {
    expect(isFedexError(e) && e.code === 'BAD_ARGUMENT').toBe(true);
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected BAD_ARGUMENT');
}

describe('cohortStats', () => {
  it('takes the mean and spread of the k nearest cohort distances (by hand)', () => {
    // Prepare: a face at the origin; cohort faces 1, 2 and 3 away; another face at (1, 0).
    const cohort = [v(1, 0), v(0, 2), v(3, 0)];
    // Execute
    const s = cohortStats([v(0, 0), v(1, 0)], cohort, 2);
    // Assert: origin: {1, 2} → mean 1.5, sd 0.5. (1, 0): {0, √5 ≈ 2.236, 2} → {0, 2} → 1, 1.
    expect(s.mean[0]).toBeCloseTo(1.5, 12);
    expect(s.spread[0]).toBeCloseTo(0.5, 12);
    expect(s.mean[1]).toBeCloseTo(1, 12);
    expect(s.spread[1]).toBeCloseTo(1, 12);
  });

  it('floors the spread of k equal distances, and answers no faces with empty statistics', () => {
    const s = cohortStats([v(0, 0)], [v(1, 0), v(0, 1)], 2);
    expect(s.spread[0]).toBeGreaterThan(0);
    expect(cohortStats([], [v(1, 0)], 1).mean).toHaveLength(0);
  });

  it('rejects a bad k, a cohort smaller than k and descriptors of another length (BAD_ARGUMENT)', () => {
    badArgument(() => cohortStats([v(0, 0)], [v(1, 0)], 0), /positive integer/);
    badArgument(() => cohortStats([v(0, 0)], [v(1, 0)], 1.5), /positive integer/);
    badArgument(() => cohortStats([v(0, 0)], [v(1, 0)], 2), /1 faces, fewer than k = 2/);
    badArgument(() => cohortStats([v(0, 0)], [v(1, 0, 0)], 1), /3 values, the faces' 2/);
  });
});

describe('CohortIndex', () => {
  // Faces on a line: person 0 at 0 and 0.1, person 1 at 1, person 2 at 2, person 3 at 4.
  const descriptors = [v(0), v(0.1), v(1), v(2), v(4)];
  const labels = Int32Array.of(0, 0, 1, 2, 3);
  const all = [0, 1, 2, 3, 4];

  it('never lets a face find its own person, and leaves out the people asked', () => {
    const index = new CohortIndex(descriptors, all, labels, 1);
    // Face 0's nearest is face 1 (0.1), its own person: skipped, so person 1 at 1.
    expect(index.statsFor([0]).mean[0]).toBeCloseTo(1, 6);
    // Leaving out persons 1 and 2: face 0's nearest stranger is person 3, at 4.
    expect(index.statsFor([0], new Set([1, 2])).mean[0]).toBeCloseTo(4, 6);
    // Face 2 (person 1): nearest strangers 0.9 (face 1), then 1 and 1.
    const s = new CohortIndex(descriptors, all, labels, 2).statsFor([2]);
    expect(s.mean[0]).toBeCloseTo(0.95, 6);
    expect(s.spread[0]).toBeCloseTo(0.05, 6);
    // Keeping 1 neighbour (person 1 at 1) and leaving person 1 out: recounted, person 2 at 2.
    const shallow = new CohortIndex(descriptors, all, labels, 1, 1).statsFor([0], new Set([1]));
    expect(shallow.mean[0]).toBeCloseTo(2, 6);
    expect(shallow.k).toBe(1);
  });

  it('equals cohortStats when nothing is left out, and recounts past its kept depth', () => {
    // Prepare: 30 synthetic people of 3 photos; the cohort is the first 20 people's faces.
    const faces = syntheticFaces({ photos: new Array<number>(30).fill(3), dim: 8, seed: 3 });
    const cohortFaces = faces.descriptors.map((_, i) => i).filter((i) => faces.labels[i] < 20);
    const others = faces.descriptors.map((_, i) => i).filter((i) => faces.labels[i] >= 20);
    const index = new CohortIndex(faces.descriptors, cohortFaces, faces.labels, 5, 6);
    // Execute + Assert: an outside face sees the same statistics either way.
    const direct = cohortStats(
      others.map((i) => faces.descriptors[i]),
      cohortFaces.map((i) => faces.descriptors[i]),
      5,
    );
    const indexed = index.statsFor(others);
    for (let r = 0; r < others.length; r++) {
      expect(indexed.mean[r]).toBeCloseTo(direct.mean[r], 6);
      expect(indexed.spread[r]).toBeCloseTo(direct.spread[r], 6);
    }
    // Depth 6 with 10 people left out: faces whose kept neighbours are mostly left out are
    // recounted over the whole cohort, the others read their kept list; both must agree with a
    // direct count over the cohort without those people.
    const leaveOut = new Set(Array.from({ length: 10 }, (_, p) => p));
    const rest = cohortFaces.filter((i) => !leaveOut.has(faces.labels[i])).map((i) => faces.descriptors[i]);
    const deep = index.statsFor(others, leaveOut);
    const want = cohortStats(
      others.map((i) => faces.descriptors[i]),
      rest,
      5,
    );
    for (let r = 0; r < others.length; r++) {
      expect(deep.mean[r]).toBeCloseTo(want.mean[r], 6);
      expect(deep.spread[r]).toBeCloseTo(want.spread[r], 6);
    }
  });

  it('rejects a cohort smaller than k, bad indices, labels or depth', () => {
    badArgument(() => new CohortIndex(descriptors, [0], labels, 2), /fewer than k = 2/);
    badArgument(() => new CohortIndex(descriptors, [0, 5], labels, 1), /indices must lie in 0..4/);
    badArgument(() => new CohortIndex(descriptors, all, labels.slice(1), 1), /4 labels for 5 descriptors/);
    badArgument(() => new CohortIndex(descriptors, all, labels, 2, 1), /depth must be an integer >= k = 2/);
  });
});
