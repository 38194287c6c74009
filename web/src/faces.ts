/**
 * Finds and embeds every face of a photo in the browser with the SDK's face pipeline (the frozen
 * bottom: detect, align, 128-d descriptor), and makes each face's small crop for the gallery. Runs
 * in the face worker (./import-worker.ts) or in the page. The photo's pixels stay on the device;
 * callers hand only the descriptor to the SDK for upload.
 */
import type { RawImage } from '../../src/core/types.js';
import type { FaceExtractor } from '../../src/face/extractor.js';
import { screenFaces, type ScreenFlag } from '../../src/face/screen.js';

/** One face found in a photo. */
export interface FoundFace {
  descriptor: Float32Array;
  score: number;
  /** Why it should not become a person (`screenFaces`): empty for a good face. */
  flags: ScreenFlag[];
  /** The aligned chip as a JPEG (for the screen; never uploaded). */
  crop: Uint8Array;
}

/** The aligned face chip (RGB) as JPEG bytes, through a canvas (an OffscreenCanvas in a worker). */
export async function chipToJpeg(chip: RawImage): Promise<Uint8Array> {
  const rgba = new Uint8ClampedArray(chip.width * chip.height * 4);
  for (let i = 0, j = 0; i < chip.data.length; i += 3, j += 4) {
    rgba[j] = chip.data[i];
    rgba[j + 1] = chip.data[i + 1];
    rgba[j + 2] = chip.data[i + 2];
    rgba[j + 3] = 255;
  }
  const image = new ImageData(rgba, chip.width, chip.height);
  let blob: Blob | null;
  if (typeof document === 'undefined') {
    const canvas = new OffscreenCanvas(chip.width, chip.height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2d canvas');
    ctx.putImageData(image, 0, 0);
    blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.85 });
  } else {
    const canvas = document.createElement('canvas');
    canvas.width = chip.width;
    canvas.height = chip.height;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2d canvas');
    ctx.putImageData(image, 0, 0);
    blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
  }
  if (!blob) throw new Error('the browser could not encode the face crop');
  return new Uint8Array(await blob.arrayBuffer());
}

/** Every face of `image` with its descriptor and crop (most confident detections first as found). */
export async function findFaces(extractor: FaceExtractor, image: RawImage): Promise<FoundFace[]> {
  const { faces, width, height } = await extractor.pipeline.analyze(image, {
    faces: 'all',
    descriptors: true,
  });
  // The same face found twice is dropped; bystanders and cut faces are flagged.
  const verdicts = screenFaces(faces, width, height);
  const found: FoundFace[] = [];
  for (const [i, f] of faces.entries()) {
    if (!f.descriptor || !verdicts[i].keep) continue;
    found.push({
      descriptor: f.descriptor,
      score: f.score,
      flags: verdicts[i].flags,
      crop: await chipToJpeg(f.aligned.chip),
    });
  }
  return found;
}

/** An opaque, stable key of a photo (so its file name does not leave the device in sample ids). */
export async function photoKey(file: { name: string; size: number; lastModified: number }): Promise<string> {
  const bytes = new TextEncoder().encode(`${file.name}\u0000${file.size}\u0000${file.lastModified}`);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}
