/**
 * Defaults the CLI shares: where datasets live (`FEDEX_DATA_DIR`, else `../shared/datasets`
 * beside the repository, which is where this project's machines keep them).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (two levels above src/cli). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The datasets folder: `$FEDEX_DATA_DIR`, else `<repo>/../shared/datasets`. */
export function defaultDataDir(): string {
  return path.resolve(process.env.FEDEX_DATA_DIR ?? path.join(REPO_ROOT, '..', 'shared', 'datasets'));
}
