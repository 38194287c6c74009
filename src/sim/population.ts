/**
 * The simulated fleet, built from a labelled face set (LFW): device i is a phone whose gallery
 * holds a few people ("characters"), and for each of them a few of that person's TRAINING photos,
 * sampled with a seed. Photos are shared across devices (10,000 phones from ~2,400 LFW training
 * photos means every photo lives on several phones, like a public figure's picture), so the
 * population scales without new data; what does not scale is the number of distinct photos, which
 * caps the accuracy either strategy can reach. Every device's first person is dealt round-robin
 * from a seeded shuffle so that, with at least as many devices as people, everyone appears.
 *
 * Test photos never go to a device: the global test split scores the global model, and a
 * device's personalized score uses the test photos of its own people. Pure and seeded.
 */
import { FedexError } from '../core/errors.js';
import { createRng, deriveSeed, randomInt, shuffled } from '../core/random.js';

export interface PopulationOptions {
  devices: number;
  seed: number;
  /** Inclusive range of people per device. Default [2, 4]. */
  peoplePerDevice?: readonly [number, number];
  /** Inclusive range of photos per person on a device (capped by the person's photos). Default [2, 6]. */
  photosPerPerson?: readonly [number, number];
}

export const DEFAULT_POPULATION = Object.freeze({
  peoplePerDevice: [2, 4] as const,
  photosPerPerson: [2, 6] as const,
});

export interface SimDevice {
  id: string;
  /** Task labels of the people in its gallery. */
  people: number[];
  /** Sample indices (into the feature set) of its training photos, grouped by person. */
  samples: number[];
}

function checkRange(what: string, r: readonly [number, number], min: number): void {
  if (!(Number.isSafeInteger(r[0]) && Number.isSafeInteger(r[1]) && r[0] >= min && r[1] >= r[0]))
    throw new FedexError(
      'BAD_ARGUMENT',
      `${what} must be integers lo <= hi with lo >= ${min}, got [${r.join(', ')}]`,
    );
}

/** Zero-padded device id, sortable: `d00042`. */
export function deviceId(i: number, n: number): string {
  return `d${String(i).padStart(Math.max(5, String(n - 1).length), '0')}`;
}

/**
 * Deals `devices` galleries out of `trainByPerson` (sample indices of each person's training
 * photos, indexed by task label).
 *
 * @example
 * const fleet = buildPopulation([[0, 1, 2], [3, 4, 5]], { devices: 3, seed: 1 });
 * fleet[0].people; // e.g. [1, 0]
 */
export function buildPopulation(
  trainByPerson: readonly (readonly number[])[],
  options: PopulationOptions,
): SimDevice[] {
  const { devices, seed } = options;
  const ppd = options.peoplePerDevice ?? DEFAULT_POPULATION.peoplePerDevice;
  const ppp = options.photosPerPerson ?? DEFAULT_POPULATION.photosPerPerson;
  if (!Number.isSafeInteger(devices) || devices < 1)
    throw new FedexError('BAD_ARGUMENT', `devices must be a positive integer, got ${devices}`);
  checkRange('peoplePerDevice', ppd, 1);
  checkRange('photosPerPerson', ppp, 1);
  const people = trainByPerson.map((_, p) => p).filter((p) => trainByPerson[p].length > 0);
  if (people.length < ppd[1])
    throw new FedexError(
      'BAD_ARGUMENT',
      `${people.length} people with training photos, but a device may hold ${ppd[1]}`,
    );
  const deal = shuffled(createRng(deriveSeed(seed, 'population:deal')), people);
  const out: SimDevice[] = [];
  for (let i = 0; i < devices; i++) {
    const rng = createRng(deriveSeed(seed, `population:device:${i}`));
    const k = ppd[0] + randomInt(rng, ppd[1] - ppd[0] + 1);
    const mine = [deal[i % deal.length]];
    while (mine.length < k) {
      const p = people[randomInt(rng, people.length)];
      if (!mine.includes(p)) mine.push(p);
    }
    const samples: number[] = [];
    for (const p of mine) {
      const photos = trainByPerson[p];
      const m = Math.min(photos.length, ppp[0] + randomInt(rng, ppp[1] - ppp[0] + 1));
      samples.push(...shuffled(rng, photos).slice(0, m));
    }
    out.push({ id: deviceId(i, devices), people: mine, samples });
  }
  return out;
}
