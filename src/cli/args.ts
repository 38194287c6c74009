/**
 * Flag parsing for the `fedex` commands: a thin typed layer over `node:util` parseArgs that turns
 * every malformed flag into a `BAD_ARGUMENT` FedexError with a message naming the flag, so each
 * command validates its input once, at the boundary.
 */
import { parseArgs } from 'node:util';
import { FedexError } from '../core/errors.js';

/** Declaration of one flag, used for parsing and for `--help`. */
export interface FlagSpec {
  type: 'string' | 'boolean';
  /** One-line description for --help; mention the default there. */
  help: string;
  /** Placeholder shown in --help, e.g. `DIR`. */
  arg?: string;
  short?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

/** Parsed flags: strings for string flags, booleans for boolean ones, undefined when absent. */
export type ParsedFlags = Record<string, string | boolean | undefined>;

/** Parses argv against the specs; unknown flags and stray positionals are errors. */
export function parseFlags(
  argv: string[],
  specs: FlagSpecs,
  options: { positionals?: number } = {},
): { flags: ParsedFlags; positionals: string[] } {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, s] of Object.entries(specs))
    config[name] = { type: s.type, ...(s.short ? { short: s.short } : {}) };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new FedexError('BAD_ARGUMENT', (cause as Error).message, { cause });
  }
  const max = options.positionals ?? 0;
  if (parsed.positionals.length > max) {
    throw new FedexError('BAD_ARGUMENT', `unexpected argument "${parsed.positionals[max]}"`);
  }
  return { flags: parsed.values as ParsedFlags, positionals: parsed.positionals };
}

/** A string flag's value, or the default. */
export function stringFlag(flags: ParsedFlags, name: string, fallback: string): string;
export function stringFlag(flags: ParsedFlags, name: string): string | undefined;
export function stringFlag(flags: ParsedFlags, name: string, fallback?: string): string | undefined {
  const v = flags[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v.length === 0)
    throw new FedexError('BAD_ARGUMENT', `--${name} needs a value`);
  return v;
}

/** An integer flag within [min, max], or the default. */
export function intFlag(
  flags: ParsedFlags,
  name: string,
  fallback: number | undefined,
  range: { min?: number; max?: number } = {},
): number | undefined {
  const raw = stringFlag(flags, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw))
    throw new FedexError('BAD_ARGUMENT', `--${name} must be an integer, got "${raw}"`);
  const n = Number(raw);
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = range;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new FedexError('BAD_ARGUMENT', `--${name} must be between ${min} and ${max}, got ${raw}`);
  }
  return n;
}

/** A flag whose value must be one of `choices`. */
export function choiceFlag<T extends string>(
  flags: ParsedFlags,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const raw = stringFlag(flags, name, fallback);
  if (!(choices as readonly string[]).includes(raw)) {
    throw new FedexError('BAD_ARGUMENT', `--${name} must be one of ${choices.join(', ')}; got "${raw}"`);
  }
  return raw as T;
}

/** Renders the --help text of a command. */
export function renderHelp(usage: string, summary: string, specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = `  ${s.short ? `-${s.short}, ` : ''}--${name}${s.arg ? ` ${s.arg}` : ''}`;
    return { left, help: s.help };
  });
  rows.push({ left: '  -h, --help', help: 'Show this help.' });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  return [
    `Usage: ${usage}`,
    '',
    summary,
    '',
    'Options:',
    ...rows.map((r) => r.left.padEnd(width) + r.help),
    '',
  ].join('\n');
}
