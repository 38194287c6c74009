/**
 * `fedex extract`: runs the device-side bottom over a dataset directory (one folder per person)
 * and writes the features as one feature-batch file in the wire codec — what a fleet of devices
 * would upload, in one file. Cached per photo hash, parallel on both cores, with a progress bar.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeFeatureBatch } from '../core/codec.js';
import { FedexError } from '../core/errors.js';
import { shapeSize, specKey, type WireDtype } from '../core/types.js';
import { extractDataset, toFeatureBatch } from '../data/extract.js';
import type { Command } from './command.js';
import { choiceFlag, intFlag, parseFlags, renderHelp, stringFlag, type FlagSpecs } from './args.js';
import { createProgressBar } from './progress.js';
import { defaultDataDir } from './defaults.js';
import { backboneEntry, backboneIds } from '../model/backbones/registry.js';
import { splitExtractorSource } from '../data/extractor-source.js';

/** Backbone ids and their split names, from the backbone registry (no weights loaded). */
const BACKBONES: Record<string, string[]> = Object.fromEntries(
  backboneIds().map((id) => [id, backboneEntry(id).splits.map((s) => s.name)]),
);
const DTYPES: readonly WireDtype[] = ['float32', 'float16', 'int8'];

const FLAGS: FlagSpecs = {
  data: {
    type: 'string',
    arg: 'DIR',
    help: 'Dataset folder, one sub-folder per person. Default: the bbt_faceapi_demo set in $FEDEX_DATA_DIR (../shared/datasets).',
  },
  out: {
    type: 'string',
    arg: 'FILE',
    help: 'Output feature-batch file. Default: out/features/<dataset>-<split>-<dtype>.fxfb',
  },
  backbone: {
    type: 'string',
    arg: 'ID',
    help: `Backbone. Default faceapi-resnet. Known: ${Object.keys(BACKBONES).join(', ')}`,
  },
  split: { type: 'string', arg: 'NAME', help: 'Split point of the backbone. Default embedding (128-d).' },
  dtype: { type: 'string', arg: 'T', help: 'Wire precision: float32, float16 or int8. Default float32.' },
  detector: {
    type: 'string',
    arg: 'NAME',
    help: 'Face detector: ssd (default, most faces found) or tiny (about 4x faster).',
  },
  'min-photos': { type: 'string', arg: 'N', help: 'Keep people with at least N photos. Default 1.' },
  'max-per-person': {
    type: 'string',
    arg: 'N',
    help: 'At most N photos per person (seeded choice). Default all.',
  },
  'max-people': { type: 'string', arg: 'N', help: 'At most N people (seeded choice). Default all.' },
  limit: {
    type: 'string',
    arg: 'N',
    help: 'At most N photos in total, spread across people (seeded). Default all.',
  },
  seed: { type: 'string', arg: 'N', help: 'Seed of every choice above. Default 0.' },
  concurrency: {
    type: 'string',
    arg: 'N',
    help: 'Worker threads (tfjs WASM is single-threaded). Default min(2, cores); 1 runs in-process.',
  },
  cache: {
    type: 'string',
    arg: 'DIR',
    help: 'Feature cache folder. Default $FEDEX_CACHE_DIR or .cache/features.',
  },
  'no-cache': { type: 'boolean', help: 'Do not read or write the feature cache.' },
  json: { type: 'boolean', help: 'Print the summary as JSON on stdout.' },
  quiet: { type: 'boolean', short: 'q', help: 'No progress bar.' },
};

const USAGE = 'fedex extract [--data DIR] [--out FILE] [--backbone ID --split NAME] [--dtype T] [options]';

export const extractCommand: Command = {
  name: 'extract',
  summary: 'Run the device-side bottom over a folder of people and write a feature-batch file.',
  async run(argv, io) {
    const { flags } = parseFlags(argv, FLAGS);
    if (flags.help) {
      io.stdout.write(renderHelp(USAGE, extractCommand.summary, FLAGS));
      return 0;
    }
    const dataDir = path.resolve(stringFlag(flags, 'data', path.join(defaultDataDir(), 'bbt_faceapi_demo')));
    const backbone = stringFlag(flags, 'backbone', 'faceapi-resnet');
    const splits = BACKBONES[backbone];
    if (!splits) {
      throw new FedexError(
        'BAD_ARGUMENT',
        `--backbone: unknown "${backbone}"; known: ${Object.keys(BACKBONES).join(', ')}`,
      );
    }
    const split = stringFlag(
      flags,
      'split',
      backbone === 'faceapi-resnet' ? 'embedding' : backboneEntry(backbone).defaultSplit,
    );
    if (!splits.includes(split)) {
      throw new FedexError(
        'BAD_ARGUMENT',
        `--split: ${backbone} has no split "${split}"; known: ${splits.join(', ')}`,
      );
    }
    const dtype = choiceFlag(flags, 'dtype', DTYPES, 'float32');
    const detector = choiceFlag(flags, 'detector', ['ssd', 'tiny'] as const, 'ssd');
    const big = { min: 1 };
    const scanFlags = {
      minPhotos: intFlag(flags, 'min-photos', undefined, big),
      maxPerPerson: intFlag(flags, 'max-per-person', undefined, big),
      maxPeople: intFlag(flags, 'max-people', undefined, big),
      limit: intFlag(flags, 'limit', undefined, big),
      seed: intFlag(flags, 'seed', 0, { min: 0, max: 2 ** 32 - 1 }),
    };
    // Absent flags fall back to the scanner's own defaults.
    const scan = Object.fromEntries(Object.entries(scanFlags).filter(([, v]) => v !== undefined));
    const concurrency = intFlag(flags, 'concurrency', undefined, { min: 1, max: 64 });
    const cacheDir = stringFlag(flags, 'cache');
    if (flags['no-cache'] && cacheDir)
      throw new FedexError('BAD_ARGUMENT', '--cache and --no-cache exclude each other');
    const out = path.resolve(
      stringFlag(
        flags,
        'out',
        path.join('out', 'features', `${path.basename(dataDir)}-${split}-${dtype}.fxfb`),
      ),
    );

    // The 128-d descriptor is the face pipeline itself; any other split runs the face chip through
    // the backbone's frozen bottom (in each worker, so the cache and the pool work the same way).
    const source = splitExtractorSource(backbone, split, { detector });
    const bar = createProgressBar('extract', io.stderr, { quiet: Boolean(flags.quiet || flags.json) });
    let faces = 0;
    const set = await extractDataset({
      dir: dataDir,
      scan,
      source,
      concurrency,
      cache: flags['no-cache'] ? false : { ...(cacheDir ? { dir: cacheDir } : {}) },
      onProgress(done, total, info) {
        if (info.outcome === 'face') faces += 1;
        bar.update(done, total, `faces ${faces}`);
      },
    });
    bar.done();

    const batch = toFeatureBatch(set);
    const bytes = encodeFeatureBatch(batch, { dtype });
    mkdirSync(path.dirname(out), { recursive: true });
    // Write then rename: a crash never leaves a half-written file under the final name.
    const tmp = `${out}.tmp-${process.pid}`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, out);

    const readable = set.stats.photos - set.stats.unreadable.length;
    const summary = {
      out,
      spec: set.spec,
      specKey: specKey(set.spec),
      dtype,
      detector,
      people: set.people.length,
      photos: set.stats.photos,
      samples: set.samples.length,
      faceRate: readable > 0 ? set.samples.length / readable : 0,
      noFace: set.stats.noFace,
      unreadable: set.stats.unreadable,
      fromCache: set.stats.fromCache,
      extracted: set.stats.extracted,
      workers: set.stats.workers,
      seconds: set.stats.ms / 1000,
      bytes: bytes.length,
      bytesPerSample: set.samples.length ? bytes.length / set.samples.length : 0,
      featureValues: shapeSize(set.spec.shape),
    };
    if (flags.json) {
      io.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    } else {
      const lines = [
        `wrote ${summary.samples} samples of ${summary.specKey} [${set.spec.shape.join(', ')}] as ${dtype} to ${out}`,
        `  ${summary.people} people, ${summary.photos} photos: face found in ${summary.samples}/${readable} readable (${(summary.faceRate * 100).toFixed(1)}%), ${summary.unreadable.length} unreadable`,
        `  ${summary.fromCache} from cache, ${summary.extracted} extracted on ${summary.workers || 1} ${summary.workers ? 'worker(s)' : 'thread (in-process)'} in ${summary.seconds.toFixed(1)} s`,
        `  ${summary.bytes} bytes, ${summary.bytesPerSample.toFixed(1)} bytes/sample`,
      ];
      if (summary.noFace.length)
        lines.push(
          `  no face: ${summary.noFace.slice(0, 10).join(', ')}${summary.noFace.length > 10 ? ', ...' : ''}`,
        );
      for (const u of summary.unreadable.slice(0, 10)) lines.push(`  unreadable: ${u.file}: ${u.error}`);
      io.stdout.write(lines.join('\n') + '\n');
    }
    return 0;
  },
};
