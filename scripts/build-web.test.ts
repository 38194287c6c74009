import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isFresh, newestMtime } from './build-web.js';

// buildWeb itself runs in web/face-app.e2e.test.ts (the app it builds is the one the test drives).
describe('build-web freshness (npm start rebuilds only what changed)', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });

  /** A package root with web/, src/ and a lock file, all dated `t` (seconds). */
  function tree(t: number): string {
    const r = mkdtempSync(path.join(tmpdir(), 'fedex-build-web-'));
    mkdirSync(path.join(r, 'web', 'src'), { recursive: true });
    mkdirSync(path.join(r, 'src', 'device'), { recursive: true });
    for (const f of ['web/index.html', 'web/src/main.ts', 'src/device/sdk.ts', 'package-lock.json']) {
      writeFileSync(path.join(r, f), 'x');
      utimesSync(path.join(r, f), t, t);
    }
    return r;
  }

  it('finds the newest file under the folders, recursively', () => {
    root = tree(1_000);
    utimesSync(path.join(root, 'src', 'device', 'sdk.ts'), 2_000, 2_000);
    expect(newestMtime([path.join(root, 'web'), path.join(root, 'src')])).toBe(2_000_000);
    expect(newestMtime([path.join(root, 'missing')])).toBe(0);
  });

  it('says an output newer than every source is fresh, and stale once a source changes', () => {
    root = tree(1_000);
    const out = path.join(root, 'dist', 'index.html');
    expect(isFresh(out, root)).toBe(false); // not built
    mkdirSync(path.dirname(out));
    writeFileSync(out, 'built');
    utimesSync(out, 1_500, 1_500);
    expect(isFresh(out, root)).toBe(true);
    utimesSync(path.join(root, 'web', 'src', 'main.ts'), 1_600, 1_600);
    expect(isFresh(out, root)).toBe(false);
    utimesSync(out, 1_700, 1_700);
    utimesSync(path.join(root, 'package-lock.json'), 1_800, 1_800);
    expect(isFresh(out, root)).toBe(false); // new packages: rebuild
  });
});
