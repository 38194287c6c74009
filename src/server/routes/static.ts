/**
 * Static files for the browser device SDK, no authentication (same origin as the API, so no CORS):
 *
 * - `GET /sdk/`: a small demo page importing the bundle.
 * - `GET /sdk/fedex-device.js` (+ `.map`, `.LEGAL.txt`): the bundle from `config.sdkDir` (default
 *   `<package>/dist/sdk`, written by `npm run build:sdk`).
 * - `GET /sdk/models/face-api/<file>`: face-api's model manifests and shards (`.json`, `.bin`).
 * - `GET /sdk/wasm/<file>`: the tfjs WASM backend's binaries (`.wasm` only).
 *
 * Each folder is a fixed root; a requested name is resolved inside it and refused unless the result
 * stays inside (`..`, encoded slashes, absolute paths) and has an allowed extension. Files are
 * streamed with a weak ETag from size and mtime, so a page reloads them for free.
 */
import { createReadStream, statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FedexError } from '../../core/errors.js';
import type { AppContext, Guards } from '../app.js';
import { etagMatches } from './models.js';

const require = createRequire(import.meta.url);

/** The package root (this file is `<root>/src/server/routes/static.ts`). */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Default `sdkDir`: where `npm run build:sdk` writes the bundle. */
export const DEFAULT_SDK_DIR = path.join(PACKAGE_ROOT, 'dist', 'sdk');

/** Content types by extension; a file with any other extension is never served. */
export const STATIC_TYPES: Readonly<Record<string, string>> = {
  '.js': 'application/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** The folders served, each with the extensions allowed in it. */
export interface StaticRoots {
  sdk: string;
  models: string;
  wasm: string;
}

export function staticRoots(sdkDir?: string): StaticRoots {
  const pkgDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));
  return {
    sdk: path.resolve(sdkDir ?? DEFAULT_SDK_DIR),
    models: path.join(pkgDir('@vladmandic/face-api'), 'model'),
    wasm: path.join(pkgDir('@tensorflow/tfjs-backend-wasm'), 'dist'),
  };
}

/**
 * The absolute path of `name` inside `root`, or null when it would leave the folder, names a
 * sub-folder, or has an extension not in `allowed`. Pure (does not touch the disk).
 *
 * @example
 * safeStaticPath('/srv/sdk', 'fedex-device.js', ['.js']); // '/srv/sdk/fedex-device.js'
 * safeStaticPath('/srv/sdk', '../secret.js', ['.js']);    // null
 */
export function safeStaticPath(root: string, name: string, allowed: readonly string[]): string | null {
  if (name.length === 0 || name.length > 200 || name.includes('\0')) return null;
  if (name.includes('/') || name.includes('\\') || name.startsWith('.')) return null;
  const base = path.resolve(root);
  const full = path.resolve(base, name);
  if (!full.startsWith(base + path.sep) || path.dirname(full) !== base) return null;
  if (!allowed.includes(path.extname(full).toLowerCase())) return null;
  return full;
}

function statFile(file: string): Stats | null {
  try {
    const s = statSync(file);
    return s.isFile() ? s : null;
  } catch {
    return null;
  }
}

/** The demo page: pick photos, see descriptors; the bundle's own exports do the work. */
export const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FedEx device SDK</title>
<style>body{font:15px system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}</style>
</head>
<body>
<h1>FedEx device SDK</h1>
<p>Photos stay on this page: the face model runs here (TensorFlow.js, WASM) and turns each photo into a
128-number descriptor. Only descriptors are ever uploaded.</p>
<p><input id="photos" type="file" accept="image/*" multiple disabled></p>
<pre id="log">loading the face models…</pre>
<script type="module">
import { createBrowserFaceExtractor, rawImageFrom } from './fedex-device.js';
const log = document.getElementById('log');
const input = document.getElementById('photos');
const say = (line) => { log.textContent += '\\n' + line; };
try {
  const { extractor, runtime } = await createBrowserFaceExtractor();
  say('ready: tfjs ' + runtime.version + ' on ' + runtime.backend);
  input.disabled = false;
  input.addEventListener('change', async () => {
    for (const file of input.files) {
      const t0 = performance.now();
      const d = await extractor.extract(await rawImageFrom(file));
      const ms = (performance.now() - t0).toFixed(0);
      say(file.name + ': ' + (d ? 'face, descriptor [' + Array.from(d.slice(0, 4), (v) => v.toFixed(3)).join(', ') + ', …]' : 'no face') + ' (' + ms + ' ms)');
    }
  });
} catch (e) {
  say('failed: ' + (e && e.message ? e.message : e));
}
</script>
</body>
</html>
`;

export function registerStaticRoutes(app: FastifyInstance, ctx: AppContext, _guards: Guards): void {
  const roots = staticRoots(ctx.config.sdkDir);

  const send = (
    req: FastifyRequest,
    reply: FastifyReply,
    root: string,
    name: string,
    allowed: readonly string[],
    missing: string,
  ) => {
    const file = safeStaticPath(root, name, allowed);
    const stats = file ? statFile(file) : null;
    if (!file || !stats) throw new FedexError('NOT_FOUND', missing);
    const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    void reply.header('etag', etag).header('cache-control', 'no-cache');
    if (etagMatches(req.headers['if-none-match'], etag.slice(2))) return reply.status(304).send();
    return reply
      .type(STATIC_TYPES[path.extname(file).toLowerCase()])
      .header('content-length', String(stats.size))
      .send(createReadStream(file));
  };

  const fileParams = {
    type: 'object',
    required: ['file'],
    properties: { file: { type: 'string' } },
  } as const;
  const schema = (summary: string) => ({
    summary,
    tags: ['sdk'],
    security: [],
    params: fileParams,
    hide: true,
  });

  app.get('/sdk', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/sdk/'));
  app.get('/sdk/', { schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(DEMO_PAGE),
  );
  app.get<{ Params: { file: string } }>(
    '/sdk/:file',
    { schema: schema('The browser SDK bundle') },
    async (req, reply) => {
      const built = statFile(path.join(roots.sdk, 'fedex-device.js')) !== null;
      const missing = built
        ? `no SDK file "${req.params.file}"`
        : `the browser SDK is not built (no fedex-device.js in ${roots.sdk}): run "npm run build:sdk"`;
      return send(req, reply, roots.sdk, req.params.file, ['.js', '.map', '.txt'], missing);
    },
  );
  app.get<{ Params: { file: string } }>(
    '/sdk/models/face-api/:file',
    { schema: schema('face-api model files') },
    async (req, reply) =>
      send(
        req,
        reply,
        roots.models,
        req.params.file,
        ['.json', '.bin'],
        `no model file "${req.params.file}"`,
      ),
  );
  app.get<{ Params: { file: string } }>(
    '/sdk/wasm/:file',
    { schema: schema('tfjs WASM backend binaries') },
    async (req, reply) =>
      send(req, reply, roots.wasm, req.params.file, ['.wasm'], `no wasm file "${req.params.file}"`),
  );
}
