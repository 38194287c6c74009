/**
 * What the admin commands (`fedex users`, `models`, `jobs`) share: the connection flags and where
 * their defaults come from, the admin-key lookup, aligned tables, and subcommand dispatch. The
 * commands talk to a running server over HTTP only (never to its database file), so they work the
 * same against a server on this machine or elsewhere.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { FedexError } from '../core/errors.js';
import { ApiClient } from './api-client.js';
import { parseFlags, renderHelp, stringFlag, type FlagSpecs, type ParsedFlags } from './args.js';

/** `http://127.0.0.1:8787`: where `fedex serve` listens by default. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8787';
/** The server's data folder when neither `--data-dir` nor `FEDEX_SERVER_DATA` says. */
export const DEFAULT_SERVER_DATA_DIR = 'fedex-data';

/** The data folder: the flag, else `$FEDEX_SERVER_DATA`, else `./fedex-data`. */
export function serverDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? (env.FEDEX_SERVER_DATA || DEFAULT_SERVER_DATA_DIR));
}

export const CONNECTION_FLAGS: FlagSpecs = {
  server: {
    type: 'string',
    arg: 'URL',
    help: `Server URL. Default $FEDEX_SERVER, else ${DEFAULT_SERVER_URL}.`,
  },
  'admin-key': {
    type: 'string',
    arg: 'KEY',
    help: 'Admin key. Default $FEDEX_ADMIN_KEY, else the admin-key file in the data folder.',
  },
  'data-dir': {
    type: 'string',
    arg: 'DIR',
    help: 'Server data folder holding admin-key. Default $FEDEX_SERVER_DATA, else ./fedex-data.',
  },
  json: { type: 'boolean', help: 'Print the JSON answer on stdout instead of a table.' },
};

/** The admin key: `--admin-key`, else `$FEDEX_ADMIN_KEY`, else `<data dir>/admin-key`. */
export function resolveAdminKey(flags: ParsedFlags): string {
  const given = stringFlag(flags, 'admin-key') ?? process.env.FEDEX_ADMIN_KEY;
  if (given !== undefined && given.length > 0) return given;
  const file = path.join(serverDataDir(stringFlag(flags, 'data-dir')), 'admin-key');
  if (!existsSync(file)) {
    throw new FedexError(
      'AUTH_REQUIRED',
      `no admin key: pass --admin-key, set FEDEX_ADMIN_KEY, or point --data-dir at the server's data folder (${file} does not exist)`,
    );
  }
  const key = readFileSync(file, 'utf8').trim();
  if (key.length === 0) throw new FedexError('AUTH_REQUIRED', `${file} is empty`);
  return key;
}

/** A client for the server the flags name. */
export function connect(flags: ParsedFlags): ApiClient {
  const baseUrl = stringFlag(flags, 'server') ?? process.env.FEDEX_SERVER ?? DEFAULT_SERVER_URL;
  return new ApiClient({ baseUrl, token: resolveAdminKey(flags) });
}

/** Columns padded to their widest cell; numbers (by the `right` indexes) aligned right. */
export function renderTable(head: string[], rows: string[][], right: number[] = []): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

/** `2024-05-01 12:34:56` (UTC) from epoch ms or an ISO string; `-` for none. */
export function formatTime(t: number | string | null | undefined): string {
  if (t === null || t === undefined) return '-';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/** JSON for `--json`, one document per run. */
export function printJson(stream: NodeJS.WriteStream, value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One subcommand of an admin command: its flags, how many positionals, and what it does. */
export interface Subcommand {
  usage: string;
  summary: string;
  flags: FlagSpecs;
  positionals: number;
  run(
    args: { flags: ParsedFlags; positionals: string[] },
    io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream },
  ): Promise<number>;
}

/**
 * Dispatches `fedex <name> [sub] ...` to its subcommand (`fallback` when the first argument is a
 * flag or absent), checking the subcommand's flags only; `--help` lists every subcommand.
 */
export async function runSubcommand(
  name: string,
  summary: string,
  subs: Record<string, Subcommand>,
  fallback: string | null,
  argv: string[],
  io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream },
): Promise<number> {
  const first = argv[0];
  if (first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(helpOf(name, summary, subs));
    return 0;
  }
  const named = first !== undefined && !first.startsWith('-');
  const subName = named ? first : fallback;
  if (subName === null) {
    io.stderr.write(helpOf(name, summary, subs));
    return 2;
  }
  if (!Object.hasOwn(subs, subName)) {
    throw new FedexError(
      'BAD_ARGUMENT',
      `unknown subcommand "${subName}" (one of ${Object.keys(subs).join(', ')})`,
    );
  }
  const rest = named ? argv.slice(1) : argv;
  const sub = subs[subName];
  const specs = { ...sub.flags, ...CONNECTION_FLAGS };
  const parsed = parseFlags(rest, specs, { positionals: sub.positionals });
  if (parsed.flags.help) {
    io.stdout.write(renderHelp(sub.usage, sub.summary, specs));
    return 0;
  }
  return sub.run(parsed, io);
}

function helpOf(name: string, summary: string, subs: Record<string, Subcommand>): string {
  const lines = [`Usage: fedex ${name} <subcommand> [options]`, '', summary, '', 'Subcommands:'];
  for (const s of Object.values(subs)) lines.push(`  ${s.usage}`, `      ${s.summary}`);
  lines.push('', `Run 'fedex ${name} <subcommand> --help' for its options. Every subcommand takes:`);
  lines.push(renderHelp('', '', CONNECTION_FLAGS).split('\n').slice(5).join('\n'));
  return lines.join('\n');
}
