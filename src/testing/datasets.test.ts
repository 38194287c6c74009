import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataRequired, datasetDir, datasetsRoot, listPeople, REPO_ROOT, samplePhotos } from './datasets.js';

describe('dataset location helpers', () => {
  let tmp = '';
  const saved = { dir: process.env.FEDEX_DATA_DIR, req: process.env.FEDEX_REQUIRE_DATA };
  beforeEach(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'fedex-ds-'));
    for (const [who, files] of [
      ['bob', ['b2.jpg', 'b1.png', 'notes.txt']],
      ['amy', ['a1.jpg']],
      ['.hidden', ['x.jpg']],
    ] as const) {
      mkdirSync(path.join(tmp, 'faces', who), { recursive: true });
      for (const f of files) writeFileSync(path.join(tmp, 'faces', who, f), '');
    }
    writeFileSync(path.join(tmp, 'faces', 'README.md'), '');
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
    process.env.FEDEX_DATA_DIR = saved.dir;
    process.env.FEDEX_REQUIRE_DATA = saved.req;
    if (saved.dir === undefined) delete process.env.FEDEX_DATA_DIR;
    if (saved.req === undefined) delete process.env.FEDEX_REQUIRE_DATA;
  });

  it('reads the datasets folder from FEDEX_DATA_DIR (relative to the working directory), else beside the repository', () => {
    delete process.env.FEDEX_DATA_DIR;
    expect(datasetsRoot()).toBe(path.resolve(REPO_ROOT, '../shared/datasets'));
    process.env.FEDEX_DATA_DIR = 'some/where';
    expect(datasetsRoot()).toBe(path.resolve(process.cwd(), 'some/where'));

    process.env.FEDEX_DATA_DIR = tmp;
    expect(datasetDir('faces')).toBe(path.join(tmp, 'faces'));
    expect(datasetDir('nope')).toBeNull();
  });

  it('is strict only when FEDEX_REQUIRE_DATA is exactly 1', () => {
    process.env.FEDEX_REQUIRE_DATA = '1';
    expect(dataRequired()).toBe(true);
    process.env.FEDEX_REQUIRE_DATA = 'yes';
    expect(dataRequired()).toBe(false);
  });

  it('lists people and their image files sorted, skipping hidden folders and other files', () => {
    const people = listPeople(path.join(tmp, 'faces'));

    expect(people.map((p) => p.name)).toEqual(['amy', 'bob']);
    expect(people[1].files.map((f) => path.basename(f))).toEqual(['b1.png', 'b2.jpg']);
    expect(listPeople(path.join(tmp, 'faces'), { minPhotos: 2 }).map((p) => p.name)).toEqual(['bob']);
  });

  it('samples the same photos for the same seed', () => {
    const dir = path.join(tmp, 'faces');

    expect(samplePhotos(dir, 2, 9)).toEqual(samplePhotos(dir, 2, 9));
    expect(samplePhotos(dir, 10, 9)).toHaveLength(3);
  });
});
