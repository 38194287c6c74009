import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../server/server.js';
import type { CommandIO } from './command.js';
import { REPO_ROOT } from './defaults.js';
import { serve, serveConfig } from './serve.js';
import { run } from './testing/features.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-serve-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function captureIO(): { io: CommandIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stream = (append: (s: string) => void) =>
    ({ write: (s: string) => (append(s), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  return {
    io: { stdout: stream((s) => (out += s)), stderr: stream((s) => (err += s)) },
    out: () => out,
    err: () => err,
  };
}

describe('fedex serve', () => {
  it('runs as a process, prints where it listens, and exits 0 on SIGTERM after closing the database', async () => {
    // Prepare
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', '--data-dir', dir, '--workers', '0'],
      { cwd: REPO_ROOT, env: { ...process.env, FEDEX_ADMIN_KEY: '', FEDEX_PORT: '' }, stdio: 'pipe' },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        stdout += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(stdout);
        if (m && stdout.includes('Stop with')) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });

    // Execute
    const health = await fetch(`${url}/healthz`);
    const openapi = await fetch(`${url}/openapi.json`);
    child.kill('SIGTERM');
    const code = await exited;

    // Assert
    expect(health.status).toBe(200);
    expect(openapi.status).toBe(200);
    expect(code).toBe(0);
    expect(stderr).toContain('stopped');
    expect(existsSync(path.join(dir, 'fedex.db'))).toBe(true);
    // A clean close checkpoints the WAL away.
    expect(existsSync(path.join(dir, 'fedex.db-wal'))).toBe(false);
    const key = readFileSync(path.join(dir, 'admin-key'), 'utf8').trim();
    expect(stdout).toContain(`${url}/openapi.json`);
    expect(stdout).toContain(path.join(dir, 'fedex.db'));
    expect(stdout).toContain(key); // created by this start, so shown once
  }, 60_000);

  it('prints the admin key file but not the key when the key already existed', async () => {
    // Prepare
    const dir = tempDir();
    const first = captureIO();
    const second = captureIO();
    const stop = (io: ReturnType<typeof captureIO>) =>
      new Promise<{ code: number; server: RunningServer }>((resolve, reject) => {
        const ac = new AbortController();
        let server: RunningServer | undefined;
        serve(['--port', '0', '--data-dir', dir, '--workers', '0', '--durability', 'normal'], io.io, {
          signal: ac.signal,
          onListening: (s) => {
            server = s;
            ac.abort();
          },
        }).then((code) => resolve({ code, server: server! }), reject);
      });

    // Execute
    const a = await stop(first);
    const b = await stop(second);

    // Assert
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(first.out()).toContain(a.server.adminKey);
    expect(second.out()).not.toContain(b.server.adminKey);
    expect(second.out()).toContain(path.join(dir, 'admin-key'));
    expect(b.server.config.durability).toBe('normal');
  });

  it('reads FEDEX_PORT, FEDEX_SERVER_DATA and FEDEX_ADMIN_KEY when no flag says', () => {
    // Execute
    const c = serveConfig([], {
      FEDEX_PORT: '9999',
      FEDEX_SERVER_DATA: '/tmp/x',
      FEDEX_ADMIN_KEY: 'k'.repeat(20),
    });
    const flagWins = serveConfig(['--port', '1234'], { FEDEX_PORT: '9999' });

    // Assert
    expect(c).toMatchObject({ port: 9999, dataDir: '/tmp/x', adminKey: 'k'.repeat(20) });
    expect(flagWins).toMatchObject({ port: 1234 });
    expect(serveConfig(['--rate-limit', '0'], {})).toMatchObject({ rateLimitPerSecond: 0 });
    expect(serveConfig(['--enrollment', 'closed'], {})).toMatchObject({ enrollment: 'closed' });
    expect(serveConfig([], {})).toMatchObject({ enrollment: 'open' });
    expect(serveConfig(['--sdk-dir', '/tmp/sdk'], {})).toMatchObject({ sdkDir: '/tmp/sdk' });
    expect(serveConfig(['--rate-limit', '20'], {})).toMatchObject({
      rateLimitPerSecond: 20,
      rateLimitBurst: 40,
    });
  });

  it('maps the hardening flags to the config', () => {
    expect(
      serveConfig(
        ['--max-samples-per-user', '500', '--max-job-epochs', '50', '--job-timeout', '90', '--source-maps'],
        {},
      ),
    ).toMatchObject({
      maxSamplesPerUser: 500,
      maxJobEpochs: 50,
      jobTimeoutMs: 90_000,
      serveSourceMaps: true,
    });
  });

  it('says in one line, without a stack trace, that a read-only data folder cannot be used', () => {
    // Prepare: a folder this process may not write. Root's capabilities override permission bits,
    // so as root the server runs without any (setpriv, util-linux): still uid 0, so it reads the
    // checkout wherever CI cloned it, but the folder's mode 0555 now holds for it too.
    const dir = tempDir();
    chmodSync(dir, 0o555);
    const asRoot = process.getuid?.() === 0;
    const argv = [path.join(REPO_ROOT, 'bin', 'fedex.js'), 'serve', '--port', '0', '--data-dir', dir];
    const cmd = asRoot ? 'setpriv' : process.execPath;
    const args = asRoot ? ['--bounding-set=-all', '--inh-caps=-all', process.execPath, ...argv] : argv;

    // Execute
    const r = spawnSync(cmd, args, {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, FEDEX_ADMIN_KEY: '' },
    });

    // Assert
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `fedex serve: the data folder ${dir} cannot be written (permission denied); give the server a writable folder with --data-dir [UNAVAILABLE]\n`,
    );
  });

  it.each([
    [['--port', 'eighty']],
    [['--port', '70000']],
    [['--durability', 'sometimes']],
    [['--enrollment', 'maybe']],
    [['--workers', '-1']],
    [['--rate-limit', 'lots']],
    [['--max-job-epochs', '0']],
    [['--job-timeout', '-5']],
    [['--no-such-flag']],
  ])('rejects bad flags %j with exit 2', async (flags) => {
    // Execute
    const r = await run(['serve', ...flags, '--data-dir', tempDir()]);

    // Assert
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\[BAD_ARGUMENT\]\n$/);
  });
});
