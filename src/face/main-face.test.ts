import { describe, expect, it } from 'vitest';
import { chooseMainFace } from './main-face.js';

const face = (x: number, y: number, side: number, score = 0.9) => ({
  box: { x, y, width: side, height: side },
  score,
});

describe('chooseMainFace', () => {
  it('returns -1 when there is no face', () => {
    expect(chooseMainFace([], 100, 100)).toBe(-1);
  });

  it('prefers the large face nearest the centre over a larger face at the edge', () => {
    // Prepare: a 100x100 image; face 0 at the corner (side 40), face 1 centred (side 30).
    const faces = [face(0, 0, 40), face(35, 35, 30)];
    // Execute + Assert
    expect(chooseMainFace(faces, 100, 100)).toBe(1);
  });

  it('ignores a small face at the centre when a much larger one exists', () => {
    // A background face (area < half of the largest) cannot win, however central.
    const faces = [face(0, 0, 40), face(45, 45, 10)];

    expect(chooseMainFace(faces, 100, 100)).toBe(0);
  });

  it('breaks a near tie in centre distance by confidence', () => {
    const faces = [face(33, 35, 30, 0.6), face(40, 35, 30, 0.99)]; // centre distances 2 and 5

    expect(chooseMainFace(faces, 100, 100)).toBe(1);
    expect(chooseMainFace(faces, 100, 100, { tieFraction: 0 })).toBe(0);
  });
});
