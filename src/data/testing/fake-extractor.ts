/**
 * A fake feature extractor for tests: the feature of a photo is its mean R, G, B in [0, 1], and a
 * (nearly) black photo has "no face". Loadable in worker threads as a `module` extractor source
 * (`createExtractor`, `readImage`), so pool tests run without face models. Test support only.
 */
import sharp from 'sharp';

import { FedexError } from '../../core/errors.js';
import type { FeatureExtractor, FeatureSpec, RawImage } from '../../core/types.js';

export const FAKE_SPEC: FeatureSpec = {
  backboneId: 'fake-mean-rgb',
  backboneVersion: '1',
  split: 'mean',
  shape: [3],
};

export interface FakeExtractorOptions {
  /** Wait this long per photo (lets a second worker get work). Default 0. */
  delayMs?: number;
  /** Throw a non-image error when the photo's mean red is above this (a broken extractor). */
  failAboveRed?: number;
  /** Throw while being created (a model that cannot load). */
  failCreate?: boolean;
  /** End the worker thread abruptly on the first photo. */
  exitOnExtract?: boolean;
  /** Report this spec instead of FAKE_SPEC. */
  spec?: FeatureSpec;
  /**
   * Makes each extractor's first `extract` wait (up to 10 s) until `parties` extractors have begun
   * one: with workers, this proves that many workers really took work, whatever their start-up
   * times. The buffer (4 bytes, shared) crosses into workers inside the source options.
   */
  rendezvous?: { buffer: SharedArrayBuffer; parties: number };
}

/** Mean R, G, B of an image, each in [0, 1]. */
export function meanRgb(image: RawImage): Float32Array {
  const sum = [0, 0, 0];
  for (let i = 0; i < image.data.length; i += 3) {
    sum[0] += image.data[i];
    sum[1] += image.data[i + 1];
    sum[2] += image.data[i + 2];
  }
  const n = image.width * image.height * 255;
  return Float32Array.from(sum, (s) => s / n);
}

/** Creates the fake extractor; `calls` counts `extract` calls. */
export function createFakeExtractor(
  options: FakeExtractorOptions = {},
): FeatureExtractor & { calls: number } {
  if (options.failCreate) throw new FedexError('FACE_MODEL_LOAD', 'fake model refuses to load');
  let arrived = false;
  const meet = (): void => {
    if (!options.rendezvous || arrived) return;
    arrived = true;
    const counter = new Int32Array(options.rendezvous.buffer);
    Atomics.add(counter, 0, 1);
    const deadline = Date.now() + 10_000;
    for (let seen = Atomics.load(counter, 0); seen < options.rendezvous.parties && Date.now() < deadline;) {
      Atomics.wait(counter, 0, seen, 100);
      seen = Atomics.load(counter, 0);
    }
    Atomics.notify(counter, 0);
  };
  return {
    spec: options.spec ?? FAKE_SPEC,
    calls: 0,
    async extract(image) {
      this.calls += 1;
      if (options.exitOnExtract) process.exit(3);
      meet();
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      const f = meanRgb(image);
      if (options.failAboveRed !== undefined && f[0] > options.failAboveRed)
        throw new Error('fake extractor broke');
      return f[0] + f[1] + f[2] < 0.05 ? null : f;
    },
    dispose() {},
  };
}

/** `module` source factory name used by the pool tests. */
export async function createExtractor(options: FakeExtractorOptions = {}): Promise<FeatureExtractor> {
  return createFakeExtractor(options);
}

/** Decodes an image file with sharp (stands in for `readImageFile` in tests). */
export async function readImage(path: string): Promise<RawImage> {
  try {
    const { data, info } = await sharp(path)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return {
      width: info.width,
      height: info.height,
      channels: 3,
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  } catch (e) {
    throw new FedexError('IMAGE_DECODE', `cannot decode ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Writes a solid-colour PNG or JPEG (by extension) for tests. */
export async function writeSolidImage(file: string, rgb: [number, number, number], size = 8): Promise<void> {
  const img = sharp({
    create: { width: size, height: size, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } },
  });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 100 })).toFile(file);
}
