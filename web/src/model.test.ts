import { describe, expect, it } from 'vitest';
import {
  type Face,
  faceIdOf,
  facesCountText,
  facesToRemove,
  formatBytes,
  formatFlops,
  importProgressText,
  importSummary,
  knownNames,
  leftDeviceText,
  NOISE_CHOICES,
  noiseChoiceOf,
  nameProblem,
  normalizeName,
  removalText,
  tileText,
  verdictText,
  trainingReadiness,
  unnamedFaces,
  upsertFaces,
  withLabel,
  withoutFaces,
} from './model.js';

function face(id: string, over: Partial<Face> = {}): Face {
  return {
    id,
    photo: `${id}.jpg`,
    index: 0,
    label: null,
    descriptor: [0, 0],
    prediction: null,
    score: 0.9,
    addedAt: 0,
    ...over,
  };
}

describe('normalizeName', () => {
  it('trims and collapses white space; empty clears the name', () => {
    expect(normalizeName('  Ann   Lee ')).toBe('Ann Lee');
    expect(normalizeName('   ')).toBeNull();
  });

  it('refuses the reserved "unknown" and names over 200 characters', () => {
    expect(() => normalizeName('Unknown')).toThrow(RangeError);
    expect(() => normalizeName('x'.repeat(201))).toThrow(/200/);
    expect(normalizeName('x'.repeat(200))).toHaveLength(200);
  });
});

describe('knownNames', () => {
  it('lists each label and model name once, sorted, without "unknown"', () => {
    const faces = [
      face('a', { label: 'Raj' }),
      face('b', { label: 'Amy' }),
      face('c', { label: 'Raj' }),
      face('d'),
    ];
    expect(knownNames(faces, ['Penny', 'unknown', 'Amy'])).toEqual(['Amy', 'Penny', 'Raj']);
  });
});

describe('tileText', () => {
  it("shows the user's name over the model's guess", () => {
    const f = face('a', { label: 'Amy', prediction: { name: 'Raj', confidence: 0.9, modelVersion: 1 } });
    expect(tileText(f)).toEqual({ name: 'Amy', source: 'named', confidence: null });
  });

  it("shows the model's guess, unknown below the threshold, or nothing yet", () => {
    expect(tileText(face('a', { prediction: { name: 'Raj', confidence: 0.8, modelVersion: 2 } }))).toEqual({
      name: 'Raj',
      source: 'predicted',
      confidence: 0.8,
    });
    expect(
      tileText(face('a', { prediction: { name: 'unknown', confidence: 0.3, modelVersion: 2 } })).source,
    ).toBe('unknown');
    expect(tileText(face('a')).source).toBe('none');
  });

  it('says why a face is unknown: far from everyone named (no guess shown), or unsure', () => {
    const far = tileText(
      face('a', { prediction: { name: 'unknown', confidence: 0.97, modelVersion: 2, because: 'far' } }),
    );
    expect(far).toMatchObject({ source: 'unknown', because: 'far' });
    expect(verdictText(far)).toBe('unknown · not like anyone you named');
    const generic = tileText(
      face('a', { prediction: { name: 'unknown', confidence: 0.9, modelVersion: 2, because: 'generic' } }),
    );
    expect(generic).toMatchObject({ source: 'unknown', because: 'generic' });
    expect(verdictText(generic)).toBe('unknown · looks like no one in particular');
    const unsure = tileText(
      face('a', { prediction: { name: 'unknown', confidence: 0.31, modelVersion: 2, because: 'unsure' } }),
    );
    expect(verdictText(unsure)).toBe('unknown · best guess 31%');
    expect(
      verdictText(tileText(face('a', { prediction: { name: 'Raj', confidence: 0.8, modelVersion: 2 } }))),
    ).toBe('Raj · 80%');
  });

  it('does not name a bystander or a face cut by the edge, and keeps them out of the People view', () => {
    const small = face('a', {
      flags: ['small'],
      prediction: { name: 'Raj', confidence: 0.9, modelVersion: 2 },
    });
    const cut = face('b', { flags: ['edge'] });
    expect(tileText(small)).toEqual({
      name: 'unknown',
      source: 'unknown',
      confidence: null,
      because: 'small',
    });
    expect(verdictText(tileText(small))).toBe('unknown · too small to tell who');
    expect(verdictText(tileText(cut))).toBe("unknown · cut by the photo's edge");
    // The user may still name one: their name wins.
    expect(tileText({ ...cut, label: 'Amy' }).source).toBe('named');
    expect(unnamedFaces([small, cut, face('c')]).map((f) => f.id)).toEqual(['c']);
  });
});

describe('gallery edits', () => {
  it('names one face and leaves the others alone (a correction is a new label)', () => {
    const faces = [face('a', { prediction: { name: 'Raj', confidence: 0.7, modelVersion: 1 } }), face('b')];
    const next = withLabel(faces, 'a', 'Howard');
    expect(next.map((f) => f.label)).toEqual(['Howard', null]);
    expect(tileText(next[0]).source).toBe('named');
    expect(faces[0].label).toBeNull(); // pure: the input list is unchanged
    expect(unnamedFaces(next).map((f) => f.id)).toEqual(['b']);
  });

  it('replaces faces of a photo imported again and appends new ones in order', () => {
    const faces = [face('p#0'), face('q#0')];
    const next = upsertFaces(faces, [face('q#0', { score: 0.5 }), face('r#0')]);
    expect(next.map((f) => f.id)).toEqual(['p#0', 'q#0', 'r#0']);
    expect(next[1].score).toBe(0.5);
  });

  it('makes face ids from the photo key and the face index', () => {
    expect(faceIdOf('0a1b2c3d4e5f6071', 2)).toBe('0a1b2c3d4e5f6071#2');
  });
});

describe('formatting', () => {
  it('formats bytes and FLOPs for the transparency panel', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(11_280)).toBe('11 kB');
    expect(formatBytes(1_500)).toBe('1.5 kB');
    expect(formatBytes(2_500_000)).toBe('2.5 MB');
    expect(formatFlops(543_599_232)).toBe('543.6 MFLOP');
    expect(formatFlops(21.7e9)).toBe('21.7 GFLOP');
  });
});

describe('cropKey', () => {
  it('makes a device store key out of a face id', async () => {
    const { cropKey } = await import('./store.js');
    expect(cropKey('81d16aa1f97003c2#0')).toBe('crop.81d16aa1f97003c2_0');
    expect(cropKey('a/..#1')).toMatch(/^crop\.[A-Za-z0-9._-]+$/);
    expect(cropKey('a/..#1')).not.toContain('..');
  });
});

describe('trainingReadiness', () => {
  const named = (i: number, label: string | null): Face => face(`p${i}#0`, { label });

  it('says in plain words what is missing until 2 people have 2 named faces each', () => {
    expect(trainingReadiness([])).toBe(
      'Name at least 2 faces of each person, and at least 2 people (now: nobody named).',
    );
    expect(trainingReadiness([named(1, 'Bob'), named(2, 'Ann'), named(3, 'Ann'), named(4, null)])).toBe(
      'Name at least 2 faces of each person, and at least 2 people (now: Ann 2, Bob 1).',
    );
    expect(
      trainingReadiness([named(1, 'Bob'), named(2, 'Ann'), named(3, 'Ann'), named(4, 'Bob')]),
    ).toBeNull();
  });

  it('counts faces with the right plural', () => {
    expect(facesCountText(1, 1)).toBe('1 face, 1 named by you');
    expect(facesCountText(40, 16)).toBe('40 faces, 16 named by you');
  });
});

describe('nameProblem', () => {
  it('says what is wrong with a typed name, and lets a blank entry clear a given name', () => {
    expect(nameProblem('   ', null)).toBe('Type a name, then press Enter.');
    expect(nameProblem('', 'Ann')).toBeNull();
    expect(nameProblem('x'.repeat(201), null)).toBe('A name has at most 200 characters.');
    expect(nameProblem('Unknown', null)).toMatch(/what the app says for nobody known/);
    expect(nameProblem(' Ann  Lee ', null)).toBeNull();
  });
});

describe('importSummary', () => {
  it('names every photo without a face, every unreadable file with why, and every non-photo', () => {
    expect(
      importSummary({
        photos: 3,
        faces: 1,
        noFace: [],
        unreadable: [
          { name: 'fake.jpg', why: 'not an image' },
          { name: 'cut.jpg', why: 'truncated' },
        ],
        skipped: ['notes.txt'],
      }),
    ).toBe(
      'Done: 1 face from 3 photos. 2 could not be read: fake.jpg (not an image); cut.jpg (truncated). ' +
        'Not photos, left out: notes.txt. The photos stayed on this device.',
    );
    expect(importSummary({ photos: 1, faces: 0, noFace: ['wall.jpg'], unreadable: [], skipped: [] })).toBe(
      'Done: 0 faces from 1 photo (1 without a face: wall.jpg). The photos stayed on this device.',
    );
    const many = Array.from({ length: 7 }, (_, i) => `p${i}.jpg`);
    expect(importSummary({ photos: 7, faces: 0, noFace: many, unreadable: [], skipped: [] })).toContain(
      'p0.jpg, p1.jpg, p2.jpg, p3.jpg, p4.jpg and 2 more',
    );
  });
});

describe('removing faces', () => {
  // Two photos: "p1" with three faces (two named Ann), "p2" with one face named Ann.
  const gallery = [
    face(faceIdOf('p1', 0), { label: 'Ann' }),
    face(faceIdOf('p1', 1)),
    face(faceIdOf('p1', 2), { label: 'Ann' }),
    face(faceIdOf('p2', 0), { label: 'Ann' }),
    face(faceIdOf('p2#x', 0), { label: 'Bob' }), // a photo key with a '#' in it
  ];

  it('takes one face, every face of its photo, or every face named alike', () => {
    expect(facesToRemove(gallery, 'p1#1', 'face')).toEqual(['p1#1']);
    expect(facesToRemove(gallery, 'p1#1', 'photo')).toEqual(['p1#0', 'p1#1', 'p1#2']);
    expect(facesToRemove(gallery, 'p2#x#0', 'photo')).toEqual(['p2#x#0']);
    expect(facesToRemove(gallery, 'p1#2', 'person')).toEqual(['p1#0', 'p1#2', 'p2#0']);
  });

  it('takes nothing for an unknown face, nor a "person" of a face nobody named', () => {
    expect(facesToRemove(gallery, 'nope#0', 'face')).toEqual([]);
    expect(facesToRemove(gallery, 'p1#1', 'person')).toEqual([]);
  });

  it('leaves the other faces in order, and says what goes in plain words', () => {
    expect(withoutFaces(gallery, ['p1#0', 'p2#0']).map((f) => f.id)).toEqual(['p1#1', 'p1#2', 'p2#x#0']);
    expect(removalText('face', 1)).toBe('this face');
    expect(removalText('photo', 1)).toBe('this photo');
    expect(removalText('photo', 3)).toBe('this photo (3 faces)');
    expect(removalText('person', 3, 'Ann')).toBe('everyone you named Ann (3 faces)');
  });
});

describe('importProgressText', () => {
  it('names the photo, and from the second one on says about how long the rest takes', () => {
    expect(importProgressText(0, 100, 'a.jpg', 0)).toBe(
      'Finding faces on this device: photo 1 of 100 (a.jpg)',
    );
    // 10 photos in 5 s: 0.5 s each, 90 left.
    expect(importProgressText(10, 100, 'k.jpg', 5000)).toBe(
      'Finding faces on this device: photo 11 of 100 (k.jpg) · about 45 s left',
    );
    expect(importProgressText(10, 1000, 'k.jpg', 5000)).toMatch(/about 8 min left$/);
    expect(importProgressText(99, 100, 'z.jpg', 99_000)).toMatch(/about 1 s left$/);
  });
});

describe("the privacy tab's noise setting", () => {
  it('keeps a saved choice and falls back to none for anything else', () => {
    expect(NOISE_CHOICES.map((c) => c.value)).toEqual(['none', 'gauss:0.25', 'gauss:1']);
    expect(noiseChoiceOf('gauss:1')).toBe('gauss:1');
    expect(noiseChoiceOf(null)).toBe('none');
    expect(noiseChoiceOf('gauss:7')).toBe('none');
  });

  it('says what left the device, naming the noise when it is on', () => {
    expect(leftDeviceText(2840, 'none')).toBe(
      '2.8 kB: face features (128 numbers each), the names you gave, opaque ids. No photo, no crop.',
    );
    expect(leftDeviceText(2840, 'gauss:0.25')).toBe(
      '2.8 kB: face features (128 numbers each; random noise (gauss:0.25) is now added here before they ' +
        'are sent), the names you gave, opaque ids. No photo, no crop.',
    );
  });
});
