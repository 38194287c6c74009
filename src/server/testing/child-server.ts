/**
 * Test support: `fedex serve` as a real child process (the way a user runs it), so a test can kill
 * it with SIGKILL mid-request and start it again on the same data folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/fedex.js', import.meta.url));

export interface ChildServer {
  url: string;
  adminKey: string;
  child: ChildProcess;
  /** Output so far (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGKILL: no shutdown code runs, as in a crash. Resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM: graceful stop; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `fedex serve --port 0 --data-dir <dir> ...extra` and waits until it prints its URL. The
 * admin key is the data folder's file, unless `adminKey` is given (as `FEDEX_ADMIN_KEY`, the way
 * several API processes share one).
 */
export async function startChildServer(
  dataDir: string,
  extra: string[] = [],
  timeoutMs = 60_000,
  adminKey?: string,
): Promise<ChildServer> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FEDEX_ADMIN_KEY: adminKey ?? '' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`fedex serve did not start in ${timeoutMs} ms:\n${out}`)),
      timeoutMs,
    );
    const look = () => {
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`fedex serve exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    adminKey: adminKey ?? readFileSync(path.join(dataDir, 'admin-key'), 'utf8').trim(),
    child,
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface ChildWorker {
  child: ChildProcess;
  output(): string;
  /** Jobs this worker reported done (its stdout lines). */
  done(): { job: number; scope: string; version: number | null }[];
  kill(): Promise<void>;
  stop(): Promise<number | null>;
}

/** Starts `fedex worker --database <url> ...extra` and waits until it says it runs. */
export async function startChildWorker(
  database: string,
  extra: string[] = [],
  timeoutMs = 60_000,
): Promise<ChildWorker> {
  const child = spawn(process.execPath, [BIN, 'worker', '--database', database, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env },
  });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`fedex worker did not start in ${timeoutMs} ms:\n${out}`)),
      timeoutMs,
    );
    const look = () => {
      if (/FedEx worker .* thread/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', look);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`fedex worker exited with ${code} before it ran:\n${out}`));
    });
  });
  return {
    child,
    output: () => out,
    done: () =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { job: number; scope: string; version: number | null }),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
