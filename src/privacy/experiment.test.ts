import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../core/random.js';
import type { RawImage } from '../core/types.js';
import { loadBackbone } from '../model/backbones/registry.js';
import type { Backbone } from '../model/types.js';
import {
  aucOf,
  bootstrapCi,
  noised,
  runPrivacyExperiment,
  type PrivacyNetwork,
  type PrivacyPhoto,
} from './experiment.js';
import { fitKernelRidge } from './kernel-ridge.js';
import { backboneNetwork } from './network.js';

/** 24 synthetic people, 5 chips each: a per-person pattern plus per-photo noise and shift. */
function syntheticPhotos(): PrivacyPhoto[] {
  const rng = createRng(99);
  const out: PrivacyPhoto[] = [];
  for (let p = 0; p < 24; p++) {
    const fx = 1 + rng() * 4;
    const fy = 1 + rng() * 4;
    const tint = [rng(), rng(), rng()];
    for (let k = 0; k < 5; k++) {
      const shift = rng() * 0.5;
      const data = new Uint8Array(150 * 150 * 3);
      for (let y = 0; y < 150; y++)
        for (let x = 0; x < 150; x++) {
          const v = 0.5 + 0.4 * Math.sin((fx * x) / 24 + shift) * Math.cos((fy * y) / 24);
          for (let c = 0; c < 3; c++)
            data[(y * 150 + x) * 3 + c] = Math.round(
              255 * Math.min(1, Math.max(0, v * tint[c] + (rng() - 0.5) * 0.1)),
            );
        }
      const chip: RawImage = { width: 150, height: 150, channels: 3, data };
      out.push({
        person: `person_${String(p).padStart(2, '0')}`,
        chip,
        male: p % 3 === 0 ? 0 : 1,
        age: 20 + p,
      });
    }
  }
  return out;
}

describe('the privacy experiment (tiny-cnn, synthetic faces)', () => {
  let backbone: Backbone;
  const photos = syntheticPhotos();
  beforeAll(async () => {
    await tf.setBackend('cpu');
    backbone = await loadBackbone('tiny-cnn', { seed: 3 });
  });
  afterAll(() => backbone?.dispose());

  const options = {
    splits: ['conv2', 'embedding'],
    noises: ['none', 'gauss:1'],
    victims: 10,
    attacker: 14,
    peoplePerUser: 5,
    seed: 7,
    keep: 2,
    imageFactor: 5, // 30×30 reconstructions: a quarter of the decoder's work at the default 50×50
  };

  it('gives the same table for the same seed and another for another seed; people never shared', async () => {
    const before = tf.memory().numTensors;
    const net = backboneNetwork(backbone);
    const a = await runPrivacyExperiment(photos, net, options);
    const b = await runPrivacyExperiment(photos, net, options);
    const c = await runPrivacyExperiment(photos, net, { ...options, splits: ['embedding'], seed: 8 });
    net.dispose();
    expect(tf.memory().numTensors).toBe(before); // no tensor survives the runs and the network
    expect(a.rows).toEqual(b.rows);
    expect(c.victims).not.toEqual(a.victims);
    expect(c.rows).not.toEqual(a.rows.slice(2));
    expect(a.rows.map((r) => `${r.split}/${r.noise}`)).toEqual([
      'conv2/none',
      'conv2/gauss:1',
      'embedding/none',
      'embedding/gauss:1',
    ]);
    expect(a.victims.some((v) => a.attacker.includes(v))).toBe(false);
    expect(a.victims).toHaveLength(10);
    // Clean features: every upload is exactly what the attacker recomputes from the photo.
    const clean = a.rows.find((r) => r.split === 'conv2' && r.noise === 'none')!;
    expect(clean.membershipAuc).toBe(1);
    expect(clean.chance).toBe(0.1);
    expect(clean.epsilon).toBeNull();
    for (const r of a.rows) {
      const figures = [
        r.accuracy,
        r.reidTemplate,
        r.reidInversion,
        r.reidTemplatePerPerson,
        r.reidInversionPerPerson,
      ];
      for (const v of [...figures, r.genderAccuracy, r.membershipAuc, r.membershipModelAuc]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(r.ssim).toBeLessThanOrEqual(1);
    }
    // Noise as large as the signal makes uploads harder to recognise as members than clean ones.
    const loud = a.rows.find((r) => r.split === 'conv2' && r.noise === 'gauss:1')!;
    expect(loud.membershipAuc).toBeLessThan(clean.membershipAuc);
    expect(a.reconstructions.get('conv2/none')).toHaveLength(2);
    expect(a.originals[0]).toHaveLength(30 * 30 * 3);
    expect(a.ssimMeanFace).toBeGreaterThan(0);
    expect(a.ssimMeanFace).toBeLessThan(1);
    for (const r of a.rows) {
      const [lo, hi] = r.ci!.reidTemplate!;
      expect(lo).toBeLessThanOrEqual(r.reidTemplate);
      expect(hi).toBeGreaterThanOrEqual(r.reidTemplate);
    }
  }, 120_000);
});

describe('what the attacker trains on', () => {
  it('fits its decoder and attribute models on attacker people only, never on a victim', async () => {
    await tf.setBackend('cpu');
    const photos = syntheticPhotos();
    const people = [...new Set(photos.map((p) => p.person))];
    const personOf = new Map(photos.map((p) => [p.chip, people.indexOf(p.person)]));
    // A network whose features carry the photo's person index in their first value (exact
    // through 'none'), so a spy on the fit sees whose data it was given.
    const net: PrivacyNetwork = {
      splits: ['tag'],
      spec: () => ({ backboneId: 'spy', backboneVersion: '1', split: 'tag', shape: [9] }),
      features: (_, chips) =>
        chips.map((c) =>
          Float32Array.of(personOf.get(c) ?? -1, ...Array.from(c.data.subarray(0, 8), (v) => v / 255)),
        ),
      toDescriptor: (_, f) => f.map((x) => x.slice(1)),
      descriptor: (chips) => chips.map((c) => Float32Array.from(c.data.subarray(0, 8), (v) => v / 255)),
    };
    const fitted: number[][] = [];
    const r = await runPrivacyExperiment(photos, net, {
      splits: ['tag'],
      noises: ['none'],
      victims: 10,
      attacker: 14,
      seed: 5,
      imageFactor: 10,
      fit: (x, y, o) => {
        fitted.push([...new Set(x.map((row) => row[0]))]);
        return fitKernelRidge(x, y, o);
      },
    });
    const victims = new Set(r.victims.map((v) => people.indexOf(v)));
    const attacker = new Set(r.attacker.map((v) => people.indexOf(v)));
    expect(fitted).toHaveLength(3); // the decoder, gender, age
    for (const seen of fitted) {
      expect(seen.filter((p) => victims.has(p))).toEqual([]);
      expect(new Set(seen)).toEqual(attacker);
    }
  }, 60_000);
});

describe('noised and aucOf', () => {
  const spec = { backboneId: 't', backboneVersion: '1', split: 'embedding', shape: [64] };
  const f = [Float32Array.from({ length: 64 }, (_, i) => Math.sin(i))];

  it('round-trips wire precisions and seeds the noise', () => {
    expect(noised(f, 'none', spec, 1)[0]).toEqual(f[0]);
    const q = noised(f, 'int8', spec, 1)[0];
    expect(q).not.toEqual(f[0]);
    expect(Math.max(...q.map((v, i) => Math.abs(v - f[0][i])))).toBeLessThan(0.01);
    expect(noised(f, 'gauss:0.5', spec, 1)).toEqual(noised(f, 'gauss:0.5', spec, 1));
    expect(noised(f, 'gauss:0.5', spec, 1)).not.toEqual(noised(f, 'gauss:0.5', spec, 2));
  });

  it('computes AUC with ties as half', () => {
    expect(aucOf([3, 4], [1, 2])).toBe(1);
    expect(aucOf([1], [1])).toBe(0.5);
    expect(aucOf([1, 3], [2])).toBe(0.5);
  });
});

describe('bootstrapCi', () => {
  const per = (hits: number[], n: number[]) => ({ hits: Float64Array.from(hits), n: Float64Array.from(n) });

  it('brackets the rate, is seeded, narrows with more victims, and is a point when every trial hits', () => {
    const few = per([1, 0, 1, 1, 0, 1, 1, 0, 1, 1], Array(10).fill(1));
    const [lo, hi] = bootstrapCi(few, 3);
    expect(lo).toBeLessThanOrEqual(0.7);
    expect(hi).toBeGreaterThanOrEqual(0.7);
    expect(bootstrapCi(few, 3)).toEqual([lo, hi]);
    const many = per(
      Array.from({ length: 200 }, (_, i) => (i % 10 < 7 ? 1 : 0)),
      Array(200).fill(1),
    );
    const [lo2, hi2] = bootstrapCi(many, 3);
    expect(hi2 - lo2).toBeLessThan(hi - lo);
    expect(bootstrapCi(per([3, 3, 3], [3, 3, 3]), 1)).toEqual([1, 1]);
    // A victim with no trials does not count.
    expect(bootstrapCi(per([0, 2], [0, 2]), 1)).toEqual([1, 1]);
  });
});
