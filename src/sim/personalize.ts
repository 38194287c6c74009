/**
 * The personalized target (the app's real task: who is who among *my* people), after a campaign:
 * - FedAvg (FedPer-style): each phone fine-tunes the final global top on its own photos
 *   (`runClientTask`, the same local SGD as its rounds) and pays the FLOPs;
 * - FedEx: the cloud runs the very same fine-tuning for each phone that uploaded (it holds their
 *   features), and each such phone pulls its personal top instead of computing it.
 * The same seeds and data give both arms the same personal models from the same global one; what
 * differs is where the work runs and who FedEx can reach (only the phones that uploaded).
 * Both are scored per phone, top-1 among the phone's own people on their held-out test photos;
 * a phone that cannot personalize (FedEx: it never uploaded) keeps the global model.
 *
 * Only for vector features (the head's input is one vector per photo).
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import { deriveSeed } from '../core/random.js';
import { runClientTask, weightsWireBytes, type ClientData } from '../strategy/client.js';
import { writeWeights } from '../strategy/model-weights.js';
import type { Weights } from '../strategy/types.js';
import type { SimData } from './data.js';
import type { SimDevice } from './population.js';
import type { DeviceProfile } from './profiles.js';
import type { CostLedger } from './transport.js';

/** Options of the per-phone step. */
export interface PersonalizeOptions {
  /** The fine-tuning (on the phone for FedAvg, in the cloud for FedEx): epochs, batch, SGD rate. */
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
}

export interface PersonalizeResult {
  /** Top-1 among each phone's own people on their test photos (index = device). */
  accuracy: number[];
  /** Phones that got a personal model. */
  personalized: number;
}

/** Top-1 of `probs` rows among `people` (column ids), against `labels`. */
function topAmong(
  probs: Float32Array,
  k: number,
  rows: number,
  people: readonly number[],
  labels: readonly number[],
) {
  let right = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < people.length; j++)
      if (probs[r * k + people[j]] > probs[r * k + people[best]]) best = j;
    if (people[best] === labels[r]) right++;
  }
  return rows ? right / rows : 1;
}

function testOf(data: SimData, d: SimDevice): { x: Float32Array; y: number[] } {
  const rows = d.people.flatMap((p) => data.testByPerson[p]);
  const x = new Float32Array(rows.length * data.dim);
  rows.forEach((s, i) => x.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), i * data.dim));
  return { x, y: rows.map((s) => data.labels[s]) };
}

function checkVector(data: SimData): void {
  if (data.spec.shape.length !== 1)
    throw new FedexError(
      'BAD_ARGUMENT',
      `the personalized target needs vector features (got [${data.spec.shape.join(', ')}] at ${data.split})`,
    );
}

/**
 * FedEx: the same fine-tuning as FedAvg's phones do (`fineTune`), run in the cloud on each
 * uploading phone's features, which the cloud has; each of those phones pulls its personal top
 * (booked in `ledger`) and spends no FLOPs on it. Phones that never uploaded keep the global model.
 */
export async function personalizeFedEx(
  data: SimData,
  devices: readonly SimDevice[],
  uploaded: ReadonlySet<string>,
  global: { model: tf.LayersModel; weights: Weights },
  o: PersonalizeOptions,
  book: { ledger: CostLedger; profiles: readonly DeviceProfile[] },
): Promise<PersonalizeResult> {
  checkVector(data);
  const accuracy = devices.map(() => 0);
  let personalized = 0;
  for (const [i, d] of devices.entries()) {
    if (uploaded.has(d.id)) {
      const tuned = await fineTune(data, d, global, o);
      writeWeights(global.model, tuned);
      book.ledger.book(i, book.profiles[i], { bytesDown: weightsWireBytes(tuned), flops: 0, bytesUp: 0 });
      personalized++;
    } else writeWeights(global.model, global.weights);
    accuracy[i] = scoreOwn(data, d, global.model);
  }
  writeWeights(global.model, global.weights);
  return { accuracy, personalized };
}

/**
 * FedAvg, FedPer-style: every phone fine-tunes the final global weights on its own photos with
 * local SGD; the FLOPs are booked in `ledger` (its features are on the phone already).
 */
export async function personalizeFedAvg(
  data: SimData,
  devices: readonly SimDevice[],
  global: { model: tf.LayersModel; weights: Weights },
  o: PersonalizeOptions,
  book: { ledger: CostLedger; profiles: readonly DeviceProfile[] },
): Promise<PersonalizeResult> {
  checkVector(data);
  const accuracy = devices.map(() => 0);
  for (const [i, d] of devices.entries()) {
    let flops = 0;
    const tuned = await fineTune(data, d, global, o, (f) => (flops = f));
    // Compute only: the phone trains on what it holds (no transfer).
    book.ledger.book(i, book.profiles[i], { bytesDown: 0, flops, bytesUp: 0 });
    writeWeights(global.model, tuned);
    accuracy[i] = scoreOwn(data, d, global.model);
  }
  writeWeights(global.model, global.weights);
  return { accuracy, personalized: devices.length };
}

/** Local SGD from the global weights on one phone's photos (`runClientTask`, as in its rounds). */
async function fineTune(
  data: SimData,
  d: SimDevice,
  global: { model: tf.LayersModel; weights: Weights },
  o: PersonalizeOptions,
  onFlops?: (flops: number) => void,
): Promise<Weights> {
  const x = new Float32Array(d.samples.length * data.dim);
  d.samples.forEach((s, j) => x.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), j * data.dim));
  const own: ClientData = {
    features: x,
    labels: Int32Array.from(d.samples, (s) => data.labels[s]),
    shape: data.spec.shape,
    n: d.samples.length,
  };
  const r = await runClientTask(
    {
      kind: 'train',
      round: 0,
      weights: global.weights,
      localEpochs: o.localEpochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      mu: 0,
      seed: deriveSeed(o.seed, `personalize:${d.id}`),
    },
    own,
    global.model,
    {
      clientId: d.id,
      bottomMode: 'cached',
      bottomFlopsPerPhoto: data.bottomFlopsPerPhoto,
      featuresCached: true,
      spec: data.spec,
    },
  );
  if (r.kind !== 'weights') throw new FedexError('INTERNAL', 'local fine-tuning returned no weights');
  onFlops?.(r.costs.deviceFlops);
  return r.weights;
}

/** Top-1 of `model` among the phone's own people on their test photos. */
function scoreOwn(data: SimData, d: SimDevice, model: tf.LayersModel): number {
  const { x, y } = testOf(data, d);
  const probs = tf.tidy(
    () => (model.predict(tf.tensor2d(x, [y.length, data.dim])) as tf.Tensor).dataSync() as Float32Array,
  );
  return topAmong(probs, data.numClasses, y.length, d.people, y);
}
