/* global self, caches, fetch */
/*
 * Service worker of the face app: lets the app open with no server, from what it already has.
 * It keeps the app shell (`/`, `/assets/*`), the face models (`/sdk/models/face-api/*`) and the
 * tfjs WASM binaries (`/sdk/wasm/*`) in a cache and answers from it when the network fails
 * (network first, so a new build or model is picked up as soon as the server answers).
 *
 * It never touches the API (`/v1/...`), any other path, or any request that is not a GET: uploads
 * go straight to the network, and nothing a page sends is stored here. Plain JS: served as is.
 */
const CACHE = 'fedex-face-app-v1';

/** Paths the cache may hold: the app, the models, the wasm. Nothing else, never the API. */
function cacheable(url) {
  if (url.origin !== self.location.origin) return false;
  const p = url.pathname;
  return (
    p === '/' ||
    p.startsWith('/assets/') ||
    p.startsWith('/sdk/models/face-api/') ||
    p.startsWith('/sdk/wasm/')
  );
}

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || !cacheable(new URL(request.url))) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(request);
        if (response.ok) await cache.put(request, response.clone());
        return response;
      } catch (error) {
        const cached = await cache.match(request, { ignoreVary: true });
        if (cached) return cached;
        throw error;
      }
    })(),
  );
});
