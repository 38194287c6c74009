import { describe, expect, it } from 'vitest';
import { MERGE_MODEL } from './merge-model.generated.js';
import { groupPeople } from './people.js';
import { syntheticFaces } from './synthetic.js';

describe('groupPeople', () => {
  it("returns the caller's records grouped by person, the person seen most first", () => {
    // Prepare: 3 people with 2, 4 and 1 photos, as records with ids; around the mean real face,
    // where the default (learned) method's quality features expect face descriptors to be.
    const { descriptors, labels } = syntheticFaces({
      photos: [2, 4, 1],
      between: 1.2,
      within: 0.25,
      around: MERGE_MODEL.centre,
      seed: 5,
    });
    const records = descriptors.map((descriptor, i) => ({ id: `face-${i}`, person: labels[i], descriptor }));
    // Execute
    const view = groupPeople(records, (r) => r.descriptor);
    // Assert
    expect(view.count).toBe(3);
    expect(view.people.map((p) => p.map((r) => r.id))).toEqual([
      ['face-2', 'face-3', 'face-4', 'face-5'],
      ['face-0', 'face-1'],
      ['face-6'],
    ]);
    expect(view.clustering.labels).toHaveLength(7);
  });

  it('gives no people for no records', () => {
    const view = groupPeople([], (r: { d: Float32Array }) => r.d);
    expect(view).toMatchObject({ count: 0, people: [] });
  });
});
