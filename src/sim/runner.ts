/**
 * The experiment runner: one fleet (`buildPopulation` + `drawProfiles`), several arms (FedEx, and
 * FedAvg / FedProx with the device's bottom cached or recomputed), each run through the SAME round
 * runner and strategies as the server (`runRounds`, `getStrategy`, `runClientTask`), really
 * training on real features; only time is virtual. Per round the clock advances by the devices'
 * sessions (`SimTransport`) and by the cloud's aggregation, measured in wall seconds on this
 * machine (FedEx's cloud training, FedAvg's averaging) and multiplied by `cloudTimeScale`.
 *
 * Costs are per device, accounted from what each task counted (FLOPs, bytes) and the device's
 * profile; devices are never recomputed: features are gathered from the one feature array when a
 * device is selected, and dropped afterwards, so memory grows with the selected devices, not the
 * fleet (FedEx's cloud keeps every upload: that is the method). Devices share one tfjs model per
 * arm because the transport runs them one at a time.
 */
import * as tf from '@tensorflow/tfjs';
import { FedexError } from '../core/errors.js';
import { FACE_FRONT_END_FLOPS } from '../device/costs.js';
import { countModelCosts } from '../model/flops.js';
import { fitCentroids } from '../model/heads/centroid.js';
import { LOGITS_LAYER } from '../model/heads/common.js';
import type { TrainOptimizer } from '../model/trainer.js';
import { getHead, type HeadOptions } from '../model/heads/registry.js';
import { runClientTask, weightsWireBytes, type ClientData } from '../strategy/client.js';
import { readWeights, writeWeights } from '../strategy/model-weights.js';
import { getStrategy } from '../strategy/registry.js';
import type { FedExOptions } from '../strategy/fedex.js';
import { DEFAULT_SERVER_OPTIMIZER, type ServerOptimizer } from '../strategy/server-opt.js';
import { DEFAULT_ROUND_SETTINGS, runRounds } from '../strategy/rounds.js';
import type { ClientFn } from '../strategy/transport/memory.js';
import type { BottomMode, RoundSettings, Strategy, StrategyName, Weights } from '../strategy/types.js';
import { VirtualClock } from './clock.js';
import type { SimData } from './data.js';
import { buildPopulation, type SimDevice } from './population.js';
import { drawProfiles, PROFILES, type DeviceProfile, type ProfileCatalog } from './profiles.js';
import { personalizeFedAvg, personalizeFedEx, type PersonalizeOptions } from './personalize.js';
import { CostLedger, dropsOut, SimTransport, unitHash, type AutoDeadline } from './transport.js';

/** One arm: a strategy and, for FedAvg-like ones, how the device gets its features. */
export interface Arm {
  strategy: StrategyName;
  bottomMode: BottomMode;
}

/** `fedex`, `fedavg-cached`, `fedprox-recompute`, ... */
export function armName(a: Arm): string {
  return a.strategy === 'fedex' ? 'fedex' : `${a.strategy}-${a.bottomMode}`;
}

export interface SimOptions {
  devices: number;
  arms: Arm[];
  /** `phone/network` or a population name (profiles.json). */
  profile: string;
  seed: number;
  /** Head every arm trains (registry name). */
  head: string;
  headOptions?: HeadOptions;
  /** Global test accuracy that counts as "trained". */
  target: number;
  /** Stop an arm once it reaches the target (its costs are then "to target"). */
  stopAtTarget: boolean;
  /** Most FedAvg/FedProx rounds. */
  maxRounds: number;
  /** Most FedEx rounds (collection windows; each retrains the top on all uploads so far). */
  fedexRounds: number;
  /** Devices a FedAvg round selects (about: C = this / expected available devices). */
  clientsPerRound: number;
  localEpochs: number;
  batchSize: number;
  learningRate: number;
  /** FedProx's mu. */
  mu: number;
  /**
   * After the campaign, the personalized target (`./personalize.ts`): FedAvg phones fine-tune the
   * global top locally (FedPer-style); FedEx's cloud runs the same fine-tuning for each phone that
   * uploaded, and the phone pulls the result. Off: `false`.
   */
  personalize: Partial<PersonalizeOptions> | false;
  /**
   * Where FedAvg/FedProx start: `initial` (the head as built: a pretrained stage keeps its weights,
   * the classifier is random) or `centroids` (one collection round first: every phone sends per
   * person the sum of its photos' vectors at the classifier's input, and the server sets the
   * classifier from the means, the federated form of the upper head's start).
   */
  fedavgStart: 'initial' | 'centroids';
  /**
   * Where FedEx's cloud trainer starts each training: `initial` (from the global weights, the
   * classifier as the head builds it) or `centroids` (the classifier set from the class means of
   * every upload so far, the start kept as an early-stopping candidate: LP-FT's start, which the
   * upper head always has). A cloud trainer may do this because it holds the features; FedAvg's
   * counterpart is `fedavgStart: 'centroids'`.
   */
  fedexStart: 'initial' | 'centroids';
  /**
   * How FedEx's cloud trains again when new uploads come (each collection round, each day):
   * `warm` from the global weights it shipped last, or `fresh` from the head as built (seeded), a
   * new training on every upload so far (`FedExOptions.start`).
   */
  fedexRetrain: 'warm' | 'fresh';
  /**
   * How FedEx's cloud trains: `fit` (the server's trainer, `cloudTrain`) or `fedavg` (FedAvg's own
   * recipe run on the server over the uploads, grouped by phone: `cloudRounds` rounds of
   * `clientsPerRound` phones' uploads, `localEpochs` of SGD at `learningRate` with `batchSize`;
   * no phone trains).
   */
  fedexCloud: 'fit' | 'fedavg';
  /** Rounds of `fedexCloud: 'fedavg'` per training. */
  cloudRounds: number;
  /** FedAvg/FedProx server step (`none`: the plain average; `momentum`: FedAvgM; `adam`: FedAdam). */
  serverOptimizer: ServerOptimizer;
  /**
   * Input normalisation every arm sees (FedAvg's devices and FedEx's cloud alike):
   * `standardize` maps each channel to zero mean, unit variance with a per-channel mean/std fitted
   * on the training photos' features (no labels, no test photos; see `fitStandardizer`);
   * `none` trains on the raw features. Default: `standardize`, except with the `upper` head (a
   * pretrained stage that expects the raw map), where it is `none`.
   */
  normalize?: Normalize;
  /**
   * Round deadline in virtual seconds, or `auto`: 1.5 × the 90th percentile of the round's session
   * times (`AUTO_DEADLINE`), so one dropout holds a round to a time its devices need, not a constant.
   */
  deadlineS: number | 'auto';
  /**
   * The cloud's clock: its FLOPs (FedEx's training, FedAvg's averaging) at this many GFLOP/s, so
   * time does not depend on a loaded laptop; `null`: measured wall seconds × `cloudTimeScale`.
   * Both are reported either way.
   */
  cloudGflops: number | null;
  /** Multiplies measured cloud seconds (e.g. 0.1 for a cloud 10x this machine). */
  cloudTimeScale: number;
  /**
   * FLOPs a device spends on each photo before the split network (face detection + landmarks),
   * once per photo, in every arm. Default `FACE_FRONT_END_FLOPS` (SSD + 68 landmarks, 6.39 GFLOP).
   */
  frontEndFlopsPerPhoto: number;
  peoplePerDevice: readonly [number, number];
  photosPerPerson: readonly [number, number];
  /**
   * FedEx's cloud trainer (Adam, early stopping), as a server job; for a pretrained top (`upper`)
   * optionally LP-FT (`probeEpochs`, `pretrainedLearningRateScale`, `validateStart`: see the trainer).
   */
  cloudTrain: {
    epochs: number;
    learningRate: number;
    patience: number;
    maxBatchesPerEpoch: number;
    probeEpochs?: number;
    pretrainedLearningRateScale?: number;
    validateStart?: boolean;
    /** L2 penalty on the kernels (the trainer's `weightDecay`); absent: none. */
    weightDecay?: number;
    /**
     * Share of each person's uploads held out for early stopping (the trainer's
     * `validationSplit`); absent: the trainer's 0.2. 0: no validation, every epoch runs, the last
     * weights are shipped and there is no refit.
     */
    validationSplit?: number;
    /** The trainer's optimizer; absent: Adam. */
    optimizer?: TrainOptimizer;
  };
  catalog: ProfileCatalog;
}

/**
 * Defaults: mid-range phone on LTE; linear head; features standardised per channel (`normalize`);
 * target 0.7 (global top-1 over the 158 people); FedAvg E=5, B=10, lr from `fedavgLearningRate`
 * unless given (3 on standardised features at both splits: the sweep's best), 20 devices per round,
 * an automatic deadline (1.5 × p90 of the round's sessions), at most 150 rounds; FedProx mu 0.001;
 * FedEx at most 3 collection rounds, cloud Adam 3e-3, <= 60 epochs, patience 8; 2-4 people per
 * device, 2-6 photos each; the cloud clocked at 5,000 GFLOP/s (one server GPU at about a quarter
 * of its fp32 peak, e.g. an A100's 19.5 TFLOP/s: small batches of a small model), measured wall
 * time reported beside it; detection + landmarks charged once per photo.
 */
export const DEFAULT_SIM_OPTIONS: Readonly<Omit<SimOptions, 'devices'>> = Object.freeze({
  arms: [
    { strategy: 'fedex', bottomMode: 'cached' },
    { strategy: 'fedavg', bottomMode: 'cached' },
    { strategy: 'fedavg', bottomMode: 'recompute' },
  ] as Arm[],
  profile: 'mid-range/lte',
  seed: 1,
  head: 'linear',
  target: 0.7,
  stopAtTarget: true,
  maxRounds: 150,
  fedexRounds: 3,
  clientsPerRound: 20,
  localEpochs: 5,
  batchSize: 10,
  learningRate: 3,
  mu: 0.001,
  personalize: false,
  fedavgStart: 'initial',
  fedexStart: 'initial',
  fedexRetrain: 'warm',
  fedexCloud: 'fit',
  cloudRounds: 20,
  serverOptimizer: DEFAULT_SERVER_OPTIMIZER,
  deadlineS: 'auto',
  cloudGflops: 5000,
  cloudTimeScale: 1,
  frontEndFlopsPerPhoto: FACE_FRONT_END_FLOPS,
  peoplePerDevice: [2, 4] as const,
  photosPerPerson: [2, 6] as const,
  cloudTrain: { epochs: 60, learningRate: 3e-3, patience: 8, maxBatchesPerEpoch: 150 },
  catalog: PROFILES,
});

/** The LP-FT options of a cloud trainer config, only those set. */
/** FedEx's cloud trainer as the options say (the campaign and the daily scenario share it). */
export function fedexStrategyOptions(
  o: Pick<SimOptions, 'head' | 'headOptions' | 'cloudTrain' | 'fedexStart'> &
    Partial<
      Pick<
        SimOptions,
        | 'fedexRetrain'
        | 'fedexCloud'
        | 'cloudRounds'
        | 'clientsPerRound'
        | 'localEpochs'
        | 'batchSize'
        | 'learningRate'
      >
    >,
  inputShape: readonly number[],
  numClasses: number,
  batchSize: number,
): FedExOptions {
  const centroids = o.fedexStart === 'centroids';
  return {
    head: o.head,
    headOptions: centroids ? { ...o.headOptions, init: 'centroids' } : o.headOptions,
    inputShape,
    numClasses,
    ...(o.fedexRetrain === 'fresh' ? { start: 'fresh' as const } : {}),
    ...(o.fedexCloud === 'fedavg'
      ? {
          cloudFedAvg: {
            rounds: o.cloudRounds ?? DEFAULT_SIM_OPTIONS.cloudRounds,
            clientsPerRound: o.clientsPerRound ?? DEFAULT_SIM_OPTIONS.clientsPerRound,
            localEpochs: o.localEpochs ?? DEFAULT_SIM_OPTIONS.localEpochs,
            batchSize: o.batchSize ?? DEFAULT_SIM_OPTIONS.batchSize,
            learningRate: o.learningRate ?? DEFAULT_SIM_OPTIONS.learningRate,
            // The daily scenario uploads as `<phone>#<day>`: one phone, one client.
            groupBy: (id: string) => id.split('#')[0],
          },
        }
      : {}),
    train: {
      epochs: o.cloudTrain.epochs,
      batchSize,
      learningRate: o.cloudTrain.learningRate,
      patience: o.cloudTrain.patience,
      ...lpft(o.cloudTrain),
      ...(centroids ? { validateStart: true } : {}),
      ...(o.cloudTrain.weightDecay ? { weightDecay: o.cloudTrain.weightDecay } : {}),
      ...(o.cloudTrain.validationSplit === undefined
        ? {}
        : { validationSplit: o.cloudTrain.validationSplit }),
      ...(o.cloudTrain.optimizer ? { optimizer: o.cloudTrain.optimizer } : {}),
    },
  };
}

export function lpft(c: SimOptions['cloudTrain']): {
  probeEpochs?: number;
  pretrainedLearningRateScale?: number;
  validateStart?: boolean;
} {
  return {
    ...(c.probeEpochs === undefined ? {} : { probeEpochs: c.probeEpochs }),
    ...(c.pretrainedLearningRateScale === undefined
      ? {}
      : { pretrainedLearningRateScale: c.pretrainedLearningRateScale }),
    ...(c.validateStart === undefined ? {} : { validateStart: c.validateStart }),
  };
}

/** The automatic deadline: 1.5 × the 90th percentile of the round's session times. */
export const AUTO_DEADLINE: Readonly<AutoDeadline> = Object.freeze({ quantile: 0.9, factor: 1.5 });

/** How the features are normalised before any arm sees them. */
export type Normalize = 'standardize' | 'none';

/** A per-channel affine map x → (x − mean) / std, applied at every position of a feature map. */
export interface Standardizer {
  mean: number[];
  std: number[];
  /** Photos it was fitted on. */
  fittedOn: number;
}

/**
 * Fits, per channel, the mean and standard deviation of the average-pooled features of the
 * task's **training** photos (labels unused, test photos never read): after the map, the pooled
 * vector the linear and mlp heads see has zero mean and unit variance per channel (for a vector
 * split such as the embedding, pooling is the identity). Pooled ReLU maps are all positive: at stage128
 * the mean pooled vector has norm 10.6 against ~1.4 for the spread around it, so a softmax trained
 * by plain SGD from non-IID clients mostly moves along the shared mean direction and FedAvg stays
 * at chance (docs/sim.md). In a deployment this is one federated-statistics round (two 128-value
 * sums per device) or a constant shipped with the split; its cost is not counted.
 */
export function fitStandardizer(data: SimData): Standardizer {
  const shape = data.spec.shape;
  const channels = shape[shape.length - 1];
  const positions = data.dim / channels;
  const sum = new Float64Array(channels);
  const sumSq = new Float64Array(channels);
  const pooled = new Float64Array(channels);
  for (const s of data.train) {
    const base = s * data.dim;
    pooled.fill(0);
    for (let p = 0; p < positions; p++)
      for (let c = 0; c < channels; c++) pooled[c] += data.features[base + p * channels + c] / positions;
    for (let c = 0; c < channels; c++) {
      sum[c] += pooled[c];
      sumSq[c] += pooled[c] * pooled[c];
    }
  }
  const n = Math.max(1, data.train.length);
  const mean = Array.from(sum, (v) => v / n);
  const std = Array.from(sumSq, (v, c) => Math.sqrt(Math.max(0, v / n - mean[c] * mean[c])) + 1e-6);
  return { mean, std, fittedOn: data.train.length };
}

/** A copy of `data` whose features are standardised per channel (the input is not modified). */
export function standardizeData(data: SimData, st: Standardizer = fitStandardizer(data)): SimData {
  const channels = st.mean.length;
  const features = new Float32Array(data.features.length);
  for (let i = 0; i < features.length; i++) {
    const c = i % channels;
    features[i] = (data.features[i] - st.mean[c]) / st.std[c];
  }
  return { ...data, features };
}

/**
 * FedAvg's plain-SGD learning rate per split, chosen by a sweep (fewest rounds to global top-1 0.7,
 * 100 devices, seed 1, the defaults otherwise; docs/sim.md "Input normalisation and FedAvg's learning rate"), for
 * standardised features. Splits not listed fall back to `FEDAVG_LR_STANDARDIZED_FALLBACK`.
 */
export const FEDAVG_LR_STANDARDIZED: Readonly<Record<string, number>> = Object.freeze({
  embedding: 3,
  stage128: 3,
});
export const FEDAVG_LR_STANDARDIZED_FALLBACK = 3;

/** One evaluation of the global model. */
export interface SeriesPoint {
  round: number;
  /** Virtual seconds since the start when this model existed. */
  timeS: number;
  accuracy: number;
  /** Mean over devices of top-1 among the device's own people on their test photos. */
  personalized: number;
  /** 10th percentile of the per-device personalized accuracy. */
  personalizedP10: number;
  /** With masked photos in the task (`SimData.masked`): top-1 on the masked test photos alone. */
  maskedAccuracy?: number;
  /** ... and on the unmasked ones. */
  plainAccuracy?: number;
  selected: number;
  participants: number;
  droppedOut: number;
  late: number;
  /** Virtual seconds the cloud spent aggregating / training this round (the clock's). */
  cloudS: number;
  /** The same work in measured wall seconds × `cloudTimeScale`. */
  cloudWallS: number;
  /** Its FLOPs (what the FLOP clock prices). */
  cloudFlops: number;
  /** The round's deadline, seconds after it opened (0: no devices ran). */
  deadlineS: number;
}

export interface Distribution {
  mean: number;
  p10: number;
  p50: number;
  p90: number;
  max: number;
  /** Mean over the devices that did any work. */
  meanActive: number;
  active: number;
}

export interface ArmReport {
  name: string;
  strategy: StrategyName;
  bottomMode: BottomMode | null;
  series: SeriesPoint[];
  roundsToTarget: number | null;
  timeToTargetS: number | null;
  /** Time to target with the cloud's measured wall time instead of its FLOP clock. */
  timeToTargetWallCloudS: number | null;
  /** Devices that ran at least one task (trained or uploaded). */
  participants: number;
  finalAccuracy: number;
  rounds: number;
  virtualS: number;
  /**
   * Per device (index = device), over the run (to target when it stopped there), including what
   * every device pays in every arm (`settlement`).
   */
  perDevice: { flops: number[]; bytesUp: number[]; bytesDown: number[]; energyJ: number[] };
  /** Over the whole fleet. */
  summary: { flops: Distribution; bytes: Distribution; energyJ: Distribution };
  /** Over the devices that ran a task (the "participating device"). */
  summaryParticipating: { flops: Distribution; bytes: Distribution; energyJ: Distribution };
  /**
   * What every device pays at the end, in every arm: detection + landmarks once per photo, the
   * bottom once per photo if no task ran it (it is needed for inference), and one pull of the
   * final model. Fleet totals.
   */
  settlement: { frontEndFlops: number; bottomFlops: number; modelPullBytes: number; devices: number };
  /** Wall seconds this arm took on this machine. */
  wallS: number;
  /**
   * With `personalize`: per phone top-1 among its own people after personalization (mean, 10th
   * percentile) and how many phones got a personal model; its costs are in the per-device costs.
   */
  personal?: { mean: number; p10: number; personalized: number };
}

/**
 * FedAvg's centroid start (`fedavgStart: 'centroids'`): one collection round in which every phone
 * that takes part (`env.takesPart`: available and not dropping out, the same draws a FedEx upload
 * round faces) runs the model below the classifier on its photos (the bottom first, if it has not
 * yet) and sends, per person, the sum of the vectors and their count; the server sets the
 * classifier from the means (`fitCentroids`, classes no phone sent keep their weights). Charged
 * per phone that took part; the clock moves by the slowest. Returns the starting weights.
 */
function centroidStart(
  model: tf.LayersModel,
  initial: Weights,
  data: SimData,
  devices: readonly SimDevice[],
  env: {
    profiles: readonly DeviceProfile[];
    ledger: CostLedger;
    clock: VirtualClock;
    cached: Set<string>;
    takesPart: (i: number) => boolean;
  },
): Weights {
  writeWeights(model, initial);
  const all = devices.flatMap((d, i) => (env.takesPart(i) ? d.samples : []));
  if (all.length === 0) return initial;
  const x = new Float32Array(all.length * data.dim);
  all.forEach((s, j) => x.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), j * data.dim));
  fitCentroids(
    model,
    { x, y: all.map((s) => data.labels[s]), shape: data.spec.shape },
    { missingClasses: 'keep' },
  );
  const start = readWeights(
    model,
    initial.map((t) => t.name),
  );
  const forward = countModelCosts(model).totals.forwardFlops;
  const inDim = model.getLayer(LOGITS_LAYER).getWeights()[0].shape[0];
  let slowest = 0;
  devices.forEach((d, i) => {
    if (!env.takesPart(i)) return;
    const bottom = env.cached.has(d.id) ? 0 : d.samples.length * data.bottomFlopsPerPhoto;
    env.cached.add(d.id);
    const { seconds } = env.ledger.book(i, env.profiles[i], {
      bytesDown: 0,
      flops: bottom + d.samples.length * forward,
      bytesUp: d.people.length * (inDim + 1) * 4,
    });
    slowest = Math.max(slowest, seconds);
  });
  env.clock.advanceBy(slowest);
  return start;
}

/** FedAvg-like arm vs FedEx: how many times more (time, FLOPs, energy, bytes; mean per device). */
export interface Comparison {
  arm: string;
  timeToTarget: number | null;
  /**
   * True when the arm never reached the target but FedEx did: `timeToTarget` is then a lower
   * bound (the arm's whole run over FedEx's time to target).
   */
  timeToTargetIsLowerBound: boolean;
  /** Time to target with both arms' cloud on measured wall time. */
  timeToTargetWallCloud: number | null;
  /** Mean per fleet device. */
  deviceFlops: number | null;
  /**
   * The same without face detection + landmarks (`settlement.frontEndFlops`), which every arm pays
   * once per photo alike: the FLOPs the arms' own designs decide (bottom, training, inference for
   * a centroid round). With SSD (6.39 GFLOP a photo) the front end dwarfs the rest.
   */
  deviceFlopsBeyondFrontEnd: number | null;
  deviceEnergy: number | null;
  deviceBytes: number | null;
  /** Mean per participating device (each arm's own participants). */
  participating: { deviceFlops: number | null; deviceEnergy: number | null; deviceBytes: number | null };
}

export interface SimReport {
  format: 'fedex-sim';
  version: 1;
  createdAt: string;
  config: Omit<SimOptions, 'catalog' | 'headOptions'> & {
    split: string;
    numClasses: number;
    bottomFlopsPerPhoto: number;
    /** Share of photos drawn masked (`loadSimData`'s `maskedShare`; 0: none). */
    maskedShare: number;
  };
  population: {
    devices: number;
    distinctTrainPhotos: number;
    photosPerDevice: { mean: number; min: number; max: number };
    peoplePerDevice: { mean: number; min: number; max: number };
    profiles: Record<string, number>;
    testPhotos: number;
  };
  cloudTrainableParams: number;
  arms: ArmReport[];
  comparisons: Comparison[];
  wallS: number;
  peakRssMb: number;
}

export interface SimProgress {
  arm: string;
  round: number;
  maxRounds: number;
  accuracy: number | undefined;
  timeS: number;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Summary of a per-device quantity (zeros included in `mean`, not in `meanActive`). */
export function distribution(values: ArrayLike<number>): Distribution {
  const s = Float64Array.from(values).sort();
  let sum = 0;
  let active = 0;
  for (const v of s) {
    sum += v;
    if (v > 0) active++;
  }
  return {
    mean: s.length ? sum / s.length : 0,
    p10: quantile(s, 0.1),
    p50: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    max: s.length ? s[s.length - 1] : 0,
    meanActive: active ? sum / active : 0,
    active,
  };
}

/**
 * The options that depend on the data and the head: the features' normalisation (`standardize`,
 * but `none` for the `upper` head, a pretrained stage that expects the raw map) and FedAvg's
 * learning rate for it, unless `partial` sets them. Shared by the campaign and the daily scenario.
 */
export function dataOptions(
  rawData: SimData,
  head: string,
  partial: { normalize?: Normalize; learningRate?: number },
): { normalize: Normalize; learningRate: number } {
  const normalize = partial.normalize ?? (head === 'upper' ? 'none' : 'standardize');
  return { normalize, learningRate: partial.learningRate ?? fedavgLearningRate(rawData, normalize) };
}

/** FedAvg's default learning rate for `data` under `normalize` (the tuned table, or the raw rule). */
export function fedavgLearningRate(data: SimData, normalize: Normalize): number {
  return normalize === 'standardize'
    ? (FEDAVG_LR_STANDARDIZED[data.split] ?? FEDAVG_LR_STANDARDIZED_FALLBACK)
    : defaultLearningRate(data);
}

/**
 * On RAW features (`normalize: 'none'`): FedAvg's plain-SGD step for these features: lr · E||x̄||² = 62, where x̄ is a photo's feature
 * vector after the head's average pooling. That is lr 30 on the 128-d embedding (E||x||² ≈ 2.1),
 * the best of the strategy bench's sweep; a split whose pooled features are larger (stage128:
 * E||x̄||² ≈ 113) gets a proportionally smaller step, since the softmax loss's curvature grows
 * with ||x||².
 */
export function defaultLearningRate(data: SimData, samples = 400): number {
  const shape = data.spec.shape;
  const channels = shape[shape.length - 1];
  const positions = data.dim / channels;
  const idx = data.train.slice(0, samples);
  let sum = 0;
  const v = new Float64Array(channels);
  for (const s of idx) {
    v.fill(0);
    const f = data.features.subarray(s * data.dim, (s + 1) * data.dim);
    for (let p = 0; p < positions; p++)
      for (let c = 0; c < channels; c++) v[c] += f[p * channels + c] / positions;
    sum += v.reduce((a, b) => a + b * b, 0);
  }
  const meanSq = idx.length ? sum / idx.length : 1;
  return Number((62 / meanSq).toPrecision(2));
}

function checkOptions(o: SimOptions): void {
  const pos = (k: keyof SimOptions, v: number, int = true) => {
    if (!(Number.isFinite(v) && v > 0 && (!int || Number.isSafeInteger(v))))
      throw new FedexError('BAD_ARGUMENT', `${k} must be a positive ${int ? 'integer' : 'number'}, got ${v}`);
  };
  pos('devices', o.devices);
  pos('maxRounds', o.maxRounds);
  pos('fedexRounds', o.fedexRounds);
  pos('clientsPerRound', o.clientsPerRound);
  pos('localEpochs', o.localEpochs);
  pos('batchSize', o.batchSize);
  pos('learningRate', o.learningRate, false);
  if (o.deadlineS !== 'auto') pos('deadlineS', o.deadlineS, false);
  if (o.cloudGflops !== null) pos('cloudGflops', o.cloudGflops, false);
  pos('cloudTimeScale', o.cloudTimeScale, false);
  if (!(Number.isFinite(o.frontEndFlopsPerPhoto) && o.frontEndFlopsPerPhoto >= 0))
    throw new FedexError(
      'BAD_ARGUMENT',
      `frontEndFlopsPerPhoto must be a non-negative number, got ${o.frontEndFlopsPerPhoto}`,
    );
  const range = (k: 'peoplePerDevice' | 'photosPerPerson') => {
    const [lo, hi] = o[k];
    if (!(Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo >= 1 && hi >= lo))
      throw new FedexError('BAD_ARGUMENT', `${k} must be integers 1 <= min <= max, got ${lo}-${hi}`);
  };
  range('peoplePerDevice');
  range('photosPerPerson');
  if (!(o.target > 0 && o.target <= 1))
    throw new FedexError('BAD_ARGUMENT', `target must be in (0, 1], got ${o.target}`);
  if (o.arms.length === 0)
    throw new FedexError('BAD_ARGUMENT', 'no arms to run (give at least one strategy)');
  if (o.normalize !== undefined && o.normalize !== 'standardize' && o.normalize !== 'none')
    throw new FedexError('BAD_ARGUMENT', `normalize must be standardize or none, got ${String(o.normalize)}`);
}

/** Evaluates weights on the test photos: global top-1 and per-device personalized top-1. */
/** What the evaluator scored besides global top-1, for the last weights it saw. */
export type EvaluatorScores = Pick<
  SeriesPoint,
  'personalized' | 'personalizedP10' | 'maskedAccuracy' | 'plainAccuracy'
>;

export function createEvaluator(data: SimData, model: tf.LayersModel, devices: readonly SimDevice[]) {
  const rowOf = new Map(data.test.map((s, r) => [s, r]));
  const x = new Float32Array(data.test.length * data.dim);
  data.test.forEach((s, r) => x.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), r * data.dim));
  const xt = tf.tensor(x, [data.test.length, ...data.spec.shape]);
  const k = data.numClasses;
  let last: EvaluatorScores = { personalized: 0, personalizedP10: 0 };
  const evaluate = (w: Weights): Promise<number> => {
    writeWeights(model, w);
    const probs = tf.tidy(() => (model.predict(xt) as tf.Tensor).dataSync() as Float32Array);
    let right = 0;
    // [right, n] on masked and on plain test photos.
    const byMask = [
      [0, 0],
      [0, 0],
    ];
    data.test.forEach((s, r) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (probs[r * k + c] > probs[r * k + best]) best = c;
      const ok = best === data.labels[s] ? 1 : 0;
      right += ok;
      const m = data.masked?.[s] ? 0 : 1;
      byMask[m][0] += ok;
      byMask[m][1] += 1;
    });
    const perDevice = new Float64Array(devices.length);
    devices.forEach((d, i) => {
      let ok = 0;
      let n = 0;
      for (const p of d.people) {
        for (const s of data.testByPerson[p]) {
          const r = rowOf.get(s)!;
          let best = d.people[0];
          for (const q of d.people) if (probs[r * k + q] > probs[r * k + best]) best = q;
          if (best === p) ok++;
          n++;
        }
      }
      perDevice[i] = n ? ok / n : 1;
    });
    const dist = distribution(perDevice);
    last = {
      personalized: dist.mean,
      personalizedP10: dist.p10,
      ...(data.masked
        ? {
            maskedAccuracy: byMask[0][1] ? byMask[0][0] / byMask[0][1] : Number.NaN,
            plainAccuracy: byMask[1][1] ? byMask[1][0] / byMask[1][1] : Number.NaN,
          }
        : {}),
    };
    return Promise.resolve(right / data.test.length);
  };
  return { evaluate, last: () => last, dispose: () => xt.dispose() };
}

/** One aggregation as the cloud clocks saw it. */
export interface CloudWork {
  clockS: number;
  wallS: number;
  flops: number;
}

/**
 * Wraps a strategy so each aggregation moves the virtual clock: by its FLOPs at `cloudGflops`, or
 * (null) by its measured wall time × `scale`; both are handed to `onCloud`.
 */
export function timedStrategy(
  inner: Strategy,
  clock: VirtualClock,
  o: { cloudGflops: number | null; scale: number },
  onCloud: (w: CloudWork) => void,
): Strategy {
  return {
    name: inner.name,
    configureRound: (round, available, global, settings) =>
      inner.configureRound(round, available, global, settings),
    async aggregate(round, global, results, settings) {
      const t0 = performance.now();
      const out = await inner.aggregate(round, global, results, settings);
      const wallS = ((performance.now() - t0) / 1000) * o.scale;
      const params = global.reduce((a, t) => a + t.values.length, 0);
      const flops = inner.lastAggregateFlops ? inner.lastAggregateFlops() : 2 * params * results.length;
      const clockS = o.cloudGflops === null ? wallS : flops / (o.cloudGflops * 1e9);
      clock.advanceBy(clockS);
      onCloud({ clockS, wallS, flops });
      return out;
    },
  };
}

function peakRssMb(): number {
  const p = (globalThis as { process?: { resourceUsage?: () => { maxRSS: number } } }).process;
  return p?.resourceUsage ? p.resourceUsage().maxRSS / 1024 : 0;
}

/**
 * Runs every arm on the same fleet and data; returns the report (JSON-ready).
 *
 * @example
 * const report = await runSimulation(await loadSimData({ split: 'embedding' }), { devices: 100 });
 * report.comparisons; // [{ arm: 'fedavg-cached', timeToTarget: 35.2, ... }, ...]
 */
export async function runSimulation(
  rawData: SimData,
  partial: Partial<SimOptions> & { devices: number },
  hooks: { onProgress?: (p: SimProgress) => void; log?: (line: string) => void } = {},
): Promise<SimReport> {
  const { normalize, learningRate } = dataOptions(rawData, partial.head ?? DEFAULT_SIM_OPTIONS.head, partial);
  const o: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...partial, normalize, learningRate };
  checkOptions(o);
  // A standardised copy of the features (one more feature array in memory: 83 MB at stage128).
  const data = normalize === 'standardize' ? standardizeData(rawData) : rawData;
  const t0 = performance.now();
  const devices = buildPopulation(data.trainByPerson, {
    devices: o.devices,
    seed: o.seed,
    peoplePerDevice: o.peoplePerDevice,
    photosPerPerson: o.photosPerPerson,
  });
  const profiles: DeviceProfile[] = drawProfiles(o.profile, o.devices, o.seed, o.catalog);
  const ids = devices.map((d) => d.id);
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const meanAvailability = profiles.reduce((a, p) => a + p.availability, 0) / profiles.length;
  const available = (round: number) =>
    ids.filter((id, i) => unitHash(o.seed, `avail:${round}:${id}`) < profiles[i].availability);
  const startRound = new Set(available(0));
  const head = getHead(o.head);
  const shape = data.spec.shape;
  const evalModel = head.build(shape, data.numClasses, o.headOptions, 0);
  const initial = readWeights(evalModel);
  const cloudTrainableParams = evalModel.countParams();
  const evaluator = createEvaluator(data, evalModel, devices);
  const totalSamples = devices.reduce((a, d) => a + d.samples.length, 0);
  const deviceData = (d: SimDevice): ClientData => {
    const features = new Float32Array(d.samples.length * data.dim);
    d.samples.forEach((s, j) =>
      features.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), j * data.dim),
    );
    return {
      features,
      labels: Int32Array.from(d.samples, (s) => data.labels[s]),
      shape,
      n: d.samples.length,
    };
  };

  const arms: ArmReport[] = [];
  try {
    for (const arm of o.arms) {
      const name = armName(arm);
      const a0 = performance.now();
      const clock = new VirtualClock();
      const ledger = new CostLedger(o.devices);
      const model = head.build(shape, data.numClasses, o.headOptions, 0);
      const cached = new Set<string>();
      const client = (id: string): ClientFn | undefined => {
        const i = indexOf.get(id);
        if (i === undefined) return undefined;
        return async (task) => {
          const r = await runClientTask(task, deviceData(devices[i]), model, {
            clientId: id,
            bottomMode: arm.bottomMode,
            bottomFlopsPerPhoto: data.bottomFlopsPerPhoto,
            featuresCached: cached.has(id),
            spec: data.spec,
          });
          cached.add(id);
          return r;
        };
      };
      const transport = new SimTransport({
        client,
        indexOf: (id) => indexOf.get(id) ?? -1,
        profiles,
        clock,
        ledger,
        seed: o.seed,
        ...(o.deadlineS === 'auto' ? { autoDeadline: AUTO_DEADLINE } : {}),
      });
      let cloud: CloudWork = { clockS: 0, wallS: 0, flops: 0 };
      const batchSize = Math.max(32, Math.ceil(totalSamples / o.cloudTrain.maxBatchesPerEpoch));
      const strategy = timedStrategy(
        getStrategy(arm.strategy, {
          fedavg: { server: o.serverOptimizer },
          fedex: fedexStrategyOptions(o, shape, data.numClasses, batchSize),
        }),
        clock,
        { cloudGflops: o.cloudGflops, scale: o.cloudTimeScale },
        (w) => (cloud = w),
      );
      const fedex = arm.strategy === 'fedex';
      const settings: RoundSettings = {
        ...DEFAULT_ROUND_SETTINGS,
        clientFraction: Math.min(1, o.clientsPerRound / (o.devices * meanAvailability)),
        minClients: fedex ? 1 : Math.min(2, o.devices),
        // With `auto` the transport sets each round's deadline; this one is then unused.
        deadlineMs: (o.deadlineS === 'auto' ? DEFAULT_ROUND_SETTINGS.deadlineMs / 1000 : o.deadlineS) * 1000,
        localEpochs: o.localEpochs,
        batchSize: o.batchSize,
        learningRate: o.learningRate,
        mu: arm.strategy === 'fedprox' ? o.mu : 0,
        seed: o.seed,
      };
      const maxRounds = fedex ? o.fedexRounds : o.maxRounds;
      const series: SeriesPoint[] = [];
      const start =
        !fedex && o.fedavgStart === 'centroids'
          ? centroidStart(model, initial, data, devices, {
              profiles,
              ledger,
              clock,
              cached,
              // The collection round is round 0: its own availability and dropout draws.
              takesPart: (i) => startRound.has(ids[i]) && !dropsOut(o.seed, 0, ids[i], profiles[i].dropout),
            })
          : initial;
      const startS = clock.now;
      const out = await runRounds({
        strategy,
        transport,
        clients: available,
        initial: start,
        settings,
        rounds: maxRounds,
        evaluate: evaluator.evaluate,
        stopAtAccuracy: o.stopAtTarget ? o.target : undefined,
        onRound: (log, _w, accuracy) => {
          const t = transport.timings[transport.timings.length - 1];
          const applied = log.applied;
          series.push({
            round: log.round,
            timeS: clock.now,
            accuracy: accuracy ?? Number.NaN,
            ...(applied || series.length === 0 ? evaluator.last() : pick(series[series.length - 1])),
            selected: log.selected.length,
            participants: log.participants.length,
            droppedOut: t && t.round === log.round ? t.droppedOut : 0,
            late: t && t.round === log.round ? t.late : 0,
            cloudS: applied ? cloud.clockS : 0,
            cloudWallS: applied ? cloud.wallS : 0,
            cloudFlops: applied ? cloud.flops : 0,
            deadlineS: t && t.round === log.round ? t.deadlineS : 0,
          });
          cloud = { clockS: 0, wallS: 0, flops: 0 };
          hooks.onProgress?.({ arm: name, round: log.round, maxRounds, accuracy, timeS: clock.now });
        },
      });
      // Round 0: the starting model, when it existed (evaluate it again for its personalized score).
      await evaluator.evaluate(start);
      series.unshift({
        round: 0,
        timeS: startS,
        accuracy: out.accuracyByRound[0],
        ...evaluator.last(),
        selected: 0,
        participants: 0,
        droppedOut: 0,
        late: 0,
        cloudS: 0,
        cloudWallS: 0,
        cloudFlops: 0,
        deadlineS: 0,
      });
      // Participants: the devices that ran a task (before the settlement books every device).
      const participating = devices.map((d) => cached.has(d.id));
      // Settlement, the same in every arm: every device detects and aligns each photo once, runs
      // the bottom once per photo if no task did (it needs the features to predict), and pulls
      // the final model once.
      const pull = weightsWireBytes(out.weights);
      const settlement = { frontEndFlops: 0, bottomFlops: 0, modelPullBytes: 0, devices: devices.length };
      devices.forEach((d, i) => {
        const photos = d.samples.length;
        const frontEnd = photos * o.frontEndFlopsPerPhoto;
        const bottom = participating[i] ? 0 : photos * data.bottomFlopsPerPhoto;
        if (frontEnd + bottom > 0)
          ledger.book(i, profiles[i], { bytesDown: 0, flops: frontEnd + bottom, bytesUp: 0 });
        ledger.book(i, profiles[i], { bytesDown: pull, flops: 0, bytesUp: 0 });
        settlement.frontEndFlops += frontEnd;
        settlement.bottomFlops += bottom;
        settlement.modelPullBytes += pull;
      });
      let personal: ArmReport['personal'];
      if (o.personalize) {
        const global = { model, weights: out.weights };
        const book = { ledger, profiles };
        // Defaults: the arm's own local SGD settings.
        const po: PersonalizeOptions = {
          localEpochs: o.localEpochs,
          batchSize: o.batchSize,
          learningRate: o.learningRate,
          seed: o.seed,
          ...o.personalize,
        };
        const res = fedex
          ? await personalizeFedEx(data, devices, cached, global, po, book)
          : await personalizeFedAvg(data, devices, global, po, book);
        const dist = distribution(res.accuracy);
        personal = { mean: dist.mean, p10: dist.p10, personalized: res.personalized };
        hooks.log?.(
          `${name}: personalized top-1 ${dist.mean.toFixed(3)} (p10 ${dist.p10.toFixed(3)}) over ${devices.length} phones, ${res.personalized} with a personal model`,
        );
      }
      model.dispose();
      const hit = series.find((p) => p.accuracy >= o.target);
      const bytes = ledger.bytesUp.map((u, i) => u + ledger.bytesDown[i]);
      const only = (xs: ArrayLike<number>) => Array.from(xs).filter((_, i) => participating[i]);
      // Time to target with the measured cloud: swap the clock's cloud seconds for the wall ones.
      let swap = 0;
      let wallCloudHit: number | null = null;
      for (const p of series) {
        swap += p.cloudWallS - p.cloudS;
        if (p === hit) wallCloudHit = p.timeS + swap;
      }
      const report: ArmReport = {
        name,
        strategy: arm.strategy,
        bottomMode: fedex ? null : arm.bottomMode,
        series,
        roundsToTarget: hit ? hit.round : null,
        timeToTargetS: hit ? hit.timeS : null,
        timeToTargetWallCloudS: wallCloudHit,
        participants: participating.filter(Boolean).length,
        finalAccuracy: series[series.length - 1].accuracy,
        rounds: out.logs.length,
        virtualS: clock.now,
        perDevice: {
          flops: Array.from(ledger.flops),
          bytesUp: Array.from(ledger.bytesUp),
          bytesDown: Array.from(ledger.bytesDown),
          energyJ: Array.from(ledger.energyJ, (e) => Math.round(e * 1e6) / 1e6),
        },
        summary: {
          flops: distribution(ledger.flops),
          bytes: distribution(bytes),
          energyJ: distribution(ledger.energyJ),
        },
        summaryParticipating: {
          flops: distribution(only(ledger.flops)),
          bytes: distribution(only(bytes)),
          energyJ: distribution(only(ledger.energyJ)),
        },
        settlement,
        ...(personal ? { personal } : {}),
        wallS: (performance.now() - a0) / 1000,
      };
      arms.push(report);
      hooks.log?.(
        `${name}: ${report.rounds} rounds, final accuracy ${report.finalAccuracy.toFixed(3)}, ` +
          `target ${o.target} ${report.timeToTargetS === null ? 'not reached' : `at ${report.timeToTargetS.toFixed(1)} virtual s (round ${report.roundsToTarget})`}, ` +
          `${report.wallS.toFixed(1)} wall s`,
      );
    }
  } finally {
    evaluator.dispose();
    evalModel.dispose();
  }
  return {
    format: 'fedex-sim',
    version: 1,
    createdAt: new Date().toISOString(),
    config: {
      ...withoutCatalog(o),
      split: data.split,
      numClasses: data.numClasses,
      bottomFlopsPerPhoto: data.bottomFlopsPerPhoto,
      maskedShare: data.maskedShare ?? 0,
    },
    population: describePopulation(devices, profiles, data),
    cloudTrainableParams,
    arms,
    comparisons: compare(arms),
    wallS: (performance.now() - t0) / 1000,
    peakRssMb: peakRssMb(),
  };
}

function pick(p: SeriesPoint): EvaluatorScores {
  return {
    personalized: p.personalized,
    personalizedP10: p.personalizedP10,
    ...(p.maskedAccuracy === undefined ? {} : { maskedAccuracy: p.maskedAccuracy }),
    ...(p.plainAccuracy === undefined ? {} : { plainAccuracy: p.plainAccuracy }),
  };
}

/** The options as JSON can hold them: no catalog (it is in profiles.json), no backbone object. */
function withoutCatalog(o: SimOptions): Omit<SimOptions, 'catalog' | 'headOptions'> {
  const { catalog: _catalog, headOptions: _headOptions, ...rest } = o;
  return rest;
}

function describePopulation(
  devices: readonly SimDevice[],
  profiles: readonly DeviceProfile[],
  data: SimData,
) {
  const stats = (xs: number[]) => ({
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    min: Math.min(...xs),
    max: Math.max(...xs),
  });
  const counts: Record<string, number> = {};
  for (const p of profiles) counts[p.name] = (counts[p.name] ?? 0) + 1;
  const distinct = new Set<number>();
  for (const d of devices) for (const s of d.samples) distinct.add(s);
  return {
    devices: devices.length,
    distinctTrainPhotos: distinct.size,
    photosPerDevice: stats(devices.map((d) => d.samples.length)),
    peoplePerDevice: stats(devices.map((d) => d.people.length)),
    profiles: counts,
    testPhotos: data.test.length,
  };
}

/** Each non-FedEx arm against FedEx: arm / fedex, per quantity (null when either is missing or 0). */
/** Mean FLOPs per fleet device less its share of the fleet's front end (detection + landmarks). */
function beyondFrontEnd(a: ArmReport): number {
  return a.summary.flops.mean - a.settlement.frontEndFlops / Math.max(1, a.settlement.devices);
}

export function compare(arms: readonly ArmReport[]): Comparison[] {
  const fx = arms.find((a) => a.strategy === 'fedex');
  if (!fx) return [];
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
  return arms
    .filter((a) => a !== fx)
    .map((a) => ({
      arm: a.name,
      timeToTarget: ratio(
        a.timeToTargetS ?? (fx.timeToTargetS === null ? null : a.virtualS),
        fx.timeToTargetS,
      ),
      timeToTargetIsLowerBound: a.timeToTargetS === null && fx.timeToTargetS !== null,
      timeToTargetWallCloud: ratio(a.timeToTargetWallCloudS, fx.timeToTargetWallCloudS),
      deviceFlops: ratio(a.summary.flops.mean, fx.summary.flops.mean),
      deviceFlopsBeyondFrontEnd: ratio(beyondFrontEnd(a), beyondFrontEnd(fx)),
      deviceEnergy: ratio(a.summary.energyJ.mean, fx.summary.energyJ.mean),
      deviceBytes: ratio(a.summary.bytes.mean, fx.summary.bytes.mean),
      participating: {
        deviceFlops: ratio(a.summaryParticipating.flops.mean, fx.summaryParticipating.flops.mean),
        deviceEnergy: ratio(a.summaryParticipating.energyJ.mean, fx.summaryParticipating.energyJ.mean),
        deviceBytes: ratio(a.summaryParticipating.bytes.mean, fx.summaryParticipating.bytes.mean),
      },
    }));
}
