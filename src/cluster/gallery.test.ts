import { describe, expect, it } from 'vitest';
import { buildGalleries, facesByPerson, splitPeople, zipfCounts } from './gallery.js';

/** 30 people, person p has 3 + (p mod 18) photos, person-major. */
function labelsOf(people: number): number[] {
  const labels: number[] = [];
  for (let p = 0; p < people; p++) for (let k = 0; k < 3 + (p % 18); k++) labels.push(p);
  return labels;
}

describe('zipfCounts', () => {
  it('gives the rank rule, capped by what each person has', () => {
    // round(20 / r): 20, 10, 7, 5, 4, 3, 3, 3, 2, 2, 2, 2, 2, 1, ... (min 1)
    const have = Array.from({ length: 16 }, () => 20);
    expect(zipfCounts(have)).toEqual([20, 10, 7, 5, 4, 3, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1]);
    expect(zipfCounts([6, 5, 5])).toEqual([6, 5, 5].map((h, r) => Math.min(h, Math.round(20 / (r + 1)))));
    expect(zipfCounts([9, 9], { minPhotosPerPerson: 3, topPhotos: 4 })).toEqual([4, 3]);
  });
});

describe('buildGalleries', () => {
  it('covers every size from 2 to 20 people, draws only from the pool, and labels faces truthfully', () => {
    // Prepare
    const labels = labelsOf(30);
    const pool = Array.from({ length: 25 }, (_, p) => p);
    // Execute
    const galleries = buildGalleries(labels, pool, { galleries: 38, seed: 4 });
    // Assert
    expect(galleries.map((g) => g.people.length)).toEqual(Array.from({ length: 38 }, (_, i) => 2 + (i % 19)));
    for (const g of galleries) {
      expect(g.people.every((p) => pool.includes(p))).toBe(true);
      expect(Array.from(g.truth)).toEqual(g.faces.map((i) => labels[i]));
      expect(new Set(g.faces).size).toBe(g.faces.length);
      const have = g.people.map((p) => facesByPerson(labels).get(p)!.length);
      const counts = g.people.map((p) => g.faces.filter((i) => labels[i] === p).length);
      expect(counts).toEqual(zipfCounts(have));
    }
  });

  it('is reproducible with a seed and varies with it', () => {
    const labels = labelsOf(30);
    const pool = Array.from({ length: 30 }, (_, p) => p);
    const a = buildGalleries(labels, pool, { galleries: 5, seed: 1 });
    expect(buildGalleries(labels, pool, { galleries: 5, seed: 1 })).toEqual(a);
    expect(buildGalleries(labels, pool, { galleries: 5, seed: 2 })).not.toEqual(a);
  });

  it('refuses a pool too small for the largest gallery', () => {
    expect(() => buildGalleries(labelsOf(10), [0, 1, 2], { maxPeople: 5 })).toThrow(/has 3 people/);
  });
});

describe('splitPeople', () => {
  it('splits into disjoint pools that cover everyone', () => {
    const people = Array.from({ length: 423 }, (_, i) => i);
    const { calibration, evaluation } = splitPeople(people, 1 / 3, 0);
    expect(calibration).toHaveLength(141);
    expect(evaluation).toHaveLength(282);
    expect(calibration.filter((p) => evaluation.includes(p))).toEqual([]);
    expect([...calibration, ...evaluation].sort((a, b) => a - b)).toEqual(people);
    expect(splitPeople(people, 1 / 3, 0)).toEqual({ calibration, evaluation });
  });
});
