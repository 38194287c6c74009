import { describe, expect, it } from 'vitest';
import type { Face } from './model.js';
import {
  type Grouper,
  likelyName,
  mergeEdit,
  peopleCountText,
  peopleOf,
  pruneEdits,
  splitEdit,
} from './people.js';

function face(id: string, descriptor: number[]): Face {
  return {
    id,
    photo: `${id}.jpg`,
    index: 0,
    label: null,
    descriptor,
    prediction: null,
    score: 1,
    addedAt: 0,
  };
}

/** A fixed clustering, so the edits are tested apart from the clustering method. */
const fixed =
  (groups: string[][]): Grouper =>
  (faces) =>
    groups.map((g) => faces.filter((f) => g.includes(f.id))).filter((g) => g.length > 0);

const faces = ['a1', 'a2', 'a3', 'b1', 'b2', 'c1'].map((id) => face(id, [0]));
const grouper = fixed([['a1', 'a2', 'a3'], ['b1', 'b2'], ['c1']]);
const ids = (people: ReturnType<typeof peopleOf>) => people.map((p) => p.faces.map((f) => f.id));

describe('peopleOf', () => {
  it('lists the clusters biggest first', () => {
    expect(ids(peopleOf(faces, [], grouper))).toEqual([['a1', 'a2', 'a3'], ['b1', 'b2'], ['c1']]);
  });

  it('merges two people into one', () => {
    const [a, b, c] = peopleOf(faces, [], grouper);
    expect(a).toBeDefined();
    const merged = peopleOf(faces, [mergeEdit(b, c)], grouper);
    expect(ids(merged)).toEqual([
      ['a1', 'a2', 'a3'],
      ['b1', 'b2', 'c1'],
    ]);
  });

  it('splits one face off into a person of its own', () => {
    expect(ids(peopleOf(faces, [splitEdit('a2')], grouper))).toEqual([
      ['a1', 'a3'],
      ['b1', 'b2'],
      ['a2'],
      ['c1'],
    ]);
  });

  it('replays edits in order: a face split off and merged back is where the user put it', () => {
    const edits = [splitEdit('a2'), { kind: 'merge' as const, a: 'b1', b: 'a2' }];
    expect(ids(peopleOf(faces, edits, grouper))).toEqual([['a2', 'b1', 'b2'], ['a1', 'a3'], ['c1']]);
  });

  it('ignores edits about faces that are no longer there', () => {
    const edits = [splitEdit('gone'), { kind: 'merge' as const, a: 'a1', b: 'gone' }];
    expect(ids(peopleOf(faces, edits, grouper))).toEqual(ids(peopleOf(faces, [], grouper)));
    expect(pruneEdits([...edits, splitEdit('a1')], faces)).toEqual([splitEdit('a1')]);
  });

  it('clusters real descriptors with src/cluster by default', () => {
    // Two tight groups far apart in 128-d: two people.
    const unit = (axis: number, wobble: number) =>
      Array.from({ length: 128 }, (_, i) => (i === axis ? 0.6 : 0) + (i === 100 ? wobble : 0));
    const real = [
      face('x1', unit(0, 0)),
      face('x2', unit(0, 0.02)),
      face('x3', unit(0, 0.04)),
      face('y1', unit(1, 0)),
      face('y2', unit(1, 0.03)),
    ];
    const people = peopleOf(real);
    expect(ids(people)).toEqual([
      ['x1', 'x2', 'x3'],
      ['y1', 'y2'],
    ]);
    expect(peopleCountText(people.length)).toBe('2 people found');
  });

  it('says how many people it found', () => {
    expect(peopleCountText(1)).toBe('1 person found');
    expect(peopleCountText(0)).toMatch(/nobody/);
    expect(peopleOf([], [])).toEqual([]);
  });
});

describe('likelyName', () => {
  const guess = (id: string, name: string | null): Face => ({
    ...face(id, [0]),
    prediction: name === null ? null : { name, confidence: 0.9, modelVersion: 1 },
  });

  it("is the model's most frequent guess among the person's faces, unknown left out", () => {
    const p = {
      key: 'a',
      faces: [guess('a', 'Raj'), guess('b', 'unknown'), guess('c', 'Raj'), guess('d', 'Amy')],
    };
    expect(likelyName(p)).toEqual({ name: 'Raj', faces: 2 });
  });

  it('is null before a model or when every guess is unknown', () => {
    expect(likelyName({ key: 'a', faces: [guess('a', null), guess('b', 'unknown')] })).toBeNull();
  });
});
