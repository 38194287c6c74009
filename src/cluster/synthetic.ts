/**
 * Synthetic face descriptors for tests and benchmarks when no real ones are at hand: people are
 * random directions in 128-d, faces are their person's point plus Gaussian noise. Scaled like the
 * face-api / dlib descriptor (same person about 0.4 apart, different people about 1.0), so the
 * calibrated thresholds make sense on them. Not a substitute for real faces in any reported score.
 *
 * Platform-neutral and pure.
 */
import { createRng, type Rng } from '../core/random.js';

/** Options of {@link syntheticFaces}. */
export interface SyntheticOptions {
  /** Photos per person (one entry per person). */
  photos: readonly number[];
  /** Dimension. Default 128. */
  dim?: number;
  /** Mean distance between two people's centres. Default 1.0. */
  between?: number;
  /** Mean distance between two photos of one person. Default 0.4. */
  within?: number;
  /**
   * The point people are spread around. Default the origin. Distance-only methods do not care;
   * `agglomerative-learned` does (its quality features measure faces from the mean real face), so
   * tests of it pass the shipped model's `centre` to look like real descriptors.
   */
  around?: ArrayLike<number>;
  seed?: number;
}

/** A standard normal draw (Box–Muller). */
export function gaussian(rng: Rng): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/**
 * Labelled synthetic descriptors, person-major (`labels` = person index).
 *
 * @example
 * const { descriptors, labels } = syntheticFaces({ photos: [5, 3, 1], seed: 1 });
 */
export function syntheticFaces(options: SyntheticOptions): {
  descriptors: Float32Array[];
  labels: Int32Array;
} {
  const { photos, dim = 128, between = 1.0, within = 0.4, around, seed = 0 } = options;
  const rng = createRng(seed);
  // Two independent points with per-axis sd s are s·sqrt(2·dim) apart on average (for large dim).
  const centreSd = between / Math.sqrt(2 * dim);
  const noiseSd = within / Math.sqrt(2 * dim);
  const descriptors: Float32Array[] = [];
  const labels: number[] = [];
  photos.forEach((count, person) => {
    const centre = Float64Array.from(
      { length: dim },
      (_, k) => (around ? around[k] : 0) + gaussian(rng) * centreSd,
    );
    for (let k = 0; k < count; k++) {
      descriptors.push(Float32Array.from(centre, (c) => c + gaussian(rng) * noiseSd));
      labels.push(person);
    }
  });
  return { descriptors, labels: Int32Array.from(labels) };
}
