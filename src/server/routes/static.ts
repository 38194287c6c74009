/**
 * Static files for the browser device SDK, no authentication (same origin as the API, so no CORS):
 *
 * - `GET /sdk/`: a small demo page importing the bundle.
 * - `GET /sdk/fedex-device.js` (+ `.map`, `.LEGAL.txt`): the bundle from `config.sdkDir` (default
 *   `<package>/dist/sdk`, written by `npm run build:sdk`).
 * - `GET /sdk/models/face-api/<file>`: face-api's model manifests and shards (`.json`, `.bin`).
 * - `GET /sdk/wasm/<file>`: the tfjs WASM backend's binaries (`.wasm` only).
 *
 * - `GET /`: the face app's `index.html` from `config.webDir` (default `<package>/dist/web`, written
 *   by `npm run build:web`; until then a page that says how to build it), and `GET /assets/<file>`:
 *   its hashed scripts and styles; `GET /sw.js`: its service worker. No `/v1/...` route is touched and none of these is in OpenAPI.
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
import type { AppContext, Guards } from '../context.js';
import { cspForInlinePage } from '../security-headers.js';
import { etagMatches } from './models.js';

const require = createRequire(import.meta.url);

/** The package root (this file is `<root>/src/server/routes/static.ts`). */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Default `sdkDir`: where `npm run build:sdk` writes the bundle. */
export const DEFAULT_SDK_DIR = path.join(PACKAGE_ROOT, 'dist', 'sdk');

/** Default `webDir`: where `npm run build:web` writes the face app. */
export const DEFAULT_WEB_DIR = path.join(PACKAGE_ROOT, 'dist', 'web');

/** Content types by extension; a file with any other extension is never served. */
export const STATIC_TYPES: Readonly<Record<string, string>> = {
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8',
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
  /** The face app (`index.html`), and its `assets/` sub-folder served as a root of its own. */
  web: string;
}

/** Extensions served from the face app's `assets/` folder (what Vite writes there). */
export const WEB_ASSET_TYPES: readonly string[] = ['.js', '.css', '.map', '.svg'];

export function staticRoots(sdkDir?: string, webDir?: string): StaticRoots {
  const pkgDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));
  return {
    web: path.resolve(webDir ?? DEFAULT_WEB_DIR),
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

/** The demo page's CSP: the app policy plus the hashes of its one inline script and style. */
const DEMO_PAGE_CSP = cspForInlinePage(DEMO_PAGE);

/** What `/` answers while the face app is not built (404): how to build it. */
export function webMissingPage(webDir: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>FedEx: the face app is not built</title>
<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}code{background:#f4f4f4;padding:.1em .3em}</style>
</head>
<body>
<h1>The face app is not built yet</h1>
<p>This server serves the face app from <code>${escapeHtml(webDir)}</code>, and there is no
<code>index.html</code> there. Build it with <code>npm run build:web</code> (or start the server with
<code>npm start</code>, which builds it first), then reload this page.</p>
<p>The API is up: <a href="/openapi.json">/openapi.json</a>, the SDK demo at <a href="/sdk/">/sdk/</a>.</p>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function registerStaticRoutes(app: FastifyInstance, ctx: AppContext, _guards: Guards): void {
  const roots = staticRoots(ctx.config.sdkDir, ctx.config.webDir);
  // Source maps (the SDK's is 18 MB and holds every source file) only where a developer asks.
  const withMaps = (types: readonly string[]) =>
    ctx.config.serveSourceMaps ? types : types.filter((t) => t !== '.map');
  const sdkTypes = withMaps(['.js', '.map', '.txt']);
  const webTypes = withMaps(WEB_ASSET_TYPES);

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

  app.get('/', { schema: { hide: true } }, async (req, reply) => {
    if (!statFile(path.join(roots.web, 'index.html'))) {
      const page = webMissingPage(roots.web);
      return reply
        .status(404)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('content-security-policy', cspForInlinePage(page))
        .send(page);
    }
    return send(req, reply, roots.web, 'index.html', ['.html'], 'no index.html');
  });
  // The app's service worker (it caches the app, models and wasm for offline use; never the API).
  app.get('/sw.js', { schema: { hide: true } }, async (req, reply) =>
    send(req, reply, roots.web, 'sw.js', ['.js'], 'no service worker (npm run build:web)'),
  );
  app.get<{ Params: { file: string } }>(
    '/assets/:file',
    { schema: { ...schema('The face app: scripts and styles'), tags: ['web'] } },
    async (req, reply) =>
      send(
        req,
        reply,
        path.join(roots.web, 'assets'),
        req.params.file,
        webTypes,
        `no face app file "${req.params.file}" (npm run build:web)`,
      ),
  );
  app.get('/sdk', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/sdk/'));
  app.get('/sdk/', { schema: { hide: true } }, async (_req, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('content-security-policy', DEMO_PAGE_CSP)
      .send(DEMO_PAGE),
  );
  app.get<{ Params: { file: string } }>(
    '/sdk/:file',
    { schema: schema('The browser SDK bundle') },
    async (req, reply) => {
      const built = statFile(path.join(roots.sdk, 'fedex-device.js')) !== null;
      const missing = built
        ? `no SDK file "${req.params.file}"`
        : `the browser SDK is not built (no fedex-device.js in ${roots.sdk}): run "npm run build:sdk"`;
      return send(req, reply, roots.sdk, req.params.file, sdkTypes, missing);
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
