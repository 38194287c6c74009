/**
 * Which face is "the" face of a photo (a dataset photo, a gallery photo the user labels). Pure.
 *
 * The rule, in order:
 * 1. Only large faces compete: box area at least `minAreaRatio` (default 0.5) of the largest
 *    detected face's area. Background faces in a portrait are smaller than the subject.
 * 2. Among them, the face whose box centre is nearest the image centre wins (photographers and
 *    dataset crops such as LFW centre the subject).
 * 3. Near-ties — centre distances within `tieFraction` (default 5%) of the image diagonal — go to
 *    the more confident detection.
 */
import type { Box } from './geometry.js';

export interface MainFaceOptions {
  /** Faces smaller than this fraction of the largest face's area are ignored. Default 0.5. */
  minAreaRatio?: number;
  /** Centre distances closer than this fraction of the image diagonal count as a tie. Default 0.05. */
  tieFraction?: number;
}

export const DEFAULT_MAIN_FACE_OPTIONS: Required<MainFaceOptions> = { minAreaRatio: 0.5, tieFraction: 0.05 };

/**
 * Index of the main face among `faces` in a `width` x `height` image, or -1 when there is none.
 *
 * @example
 * chooseMainFace([{ box: { x: 0, y: 0, width: 10, height: 10 }, score: 0.9 }], 100, 100); // 0
 */
export function chooseMainFace(
  faces: readonly { box: Box; score: number }[],
  width: number,
  height: number,
  options: MainFaceOptions = {},
): number {
  const { minAreaRatio, tieFraction } = { ...DEFAULT_MAIN_FACE_OPTIONS, ...options };
  if (faces.length === 0) return -1;
  const area = (b: Box): number => Math.max(0, b.width) * Math.max(0, b.height);
  const maxArea = Math.max(...faces.map((f) => area(f.box)));
  const cx = width / 2;
  const cy = height / 2;
  const tie = tieFraction * Math.hypot(width, height);
  let best = -1;
  let bestDist = Infinity;
  faces.forEach((f, i) => {
    if (area(f.box) < minAreaRatio * maxArea) return;
    const dist = Math.hypot(f.box.x + f.box.width / 2 - cx, f.box.y + f.box.height / 2 - cy);
    const better =
      best < 0 || dist < bestDist - tie || (Math.abs(dist - bestDist) <= tie && f.score > faces[best].score);
    if (better) {
      best = i;
      bestDist = dist;
    }
  });
  return best;
}
