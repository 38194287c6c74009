/**
 * Makes the README's screenshots of the face app (`docs/screenshots/*.png`) from face-api's own
 * demo photos (`@vladmandic/face-api/demo/sample*.jpg`, shipped in the npm package, MIT), not from
 * the bbt test set (stills of a TV series: not ours to publish). Builds the app, starts a throwaway
 * server, drives headless Chromium, names one face per photo's first face, syncs, trains, pulls,
 * and saves the main screens at laptop and phone width.
 *
 *   npx tsx web/screenshots.ts [outDir]     # default docs/screenshots
 *
 * Node only, a tool: not part of the app bundle or the tests.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { buildWeb, PACKAGE_ROOT } from '../scripts/build-web.js';
import { findChromium, launchChromium } from '../src/device/testing/chromium.js';
import { startServer } from '../src/server/server.js';

const require = createRequire(import.meta.url);

async function main(): Promise<void> {
  const outDir = path.resolve(process.argv[2] ?? path.join(PACKAGE_ROOT, 'docs', 'screenshots'));
  const chromium = findChromium();
  if (!chromium) throw new Error('no Chromium found (install Debian chromium or set FEDEX_CHROMIUM)');
  const demo = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
  const photos = readdirSync(demo)
    .filter((f) => /^sample\d\.jpg$/.test(f))
    .sort()
    .map((f) => path.join(demo, f));

  const tmp = mkdtempSync(path.join(tmpdir(), 'fedex-shots-'));
  const raw = path.join(tmp, 'raw');
  mkdirSync(raw);
  mkdirSync(outDir, { recursive: true });
  await buildWeb({ outDir: path.join(tmp, 'web'), sourcemap: false });
  const server = await startServer({
    port: 0,
    dataDir: path.join(tmp, 'data'),
    workers: 1,
    durability: 'normal',
    retrainAfterLabelled: 0,
    signup: 'open',
    webDir: path.join(tmp, 'web'),
  });
  const browser = await launchChromium(chromium);
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 860 } });
    const shot = (name: string) => page.screenshot({ path: path.join(raw, `${name}.png`) });
    await page.goto(`${server.url}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    await page.setInputFiles('#files', photos);
    await page.waitForSelector('#import-status[data-done="true"]', { timeout: 300_000 });
    await page.click('#tab-people');
    await shot('face-app-people');
    await page.click('#tab-gallery');
    // Name two faces of each of the first people found, through the People view's clusters.
    const names = ['Ada', 'Ben', 'Cleo', 'Dev'];
    await page.click('#tab-people');
    for (const name of names) {
      const card = page
        .locator('li.person')
        .filter({ hasText: /· [2-9]\d* faces/ })
        .first();
      if ((await card.count()) === 0) break;
      await card.locator('input').fill(name);
      await card.getByRole('button', { name: /^Name / }).click();
    }
    await page.click('#tab-gallery');
    await page.click('#sync');
    await page.waitForFunction(
      () =>
        document.body.dataset.modelVersion !== undefined ||
        document.getElementById('sync-status')?.dataset.kind === 'error',
      undefined,
      { timeout: 300_000 },
    );
    await shot('face-app-gallery');
    await page.click('#tab-privacy');
    await shot('face-app-transparency');
    await page.setViewportSize({ width: 375, height: 760 });
    await page.click('#tab-gallery');
    await shot('face-app-phone');
  } finally {
    await browser.close();
    await server.close();
  }
  for (const f of readdirSync(raw)) {
    // Modest size for the repository: at most 900 px wide, palette PNG.
    await sharp(path.join(raw, f))
      .resize({ width: 900, withoutEnlargement: true })
      .png({ palette: true, quality: 80, compressionLevel: 9 })
      .toFile(path.join(outDir, f));
    console.log(`wrote ${path.relative(process.cwd(), path.join(outDir, f))}`);
  }
  rmSync(tmp, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
