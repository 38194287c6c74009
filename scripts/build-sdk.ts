/**
 * Bundles the browser device SDK (`src/device/browser.ts`) into one ES module,
 * `<outDir>/fedex-device.js` (+ `.map`), which the FedEx server serves at `/sdk/fedex-device.js`.
 * `npm run build:sdk` writes `dist/sdk/`; tests call `buildSdk` into a temporary folder so they
 * never depend on a manual build.
 *
 * The bundle must hold no Node-only code: esbuild resolves packages with their `browser` fields
 * (tfjs maps `fs`, `worker_threads`... to nothing) and fails the build on any `node:` import.
 * Model files and the `.wasm` binaries are not bundled: the page fetches them from the server.
 */
import { build, type Metafile, type Plugin } from 'esbuild';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is `<root>/scripts/build-sdk.ts`). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** File name of the bundle inside `outDir`. */
export const SDK_BUNDLE = 'fedex-device.js';

/** Options of `buildSdk`; defaults in `DEFAULT_BUILD_SDK_OPTIONS`. */
export interface BuildSdkOptions {
  /** Output folder. Default `<root>/dist/sdk`. */
  outDir: string;
  /** Entry module. Default `<root>/src/device/browser.ts`. */
  entry: string;
  /** Minify (smaller download, unreadable stack traces). Default true. */
  minify: boolean;
}

export const DEFAULT_BUILD_SDK_OPTIONS: BuildSdkOptions = {
  outDir: path.join(PACKAGE_ROOT, 'dist', 'sdk'),
  entry: path.join(PACKAGE_ROOT, 'src', 'device', 'browser.ts'),
  minify: true,
};

/** What was written. */
export interface BuiltSdk {
  /** Absolute path of the bundle. */
  file: string;
  bytes: number;
  /** Warnings esbuild printed (e.g. dynamic imports it left alone). */
  warnings: string[];
}

/** Fails the build on a Node built-in: the browser SDK must never reach one. */
const noNodeBuiltins: Plugin = {
  name: 'fedex-no-node-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({
      errors: [{ text: `browser SDK imports the Node built-in "${args.path}" (from ${args.importer})` }],
    }));
  },
};

/**
 * Bundles the SDK for browsers (ES2022 module, source map beside it).
 *
 * @example
 * const { file } = await buildSdk({ outDir: await mkdtemp(path.join(tmpdir(), 'sdk-')) });
 */
export async function buildSdk(options: Partial<BuildSdkOptions> = {}): Promise<BuiltSdk> {
  const o = { ...DEFAULT_BUILD_SDK_OPTIONS, ...options };
  mkdirSync(o.outDir, { recursive: true });
  const file = path.join(o.outDir, SDK_BUNDLE);
  const result = await build({
    entryPoints: [o.entry],
    outfile: file,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify: o.minify,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'linked',
    plugins: [noNodeBuiltins],
    // The face extractor's Node fallback is a variable-specifier dynamic import (never taken in a
    // browser); esbuild leaves it as is and says so.
    logOverride: { 'unsupported-dynamic-import': 'silent' },
  });
  const out = (result.metafile as Metafile).outputs;
  const key = Object.keys(out).find((k) => k.endsWith(SDK_BUNDLE));
  return {
    file,
    bytes: key ? out[key].bytes : 0,
    warnings: result.warnings.map((w) => w.text),
  };
}

const isMain =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const outDir = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  buildSdk(outDir ? { outDir } : {}).then(
    (b) => {
      for (const w of b.warnings) console.warn(`warning: ${w}`);
      console.log(`wrote ${path.relative(process.cwd(), b.file)} (${(b.bytes / 1e6).toFixed(2)} MB)`);
    },
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
