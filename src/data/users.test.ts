import { describe, expect, it } from 'vitest';

import { isFedexError } from '../core/errors.js';
import { buildGlobalTask, buildUsers, type UserOptions } from './users.js';

/** A set with `counts[p]` samples of person p, samples grouped by person. */
function makeSet(counts: number[]): { people: string[]; labels: Int32Array } {
  const labels: number[] = [];
  counts.forEach((n, p) => {
    for (let i = 0; i < n; i++) labels.push(p);
  });
  return { people: counts.map((_, p) => `person${p}`), labels: Int32Array.from(labels) };
}

const OPTIONS: UserOptions = {
  users: 20,
  peoplePerUser: 3,
  labelledPerPerson: 2,
  unlabelledPerPerson: 3,
  minTestPerPerson: 1,
  seed: 42,
};

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('buildUsers', () => {
  it('gives each user k distinct people and disjoint labelled, unlabelled and test photos of them', () => {
    // Prepare
    const set = makeSet([10, 8, 6, 20, 4, 12, 3]);

    // Execute
    const users = buildUsers(set, OPTIONS);

    // Assert
    expect(users).toHaveLength(20);
    for (const u of users) {
      expect(new Set(u.people).size).toBe(3);
      expect(u.localNames).toEqual(u.people.map((l) => `person${l}`));
      const all = [...u.labelled, ...u.unlabelled, ...u.test];
      expect(new Set(all).size).toBe(all.length);
      for (const i of all) expect(u.people).toContain(set.labels[i]);
      for (const label of u.people) {
        const of = (list: number[]): number => list.filter((i) => set.labels[i] === label).length;
        expect(of(u.labelled)).toBe(2);
        expect(of(u.test)).toBeGreaterThanOrEqual(1);
        expect(of(u.unlabelled)).toBeLessThanOrEqual(3);
      }
    }
  });

  it('splits a person labelled first, test reserve, unlabelled up to the cap, the rest to test', () => {
    // Prepare: one person with 10 photos, one user.
    const set = makeSet([10]);

    // Execute
    const [u] = buildUsers(set, { ...OPTIONS, users: 1, peoplePerUser: 1 });
    const [small] = buildUsers(makeSet([4]), { ...OPTIONS, users: 1, peoplePerUser: 1 });

    // Assert: 2 labelled, 3 unlabelled, 5 test; with 4 photos: 2 labelled, 1 unlabelled, 1 test.
    expect([u.labelled.length, u.unlabelled.length, u.test.length]).toEqual([2, 3, 5]);
    expect([small.labelled.length, small.unlabelled.length, small.test.length]).toEqual([2, 1, 1]);
  });

  it('caps test photos per person with maxTestPerPerson', () => {
    const [u] = buildUsers(makeSet([30]), { ...OPTIONS, users: 1, peoplePerUser: 1, maxTestPerPerson: 4 });

    expect(u.test).toHaveLength(4);
  });

  it('never picks a person without labelled + minTest photos', () => {
    const set = makeSet([2, 10, 2, 10, 10]);

    const users = buildUsers(set, { ...OPTIONS, minTestPerPerson: 1 });

    for (const u of users) expect(u.people).toEqual([1, 3, 4]);
  });

  it('is deterministic for a seed and differs for another seed', () => {
    const set = makeSet([10, 8, 6, 20, 4, 12, 9, 7]);

    const a = buildUsers(set, OPTIONS);
    const b = buildUsers(set, OPTIONS);
    const c = buildUsers(set, { ...OPTIONS, seed: 43 });

    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('lets people be shared between users by default, and not with sharePeople false', () => {
    const set = makeSet(Array.from({ length: 12 }, () => 5));

    const shared = buildUsers(set, { ...OPTIONS, users: 30 });
    const disjoint = buildUsers(set, { ...OPTIONS, users: 4, sharePeople: false });

    const holders = new Map<number, number>();
    for (const u of shared) for (const p of u.people) holders.set(p, (holders.get(p) ?? 0) + 1);
    expect(Math.max(...holders.values())).toBeGreaterThan(1);
    const all = disjoint.flatMap((u) => u.people);
    expect(new Set(all).size).toBe(12);
  });

  it('fails with DATASET_TOO_FEW_PHOTOS naming the shortfall when too few people are eligible', () => {
    const set = makeSet([10, 2, 10]);

    const e = thrown(() => buildUsers(set, OPTIONS));
    const e2 = thrown(() =>
      buildUsers(makeSet([10, 10, 10, 10]), { ...OPTIONS, users: 2, sharePeople: false }),
    );

    expect(isFedexError(e, 'DATASET_TOO_FEW_PHOTOS')).toBe(true);
    expect((e as Error).message).toContain('only 2 people have at least 3 photos');
    expect((e as Error).message).toContain('short by 1');
    expect(isFedexError(e2, 'DATASET_TOO_FEW_PHOTOS')).toBe(true);
    expect((e2 as Error).message).toContain('short by 2');
  });

  it('rejects minTestPerPerson 0 with BAD_ARGUMENT', () => {
    const e = thrown(() => buildUsers(makeSet([10]), { ...OPTIONS, minTestPerPerson: 0 }));

    expect(isFedexError(e, 'BAD_ARGUMENT')).toBe(true);
  });

  it('accepts a set with samples instead of labels', () => {
    const set = { people: ['a', 'b'], samples: [0, 0, 0, 1, 1, 1].map((label) => ({ label })) };

    const users = buildUsers(set, { ...OPTIONS, users: 2, peoplePerUser: 2, labelledPerPerson: 1 });

    expect(users[0].people).toEqual([0, 1]);
    expect(users[0].localNames).toEqual(['a', 'b']);
  });
});

describe('buildGlobalTask', () => {
  it('keeps people with at least minPhotos and splits each one train/test by testFraction', () => {
    // Prepare: person1 has 9 photos (< 10) and is dropped.
    const set = makeSet([10, 9, 20, 15]);

    // Execute
    const task = buildGlobalTask(set, { minPhotos: 10, testFraction: 0.2, seed: 1 });

    // Assert
    expect(task.people).toEqual([0, 2, 3]);
    expect(task.names).toEqual(['person0', 'person2', 'person3']);
    const perPerson = (list: number[], label: number): number =>
      list.filter((i) => set.labels[i] === label).length;
    expect([0, 2, 3].map((l) => perPerson(task.test, l))).toEqual([2, 4, 3]);
    expect([0, 2, 3].map((l) => perPerson(task.train, l))).toEqual([8, 16, 12]);
    expect(new Set([...task.train, ...task.test]).size).toBe(45);
    expect(task.taskLabels[0]).toBe(0);
    expect(task.taskLabels[10]).toBe(-1);
    expect(task.taskLabels[19]).toBe(1);
    expect(task.taskLabels[53]).toBe(2);
  });

  it('is deterministic for a seed', () => {
    const set = makeSet([10, 12, 30]);

    const a = buildGlobalTask(set, { seed: 5 });
    const b = buildGlobalTask(set, { seed: 5 });
    const c = buildGlobalTask(set, { seed: 6 });

    expect(b).toEqual(a);
    expect(c.test).not.toEqual(a.test);
  });

  it('keeps at least one test and one train photo per person', () => {
    const task = buildGlobalTask(makeSet([2, 2]), { minPhotos: 2, testFraction: 0.01, seed: 0 });

    expect(task.test).toHaveLength(2);
    expect(task.train).toHaveLength(2);
  });

  it('fails with DATASET_TOO_FEW_PHOTOS when fewer than two people qualify', () => {
    const e = thrown(() => buildGlobalTask(makeSet([10, 3]), { seed: 0 }));

    expect(isFedexError(e, 'DATASET_TOO_FEW_PHOTOS')).toBe(true);
  });
});
