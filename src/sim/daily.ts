/**
 * The daily-retraining scenario ("we ship fresh models daily"): photos arrive on each phone over
 * `days` days (a seeded share at the start, then about `photosPerDay` a day), and every day the
 * cloud ships a fresh model that every phone pulls.
 * - FedEx: each available phone uploads the features of the photos it has not uploaded yet (one
 *   collection round a day); the cloud retrains the top on every upload so far, warm-started from
 *   yesterday's model.
 * - FedAvg (features cached on the phone, the honest mode): a warm-started campaign of
 *   `roundsPerDay` rounds a day over the photos each phone holds so far.
 * Both arms pay, every day, detection + landmarks and the bottom once per new photo, and one pull
 * of the day's model per phone. Reported per day: each arm's model accuracy and the cumulative
 * device FLOPs, joules and bytes (mean per fleet device and per participating device), and per
 * photo the latency from "photo taken" (the start of its day) to "a model that learned from it is
 * on the phone" (the end of the day whose model first trained on it).
 *
 * Same strategies, round runner and transport as `runSimulation` (the server's code); only the
 * clock is virtual. Days are independent clocks of 24 h: a day's campaign starts at its 0 s.
 */
import { FedexError } from '../core/errors.js';
import { createRng, deriveSeed, shuffled } from '../core/random.js';
import { getHead } from '../model/heads/registry.js';
import { runClientTask, weightsWireBytes, type ClientData } from '../strategy/client.js';
import { readWeights } from '../strategy/model-weights.js';
import { getStrategy } from '../strategy/registry.js';
import { DEFAULT_ROUND_SETTINGS, runRounds } from '../strategy/rounds.js';
import type { ClientFn } from '../strategy/transport/memory.js';
import type { RoundSettings, Weights } from '../strategy/types.js';
import { VirtualClock } from './clock.js';
import type { SimData } from './data.js';
import { buildPopulation, type SimDevice } from './population.js';
import { drawProfiles, type DeviceProfile } from './profiles.js';
import {
  AUTO_DEADLINE,
  createEvaluator,
  DEFAULT_SIM_OPTIONS,
  distribution,
  dataOptions,
  fedexStrategyOptions,
  standardizeData,
  timedStrategy,
  type Distribution,
  type SimOptions,
} from './runner.js';
import { CostLedger, SimTransport, unitHash } from './transport.js';

export interface DailyOptions extends Omit<
  SimOptions,
  'arms' | 'target' | 'stopAtTarget' | 'maxRounds' | 'fedexRounds'
> {
  days: number;
  /** Share of each phone's photos already there on day 0 (the rest arrive over the days). */
  initialShare: number;
  /** Photos arriving per phone per day (expected; the last ones may arrive after the horizon). */
  photosPerDay: number;
  /** FedAvg rounds per day (a warm-started campaign). */
  roundsPerDay: number;
}

/**
 * Defaults: 30 days, half of each phone's photos on day 0 and about one a day after, 10 FedAvg
 * rounds a day; everything else as `DEFAULT_SIM_OPTIONS`.
 */
export const DEFAULT_DAILY_OPTIONS: Readonly<Omit<DailyOptions, 'devices'>> = Object.freeze({
  ...(({ arms: _a, target: _t, stopAtTarget: _s, maxRounds: _m, fedexRounds: _f, ...rest }) => rest)(
    DEFAULT_SIM_OPTIONS,
  ),
  days: 30,
  initialShare: 0.5,
  photosPerDay: 1,
  roundsPerDay: 10,
});

/** One day of one arm. */
export interface DayPoint {
  day: number;
  /** Global top-1 of the model shipped at the end of the day. */
  accuracy: number;
  personalized: number;
  /** With masked photos in the task: top-1 on the masked / unmasked test photos. */
  maskedAccuracy?: number;
  plainAccuracy?: number;
  /** Photos on the phones so far (fleet total). */
  photos: number;
  /** Cumulative mean per fleet device. */
  flops: number;
  energyJ: number;
  bytes: number;
  /** Cumulative mean per participating device (those that ran a task so far). */
  participatingFlops: number;
  participatingEnergyJ: number;
  participatingBytes: number;
  participants: number;
  /** Virtual seconds the day's campaign took (devices' rounds + cloud). */
  campaignS: number;
}

export interface DailyArmReport {
  name: 'fedex' | 'fedavg-cached';
  days: DayPoint[];
  /** Hours from a photo's arrival to the end of the day whose model first learned from it. */
  latencyH: Distribution & { learned: number; photos: number };
  final: { flops: Distribution; energyJ: Distribution; bytes: Distribution };
  wallS: number;
}

export interface DailyReport {
  format: 'fedex-daily';
  version: 1;
  createdAt: string;
  config: Omit<DailyOptions, 'catalog' | 'headOptions'> & {
    split: string;
    numClasses: number;
    /** Share of photos drawn masked (0: none). */
    maskedShare: number;
  };
  devices: number;
  photos: number;
  arms: DailyArmReport[];
  /** FedAvg ÷ FedEx at the last day: cumulative device costs (fleet and participating), latency. */
  ratios: {
    flops: number | null;
    /** FLOPs per fleet device less detection + landmarks, which both arms pay per photo alike. */
    flopsBeyondFrontEnd: number | null;
    energy: number | null;
    bytes: number | null;
    participatingFlops: number | null;
    participatingEnergy: number | null;
    participatingBytes: number | null;
    medianLatency: number | null;
  };
  wallS: number;
}

/** Day on which each of a device's photos arrives (index-aligned with `device.samples`). */
export function arrivalDays(
  device: SimDevice,
  o: Pick<DailyOptions, 'initialShare' | 'photosPerDay' | 'seed'>,
): number[] {
  const n = device.samples.length;
  const rng = createRng(deriveSeed(o.seed, `arrivals:${device.id}`));
  const order = shuffled(
    rng,
    Array.from({ length: n }, (_, i) => i),
  );
  const days = new Array<number>(n).fill(0);
  const initial = Math.max(1, Math.round(o.initialShare * n));
  // After day 0: exponential gaps of mean 1/photosPerDay days (a Poisson process), whole days.
  let t = 0;
  order.forEach((i, k) => {
    if (k < initial) return;
    t += -Math.log(Math.max(rng(), 1e-12)) / o.photosPerDay;
    days[i] = Math.max(1, Math.ceil(t));
  });
  return days;
}

function checkDaily(o: DailyOptions): void {
  const int = (k: string, v: number) => {
    if (!(Number.isSafeInteger(v) && v >= 1))
      throw new FedexError('BAD_ARGUMENT', `${k} must be an integer >= 1, got ${v}`);
  };
  int('days', o.days);
  int('roundsPerDay', o.roundsPerDay);
  int('devices', o.devices);
  if (!(o.initialShare > 0 && o.initialShare <= 1))
    throw new FedexError('BAD_ARGUMENT', `initialShare must be in (0, 1], got ${o.initialShare}`);
  if (!(o.photosPerDay > 0 && Number.isFinite(o.photosPerDay)))
    throw new FedexError('BAD_ARGUMENT', `photosPerDay must be a positive number, got ${o.photosPerDay}`);
}

/**
 * Runs both arms over the days; returns the report (JSON-ready).
 *
 * @example
 * const report = await runDaily(await loadSimData({ split: 'embedding' }), { devices: 100, days: 30 });
 * report.ratios.flops; // FedAvg's cumulative device FLOPs over FedEx's after 30 days
 */
export async function runDaily(
  rawData: SimData,
  partial: Partial<DailyOptions> & { devices: number },
  hooks: { log?: (line: string) => void; onDay?: (arm: string, day: number, days: number) => void } = {},
): Promise<DailyReport> {
  const { normalize, learningRate } = dataOptions(
    rawData,
    partial.head ?? DEFAULT_DAILY_OPTIONS.head,
    partial,
  );
  const o: DailyOptions = { ...DEFAULT_DAILY_OPTIONS, ...partial, normalize, learningRate };
  checkDaily(o);
  const t0 = performance.now();
  const data = normalize === 'standardize' ? standardizeData(rawData) : rawData;
  const devices = buildPopulation(data.trainByPerson, {
    devices: o.devices,
    seed: o.seed,
    peoplePerDevice: o.peoplePerDevice,
    photosPerPerson: o.photosPerPerson,
  });
  const profiles: DeviceProfile[] = drawProfiles(o.profile, o.devices, o.seed, o.catalog);
  const arrivals = devices.map((d) => arrivalDays(d, o));
  const indexOf = new Map(devices.map((d, i) => [d.id, i]));
  const meanAvailability = profiles.reduce((a, p) => a + p.availability, 0) / profiles.length;
  const head = getHead(o.head);
  const shape = data.spec.shape;
  const evalModel = head.build(shape, data.numClasses, o.headOptions, 0);
  const initial = readWeights(evalModel);
  const evaluator = createEvaluator(data, evalModel, devices);
  const totalPhotos = devices.reduce((a, d) => a + d.samples.length, 0);
  const clientData = (samples: readonly number[]): ClientData => {
    const features = new Float32Array(samples.length * data.dim);
    samples.forEach((s, j) =>
      features.set(data.features.subarray(s * data.dim, (s + 1) * data.dim), j * data.dim),
    );
    return { features, labels: Int32Array.from(samples, (s) => data.labels[s]), shape, n: samples.length };
  };
  const photosBy = (i: number, day: number) => devices[i].samples.filter((_, k) => arrivals[i][k] <= day);
  const arms: DailyArmReport[] = [];
  try {
    for (const name of ['fedex', 'fedavg-cached'] as const) {
      const a0 = performance.now();
      const fedex = name === 'fedex';
      const ledger = new CostLedger(o.devices);
      const participated = new Array<boolean>(o.devices).fill(false);
      const model = head.build(shape, data.numClasses, o.headOptions, 0);
      // FedEx: what each phone has uploaded (count of its photos, in arrival order).
      const uploadedUpTo = new Array<number>(o.devices).fill(0);
      // Per photo: the day its information first reached a shipped model (-1: not yet).
      const learnedDay = devices.map((d) => new Array<number>(d.samples.length).fill(-1));
      const strategyBase = fedex
        ? getStrategy('fedex', {
            fedex: fedexStrategyOptions(
              o,
              shape,
              data.numClasses,
              Math.max(32, Math.ceil(totalPhotos / o.cloudTrain.maxBatchesPerEpoch)),
            ),
          })
        : undefined;
      let weights: Weights = initial;
      const days: DayPoint[] = [];
      for (let day = 0; day < o.days; day++) {
        const clock = new VirtualClock();
        // Photos that arrive today: detection + landmarks and the bottom, once, in every arm.
        devices.forEach((d, i) => {
          const fresh = arrivals[i].filter((a) => a === day).length;
          if (fresh > 0)
            ledger.book(i, profiles[i], {
              bytesDown: 0,
              flops: fresh * (o.frontEndFlopsPerPhoto + data.bottomFlopsPerPhoto),
              bytesUp: 0,
            });
        });
        const availableToday = devices
          .map((d, i) => i)
          .filter((i) => unitHash(o.seed, `avail:day:${day}:${devices[i].id}`) < profiles[i].availability);
        // FedEx's client of the day is `<device>#<day>`: the photos it has not uploaded yet.
        const pending = (i: number) => {
          const have = photosBy(i, day);
          return have.slice(uploadedUpTo[i]);
        };
        const client = (id: string): ClientFn | undefined => {
          const [base] = id.split('#');
          const i = indexOf.get(base);
          if (i === undefined) return undefined;
          return async (task) => {
            const samples = fedex ? pending(i) : photosBy(i, day);
            const r = await runClientTask(task, clientData(samples), model, {
              clientId: id,
              bottomMode: 'cached',
              bottomFlopsPerPhoto: data.bottomFlopsPerPhoto,
              // The bottom of every photo was booked on its arrival day.
              featuresCached: true,
              spec: data.spec,
            });
            participated[i] = true;
            return r;
          };
        };
        const transport = new SimTransport({
          client,
          indexOf: (id) => indexOf.get(id.split('#')[0]) ?? -1,
          profiles,
          clock,
          ledger,
          seed: deriveSeed(o.seed, `day:${day}`),
          ...(o.deadlineS === 'auto' ? { autoDeadline: AUTO_DEADLINE } : {}),
        });
        const strategy = timedStrategy(
          strategyBase ?? getStrategy('fedavg', { fedavg: { server: o.serverOptimizer } }),
          clock,
          { cloudGflops: o.cloudGflops, scale: o.cloudTimeScale },
          () => undefined,
        );
        const settings: RoundSettings = {
          ...DEFAULT_ROUND_SETTINGS,
          clientFraction: fedex ? 1 : Math.min(1, o.clientsPerRound / (o.devices * meanAvailability)),
          minClients: 1,
          deadlineMs:
            (o.deadlineS === 'auto' ? DEFAULT_ROUND_SETTINGS.deadlineMs / 1000 : o.deadlineS) * 1000,
          localEpochs: o.localEpochs,
          batchSize: o.batchSize,
          learningRate: o.learningRate,
          mu: 0,
          seed: deriveSeed(o.seed, `day:${day}`),
        };
        const clients = fedex
          ? availableToday.filter((i) => pending(i).length > 0).map((i) => `${devices[i].id}#${day}`)
          : availableToday.filter((i) => photosBy(i, day).length > 0).map((i) => devices[i].id);
        const out = await runRounds({
          strategy,
          transport,
          clients,
          initial: weights,
          settings,
          rounds: fedex ? 1 : o.roundsPerDay,
        });
        weights = out.weights;
        for (const log of out.logs) {
          if (!log.applied) continue;
          for (const id of log.participants) {
            const i = indexOf.get(id.split('#')[0])!;
            arrivals[i].forEach((a, k) => {
              if (a <= day && learnedDay[i][k] < 0) learnedDay[i][k] = day;
            });
            if (fedex) uploadedUpTo[i] = photosBy(i, day).length;
          }
        }
        // Every phone pulls the day's model.
        const pull = weightsWireBytes(weights);
        devices.forEach((_, i) => ledger.book(i, profiles[i], { bytesDown: pull, flops: 0, bytesUp: 0 }));
        const accuracy = await evaluator.evaluate(weights);
        const bytes = ledger.bytesUp.map((u, i) => u + ledger.bytesDown[i]);
        const only = (xs: ArrayLike<number>) => Array.from(xs).filter((_, i) => participated[i]);
        days.push({
          day,
          accuracy,
          ...evaluator.last(),
          photos: arrivals.reduce((n, as) => n + as.filter((a) => a <= day).length, 0),
          flops: distribution(ledger.flops).mean,
          energyJ: distribution(ledger.energyJ).mean,
          bytes: distribution(bytes).mean,
          participatingFlops: distribution(only(ledger.flops)).mean,
          participatingEnergyJ: distribution(only(ledger.energyJ)).mean,
          participatingBytes: distribution(only(bytes)).mean,
          participants: participated.filter(Boolean).length,
          campaignS: clock.now,
        });
        hooks.onDay?.(name, day + 1, o.days);
      }
      model.dispose();
      // Latency: from the start of a photo's arrival day to the end of the day that learned it.
      const latencies: number[] = [];
      let photos = 0;
      devices.forEach((_, i) =>
        arrivals[i].forEach((a, k) => {
          if (a >= o.days) return;
          photos++;
          const l = learnedDay[i][k];
          if (l >= 0) latencies.push((l - a) * 24 + 24);
        }),
      );
      const bytes = ledger.bytesUp.map((u, i) => u + ledger.bytesDown[i]);
      arms.push({
        name,
        days,
        latencyH: { ...distribution(latencies), learned: latencies.length, photos },
        final: {
          flops: distribution(ledger.flops),
          energyJ: distribution(ledger.energyJ),
          bytes: distribution(bytes),
        },
        wallS: (performance.now() - a0) / 1000,
      });
      const last = days[days.length - 1];
      hooks.log?.(
        `${name}: day ${o.days} accuracy ${last.accuracy.toFixed(3)}, per device ${(last.flops / 1e9).toFixed(1)} GFLOP, ${last.energyJ.toFixed(1)} J, ${(last.bytes / 1e6).toFixed(2)} MB; ` +
          `${latencies.length}/${photos} photos learned, median latency ${distribution(latencies).p50.toFixed(0)} h`,
      );
    }
  } finally {
    evaluator.dispose();
    evalModel.dispose();
  }
  const [fx, avg] = arms;
  const lastFx = fx.days[fx.days.length - 1];
  const lastAvg = avg.days[avg.days.length - 1];
  const r = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? a / b : null);
  // Every photo that arrived went through detection + landmarks once, in both arms.
  const frontEnd = (lastFx.photos * o.frontEndFlopsPerPhoto) / devices.length;
  const { catalog: _c, headOptions: _h, ...config } = o;
  return {
    format: 'fedex-daily',
    version: 1,
    createdAt: new Date().toISOString(),
    config: { ...config, split: data.split, numClasses: data.numClasses, maskedShare: data.maskedShare ?? 0 },
    devices: devices.length,
    photos: totalPhotos,
    arms,
    ratios: {
      flops: r(lastAvg.flops, lastFx.flops),
      flopsBeyondFrontEnd: r(lastAvg.flops - frontEnd, lastFx.flops - frontEnd),
      energy: r(lastAvg.energyJ, lastFx.energyJ),
      bytes: r(lastAvg.bytes, lastFx.bytes),
      participatingFlops: r(lastAvg.participatingFlops, lastFx.participatingFlops),
      participatingEnergy: r(lastAvg.participatingEnergyJ, lastFx.participatingEnergyJ),
      participatingBytes: r(lastAvg.participatingBytes, lastFx.participatingBytes),
      medianLatency: r(avg.latencyH.p50, fx.latencyH.p50),
    },
    wallS: (performance.now() - t0) / 1000,
  };
}
