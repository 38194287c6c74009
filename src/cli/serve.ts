/**
 * `fedex serve` (and `npm start`): runs the FedEx server — the HTTP API, the SQLite store in the
 * data folder, training workers and the retraining scheduler — until SIGINT or SIGTERM, then
 * closes it gracefully (running jobs go back to the queue, the database closes cleanly) and exits 0.
 *
 * Settings come from flags, else `FEDEX_PORT`, `FEDEX_SERVER_DATA`, `FEDEX_ADMIN_KEY`, else the
 * server's embedded defaults (`defaultServerConfig`). It prints one block saying where it listens,
 * where its data and admin key are, and where the OpenAPI document is; the admin key itself only
 * when this start created it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { FedexError } from '../core/errors.js';
import { defaultServerConfig, type ServerConfig } from '../server/config.js';
import { resolveTrainJobConfig } from '../server/jobs/train-task.js';
import { ADMIN_KEY_FILE, startServer, type RunningServer } from '../server/server.js';
import { isPostgresUrl } from '../server/store/store.js';
import { serverDataDir } from './admin.js';
import { choiceFlag, intFlag, parseFlags, renderHelp, stringFlag, type FlagSpecs } from './args.js';
import type { Command, CommandIO } from './command.js';

const DEFAULTS = defaultServerConfig();

const FLAGS: FlagSpecs = {
  port: {
    type: 'string',
    arg: 'N',
    help: `TCP port (0: any free one). Default $FEDEX_PORT, else ${DEFAULTS.port}.`,
  },
  host: {
    type: 'string',
    arg: 'H',
    help: `Address to bind; 0.0.0.0 serves the network. Default ${DEFAULTS.host} (this machine only).`,
  },
  'data-dir': {
    type: 'string',
    arg: 'DIR',
    help: 'Folder of the database and the admin key. Default $FEDEX_SERVER_DATA, else ./fedex-data.',
  },
  database: {
    type: 'string',
    arg: 'URL',
    help: 'postgres://user@host:port/db: keep everything in PostgreSQL, so many serve and worker processes share it (see docs/server.md, "Scaling out"). Default $FEDEX_DATABASE_URL, else the SQLite file in the data folder.',
  },
  head: {
    type: 'string',
    arg: 'NAME',
    help: "The head jobs train when a request names none (the scheduler's included): linear, centroid (with --mask-translation: two means a person) or mlp. Default linear.",
  },
  'mask-translation': {
    type: 'string',
    arg: 'FILE',
    help: 'A file from fedex fit-mask-translation: models of its feature spec also train on masked twins of the labelled photos (docs/adapt.md). Checked at start. Default none.',
  },
  workers: {
    type: 'string',
    arg: 'N',
    help: `Training worker threads (0: jobs only queue, or run them in fedex worker). Default ${DEFAULTS.workers} (the cores).`,
  },
  'retrain-after': {
    type: 'string',
    arg: 'N',
    help: `Retrain a user's head after N new labelled samples (0: never by count). Default ${DEFAULTS.retrainAfterLabelled}.`,
  },
  durability: {
    type: 'string',
    arg: 'D',
    help: 'full: fsync every commit (uploads survive power loss); normal: faster, survives a crash. Default full.',
  },
  'sdk-dir': {
    type: 'string',
    arg: 'DIR',
    help: 'Folder of the browser SDK bundle served at /sdk/fedex-device.js. Default dist/sdk (npm run build:sdk).',
  },
  'web-dir': {
    type: 'string',
    arg: 'DIR',
    help: 'Folder of the face app served at /. Default dist/web (npm run build:web).',
  },
  signup: {
    type: 'string',
    arg: 'S',
    help: 'open: anyone reaching the server may create a user with its first device (the face app does, npm start opens it); closed: only the admin makes users. Default closed.',
  },
  'signups-per-hour': {
    type: 'string',
    arg: 'N',
    help: `With --signup open: sign-ups one network address may make per hour; 0: no limit. Default ${DEFAULTS.signupsPerHour}.`,
  },
  'rate-limit': {
    type: 'string',
    arg: 'N',
    help: `Requests per second a device may make (bursts of 2N); 0: no limit. Default ${DEFAULTS.rateLimitPerSecond}.`,
  },
  enrollment: {
    type: 'string',
    arg: 'E',
    help: 'open: devices enroll themselves with an enrollment token; closed: only the admin enrolls devices. Default open.',
  },
  'max-samples-per-user': {
    type: 'string',
    arg: 'N',
    help: `Samples one user may store; an upload past it is refused (403 QUOTA_EXCEEDED); 0: no limit. Default ${DEFAULTS.maxSamplesPerUser}.`,
  },
  'max-job-epochs': {
    type: 'string',
    arg: 'N',
    help: `Most epochs a training request may ask for. Default ${DEFAULTS.maxJobEpochs}.`,
  },
  'job-timeout': {
    type: 'string',
    arg: 'S',
    help: `Seconds after which a running training job is stopped and failed. Default ${DEFAULTS.jobTimeoutMs / 1000}.`,
  },
  'source-maps': {
    type: 'boolean',
    help: "Serve the SDK's and the face app's source maps (.map); off by default (they hold the source).",
  },
  log: { type: 'boolean', help: 'Log one line per request (and job events) to stderr.' },
};

const USAGE =
  'fedex serve [--port N] [--host H] [--data-dir DIR] [--database URL] [--mask-translation FILE] [--head NAME] [--workers N] [--retrain-after N] [--durability full|normal] [--rate-limit N] [--enrollment open|closed] [--signup open|closed] [--signups-per-hour N] [--sdk-dir DIR] [--web-dir DIR] [--max-samples-per-user N] [--max-job-epochs N] [--job-timeout S] [--source-maps] [--log]';

/**
 * The `--database` flag, else `FEDEX_DATABASE_URL`; undefined for neither (the SQLite default).
 * BAD_ARGUMENT, in one line, for anything but a postgres:// URL.
 */
export function databaseUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const value = flag ?? (env.FEDEX_DATABASE_URL || undefined);
  if (value === undefined) return undefined;
  if (!isPostgresUrl(value))
    throw new FedexError(
      'BAD_ARGUMENT',
      `--database takes a postgres://user@host:port/database URL${flag === undefined ? ' (from FEDEX_DATABASE_URL)' : ''}, got "${value}"; leave it out for the SQLite file in the data folder`,
    );
  return value;
}

/** The server config the flags and environment ask for (only what they set; the server fills in the rest). */
export function serveConfig(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Partial<ServerConfig> | 'help' {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) return 'help';
  const config: Partial<ServerConfig> = {};
  let port = intFlag(flags, 'port', undefined, { min: 0, max: 65535 });
  if (port === undefined && env.FEDEX_PORT !== undefined && env.FEDEX_PORT !== '') {
    const raw = env.FEDEX_PORT;
    port = Number(raw);
    if (!/^\d+$/.test(raw) || port > 65535)
      throw new FedexError('BAD_ARGUMENT', `FEDEX_PORT must be a port number 0-65535, got "${raw}"`);
  }
  if (port !== undefined) config.port = port;
  const host = stringFlag(flags, 'host');
  if (host !== undefined) config.host = host;
  config.dataDir = serverDataDir(stringFlag(flags, 'data-dir'), env);
  const database = databaseUrl(stringFlag(flags, 'database'), env);
  if (database !== undefined) config.database = database;
  const head = stringFlag(flags, 'head');
  if (head !== undefined) {
    resolveTrainJobConfig({ head }); // an unknown or server-less head fails here, in one line
    config.training = { ...config.training, head };
  }
  const maskTranslation = stringFlag(flags, 'mask-translation');
  if (maskTranslation !== undefined) config.maskTranslation = maskTranslation;
  const workers = intFlag(flags, 'workers', undefined, { min: 0, max: 64 });
  if (workers !== undefined) config.workers = workers;
  const retrain = intFlag(flags, 'retrain-after', undefined, { min: 0, max: 1_000_000_000 });
  if (retrain !== undefined) config.retrainAfterLabelled = retrain;
  config.durability = choiceFlag(flags, 'durability', ['full', 'normal'] as const, DEFAULTS.durability);
  config.enrollment = choiceFlag(flags, 'enrollment', ['open', 'closed'] as const, DEFAULTS.enrollment);
  config.signup = choiceFlag(flags, 'signup', ['open', 'closed'] as const, DEFAULTS.signup);
  const signups = intFlag(flags, 'signups-per-hour', undefined, { min: 0, max: 1_000_000 });
  if (signups !== undefined) config.signupsPerHour = signups;
  const sdkDir = stringFlag(flags, 'sdk-dir');
  if (sdkDir !== undefined) config.sdkDir = sdkDir;
  const webDir = stringFlag(flags, 'web-dir');
  if (webDir !== undefined) config.webDir = webDir;
  const rate = intFlag(flags, 'rate-limit', undefined, { min: 0, max: 1_000_000 });
  if (rate !== undefined) {
    config.rateLimitPerSecond = rate;
    config.rateLimitBurst = 2 * rate;
  }
  const quota = intFlag(flags, 'max-samples-per-user', undefined, { min: 0, max: 2 ** 31 - 1 });
  if (quota !== undefined) config.maxSamplesPerUser = quota;
  const maxEpochs = intFlag(flags, 'max-job-epochs', undefined, { min: 1, max: 100_000 });
  if (maxEpochs !== undefined) config.maxJobEpochs = maxEpochs;
  const jobTimeout = intFlag(flags, 'job-timeout', undefined, { min: 1, max: 7 * 24 * 3600 });
  if (jobTimeout !== undefined) config.jobTimeoutMs = jobTimeout * 1000;
  if (flags['source-maps']) config.serveSourceMaps = true;
  if (flags.log) config.logRequests = true;
  const key = env.FEDEX_ADMIN_KEY;
  if (key !== undefined && key !== '') {
    if (key.length < 16)
      throw new FedexError('BAD_ARGUMENT', 'FEDEX_ADMIN_KEY must be at least 16 characters');
    config.adminKey = key;
  }
  return config;
}

/** The block printed at start-up. */
export function startBanner(server: RunningServer, createdKey: boolean): string {
  const c = server.config;
  const rows: [string, string][] = [
    ['data folder', c.dataDir],
    [
      'database',
      server.store.kind === 'sqlite' ? `${server.dbFile} (durability ${c.durability})` : server.dbFile,
    ],
    [
      'admin key',
      server.adminKeyFile === null
        ? 'from FEDEX_ADMIN_KEY'
        : createdKey
          ? `${server.adminKeyFile} (created now; mode 0600)`
          : server.adminKeyFile,
    ],
    ['face app', `${server.url}/  (sign-up ${c.signup})`],
    ['OpenAPI', `${server.url}/openapi.json`],
    ['health', `${server.url}/healthz   metrics: ${server.url}/metrics`],
    [
      'training',
      `${c.workers} worker thread(s); retrain a user after ${c.retrainAfterLabelled || 'never by count'} new labelled`,
    ],
  ];
  if (c.maskTranslation !== undefined)
    rows.push(['mask twins', `${c.maskTranslation} (models of its spec also train on masked twins)`]);
  if (c.host === '0.0.0.0' || c.host === '::') rows.push(['bound to', `${c.host} (every network interface)`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = [
    `FedEx server listening on ${server.url}`,
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`),
  ];
  if (createdKey) {
    lines.push(
      '',
      `  New admin key (also in ${server.adminKeyFile}; shown only this once):`,
      `    ${server.adminKey}`,
    );
  }
  lines.push('', 'Stop with Ctrl+C (SIGINT) or SIGTERM.', '');
  return lines.join('\n');
}

/**
 * Runs the server until SIGINT/SIGTERM (or `options.signal` aborts), then closes it. Tests pass a
 * signal and get the running server through `onListening`.
 */
export async function serve(
  argv: string[],
  io: CommandIO,
  options: { signal?: AbortSignal; onListening?: (server: RunningServer) => void } = {},
): Promise<number> {
  const config = serveConfig(argv);
  if (config === 'help') {
    io.stdout.write(renderHelp(USAGE, serveCommand.summary, FLAGS));
    return 0;
  }
  const keyFile = path.join(config.dataDir!, ADMIN_KEY_FILE);
  const createdKey = !config.adminKey && !existsSync(keyFile);
  const server = await startServer(config);
  io.stdout.write(startBanner(server, createdKey));
  options.onListening?.(server);

  const stopped = await new Promise<string>((resolve) => {
    const onSignal = (name: string) => () => {
      cleanup();
      resolve(name);
    };
    const onInt = onSignal('SIGINT');
    const onTerm = onSignal('SIGTERM');
    const onAbort = () => {
      cleanup();
      resolve('abort');
    };
    const cleanup = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      options.signal?.removeEventListener('abort', onAbort);
    };
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
  io.stderr.write(
    `${stopped === 'abort' ? 'stopping' : `${stopped}: stopping`} (finishing requests, closing the database)...\n`,
  );
  // A second signal while closing means "now": exit without waiting.
  const force = () => process.exit(1);
  if (stopped !== 'abort') {
    process.once('SIGINT', force);
    process.once('SIGTERM', force);
  }
  try {
    await server.close();
  } finally {
    process.off('SIGINT', force);
    process.off('SIGTERM', force);
  }
  io.stderr.write('stopped\n');
  return 0;
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the FedEx server: upload API, model registry, training workers (Ctrl+C stops it).',
  run: (argv, io) => serve(argv, io),
};
