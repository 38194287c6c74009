/**
 * Where the real face datasets are, for tests and benchmarks (Node-only; no vitest here, so
 * bench scripts can import it too — the vitest side is ./describe-with-data.ts).
 *
 * The datasets folder is `$FEDEX_DATA_DIR`, default `../shared/datasets` beside the repository
 * (../data/datasets-root.ts). Tests that need a dataset use
 * `describeWithData(name, ...)`: when the folder is missing they skip with a loud warning, unless
 * `FEDEX_REQUIRE_DATA=1` (set it in CI), where a missing dataset FAILS the test instead.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRng, shuffled } from '../core/random.js';
import { isImageName } from '../data/dataset-dir.js';
import { datasetsRoot, REPO_ROOT } from '../data/datasets-root.js';

export { datasetsRoot, REPO_ROOT };

/** True when `FEDEX_REQUIRE_DATA=1`: a missing dataset is an error, not a skip. */
export function dataRequired(): boolean {
  return process.env.FEDEX_REQUIRE_DATA === '1';
}

/**
 * Absolute path of dataset `name` (e.g. `lfw_deepfunneled_min5`), or null when it is missing.
 *
 * @example
 * const lfw = datasetDir('lfw_deepfunneled_min5'); // '/work/shared/datasets/lfw_deepfunneled_min5' or null
 */
export function datasetDir(name: string): string | null {
  const dir = path.join(datasetsRoot(), name);
  return existsSync(dir) && statSync(dir).isDirectory() ? dir : null;
}

/** One identity of a dataset: its folder name and its photos (absolute paths, sorted). */
export interface TestPerson {
  name: string;
  files: string[];
}

/** The identities of a one-folder-per-person dataset, sorted by name (hidden entries skipped). */
export function listPeople(dir: string, options: { minPhotos?: number } = {}): TestPerson[] {
  const minPhotos = options.minPhotos ?? 1;
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort()
    .map((name) => ({
      name,
      files: readdirSync(path.join(dir, name))
        .filter((f) => isImageName(f))
        .sort()
        .map((f) => path.join(dir, name, f)),
    }))
    .filter((p) => p.files.length >= minPhotos);
}

/** A seeded sample of `n` photos across all people (with their person's name), reproducible. */
export function samplePhotos(dir: string, n: number, seed: number): { person: string; file: string }[] {
  const all = listPeople(dir).flatMap((p) => p.files.map((file) => ({ person: p.name, file })));
  return shuffled(createRng(seed), all).slice(0, n);
}

/**
 * The LFW selection real-data tests share (25 people, at most 8 photos each, seeded): tests that
 * extract features use this scan so they hit one another's entries in the feature cache, which
 * keeps a cold-cache CI run to one extraction of these ~200 photos per split.
 */
export const LFW_TEST_SCAN = Object.freeze({ minPhotos: 5, maxPeople: 25, maxPerPerson: 8, seed: 11 });
