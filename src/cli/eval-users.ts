/**
 * `fedex eval` without `--model`: personalized accuracy over many simulated users, for every head —
 * the protocol behind the README's tables, on any feature file or any folder of people.
 *
 * Each simulated user holds K people of the set with L labelled photos each (what the user named on
 * the phone) and at least T held-out test photos each (every photo left over is tested). For each
 * head, each user's head is trained on that user's labelled photos exactly as `fedex train --user`
 * trains it (the server's defaults: Adam at lr 0.03, every labelled photo trains when a person has
 * fewer than 5), then scored top-1 on the user's test photos. Printed per head: mean, worst decile
 * (mean of the ⌈N / 10⌉ lowest users) and min over users.
 */
import path from 'node:path';
import { FedexError } from '../core/errors.js';
import { shapeSize, specKey, UNLABELLED, type FeatureSpec } from '../core/types.js';
import { summarizeAccuracies, type AccuracySummary } from '../data/eval.js';
import { mixRows, parseMaskMode, type MaskMode, type SampleRole } from '../data/mask-mix.js';
import { buildUsers, type SimUser } from '../data/users.js';
import { getHead, headNames } from '../model/heads/registry.js';
import { fitHead } from '../model/trainer.js';
import { initRuntime } from '../runtime/node.js';
import { renderTable } from './admin.js';
import { intFlag, stringFlag, type FlagSpecs, type ParsedFlags } from './args.js';
import type { CommandIO } from './command.js';
import { createProgressBar } from './progress.js';
import {
  applyFewShotRule,
  headBuildOptions,
  headOptionsFromFlags,
  peopleOf,
  predictClasses,
  readFeatureFile,
  trainingFromFlags,
} from './train.js';

/** Heads evaluated when `--heads` is not given (`upper` is slow and needs feature maps: ask for it). */
export const DEFAULT_EVAL_HEADS = ['centroid', 'linear', 'mlp'] as const;

/** Flags of the population mode (merged into `fedex eval`'s). */
export const POPULATION_FLAGS: FlagSpecs = {
  data: {
    type: 'string',
    arg: 'DIR',
    help: 'Without --model: a folder of people (one sub-folder each) to extract (cached) instead of --features.',
  },
  labelled: {
    type: 'string',
    arg: 'L',
    help: 'Without --model: labelled photos per person per user (same as --labelled-per-person). Default 3.',
  },
  seed: {
    type: 'string',
    arg: 'S',
    help: 'Without --model: seed of the users and of training (same as --data-seed). Default 0.',
  },
  heads: {
    type: 'string',
    arg: 'LIST',
    help: `Without --model: heads to evaluate, comma-separated, of ${headNames().join(', ')}. Default ${DEFAULT_EVAL_HEADS.join(',')}.`,
  },
  epochs: { type: 'string', arg: 'N', help: 'Without --model: most epochs per user head. Default 100.' },
  lr: { type: 'string', arg: 'X', help: "Without --model: learning rate. Default the server's (0.03)." },
  hidden: { type: 'string', arg: 'N[,N]', help: 'Without --model: mlp hidden widths. Default 256.' },
  mask: {
    type: 'string',
    arg: 'MODE',
    help: 'Without --model, with --data: which photos wear a synthetic face mask: none (default), all, probe (the labelled photos plain, the test photos masked) or mixed (half of all photos, by photo id).',
  },
  quiet: { type: 'boolean', short: 'q', help: 'No progress on stderr.' },
};

/** Features with one label per sample (UNLABELLED where none) and the names of the labels. */
interface EvalData {
  spec: FeatureSpec;
  people: string[];
  labels: Int32Array;
  features: Float32Array;
  source: string;
  /** Sample ids (photo paths), for `mixed` masks. */
  ids: string[];
  /** The same samples' features with synthetic masks (`--mask` other than none). */
  masked?: Float32Array;
  mask: MaskMode;
}

/** One head's result over the users. */
export interface HeadEvaluation extends AccuracySummary {
  head: string;
  seconds: number;
  perUser: Array<{ id: string; accuracy: number; test: number }>;
}

/** An alias pair: the issue-style short flag or the long one, never both. */
function aliasInt(flags: ParsedFlags, short: string, long: string, fallback: number, max: number): number {
  if (flags[short] !== undefined && flags[long] !== undefined)
    throw new FedexError('BAD_ARGUMENT', `--${short} and --${long} are the same setting: give one`);
  const name = flags[short] !== undefined ? short : long;
  return intFlag(flags, name, fallback, { min: name.endsWith('seed') ? 0 : 1, max })!;
}

function headsFlag(flags: ParsedFlags): string[] {
  const raw = stringFlag(flags, 'heads');
  if (raw === undefined) return [...DEFAULT_EVAL_HEADS];
  const heads = raw.split(',').map((h) => h.trim());
  const known = headNames();
  const bad = heads.filter((h) => !known.includes(h));
  if (heads.length === 0 || bad.length > 0 || heads.includes(''))
    throw new FedexError(
      'BAD_ARGUMENT',
      `--heads must list heads of ${known.join(', ')} separated by commas; got "${raw}"`,
    );
  return [...new Set(heads)];
}

async function loadData(flags: ParsedFlags, minPhotos: number, io: CommandIO): Promise<EvalData> {
  const file = stringFlag(flags, 'features');
  const dir = stringFlag(flags, 'data');
  if ((file === undefined) === (dir === undefined))
    throw new FedexError('BAD_ARGUMENT', 'give the photos: --features FILE or --data DIR (one of them)');
  const mask = parseMaskMode(stringFlag(flags, 'mask') ?? 'none');
  if (mask !== 'none' && file !== undefined)
    throw new FedexError('BAD_ARGUMENT', '--mask draws masks on photos: it needs --data DIR, not --features');
  if (file !== undefined) {
    const batch = await readFeatureFile(file);
    return {
      spec: batch.spec,
      people: peopleOf(batch),
      labels: Int32Array.from(batch.labels),
      features: batch.features,
      source: path.resolve(file),
      ids: batch.sampleIds ? Array.from(batch.sampleIds, String) : [],
      mask,
    };
  }
  const { extractDataset } = await import('../data/extract.js');
  const quiet = Boolean(flags.quiet || flags.json);
  const extract = async (what: string, masked: boolean) => {
    const bar = createProgressBar(what, io.stderr, { quiet });
    const set = await extractDataset({
      dir: path.resolve(dir!),
      scan: { minPhotos },
      ...(masked ? { source: { kind: 'face' as const, options: { mask: 'synthetic' as const } } } : {}),
      onProgress: (done, total) => bar.update(done, total),
    });
    bar.done();
    return set;
  };
  const set = await extract('extract', false);
  const data: EvalData = {
    spec: set.spec,
    people: set.people,
    labels: Int32Array.from(set.samples, (s) => s.label),
    features: set.features,
    source: path.resolve(dir!),
    ids: set.samples.map((s) => s.id),
    mask,
  };
  if (mask === 'none') return data;
  // The mask is drawn after detection and landmarks: the same photos have a face, in the same order.
  const masked = await extract('extract masked', true);
  if (
    masked.samples.length !== set.samples.length ||
    masked.samples.some((s, i) => s.id !== set.samples[i].id)
  )
    throw new FedexError('FEATURE_MISMATCH', 'masked and plain extraction found faces in different photos');
  return { ...data, masked: masked.features };
}

/** Rows of `indices` as one array, each plain or masked as `--mask` says for its role. */
function rows(data: EvalData, indices: readonly number[], role: SampleRole): Float32Array {
  return mixRows(data.features, data.masked, shapeSize(data.spec.shape), indices, data.ids, data.mask, role);
}

/** The user's local class (index in `user.people`) of each sample index. */
function localClasses(data: EvalData, user: SimUser, indices: readonly number[]): Int32Array {
  return Int32Array.from(indices, (i) => user.people.indexOf(data.labels[i]));
}

/**
 * Trains `headName` for every user and scores it on the user's test photos.
 * `onUser` is called after each user (progress).
 */
export async function evaluateHeadOverUsers(
  data: EvalData,
  users: readonly SimUser[],
  headName: string,
  flags: ParsedFlags,
  seed: number,
  onUser?: (done: number) => void,
): Promise<HeadEvaluation> {
  const head = getHead(headName);
  const started = performance.now();
  const { options, backbone } = await headBuildOptions(head, data.spec, headOptionsFromFlags(flags));
  const perUser: HeadEvaluation['perUser'] = [];
  try {
    for (const user of users) {
      const training = { ...trainingFromFlags({ ...flags, seed: undefined }), seed };
      const y = localClasses(data, user, user.labelled);
      applyFewShotRule(training, y, flags);
      const model = head.build(data.spec.shape, user.people.length, options, seed);
      try {
        await fitHead(
          head,
          model,
          { x: rows(data, user.labelled, 'gallery'), y, shape: data.spec.shape },
          training,
        );
        const truth = localClasses(data, user, user.test);
        const predicted = predictClasses(model, rows(data, user.test, 'probe'), data.spec.shape);
        const right = predicted.reduce((a, c, i) => a + (c === truth[i] ? 1 : 0), 0);
        perUser.push({ id: user.id, accuracy: right / truth.length, test: truth.length });
      } finally {
        model.dispose();
      }
      onUser?.(perUser.length);
    }
  } finally {
    backbone?.dispose();
  }
  return {
    head: headName,
    ...summarizeAccuracies(perUser.map((p) => p.accuracy)),
    seconds: (performance.now() - started) / 1000,
    perUser,
  };
}

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

/** Runs the population mode of `fedex eval`; returns the exit code. */
export async function evalOverUsers(flags: ParsedFlags, io: CommandIO): Promise<number> {
  if (flags.user !== undefined || flags.all)
    throw new FedexError('BAD_ARGUMENT', '--user and --all score one model: they need --model DIR');
  const heads = headsFlag(flags);
  const nUsers = intFlag(flags, 'users', 20, { min: 1, max: 100_000 })!;
  const labelled = aliasInt(flags, 'labelled', 'labelled-per-person', 3, 10_000);
  const test = intFlag(flags, 'test-per-person', 1, { min: 1, max: 10_000 })!;
  const seed = aliasInt(flags, 'seed', 'data-seed', 0, 2 ** 32 - 1);
  // Training flags are checked before any photo is read: a typo costs nothing.
  trainingFromFlags({ ...flags, seed: undefined });
  headOptionsFromFlags(flags);

  const data = await loadData(flags, labelled + test, io);
  const named = new Set(Array.from(data.labels).filter((l) => l !== UNLABELLED)).size;
  const peoplePerUser = intFlag(flags, 'people-per-user', Math.max(1, Math.min(5, named)), {
    min: 1,
    max: 10_000,
  })!;
  const users = buildUsers(
    { people: data.people, labels: data.labels },
    {
      users: nUsers,
      peoplePerUser,
      labelledPerPerson: labelled,
      unlabelledPerPerson: 0,
      minTestPerPerson: test,
      seed,
    },
  );
  const testPhotos = users.reduce((a, u) => a + u.test.length, 0);
  const setting = `${users.length} users x ${peoplePerUser} people, ${labelled} labelled and >= ${test} test photo(s) per person (${testPhotos} test photos), seed ${seed}${data.mask === 'none' ? '' : `, masks: ${data.mask}`}`;

  await initRuntime();
  const quiet = Boolean(flags.quiet || flags.json);
  const results: HeadEvaluation[] = [];
  for (const head of heads) {
    const bar = createProgressBar(head, io.stderr, { quiet });
    results.push(
      await evaluateHeadOverUsers(data, users, head, flags, seed, (done) => bar.update(done, users.length)),
    );
    bar.done();
  }

  if (flags.json) {
    io.stdout.write(
      JSON.stringify(
        {
          source: data.source,
          specKey: specKey(data.spec),
          users: users.length,
          peoplePerUser,
          labelledPerPerson: labelled,
          minTestPerPerson: test,
          seed,
          mask: data.mask,
          testPhotos,
          heads: results,
        },
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  io.stdout.write(`personalized top-1 on ${specKey(data.spec)}: ${setting}\n`);
  io.stdout.write(
    renderTable(
      ['HEAD', 'MEAN', 'WORST DECILE', 'MIN', 'SECONDS'],
      results.map((r) => [r.head, pct(r.mean), pct(r.worstDecile), pct(r.min), r.seconds.toFixed(1)]),
      [1, 2, 3, 4],
    ),
  );
  return 0;
}
