/**
 * A drawn cartoon face (flat skin oval, hair, brows, eyes, nose, mouth on a grey background): not
 * a person, yet face detectors fire on it (SSD MobileNet: score ≈ 0.55 at the default seed). The
 * open-set tests and the face app e2e use it as "a detection that is not a face". Seeded, pure.
 */
import type { RawImage } from '../core/types.js';
import { createRng } from '../core/random.js';

/**
 * @param seed varies the colours and the oval's size a little (seed 11: detected by SSD).
 * @example
 * const img = drawnFace(); // 320×320 RGB
 */
export function drawnFace(seed = 11, size = 320): RawImage {
  const rng = createRng(seed);
  const data = new Uint8Array(size * size * 3);
  const k = size / 320;
  const bg = [rng() * 255, rng() * 255, rng() * 255];
  const skin = [200 + rng() * 40, 160 + rng() * 40, 130 + rng() * 40];
  const cx = size / 2;
  const cy = size / 2;
  const rx = (70 + rng() * 20) * k;
  const ry = (95 + rng() * 20) * k;
  const ex = 30 * k;
  const ey = -20 * k;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const e = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      const dx = Math.abs(x - cx);
      const eyeY = (y - cy - ey) ** 2;
      const white = (dx - ex) ** 2 / (300 * k * k) + eyeY / (80 * k * k) < 1;
      const pupil = (dx - ex) ** 2 + eyeY < 36 * k * k;
      const brow = Math.abs(y - (cy + ey - 18 * k)) < 3 * k && Math.abs(dx - ex) < 18 * k;
      const t = (y - cy) / k;
      const nose = dx / k < 4 + t / 6 && dx / k > 2 + t / 8 && t > -5 && t < 25;
      const mouth = Math.abs(y - (cy + 50 * k - (x - cx) ** 2 / (120 * k))) < 4 * k && dx < 28 * k;
      const hair = e <= 1.2 && y < cy - 60 * k;
      const c = pupil
        ? [40, 30, 20]
        : white
          ? [240, 240, 240]
          : brow || hair
            ? [70, 50, 30]
            : mouth
              ? [150, 60, 60]
              : nose
                ? [170, 120, 100]
                : e <= 1
                  ? skin
                  : bg;
      for (let ch = 0; ch < 3; ch++)
        data[(y * size + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(c[ch] + (rng() - 0.5) * 20)));
    }
  return { width: size, height: size, channels: 3, data };
}
