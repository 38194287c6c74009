/**
 * Builds the face app (`web/`) with Vite's JS API into `<outDir>` (default `dist/web`): an
 * `index.html` and hashed `assets/*.js|css`, which `fedex serve` serves at `/` and `/assets/`.
 * `npm run build:web` (and `npm start`, through `prestart`) writes `dist/web`; tests build into a
 * temporary folder.
 *
 * The app imports the device SDK and the clustering straight from `src/`; like the SDK bundle, it
 * must reach no Node built-in (the build fails on a `node:` import). Face models and `.wasm` files
 * are not bundled: the page fetches them from the server's `/sdk/...` routes.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'vite';
import { buildSdk, DEFAULT_BUILD_SDK_OPTIONS, SDK_BUNDLE } from './build-sdk.js';

/** The repository root (this file is `<root>/scripts/build-web.ts`). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Options of `buildWeb`; defaults in `DEFAULT_BUILD_WEB_OPTIONS`. */
export interface BuildWebOptions {
  /** Output folder (emptied first). Default `<root>/dist/web`. */
  outDir: string;
  /** Minify. Default true. */
  minify: boolean;
  /** Source maps beside the scripts. Default true. */
  sourcemap: boolean;
}

export const DEFAULT_BUILD_WEB_OPTIONS: BuildWebOptions = {
  outDir: path.join(PACKAGE_ROOT, 'dist', 'web'),
  minify: true,
  sourcemap: true,
};

/** What was written. */
export interface BuiltWeb {
  outDir: string;
  /** Files written, relative to `outDir`, with their sizes. */
  files: { file: string; bytes: number }[];
}

/** Fails the build on a Node built-in: the face app runs in a browser only. */
const noNodeBuiltins: Plugin = {
  name: 'fedex-no-node-builtins',
  enforce: 'pre',
  resolveId(source, importer) {
    if (source.startsWith('node:'))
      this.error(`the face app imports the Node built-in "${source}" (from ${importer ?? '?'})`);
    return null;
  },
};

function listFiles(dir: string, base = dir): { file: string; bytes: number }[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    const s = statSync(full);
    return s.isDirectory() ? listFiles(full, base) : [{ file: path.relative(base, full), bytes: s.size }];
  });
}

/**
 * Builds the face app.
 *
 * @example
 * const { files } = await buildWeb({ outDir: await mkdtemp(path.join(tmpdir(), 'web-')) });
 */
export async function buildWeb(options: Partial<BuildWebOptions> = {}): Promise<BuiltWeb> {
  const o = { ...DEFAULT_BUILD_WEB_OPTIONS, ...options };
  mkdirSync(o.outDir, { recursive: true });
  await build({
    root: path.join(PACKAGE_ROOT, 'web'),
    base: '/',
    configFile: false,
    envFile: false,
    logLevel: 'warn',
    clearScreen: false,
    // web/public/ is copied as is: the service worker (sw.js), served at /sw.js.
    publicDir: path.join(PACKAGE_ROOT, 'web', 'public'),
    plugins: [noNodeBuiltins],
    // The face worker (web/src/import-worker.ts) is an ES module worker with its own chunks.
    worker: { format: 'es', plugins: () => [noNodeBuiltins] },
    build: {
      outDir: o.outDir,
      emptyOutDir: true,
      assetsDir: 'assets',
      target: 'es2022',
      minify: o.minify,
      sourcemap: o.sourcemap,
      // tfjs and face-api make one large chunk; the page loads it once and the browser caches it.
      chunkSizeWarningLimit: 5000,
      reportCompressedSize: false,
    },
  });
  return { outDir: o.outDir, files: listFiles(o.outDir) };
}

/** Newest modification time (ms) of the files under `dirs` (recursively) and of `files`; 0 if none. */
export function newestMtime(dirs: readonly string[], files: readonly string[] = []): number {
  let newest = 0;
  const visit = (p: string) => {
    let s;
    try {
      s = statSync(p);
    } catch {
      return;
    }
    if (s.isDirectory()) {
      for (const name of readdirSync(p))
        if (!name.startsWith('.') && name !== 'node_modules') visit(path.join(p, name));
    } else newest = Math.max(newest, s.mtimeMs);
  };
  for (const d of dirs) visit(d);
  for (const f of files) visit(f);
  return newest;
}

/**
 * True when `output` exists and is newer than every source it is built from: the app (`web/`),
 * the code it bundles (`src/`) and the installed packages (`package-lock.json`). `npm start`
 * rebuilds only then, so a restart costs nothing.
 */
export function isFresh(output: string, root: string = PACKAGE_ROOT): boolean {
  let built;
  try {
    built = statSync(output).mtimeMs;
  } catch {
    return false;
  }
  const sources = newestMtime(
    [path.join(root, 'web'), path.join(root, 'src')],
    [path.join(root, 'package-lock.json')],
  );
  return built >= sources;
}

const isMain =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  // tsx scripts/build-web.ts [outDir] [--if-stale] [--sdk]
  //   --if-stale: skip what is newer than its sources; --sdk: build the SDK bundle (dist/sdk) too.
  const args = process.argv.slice(2);
  const ifStale = args.includes('--if-stale');
  const withSdk = args.includes('--sdk');
  const outArg = args.find((a) => !a.startsWith('--'));
  const outDir = outArg ? path.resolve(outArg) : DEFAULT_BUILD_WEB_OPTIONS.outDir;
  const seconds = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const run = async () => {
    if (withSdk) {
      const sdkFile = path.join(DEFAULT_BUILD_SDK_OPTIONS.outDir, SDK_BUNDLE);
      if (ifStale && isFresh(sdkFile)) console.log(`${path.relative(process.cwd(), sdkFile)} is up to date`);
      else {
        const t0 = Date.now();
        const b = await buildSdk();
        console.log(
          `wrote ${path.relative(process.cwd(), b.file)} (${(b.bytes / 1e6).toFixed(2)} MB) in ${seconds(t0)}`,
        );
      }
    }
    const index = path.join(outDir, 'index.html');
    if (ifStale && isFresh(index)) {
      console.log(`${path.relative(process.cwd(), outDir) || '.'} is up to date (the face app)`);
      return;
    }
    const t0 = Date.now();
    console.log('building the face app (Vite)…');
    const b = await buildWeb({ outDir });
    const total = b.files.reduce((n, f) => n + f.bytes, 0);
    console.log(
      `wrote ${path.relative(process.cwd(), b.outDir) || '.'}: ${b.files.length} files, ` +
        `${(total / 1e6).toFixed(2)} MB, in ${seconds(t0)}`,
    );
  };
  run().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
