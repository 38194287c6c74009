/**
 * Defaults the CLI shares: the repository root and the datasets folder (one rule for the CLI,
 * tests and benchmarks, in ../data/datasets-root.ts).
 */
import { datasetsRoot, REPO_ROOT } from '../data/datasets-root.js';

export { REPO_ROOT };

/** The datasets folder: `$FEDEX_DATA_DIR`, else `<repo>/../shared/datasets`. */
export function defaultDataDir(): string {
  return datasetsRoot();
}
