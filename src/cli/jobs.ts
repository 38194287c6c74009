/**
 * `fedex jobs`: training jobs on a running server — list them, show one, or queue a training of a
 * user's head or of the global model, optionally waiting for it with a progress bar (on stderr;
 * stdout keeps the result).
 */
import { FedexError } from '../core/errors.js';
import { headNames } from '../model/heads/registry.js';
import { connect, formatTime, printJson, renderTable, runSubcommand, type Subcommand } from './admin.js';
import type { ApiClient, JobRow, JobStatus } from './api-client.js';
import { choiceFlag, intFlag, stringFlag } from './args.js';
import type { Command } from './command.js';
import { scopeFlag } from './models.js';
import { createProgressBar } from './progress.js';

/** How often `--wait` asks for the job. */
export const WAIT_POLL_MS = 500;

const STATUSES = ['queued', 'running', 'done', 'failed'] as const;

function summarize(job: JobRow): string {
  if (job.status === 'failed') return job.error ?? 'failed';
  if (job.status === 'done' && job.result) {
    const r = job.result;
    const parts: string[] = [];
    if (typeof r.modelVersion === 'number') parts.push(`v${r.modelVersion}`);
    if (typeof r.promoted === 'boolean') parts.push(r.promoted ? 'promoted' : 'not promoted');
    if (parts.length) return parts.join(' ');
  }
  return job.message ?? '';
}

const list: Subcommand = {
  usage: 'fedex jobs [list] [--scope S] [--status S] [--limit N]',
  summary: 'List recent training jobs, newest first.',
  flags: {
    scope: { type: 'string', arg: 'S', help: 'Only this scope: global or user:<id>. Default: all.' },
    status: { type: 'string', arg: 'S', help: `Only jobs ${STATUSES.join(', ')}. Default: all.` },
    limit: { type: 'string', arg: 'N', help: 'Most jobs to list (1-1000). Default 50.' },
  },
  positionals: 0,
  async run({ flags }, io) {
    const scope = scopeFlag(stringFlag(flags, 'scope'));
    const status =
      flags.status === undefined ? undefined : choiceFlag<JobStatus>(flags, 'status', STATUSES, 'queued');
    const limit = intFlag(flags, 'limit', 50, { min: 1, max: 1000 });
    const answer = await connect(flags).listJobs({ scope, status, limit });
    if (flags.json) {
      printJson(io.stdout, answer);
      return 0;
    }
    if (answer.jobs.length === 0) {
      io.stdout.write('no jobs\n');
      return 0;
    }
    const rows = answer.jobs.map((j) => [
      String(j.id),
      j.scope,
      j.trigger,
      j.status,
      `${Math.round(j.progress * 100)}%`,
      `${j.attempts}/${j.maxAttempts}`,
      formatTime(j.createdAt),
      summarize(j),
    ]);
    io.stdout.write(
      renderTable(
        ['ID', 'SCOPE', 'TRIGGER', 'STATUS', 'PROGRESS', 'ATTEMPTS', 'CREATED', 'NOTE'],
        rows,
        [0, 4],
      ),
    );
    return 0;
  },
};

function jobIdArg(value: string | undefined): number {
  if (value === undefined) throw new FedexError('BAD_ARGUMENT', 'missing job ID (usage: fedex jobs show ID)');
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value)))
    throw new FedexError('BAD_ARGUMENT', `job ID must be a positive integer, got "${value}"`);
  return Number(value);
}

function describe(job: JobRow): string {
  const rows: [string, string][] = [
    ['job', String(job.id)],
    ['scope', job.scope],
    ['trigger', job.trigger],
    ['status', job.status],
    ['progress', `${Math.round(job.progress * 100)}%${job.message ? ` (${job.message})` : ''}`],
    ['attempts', `${job.attempts} of ${job.maxAttempts}`],
    ['created', formatTime(job.createdAt)],
    ['started', formatTime(job.startedAt)],
    ['finished', formatTime(job.finishedAt)],
    ['config', JSON.stringify(job.config)],
  ];
  if (job.result) rows.push(['result', JSON.stringify(job.result)]);
  if (job.error) rows.push(['error', job.error]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join('\n') + '\n';
}

const show: Subcommand = {
  usage: 'fedex jobs show ID',
  summary: 'Show one job: status, progress, config, result or error.',
  flags: {},
  positionals: 1,
  async run({ flags, positionals }, io) {
    const answer = await connect(flags).getJob(jobIdArg(positionals[0]));
    if (flags.json) printJson(io.stdout, answer);
    else io.stdout.write(describe(answer.job));
    return 0;
  },
};

/** Polls a job until it is done or failed, drawing its progress on `stderr`. */
export async function waitForJob(
  api: ApiClient,
  id: number,
  stderr: NodeJS.WriteStream,
  pollMs = WAIT_POLL_MS,
): Promise<JobRow> {
  const bar = createProgressBar(`job ${id}`, stderr);
  for (;;) {
    const { job } = await api.getJob(id);
    bar.update(Math.round(job.progress * 100), 100, `${job.status}${job.message ? `: ${job.message}` : ''}`);
    if (job.status === 'done' || job.status === 'failed') {
      bar.done();
      return job;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const train: Subcommand = {
  usage: 'fedex jobs train (--user ID | --global) [--head H] [--wait]',
  summary: "Queue training of a user's head or of the global model (one queued job per scope).",
  flags: {
    user: { type: 'string', arg: 'ID', help: "Train this user's personalized head." },
    global: { type: 'boolean', help: 'Train the global model.' },
    head: {
      type: 'string',
      arg: 'H',
      help: `Head: ${headNames().join(', ')}. Default: the server's (linear).`,
    },
    wait: { type: 'boolean', help: 'Wait for the job, with a progress bar; exit 1 if it fails.' },
  },
  positionals: 0,
  async run({ flags }, io) {
    const user = stringFlag(flags, 'user');
    if ((user === undefined) === !flags.global)
      throw new FedexError('BAD_ARGUMENT', 'give exactly one of --user ID or --global');
    if (user !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(user))
      throw new FedexError('BAD_ARGUMENT', `--user must be 1-64 of A-Z a-z 0-9 _ -, got "${user}"`);
    const head = flags.head === undefined ? undefined : choiceFlag(flags, 'head', headNames(), 'linear');
    const api = connect(flags);
    const queued = await api.train(user ?? null, head === undefined ? {} : { head });
    let job = queued.job;
    if (!flags.json)
      io.stdout.write(
        queued.created
          ? `queued job ${job.id} for ${job.scope}\n`
          : `job ${job.id} for ${job.scope} is already ${job.status}; not queueing another\n`,
      );
    if (flags.wait) {
      job = await waitForJob(api, job.id, io.stderr);
      if (!flags.json) io.stdout.write(`job ${job.id} ${job.status}: ${summarize(job)}\n`);
    }
    if (flags.json) printJson(io.stdout, { job, created: queued.created });
    if (job.status === 'failed')
      throw new FedexError('JOB_FAILED', `job ${job.id} failed: ${job.error ?? 'no error message'}`);
    return 0;
  },
};

export const jobsCommand: Command = {
  name: 'jobs',
  summary: 'List training jobs, show one, or queue a training (and wait for it) on a running server.',
  run: (argv, io) => runSubcommand('jobs', jobsCommand.summary, { list, show, train }, 'list', argv, io),
};
