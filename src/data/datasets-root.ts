/**
 * Where the face datasets live, one rule for the CLI, the tests and the benchmarks:
 * `$FEDEX_DATA_DIR` (a relative value is taken from the working directory, like any path a user
 * types), else `../shared/datasets` beside the repository, where this project's machines keep them.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (two folders above this file). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Absolute path of the datasets folder. */
export function datasetsRoot(): string {
  const fromEnv = process.env.FEDEX_DATA_DIR;
  return fromEnv ? path.resolve(fromEnv) : path.join(REPO_ROOT, '..', 'shared', 'datasets');
}
