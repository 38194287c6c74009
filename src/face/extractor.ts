/**
 * FeatureExtractor over the face pipeline. STUB: to be implemented by the face-pipeline work.
 */
import type { FeatureExtractor } from '../core/types.js';

export interface FaceExtractorOptions {
  detector?: 'ssd' | 'tiny';
}

export async function createFaceExtractor(_options: FaceExtractorOptions = {}): Promise<FeatureExtractor> {
  throw new Error('not implemented');
}
