/**
 * Simulated users and the global task, built from a labelled sample set. Pure and seeded: no I/O,
 * the same seed always gives the same users.
 *
 * A user is a phone gallery: it holds a few people (its "characters"), and for each one a few named
 * (labelled) photos, some unnamed ones and held-out test photos. Each user draws its people
 * independently, so a person can appear in several users' galleries, like a public figure or a
 * shared friend (`sharePeople: false` gives every user different people instead). Each user shuffles
 * a person's photos with its own seed, so two users sharing a person split that person's photos
 * differently; a photo can be labelled for one user and a test photo for another, which is fine
 * because users never see each other's data. Non-IID by construction: every user sees only k people.
 */
import { DatasetError, FedexError } from '../core/errors.js';
import { createRng, deriveSeed, shuffled } from '../core/random.js';

/** Anything with people names and one label per sample (an `ExtractedFeatureSet` fits). */
export type LabelledSet =
  | { people: readonly string[]; labels: ArrayLike<number> }
  | { people: readonly string[]; samples: ReadonlyArray<{ label: number }> };

/** Label per sample of a {@link LabelledSet}. */
export function labelsOf(set: LabelledSet): ArrayLike<number> {
  return 'labels' in set ? set.labels : Int32Array.from(set.samples, (s) => s.label);
}

export interface UserOptions {
  /** Number of users. */
  users: number;
  /** People per user (k, its "characters"). */
  peoplePerUser: number;
  /** Labelled photos per person per user. */
  labelledPerPerson: number;
  /** Unlabelled photos per person per user (fewer when the person has too few photos). */
  unlabelledPerPerson: number;
  /** Test photos per person per user, at least. Must be >= 1. */
  minTestPerPerson: number;
  /** Test photos per person per user, at most. Default: every photo left over. */
  maxTestPerPerson?: number;
  /** Let several users hold the same person. Default true. */
  sharePeople?: boolean;
  seed: number;
}

/** A simulated user. Every index points into the set's samples; lists are sorted ascending. */
export interface SimUser {
  /** `user-000`, `user-001`, … */
  id: string;
  /** Global label ids of the user's people (the user's local label i is `people[i]`). */
  people: number[];
  /** Names of the user's people, parallel to `people`. */
  localNames?: string[];
  labelled: number[];
  unlabelled: number[];
  test: number[];
}

function checkInt(name: string, value: number | undefined, min: number): void {
  if (value === undefined || !Number.isInteger(value) || value < min) {
    throw new FedexError('BAD_ARGUMENT', `${name} must be an integer >= ${min} (got ${value})`);
  }
}

/** Sample indices of each label, ascending. */
function indicesByLabel(labels: ArrayLike<number>, peopleCount: number): number[][] {
  const by: number[][] = Array.from({ length: peopleCount }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l >= 0 && l < peopleCount) by[l].push(i);
  }
  return by;
}

const ascending = (a: number, b: number): number => a - b;

/**
 * Builds seeded simulated users. A person is eligible when it has at least
 * `labelledPerPerson + minTestPerPerson` photos; fewer eligible people than a user needs (or, with
 * `sharePeople: false`, than all users need) is `DATASET_TOO_FEW_PHOTOS`.
 *
 * Per user and person: the photos are shuffled, the first `labelledPerPerson` are labelled,
 * `minTestPerPerson` are reserved for test, up to `unlabelledPerPerson` of the rest are unlabelled,
 * and what remains (up to `maxTestPerPerson`) joins the test photos.
 *
 * @example
 * const users = buildUsers(set, { users: 100, peoplePerUser: 5, labelledPerPerson: 3, unlabelledPerPerson: 5, minTestPerPerson: 2, seed: 7 });
 */
export function buildUsers(set: LabelledSet, options: UserOptions): SimUser[] {
  const o = { sharePeople: true, maxTestPerPerson: Number.POSITIVE_INFINITY, ...options };
  checkInt('users', o.users, 1);
  checkInt('peoplePerUser', o.peoplePerUser, 1);
  checkInt('labelledPerPerson', o.labelledPerPerson, 1);
  checkInt('unlabelledPerPerson', o.unlabelledPerPerson, 0);
  checkInt('minTestPerPerson', o.minTestPerPerson, 1);
  if (!(o.maxTestPerPerson >= o.minTestPerPerson)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `maxTestPerPerson (${o.maxTestPerPerson}) must be >= minTestPerPerson (${o.minTestPerPerson})`,
    );
  }

  const byLabel = indicesByLabel(labelsOf(set), set.people.length);
  const need = o.labelledPerPerson + o.minTestPerPerson;
  const eligible = byLabel.map((s, label) => (s.length >= need ? label : -1)).filter((l) => l >= 0);
  const wanted = o.sharePeople ? o.peoplePerUser : o.peoplePerUser * o.users;
  if (eligible.length < wanted) {
    throw new DatasetError(
      'DATASET_TOO_FEW_PHOTOS',
      `only ${eligible.length} people have at least ${need} photos (${o.labelledPerPerson} labelled + ${o.minTestPerPerson} test); ` +
        `${wanted} needed${o.sharePeople ? ' per user' : ` for ${o.users} users without sharing`} (short by ${wanted - eligible.length})`,
    );
  }

  const width = Math.max(3, String(o.users - 1).length);
  const pool = o.sharePeople ? [] : shuffled(createRng(deriveSeed(o.seed, 'people')), eligible);
  const users: SimUser[] = [];
  for (let u = 0; u < o.users; u++) {
    const id = `user-${String(u).padStart(width, '0')}`;
    const people = o.sharePeople
      ? shuffled(createRng(deriveSeed(o.seed, `${id}/people`)), eligible).slice(0, o.peoplePerUser)
      : pool.slice(u * o.peoplePerUser, (u + 1) * o.peoplePerUser);
    people.sort(ascending);
    const user: SimUser = {
      id,
      people,
      localNames: people.map((l) => set.people[l]),
      labelled: [],
      unlabelled: [],
      test: [],
    };
    for (const label of people) {
      const photos = shuffled(createRng(deriveSeed(o.seed, `${id}/person:${label}`)), byLabel[label]);
      const nLab = o.labelledPerPerson;
      const nUnl = Math.min(o.unlabelledPerPerson, photos.length - nLab - o.minTestPerPerson);
      const nTest = Math.min(photos.length - nLab - nUnl, o.maxTestPerPerson);
      user.labelled.push(...photos.slice(0, nLab));
      user.unlabelled.push(...photos.slice(nLab, nLab + nUnl));
      user.test.push(...photos.slice(nLab + nUnl, nLab + nUnl + nTest));
    }
    user.labelled.sort(ascending);
    user.unlabelled.sort(ascending);
    user.test.sort(ascending);
    users.push(user);
  }
  return users;
}

export interface GlobalTaskOptions {
  /** People need at least this many photos to take part. Default 10. */
  minPhotos?: number;
  /** Fraction of each person's photos held out for test (at least 1, at most all but 1). Default 0.2. */
  testFraction?: number;
  seed: number;
}

/** One shared classifier over every person with enough photos. */
export interface GlobalTask {
  /** Global label ids of the people kept; the task's label i is `people[i]`. */
  people: number[];
  /** Names of the kept people, parallel to `people` (the remapped label list). */
  names: string[];
  /** Task label per sample (index into `people`), -1 for samples of people not kept. */
  taskLabels: Int32Array;
  /** Sample indices, ascending. */
  train: number[];
  test: number[];
}

/**
 * Builds the global task: people with at least `minPhotos` photos, each person's photos split
 * (seeded, stratified) into train and test. `DATASET_TOO_FEW_PHOTOS` when fewer than 2 people
 * qualify (a classifier needs two classes).
 */
export function buildGlobalTask(set: LabelledSet, options: GlobalTaskOptions): GlobalTask {
  const minPhotos = options.minPhotos ?? 10;
  const testFraction = options.testFraction ?? 0.2;
  checkInt('minPhotos', minPhotos, 2);
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new FedexError('BAD_ARGUMENT', `testFraction must be in (0, 1) (got ${testFraction})`);
  }
  const labels = labelsOf(set);
  const byLabel = indicesByLabel(labels, set.people.length);
  const people = byLabel.map((s, l) => (s.length >= minPhotos ? l : -1)).filter((l) => l >= 0);
  if (people.length < 2) {
    throw new DatasetError(
      'DATASET_TOO_FEW_PHOTOS',
      `only ${people.length} people have at least ${minPhotos} photos; the global task needs 2 (short by ${2 - people.length})`,
    );
  }
  const taskLabels = new Int32Array(labels.length).fill(-1);
  const train: number[] = [];
  const test: number[] = [];
  people.forEach((label, task) => {
    const photos = shuffled(createRng(deriveSeed(options.seed, `global/person:${label}`)), byLabel[label]);
    const nTest = Math.min(photos.length - 1, Math.max(1, Math.round(photos.length * testFraction)));
    test.push(...photos.slice(0, nTest));
    train.push(...photos.slice(nTest));
    for (const i of photos) taskLabels[i] = task;
  });
  train.sort(ascending);
  test.sort(ascending);
  return { people, names: people.map((l) => set.people[l]), taskLabels, train, test };
}
