/**
 * `fedex sim`: simulates a fleet of phones running FedEx and FedAvg/FedProx on real LFW features
 * (really training, virtual time and energy from counted FLOPs and bytes; see src/sim/) and writes
 * `report.json` (every series) and a self-contained `report.html` to `--out`. `--sweep-split`
 * runs it once per split and adds `sweep.json` / `sweep.html`. Progress bars go to stderr; stdout
 * gets a short summary (or JSON with --json).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FedexError } from '../core/errors.js';
import { loadBackbone } from '../model/backbones/registry.js';
import { initRuntime } from '../runtime/node.js';
import { loadSimData, SIM_SCAN, SIM_SPLITS } from '../sim/data.js';
import { deviceProfile, mergeCatalog, PROFILES, profileNames, type ProfileCatalog } from '../sim/profiles.js';
import { renderDailyHtml, renderReportHtml } from '../sim/report-html.js';
import {
  armName,
  DEFAULT_SIM_OPTIONS,
  runSimulation,
  type Arm,
  type SimOptions,
  type SimReport,
} from '../sim/runner.js';
import { renderSweepHtml, sweepRows } from '../sim/sweep.js';
import type { BottomMode, StrategyName } from '../strategy/types.js';
import {
  choiceFlag,
  intFlag,
  parseFlags,
  renderHelp,
  stringFlag,
  type FlagSpecs,
  type ParsedFlags,
} from './args.js';
import { DEFAULT_SERVER_OPTIMIZER, type ServerOptimizer } from '../strategy/server-opt.js';
import { DEFAULT_DAILY_OPTIONS, runDaily, type DailyOptions, type DailyReport } from '../sim/daily.js';
import type { Command } from './command.js';
import { DEFAULT_TRAIN_OPTIONS, TRAIN_OPTIMIZERS } from '../model/trainer.js';
import { createProgressBar } from './progress.js';

const D = DEFAULT_SIM_OPTIONS;

export const SIM_FLAGS: FlagSpecs = {
  devices: { type: 'string', arg: 'N', help: 'Devices in the fleet (1..100000). Default 100.' },
  strategies: {
    type: 'string',
    arg: 'LIST',
    help: 'Comma-separated: fedex, fedavg, fedprox. Default fedex,fedavg.',
  },
  bottom: {
    type: 'string',
    arg: 'LIST',
    help: 'FedAvg/FedProx device modes: cached (bottom once per photo), recompute (every epoch). Default cached,recompute.',
  },
  split: {
    type: 'string',
    arg: 'S',
    help: `Split of faceapi-resnet (${SIM_SPLITS.join(', ')}). Default embedding.`,
  },
  head: {
    type: 'string',
    arg: 'H',
    help: 'Head every arm trains: linear, mlp, or upper (the pretrained upper stage; not at embedding; slow). Default linear.',
  },
  profile: {
    type: 'string',
    arg: 'P',
    help: `Device profile: phone/network or a population. Default ${D.profile}.`,
  },
  profiles: {
    type: 'string',
    arg: 'FILE',
    help: 'JSON overriding fields of src/sim/profiles.json (same shape).',
  },
  out: {
    type: 'string',
    arg: 'DIR',
    help: 'Output folder for report.json and report.html. Default out/sim.',
  },
  target: {
    type: 'string',
    arg: 'ACC',
    help: `Target global top-1 accuracy in (0, 1]. Default ${D.target}.`,
  },
  rounds: { type: 'string', arg: 'N', help: `Most FedAvg/FedProx rounds. Default ${D.maxRounds}.` },
  'fedex-rounds': {
    type: 'string',
    arg: 'N',
    help: `Most FedEx collection rounds. Default ${D.fedexRounds}.`,
  },
  'clients-per-round': {
    type: 'string',
    arg: 'K',
    help: `Devices per FedAvg round. Default ${D.clientsPerRound}.`,
  },
  epochs: { type: 'string', arg: 'E', help: `FedAvg local epochs. Default ${D.localEpochs}.` },
  batch: { type: 'string', arg: 'B', help: `FedAvg local batch size. Default ${D.batchSize}.` },
  lr: {
    type: 'string',
    arg: 'LR',
    help: 'FedAvg SGD learning rate. Default: the tuned table (3 on standardised features; raw: scaled to the features, 30 on embedding).',
  },
  mu: { type: 'string', arg: 'MU', help: `FedProx mu. Default ${D.mu}.` },
  personalize: {
    type: 'boolean',
    help: "After the campaign, the personalized target: FedEx trains a head per phone in the cloud (batched), FedAvg phones fine-tune the global top locally (FedPer-style, FLOPs charged); reports top-1 among each phone's own people.",
  },
  'fedavg-start': {
    type: 'string',
    arg: 'S',
    help: 'Where FedAvg/FedProx start: initial (the head as built) or centroids (a first collection round of per-person sums sets the classifier from class means). Default initial.',
  },
  'fedex-start': {
    type: 'string',
    arg: 'S',
    help: "Where FedEx's cloud trainer starts: initial (the global weights) or centroids (the classifier from the class means of the uploads, the start kept as a candidate). Default initial.",
  },
  'fedex-cloud': {
    type: 'string',
    arg: 'C',
    help: "How FedEx's cloud trains: fit (the server's trainer: --cloud-opt, --cloud-lr, ...) or fedavg (FedAvg's own recipe run on the server over the uploads, one client per phone: --cloud-rounds rounds of --clients-per-round phones, --epochs, --batch, --lr; no phone trains). Default fit.",
  },
  'cloud-rounds': {
    type: 'string',
    arg: 'N',
    help: 'Rounds of --fedex-cloud fedavg per training. Default: --rounds-per-day with --scenario daily, else 20.',
  },
  'fedex-retrain': {
    type: 'string',
    arg: 'R',
    help: "How FedEx's cloud trains again on new uploads (each round, each day): warm (from the model it shipped last) or fresh (from the head as built, on every upload so far; a model refitted on every upload never scores a validation split it has seen). Default warm.",
  },
  'server-opt': {
    type: 'string',
    arg: 'O',
    help: 'FedAvg/FedProx server step: none (the plain average), momentum (FedAvgM), adam (FedAdam, Reddi et al. 2021). Default none.',
  },
  'server-lr': {
    type: 'string',
    arg: 'LR',
    help: 'Server learning rate of --server-opt momentum/adam. Default 1 (momentum), 0.03 (adam).',
  },
  normalize: {
    type: 'string',
    arg: 'N',
    help: 'Features every arm sees: standardize (per channel, fitted on the training photos, no labels) or none (raw). Default standardize (none with --head upper).',
  },
  deadline: {
    type: 'string',
    arg: 'S|auto',
    help: "Round deadline in virtual seconds, or auto: 1.5 x the 90th percentile of the round's session times. Default auto.",
  },
  'cloud-gflops': {
    type: 'string',
    arg: 'R|wall',
    help: `Cloud clock: its FLOPs at R GFLOP/s, or wall (measured seconds x --cloud-time-scale). Both are reported. Default ${D.cloudGflops}.`,
  },
  'cloud-time-scale': { type: 'string', arg: 'X', help: 'Multiplies measured cloud seconds. Default 1.' },
  'cloud-epochs': {
    type: 'string',
    arg: 'N',
    help: `FedEx cloud trainer: most epochs. Default ${D.cloudTrain.epochs}.`,
  },
  'cloud-lr': {
    type: 'string',
    arg: 'LR',
    help: `FedEx cloud trainer: learning rate of --cloud-opt. Default ${D.cloudTrain.learningRate} (Adam).`,
  },
  'cloud-opt': {
    type: 'string',
    arg: 'O',
    help: 'FedEx cloud trainer: adam, or sgd (plain minibatch SGD, the step a FedAvg device takes; give --cloud-lr, e.g. 3 on standardised features). Default adam.',
  },
  'cloud-patience': {
    type: 'string',
    arg: 'N',
    help: `FedEx cloud trainer: early-stopping patience in epochs (0: off, train every epoch). Default ${D.cloudTrain.patience}.`,
  },
  'cloud-val-split': {
    type: 'string',
    arg: 'F',
    help: "FedEx cloud trainer: share of each person's uploads held out for early stopping, in [0, 1) (0: none; every epoch runs and the last weights ship). Default 0.2.",
  },
  'cloud-l2': {
    type: 'string',
    arg: 'L',
    help: 'FedEx cloud trainer: L2 penalty on the kernels (weight decay). Default 0.',
  },
  'people-per-device': {
    type: 'string',
    arg: 'A-B',
    help: `People on each device, drawn in [A, B]. Default ${D.peoplePerDevice.join('-')}.`,
  },
  'photos-per-person': {
    type: 'string',
    arg: 'A-B',
    help: `Training photos of each person on a device, drawn in [A, B]. Default ${D.photosPerPerson.join('-')}.`,
  },
  'front-end-gflop': {
    type: 'string',
    arg: 'G',
    help: `Device GFLOP per photo for face detection + landmarks, in every arm (0: leave out). Default ${(D.frontEndFlopsPerPhoto / 1e9).toFixed(3)} (SSD + 68 landmarks).`,
  },
  'run-past-target': { type: 'boolean', help: 'Keep training after the target (default: stop there).' },
  seed: { type: 'string', arg: 'N', help: `Seed of the fleet, profiles and rounds. Default ${D.seed}.` },
  'max-people': {
    type: 'string',
    arg: 'N',
    help: 'Use at most N LFW people (a seeded choice; quick runs). Default all with enough photos (158).',
  },
  'max-per-person': {
    type: 'string',
    arg: 'N',
    help: `At most N photos per person. Default ${SIM_SCAN.maxPerPerson}.`,
  },
  'min-photos': {
    type: 'string',
    arg: 'N',
    help: `People need at least N photos (>= 2: one is held out for testing). Default ${SIM_SCAN.minPhotos}.`,
  },
  'data-seed': {
    type: 'string',
    arg: 'N',
    help: `Seed of the choice of people and photos (and of which wear masks). Default ${SIM_SCAN.seed}.`,
  },
  'masked-share': {
    type: 'string',
    arg: 'F',
    help: 'Share of photos, training and test alike, that wear a face mask (seeded per photo; the features of the photo with the synthetic mask, extracted once more on the first run). The report adds top-1 on masked and unmasked test photos. Default 0.',
  },
  scenario: {
    type: 'string',
    arg: 'S',
    help: 'campaign (one training campaign to --target, the default), daily (photos arrive over --days days, a fresh model every day; writes daily.json and daily.html), or heavy-top (a campaign with the pretrained upper stage trained in both arms: stage128, --head upper, FedEx and FedAvg with cached features, 6-10 photos per person, FedAvg E=1 B=16 lr 0.01, LP-FT in the cloud, target 0.9, at most 30 rounds; slow: try --devices 20 --max-people 30).',
  },
  days: {
    type: 'string',
    arg: 'N',
    help: `daily: days to simulate (1..3650). Default ${DEFAULT_DAILY_OPTIONS.days}.`,
  },
  'rounds-per-day': {
    type: 'string',
    arg: 'R',
    help: `daily: FedAvg rounds per day (a warm-started campaign). Default ${DEFAULT_DAILY_OPTIONS.roundsPerDay}.`,
  },
  'initial-share': {
    type: 'string',
    arg: 'F',
    help: `daily: share of each phone's photos there on day 0, in (0, 1]. Default ${DEFAULT_DAILY_OPTIONS.initialShare}.`,
  },
  'photos-per-day': {
    type: 'string',
    arg: 'P',
    help: `daily: photos arriving per phone per day (expected). Default ${DEFAULT_DAILY_OPTIONS.photosPerDay}.`,
  },
  'sweep-split': {
    type: 'boolean',
    help: 'Run once per split (--splits) and write sweep.json / sweep.html.',
  },
  splits: {
    type: 'string',
    arg: 'LIST',
    help: 'Splits for --sweep-split. Default embedding,stage128 (others extract first: slow).',
  },
  json: { type: 'boolean', help: 'Print the summary as JSON on stdout.' },
  quiet: { type: 'boolean', help: 'No progress bars.' },
};

const USAGE =
  'fedex sim [--devices N] [--strategies fedex,fedavg,fedprox] [--bottom cached,recompute] [--split S] [--profile P] [--out DIR] | --sweep-split | --scenario daily [--days N]';

function numberFlag(
  flags: ParsedFlags,
  name: string,
  fallback: number,
  check: (v: number) => boolean,
  what: string,
): number {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || !check(v))
    throw new FedexError('BAD_ARGUMENT', `--${name} must be ${what}, got "${raw}"`);
  return v;
}

function listFlag<T extends string>(
  flags: ParsedFlags,
  name: string,
  choices: readonly T[],
  fallback: readonly T[],
): T[] {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return [...fallback];
  const items = raw.split(',').map((s) => s.trim());
  for (const s of items)
    if (!(choices as readonly string[]).includes(s))
      throw new FedexError('BAD_ARGUMENT', `--${name}: unknown "${s}"; choose from ${choices.join(', ')}`);
  return [...new Set(items)] as T[];
}

/** Which photos the simulator loads, and which of them wear masks. */
export type SimPhotos = Required<
  Pick<Parameters<typeof loadSimData>[0], 'scan' | 'maskedShare' | 'maskSeed'>
>;

/** Parses and checks the flags into simulation options (everything but the data). */
export async function simOptionsFromFlags(flags: ParsedFlags): Promise<{
  options: Partial<SimOptions> & { devices: number };
  /** Which photos, and which of them wear masks (`loadSimData`'s options). */
  photos: SimPhotos;
  split: string;
  splits: string[];
  scenario: 'campaign' | 'daily' | 'heavy-top';
  daily: Partial<DailyOptions>;
  out: string;
}> {
  const devices = intFlag(flags, 'devices', 100, { min: 1, max: 100_000 })!;
  const scenario = choiceFlag(flags, 'scenario', ['campaign', 'daily', 'heavy-top'] as const, 'campaign');
  // heavy-top: the regime FedEx is for, the pretrained upper stage trained in both arms; its
  // defaults are those of the headline bench (docs/sim.md, "A heavy top"); any flag overrides.
  const heavy = scenario === 'heavy-top';
  const strategies = listFlag<StrategyName>(
    flags,
    'strategies',
    ['fedex', 'fedavg', 'fedprox'],
    ['fedex', 'fedavg'],
  );
  const bottoms = listFlag<BottomMode>(
    flags,
    'bottom',
    ['cached', 'recompute'],
    heavy ? ['cached'] : ['cached', 'recompute'],
  );
  const arms: Arm[] = strategies.flatMap((s): Arm[] =>
    s === 'fedex'
      ? [{ strategy: s, bottomMode: 'cached' }]
      : bottoms.map((b) => ({ strategy: s, bottomMode: b })),
  );
  const split = stringFlag(flags, 'split', heavy ? 'stage128' : 'embedding');
  if (!SIM_SPLITS.includes(split))
    throw new FedexError('BAD_ARGUMENT', `--split must be one of ${SIM_SPLITS.join(', ')}; got "${split}"`);
  const head = choiceFlag(flags, 'head', ['linear', 'mlp', 'upper'] as const, heavy ? 'upper' : 'linear');
  if (heavy && head !== 'upper')
    throw new FedexError(
      'BAD_ARGUMENT',
      '--scenario heavy-top trains the upper head in both arms (--head upper)',
    );
  if (
    head === 'upper' &&
    (flags['sweep-split']
      ? stringFlag(flags, 'splits', 'embedding,stage128').includes('embedding')
      : split === 'embedding')
  )
    throw new FedexError(
      'BAD_ARGUMENT',
      '--head upper needs an intermediate split (there is no upper stage after embedding)',
    );
  const splits = stringFlag(flags, 'splits', 'embedding,stage128')
    .split(',')
    .map((s) => s.trim());
  for (const s of splits)
    if (!SIM_SPLITS.includes(s))
      throw new FedexError('BAD_ARGUMENT', `--splits: unknown split "${s}"; known: ${SIM_SPLITS.join(', ')}`);
  let catalog: ProfileCatalog = PROFILES;
  const profilesFile = stringFlag(flags, 'profiles');
  if (profilesFile) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(profilesFile, 'utf8'));
    } catch (cause) {
      throw new FedexError('BAD_ARGUMENT', `--profiles ${profilesFile}: ${(cause as Error).message}`, {
        cause,
      });
    }
    catalog = mergeCatalog(parsed);
    // Check every phone/network pair now, before minutes of feature loading.
    for (const phone of Object.keys(catalog.phones))
      for (const network of Object.keys(catalog.networks)) deviceProfile(phone, network, catalog);
  }
  const profile = stringFlag(flags, 'profile', D.profile);
  if (!profileNames(catalog).includes(profile))
    throw new FedexError(
      'BAD_ARGUMENT',
      `--profile must be one of ${profileNames(catalog).join(', ')}; got "${profile}"`,
    );
  const pos = (v: number) => v > 0;
  const lrRaw = stringFlag(flags, 'lr');
  const normalizeRaw = stringFlag(flags, 'normalize');
  const normalize =
    normalizeRaw === undefined
      ? undefined
      : choiceFlag(flags, 'normalize', ['standardize', 'none'] as const, 'standardize');
  const options: Partial<SimOptions> & { devices: number } = {
    devices,
    arms,
    head,
    profile,
    catalog,
    target: numberFlag(flags, 'target', heavy ? 0.9 : D.target, (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    maxRounds: intFlag(flags, 'rounds', heavy ? 30 : D.maxRounds, { min: 1, max: 100_000 })!,
    fedexRounds: intFlag(flags, 'fedex-rounds', heavy ? 2 : D.fedexRounds, { min: 1, max: 1000 })!,
    clientsPerRound: intFlag(
      flags,
      'clients-per-round',
      heavy ? Math.max(2, Math.round(devices / 4)) : D.clientsPerRound,
      { min: 1, max: 100_000 },
    )!,
    localEpochs: intFlag(flags, 'epochs', heavy ? 1 : D.localEpochs, { min: 1, max: 1000 })!,
    batchSize: intFlag(flags, 'batch', heavy ? 16 : D.batchSize, { min: 1, max: 100_000 })!,
    mu: numberFlag(flags, 'mu', D.mu, (v) => v >= 0, 'a non-negative number'),
    serverOptimizer: serverOptimizerFromFlags(flags),
    fedavgStart: choiceFlag(flags, 'fedavg-start', ['initial', 'centroids'] as const, 'initial'),
    fedexStart: choiceFlag(flags, 'fedex-start', ['initial', 'centroids'] as const, 'initial'),
    fedexRetrain: choiceFlag(flags, 'fedex-retrain', ['warm', 'fresh'] as const, 'warm'),
    fedexCloud: choiceFlag(flags, 'fedex-cloud', ['fit', 'fedavg'] as const, 'fit'),
    cloudRounds: intFlag(
      flags,
      'cloud-rounds',
      scenario === 'daily'
        ? intFlag(flags, 'rounds-per-day', DEFAULT_DAILY_OPTIONS.roundsPerDay, { min: 1, max: 10_000 })!
        : D.cloudRounds,
      { min: 1, max: 100_000 },
    )!,
    ...(flags.personalize ? { personalize: {} } : {}),
    deadlineS:
      stringFlag(flags, 'deadline') === 'auto' || stringFlag(flags, 'deadline') === undefined
        ? D.deadlineS
        : numberFlag(flags, 'deadline', 60, pos, 'a positive number of seconds or auto'),
    cloudGflops:
      stringFlag(flags, 'cloud-gflops') === 'wall'
        ? null
        : numberFlag(flags, 'cloud-gflops', D.cloudGflops ?? 5000, pos, 'a positive number or wall'),
    cloudTimeScale: numberFlag(flags, 'cloud-time-scale', D.cloudTimeScale, pos, 'a positive number'),
    cloudTrain: {
      ...D.cloudTrain,
      // heavy-top: LP-FT for the pretrained stage (docs/adapt.md).
      ...(heavy
        ? { patience: 3, probeEpochs: 1, pretrainedLearningRateScale: 0.1, validateStart: true }
        : {}),
      epochs: intFlag(flags, 'cloud-epochs', heavy ? 8 : D.cloudTrain.epochs, { min: 1, max: 100_000 })!,
      patience: intFlag(flags, 'cloud-patience', heavy ? 3 : D.cloudTrain.patience, {
        min: 0,
        max: 100_000,
      })!,
      weightDecay: numberFlag(flags, 'cloud-l2', 0, (v) => v >= 0, 'a non-negative number'),
      validationSplit: numberFlag(
        flags,
        'cloud-val-split',
        DEFAULT_TRAIN_OPTIONS.validationSplit,
        (v) => v >= 0 && v < 1,
        'a number in [0, 1)',
      ),
      optimizer: choiceFlag(flags, 'cloud-opt', TRAIN_OPTIMIZERS, 'adam'),
      learningRate: numberFlag(
        flags,
        'cloud-lr',
        heavy ? 1e-3 : D.cloudTrain.learningRate,
        pos,
        'a positive number',
      ),
    },
    peoplePerDevice: rangeFlag(flags, 'people-per-device', heavy ? [3, 4] : D.peoplePerDevice),
    photosPerPerson: rangeFlag(flags, 'photos-per-person', heavy ? [6, 10] : D.photosPerPerson),
    frontEndFlopsPerPhoto:
      numberFlag(
        flags,
        'front-end-gflop',
        D.frontEndFlopsPerPhoto / 1e9,
        (v) => v >= 0,
        'a non-negative number of GFLOP',
      ) * 1e9,
    stopAtTarget: !flags['run-past-target'],
    seed: intFlag(flags, 'seed', D.seed, { min: 0, max: 2 ** 32 - 1 })!,
    ...(normalize === undefined ? {} : { normalize }),
    ...(lrRaw === undefined
      ? heavy
        ? { learningRate: 0.01 }
        : {}
      : { learningRate: numberFlag(flags, 'lr', 0, pos, 'a positive number') }),
  };
  const maxPeople = intFlag(flags, 'max-people', undefined, { min: 1, max: 100_000 });
  const dataSeed = intFlag(flags, 'data-seed', SIM_SCAN.seed, { min: 0, max: 2 ** 32 - 1 })!;
  const photos: SimPhotos = {
    scan: {
      minPhotos: intFlag(flags, 'min-photos', SIM_SCAN.minPhotos, { min: 2, max: 10_000 })!,
      maxPerPerson: intFlag(flags, 'max-per-person', SIM_SCAN.maxPerPerson, { min: 2, max: 10_000 })!,
      seed: dataSeed,
      ...(maxPeople === undefined ? {} : { maxPeople }),
    },
    maskedShare: numberFlag(flags, 'masked-share', 0, (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    maskSeed: dataSeed,
  };
  const daily: Partial<DailyOptions> = {
    days: intFlag(flags, 'days', DEFAULT_DAILY_OPTIONS.days, { min: 1, max: 3650 })!,
    roundsPerDay: intFlag(flags, 'rounds-per-day', DEFAULT_DAILY_OPTIONS.roundsPerDay, {
      min: 1,
      max: 10_000,
    })!,
    initialShare: numberFlag(
      flags,
      'initial-share',
      DEFAULT_DAILY_OPTIONS.initialShare,
      (v) => v > 0 && v <= 1,
      'a number in (0, 1]',
    ),
    photosPerDay: numberFlag(
      flags,
      'photos-per-day',
      DEFAULT_DAILY_OPTIONS.photosPerDay,
      (v) => v > 0 && v <= 1000,
      'a positive number (at most 1000)',
    ),
  };
  return {
    options,
    photos,
    split,
    splits,
    scenario,
    daily,
    out: stringFlag(flags, 'out', path.join('out', 'sim')),
  };
}

/** `--server-opt` and `--server-lr`. */
function serverOptimizerFromFlags(flags: Parameters<typeof stringFlag>[0]): ServerOptimizer {
  const kind = choiceFlag(flags, 'server-opt', ['none', 'momentum', 'adam'] as const, 'none');
  const fallback = kind === 'adam' ? 0.03 : 1;
  const learningRate = numberFlag(flags, 'server-lr', fallback, (v) => v > 0, 'a positive number');
  return { ...DEFAULT_SERVER_OPTIMIZER, kind, learningRate };
}

/** `A-B` (or one integer `A`): integers 1 <= A <= B <= 10,000. */
function rangeFlag(
  flags: Parameters<typeof stringFlag>[0],
  name: string,
  fallback: readonly [number, number],
): readonly [number, number] {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return fallback;
  const m = /^(\d+)(?:-(\d+))?$/.exec(raw);
  const lo = m ? Number(m[1]) : Number.NaN;
  const hi = m ? Number(m[2] ?? m[1]) : Number.NaN;
  if (!m || lo < 1 || hi < lo || hi > 10_000)
    throw new FedexError(
      'BAD_ARGUMENT',
      `--${name} must be A-B with integers 1 <= A <= B <= 10000, got "${raw}"`,
    );
  return [lo, hi] as const;
}

function maskedNote(share: number): string {
  return share > 0 ? `, ${(share * 100).toFixed(0)}% of photos masked` : '';
}

/** ` (masked 0.912, unmasked 0.975)` when the point scored masked photos apart, else ''. */
function maskedScores(p: { maskedAccuracy?: number; plainAccuracy?: number } | undefined): string {
  if (p?.maskedAccuracy === undefined || p.plainAccuracy === undefined) return '';
  return ` (masked ${p.maskedAccuracy.toFixed(3)}, unmasked ${p.plainAccuracy.toFixed(3)})`;
}

function summaryLines(r: SimReport): string[] {
  const lines = [
    `${r.population.devices} devices, split ${r.config.split}, profile ${r.config.profile}, target ${r.config.target}${maskedNote(r.config.maskedShare)}:`,
  ];
  for (const a of r.arms)
    lines.push(
      `  ${a.name.padEnd(18)} ${a.timeToTargetS === null ? `target not reached in ${a.rounds} rounds` : `target at ${a.timeToTargetS.toFixed(1)} s (round ${a.roundsToTarget}; ${a.timeToTargetWallCloudS?.toFixed(1)} s with the measured cloud)`}; ` +
        `final ${a.finalAccuracy.toFixed(3)}${maskedScores(a.series[a.series.length - 1])}; per fleet device ${(a.summary.flops.mean / 1e9).toFixed(2)} GFLOP, ${a.summary.energyJ.mean.toFixed(2)} J, ${(a.summary.bytes.mean / 1e3).toFixed(1)} kB; ` +
        `per participating device (${a.participants}) ${(a.summaryParticipating.flops.mean / 1e9).toFixed(2)} GFLOP, ${a.summaryParticipating.energyJ.mean.toFixed(2)} J, ${(a.summaryParticipating.bytes.mean / 1e3).toFixed(1)} kB` +
        (a.personal
          ? `; personalized top-1 ${a.personal.mean.toFixed(3)} (p10 ${a.personal.p10.toFixed(3)}, ${a.personal.personalized} personal models)`
          : ''),
    );
  for (const c of r.comparisons) {
    const x = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)}x`);
    lines.push(
      `  ${c.arm} / fedex: time ${c.timeToTargetIsLowerBound ? '>= ' : ''}${x(c.timeToTarget)} (measured cloud ${x(c.timeToTargetWallCloud)}); ` +
        `per fleet device FLOPs ${x(c.deviceFlops)} (${x(c.deviceFlopsBeyondFrontEnd)} beyond detection), energy ${x(c.deviceEnergy)}, bytes ${x(c.deviceBytes)}; ` +
        `per participating device FLOPs ${x(c.participating.deviceFlops)}, energy ${x(c.participating.deviceEnergy)}, bytes ${x(c.participating.deviceBytes)}`,
    );
  }
  lines.push(`  wall ${r.wallS.toFixed(1)} s, peak RSS ${r.peakRssMb.toFixed(0)} MB`);
  return lines;
}

function dailyLines(r: DailyReport): string[] {
  const x = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)}x`);
  const lines = [
    `${r.devices} devices, ${r.config.days} days, split ${r.config.split}, profile ${r.config.profile}${maskedNote(r.config.maskedShare)}:`,
  ];
  for (const a of r.arms) {
    const d = a.days[a.days.length - 1];
    lines.push(
      `  ${a.name.padEnd(14)} last day top-1 ${d.accuracy.toFixed(3)}${maskedScores(d)}; per fleet device ${(d.flops / 1e9).toFixed(1)} GFLOP, ${d.energyJ.toFixed(1)} J, ${(d.bytes / 1e6).toFixed(2)} MB; ` +
        `median photo -> model on phone ${a.latencyH.p50.toFixed(0)} h (${a.latencyH.learned}/${a.latencyH.photos} learned)`,
    );
  }
  const q = r.ratios;
  lines.push(
    `  fedavg-cached / fedex after ${r.config.days} days: FLOPs ${x(q.flops)} (participating ${x(q.participatingFlops)}; ${x(q.flopsBeyondFrontEnd)} beyond detection), energy ${x(q.energy)} (${x(q.participatingEnergy)}), bytes ${x(q.bytes)} (${x(q.participatingBytes)}), median latency ${x(q.medianLatency)}`,
  );
  return lines;
}

async function simulateDaily(
  split: string,
  photos: SimPhotos,
  options: Partial<SimOptions> & { devices: number },
  daily: Partial<DailyOptions>,
  quiet: boolean,
  stderr: NodeJS.WriteStream,
): Promise<DailyReport> {
  const load = createProgressBar(`features ${split}`, stderr, { quiet });
  const data = await loadSimData({ split, ...photos, onProgress: (d, t) => load.update(d, t) });
  load.done();
  const backbone = options.head === 'upper' ? await loadBackbone('faceapi-resnet') : undefined;
  // Campaign-only options do not apply to a daily run.
  const { arms: _a, target: _t, stopAtTarget: _s, maxRounds: _m, fedexRounds: _f, ...rest } = options;
  const bars = new Map<string, ReturnType<typeof createProgressBar>>();
  try {
    return await runDaily(
      data,
      { ...rest, ...daily, ...(backbone ? { headOptions: { backbone, split } } : {}) },
      {
        onDay: (arm, day, days) => {
          let bar = bars.get(arm);
          if (!bar) {
            bars.forEach((b) => b.done());
            bar = createProgressBar(`daily ${arm}`, stderr, { quiet });
            bars.set(arm, bar);
          }
          bar.update(day, days);
        },
        log: (line) => {
          bars.forEach((b) => b.done());
          if (!quiet) stderr.write(`${line}\n`);
        },
      },
    );
  } finally {
    backbone?.dispose();
  }
}

async function simulateSplit(
  split: string,
  photos: SimPhotos,
  options: Partial<SimOptions> & { devices: number },
  quiet: boolean,
  stderr: NodeJS.WriteStream,
): Promise<{ report: SimReport; dim: number }> {
  const load = createProgressBar(`features ${split}`, stderr, { quiet });
  const data = await loadSimData({ split, ...photos, onProgress: (d, t) => load.update(d, t) });
  // The upper head is the backbone's own upper stage: it needs the backbone to build.
  const backbone = options.head === 'upper' ? await loadBackbone('faceapi-resnet') : undefined;
  load.done(
    quiet
      ? undefined
      : `features ${split}: ${data.train.length} train / ${data.test.length} test photos, ${data.numClasses} people`,
  );
  const bars = new Map<string, ReturnType<typeof createProgressBar>>();
  const report = await runSimulation(
    data,
    backbone ? { ...options, headOptions: { backbone, split } } : options,
    {
      onProgress: (p) => {
        let bar = bars.get(p.arm);
        if (!bar) {
          bars.forEach((b) => b.done());
          bar = createProgressBar(`sim ${p.arm}`, stderr, { quiet });
          bars.set(p.arm, bar);
        }
        bar.update(
          p.round,
          p.maxRounds,
          `acc ${p.accuracy === undefined ? '?' : p.accuracy.toFixed(3)} t=${p.timeS.toFixed(0)}s`,
        );
      },
      log: (line) => {
        bars.forEach((b) => b.done());
        if (!quiet) stderr.write(`${line}\n`);
      },
    },
  );
  backbone?.dispose();
  return { report, dim: data.dim };
}

export const simCommand: Command = {
  name: 'sim',
  summary:
    'Simulate thousands of phones: FedEx vs FedAvg on real LFW features, virtual time and energy; JSON + HTML report.',
  async run(argv, io) {
    const { flags } = parseFlags(argv, SIM_FLAGS);
    if (flags.help) {
      io.stdout.write(renderHelp(USAGE, simCommand.summary, SIM_FLAGS));
      return 0;
    }
    const { options, photos, split, splits, scenario, daily, out } = await simOptionsFromFlags(flags);
    const quiet = Boolean(flags.quiet);
    await initRuntime();
    await mkdir(out, { recursive: true });
    if (scenario === 'daily') {
      const report = await simulateDaily(split, photos, options, daily, quiet, io.stderr);
      await writeFile(path.join(out, 'daily.json'), JSON.stringify(report));
      await writeFile(path.join(out, 'daily.html'), renderDailyHtml(report));
      if (flags.json) io.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else {
        io.stdout.write(dailyLines(report).join('\n') + '\n');
        io.stdout.write(`wrote ${path.join(out, 'daily.json')} and ${path.join(out, 'daily.html')}\n`);
      }
      return 0;
    }
    if (flags['sweep-split']) {
      const reports: SimReport[] = [];
      const dims: Record<string, number> = {};
      for (const s of splits) {
        const { report, dim } = await simulateSplit(s, photos, options, quiet, io.stderr);
        reports.push(report);
        dims[s] = dim;
        const dir = path.join(out, s);
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, 'report.json'), JSON.stringify(report));
        await writeFile(path.join(dir, 'report.html'), renderReportHtml(report, `FedEx simulation, ${s}`));
      }
      const rows = sweepRows(reports, dims);
      await writeFile(path.join(out, 'sweep.json'), JSON.stringify(rows, null, 2));
      const note = `${options.devices} devices, profile ${options.profile}, arms ${options.arms!.map(armName).join(', ')}; one report per split in ${out}/SPLIT/.`;
      await writeFile(path.join(out, 'sweep.html'), renderSweepHtml(rows, note));
      if (flags.json) io.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else {
        for (const r of reports) io.stdout.write(summaryLines(r).join('\n') + '\n');
        io.stdout.write(`wrote ${path.join(out, 'sweep.json')} and ${path.join(out, 'sweep.html')}\n`);
      }
      return 0;
    }
    const { report } = await simulateSplit(split, photos, options, quiet, io.stderr);
    await writeFile(path.join(out, 'report.json'), JSON.stringify(report));
    await writeFile(path.join(out, 'report.html'), renderReportHtml(report));
    if (flags.json) {
      const { arms, ...rest } = report;
      io.stdout.write(
        JSON.stringify({ ...rest, arms: arms.map(({ perDevice: _p, series: _s, ...a }) => a) }, null, 2) +
          '\n',
      );
    } else {
      io.stdout.write(summaryLines(report).join('\n') + '\n');
      io.stdout.write(`wrote ${path.join(out, 'report.json')} and ${path.join(out, 'report.html')}\n`);
    }
    return 0;
  },
};
