/**
 * `describeWithData`: a vitest `describe` block that needs a real dataset (see ./datasets.ts).
 * Present: runs with the dataset's absolute path. Missing: skips with a loud console.warn, or,
 * under `FEDEX_REQUIRE_DATA=1`, registers one failing test that says which folder is missing.
 */
import { describe, it } from 'vitest';
import { dataRequired, datasetDir, datasetsRoot } from './datasets.js';

/**
 * @example
 * describeWithData('bbt_faceapi_demo', (dir) => {
 *   it('finds a face in every photo', async () => { ... });
 * });
 */
export function describeWithData(name: string, fn: (dir: string) => void): void {
  const dir = datasetDir(name);
  if (dir) {
    describe(`with dataset ${name}`, () => fn(dir));
    return;
  }
  const where = `${datasetsRoot()}/${name}`;
  if (dataRequired()) {
    describe(`with dataset ${name}`, () => {
      it('has its dataset (FEDEX_REQUIRE_DATA=1)', () => {
        throw new Error(`dataset ${name} is missing at ${where} (set FEDEX_DATA_DIR to the datasets folder)`);
      });
    });
    return;
  }
  console.warn(
    `\n!!! SKIPPING tests that need dataset ${name}: not found at ${where}.\n` +
      `!!! Set FEDEX_DATA_DIR to the datasets folder; FEDEX_REQUIRE_DATA=1 turns this skip into a failure.\n`,
  );
  // The body is not collected at all: it may read the (missing) folder while declaring tests.
  describe.skip(`with dataset ${name} (missing at ${where})`, () => {
    it('needs the dataset', () => {});
  });
}
