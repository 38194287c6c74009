/**
 * Evaluation galleries: seeded "phone galleries" built from a labelled face set (LFW), each with a
 * few people and unbalanced photo counts, plus the seeded split of people into calibration and
 * evaluation pools so thresholds are never tuned on the people they are scored on.
 *
 * Photo counts follow a Zipf-like rule, as in a real gallery where a few people dominate: the
 * gallery's people, sorted by how many photos they have (most first, ties in seeded order), get
 * `round(topPhotos / rank^zipfExponent)` photos each, at least `minPhotosPerPerson` and at most
 * what the person has. With the defaults a 20-person gallery holds 20, 10, 7, 5, 4, 3, 3, 3, 2,
 * 2, 2, 2, 2, 1, ... photos (people with one photo included: phones have those). Gallery i has
 * `minPeople + (i mod (maxPeople − minPeople + 1))` people, so every size is equally represented.
 *
 * Platform-neutral and pure.
 */
import { FedexError } from '../core/errors.js';
import { createRng, deriveSeed, shuffled } from '../core/random.js';

/** Options of {@link buildGalleries}; defaults in {@link DEFAULT_GALLERY_OPTIONS}. */
export interface GalleryOptions {
  /** Galleries to build. Default 95 (five of each size from 2 to 20 people). */
  galleries?: number;
  /** Fewest people in a gallery. Default 2. */
  minPeople?: number;
  /** Most people in a gallery. Default 20. */
  maxPeople?: number;
  /** Photos of the person seen most. Default 20. */
  topPhotos?: number;
  /** Exponent of the rank rule (0 = balanced). Default 1. */
  zipfExponent?: number;
  /** Fewest photos of a person. Default 1. */
  minPhotosPerPerson?: number;
  /** Seed of every choice. Default 0. */
  seed?: number;
}

export const DEFAULT_GALLERY_OPTIONS: Required<GalleryOptions> = {
  galleries: 95,
  minPeople: 2,
  maxPeople: 20,
  topPhotos: 20,
  zipfExponent: 1,
  minPhotosPerPerson: 1,
  seed: 0,
};

/** One gallery: which faces of the source set it holds, in gallery order, and who they are. */
export interface Gallery {
  /** Faces: indices into the source set, shuffled. */
  faces: number[];
  /** The true person (source label) of each face. */
  truth: Int32Array;
  /** The people in it (source labels), most photos first. */
  people: number[];
}

/** Faces of each person: source label -> face indices (in source order). */
export function facesByPerson(labels: ArrayLike<number>): Map<number, number[]> {
  const byPerson = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = byPerson.get(labels[i]);
    if (list) list.push(i);
    else byPerson.set(labels[i], [i]);
  }
  return byPerson;
}

/** Photo counts of a gallery's people by rank (see the module header); `available` sorted most first. */
export function zipfCounts(available: readonly number[], options: GalleryOptions = {}): number[] {
  const o = { ...DEFAULT_GALLERY_OPTIONS, ...options };
  return available.map((have, r) =>
    Math.min(have, Math.max(o.minPhotosPerPerson, Math.round(o.topPhotos / (r + 1) ** o.zipfExponent))),
  );
}

/**
 * Builds seeded galleries from the people in `pool` (source labels; `labels` gives each face's
 * person). A person with fewer photos than `minPhotosPerPerson` is never chosen.
 *
 * @throws FedexError BAD_ARGUMENT for bad options, or when the pool has fewer than `maxPeople` usable people.
 * @example
 * const galleries = buildGalleries(set.labels, evalPeople, { galleries: 95, seed: 1 });
 * galleries[0].faces; // indices into the set, e.g. [412, 17, 18, ...]
 */
export function buildGalleries(
  labels: ArrayLike<number>,
  pool: readonly number[],
  options: GalleryOptions = {},
): Gallery[] {
  const o = { ...DEFAULT_GALLERY_OPTIONS, ...options };
  const int = (name: string, v: number, min: number): void => {
    if (!(Number.isInteger(v) && v >= min))
      throw new FedexError('BAD_ARGUMENT', `gallery option ${name} must be an integer >= ${min} (got ${v})`);
  };
  int('galleries', o.galleries, 0);
  int('minPeople', o.minPeople, 1);
  int('maxPeople', o.maxPeople, o.minPeople);
  int('topPhotos', o.topPhotos, 1);
  int('minPhotosPerPerson', o.minPhotosPerPerson, 1);
  if (!(o.zipfExponent >= 0 && Number.isFinite(o.zipfExponent))) {
    throw new FedexError('BAD_ARGUMENT', `gallery option zipfExponent must be >= 0 (got ${o.zipfExponent})`);
  }
  const byPerson = facesByPerson(labels);
  const usable = pool.filter((p) => (byPerson.get(p)?.length ?? 0) >= o.minPhotosPerPerson);
  if (usable.length < o.maxPeople) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `the people pool has ${usable.length} people with at least ${o.minPhotosPerPerson} photo(s); galleries of up to ${o.maxPeople} need more`,
    );
  }
  const sizes = o.maxPeople - o.minPeople + 1;
  const out: Gallery[] = [];
  for (let g = 0; g < o.galleries; g++) {
    const rng = createRng(deriveSeed(o.seed, `gallery-${g}`));
    const k = o.minPeople + (g % sizes);
    // Shuffle first so that a stable sort by photo count breaks ties in seeded order.
    const people = shuffled(rng, usable)
      .slice(0, k)
      .sort((a, b) => byPerson.get(b)!.length - byPerson.get(a)!.length);
    const counts = zipfCounts(
      people.map((p) => byPerson.get(p)!.length),
      o,
    );
    const faces: number[] = [];
    people.forEach((p, r) => faces.push(...shuffled(rng, byPerson.get(p)!).slice(0, counts[r])));
    const order = shuffled(rng, faces);
    out.push({ faces: order, truth: Int32Array.from(order, (i) => labels[i]), people });
  }
  return out;
}

/**
 * Splits people into a calibration pool and an evaluation pool, disjoint, by a seeded shuffle.
 *
 * @example
 * const { calibration, evaluation } = splitPeople([...byPerson.keys()], 1 / 3, 0);
 */
export function splitPeople(
  people: readonly number[],
  calibrationShare: number,
  seed: number,
): { calibration: number[]; evaluation: number[] } {
  if (!(calibrationShare > 0 && calibrationShare < 1)) {
    throw new FedexError('BAD_ARGUMENT', `calibrationShare must be in (0, 1) (got ${calibrationShare})`);
  }
  const order = shuffled(
    createRng(deriveSeed(seed, 'people-split')),
    [...people].sort((a, b) => a - b),
  );
  const cut = Math.round(order.length * calibrationShare);
  const byValue = (a: number, b: number): number => a - b;
  return { calibration: order.slice(0, cut).sort(byValue), evaluation: order.slice(cut).sort(byValue) };
}
