/**
 * `fedex fit-mask-translation`: the cloud's offline step for masked faces. Runs the face pipeline
 * over a folder of people's photos (public photos the operator may use, never a user's) twice —
 * plain, and with the pipeline's synthetic mask drawn on the aligned face — fits the ridge map
 * from each photo's plain descriptor to its masked one (src/model/mask-translate.ts, ridge chosen
 * over whole people) and writes it as JSON. `fedex serve --mask-translation FILE` then trains every
 * model of that feature spec on masked twins of the labelled photos too (docs/adapt.md).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { FedexError } from '../core/errors.js';
import { shapeSize, specKey } from '../core/types.js';
import { extractDataset, type ExtractedFeatureSet } from '../data/extract.js';
import { fitMaskTranslationCv, maskTranslationToFile, translationError } from '../model/mask-translate.js';
import { intFlag, parseFlags, renderHelp, stringFlag, type FlagSpecs } from './args.js';
import type { Command } from './command.js';
import { defaultDataDir } from './defaults.js';
import { createProgressBar } from './progress.js';

const FLAGS: FlagSpecs = {
  data: {
    type: 'string',
    arg: 'DIR',
    help: 'Folder of public face photos, one sub-folder per person (at least 5 people). Default: lfw_deepfunneled_min5 in $FEDEX_DATA_DIR (../shared/datasets).',
  },
  out: {
    type: 'string',
    arg: 'FILE',
    help: 'Where to write the translation. Default out/mask-translation.json.',
  },
  'min-photos': { type: 'string', arg: 'N', help: 'Keep people with at least N photos. Default 2.' },
  'max-per-person': { type: 'string', arg: 'N', help: 'At most N photos per person (seeded). Default 20.' },
  'max-people': { type: 'string', arg: 'N', help: 'At most N people (seeded). Default all.' },
  seed: { type: 'string', arg: 'N', help: 'Seed of the choices above. Default 0.' },
  concurrency: { type: 'string', arg: 'N', help: 'Extraction worker threads. Default min(2, cores).' },
  cache: {
    type: 'string',
    arg: 'DIR',
    help: 'Feature cache folder. Default $FEDEX_CACHE_DIR or .cache/features.',
  },
  quiet: { type: 'boolean', short: 'q', help: 'No progress bars.' },
  json: { type: 'boolean', help: 'Print the summary as JSON on stdout.' },
};

const USAGE = 'fedex fit-mask-translation [--data DIR] [--out FILE] [--max-people N] [options]';

/** Rows of `masked` in the order of `plain`'s samples (by photo id); photos missing from either are left out. */
export function pairRows(
  plain: ExtractedFeatureSet,
  masked: ExtractedFeatureSet,
): { plain: Float32Array; masked: Float32Array; people: number[] } {
  const dim = shapeSize(plain.spec.shape);
  if (shapeSize(masked.spec.shape) !== dim)
    throw new FedexError('BAD_ARGUMENT', 'plain and masked features have different shapes');
  const maskedRow = new Map(masked.samples.map((s, i) => [s.id, i]));
  const rows: Array<[number, number]> = [];
  plain.samples.forEach((s, i) => {
    const j = maskedRow.get(s.id);
    if (j !== undefined) rows.push([i, j]);
  });
  const a = new Float32Array(rows.length * dim);
  const b = new Float32Array(rows.length * dim);
  rows.forEach(([i, j], r) => {
    a.set(plain.features.subarray(i * dim, (i + 1) * dim), r * dim);
    b.set(masked.features.subarray(j * dim, (j + 1) * dim), r * dim);
  });
  return { plain: a, masked: b, people: rows.map(([i]) => plain.samples[i].label) };
}

export const fitMaskCommand: Command = {
  name: 'fit-mask-translation',
  summary:
    'Fit the map from plain to masked face descriptors on public photos (for serve --mask-translation).',
  async run(argv, io) {
    const { flags } = parseFlags(argv, FLAGS);
    if (flags.help) {
      io.stdout.write(renderHelp(USAGE, fitMaskCommand.summary, FLAGS));
      return 0;
    }
    const dataDir = path.resolve(
      stringFlag(flags, 'data', path.join(defaultDataDir(), 'lfw_deepfunneled_min5')),
    );
    const out = path.resolve(stringFlag(flags, 'out', path.join('out', 'mask-translation.json')));
    const big = { min: 1 };
    const maxPeople = intFlag(flags, 'max-people', undefined, { min: 5 });
    const scan = {
      minPhotos: intFlag(flags, 'min-photos', 2, { min: 2 })!,
      maxPerPerson: intFlag(flags, 'max-per-person', 20, big)!,
      ...(maxPeople !== undefined ? { maxPeople } : {}),
      seed: intFlag(flags, 'seed', 0, { min: 0, max: 2 ** 32 - 1 })!,
    };
    const concurrency = intFlag(flags, 'concurrency', undefined, { min: 1, max: 64 });
    const cacheDir = stringFlag(flags, 'cache');
    const quiet = Boolean(flags.quiet || flags.json);
    const extract = async (label: string, mask: boolean) => {
      const bar = createProgressBar(label, io.stderr, { quiet });
      const set = await extractDataset({
        dir: dataDir,
        scan,
        source: { kind: 'face', options: mask ? { mask: 'synthetic' } : {} },
        ...(concurrency !== undefined ? { concurrency } : {}),
        ...(cacheDir !== undefined ? { cache: { dir: cacheDir } } : {}),
        onProgress: (done, total) => bar.update(done, total),
      });
      bar.done();
      return set;
    };
    const started = performance.now();
    const plainSet = await extract('plain', false);
    const maskedSet = await extract('masked', true);
    const pairs = pairRows(plainSet, maskedSet);
    const people = new Set(pairs.people).size;
    if (people < 5)
      throw new FedexError(
        'NOT_ENOUGH_DATA',
        `${dataDir}: faces of ${people} people found; fitting needs at least 5 (the ridge is chosen over whole people)`,
      );
    const dim = shapeSize(plainSet.spec.shape);
    const { translation, heldOut } = fitMaskTranslationCv(pairs.plain, pairs.masked, dim, pairs.people);
    const n = pairs.people.length;
    let identity = 0;
    for (let i = 0; i < pairs.plain.length; i++) identity += (pairs.plain[i] - pairs.masked[i]) ** 2;
    const fittedOn = {
      people,
      photos: n,
      heldOutError: heldOut.get(translation.ridge)!,
      identityError: identity / n,
    };
    const file = maskTranslationToFile(translation, specKey(plainSet.spec), fittedOn);
    mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(file));
    renameSync(tmp, out);
    const summary = {
      out,
      specKey: file.specKey,
      ...fittedOn,
      trainError: translationError(translation, pairs.plain, pairs.masked),
      ridge: translation.ridge,
      seconds: (performance.now() - started) / 1000,
    };
    if (flags.json) io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else
      io.stdout.write(
        [
          `wrote the mask translation of ${summary.specKey} to ${out}`,
          `  fitted on ${n} photos of ${people} people (plain and masked), ridge ${translation.ridge}`,
          `  held-out error per photo ${summary.heldOutError.toFixed(4)} (people not fitted on), against ${summary.identityError.toFixed(4)} for "a mask changes nothing"`,
          `  use it: fedex serve --mask-translation ${path.relative(process.cwd(), out) || out}`,
        ].join('\n') + '\n',
      );
    return 0;
  },
};
