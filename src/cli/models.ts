/**
 * `fedex models`: the model versions a running server holds, newest first — scope, version,
 * whether it was promoted (and why not), head, feature spec, held-out accuracy and size.
 */
import { FedexError } from '../core/errors.js';
import { connect, formatTime, printJson, renderTable, runSubcommand, type Subcommand } from './admin.js';
import { intFlag, stringFlag } from './args.js';
import type { Command } from './command.js';

/** `global` or `user:<id>`, as the server names scopes. */
export const SCOPE = /^(global|user:[A-Za-z0-9_-]{1,64})$/;

export function scopeFlag(value: string | undefined): string | undefined {
  if (value !== undefined && !SCOPE.test(value))
    throw new FedexError('BAD_ARGUMENT', `--scope must be global or user:<id>, got "${value}"`);
  return value;
}

function accuracy(metrics: Record<string, unknown>): string {
  const a = metrics.heldOutAccuracy;
  return typeof a === 'number' ? a.toFixed(3) : '-';
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const list: Subcommand = {
  usage: 'fedex models [--scope S] [--limit N]',
  summary: 'List model versions, newest first.',
  flags: {
    scope: { type: 'string', arg: 'S', help: 'Only this scope: global or user:<id>. Default: all.' },
    limit: { type: 'string', arg: 'N', help: 'Most versions to list (1-1000). Default 50.' },
  },
  positionals: 0,
  async run({ flags }, io) {
    const scope = scopeFlag(stringFlag(flags, 'scope'));
    const limit = intFlag(flags, 'limit', 50, { min: 1, max: 1000 });
    const answer = await connect(flags).listModels({ scope, limit });
    if (flags.json) {
      printJson(io.stdout, answer);
      return 0;
    }
    if (answer.models.length === 0) {
      io.stdout.write(`no models${scope ? ` for ${scope}` : ''} yet\n`);
      return 0;
    }
    const rows = answer.models.map((m) => [
      m.scope,
      `v${m.version}`,
      m.status + (m.reason ? ` (${m.reason})` : ''),
      m.head,
      m.specKey,
      accuracy(m.metrics),
      size(m.size),
      m.jobId === null ? '-' : String(m.jobId),
      formatTime(m.createdAt),
    ]);
    io.stdout.write(
      renderTable(
        ['SCOPE', 'VERSION', 'STATUS', 'HEAD', 'SPEC', 'ACCURACY', 'SIZE', 'JOB', 'CREATED'],
        rows,
        [5, 6, 7],
      ),
    );
    return 0;
  },
};

export const modelsCommand: Command = {
  name: 'models',
  summary: 'List the model versions on a running server (scope, status, held-out accuracy).',
  run: (argv, io) => runSubcommand('models', modelsCommand.summary, { list }, 'list', argv, io),
};
