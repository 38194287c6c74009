/**
 * The "People" view's call: records in (photos, face ids — anything carrying a descriptor), people
 * out, each a list of the caller's own records, the person seen most first. What the device SDK
 * and the server use, so neither handles indices or labels.
 *
 * Platform-neutral and pure.
 */
import { clusterFaces, type ClusterFacesOptions, type PeopleClustering } from './methods.js';

/** The people found among the records. */
export interface PeopleView<T> {
  /** Number of people. */
  count: number;
  /** Each person's records, the person with most records first; records keep their input order. */
  people: T[][];
  /** The clustering underneath (labels parallel to the input, method, settings). */
  clustering: PeopleClustering;
}

/**
 * Groups records by person.
 *
 * @throws FedexError BAD_ARGUMENT for bad descriptors or options (see `clusterFaces`).
 * @example
 * const view = groupPeople(faces, (f) => f.descriptor);
 * view.count;                       // 3
 * view.people[0].map((f) => f.id);  // the faces of the person seen most
 */
export function groupPeople<T>(
  records: readonly T[],
  descriptorOf: (record: T) => Float32Array,
  options: ClusterFacesOptions = {},
): PeopleView<T> {
  const clustering = clusterFaces(records.map(descriptorOf), options);
  return {
    count: clustering.count,
    people: clustering.groups.map((g) => g.map((i) => records[i])),
    clustering,
  };
}
