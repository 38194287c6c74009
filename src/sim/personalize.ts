/**
 * The personalized target (the app's real task: who is who among *my* people), after a campaign:
 * - FedEx: the cloud trains one small head per phone on that phone's uploads, all phones at once
 *   (`trainUsersBatched`, the server's batched trainer), and each phone pulls its own head;
 * - FedAvg (FedPer-style): each phone fine-tunes the final global top on its own photos
 *   (`runClientTask`, the same local SGD as its rounds) and pays the FLOPs.
 * Both are scored per phone, top-1 among the phone's own people on their held-out test photos;
 * a phone that cannot personalize (FedEx: it never uploaded) keeps the global model.
 *
 * Only for vector features (the head's input is one vector per photo).
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import { deriveSeed } from '../core/random.js';
import { trainUsersBatched } from '../model/batched.js';
import { runClientTask, type ClientData } from '../strategy/client.js';
import { writeWeights } from '../strategy/model-weights.js';
import type { Weights } from '../strategy/types.js';
import type { SimData } from './data.js';
import type { SimDevice } from './population.js';
import type { DeviceProfile } from './profiles.js';
import type { CostLedger } from './transport.js';

/** Options of the per-phone step. */
export interface PersonalizeOptions {
  /** FedEx's per-phone heads: epochs of full-batch Adam. */
  cloudEpochs: number;
  cloudLearningRate: number;
  /** FedAvg's local fine-tuning: epochs, batch and SGD rate. */
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
 * FedEx: per-phone heads trained in the cloud on the uploads of the phones in `uploaded`; each of
 * those phones pulls its head (booked in `ledger`). Others are scored with the global weights.
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
  const chosen = devices.map((d, i) => ({ d, i })).filter(({ d }) => uploaded.has(d.id));
  const users = chosen.map(({ d }) => {
    const local = new Map(d.people.map((p, j) => [p, j]));
    const x = new Float32Array(d.samples.length * data.dim);
    d.samples.forEach((s, j) =>
      x.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), j * data.dim),
    );
    return { id: d.id, x, y: d.samples.map((s) => local.get(data.labels[s])!), numClasses: d.people.length };
  });
  const batched = users.length
    ? await trainUsersBatched(users, data.dim, {
        head: 'linear',
        epochs: o.cloudEpochs,
        learningRate: o.cloudLearningRate,
        seed: o.seed,
      })
    : undefined;
  const accuracy = devices.map(() => 0);
  const personal = new Map(chosen.map(({ i }, u) => [i, u]));
  writeWeights(global.model, global.weights);
  for (const [i, d] of devices.entries()) {
    const { x, y } = testOf(data, d);
    const u = personal.get(i);
    if (u === undefined || !batched) {
      const probs = tf.tidy(
        () =>
          (
            global.model.predict(tf.tensor2d(x, [y.length, data.dim])) as tf.Tensor
          ).dataSync() as Float32Array,
      );
      accuracy[i] = topAmong(probs, data.numClasses, y.length, d.people, y);
      continue;
    }
    const model = batched.toModel(u);
    try {
      const probs = tf.tidy(
        () => (model.predict(tf.tensor2d(x, [y.length, data.dim])) as tf.Tensor).dataSync() as Float32Array,
      );
      accuracy[i] = topAmong(
        probs,
        d.people.length,
        y.length,
        d.people.map((_, j) => j),
        y.map((l) => d.people.indexOf(l)),
      );
      const bytes = batched.users[u].weights.reduce((a, w) => a + w.values.length * 4, 0);
      book.ledger.book(i, book.profiles[i], { bytesDown: bytes, flops: 0, bytesUp: 0 });
    } finally {
      model.dispose();
    }
  }
  return { accuracy, personalized: chosen.length };
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
    const own: ClientData = {
      features: (() => {
        const x = new Float32Array(d.samples.length * data.dim);
        d.samples.forEach((s, j) =>
          x.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), j * data.dim),
        );
        return x;
      })(),
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
    // Compute only: the phone trains on what it holds (no transfer).
    book.ledger.book(i, book.profiles[i], { bytesDown: 0, flops: r.costs.deviceFlops, bytesUp: 0 });
    writeWeights(global.model, r.weights);
    const { x, y } = testOf(data, d);
    const probs = tf.tidy(
      () =>
        (global.model.predict(tf.tensor2d(x, [y.length, data.dim])) as tf.Tensor).dataSync() as Float32Array,
    );
    accuracy[i] = topAmong(probs, data.numClasses, y.length, d.people, y);
  }
  writeWeights(global.model, global.weights);
  return { accuracy, personalized: devices.length };
}
