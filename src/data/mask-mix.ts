/**
 * The dataset option `--mask none|all|probe|mixed`: which photos of an experiment are seen with a
 * (synthetic) face mask. Features are extracted twice, plain and masked (the face pipeline's
 * `mask: 'synthetic'`, its own feature-cache variant), and each sample takes one of the two:
 *
 * - `none`: every photo plain (today's setting);
 * - `all`: every photo masked (masked gallery, masked probes);
 * - `probe`: the gallery (labelled photos) plain, the probes (test photos) masked: a user who
 *   named people before masks and meets them masked;
 * - `mixed`: each photo, gallery or probe, masked with probability 1/2, decided by a hash of the
 *   seed and the photo's id (the same photo is masked in every user and every run).
 *
 * Pure: no I/O.
 */
import { deriveSeed } from '../core/random.js';
import { FedexError } from '../core/errors.js';

export type MaskMode = 'none' | 'all' | 'probe' | 'mixed';

export const MASK_MODES: readonly MaskMode[] = ['none', 'all', 'probe', 'mixed'];

/** A sample's part in an experiment: named by the user (gallery) or asked about (probe). */
export type SampleRole = 'gallery' | 'probe';

export function parseMaskMode(raw: string): MaskMode {
  if ((MASK_MODES as readonly string[]).includes(raw)) return raw as MaskMode;
  throw new FedexError('BAD_ARGUMENT', `--mask must be one of ${MASK_MODES.join(', ')}; got "${raw}"`);
}

/** Whether the photo `id` in `role` is seen masked under `mode`. */
export function isMasked(mode: MaskMode, role: SampleRole, id: string, seed = 0): boolean {
  switch (mode) {
    case 'none':
      return false;
    case 'all':
      return true;
    case 'probe':
      return role === 'probe';
    case 'mixed':
      return deriveSeed(seed, `mask:${id}`) % 2 === 1;
  }
}

/**
 * Rows `indices` of a sample matrix, each from `masked` or `plain` (`dim` values per sample) as
 * `isMasked` says for its id and role.
 */
export function mixRows(
  plain: Float32Array,
  masked: Float32Array | undefined,
  dim: number,
  indices: readonly number[],
  ids: readonly string[],
  mode: MaskMode,
  role: SampleRole,
  seed = 0,
): Float32Array {
  if (mode !== 'none' && (!masked || masked.length !== plain.length))
    throw new FedexError('BAD_ARGUMENT', `--mask ${mode} needs masked features for every sample`);
  const x = new Float32Array(indices.length * dim);
  indices.forEach((i, j) => {
    const from = masked && isMasked(mode, role, ids[i], seed) ? masked : plain;
    x.set(from.subarray(i * dim, (i + 1) * dim), j * dim);
  });
  return x;
}
