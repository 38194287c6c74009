/**
 * `fedex device`: a phone in a terminal. The device SDK (`src/device/sdk.ts`) with its state in a
 * folder (`--state`, default `./fedex-device`, a `NodeFileDeviceStore`) and the real face bottom:
 * enroll with a token from the admin, add a folder of photos (a sub-folder per person names them),
 * sync the features, train, pull the model and predict on this machine. Photos never leave it.
 */
import { FACE_EMBEDDING_FLOPS } from '../device/costs.js';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { isImageEntry, isImageName } from '../data/dataset-dir.js';
import { FedexError } from '../core/errors.js';
import { formatFeatureNoise, parseFeatureNoise } from '../core/feature-noise.js';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../core/types.js';
import { FedexDevice } from '../device/sdk.js';
import { NodeFileDeviceStore } from '../device/store/node-files.js';
import type { DeviceCosts, DeviceOptions } from '../device/types.js';
import { headNames } from '../model/heads/registry.js';
import { choiceFlag, parseFlags, renderHelp, stringFlag, type FlagSpecs, type ParsedFlags } from './args.js';
import { printJson } from './admin.js';
import type { Command, CommandIO } from './command.js';
import { numberFlag } from './train.js';
import { createProgressBar } from './progress.js';

/** Where the device keeps its state unless `--state` says. */
export const DEFAULT_DEVICE_STATE_DIR = 'fedex-device';

/** What the command needs from the machine; tests swap in a fake bottom. */
export interface DeviceCommandDeps {
  /** The bottom and its FLOPs per photo. Default: the face pipeline (face-api), built lazily. */
  bottom(): Promise<{ extractor: FeatureExtractor; flopsPerPhoto: number }>;
  readImage(file: string): Promise<RawImage>;
}

/**
 * The face bottom, built on the first photo: enroll, sync, pull and status need only its spec
 * (the face-api version), not its networks.
 */
async function faceBottom(): Promise<{ extractor: FeatureExtractor; flopsPerPhoto: number }> {
  const { initRuntime } = await import('../runtime/node.js');
  const { nodeFaceApi, nodeFacePlatform } = await import('../platform/node/face.js');
  const { createFaceExtractor, FACE_BACKBONE_ID } = await import('../face/extractor.js');
  await initRuntime();
  const spec: FeatureSpec = {
    backboneId: FACE_BACKBONE_ID,
    backboneVersion: nodeFaceApi().version,
    split: 'embedding',
    shape: [128],
  };
  let real: Promise<FeatureExtractor> | undefined;
  const extractor: FeatureExtractor = {
    spec,
    async extract(image) {
      real ??= createFaceExtractor({}, nodeFacePlatform());
      return (await real).extract(image);
    },
    dispose() {
      void real?.then((r) => r.dispose());
    },
  };
  return { extractor, flopsPerPhoto: FACE_EMBEDDING_FLOPS };
}

export { FACE_EMBEDDING_FLOPS };

const DEFAULT_DEPS: DeviceCommandDeps = {
  bottom: faceBottom,
  async readImage(file) {
    const { readImageFile } = await import('../platform/node/image.js');
    return readImageFile(file);
  },
};

const COMMON: FlagSpecs = {
  state: {
    type: 'string',
    arg: 'DIR',
    help: `Folder with the device's state (enrollment, outbox, model). Default ./${DEFAULT_DEVICE_STATE_DIR}.`,
  },
  json: { type: 'boolean', help: 'Print the JSON answer on stdout.' },
};

interface Sub {
  usage: string;
  summary: string;
  flags: FlagSpecs;
  positionals: number;
  run(ctx: Ctx): Promise<number>;
}

interface Ctx {
  flags: ParsedFlags;
  positionals: string[];
  io: CommandIO;
  deps: DeviceCommandDeps;
  /** Opens the device in `--state` (`server` to enroll; `extra` device options, e.g. the noise). */
  open(server?: string, extra?: Pick<DeviceOptions, 'featureNoise'>): Promise<FedexDevice>;
}

function formatCosts(c: DeviceCosts): string {
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const per = c.photos > 0 ? ` (${(c.ms.extract / c.photos).toFixed(0)} ms/photo)` : '';
  return [
    `photos through the bottom: ${c.photos}${per}`,
    `FLOPs: ${(c.flops / 1e9).toFixed(2)} G`,
    `sent ${kb(c.bytesUp)}, received ${kb(c.bytesDown)}`,
    `ms: extract ${c.ms.extract.toFixed(0)}, encode ${c.ms.encode.toFixed(0)}, upload ${c.ms.upload.toFixed(0)}, ` +
      `download ${c.ms.download.toFixed(0)}, predict ${c.ms.predict.toFixed(0)}`,
  ].join('\n  ');
}

/** Photos of `dir`: those in a sub-folder are labelled with its name, those directly in it are not. */
export function listDevicePhotos(dir: string): { file: string; id: string; label: string | null }[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (cause) {
    throw new FedexError('BAD_ARGUMENT', `cannot read folder ${dir}: ${(cause as Error).message}`, { cause });
  }
  const out: { file: string; id: string; label: string | null }[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    const st = statSync(full); // follows links, as a user's photo folder may hold them
    if (st.isDirectory()) {
      for (const f of readdirSync(full, { withFileTypes: true }).sort((a, b) =>
        a.name.localeCompare(b.name),
      )) {
        if (isImageEntry(f, full))
          out.push({ file: path.join(full, f.name), id: `${e.name}/${f.name}`, label: e.name });
      }
    } else if (st.isFile() && isImageName(e.name)) {
      out.push({ file: full, id: e.name, label: null });
    }
  }
  return out;
}

const SUBS: Record<string, Sub> = {
  enroll: {
    usage: 'fedex device enroll --server URL --token ENROLLMENT_TOKEN [--name NAME] [--state DIR]',
    summary: 'Enroll this device for the user the enrollment token belongs to (fedex users token).',
    flags: {
      server: { type: 'string', arg: 'URL', help: 'Server URL, e.g. http://127.0.0.1:8787 (required).' },
      token: { type: 'string', arg: 'TOKEN', help: 'Enrollment token from the admin (required).' },
      name: { type: 'string', arg: 'NAME', help: 'Device name. Default "fedex-cli".' },
    },
    positionals: 0,
    async run({ flags, io, open }) {
      const server = stringFlag(flags, 'server');
      const token = stringFlag(flags, 'token');
      if (!server || !token)
        throw new FedexError(
          'BAD_ARGUMENT',
          `--server and --token are required (usage: ${SUBS.enroll.usage})`,
        );
      const device = await open(server);
      try {
        const e = await device.enroll({
          enrollmentToken: token,
          name: stringFlag(flags, 'name', 'fedex-cli'),
        });
        if (flags.json)
          printJson(io.stdout, { deviceId: e.deviceId, userId: e.userId, name: e.name, server: e.server });
        else
          io.stdout.write(`enrolled device ${e.deviceId} (${e.name}) for user ${e.userId} on ${e.server}\n`);
      } finally {
        await device.close();
      }
      return 0;
    },
  },
  add: {
    usage: 'fedex device add DIR [--feature-noise SPEC]',
    summary:
      'Run the face bottom on a folder of photos and queue their features (a sub-folder per person names them).',
    flags: {
      'feature-noise': {
        type: 'string',
        arg: 'SPEC',
        help:
          "Noise added here to each photo's features before they are kept for upload: none, gauss:R " +
          "(noise about R times the feature's norm) or gauss:R,clip=C (clipped, with a stated ε). " +
          'Default none. See docs/device.md.',
      },
    },
    positionals: 1,
    async run({ flags, positionals, io, deps, open }) {
      // Checked before any photo is read: a bad spec is one line and exit code 2.
      const noise = parseFeatureNoise(stringFlag(flags, 'feature-noise', 'none'));
      const dir = positionals[0];
      if (!dir) throw new FedexError('BAD_ARGUMENT', `missing DIR (usage: ${SUBS.add.usage})`);
      const photos = listDevicePhotos(dir);
      if (photos.length === 0) throw new FedexError('BAD_ARGUMENT', `no photos in ${dir}`);
      const device = await open(undefined, { featureNoise: noise });
      const bar = createProgressBar('add', io.stderr, { quiet: Boolean(flags.json) });
      let found = 0;
      const noFace: string[] = [];
      let status;
      try {
        for (let i = 0; i < photos.length; i++) {
          const p = photos[i];
          const r = await device.addPhoto(await deps.readImage(p.file), { id: p.id, label: p.label });
          if (r.found) found++;
          else noFace.push(p.id);
          bar.update(i + 1, photos.length, `${found} faces`);
        }
        status = await device.status();
      } finally {
        bar.done();
        await device.close();
      }
      const labelled = photos.filter((p) => p.label !== null && !noFace.includes(p.id)).length;
      if (flags.json)
        printJson(io.stdout, {
          photos: photos.length,
          found,
          labelled,
          noFace,
          pending: status.pendingSamples,
          featureNoise: status.featureNoise,
        });
      else
        io.stdout.write(
          `added ${found} of ${photos.length} photos (${labelled} labelled); no face in ${noFace.length}` +
            `${noFace.length ? `: ${noFace.slice(0, 5).join(', ')}${noFace.length > 5 ? ', …' : ''}` : ''}\n` +
            (noise.kind === 'none'
              ? ''
              : `their features were noised here (${formatFeatureNoise(noise)})\n`) +
            `${status.pendingSamples} sample(s) wait for 'fedex device sync'\n`,
        );
      return 0;
    },
  },
  sync: {
    usage: 'fedex device sync',
    summary:
      'Upload the queued features and labels (retrying with backoff; what fails waits for the next sync).',
    flags: {},
    positionals: 0,
    async run({ flags, io, open }) {
      const device = await open();
      try {
        const r = await device.sync();
        if (flags.json) printJson(io.stdout, r);
        else
          io.stdout.write(
            `uploaded ${r.samples} sample(s) in ${r.uploaded} batch(es), relabelled ${r.relabelled}; ` +
              `${r.pending} waiting${r.rejected ? `; ${r.rejected} batch(es) refused for good` : ''}\n`,
          );
      } finally {
        await device.close();
      }
      return 0;
    },
  },
  train: {
    usage: 'fedex device train [--head NAME] [--wait]',
    summary: "Ask the server to train this user's model (then 'fedex device pull').",
    flags: {
      head: {
        type: 'string',
        arg: 'NAME',
        help: `Head to train (${headNames().join(', ')}). Default: the server's.`,
      },
      wait: { type: 'boolean', help: 'Wait until the job is done.' },
      'timeout-s': { type: 'string', arg: 'S', help: 'With --wait: give up after S seconds. Default 600.' },
    },
    positionals: 0,
    async run({ flags, io, open }) {
      const timeoutS = numberFlag(flags, 'timeout-s', 600, { min: 1, max: 86_400 });
      const device = await open();
      try {
        const head = flags.head === undefined ? undefined : choiceFlag(flags, 'head', headNames(), 'linear');
        let job = await device.train(head === undefined ? {} : { head });
        if (flags.wait) job = await device.waitForJob(job.id, { timeoutMs: timeoutS * 1000 });
        if (flags.json) printJson(io.stdout, { job });
        else io.stdout.write(`job ${job.id}: ${job.status}${job.message ? ` (${job.message})` : ''}\n`);
      } finally {
        await device.close();
      }
      return 0;
    },
  },
  pull: {
    usage: 'fedex device pull',
    summary: "Fetch the user's newest model if it changed (checked before it replaces the one held).",
    flags: {},
    positionals: 0,
    async run({ flags, io, open }) {
      const device = await open();
      try {
        const r = await device.pullModel();
        const view = { updated: r.updated, version: r.version, error: r.error?.toJSON().error ?? null };
        if (flags.json) printJson(io.stdout, view);
        else if (r.error)
          io.stderr.write(
            `model not updated: ${r.error.message} [${r.error.code}]; ` +
              `${r.version === null ? 'no model held' : `keeping v${r.version}`}\n`,
          );
        else io.stdout.write(r.updated ? `pulled model v${r.version}\n` : `model v${r.version} is current\n`);
        return r.error && r.error.code !== 'NO_MODEL' ? 1 : 0;
      } finally {
        await device.close();
      }
    },
  },
  predict: {
    usage: 'fedex device predict PHOTO...',
    summary: 'Name the main face of each photo with the pulled model, on this machine.',
    flags: {},
    positionals: 10_000,
    async run({ flags, positionals, io, deps, open }) {
      if (positionals.length === 0)
        throw new FedexError('BAD_ARGUMENT', `missing PHOTO (usage: ${SUBS.predict.usage})`);
      const device = await open();
      const out = [];
      try {
        for (const file of positionals) {
          const p = await device.predict(await deps.readImage(file));
          out.push({
            file,
            ...(p ?? { name: null, confidence: null, candidates: [], modelVersion: device.modelVersion }),
          });
          if (!flags.json)
            io.stdout.write(p ? `${file}\t${p.name}\t${p.confidence.toFixed(3)}\n` : `${file}\t(no face)\n`);
        }
      } finally {
        await device.close();
      }
      if (flags.json) printJson(io.stdout, { predictions: out });
      return 0;
    },
  },
  status: {
    usage: 'fedex device status',
    summary: 'Enrollment, samples waiting, labels, model version and what the device has spent.',
    flags: {},
    positionals: 0,
    async run({ flags, io, open }) {
      const device = await open();
      const s = await device.status();
      await device.close();
      if (flags.json) {
        printJson(io.stdout, s);
        return 0;
      }
      io.stdout.write(
        [
          s.enrolled
            ? `device ${s.deviceId} (${s.name}) of user ${s.userId} on ${s.server}`
            : 'not enrolled (fedex device enroll --server URL --token TOKEN)',
          `samples: ${s.samples} (${s.labelled} labelled); waiting: ${s.pendingSamples} in ${s.outboxBatches} batch(es), ${s.queuedRelabels} relabel(s)`,
          `labels: ${s.labels.length ? s.labels.map((l) => `${l.id}=${l.name}`).join(', ') : '-'}`,
          `model: ${s.model ? `v${s.model.version} (${s.model.labels} classes, pulled ${new Date(s.model.pulledAt).toISOString()})` : 'none'}`,
          `costs since enrollment:\n  ${formatCosts(s.costs)}`,
          '',
        ].join('\n'),
      );
      return 0;
    },
  },
};

function help(): string {
  const width = Math.max(...Object.keys(SUBS).map((n) => n.length)) + 4;
  return [
    'Usage: fedex device <subcommand> [options]',
    '',
    'A phone in a terminal: the face bottom runs here, only features go to the server.',
    '',
    'Subcommands:',
    ...Object.entries(SUBS).map(([n, s]) => `  ${n.padEnd(width)}${s.summary}`),
    '',
    "Run 'fedex device <subcommand> --help' for its options.",
    '',
  ].join('\n');
}

/** `fedex device` with the given machine dependencies (tests pass a fake bottom). */
export function createDeviceCommand(deps: Partial<DeviceCommandDeps> = {}): Command {
  const resolved: DeviceCommandDeps = { ...DEFAULT_DEPS, ...deps };
  return {
    name: 'device',
    summary: 'Be a device: enroll, add photos, sync features, train, pull the model, predict.',
    async run(argv, io) {
      const [name, ...rest] = argv;
      if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
        (name === undefined ? io.stderr : io.stdout).write(help());
        return name === undefined ? 2 : 0;
      }
      if (!Object.hasOwn(SUBS, name))
        throw new FedexError(
          'BAD_ARGUMENT',
          `unknown subcommand "${name}" (one of ${Object.keys(SUBS).join(', ')})`,
        );
      const sub = SUBS[name];
      const specs = { ...sub.flags, ...COMMON };
      const { flags, positionals } = parseFlags(rest, specs, { positionals: sub.positionals });
      if (flags.help) {
        io.stdout.write(renderHelp(sub.usage, sub.summary, specs));
        return 0;
      }
      const stateDir = path.resolve(stringFlag(flags, 'state', DEFAULT_DEVICE_STATE_DIR));
      const open = async (
        server?: string,
        extra: Pick<DeviceOptions, 'featureNoise'> = {},
      ): Promise<FedexDevice> => {
        const store = await NodeFileDeviceStore.open(stateDir);
        const { extractor, flopsPerPhoto } = await resolved.bottom();
        const options: DeviceOptions = {
          server: server ?? 'http://127.0.0.1:8787',
          store,
          extractor,
          flopsPerPhoto,
          ...extra,
        };
        const device = await FedexDevice.open(options);
        if (server === undefined && !device.enrolled)
          throw new FedexError(
            'DEVICE_NOT_ENROLLED',
            `no enrolled device in ${stateDir} (run 'fedex device enroll' first)`,
          );
        return device;
      };
      return sub.run({ flags, positionals, io, deps: resolved, open });
    },
  };
}

export const deviceCommand = createDeviceCommand();
