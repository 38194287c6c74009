/**
 * Test helpers of the device SDK: a fake bottom that reads the person out of the photo's pixels
 * (so SDK tests need no face models), photos made for it, and a server user with an enrollment
 * token. Tests only.
 */
import type { FeatureExtractor, FeatureSpec, RawImage } from '../../core/types.js';
import { caller } from '../../server/testing/harness.js';

export const FAKE_SPEC: FeatureSpec = Object.freeze({
  backboneId: 'fake-bottom',
  backboneVersion: '1',
  split: 'embedding',
  shape: [8],
}) as FeatureSpec;

/** Pixel 0 of a photo with no face. */
export const NO_FACE = 255;
/** Pixel 0 of a photo whose face is nobody known: half-way between persons 0, 1 and 2. */
export const STRANGER = 254;

/**
 * A 16×16 photo of `person` (0..7), variant `n`. The other pixels are pseudo-random, so a test can
 * look for them in request bodies.
 */
export function fakePhoto(person: number, n: number): RawImage {
  const data = new Uint8Array(16 * 16 * 3);
  let s = (person * 7919 + n * 104729 + 13) >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  data[0] = person;
  data[1] = n;
  return { width: 16, height: 16, channels: 3, data };
}

/**
 * Features of `fakePhoto(person, n)`: a strong unit on the person's axis plus a small
 * variant-dependent wobble; `STRANGER` → 1.5 on the axes of persons 0-2; `NO_FACE` → null.
 */
export function fakeExtractor(): FeatureExtractor & { calls: number } {
  const ex = {
    spec: FAKE_SPEC,
    calls: 0,
    async extract(image: RawImage): Promise<Float32Array | null> {
      ex.calls += 1;
      const person = image.data[0];
      if (person === NO_FACE) return null;
      const f = new Float32Array(8);
      if (person === STRANGER) return f.fill(1.5, 0, 3);
      const n = image.data[1];
      for (let i = 0; i < 8; i++) f[i] = 0.1 * Math.sin(n * 1.7 + i * 0.9 + person);
      f[person % 8] += 3;
      return f;
    },
    dispose() {},
  };
  return ex;
}

/** Creates user `userId` on a running server (admin key) and returns a one-use enrollment token. */
export async function enrollmentTokenFor(
  server: { url: string; adminKey: string },
  userId: string,
  options: { uses?: number } = {},
): Promise<string> {
  const admin = caller(server.url, server.adminKey);
  const u = await admin.request('POST', '/v1/users', { name: userId, id: userId });
  if (u.status !== 201) throw new Error(`cannot create user ${userId}: HTTP ${u.status}`);
  const t = await admin.request<{ enrollmentToken: string }>(
    'POST',
    `/v1/users/${userId}/enrollment-tokens`,
    options.uses === undefined ? {} : { uses: options.uses },
  );
  if (t.status !== 201) throw new Error(`cannot make a token for ${userId}: HTTP ${t.status}`);
  return t.json.enrollmentToken;
}
