/**
 * Pure 2-D geometry for face alignment: points, boxes, affine maps, the least-squares similarity
 * transform (Umeyama 1991, no reflection) and dlib's face-chip templates. No tfjs, no I/O.
 *
 * Conventions: image coordinates in pixels, x right, y down, pixel (i, j) centred at (i, j).
 * An `Affine` maps a point of the aligned crop ("chip") to the source image:
 * `x' = a*x + b*y + c`, `y' = d*x + e*y + f`.
 */

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Row-major 2x3 affine map `[a, b, c, d, e, f]`. */
export type Affine = readonly [number, number, number, number, number, number];

export function applyAffine(m: Affine, p: Point): Point {
  return { x: m[0] * p.x + m[1] * p.y + m[2], y: m[3] * p.x + m[4] * p.y + m[5] };
}

export function meanPoint(points: readonly Point[]): Point {
  let x = 0;
  let y = 0;
  for (const p of points) {
    x += p.x;
    y += p.y;
  }
  return { x: x / points.length, y: y / points.length };
}

/**
 * The similarity (rotation, uniform scale, translation; no reflection or shear) that maps `from`
 * onto `to` with the least squared error. With two points it is exact.
 *
 * Treating points as complex numbers z (from) and w (to), the map is w = s*z + t with complex
 * s = sum(conj(z - z̄)(w - w̄)) / sum(|z - z̄|²) and t = w̄ - s*z̄, which is Umeyama's solution.
 *
 * @example
 * similarityTransform([{x:0,y:0},{x:1,y:0}], [{x:10,y:10},{x:10,y:12}]) // rotate 90°, scale 2
 */
export function similarityTransform(from: readonly Point[], to: readonly Point[]): Affine {
  if (from.length !== to.length || from.length < 2) {
    throw new RangeError('similarityTransform needs two lists of at least 2 matching points');
  }
  const zm = meanPoint(from);
  const wm = meanPoint(to);
  let re = 0;
  let im = 0;
  let norm = 0;
  for (let i = 0; i < from.length; i++) {
    const zx = from[i].x - zm.x;
    const zy = from[i].y - zm.y;
    const wx = to[i].x - wm.x;
    const wy = to[i].y - wm.y;
    // conj(z) * w = (zx - i zy)(wx + i wy)
    re += zx * wx + zy * wy;
    im += zx * wy - zy * wx;
    norm += zx * zx + zy * zy;
  }
  if (norm === 0) throw new RangeError('similarityTransform: the source points coincide');
  const a = re / norm;
  const b = im / norm;
  // w = (a + ib)(x + iy) + t  =>  x' = a x - b y + tx,  y' = b x + a y + ty
  return [a, -b, wm.x - (a * zm.x - b * zm.y), b, a, wm.y - (b * zm.x + a * zm.y)];
}

/** Uniform scale of a similarity map (source pixels per chip pixel). */
export function affineScale(m: Affine): number {
  return Math.sqrt(Math.abs(m[0] * m[4] - m[1] * m[3]));
}

/** Roll angle of a similarity map, in degrees (positive: the chip's x axis turns clockwise in the image). */
export function affineRollDegrees(m: Affine): number {
  return (Math.atan2(m[3], m[0]) * 180) / Math.PI;
}

// ---------------------------------------------------------------------------------------------
// dlib templates. The face-api recognition network is dlib's `dlib_face_recognition_resnet_model_v1`,
// trained on chips that dlib's `get_face_chip_details(shape, 150, 0.25)` cuts: a similarity
// transform taking landmarks onto a canonical face on the unit square, padded by 25% per side.

/**
 * dlib's 5-point template on the unit square (dlib/image_transforms/interpolation.h,
 * `get_face_chip_details`): [image-right eye outer corner, its inner corner, image-left eye outer
 * corner, its inner corner, base of the nose]. In the 68-point scheme: 45, 42, 36, 39, 33.
 */
export const DLIB_TEMPLATE_5: readonly Point[] = [
  { x: 0.8595674595992, y: 0.2134981538014 },
  { x: 0.6460604764104, y: 0.2289674387677 },
  { x: 0.1205750620789, y: 0.2137274526848 },
  { x: 0.3340850613712, y: 0.2290642403242 },
  { x: 0.4901123135679, y: 0.6277975316475 },
];

/** The 68-point indices matching `DLIB_TEMPLATE_5`. */
export const DLIB_5_FROM_68: readonly number[] = [45, 42, 36, 39, 33];

/** Places a unit-square template point in a `size`-pixel chip with dlib's padding rule. */
export function chipPoint(p: Point, size: number, padding: number): Point {
  return { x: ((padding + p.x) / (2 * padding + 1)) * size, y: ((padding + p.y) / (2 * padding + 1)) * size };
}
