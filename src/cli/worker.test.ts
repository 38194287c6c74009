import { describe, expect, it } from 'vitest';
import { runCli } from './main.js';
import { databaseUrl } from './serve.js';

/** Runs the CLI with captured output. */
async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WriteStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WriteStream,
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

describe('--database and fedex worker', () => {
  it('takes the flag, else FEDEX_DATABASE_URL, and nothing else than postgres:// URLs', () => {
    expect(databaseUrl(undefined, {})).toBeUndefined();
    expect(databaseUrl(undefined, { FEDEX_DATABASE_URL: '' })).toBeUndefined();
    expect(databaseUrl(undefined, { FEDEX_DATABASE_URL: 'postgres://a@h/db' })).toBe('postgres://a@h/db');
    expect(databaseUrl('postgresql://b@h:5433/x', { FEDEX_DATABASE_URL: 'postgres://a@h/db' })).toBe(
      'postgresql://b@h:5433/x',
    );
    expect(() => databaseUrl('fedex.db', {})).toThrow(/--database takes a postgres:\/\/.*got "fedex.db"/);
    expect(() => databaseUrl(undefined, { FEDEX_DATABASE_URL: 'sqlite:x' })).toThrow(
      /from FEDEX_DATABASE_URL/,
    );
  });

  it('fedex worker without a database is a usage error in one line', async () => {
    const before = process.env.FEDEX_DATABASE_URL;
    delete process.env.FEDEX_DATABASE_URL;
    try {
      const r = await cli(['worker']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/fedex worker needs --database postgres:\/\/.*\[BAD_ARGUMENT\]/);
    } finally {
      if (before !== undefined) process.env.FEDEX_DATABASE_URL = before;
    }
  });

  it('fedex worker --help lists its flags; fedex --help lists the command', async () => {
    const help = await cli(['worker', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--database', '--workers', '--lease', '--job-timeout'])
      expect(help.stdout).toContain(flag);
    expect((await cli(['--help'])).stdout).toMatch(/worker\s+Run training workers on a shared PostgreSQL/);
  });

  it('fedex worker with an unreachable database says so in one line', async () => {
    const r = await cli(['worker', '--database', 'postgres://fedex:pw@127.0.0.1:9/fedex', '--workers', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /cannot connect to PostgreSQL at postgres:\/\/fedex:\*\*\*@127\.0\.0\.1:9\/fedex.*\[UNAVAILABLE\]/,
    );
  });
});
