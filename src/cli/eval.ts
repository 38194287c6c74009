/**
 * `fedex eval`: top-1 accuracy of a model folder written by `fedex train` on a feature-batch file;
 * without `--model`, personalized accuracy of every head over many simulated users (./eval-users.ts).
 *
 * Which photos: a user's held-out test photos (`--user ID`, or the user the model was trained for),
 * the global task's test split (a global model), or every labelled photo (`--all`). Classes are
 * matched by person name, so a global model can be scored on one user's photos; a photo of a person
 * the model does not know counts as wrong. Features of another backbone, version, split or shape
 * than the model's are refused (FEATURE_MISMATCH, via the backbones' `assertSameSpec`).
 */
import path from 'node:path';
import { FedexError } from '../core/errors.js';
import { specKey, UNLABELLED } from '../core/types.js';
import { assertSameSpec } from '../model/backbones/registry.js';
import { readModelDir, readModelMeta } from '../platform/node/model-store.js';
import { initRuntime } from '../runtime/node.js';
import { parseFlags, renderHelp, stringFlag, type FlagSpecs } from './args.js';
import type { Command } from './command.js';
import { evalOverUsers, POPULATION_FLAGS } from './eval-users.js';
import {
  gatherSamples,
  peopleOf,
  predictClasses,
  readFeatureFile,
  taskSamples,
  USER_FLAGS,
  userTaskFromFlags,
  type ModelMeta,
  type TaskRecord,
} from './train.js';

const FLAGS: FlagSpecs = {
  features: { type: 'string', arg: 'FILE', help: 'Feature-batch file made by `fedex extract`.' },
  model: {
    type: 'string',
    arg: 'DIR',
    help: 'Model folder written by `fedex train`. Without it: every head over --users simulated users.',
  },
  user: {
    type: 'string',
    arg: 'ID',
    help: "Score on this simulated user's test photos. Default: the model's own user, if any.",
  },
  all: { type: 'boolean', help: 'Score on every labelled photo of the file.' },
  ...USER_FLAGS,
  ...POPULATION_FLAGS,
  json: { type: 'boolean', help: 'Print the result as JSON on stdout.' },
};

const USAGE =
  'fedex eval --features FILE --model DIR [--user ID | --all] [--json]\n' +
  '       fedex eval (--features FILE | --data DIR) [--users N] [--people-per-user K] [--labelled L] [--test-per-person T] [--seed S] [--heads LIST] [--mask none|all|probe|mixed] [--json]';

function checkMeta(meta: Record<string, unknown>, dir: string): ModelMeta {
  const m = meta as Partial<ModelMeta>;
  if (m.format !== 'fedex-head' || !m.spec || !Array.isArray(m.labels) || !m.task) {
    throw new FedexError(
      'MODEL_LOAD',
      `${path.join(dir, 'meta.json')} is not a FedEx head description (written by fedex train)`,
    );
  }
  return m as ModelMeta;
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Top-1 of a trained head, or of every head over many simulated users (mean, worst decile, min).',
  async run(argv, io) {
    const { flags } = parseFlags(argv, FLAGS);
    if (flags.help) {
      io.stdout.write(renderHelp(USAGE, evalCommand.summary, FLAGS));
      return 0;
    }
    const dir = stringFlag(flags, 'model');
    if (!dir) return evalOverUsers(flags, io);
    const onlyPopulation = ['data', 'labelled', 'seed', 'heads', 'epochs', 'lr', 'hidden', 'mask'].filter(
      (f) => flags[f] !== undefined,
    );
    if (onlyPopulation.length > 0)
      throw new FedexError(
        'BAD_ARGUMENT',
        `--${onlyPopulation[0]} goes with the many-users evaluation (without --model)`,
      );
    const featuresFile = stringFlag(flags, 'features');
    if (!featuresFile) throw new FedexError('BAD_ARGUMENT', '--features FILE is required');
    const userId = stringFlag(flags, 'user');
    if (userId !== undefined && flags.all)
      throw new FedexError('BAD_ARGUMENT', '--user and --all exclude each other');

    const meta = checkMeta(await readModelMeta(dir), dir);
    const batch = await readFeatureFile(featuresFile);
    assertSameSpec(meta.spec, batch.spec, `features in ${featuresFile} for the model in ${dir}`);

    // Which photos, and the person each one shows.
    const people = peopleOf(batch);
    let indices: number[];
    let description: string;
    if (flags.all) {
      indices = [];
      for (let i = 0; i < batch.labels.length; i++) if (batch.labels[i] !== UNLABELLED) indices.push(i);
      description = `all ${indices.length} labelled photos`;
    } else {
      let task: TaskRecord = meta.task;
      if (userId !== undefined || meta.task.kind === 'user') {
        const base = meta.task.kind === 'user' ? meta.task : undefined;
        task = userTaskFromFlags(flags, userId ?? base!.user, batch, base);
      }
      const samples = taskSamples(batch, task);
      indices = samples.test;
      description = `test photos of ${samples.description}`;
    }
    if (indices.length === 0) throw new FedexError('MODEL_BAD_DATA', `no photos to score (${description})`);

    await initRuntime();
    const model = await readModelDir(dir);
    let predicted: Int32Array;
    try {
      const { x } = gatherSamples(batch, indices, new Int32Array(batch.labels.length));
      predicted = predictClasses(model, x, batch.spec.shape);
    } finally {
      model.dispose();
    }
    const known = new Set(meta.labels);
    let correct = 0;
    let unknownPeople = 0;
    indices.forEach((i, j) => {
      const truth = people[batch.labels[i]];
      if (!known.has(truth)) unknownPeople += 1;
      if (meta.labels[predicted[j]] === truth) correct += 1;
    });
    const result = {
      accuracy: correct / indices.length,
      correct,
      total: indices.length,
      unknownPeople,
      set: description,
      head: meta.head,
      model: path.resolve(dir),
      specKey: specKey(batch.spec),
    };
    if (flags.json) {
      io.stdout.write(JSON.stringify(result, null, 2) + '\n');
    } else {
      const unknown = unknownPeople ? `; ${unknownPeople} of a person the model does not know` : '';
      io.stdout.write(
        `accuracy ${(result.accuracy * 100).toFixed(1)}% (${correct}/${indices.length}) on ${description}, ${meta.head} head${unknown}\n`,
      );
    }
    return 0;
  },
};
