/**
 * Adapt suite, masked faces with a heavy top: does fine-tuning the pretrained upper stage in the
 * cloud (the `upper` head at `stage128`: the last residual unit, the pool and `fc`, 4.46M
 * parameters) beat the frozen descriptor where adaptation matters?
 *
 * The cloud fine-tunes the upper stage once, on people of one half of LFW, each photo plain and
 * with the pipeline's synthetic mask (what the cloud can make from public photos), as a classifier
 * over those people with LP-FT (classifier from centroids, one probe epoch, the stage at a tenth of
 * the rate, the start kept as a candidate: docs/adapt.md). Its output before the classifier is the
 * adapted descriptor. Users are made of the *other* half's people (5 people, 3 photos named
 * unmasked); each user's model is nearest centroid on either descriptor, and is scored on the
 * user's masked test photos (`probe`) and unmasked ones (`none`).
 *
 * Needs stage128 features of LFW plain and masked (their own cache variants; the first run extracts
 * both, about 14 minutes for `MASK_UPPER_SCAN` on 2 cores).
 */
import * as tf from '@tensorflow/tfjs';
import { shapeSize } from '../src/core/types.js';
import type { ExtractedFeatureSet } from '../src/data/extract.js';
import { loadBackbone } from '../src/model/backbones/registry.js';
import { LOGITS_LAYER } from '../src/model/heads/common.js';
import { getHead } from '../src/model/heads/registry.js';
import { fitOpenSet, nearestCentroid } from '../src/model/open-set.js';
import { fitHead } from '../src/model/trainer.js';
import { maskUsers, peopleHalves, wonBackInterval } from './adapt-masks.js';
import { localLabels } from './split.js';
import type { BenchRow } from './types.js';

/** The photos of this part: up to 8 of each of 240 LFW people (seeded), about 1,700. */
export const MASK_UPPER_SCAN = { minPhotos: 5, maxPerPerson: 8, maxPeople: 240, seed: 0 } as const;

function rows(x: Float32Array, dim: number, idx: readonly number[]): Float32Array {
  const out = new Float32Array(idx.length * dim);
  idx.forEach((i, j) => out.set(x.subarray(i * dim, (i + 1) * dim), j * dim));
  return out;
}

/** `model`'s output for every sample of `x` (rows of `shape`), in chunks. */
function embed(model: tf.LayersModel, x: Float32Array, shape: readonly number[]): Float32Array {
  const dim = shapeSize(shape);
  const n = x.length / dim;
  let out: Float32Array | undefined;
  for (let s = 0; s < n; s += 128) {
    const m = Math.min(128, n - s);
    const part = tf.tidy(
      () =>
        (
          model.predict(tf.tensor(x.subarray(s * dim, (s + m) * dim), [m, ...shape])) as tf.Tensor
        ).dataSync() as Float32Array,
    );
    out ??= new Float32Array(n * (part.length / m));
    out.set(part, s * (part.length / m));
  }
  return out ?? new Float32Array(0);
}

export async function maskedUpperRows(
  plain: ExtractedFeatureSet,
  masked: ExtractedFeatureSet,
  options: { users: number; epochs: number; log: (line: string) => void },
): Promise<BenchRow[]> {
  if (
    plain.samples.length !== masked.samples.length ||
    plain.samples.some((s, i) => s.id !== masked.samples[i].id)
  )
    throw new Error('plain and masked stage128 sets hold different photos');
  const shape = plain.spec.shape;
  const dim = shapeSize(shape);
  const { calibration, evaluation } = peopleHalves(plain.people.length);

  // 1. The cloud fine-tunes the upper stage on the calibration half, each photo plain and masked.
  const calIdx = plain.samples.flatMap((s, i) => (calibration.has(s.label) ? [i] : []));
  const calPeople = [...calibration].sort((a, b) => a - b);
  const local = new Map(calPeople.map((p, i) => [p, i]));
  const x = new Float32Array(calIdx.length * 2 * dim);
  x.set(rows(plain.features, dim, calIdx));
  x.set(rows(masked.features, dim, calIdx), calIdx.length * dim);
  const y = [...calIdx, ...calIdx].map((i) => local.get(plain.samples[i].label)!);
  const backbone = await loadBackbone('faceapi-resnet');
  const head = getHead('upper');
  const model = head.build(
    shape,
    calPeople.length,
    { backbone, split: plain.spec.split, init: 'centroids' },
    0,
  );
  const frozenStage = backbone.upperStage(plain.spec.split)!;
  try {
    const t0 = performance.now();
    const result = await fitHead(
      head,
      model,
      { x, y, shape },
      {
        epochs: options.epochs,
        batchSize: 32,
        learningRate: 1e-3,
        pretrainedLearningRateScale: 0.1,
        probeEpochs: 1,
        validateStart: true,
        patience: 3,
        onEpoch: (e) =>
          options.log(
            `masked upper: epoch ${e.epoch} loss ${e.loss.toFixed(3)} val ${e.valAccuracy?.toFixed(3)}`,
          ),
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    const adapted = tf.model({
      inputs: model.inputs,
      outputs: model.getLayer(LOGITS_LAYER).input as tf.SymbolicTensor,
    });

    // 2. Users of the other half: nearest centroid on the frozen and on the adapted descriptor.
    const evIdx = plain.samples.flatMap((s, i) => (evaluation.has(s.label) ? [i] : []));
    const vectors = (stage: tf.LayersModel, from: Float32Array) => {
      const v = embed(stage, rows(from, dim, evIdx), shape);
      const d = v.length / evIdx.length;
      const full = new Float32Array(plain.samples.length * d);
      evIdx.forEach((i, j) => full.set(v.subarray(j * d, (j + 1) * d), i * d));
      return { v: full, d };
    };
    const descriptors = {
      frozen: { plain: vectors(frozenStage, plain.features), masked: vectors(frozenStage, masked.features) },
      adapted: { plain: vectors(adapted, plain.features), masked: vectors(adapted, masked.features) },
    };
    const users = maskUsers(plain, evaluation, options.users, 23);

    const score: Record<string, boolean[]> = {};
    // Right answers per user, keyed as wonBackInterval reads them.
    const perUser = new Map<string, number[]>();
    const count = (key: string, right: number) =>
      (perUser.get(key) ?? perUser.set(key, []).get(key)!).push(right);
    for (const u of users) {
      const gy = localLabels(plain, u, u.labelled);
      const py = localLabels(plain, u, u.test);
      for (const [name, desc] of Object.entries(descriptors)) {
        const d = desc.plain.d;
        const rule = fitOpenSet(rows(desc.plain.v, d, u.labelled), gy, d, u.people.length, { margin: 1 });
        for (const [probe, from] of [
          ['none', desc.plain.v],
          ['probe', desc.masked.v],
        ] as const) {
          const right = py.map(
            (c, j) => nearestCentroid(from.subarray(u.test[j] * d, (u.test[j] + 1) * d), rule).index === c,
          );
          (score[`${name}/${probe}`] ??= []).push(...right);
          const hits = right.filter(Boolean).length;
          if (name === 'frozen') count(`${probe}/centroid`, hits);
          else if (probe === 'probe') count('probe/adapted', hits);
        }
      }
    }
    const share = (xs: boolean[]) => xs.filter(Boolean).length / Math.max(1, xs.length);
    const n = score['frozen/probe'].length;
    const ctx = `${users.length} LFW users x 5 people (3 named unmasked) of the other half, ${n} test photos; stage128 maps of ${plain.samples.length} photos (${MASK_UPPER_SCAN.maxPerPerson} a person at most)`;
    const out: BenchRow[] = [];
    const add = (name: string, value: number, note: string) =>
      out.push({
        suite: 'adapt',
        name: `masks, heavy top: ${name}`,
        value,
        unit: 'acc',
        note: `${note}; ${ctx}`,
      });
    add(
      'frozen upper stage, nearest centroid, masked probes',
      share(score['frozen/probe']),
      'the pretrained stage = the frozen descriptor',
    );
    add(
      'cloud-adapted upper stage, nearest centroid, masked probes',
      share(score['adapted/probe']),
      `upper stage fine-tuned (LP-FT, kept epoch ${result.bestEpoch} of ${result.epochs}) on ${calIdx.length} photos x 2 (plain, masked) of ${calPeople.length} other people`,
    );
    for (const u of users) count('probe/n', u.test.length);
    const cost = share(score['frozen/none']) - share(score['frozen/probe']);
    const won = share(score['adapted/probe']) - share(score['frozen/probe']);
    const [lo, hi] = wonBackInterval(perUser, 'adapted', 58);
    out.push({
      suite: 'adapt',
      name: "masks, heavy top: share of the masks' cost won back",
      value: cost > 0 ? won / cost : 0,
      unit: 'share',
      note: `masks cost the frozen stage ${(cost * 100).toFixed(1)} points; the adapted stage wins back ${(won * 100).toFixed(1)}; 95% interval [${lo.toFixed(2)}, ${hi.toFixed(2)}] (bootstrap over users)`,
    });
    options.log(
      `masks, heavy top: ${((won / cost) * 100).toFixed(1)}% of the cost won back [${(lo * 100).toFixed(1)}, ${(hi * 100).toFixed(1)}]`,
    );
    add(
      'frozen upper stage, nearest centroid, no masks',
      share(score['frozen/none']),
      'the pretrained stage',
    );
    add(
      'cloud-adapted upper stage, nearest centroid, no masks',
      share(score['adapted/none']),
      'the same adapted stage',
    );
    out.push({
      suite: 'adapt',
      name: 'masks, heavy top: fine-tuning time',
      value: seconds,
      unit: 's',
      note: `${model.countParams()} params, ${x.length / dim} samples, 2 WASM threads at most`,
    });
    options.log(
      `masks, heavy top: masked probes frozen ${(share(score['frozen/probe']) * 100).toFixed(1)}% -> adapted ${(share(score['adapted/probe']) * 100).toFixed(1)}%; unmasked ${(share(score['frozen/none']) * 100).toFixed(1)}% -> ${(share(score['adapted/none']) * 100).toFixed(1)}%; ${seconds.toFixed(0)} s`,
    );
    return out; // `adapted` is a view of `model`'s layers: disposed with it
  } finally {
    model.dispose();
    frozenStage.dispose();
    backbone.dispose();
  }
}
