import { describe, expect, it } from 'vitest';
import { FedexError, isFedexError } from '../../core/errors.js';
import type { FeatureSpec } from '../../core/types.js';
import { initRuntime } from '../../runtime/node.js';
import { assertSameSpec, backboneEntry, backboneIds, loadBackbone, splitPoint } from './registry.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isFedexError(e) ? e.code : 'not a FedexError';
  }
  return undefined;
}

const SPEC: FeatureSpec = {
  backboneId: 'faceapi-resnet',
  backboneVersion: '1.7.15',
  split: 'stage128',
  shape: [8, 8, 128],
};

describe('backbone registry', () => {
  it('lists the backbones with their splits and a default split among them, without loading weights', () => {
    const ids = backboneIds();

    expect(ids).toEqual(['faceapi-resnet', 'faceres', 'tiny-cnn']);
    for (const id of ids) {
      const e = backboneEntry(id);
      expect(e.splits.map((s) => s.name)).toContain(e.defaultSplit);
      expect(e.inputShape).toHaveLength(3);
    }
    expect(splitPoint('faceapi-resnet', 'stage256').shape).toEqual([4, 4, 256]);
  });

  it('rejects an unknown backbone with MODEL_UNKNOWN_BACKBONE and an unknown split with MODEL_UNKNOWN_SPLIT', async () => {
    const unknownBackbone = codeOf(() => backboneEntry('vgg'));
    const unknownSplit = codeOf(() => splitPoint('tiny-cnn', 'conv9'));
    const load = loadBackbone('vgg');

    expect(unknownBackbone).toBe('MODEL_UNKNOWN_BACKBONE');
    expect(unknownSplit).toBe('MODEL_UNKNOWN_SPLIT');
    await expect(load).rejects.toMatchObject({ code: 'MODEL_UNKNOWN_BACKBONE' });
  });

  it('loads tiny-cnn by id with its options, with the split shapes its entry declares', async () => {
    await initRuntime();

    const bb = await loadBackbone('tiny-cnn', { seed: 4 });
    const version = bb.version;
    const splits = bb.splits.map((s) => s.shape);
    bb.dispose();

    expect(version).toBe('1-seed4');
    expect(splits).toEqual(backboneEntry('tiny-cnn').splits.map((s) => s.shape));
  });
});

describe('assertSameSpec', () => {
  it('accepts the same spec', () => {
    expect(() => assertSameSpec(SPEC, { ...SPEC, shape: [8, 8, 128] })).not.toThrow();
  });

  it('rejects another backbone, version, split or shape with FEATURE_MISMATCH naming both specs', () => {
    const others: FeatureSpec[] = [
      { ...SPEC, backboneId: 'tiny-cnn' },
      { ...SPEC, backboneVersion: '1.7.14' },
      { ...SPEC, split: 'stage256' },
      { ...SPEC, shape: [8, 8, 64] },
      { ...SPEC, shape: [8, 8, 128, 1] },
    ];

    const errors = others.map((o) => {
      try {
        assertSameSpec(SPEC, o, 'upload');
        return undefined;
      } catch (e) {
        return e as FedexError;
      }
    });

    expect(errors.map((e) => e?.code)).toEqual(Array(5).fill('FEATURE_MISMATCH'));
    expect(errors[2]?.message).toBe(
      'upload: expected faceapi-resnet@1.7.15/stage128 [8, 8, 128], got faceapi-resnet@1.7.15/stage256 [8, 8, 128]',
    );
  });
});
