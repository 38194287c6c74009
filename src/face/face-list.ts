/**
 * Every face of one photo as one fixed-size Float32 record, so a photo's faces fit where one
 * feature vector goes: a feature-cache record (fixed size per file) and an extraction worker's
 * reply. `fedex cluster` stores what it needs of each face this way: where it is, how sure the
 * detector was, the chip transform (to cut the same face crop again for a thumbnail) and its
 * descriptor.
 *
 * Layout (all float32):
 *
 *   header: FACE_LIST_FORMAT | faces analysed | faces stored | main face's slot (-1: none)
 *   slots:  `slots` × [index among the analysed faces, box x, y, width, height, detection score,
 *           chip-to-photo affine a b c d e f, descriptor × 128]; unused slots are zeros
 *
 * A photo with more faces than slots keeps its main face and the best-scoring others (in their
 * analysed order); `analysed` still says how many there were, so a caller can tell what was left out.
 *
 * Pure: no I/O, no tfjs.
 */
import { FedexError } from '../core/errors.js';
import type { RawImage } from '../core/types.js';
import { DEFAULT_ALIGN_OPTIONS } from './align.js';
import { affineScale, type Affine, type Box } from './geometry.js';
import { warpAffine } from './warp.js';

/** First header value; bump when the layout changes (the extractor's spec changes with it). */
export const FACE_LIST_FORMAT = 1;
/** Values before the first slot. */
export const FACE_LIST_HEADER = 4;
/** Descriptor length (face-api's ResNet). */
export const FACE_LIST_DESCRIPTOR = 128;
/** Values per face slot: index, box (4), score, affine (6), descriptor. */
export const FACE_LIST_SLOT = 12 + FACE_LIST_DESCRIPTOR;
/** Faces kept per photo by default (`fedex cluster --faces all`): 8.9 KB a record. */
export const FACE_LIST_MAX = 16;

/** One face of a photo, as stored. */
export interface ListedFace {
  /** Index of the face among the photo's analysed faces. */
  index: number;
  /** In the photo's pixel coordinates. */
  box: Box;
  /** Detection confidence (0..1). */
  score: number;
  /** Chip pixel to photo pixel (see `AlignedFace.transform`): cuts the face's aligned chip again. */
  chipTransform: Affine;
  descriptor: Float32Array;
}

/** A photo's faces. */
export interface FaceList {
  /** Faces analysed in the photo (may exceed `faces.length` when some did not fit). */
  analysed: number;
  /** Stored faces, in analysed order. */
  faces: ListedFace[];
  /** Index in `faces` of the photo's main face, -1 when none. */
  main: number;
}

/** Record length for `slots` faces. */
export function faceListLength(slots: number = FACE_LIST_MAX): number {
  if (!Number.isInteger(slots) || slots < 1)
    throw new FedexError('BAD_ARGUMENT', `a face list needs at least one slot (got ${slots})`);
  return FACE_LIST_HEADER + slots * FACE_LIST_SLOT;
}

/**
 * The faces kept when at most `slots` fit: the main face, then the best scores (ties: the earlier
 * face), returned as indices in ascending order.
 */
export function keptFaces(scores: readonly number[], main: number, slots: number): number[] {
  if (scores.length <= slots) return scores.map((_, i) => i);
  const order = scores
    .map((_, i) => i)
    .sort((a, b) => (a === main ? -1 : b === main ? 1 : scores[b] - scores[a] || a - b));
  return order.slice(0, slots).sort((a, b) => a - b);
}

/**
 * Packs a photo's analysed faces into a record of `slots` faces. `faces[i].index` is ignored: a
 * face's index is its position in `faces`.
 *
 * @example
 * const record = encodeFaceList({ faces, main: 0 }); // Float32Array(faceListLength())
 * decodeFaceList(record).faces.length; // min(faces.length, FACE_LIST_MAX)
 */
export function encodeFaceList(
  list: { faces: readonly Omit<ListedFace, 'index'>[]; main: number },
  slots: number = FACE_LIST_MAX,
): Float32Array {
  const out = new Float32Array(faceListLength(slots));
  const { faces, main } = list;
  if (!Number.isInteger(main) || main < -1 || main >= faces.length)
    throw new FedexError('BAD_ARGUMENT', `main face ${main} is not one of the ${faces.length} face(s)`);
  const kept = keptFaces(
    faces.map((f) => f.score),
    main,
    slots,
  );
  out[0] = FACE_LIST_FORMAT;
  out[1] = faces.length;
  out[2] = kept.length;
  out[3] = main < 0 ? -1 : kept.indexOf(main);
  kept.forEach((index, slot) => {
    const f = faces[index];
    if (f.descriptor.length !== FACE_LIST_DESCRIPTOR)
      throw new FedexError(
        'BAD_ARGUMENT',
        `face ${index} has a ${f.descriptor.length}-value descriptor, expected ${FACE_LIST_DESCRIPTOR}`,
      );
    if (f.chipTransform.length !== 6)
      throw new FedexError('BAD_ARGUMENT', `face ${index}: a chip transform has 6 values`);
    const o = FACE_LIST_HEADER + slot * FACE_LIST_SLOT;
    out[o] = index;
    out[o + 1] = f.box.x;
    out[o + 2] = f.box.y;
    out[o + 3] = f.box.width;
    out[o + 4] = f.box.height;
    out[o + 5] = f.score;
    out.set(f.chipTransform, o + 6);
    out.set(f.descriptor, o + 12);
  });
  return out;
}

const count = (v: number, max: number): boolean => Number.isInteger(v) && v >= 0 && v <= max;

/**
 * Unpacks a record made by `encodeFaceList` (descriptors are copies, not views of the record).
 *
 * @throws FedexError FEATURE_MISMATCH when the length fits no slot count; CODEC_BAD_VALUE when the
 * header is not a face list's or its counts do not add up.
 */
export function decodeFaceList(record: Float32Array): FaceList {
  const slots = (record.length - FACE_LIST_HEADER) / FACE_LIST_SLOT;
  if (!Number.isInteger(slots) || slots < 1)
    throw new FedexError(
      'FEATURE_MISMATCH',
      `a face list has ${FACE_LIST_HEADER} + k × ${FACE_LIST_SLOT} values (k >= 1); got ${record.length}`,
    );
  const [format, analysed, stored, main] = record;
  const bad = (why: string): FedexError => new FedexError('CODEC_BAD_VALUE', `not a face list: ${why}`);
  if (format !== FACE_LIST_FORMAT) throw bad(`format ${format}, expected ${FACE_LIST_FORMAT}`);
  if (!count(stored, slots)) throw bad(`${stored} faces stored in ${slots} slot(s)`);
  if (!count(analysed, Number.MAX_SAFE_INTEGER) || analysed < stored)
    throw bad(`${analysed} faces analysed, ${stored} stored`);
  if (!(Number.isInteger(main) && main >= -1 && main < stored)) throw bad(`main face ${main} of ${stored}`);
  const faces: ListedFace[] = [];
  for (let slot = 0; slot < stored; slot++) {
    const o = FACE_LIST_HEADER + slot * FACE_LIST_SLOT;
    const index = record[o];
    if (!count(index, analysed - 1) || (slot > 0 && index <= faces[slot - 1].index))
      throw bad(`face index ${index} in slot ${slot}`);
    faces.push({
      index,
      box: { x: record[o + 1], y: record[o + 2], width: record[o + 3], height: record[o + 4] },
      score: record[o + 5],
      chipTransform: Array.from(record.subarray(o + 6, o + 12)) as unknown as Affine,
      descriptor: record.slice(o + 12, o + 12 + FACE_LIST_DESCRIPTOR),
    });
  }
  return { analysed, faces, main };
}

/**
 * The aligned chip of a listed face, cut again from its photo: the chip its descriptor was made
 * from (as `alignFace` cuts it, antialiased), e.g. for a thumbnail.
 *
 * @example
 * const chip = faceChip(await readImageFile(file), list.faces[list.main]); // 150x150 RGB
 */
export function faceChip(image: RawImage, face: Pick<ListedFace, 'chipTransform'>): RawImage {
  const size = DEFAULT_ALIGN_OPTIONS.size;
  const samples = Math.max(1, Math.round(affineScale(face.chipTransform)));
  return warpAffine(image, face.chipTransform, size, size, { samples });
}
