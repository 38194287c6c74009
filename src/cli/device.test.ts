/**
 * `fedex device` against an in-process server. The argument checks need nothing; the whole flow
 * (enroll, add a folder, sync, train, pull, predict, status) runs the real face bottom on a few
 * photos of the bbt demo dataset (about 0.5 s a photo), so it needs that dataset.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeFileDeviceStore } from '../device/store/node-files.js';
import { enrollmentTokenFor, fakeExtractor, fakePhoto } from '../device/testing/fixtures.js';
import { loadBackbone } from '../model/backbones/registry.js';
import { sumCosts } from '../model/layer-cost.js';
import { initRuntime } from '../runtime/node.js';
import { startServer, type RunningServer } from '../server/server.js';
import { describeWithData } from '../testing/describe-with-data.js';
import type { CommandIO } from './command.js';
import { createDeviceCommand, deviceCommand, FACE_EMBEDDING_FLOPS, listDevicePhotos } from './device.js';

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

async function device(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureIO();
  const { runCli } = await import('./main.js');
  const code = await runCli(['device', ...argv], c.io);
  return { code, out: c.out(), err: c.err() };
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fedex-device-cli-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('fedex device', () => {
  it('is registered and refuses bad usage with exit code 2', async () => {
    expect(deviceCommand.name).toBe('device');
    expect((await device(['nope'])).code).toBe(2);
    expect((await device(['enroll', '--server', 'http://127.0.0.1:1'])).code).toBe(2);
    expect((await device(['add'])).code).toBe(2);
    expect((await device(['predict', '--state', tempDir()])).code).toBe(2);
    const help = await device(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('predict');
  });

  it('refuses a bad --feature-noise in one line with exit code 2, before reading any photo', async () => {
    const r = await device(['add', tempDir(), '--feature-noise', 'gauss:-1', '--state', tempDir()]);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/bad feature noise "gauss:-1".*\[BAD_ARGUMENT\]/);
    expect((await device(['add', '--help'])).out).toContain('--feature-noise SPEC');
  });

  it('says a folder without enrollment is not enrolled', async () => {
    const r = await device(['sync', '--state', tempDir()]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('DEVICE_NOT_ENROLLED');
  });

  it('lists photos: a sub-folder names them, loose photos are unlabelled', () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'ann'));
    for (const f of ['ann/1.jpg', 'ann/2.png', 'ann/notes.txt', 'loose.jpg']) {
      writeFileSync(path.join(dir, f), '');
    }
    expect(listDevicePhotos(dir).map((p) => [p.id, p.label])).toEqual([
      ['ann/1.jpg', 'ann'],
      ['ann/2.png', 'ann'],
      ['loose.jpg', null],
    ]);
  });

  it('counts the FLOPs of the face embedding network as its backbone does', async () => {
    await initRuntime();
    const bb = await loadBackbone('faceapi-resnet');
    expect(sumCosts(bb.bottomCosts('embedding')).forwardFlops).toBe(FACE_EMBEDDING_FLOPS);
  }, 60_000);
});

describe('fedex device add --feature-noise (a fake bottom)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ port: 0, dataDir: tempDir(), workers: 0, durability: 'normal' });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  it('keeps noisy features on the device for upload and says so', async () => {
    // Prepare: a folder of two photos of person 0, read back as fake photos the fake bottom knows.
    const photos = tempDir();
    mkdirSync(path.join(photos, 'ann'));
    for (const n of [1, 2]) writeFileSync(path.join(photos, 'ann', `${n}.png`), '');
    const cli = createDeviceCommand({
      bottom: async () => ({ extractor: fakeExtractor(), flopsPerPhoto: 0 }),
      readImage: async (file) => fakePhoto(0, Number(path.basename(file, '.png'))),
    });
    const run = async (argv: string[]) => {
      const c = captureIO();
      return { code: await cli.run(argv, c.io), out: c.out(), err: c.err() };
    };
    const state = tempDir();
    const token = await enrollmentTokenFor(server, 'noisy-cli');

    // Execute
    expect((await run(['enroll', '--server', server.url, '--token', token, '--state', state])).code).toBe(0);
    const added = await run(['add', photos, '--feature-noise', 'gauss:0.5', '--state', state]);
    const json = await run(['add', photos, '--feature-noise', 'gauss:0.5', '--state', state, '--json']);

    // Assert: the pending features in the state folder are not the clean ones.
    expect(added.code, added.err).toBe(0);
    expect(added.out).toContain('noised here (gauss:0.5)');
    expect(JSON.parse(json.out)).toMatchObject({ found: 2, featureNoise: 'gauss:0.5' });
    const store = await NodeFileDeviceStore.open(state);
    const keys = await store.keys('pending.');
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      const p = (await store.getJson<{ id: string; features: number[] }>(key))!;
      const clean = (await fakeExtractor().extract(fakePhoto(0, Number(path.basename(p.id, '.png')))))!;
      expect(p.features).toHaveLength(clean.length);
      expect(p.features.some((v, i) => Math.abs(v - clean[i]) > 1e-3)).toBe(true);
    }
    await store.close?.();
  });
});

describeWithData('bbt_faceapi_demo', (dir) => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({
      port: 0,
      dataDir: tempDir(),
      workers: 1,
      retrainAfterLabelled: 0,
      durability: 'normal',
    });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  it('enrolls, adds a folder, syncs, trains, pulls and names held-out photos', async () => {
    // Prepare: 3 people × 3 labelled photos and one loose photo; photo 5 of each is held out.
    const photos = tempDir();
    for (const person of ['amy', 'howard', 'penny']) {
      mkdirSync(path.join(photos, person));
      for (const n of [1, 2, 3])
        symlinkSync(
          path.join(dir, person, `${person}${n}.png`),
          path.join(photos, person, `${person}${n}.png`),
        );
    }
    symlinkSync(path.join(dir, 'raj', 'raj1.png'), path.join(photos, 'raj1.png'));
    const state = tempDir();
    const token = await enrollmentTokenFor(server, 'penny-fan');

    // Execute
    const enrolled = await device(['enroll', '--server', server.url, '--token', token, '--state', state]);
    const added = await device(['add', photos, '--state', state, '--json']);
    const synced = await device(['sync', '--state', state]);
    const trained = await device(['train', '--head', 'centroid', '--wait', '--state', state]);
    const pulled = await device(['pull', '--state', state]);
    const predicted = await device([
      'predict',
      path.join(dir, 'amy', 'amy5.png'),
      path.join(dir, 'penny', 'penny5.png'),
      '--json',
      '--state',
      state,
    ]);
    const status = await device(['status', '--state', state, '--json']);

    // Assert
    expect(enrolled.code, enrolled.err).toBe(0);
    expect(enrolled.out).toContain('for user penny-fan');
    expect(added.code, added.err).toBe(0);
    expect(JSON.parse(added.out)).toMatchObject({ photos: 10, found: 10, labelled: 9 });
    expect(synced.code, synced.err).toBe(0);
    expect(synced.out).toContain('uploaded 10 sample(s)');
    expect(await server.store.countSamples('penny-fan')).toBe(10);
    expect(trained.code, trained.err).toBe(0);
    expect(trained.out).toContain('done');
    expect(pulled.out).toContain('pulled model v1');
    const predictions = (
      JSON.parse(predicted.out) as { predictions: { name: string; candidates: { name: string }[] }[] }
    ).predictions;
    console.info(`fedex device predict: ${JSON.stringify(predictions.map((p) => p.candidates.slice(0, 2)))}`);
    expect(predictions.map((p) => p.candidates[0].name)).toEqual(['amy', 'penny']);
    const s = JSON.parse(status.out) as {
      model: { version: number };
      costs: { photos: number; bytesUp: number };
    };
    expect(s.model.version).toBe(1);
    expect(s.costs.photos).toBe(12);
    console.info(
      `fedex device on bbt: ${JSON.stringify(s.costs)}; bytes up per photo ${(s.costs.bytesUp / 10).toFixed(0)}`,
    );
  }, 180_000);
});
