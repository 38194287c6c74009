/**
 * Synthetic face masks: the seed's "masked face recognition" without a masked dataset. A mask is
 * drawn on the aligned chip from the face's 68 landmarks, from the jaw line up to the nose bridge,
 * in one of a few shapes (surgical with pleats, cloth, N95) and colours. Which shape and colour a
 * face gets is a pure function of a seed and the face's landmarks, so the same photo is masked the
 * same way on every run and every machine (feature caches stay valid; a bench can be rerun).
 *
 * Pure TypeScript over `RawImage`; no tfjs, no I/O. The face pipeline draws it when its `mask`
 * option is `'synthetic'` (./pipeline.ts); the dataset option `--mask none|all|probe|mixed`
 * decides which photos take masked features (src/data/mask-mix.ts).
 */
import { deriveSeed, createRng } from '../core/random.js';
import type { RawImage } from '../core/types.js';
import { type Affine, applyAffine, meanPoint, type Point } from './geometry.js';

export type MaskShape = 'surgical' | 'cloth' | 'n95';

export const MASK_SHAPES: readonly MaskShape[] = ['surgical', 'cloth', 'n95'];

/** Colours a mask is drawn in (RGB): surgical blue and white, black, grey, navy, pink. */
export const MASK_COLOURS: readonly (readonly [number, number, number])[] = [
  [148, 190, 222],
  [236, 238, 240],
  [34, 34, 38],
  [128, 130, 134],
  [40, 52, 96],
  [222, 160, 178],
];

export interface MaskStyle {
  shape: MaskShape;
  colour: readonly [number, number, number];
  /** Seed of the fabric's texture noise. */
  texture: number;
}

/** The chip's whole-pixel landmarks as a stable key (the same photo gives the same key). */
function landmarkKey(landmarks: readonly Point[]): string {
  return landmarks.map((p) => `${Math.round(p.x)},${Math.round(p.y)}`).join(';');
}

/** The mask a face gets: a pure function of `seed` and its landmarks. */
export function maskStyleFor(seed: number, landmarks: readonly Point[]): MaskStyle {
  const rng = createRng(deriveSeed(seed, landmarkKey(landmarks)));
  const shape = MASK_SHAPES[Math.floor(rng() * MASK_SHAPES.length)];
  const colour = MASK_COLOURS[Math.floor(rng() * MASK_COLOURS.length)];
  return { shape, colour, texture: Math.floor(rng() * 2 ** 31) };
}

/** `p` moved away from `c` by `f` of their distance. */
function away(p: Point, c: Point, f: number): Point {
  return { x: p.x + (p.x - c.x) * f, y: p.y + (p.y - c.y) * f };
}

/** Point `t` of the way from `a` to `b`. */
function lerp(a: Point, b: Point, t: number): Point {
  return { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t };
}

/**
 * The mask's outline from 68 landmarks (dlib order: jaw 0-16, nose bridge 27-30): its top edge
 * crosses the nose bridge and meets the jaw line on both sides; its bottom follows the jaw line,
 * a little outside it so the chin is covered.
 *
 * - `surgical`: top edge over the middle of the nose bridge (between points 28 and 29), nearly
 *   straight, from jaw point 1 to 15.
 * - `cloth`: top edge higher (point 28), bottom further below the chin.
 * - `n95`: top edge at point 28, cup-shaped: sides from jaw points 2 and 14, pulled in.
 */
export function maskPolygon(landmarks: readonly Point[], shape: MaskShape): Point[] {
  if (landmarks.length !== 68) throw new RangeError(`expected 68 landmarks, got ${landmarks.length}`);
  const jaw = landmarks.slice(0, 17);
  const nose = shape === 'surgical' ? lerp(landmarks[28], landmarks[29], 0.5) : landmarks[28];
  const centre = meanPoint([nose, landmarks[8]]);
  const [from, to] = shape === 'n95' ? [2, 14] : [1, 15];
  const outside = shape === 'cloth' ? 0.12 : shape === 'n95' ? 0.04 : 0.07;
  const bottom = jaw.slice(from, to + 1).map((p) => away(p, centre, outside));
  if (shape === 'n95') {
    // A cup: the sides pulled towards the centre, the chin point pushed down.
    for (let i = 0; i < bottom.length; i++) {
      const t = Math.abs(i - (bottom.length - 1) / 2) / ((bottom.length - 1) / 2);
      bottom[i] = lerp(bottom[i], centre, 0.12 * t * (1 - t) * 4);
    }
  }
  // The top edge: from the last jaw point to the nose and back to the first, slightly raised in
  // the middle (a mask rides over the nose).
  const left = bottom[0];
  const right = bottom[bottom.length - 1];
  const top: Point[] = [];
  for (let i = 1; i < 8; i++) {
    const t = i / 8;
    const onLine = t < 0.5 ? lerp(right, nose, t * 2) : lerp(nose, left, (t - 0.5) * 2);
    const lift = Math.sin(Math.PI * t) * 0.04 * Math.hypot(right.x - left.x, right.y - left.y);
    top.push({ x: onLine.x, y: onLine.y - lift });
  }
  return [...bottom, ...top];
}

/** Even-odd test: is `(x, y)` inside `polygon`? */
export function insidePolygon(polygon: readonly Point[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const a = polygon[i];
    const b = polygon[j];
    if (a.y > y !== b.y > y && x < ((b.x - a.x) * (y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
  }
  return inside;
}

/**
 * A copy of `image` with the mask drawn over the face whose 68 landmarks (in the image's pixel
 * coordinates) are given. Fabric: the colour with a seeded texture and a soft shade towards the
 * bottom; a surgical mask gets three horizontal pleats.
 */
export function drawMask(image: RawImage, landmarks: readonly Point[], style: MaskStyle): RawImage {
  if (image.channels !== 3) throw new RangeError(`expected an RGB image, got ${image.channels} channels`);
  const polygon = maskPolygon(landmarks, style.shape);
  const out = { ...image, data: Uint8Array.from(image.data) };
  const xs = polygon.map((p) => p.x);
  const ys = polygon.map((p) => p.y);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(image.width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(image.height - 1, Math.ceil(Math.max(...ys)));
  const rng = createRng(style.texture);
  const height = Math.max(1, y1 - y0);
  for (let y = y0; y <= y1; y++) {
    const v = (y - y0) / height;
    const pleat =
      style.shape === 'surgical' && [0.3, 0.5, 0.7].some((p) => Math.abs(v - p) < 0.025) ? -28 : 0;
    const shade = pleat - 18 * v;
    for (let x = x0; x <= x1; x++) {
      if (!insidePolygon(polygon, x + 0.5, y + 0.5)) continue;
      const noise = (rng() - 0.5) * 12;
      const i = (y * image.width + x) * 3;
      for (let k = 0; k < 3; k++)
        out.data[i + k] = Math.max(0, Math.min(255, Math.round(style.colour[k] + shade + noise)));
    }
  }
  return out;
}

/** Inverse of an invertible 2x3 affine map. */
export function invertAffine(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (Math.abs(det) < 1e-12) throw new RangeError('affine map is not invertible');
  return [e / det, -b / det, (b * f - c * e) / det, -d / det, a / det, (c * d - a * f) / det];
}

/**
 * The aligned chip of a face with its synthetic mask: `transform` maps chip pixels to the photo
 * (as `alignFace` returns it) and `landmarks` are in the photo's coordinates.
 */
export function maskChip(
  chip: RawImage,
  transform: Affine,
  landmarks: readonly Point[],
  seed: number,
): RawImage {
  const toChip = invertAffine(transform);
  const inChip = landmarks.map((p) => applyAffine(toChip, p));
  return drawMask(chip, inChip, maskStyleFor(seed, inChip));
}
