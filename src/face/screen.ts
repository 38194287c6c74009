/**
 * Screens a photo's detections before they become "people": a box that mostly overlaps a more
 * confident one is the same face found twice (dropped); a face far smaller than the photo's main
 * one, or under `minSidePx`, is a bystander or too blurry to describe (flagged `small`); a box with
 * a large part outside the photo is a face cut by its edge (flagged `edge`). Flagged faces stay in
 * the gallery with the reason, but are not grouped into people and are not named by the model.
 *
 * Pure geometry: boxes in, verdicts out (the face app and its tests call it).
 */
import type { Box } from './geometry.js';

export type ScreenFlag = 'small' | 'edge';

export interface ScreenOptions {
  /** Shorter box side under this many pixels: `small`. Default 32. */
  minSidePx: number;
  /** Box area under this share of the largest box's: `small` (a bystander). Default 0.04. */
  minAreaShareOfLargest: number;
  /** Share of the box's area outside the photo above which it is `edge`. Default 0.25. */
  maxOutside: number;
  /** Intersection over union above which the less confident box is a duplicate. Default 0.45. */
  duplicateIou: number;
}

export const DEFAULT_SCREEN_OPTIONS: Readonly<ScreenOptions> = Object.freeze({
  minSidePx: 32,
  minAreaShareOfLargest: 0.04,
  maxOutside: 0.25,
  duplicateIou: 0.45,
});

/** What became of one detection (same order as the input). */
export interface ScreenVerdict {
  /** False: a duplicate of `duplicateOf` (an index into the input), to be dropped. */
  keep: boolean;
  duplicateOf?: number;
  /** Why a kept face should not become a person (empty: a good face). */
  flags: ScreenFlag[];
}

const area = (b: Box): number => Math.max(0, b.width) * Math.max(0, b.height);

/** Intersection over union of two boxes. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = w > 0 && h > 0 ? w * h : 0;
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

/** Share of `b`'s area that lies outside a `width × height` photo. */
export function outsideShare(b: Box, width: number, height: number): number {
  const a = area(b);
  return a > 0 ? 1 - clipArea(b, width, height) / a : 1;
}

function clipArea(b: Box, width: number, height: number): number {
  const w = Math.min(b.x + b.width, width) - Math.max(b.x, 0);
  const h = Math.min(b.y + b.height, height) - Math.max(b.y, 0);
  return w > 0 && h > 0 ? w * h : 0;
}

/**
 * @example
 * screenFaces([{ box: { x: 10, y: 10, width: 100, height: 100 }, score: 0.9 },
 *              { box: { x: 12, y: 12, width: 100, height: 100 }, score: 0.8 }], 400, 300);
 * // [{ keep: true, flags: [] }, { keep: false, duplicateOf: 0, flags: [] }]
 */
export function screenFaces(
  faces: readonly { box: Box; score: number }[],
  width: number,
  height: number,
  options: Partial<ScreenOptions> = {},
): ScreenVerdict[] {
  const o = { ...DEFAULT_SCREEN_OPTIONS, ...options };
  const order = faces.map((_, i) => i).sort((a, b) => faces[b].score - faces[a].score);
  const verdicts: ScreenVerdict[] = faces.map(() => ({ keep: true, flags: [] }));
  const kept: number[] = [];
  for (const i of order) {
    const dup = kept.find((j) => iou(faces[i].box, faces[j].box) > o.duplicateIou);
    if (dup !== undefined) verdicts[i] = { keep: false, duplicateOf: dup, flags: [] };
    else kept.push(i);
  }
  const largest = Math.max(0, ...kept.map((i) => area(faces[i].box)));
  for (const i of kept) {
    const b = faces[i].box;
    const flags: ScreenFlag[] = [];
    if (Math.min(b.width, b.height) < o.minSidePx || area(b) < o.minAreaShareOfLargest * largest)
      flags.push('small');
    if (outsideShare(b, width, height) > o.maxOutside) flags.push('edge');
    verdicts[i].flags = flags;
  }
  return verdicts;
}
