/**
 * Synthetic face features for the job tests: `people` clustered Gaussian 128-d vectors (one centre
 * per person, seeded), helpers that put them in a store as a device upload would, and a poll that
 * waits for a job's state.
 */
import { createRng, type Rng } from '../../core/random.js';
import type { FeatureBatch, FeatureSpec } from '../../core/types.js';
import type { Store } from '../store/store.js';
import type { TrainingSet } from '../store/types.js';

export const TEST_SPEC: FeatureSpec = {
  backboneId: 'test-net',
  backboneVersion: '1',
  split: 'embedding',
  shape: [128],
};

function gaussian(rng: Rng): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** `perPerson` samples of each of `people` people (label = person index, fixed centres), sample-major. */
export function clusteredFeatures(
  people: number,
  perPerson: number,
  seed: number,
  spread = 0.35,
): { features: Float32Array; labels: Int32Array } {
  const dim = 128;
  // Person p has the same centre in every call: only the noise depends on `seed`.
  const centres = createRng(1000);
  const rng = createRng(seed);
  const c = Array.from({ length: people }, () => Float32Array.from({ length: dim }, () => gaussian(centres)));
  const features = new Float32Array(people * perPerson * dim);
  const labels = new Int32Array(people * perPerson);
  for (let p = 0; p < people; p++)
    for (let k = 0; k < perPerson; k++) {
      const i = p * perPerson + k;
      labels[i] = p;
      for (let d = 0; d < dim; d++) features[i * dim + d] = c[p][d] + spread * gaussian(rng);
    }
  return { features, labels };
}

/** A user's training set as the store would return it. */
export function syntheticSet(people: number, perPerson: number, seed: number): TrainingSet {
  const { features, labels } = clusteredFeatures(people, perPerson, seed);
  return {
    spec: TEST_SPEC,
    specKey: 'test-net@1/embedding',
    sampleIds: Array.from(labels, (_, i) => i + 1),
    labels,
    owners: Array.from(labels, () => 'alice'),
    features,
    throughSampleId: labels.length,
  };
}

/** Creates a user with a device and uploads `people × perPerson` labelled samples. */
export async function seedUser(
  store: Store,
  userId: string,
  options: { people: number; perPerson: number; seed: number; batchId?: string },
): Promise<void> {
  if (!(await store.getUser(userId))) await store.createUser(userId, userId);
  const device = (await store.listDevices(userId))[0] ?? (await store.enrollDevice(userId, 'phone')).device;
  const { features, labels } = clusteredFeatures(options.people, options.perPerson, options.seed);
  const batchId = options.batchId ?? `b-${options.seed}`;
  const batch: FeatureBatch = {
    spec: TEST_SPEC,
    sampleIds: Array.from(labels, (_, i) => `${batchId}-${i}`),
    labels,
    labelNames: Array.from({ length: options.people }, (_, p) => `person-${p}`),
    features,
  };
  await store.ingestBatch({ device, batchId, sha256: batchId, batch });
}

/** Polls `probe` every 25 ms until it returns something truthy; fails naming `what` after the timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
