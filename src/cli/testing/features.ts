/**
 * Test support for the train and eval commands: run the CLI with captured output, and write a
 * small feature-batch file of Gaussian blobs (6 people × 8 photos, plus 2 unlabelled photos).
 */
import { writeFileSync } from 'node:fs';
import { encodeFeatureBatch } from '../../core/codec.js';
import type { FeatureBatch, FeatureSpec } from '../../core/types.js';
import { gaussianBlobs } from '../../model/testing/blobs.js';
import type { CommandIO } from '../command.js';
import { runCli } from '../main.js';

/** Runs the CLI with captured stdout and stderr. */
export async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stream = (append: (s: string) => void) =>
    ({ write: (s: string) => (append(s), true), isTTY: false }) as unknown as NodeJS.WriteStream;
  const io: CommandIO = { stdout: stream((s) => (stdout += s)), stderr: stream((s) => (stderr += s)) };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

export const SYNTHETIC_SPEC: FeatureSpec = {
  backboneId: 'synthetic',
  backboneVersion: '1',
  split: 'embedding',
  shape: [16],
};
export const SYNTHETIC_PEOPLE = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay'];

/** Writes a feature-batch file: 6 people × 8 photos of Gaussian blobs (plus 2 unlabelled photos). */
export function writeFeatureFile(file: string, spec: FeatureSpec = SYNTHETIC_SPEC, seed = 1): string {
  const dim = spec.shape.reduce((a, b) => a * b, 1);
  const blobs = gaussianBlobs({
    dim,
    perClass: new Array(SYNTHETIC_PEOPLE.length).fill(8),
    spread: 0.5,
    seed,
  });
  const n = blobs.y.length + 2;
  const features = new Float32Array(n * dim);
  features.set(blobs.x);
  const batch: FeatureBatch = {
    spec,
    sampleIds: Array.from({ length: n }, (_, i) => `photo-${i}`),
    labels: Int32Array.from([...blobs.y, -1, -1]),
    labelNames: SYNTHETIC_PEOPLE,
    features,
  };
  writeFileSync(file, encodeFeatureBatch(batch));
  return file;
}
