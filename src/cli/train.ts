/**
 * `fedex train`: trains a head on a feature-batch file made by `fedex extract` — for one simulated
 * user (`--user ID`: the user's labelled photos, as on the user's phone) or for everyone
 * (`--global`: the train part of the global task) — and writes the model folder: `model.json` and
 * `weights.bin` (tfjs format, loadable on a device) and `meta.json` (spec, head, labels, the task
 * it was trained for, metrics and training config). `fedex eval` reads the same folder.
 *
 * Also exports the pieces `fedex eval` shares: reading a feature file and rebuilding a task's
 * samples from the file's labels.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeFeatureBatch } from '../core/codec.js';
import { FedexError } from '../core/errors.js';
import { shapeSize, specKey, UNLABELLED, type FeatureBatch } from '../core/types.js';
import { buildGlobalTask, buildUsers, type SimUser } from '../data/users.js';
import { loadBackbone } from '../model/backbones/registry.js';
import { getHead, headNames, type HeadOptions, type HeadOptionsRecord } from '../model/heads/registry.js';
import { DEFAULT_TRAIN_OPTIONS, fitHead, type TrainOptions } from '../model/trainer.js';
import type { Backbone } from '../model/types.js';
import { writeModelDir } from '../platform/node/model-store.js';
import { DEFAULT_TRAIN_JOB_CONFIG } from '../server/jobs/train-task.js';
import { initRuntime, tf } from '../runtime/node.js';
import {
  choiceFlag,
  intFlag,
  parseFlags,
  renderHelp,
  stringFlag,
  type FlagSpecs,
  type ParsedFlags,
} from './args.js';
import type { Command } from './command.js';

/** The simulated-user settings a `--user` model was trained under (eval rebuilds the same users). */
export interface UserTaskRecord {
  kind: 'user';
  user: string;
  users: number;
  peoplePerUser: number;
  labelledPerPerson: number;
  minTestPerPerson: number;
  dataSeed: number;
}

/** The global-task settings a `--global` model was trained under. */
export interface GlobalTaskRecord {
  kind: 'global';
  minPhotos: number;
  testFraction: number;
  dataSeed: number;
}

export type TaskRecord = UserTaskRecord | GlobalTaskRecord;

/** What `meta.json` holds. */
export interface ModelMeta {
  format: 'fedex-head';
  formatVersion: 1;
  head: string;
  headOptions: HeadOptionsRecord;
  spec: FeatureBatch['spec'];
  specKey: string;
  /** Class i of the model is the person `labels[i]`. */
  labels: string[];
  task: TaskRecord;
  training: Omit<
    TrainOptions,
    | 'onEpoch'
    | 'signal'
    | 'initialize'
    | 'probeEpochs'
    | 'pretrainedLearningRateScale'
    | 'validateStart'
    | 'weightDecay'
    | 'optimizer'
  >;
  metrics: {
    trainSamples: number;
    valSamples: number;
    testSamples: number;
    epochs: number;
    bestEpoch: number;
    stopReason: string;
    loss: number;
    accuracy: number;
    valLoss: number | null;
    valAccuracy: number | null;
    /** Top-1 on the task's test photos (the user's held-out photos, or the global test split). */
    testAccuracy: number | null;
    seconds: number;
    samplesPerSecond: number;
  };
  features: { file: string; samples: number };
  createdAt: string;
}

/** User-task flags, shared with `fedex eval`. */
export const USER_FLAGS: FlagSpecs = {
  users: { type: 'string', arg: 'N', help: 'Simulated users built from the file (for --user). Default 10.' },
  'people-per-user': {
    type: 'string',
    arg: 'N',
    help: "People in each user's gallery. Default 5 (fewer when the file has fewer).",
  },
  'labelled-per-person': {
    type: 'string',
    arg: 'N',
    help: 'Labelled photos per person per user. Default 3.',
  },
  'test-per-person': {
    type: 'string',
    arg: 'N',
    help: 'Held-out test photos per person per user, at least. Default 1.',
  },
  'data-seed': {
    type: 'string',
    arg: 'N',
    help: 'Seed of the users and the global train/test split. Default 0.',
  },
};

/** A person with fewer training photos than this gives none to validation by default. */
export const FEW_SHOT_CLASS_SIZE = 5;

/** Samples of the least represented class (0 for no samples). */
function smallestClass(y: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < y.length; i++) counts.set(y[i], (counts.get(y[i]) ?? 0) + 1);
  return counts.size === 0 ? 0 : Math.min(...counts.values());
}

/** The training settings of the flags (`--epochs`, `--batch`, `--lr`, ...), the server's defaults otherwise. */
export function trainingFromFlags(flags: ParsedFlags): ModelMeta['training'] {
  return {
    epochs: intFlag(flags, 'epochs', DEFAULT_TRAIN_OPTIONS.epochs, { min: 1, max: 100_000 })!,
    batchSize: intFlag(flags, 'batch', DEFAULT_TRAIN_OPTIONS.batchSize, { min: 1, max: 1_000_000 })!,
    learningRate: numberFlag(flags, 'lr', DEFAULT_TRAIN_JOB_CONFIG.learningRate, {
      min: 0,
      max: 10,
      minExclusive: true,
    }),
    validationSplit: numberFlag(flags, 'val-split', DEFAULT_TRAIN_OPTIONS.validationSplit, {
      min: 0,
      max: 1,
      maxExclusive: true,
    }),
    patience: intFlag(flags, 'patience', DEFAULT_TRAIN_OPTIONS.patience, { min: 0, max: 100_000 })!,
    minDelta: DEFAULT_TRAIN_OPTIONS.minDelta,
    restoreBestWeights: DEFAULT_TRAIN_OPTIONS.restoreBestWeights,
    classWeight: choiceFlag(flags, 'class-weight', ['balanced', 'none'] as const, 'balanced'),
    seed: intFlag(flags, 'seed', 0, { min: 0, max: 2 ** 32 - 1 })!,
  };
}

/** Head options of the flags (`--hidden`, `--dropout`, `--pooling`); absent flags are left out. */
export function headOptionsFromFlags(flags: ParsedFlags): HeadOptionsRecord {
  const headOptions: HeadOptionsRecord = {};
  const hidden = stringFlag(flags, 'hidden');
  if (hidden !== undefined) {
    const widths = hidden.split(',').map((s) => Number(s.trim()));
    if (widths.some((w) => !Number.isInteger(w) || w < 1 || w > 65536)) {
      throw new FedexError('BAD_ARGUMENT', `--hidden must be widths like 256 or 128,64; got "${hidden}"`);
    }
    headOptions.hidden = widths;
  }
  if (flags.dropout !== undefined)
    headOptions.dropout = numberFlag(flags, 'dropout', 0, { min: 0, max: 1, maxExclusive: true });
  if (flags.pooling !== undefined)
    headOptions.pooling = choiceFlag(flags, 'pooling', ['avg', 'flatten'] as const, 'avg');
  return headOptions;
}

/**
 * Few-shot: a validation split would take one of three photos from a person. Unless --val-split
 * says otherwise, every labelled photo trains when a person has fewer than
 * {@link FEW_SHOT_CLASS_SIZE} (the server ships its heads refitted on all samples for the same reason).
 */
export function applyFewShotRule(
  training: ModelMeta['training'],
  y: ArrayLike<number>,
  flags: ParsedFlags,
): void {
  if (flags['val-split'] === undefined && smallestClass(y) < FEW_SHOT_CLASS_SIZE)
    training.validationSplit = 0;
}

/**
 * What `head.build` needs besides the flags: the `upper` head starts from the backbone's own upper
 * stage, so the installed backbone is loaded (and must be the version the features came from).
 * The caller disposes `backbone` once every model is built.
 */
export async function headBuildOptions(
  head: { name: string },
  spec: FeatureBatch['spec'],
  headOptions: HeadOptionsRecord,
): Promise<{ options: HeadOptions; backbone?: Backbone }> {
  const options: HeadOptions = { ...headOptions };
  if (head.name !== 'upper') return { options };
  const backbone = await loadBackbone(spec.backboneId);
  if (backbone.version !== spec.backboneVersion) {
    backbone.dispose();
    throw new FedexError(
      'FEATURE_MISMATCH',
      `the features come from ${spec.backboneId}@${spec.backboneVersion} but the installed backbone is version ${backbone.version}`,
    );
  }
  options.backbone = backbone;
  options.split = spec.split;
  return { options, backbone };
}

const FLAGS: FlagSpecs = {
  features: { type: 'string', arg: 'FILE', help: 'Feature-batch file made by `fedex extract` (required).' },
  head: { type: 'string', arg: 'NAME', help: `Head to train: ${headNames().join(', ')} (required).` },
  user: { type: 'string', arg: 'ID', help: "Train one simulated user's personalized head, e.g. user-003." },
  global: { type: 'boolean', help: 'Train one head for everyone (the train part of the global task).' },
  out: {
    type: 'string',
    arg: 'DIR',
    help: 'Model folder to write (model.json, weights.bin, meta.json; required).',
  },
  epochs: { type: 'string', arg: 'N', help: `Most epochs. Default ${DEFAULT_TRAIN_OPTIONS.epochs}.` },
  lr: {
    type: 'string',
    arg: 'X',
    help: `Adam learning rate. Default ${DEFAULT_TRAIN_JOB_CONFIG.learningRate}, the server's (few photos per person need the larger step).`,
  },
  batch: { type: 'string', arg: 'N', help: `Batch size. Default ${DEFAULT_TRAIN_OPTIONS.batchSize}.` },
  seed: {
    type: 'string',
    arg: 'N',
    help: 'Seed of the initial weights, validation split, order and dropout. Default 0.',
  },
  'val-split': {
    type: 'string',
    arg: 'F',
    help: `Fraction of each person held out for validation (0 = none). Default ${DEFAULT_TRAIN_OPTIONS.validationSplit}, or 0 when a person has fewer than ${FEW_SHOT_CLASS_SIZE} training photos.`,
  },
  patience: {
    type: 'string',
    arg: 'N',
    help: `Early-stopping patience in epochs (0 = off). Default ${DEFAULT_TRAIN_OPTIONS.patience}.`,
  },
  'class-weight': {
    type: 'string',
    arg: 'W',
    help: 'balanced (each person counts equally) or none. Default balanced.',
  },
  hidden: { type: 'string', arg: 'N[,N]', help: 'mlp: hidden layer widths. Default 256.' },
  dropout: { type: 'string', arg: 'F', help: 'mlp, upper: dropout rate. Default 0.' },
  pooling: {
    type: 'string',
    arg: 'P',
    help: 'Feature maps: avg or flatten before the dense layers. Default avg (centroid: flatten).',
  },
  ...USER_FLAGS,
  'min-photos': { type: 'string', arg: 'N', help: 'Global task: people with at least N photos. Default 2.' },
  'test-fraction': {
    type: 'string',
    arg: 'F',
    help: "Global task: fraction of each person's photos held out for test. Default 0.2.",
  },
  json: { type: 'boolean', help: 'Print the summary (meta.json) as JSON on stdout.' },
  quiet: { type: 'boolean', short: 'q', help: 'No per-epoch progress on stderr.' },
};

const USAGE = 'fedex train --features FILE --head NAME (--user ID | --global) --out DIR [options]';

/** A number flag within (min, max] / [min, max], or the default. */
export function numberFlag(
  flags: ParsedFlags,
  name: string,
  fallback: number,
  range: { min: number; max: number; minExclusive?: boolean; maxExclusive?: boolean },
): number {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const lowOk = range.minExclusive ? n > range.min : n >= range.min;
  const highOk = range.maxExclusive ? n < range.max : n <= range.max;
  if (raw.trim() === '' || !Number.isFinite(n) || !lowOk || !highOk) {
    const lo = range.minExclusive ? '(' : '[';
    const hi = range.maxExclusive ? ')' : ']';
    throw new FedexError(
      'BAD_ARGUMENT',
      `--${name} must be a number in ${lo}${range.min}, ${range.max}${hi}, got "${raw}"`,
    );
  }
  return n;
}

/** Reads and decodes a feature-batch file; a missing or malformed file is a clear error. */
export async function readFeatureFile(file: string): Promise<FeatureBatch> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw new FedexError('BAD_ARGUMENT', `--features: cannot read ${file}: ${(cause as Error).message}`, {
      cause,
    });
  }
  return decodeFeatureBatch(bytes);
}

/** Person names of the file's label ids (`label-<id>` where the file names none). */
export function peopleOf(batch: FeatureBatch): string[] {
  let max = -1;
  for (const l of batch.labels) max = Math.max(max, l);
  return Array.from({ length: max + 1 }, (_, i) => batch.labelNames?.[i] ?? `label-${i}`);
}

/** Rebuilds the simulated users of a user task and returns the one asked for. */
export function simulatedUser(batch: FeatureBatch, task: UserTaskRecord): SimUser {
  const people = peopleOf(batch);
  const users = buildUsers(
    { people, labels: batch.labels },
    {
      users: task.users,
      peoplePerUser: task.peoplePerUser,
      labelledPerPerson: task.labelledPerPerson,
      unlabelledPerPerson: 0,
      minTestPerPerson: task.minTestPerPerson,
      seed: task.dataSeed,
    },
  );
  const user = users.find((u) => u.id === task.user);
  if (!user) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `--user: no simulated user "${task.user}"; with --users ${task.users} they are ${users[0].id} … ${users[users.length - 1].id}`,
    );
  }
  return user;
}

/** Reads the user-task flags (defaults from `base` when given). */
export function userTaskFromFlags(
  flags: ParsedFlags,
  user: string,
  batch: FeatureBatch,
  base?: UserTaskRecord,
): UserTaskRecord {
  const eligiblePeople = new Set(Array.from(batch.labels).filter((l) => l !== UNLABELLED)).size;
  return {
    kind: 'user',
    user,
    users: intFlag(flags, 'users', base?.users ?? 10, { min: 1, max: 1_000_000 })!,
    peoplePerUser: intFlag(
      flags,
      'people-per-user',
      base?.peoplePerUser ?? Math.max(1, Math.min(5, eligiblePeople)),
      { min: 1, max: 10_000 },
    )!,
    labelledPerPerson: intFlag(flags, 'labelled-per-person', base?.labelledPerPerson ?? 3, {
      min: 1,
      max: 10_000,
    })!,
    minTestPerPerson: intFlag(flags, 'test-per-person', base?.minTestPerPerson ?? 1, {
      min: 1,
      max: 10_000,
    })!,
    dataSeed: intFlag(flags, 'data-seed', base?.dataSeed ?? 0, { min: 0, max: 2 ** 32 - 1 })!,
  };
}

/** Samples of a task: train indices with class ids, test indices, and the class names. */
export interface TaskSamples {
  labels: string[];
  train: number[];
  test: number[];
  /** Class id per sample index of the batch (-1 for samples outside the task). */
  classOf: Int32Array;
  description: string;
}

/** The train/test samples of a task over `batch`, with labels remapped to the task's classes. */
export function taskSamples(batch: FeatureBatch, task: TaskRecord): TaskSamples {
  const people = peopleOf(batch);
  const classOf = new Int32Array(batch.labels.length).fill(-1);
  if (task.kind === 'user') {
    const user = simulatedUser(batch, task);
    user.people.forEach((label, c) => {
      for (let i = 0; i < batch.labels.length; i++) if (batch.labels[i] === label) classOf[i] = c;
    });
    return {
      labels: user.people.map((l) => people[l]),
      train: user.labelled,
      test: user.test,
      classOf,
      description: `${user.id} (${user.people.length} people, ${user.labelled.length} labelled, ${user.test.length} test photos)`,
    };
  }
  const g = buildGlobalTask(
    { people, labels: batch.labels },
    { minPhotos: task.minPhotos, testFraction: task.testFraction, seed: task.dataSeed },
  );
  return {
    labels: g.names,
    train: g.train,
    test: g.test,
    classOf: g.taskLabels,
    description: `global (${g.people.length} people, ${g.train.length} train, ${g.test.length} test photos)`,
  };
}

/** Features of `indices` as one array, and their class ids. */
export function gatherSamples(
  batch: FeatureBatch,
  indices: readonly number[],
  classOf: Int32Array,
): { x: Float32Array; y: Int32Array } {
  const dim = shapeSize(batch.spec.shape);
  const x = new Float32Array(indices.length * dim);
  indices.forEach((i, j) => x.set(batch.features.subarray(i * dim, (i + 1) * dim), j * dim));
  return { x, y: Int32Array.from(indices, (i) => classOf[i]) };
}

/** Predicted class ids of `x` (`[n, ...shape]`), in chunks. */
export function predictClasses(model: tf.LayersModel, x: Float32Array, shape: readonly number[]): Int32Array {
  const dim = shapeSize(shape);
  const n = x.length / dim;
  const out = new Int32Array(n);
  const chunk = 512;
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const p = tf.tidy(() =>
      (model.predict(tf.tensor(x.subarray(s * dim, (s + m) * dim), [m, ...shape])) as tf.Tensor)
        .argMax(-1)
        .dataSync(),
    );
    out.set(p, s);
  }
  return out;
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train a head (per user or global) on a feature-batch file; write a tfjs model folder.',
  async run(argv, io) {
    const { flags } = parseFlags(argv, FLAGS);
    if (flags.help) {
      io.stdout.write(renderHelp(USAGE, trainCommand.summary, FLAGS));
      return 0;
    }
    const featuresFile = stringFlag(flags, 'features');
    if (!featuresFile)
      throw new FedexError('BAD_ARGUMENT', '--features FILE is required (a file made by `fedex extract`)');
    const headName = stringFlag(flags, 'head');
    if (!headName)
      throw new FedexError('BAD_ARGUMENT', `--head is required: one of ${headNames().join(', ')}`);
    let head;
    try {
      head = getHead(headName);
    } catch (cause) {
      throw new FedexError('BAD_ARGUMENT', `--head: ${(cause as Error).message}`, { cause });
    }
    const out = stringFlag(flags, 'out');
    if (!out) throw new FedexError('BAD_ARGUMENT', '--out DIR is required');
    const userId = stringFlag(flags, 'user');
    if (userId !== undefined && flags.global)
      throw new FedexError('BAD_ARGUMENT', '--user and --global exclude each other');
    if (userId === undefined && !flags.global)
      throw new FedexError('BAD_ARGUMENT', 'say whose head to train: --user ID or --global');

    const training = trainingFromFlags(flags);
    const headOptions = headOptionsFromFlags(flags);

    const batch = await readFeatureFile(featuresFile);
    const task: TaskRecord =
      userId !== undefined
        ? userTaskFromFlags(flags, userId, batch)
        : {
            kind: 'global',
            minPhotos: intFlag(flags, 'min-photos', 2, { min: 2, max: 1_000_000 })!,
            testFraction: numberFlag(flags, 'test-fraction', 0.2, {
              min: 0,
              max: 1,
              minExclusive: true,
              maxExclusive: true,
            }),
            dataSeed: intFlag(flags, 'data-seed', 0, { min: 0, max: 2 ** 32 - 1 })!,
          };
    const samples = taskSamples(batch, task);
    const trainSet = gatherSamples(batch, samples.train, samples.classOf);
    const testSet = gatherSamples(batch, samples.test, samples.classOf);
    applyFewShotRule(training, trainSet.y, flags);

    await initRuntime();
    const { options, backbone } = await headBuildOptions(head, batch.spec, headOptions);
    let model: tf.LayersModel;
    try {
      model = head.build(batch.spec.shape, samples.labels.length, options, training.seed);
    } finally {
      backbone?.dispose();
    }
    try {
      const quiet = Boolean(flags.quiet || flags.json);
      const result = await fitHead(
        head,
        model,
        { ...trainSet, shape: batch.spec.shape },
        {
          ...training,
          onEpoch(p) {
            if (quiet) return;
            const val =
              p.valLoss !== undefined
                ? ` val_loss ${p.valLoss.toFixed(4)} val_acc ${p.valAccuracy!.toFixed(3)}`
                : '';
            io.stderr.write(
              `epoch ${p.epoch}: loss ${p.loss.toFixed(4)} acc ${p.accuracy.toFixed(3)}${val}\n`,
            );
          },
        },
      );
      let testAccuracy: number | null = null;
      if (testSet.y.length > 0) {
        const predicted = predictClasses(model, testSet.x, batch.spec.shape);
        testAccuracy = predicted.filter((c, i) => c === testSet.y[i]).length / testSet.y.length;
      }
      const meta: ModelMeta = {
        format: 'fedex-head',
        formatVersion: 1,
        head: head.name,
        headOptions: { ...headOptions, ...(backbone ? { backboneId: backbone.id } : {}) },
        spec: batch.spec,
        specKey: specKey(batch.spec),
        labels: samples.labels,
        task,
        training,
        metrics: {
          trainSamples: result.trainIndices.length,
          valSamples: result.valIndices.length,
          testSamples: testSet.y.length,
          epochs: result.epochs,
          bestEpoch: result.bestEpoch,
          stopReason: result.stopReason,
          loss: result.final.loss,
          accuracy: result.final.accuracy,
          valLoss: result.final.valLoss ?? null,
          valAccuracy: result.final.valAccuracy ?? null,
          testAccuracy,
          seconds: result.seconds,
          samplesPerSecond: result.samplesPerSecond,
        },
        features: { file: path.basename(featuresFile), samples: batch.sampleIds.length },
        createdAt: new Date().toISOString(),
      };
      await writeModelDir(out, model, meta as unknown as Record<string, unknown>);
      if (flags.json) {
        io.stdout.write(JSON.stringify({ out: path.resolve(out), ...meta }, null, 2) + '\n');
      } else {
        const m = meta.metrics;
        const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
        io.stdout.write(
          [
            `trained ${head.name} head for ${samples.description} on ${meta.specKey} [${batch.spec.shape.join(', ')}]`,
            `  ${m.epochs} epoch(s), best ${m.bestEpoch} (${m.stopReason}), ${m.trainSamples} train / ${m.valSamples} validation samples, ${m.seconds.toFixed(1)} s`,
            `  train accuracy ${pct(m.accuracy)}, validation ${pct(m.valAccuracy)}, test ${pct(m.testAccuracy)} (${m.testSamples} photos)`,
            `  wrote ${path.resolve(out)} (model.json, weights.bin, meta.json)`,
          ].join('\n') + '\n',
        );
      }
    } finally {
      model.dispose();
    }
    return 0;
  },
};
