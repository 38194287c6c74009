import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFedexError } from '../../core/errors.js';
import { decodeImage, readImageFile } from './image.js';

/** A 3x2 RGB test pattern with distinct values in every channel. */
const W = 3;
const H = 2;
const RGB = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50, 7, 77, 177]);

function encode(raw: Uint8Array, channels: 1 | 2 | 3 | 4, w = W, h = H): ReturnType<typeof sharp> {
  return sharp(Buffer.from(raw), { raw: { width: w, height: h, channels } });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFedexError(err), `expected a FedexError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

describe('decodeImage (sharp formats)', () => {
  it('decodes an RGB PNG exactly', async () => {
    // Prepare
    const png = await encode(RGB, 3).png().toBuffer();
    // Execute
    const img = await decodeImage(png);
    // Assert
    expect(img).toMatchObject({ width: W, height: H, channels: 3 });
    expect(Array.from(img.data)).toEqual(Array.from(RGB));
  });

  it('replicates a greyscale PNG into R, G and B', async () => {
    const grey = Uint8Array.from([0, 64, 128, 255, 1, 254]);
    const png = await encode(grey, 1).toColourspace('b-w').png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(1);

    const img = await decodeImage(png);

    expect(Array.from(img.data)).toEqual(Array.from(grey).flatMap((v) => [v, v, v]));
  });

  it('removes alpha by compositing onto white', async () => {
    const rgba = Uint8Array.from([
      255, 0, 0, 255, 0, 0, 0, 0, 0, 255, 0, 128, 1, 2, 3, 255, 9, 9, 9, 255, 4, 5, 6, 255,
    ]);
    const png = await encode(rgba, 4).png().toBuffer();

    const img = await decodeImage(png);

    expect(Array.from(img.data.subarray(0, 9))).toEqual([255, 0, 0, 255, 255, 255, 127, 255, 127]);
    expect(Array.from(img.data.subarray(9))).toEqual([1, 2, 3, 9, 9, 9, 4, 5, 6]);
  });

  it('scales a 16-bit PNG to 8 bits', async () => {
    const png = await encode(RGB, 3).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');

    const img = await decodeImage(png);

    expect(Array.from(img.data)).toEqual(Array.from(RGB));
  });

  it('decodes a JPEG to the right size and close colours', async () => {
    // JPEG is lossy: a flat colour survives within a few levels.
    const flat = new Uint8Array(16 * 16 * 3);
    for (let i = 0; i < flat.length; i += 3) flat.set([200, 60, 30], i);
    const jpg = await encode(flat, 3, 16, 16).jpeg({ quality: 95 }).toBuffer();

    const img = await decodeImage(jpg);

    expect(img).toMatchObject({ width: 16, height: 16, channels: 3 });
    for (let i = 0; i < img.data.length; i += 3) {
      expect(Math.abs(img.data[i] - 200)).toBeLessThanOrEqual(4);
      expect(Math.abs(img.data[i + 1] - 60)).toBeLessThanOrEqual(4);
      expect(Math.abs(img.data[i + 2] - 30)).toBeLessThanOrEqual(4);
    }
  });

  it('applies the EXIF orientation of a JPEG', async () => {
    // Orientation 6 = "rotate 90° clockwise to display": a 4x2 stored image shows as 2x4.
    const raw = new Uint8Array(4 * 2 * 3).fill(128);
    const jpg = await encode(raw, 3, 4, 2).jpeg().withMetadata({ orientation: 6 }).toBuffer();

    const upright = await decodeImage(jpg);
    const asStored = await decodeImage(jpg, { autoOrient: false });

    expect([upright.width, upright.height]).toEqual([2, 4]);
    expect([asStored.width, asStored.height]).toEqual([4, 2]);
  });

  it('decodes the first frame of a GIF exactly (palette colours)', async () => {
    const gif = await encode(RGB, 3).gif().toBuffer();

    const img = await decodeImage(gif);

    expect(img).toMatchObject({ width: W, height: H, channels: 3 });
    expect(Array.from(img.data)).toEqual(Array.from(RGB));
  });
});

describe('decodeImage (PGM/PPM by hand)', () => {
  const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

  it('decodes a binary P5 PGM with a comment in the header', async () => {
    const header = ascii('P5\n# made by hand\n3 2\n255\n');
    const body = Uint8Array.from([0, 50, 100, 150, 200, 255]);
    const bytes = new Uint8Array(header.length + body.length);
    bytes.set(header);
    bytes.set(body, header.length);

    const img = await decodeImage(bytes);

    expect(img).toMatchObject({ width: 3, height: 2, channels: 3 });
    expect(Array.from(img.data)).toEqual(Array.from(body).flatMap((v) => [v, v, v]));
  });

  it('decodes an ASCII P2 PGM and rescales maxval 15 to 8 bits', async () => {
    const img = await decodeImage(ascii('P2\n2 2\n15\n0 15\n5 10\n'));

    expect(Array.from(img.data)).toEqual([0, 0, 0, 255, 255, 255, 85, 85, 85, 170, 170, 170]);
  });

  it('decodes a 16-bit big-endian P5 PGM', async () => {
    const header = ascii('P5 2 1 65535\n');
    const bytes = new Uint8Array(header.length + 4);
    bytes.set(header);
    bytes.set([0xff, 0xff, 0x80, 0x00], header.length); // 65535, 32768

    const img = await decodeImage(bytes);

    expect(Array.from(img.data)).toEqual([255, 255, 255, 128, 128, 128]);
  });

  it('decodes binary P6 and ASCII P3 PPM exactly', async () => {
    const header = ascii(`P6\n${W} ${H}\n255\n`);
    const p6 = new Uint8Array(header.length + RGB.length);
    p6.set(header);
    p6.set(RGB, header.length);
    const p3 = ascii(`P3 ${W} ${H} 255 ${Array.from(RGB).join(' ')}`);

    const a = await decodeImage(p6);
    const b = await decodeImage(p3);

    expect(Array.from(a.data)).toEqual(Array.from(RGB));
    expect(Array.from(b.data)).toEqual(Array.from(RGB));
  });

  it('rejects a truncated P5 raster, a sample above maxval and a bitmap', async () => {
    await expectCode(decodeImage(ascii('P5 4 4 255\n\x01\x02')), 'IMAGE_DECODE');
    await expectCode(decodeImage(ascii('P2 1 1 10 11')), 'IMAGE_DECODE');
    await expectCode(decodeImage(ascii('P2 2 2 255 1 2 3')), 'IMAGE_DECODE');
    await expectCode(decodeImage(ascii('P1 1 1 1')), 'IMAGE_UNSUPPORTED');
  });
});

describe('decodeImage failures', () => {
  it('turns garbage bytes into IMAGE_DECODE', async () => {
    await expectCode(decodeImage(new TextEncoder().encode('definitely not an image')), 'IMAGE_DECODE');
    await expectCode(decodeImage(new Uint8Array(0)), 'IMAGE_DECODE');
    await expectCode(
      decodeImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 1, 2, 3])),
      'IMAGE_DECODE',
    );
  });

  it('turns a truncated JPEG into IMAGE_DECODE', async () => {
    const jpg = await encode(new Uint8Array(32 * 32 * 3).fill(90), 3, 32, 32)
      .jpeg()
      .toBuffer();

    await expectCode(decodeImage(jpg.subarray(0, Math.floor(jpg.length / 2))), 'IMAGE_DECODE');
  });

  it('refuses an image over the pixel limit before decoding it', async () => {
    const png = await encode(new Uint8Array(100 * 100 * 3), 3, 100, 100)
      .png()
      .toBuffer();

    await expectCode(decodeImage(png, { maxPixels: 9_999 }), 'IMAGE_TOO_LARGE');
    await expectCode(
      decodeImage(new TextEncoder().encode('P5 100 100 255\n'), { maxPixels: 9_999 }),
      'IMAGE_TOO_LARGE',
    );
    await expect(decodeImage(png, { maxPixels: 10_000 })).resolves.toMatchObject({ width: 100 });
  });

  it('refuses SVG as an unsupported format', async () => {
    const svg = new TextEncoder().encode(
      '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>',
    );

    await expectCode(decodeImage(svg), 'IMAGE_UNSUPPORTED');
  });
});

describe('readImageFile', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fedex-image-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads and decodes a file', async () => {
    const file = path.join(dir, 'a.png');
    await writeFile(file, await encode(RGB, 3).png().toBuffer());

    const img = await readImageFile(file);

    expect(Array.from(img.data)).toEqual(Array.from(RGB));
  });

  it('reports a missing file and a corrupt file as IMAGE_DECODE naming the path', async () => {
    const bad = path.join(dir, 'bad.jpg');
    await writeFile(bad, 'nope');

    await expectCode(readImageFile(path.join(dir, 'missing.png')), 'IMAGE_DECODE');
    await expect(readImageFile(bad)).rejects.toThrow(/bad\.jpg/);
  });
});
