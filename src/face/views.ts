/**
 * Test-time augmentation of the face descriptor: describe the same face in a few views — the
 * aligned chip, its mirror image, chips with a tighter and a looser border — and average the
 * descriptors. A descriptor that does not depend on one framing of the face is steadier for poor
 * faces (profile, blur), which is what face clustering trips over (docs/clustering.md: on LFW pairs,
 * 6 views raise the share of same-person pairs accepted at a 1-in-10,000 false-accept rate from
 * 0.75 to 0.82).
 *
 * `1` is the plain descriptor (the default everywhere); `2` adds the mirror; `6` is three borders
 * (the pipeline's `chipPadding` and ± 0.1) each with its mirror. Cost: one more descriptor pass per
 * extra view (about 28 ms per face on WASM; detection stays the larger cost).
 *
 * Pure and platform-neutral.
 */
import { FedexError } from '../core/errors.js';
import type { RawImage } from '../core/types.js';

/** How many views of a face are described and averaged. */
export type DescriptorViews = 1 | 2 | 6;

export const DESCRIPTOR_VIEW_COUNTS: readonly DescriptorViews[] = [1, 2, 6];

/** One view: the chip border (added to the pipeline's `chipPadding`) and whether it is mirrored. */
export interface DescriptorView {
  paddingOffset: number;
  mirror: boolean;
}

/** The views of each count, the plain chip first. */
export function descriptorViews(count: DescriptorViews): DescriptorView[] {
  if (!DESCRIPTOR_VIEW_COUNTS.includes(count)) {
    throw new FedexError('BAD_ARGUMENT', `descriptorViews must be 1, 2 or 6, got ${String(count)}`);
  }
  const offsets = count === 6 ? [0, -0.1, 0.1] : [0];
  return offsets.flatMap((paddingOffset) =>
    count === 1
      ? [{ paddingOffset, mirror: false }]
      : [
          { paddingOffset, mirror: false },
          { paddingOffset, mirror: true },
        ],
  );
}

/** The chip mirrored left to right (RGB, row-major). */
export function mirrorImage(image: RawImage): RawImage {
  const { width: w, height: h } = image;
  const c = 3;
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let x = 0; x < w; x++) {
      const from = row + (w - 1 - x) * c;
      const to = row + x * c;
      for (let k = 0; k < c; k++) out[to + k] = image.data[from + k];
    }
  }
  return { ...image, data: out };
}

/** The element-wise mean of equal-length descriptors. */
export function meanDescriptor(descriptors: readonly Float32Array[]): Float32Array {
  if (descriptors.length === 0) throw new FedexError('BAD_ARGUMENT', 'meanDescriptor: no descriptors');
  const out = new Float32Array(descriptors[0].length);
  for (const d of descriptors) {
    if (d.length !== out.length) throw new FedexError('BAD_ARGUMENT', 'meanDescriptor: lengths differ');
    for (let i = 0; i < out.length; i++) out[i] += d[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= descriptors.length;
  return out;
}
