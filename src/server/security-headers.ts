/**
 * Security headers on every response of the server (API, face app, SDK files), set in one
 * `onSend` hook: no MIME sniffing, no framing by another site, no referrer, and a Content Security
 * Policy. The API's answers get the strictest policy (nothing may load); the app's files (pages,
 * and scripts: a worker runs under its own script's policy) get one that lets the face app run its own scripts, WebAssembly (tfjs's WASM backend needs
 * `'wasm-unsafe-eval'`), blob: workers and images, and talk to this origin only. A route that sends
 * inline script or style (the SDK demo page) sets its own policy with their hashes; the hook keeps
 * a policy a route already set.
 */
import { createHash } from 'node:crypto';

/** The face app's policy (its scripts and styles are files of this origin). */
export const APP_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The API's answers: nothing may load, nothing may frame it. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** Headers every response carries (the CSP is chosen by content type). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * A policy like {@link APP_CSP} that also allows the inline `<script>` and `<style>` blocks of
 * `html` by their sha256 (for a page built in code, like the SDK demo).
 */
export function cspForInlinePage(html: string): string {
  const hashes = (tag: string) =>
    [...html.matchAll(new RegExp(`<${tag}[^>]*>([\\s\\S]*?)</${tag}>`, 'g'))]
      .filter((m) => m[1].length > 0)
      .map((m) => `'sha256-${createHash('sha256').update(m[1]).digest('base64')}'`);
  return APP_CSP.replace(
    "script-src 'self' 'wasm-unsafe-eval'",
    ["script-src 'self' 'wasm-unsafe-eval'", ...hashes('script')].join(' '),
  ).replace("style-src 'self'", ["style-src 'self'", ...hashes('style')].join(' '));
}

/** True for the API's paths (`/v1/...`, `/healthz`, `/metrics`, `/openapi.json`), false for the app's files. */
export function isApiPath(url: string): boolean {
  const p = url.split('?')[0];
  return p.startsWith('/v1/') || p === '/healthz' || p === '/metrics' || p === '/openapi.json';
}
