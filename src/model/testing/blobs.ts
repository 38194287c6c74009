/**
 * Synthetic labelled features for tests: Gaussian blobs, one per class, seeded. Separable enough
 * that a linear head learns them in a few epochs, noisy enough that accuracy is not trivially 1
 * when `spread` is large. Test support only.
 */
import { createRng, type Rng } from '../../core/random.js';

export interface Blobs {
  x: Float32Array;
  y: Int32Array;
  shape: number[];
}

function gaussian(rng: Rng): number {
  // Box-Muller; 1 - u keeps log away from 0.
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * `perClass[c]` samples of class c around a random centre (coordinates uniform in [-1, 1]), with
 * per-coordinate noise of standard deviation `spread`. Samples are interleaved by class.
 *
 * @example
 * const { x, y, shape } = gaussianBlobs({ dim: 16, perClass: [10, 10, 10], spread: 0.3, seed: 1 });
 */
export function gaussianBlobs(args: {
  dim: number;
  perClass: number[];
  spread: number;
  seed: number;
  shape?: number[];
}): Blobs {
  const rng = createRng(args.seed);
  const k = args.perClass.length;
  const centres = Array.from({ length: k }, () =>
    Float32Array.from({ length: args.dim }, () => 2 * rng() - 1),
  );
  const n = args.perClass.reduce((a, b) => a + b, 0);
  const x = new Float32Array(n * args.dim);
  const y = new Int32Array(n);
  const left = args.perClass.slice();
  let i = 0;
  while (i < n) {
    for (let c = 0; c < k; c++) {
      if (left[c] === 0) continue;
      left[c] -= 1;
      y[i] = c;
      for (let d = 0; d < args.dim; d++) x[i * args.dim + d] = centres[c][d] + args.spread * gaussian(rng);
      i += 1;
    }
  }
  return { x, y, shape: args.shape ?? [args.dim] };
}
