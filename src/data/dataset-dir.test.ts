import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { isFedexError } from '../core/errors.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { listPhotos, scanDatasetDir, spreadQuota } from './dataset-dir.js';
import { writeSolidImage } from './testing/fake-extractor.js';

let root: string;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'fedex-scan-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Makes `people` folders with empty placeholder files (the scanner never decodes). */
function makeTree(people: Record<string, number | string[]>): string {
  const dir = path.join(root, 'ds');
  mkdirSync(dir, { recursive: true });
  for (const [name, files] of Object.entries(people)) {
    mkdirSync(path.join(dir, name));
    const names =
      typeof files === 'number'
        ? Array.from({ length: files }, (_, i) => `${name}_${String(i).padStart(4, '0')}.jpg`)
        : files;
    for (const f of names) writeFileSync(path.join(dir, name, f), 'x');
  }
  return dir;
}

async function scanError(dir: string, options = {}): Promise<unknown> {
  try {
    await scanDatasetDir(dir, options);
  } catch (e) {
    return e;
  }
  throw new Error('expected the scan to fail');
}

describe('scanDatasetDir', () => {
  it('lists people sorted by name with their image files sorted, ignoring top-level files and non-images', async () => {
    // Prepare
    const dir = makeTree({
      zoe: ['b.png', 'a.JPG', 'notes.txt', '.hidden.jpg'],
      adam: ['x.jpeg', 'y.gif', 'z.pgm'],
    });
    writeFileSync(path.join(dir, 'README.md'), '# readme');
    writeFileSync(path.join(dir, 'MANIFEST.sha256'), 'abc');
    await writeSolidImage(path.join(dir, 'adam', 'real.png'), [1, 2, 3]);

    // Execute
    const ds = await scanDatasetDir(dir);

    // Assert
    expect(ds.root).toBe(path.resolve(dir));
    expect(ds.people).toEqual([
      { name: 'adam', files: ['adam/real.png', 'adam/x.jpeg', 'adam/y.gif', 'adam/z.pgm'] },
      { name: 'zoe', files: ['zoe/a.JPG', 'zoe/b.png'] },
    ]);
    expect(ds.photos).toBe(6);
    expect(listPhotos(ds)[4]).toEqual({
      id: 'zoe/a.JPG',
      path: path.join(ds.root, 'zoe', 'a.JPG'),
      label: 1,
    });
  });

  it('drops people below minPhotos', async () => {
    const dir = makeTree({ a: 5, b: 2, c: 7 });

    const ds = await scanDatasetDir(dir, { minPhotos: 5 });

    expect(ds.people.map((p) => p.name)).toEqual(['a', 'c']);
    expect(ds.peopleFound).toBe(3);
    expect(ds.photosFound).toBe(14);
  });

  it('fails with DATASET_NOT_FOUND for a missing directory or a file', async () => {
    const file = path.join(root, 'file.txt');
    writeFileSync(file, 'x');

    const missing = await scanError(path.join(root, 'nope'));
    const notDir = await scanError(file);

    expect(isFedexError(missing, 'DATASET_NOT_FOUND')).toBe(true);
    expect((missing as Error).message).toContain('does not exist');
    expect(isFedexError(notDir, 'DATASET_NOT_FOUND')).toBe(true);
  });

  it('fails with DATASET_EMPTY when there are no person folders, or no images in them', async () => {
    const empty = path.join(root, 'empty');
    mkdirSync(empty);
    writeFileSync(path.join(empty, 'README.md'), 'x');
    const noImages = makeTree({ a: ['notes.txt'], b: [] });

    const e1 = await scanError(empty);
    const e2 = await scanError(noImages);

    expect(isFedexError(e1, 'DATASET_EMPTY')).toBe(true);
    expect((e1 as Error).message).toContain('no person folders');
    expect(isFedexError(e2, 'DATASET_EMPTY')).toBe(true);
    expect((e2 as Error).message).toContain('no photos');
  });

  it('fails with DATASET_TOO_FEW_PHOTOS naming the shortfall when too few people meet minPhotos', async () => {
    const dir = makeTree({ a: 10, b: 3, c: 12, d: 1 });

    const e = await scanError(dir, { minPhotos: 10, minPeople: 5 });

    expect(isFedexError(e, 'DATASET_TOO_FEW_PHOTOS')).toBe(true);
    expect((e as Error).message).toContain('only 2 of 4 people have at least 10 photos');
    expect((e as Error).message).toContain('short by 3');
  });

  it('fails with DATASET_TOO_FEW_PHOTOS when nobody meets minPhotos', async () => {
    const dir = makeTree({ a: 2, b: 3 });

    const e = await scanError(dir, { minPhotos: 4 });

    expect(isFedexError(e, 'DATASET_TOO_FEW_PHOTOS')).toBe(true);
  });

  it('rejects a non-integer option with BAD_ARGUMENT', async () => {
    const dir = makeTree({ a: 2 });

    const e = await scanError(dir, { limit: 0 });

    expect(isFedexError(e, 'BAD_ARGUMENT')).toBe(true);
  });

  it('caps photos per person with a seeded choice that is the same for the same seed', async () => {
    const dir = makeTree({ a: 20, b: 3 });

    const one = await scanDatasetDir(dir, { maxPerPerson: 5, seed: 1 });
    const again = await scanDatasetDir(dir, { maxPerPerson: 5, seed: 1 });
    const other = await scanDatasetDir(dir, { maxPerPerson: 5, seed: 2 });

    expect(one.people[0].files).toHaveLength(5);
    expect(one.people[0].files).toEqual([...one.people[0].files].sort());
    expect(one.people[1].files).toHaveLength(3);
    expect(again).toEqual(one);
    expect(other.people[0].files).not.toEqual(one.people[0].files);
  });

  it('caps the number of people with a seeded choice, kept in name order', async () => {
    const dir = makeTree({ a: 1, b: 1, c: 1, d: 1, e: 1, f: 1 });

    const one = await scanDatasetDir(dir, { maxPeople: 3, seed: 4 });
    const again = await scanDatasetDir(dir, { maxPeople: 3, seed: 4 });

    expect(one.people).toHaveLength(3);
    const names = one.people.map((p) => p.name);
    expect(names).toEqual([...names].sort());
    expect(again.people).toEqual(one.people);
  });

  it('spreads a total limit evenly across people, deterministically for a seed', async () => {
    // Prepare: one dominant person (like George_W_Bush in LFW) and small ones.
    const dir = makeTree({ big: 50, m1: 4, m2: 6, m3: 8 });

    // Execute
    const one = await scanDatasetDir(dir, { limit: 20, seed: 3 });
    const again = await scanDatasetDir(dir, { limit: 20, seed: 3 });

    // Assert: water level 5 → 5 + 4 + 5 + 5 = 19, plus one extra for a person with photos left.
    expect(one.photos).toBe(20);
    const counts = Object.fromEntries(one.people.map((p) => [p.name, p.files.length]));
    expect(counts.m1).toBe(4);
    expect(counts.big + counts.m2 + counts.m3).toBe(16);
    for (const n of [counts.big, counts.m2, counts.m3]) expect([5, 6]).toContain(n);
    expect(again).toEqual(one);
  });

  it('drops a seeded set of people when the limit cannot give everyone minPhotos', async () => {
    const dir = makeTree({ a: 6, b: 6, c: 6, d: 6, e: 6 });

    const ds = await scanDatasetDir(dir, { minPhotos: 5, limit: 12, seed: 9 });

    expect(ds.people).toHaveLength(2);
    expect(ds.photos).toBe(12);
    for (const p of ds.people) expect(p.files.length).toBeGreaterThanOrEqual(5);
  });

  it('fails when the limit leaves fewer people than minPeople', async () => {
    const dir = makeTree({ a: 6, b: 6, c: 6 });

    const e = await scanError(dir, { minPhotos: 5, limit: 10, minPeople: 3 });

    expect(isFedexError(e, 'DATASET_TOO_FEW_PHOTOS')).toBe(true);
    expect((e as Error).message).toContain('short by 1');
  });
});

describe('spreadQuota', () => {
  it('gives everyone the same level and the remainder to people with photos left', () => {
    const q = spreadQuota([10, 2, 10, 10], 15, 0);

    expect(q[1]).toBe(2);
    expect(q.reduce((a, b) => a + b, 0)).toBe(15);
    expect([q[0], q[2], q[3]].sort()).toEqual([4, 4, 5]);
  });

  it('keeps every photo when the budget covers them', () => {
    expect(spreadQuota([3, 1], 10, 0)).toEqual([3, 1]);
  });
});

describeWithData('lfw_deepfunneled_min5', (lfw) => {
  it('scans LFW: 423 people, 5,985 photos, README and MANIFEST ignored', async () => {
    const ds = await scanDatasetDir(lfw);

    expect(ds.people).toHaveLength(423);
    expect(ds.photos).toBe(5985);
    expect(ds.people.find((p) => p.name === 'George_W_Bush')?.files).toHaveLength(530);
  });

  it('picks the same balanced 500-photo subset for the same seed', async () => {
    const one = await scanDatasetDir(lfw, { minPhotos: 5, limit: 500, seed: 1 });
    const again = await scanDatasetDir(lfw, { minPhotos: 5, limit: 500, seed: 1 });

    expect(one.photos).toBe(500);
    expect(one.people).toHaveLength(100);
    expect(one.people.every((p) => p.files.length === 5)).toBe(true);
    expect(again).toEqual(one);
  });
});
