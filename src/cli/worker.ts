/**
 * `fedex worker`: a training worker process on the shared PostgreSQL store. Run as many as the
 * machines allow, next to any number of `fedex serve --database … --workers 0` API processes; each
 * takes jobs from the one queue until SIGINT or SIGTERM, then puts its running jobs back and exits.
 */
import { availableParallelism } from 'node:os';
import { FedexError } from '../core/errors.js';
import { startWorkerProcess, type JobFinishedEvent } from '../server/worker-process.js';
import { intFlag, parseFlags, renderHelp, stringFlag, type FlagSpecs } from './args.js';
import type { Command, CommandIO } from './command.js';
import { databaseUrl } from './serve.js';

const FLAGS: FlagSpecs = {
  database: {
    type: 'string',
    arg: 'URL',
    help: 'The shared PostgreSQL database (postgres://user@host:port/db). Default $FEDEX_DATABASE_URL.',
  },
  'mask-translation': {
    type: 'string',
    arg: 'FILE',
    help: 'A file from fedex fit-mask-translation: models of its feature spec also train on masked twins of the labelled photos (docs/adapt.md). Checked at start. Default none.',
  },
  workers: {
    type: 'string',
    arg: 'N',
    help: `Training threads in this process. Default ${availableParallelism()} (the cores).`,
  },
  lease: {
    type: 'string',
    arg: 'S',
    help: 'Seconds a claimed job stays ours without a heartbeat; a dead worker loses its jobs after this. Default 30.',
  },
  'job-timeout': {
    type: 'string',
    arg: 'S',
    help: 'Seconds after which a running job is stopped and failed. Default 1800.',
  },
  quiet: { type: 'boolean', help: 'Do not log job events to stderr.' },
};

const USAGE =
  'fedex worker --database URL [--mask-translation FILE] [--workers N] [--lease S] [--job-timeout S] [--quiet]';

export async function worker(
  argv: string[],
  io: CommandIO,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const { flags } = parseFlags(argv, FLAGS);
  if (flags.help) {
    io.stdout.write(renderHelp(USAGE, workerCommand.summary, FLAGS));
    return 0;
  }
  const database = databaseUrl(stringFlag(flags, 'database'), process.env);
  if (database === undefined)
    throw new FedexError(
      'BAD_ARGUMENT',
      'fedex worker needs --database postgres://… (or FEDEX_DATABASE_URL)',
    );
  const workers = intFlag(flags, 'workers', availableParallelism(), { min: 1, max: 64 })!;
  const lease = intFlag(flags, 'lease', 30, { min: 1, max: 24 * 3600 })!;
  const timeout = intFlag(flags, 'job-timeout', 1800, { min: 1, max: 7 * 24 * 3600 })!;
  const log = flags.quiet ? undefined : (line: string) => io.stderr.write(`${line}\n`);
  const running = await startWorkerProcess({
    database,
    workers,
    leaseMs: lease * 1000,
    jobTimeoutMs: timeout * 1000,
    ...(stringFlag(flags, 'mask-translation') !== undefined
      ? { maskTranslation: stringFlag(flags, 'mask-translation') }
      : {}),
    log,
  });
  running.runner.on('finished', (e: JobFinishedEvent) => {
    if (e.outcome === 'done')
      io.stdout.write(
        `${JSON.stringify({ job: e.job.id, scope: e.job.scope, version: e.model?.version ?? null, seconds: e.seconds })}\n`,
      );
  });
  io.stderr.write(
    `FedEx worker ${running.runner.lease.owner}: ${workers} thread(s) on ${running.store.location} (lease ${lease} s). Stop with Ctrl+C.\n`,
  );
  const stopped = await new Promise<string>((resolve) => {
    const done = (why: string) => () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(why);
    };
    const onInt = done('SIGINT');
    const onTerm = done('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (options.signal?.aborted) onInt();
    options.signal?.addEventListener('abort', done('abort'), { once: true });
  });
  io.stderr.write(`${stopped}: stopping (running jobs go back to the queue)...\n`);
  await running.close();
  io.stderr.write('stopped\n');
  return 0;
}

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run training workers on a shared PostgreSQL server database (scale-out mode).',
  run: (argv, io) => worker(argv, io),
};
