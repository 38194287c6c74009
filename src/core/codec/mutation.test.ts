/**
 * Decoding must be total: for ANY byte string, decodeFeatureBatch / decodeWeights either return a
 * fully valid value or throw a CodecError, never another exception and never a half-checked
 * value. These loops mutate valid messages (seeded, reproducible) and check exactly that.
 */
import { describe, expect, it } from 'vitest';
import { CodecError } from '../errors.js';
import { createRng, randomInt, type Rng } from '../random.js';
import type { WireDtype } from '../types.js';
import { decodeFeatureBatch, encodeFeatureBatch } from './feature-batch.js';
import { decodeWeights, encodeWeights } from './weights.js';
import { featureBatchProblem, reseal, sampleBatch, weightsProblem } from './test-support.js';

const DTYPES: WireDtype[] = ['float32', 'float16', 'int8'];

interface Subject {
  name: string;
  bytes: Uint8Array;
  /** Decodes and returns why the result is invalid, or undefined when it is valid. */
  decode: (bytes: Uint8Array) => string | undefined;
}

function subjects(): Subject[] {
  const out: Subject[] = [];
  for (const dtype of DTYPES) {
    const labelled = sampleBatch(40, 3, [2, 3], { labelNames: ['ann', 'bo'] });
    out.push({
      name: `feature batch, ${dtype}, label names`,
      bytes: encodeFeatureBatch(labelled, { dtype }),
      decode: (b) => featureBatchProblem(decodeFeatureBatch(b)),
    });
    out.push({
      name: `feature batch, ${dtype}, no names`,
      bytes: encodeFeatureBatch(sampleBatch(41, 2, [4]), { dtype }),
      decode: (b) => featureBatchProblem(decodeFeatureBatch(b)),
    });
    out.push({
      name: `weights, ${dtype}`,
      bytes: encodeWeights(
        {
          metadata: { head: 'softmax', v: 1 },
          tensors: [
            { name: 'k', shape: [3, 2], values: Float32Array.from([0.5, -1, 2, 0, 0.25, -0.125]) },
            { name: 'b', shape: [2], values: Float32Array.from([0.1, -0.1]) },
          ],
        },
        { dtype },
      ),
      decode: (b) => weightsProblem(decodeWeights(b)),
    });
  }
  return out;
}

type Outcome = { kind: 'valid' } | { kind: 'codec'; code: string } | { kind: 'bad'; detail: string };

function attempt(subject: Subject, bytes: Uint8Array): Outcome {
  try {
    const problem = subject.decode(bytes);
    return problem === undefined ? { kind: 'valid' } : { kind: 'bad', detail: `invalid result: ${problem}` };
  } catch (e) {
    if (e instanceof CodecError) return { kind: 'codec', code: e.code };
    return { kind: 'bad', detail: `${(e as Error)?.name}: ${(e as Error)?.message}` };
  }
}

/** One random edit: flip a bit, set a byte to a random or boundary value, insert, delete or cut. */
function mutate(rng: Rng, original: Uint8Array): Uint8Array {
  const edits = 1 + randomInt(rng, 3);
  let b = original.slice();
  for (let e = 0; e < edits; e++) {
    const at = randomInt(rng, b.length + 1);
    switch (randomInt(rng, 6)) {
      case 0:
        if (at < b.length) b[at] ^= 1 << randomInt(rng, 8);
        break;
      case 1:
        if (at < b.length) b[at] = randomInt(rng, 256);
        break;
      case 2:
        if (at < b.length) b[at] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff][randomInt(rng, 6)];
        break;
      case 3: {
        const grown = new Uint8Array(b.length + 1);
        grown.set(b.subarray(0, at));
        grown[at] = randomInt(rng, 256);
        grown.set(b.subarray(at), at + 1);
        b = grown;
        break;
      }
      case 4:
        if (at < b.length) b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]);
        break;
      case 5:
        b = b.slice(0, at);
        break;
    }
  }
  return b;
}

describe('decoding mutated messages', () => {
  it('rejects a bit flip at every position, every truncation and random extensions with a CodecError', () => {
    // Prepare
    const rng = createRng(2024);
    const failures: string[] = [];
    let cases = 0;
    const expectCodecError = (s: Subject, bytes: Uint8Array, what: string): void => {
      cases++;
      const o = attempt(s, bytes);
      if (o.kind !== 'codec') failures.push(`${s.name}: ${what}: ${o.kind === 'bad' ? o.detail : 'decoded'}`);
    };
    // Execute
    for (const s of subjects()) {
      for (let i = 0; i < s.bytes.length; i++) {
        const flipped = s.bytes.slice();
        flipped[i] ^= 1 << randomInt(rng, 8);
        expectCodecError(s, flipped, `flip at ${i}`);
        expectCodecError(s, s.bytes.subarray(0, i), `cut to ${i}`);
      }
      for (let extra = 1; extra <= 8; extra++) {
        const longer = new Uint8Array(s.bytes.length + extra);
        longer.set(s.bytes);
        for (let j = s.bytes.length; j < longer.length; j++) longer[j] = randomInt(rng, 256);
        expectCodecError(s, longer, `${extra} extra bytes`);
      }
    }
    // Assert
    expect(failures).toEqual([]);
    expect(cases).toBeGreaterThanOrEqual(2000);
  });

  it('with the checksum bypassed, yields a CodecError or a fully valid value for 12,000 random edits', () => {
    // Prepare: edits are resealed, so the decoder's own checks are all that stands in the way
    const rng = createRng(7);
    const failures: string[] = [];
    const codes = new Set<string>();
    let valid = 0;
    let cases = 0;
    // Execute
    for (const s of subjects()) {
      for (let k = 0; k < 1_334; k++) {
        const bytes = reseal(mutate(rng, s.bytes));
        cases++;
        const o = attempt(s, bytes);
        if (o.kind === 'bad') failures.push(`${s.name}, case ${k}: ${o.detail}`);
        else if (o.kind === 'codec') codes.add(o.code);
        else valid++;
      }
    }
    // Assert
    expect(failures).toEqual([]);
    expect(cases).toBeGreaterThanOrEqual(12_000);
    // The loop reaches both outcomes and many of the decoder's checks, not just one of them.
    expect(valid).toBeGreaterThan(0);
    for (const code of ['CODEC_BAD_HEADER', 'CODEC_SHAPE_MISMATCH', 'CODEC_TRUNCATED', 'CODEC_BAD_MAGIC']) {
      expect(codes).toContain(code);
    }
  });

  it('rejects 3,000 random byte strings, bare or behind a self-consistent prefix, with CodecErrors only', () => {
    // Prepare: half are bare noise; half get a valid prefix whose header and payload sizes split
    // the noise between them and a valid checksum, so the header parser itself sees the noise
    const rng = createRng(99);
    const failures: string[] = [];
    const codes = new Set<string>();
    const [batchSubject, , weightsSubject] = subjects();
    // Execute
    for (let k = 0; k < 3_000; k++) {
      const s = k % 4 < 2 ? batchSubject : weightsSubject;
      const body = Uint8Array.from({ length: randomInt(rng, 200) }, () => randomInt(rng, 256));
      let bytes = body;
      if (k % 2 === 1) {
        const headerBytes = randomInt(rng, body.length + 1);
        bytes = new Uint8Array(16 + body.length + 4);
        bytes.set(s.bytes.subarray(0, 8));
        const view = new DataView(bytes.buffer);
        view.setUint32(8, headerBytes, true);
        view.setUint32(12, body.length - headerBytes, true);
        bytes.set(body, 16);
        reseal(bytes);
      }
      const o = attempt(s, bytes);
      if (o.kind === 'bad') failures.push(`case ${k}: ${o.detail}`);
      else if (o.kind === 'codec') codes.add(o.code);
    }
    // Assert
    expect(failures).toEqual([]);
    expect(codes).toContain('CODEC_BAD_HEADER');
  });
});
