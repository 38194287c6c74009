import { describe, expect, it } from 'vitest';
import { isFedexError } from '../core/errors.js';
import {
  decodeFaceList,
  encodeFaceList,
  FACE_LIST_FORMAT,
  FACE_LIST_HEADER,
  FACE_LIST_MAX,
  FACE_LIST_SLOT,
  faceListLength,
  keptFaces,
  type ListedFace,
} from './face-list.js';
import type { Affine } from './geometry.js';

/** A face whose numbers are all derived from `k` (float32-exact), descriptor filled with k / 8. */
function face(k: number, score = 0.5 + k / 64): Omit<ListedFace, 'index'> {
  return {
    box: { x: 10 * k, y: 20 + k, width: 40.5, height: 48.25 },
    score,
    chipTransform: [0.5, -0.25, 100 + k, 0.25, 0.5, 60] as Affine,
    descriptor: new Float32Array(128).fill(k / 8),
  };
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isFedexError(e) ? e.code : 'not a FedexError';
  }
  return undefined;
}

describe('encodeFaceList / decodeFaceList', () => {
  it('round-trips every field of every face, with the main face and the count analysed', () => {
    // Prepare
    const faces = [face(0), face(1), face(2)];
    // Execute
    const record = encodeFaceList({ faces, main: 1 });
    const list = decodeFaceList(record);
    // Assert
    expect(record.length).toBe(faceListLength(FACE_LIST_MAX));
    expect(record.length).toBe(FACE_LIST_HEADER + FACE_LIST_MAX * FACE_LIST_SLOT);
    expect(list.analysed).toBe(3);
    expect(list.main).toBe(1);
    expect(list.faces).toEqual(faces.map((f, index) => ({ index, ...f })));
    // Unused slots are zeros.
    expect(record.subarray(FACE_LIST_HEADER + 3 * FACE_LIST_SLOT).every((v) => v === 0)).toBe(true);
  });

  it('keeps a photo without a main face (-1) and fits a one-slot record', () => {
    const list = decodeFaceList(encodeFaceList({ faces: [face(3)], main: -1 }, 1));
    expect(list.main).toBe(-1);
    expect(list.faces.map((f) => f.index)).toEqual([0]);
  });

  it('gives descriptors that are copies, not views of the record', () => {
    const record = encodeFaceList({ faces: [face(1)], main: 0 }, 1);
    const list = decodeFaceList(record);
    record.fill(0);
    expect(list.faces[0].descriptor[0]).toBe(1 / 8);
  });

  it('keeps the main face and the highest scores when there are more faces than slots', () => {
    // Prepare: 6 faces for 3 slots. Scores: face 4 best, then 1, then 5; main is face 0 (worst).
    const scores = [0.31, 0.9, 0.5, 0.4, 0.95, 0.7];
    const faces = scores.map((s, k) => face(k, s));
    // Execute
    const list = decodeFaceList(encodeFaceList({ faces, main: 0 }, 3));
    // Assert: the main face, then the two best, in their analysed order; main's slot follows it.
    expect(list.analysed).toBe(6);
    expect(list.faces.map((f) => f.index)).toEqual([0, 1, 4]);
    expect(list.faces.map((f) => f.score)).toEqual([0.31, 0.9, 0.95].map(Math.fround));
    expect(list.main).toBe(0);
    expect(list.faces[2].descriptor[0]).toBe(4 / 8);
  });

  it('keeps FACE_LIST_MAX faces of a crowd by default, main face included', () => {
    const faces = Array.from({ length: 40 }, (_, k) => face(k, 1 - k / 100));
    const list = decodeFaceList(encodeFaceList({ faces, main: 39 }));
    expect(list.analysed).toBe(40);
    expect(list.faces).toHaveLength(FACE_LIST_MAX);
    expect(list.faces.map((f) => f.index)).toEqual([
      ...Array.from({ length: FACE_LIST_MAX - 1 }, (_, k) => k),
      39,
    ]);
    expect(list.main).toBe(FACE_LIST_MAX - 1);
  });

  it('rejects a record whose length fits no slot count (FEATURE_MISMATCH)', () => {
    expect(codeOf(() => decodeFaceList(new Float32Array(128)))).toBe('FEATURE_MISMATCH');
    expect(codeOf(() => decodeFaceList(new Float32Array(FACE_LIST_HEADER)))).toBe('FEATURE_MISMATCH');
    expect(codeOf(() => decodeFaceList(new Float32Array(faceListLength(2) + 1)))).toBe('FEATURE_MISMATCH');
  });

  it('rejects a record that is not a face list or whose counts do not add up (CODEC_BAD_VALUE)', () => {
    const good = (): Float32Array => encodeFaceList({ faces: [face(0), face(1)], main: 0 }, 2);
    const broken = (at: number, value: number): Float32Array => {
      const r = good();
      r[at] = value;
      return r;
    };
    expect(codeOf(() => decodeFaceList(good()))).toBeUndefined();
    expect(codeOf(() => decodeFaceList(new Float32Array(faceListLength(1))))).toBe('CODEC_BAD_VALUE');
    expect(codeOf(() => decodeFaceList(broken(0, FACE_LIST_FORMAT + 1)))).toBe('CODEC_BAD_VALUE');
    expect(codeOf(() => decodeFaceList(broken(2, 3)))).toBe('CODEC_BAD_VALUE'); // 3 stored in 2 slots
    expect(codeOf(() => decodeFaceList(broken(1, 1)))).toBe('CODEC_BAD_VALUE'); // fewer analysed than stored
    expect(codeOf(() => decodeFaceList(broken(3, 2)))).toBe('CODEC_BAD_VALUE'); // main past the stored faces
    expect(codeOf(() => decodeFaceList(broken(1, 2.5)))).toBe('CODEC_BAD_VALUE');
    // Indices must rise: slot 1 may not repeat slot 0's face.
    expect(codeOf(() => decodeFaceList(broken(FACE_LIST_HEADER + FACE_LIST_SLOT, 0)))).toBe(
      'CODEC_BAD_VALUE',
    );
  });

  it('refuses to encode a bad main face, descriptor or slot count (BAD_ARGUMENT)', () => {
    expect(codeOf(() => encodeFaceList({ faces: [face(0)], main: 1 }))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => encodeFaceList({ faces: [], main: 0 }))).toBe('BAD_ARGUMENT');
    const short = { ...face(0), descriptor: new Float32Array(64) };
    expect(codeOf(() => encodeFaceList({ faces: [short], main: 0 }))).toBe('BAD_ARGUMENT');
    expect(codeOf(() => encodeFaceList({ faces: [face(0)], main: 0 }, 0))).toBe('BAD_ARGUMENT');
  });
});

describe('keptFaces', () => {
  it('keeps every face when they fit, and breaks score ties by the earlier face', () => {
    expect(keptFaces([0.1, 0.2], -1, 2)).toEqual([0, 1]);
    expect(keptFaces([0.5, 0.9, 0.5, 0.5], -1, 2)).toEqual([0, 1]);
    expect(keptFaces([0.5, 0.9, 0.5, 0.5], 3, 2)).toEqual([1, 3]);
  });
});
