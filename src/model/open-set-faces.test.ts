// The open-set rule on real faces, as the face app meets them: a user names 2 photos of each of
// the 8 bbt characters; the server's trainScope ships the model (its open-set rule inside); the
// device's decideOpenSet then answers for the characters' other photos (named), for photos of
// LFW people who are none of them (unknown, far) and for a drawn cartoon face the detector takes
// for a face (unknown: it lies inside a character's radius, but nearer the mean face than any
// real face does, 'generic'). Needs bbt_faceapi_demo and lfw_deepfunneled_min5 ($FEDEX_DATA_DIR):
// skipped loudly when missing, failed under FEDEX_REQUIRE_DATA=1.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFacePipeline, type FacePipeline } from '../face/pipeline.js';
import { nodeFacePlatform } from '../platform/node/face.js';
import { readImageFile } from '../platform/node/image.js';
import { initRuntime, tf } from '../runtime/node.js';
import { TEST_SPEC } from '../server/jobs/test-data.js';
import { resolveTrainJobConfig, trainScope } from '../server/jobs/train-task.js';
import { listPeople, samplePhotos } from '../testing/datasets.js';
import { describeWithData } from '../testing/describe-with-data.js';
import { drawnFace } from '../testing/drawn-face.js';
import { modelFromWeightsMessage } from './io.js';
import { decideOpenSet, parseOpenSetRule, type OpenSetDecision } from './open-set.js';

const LONG = 600_000;
const NAMED = 2;

describeWithData('bbt_faceapi_demo', (bbt) => {
  describeWithData('lfw_deepfunneled_min5', (lfw) => {
    let pipeline: FacePipeline;
    const named: { x: number[]; y: number[] } = { x: [], y: [] };
    const others: { features: Float32Array; person: number }[] = [];
    const strangers: Float32Array[] = [];
    let drawn: Float32Array | undefined;

    const describeMain = async (file: string): Promise<Float32Array | undefined> => {
      const a = await pipeline.analyze(await readImageFile(file));
      return a.main >= 0 ? a.faces[a.main].descriptor : undefined;
    };

    beforeAll(async () => {
      await initRuntime();
      pipeline = await createFacePipeline(nodeFacePlatform(), { detector: 'ssd' });
      const people = listPeople(bbt);
      for (const [p, person] of people.entries())
        for (const [i, file] of person.files.entries()) {
          const d = await describeMain(file);
          if (!d) continue;
          if (i < NAMED) {
            named.x.push(...d);
            named.y.push(p);
          } else others.push({ features: d, person: p });
        }
      for (const { file } of samplePhotos(lfw, 12, 5)) {
        const d = await describeMain(file);
        if (d) strangers.push(d);
      }
      const cartoon = await pipeline.analyze(drawnFace());
      drawn = cartoon.faces[0]?.descriptor;
    }, LONG);
    afterAll(() => pipeline?.dispose());

    for (const head of ['centroid', 'linear'] as const) {
      it(
        `${head}: names the characters' other photos, calls strangers and a drawn face unknown`,
        async () => {
          // Prepare: the user's 16 named faces, as the server stores them.
          const set = {
            spec: TEST_SPEC,
            specKey: 'test',
            sampleIds: named.y.map((_, i) => i + 1),
            labels: Int32Array.from(named.y),
            owners: [],
            features: Float32Array.from(named.x),
            throughSampleId: named.y.length,
          };

          // Execute
          const out = await trainScope({ scope: 'user:u', set, config: resolveTrainJobConfig({ head }) });
          const { model, metadata } = await modelFromWeightsMessage(out.weights);
          const rule = parseOpenSetRule(metadata.openSet, out.labels.length, 128);
          const decide = (f: Float32Array): OpenSetDecision => {
            const p = tf.tidy(
              () => (model.predict(tf.tensor2d(f, [1, 128])) as tf.Tensor).dataSync() as Float32Array,
            );
            return decideOpenSet(p, f, rule, { threshold: 0.5, useRadius: true });
          };
          const known = others.map((o) => ({ ...decide(o.features), person: o.person }));
          const strange = strangers.map(decide);
          const cartoon = drawn ? decide(drawn) : undefined;
          model.dispose();

          // Assert
          const namedRight = known.filter((k) => !k.unknownBecause && k.best === k.person).length;
          const namedWrong = known.filter((k) => !k.unknownBecause && k.best !== k.person).length;
          const strangersUnknown = strange.filter((s) => s.unknownBecause).length;
          console.info(
            `open set on real faces, ${head}: ${namedRight}/${known.length} other bbt faces named right ` +
              `(${namedWrong} wrong), ${strangersUnknown}/${strange.length} LFW strangers unknown ` +
              `(${strange.filter((s) => s.unknownBecause === 'far').length} far), drawn face ` +
              `${cartoon?.unknownBecause ?? 'named'} (strangeness ${cartoon?.strangeness?.toFixed(2)}, typicality ` +
              `${cartoon?.typicality?.toFixed(2)}; known faces' lowest typicality ` +
              `${Math.min(...known.map((k) => k.typicality ?? Infinity)).toFixed(2)}), ` +
              `radius ${rule.radius.toFixed(3)}, T ${rule.temperature.toFixed(2)}`,
          );
          expect(known.length).toBeGreaterThanOrEqual(20);
          expect(namedRight / known.length).toBeGreaterThanOrEqual(0.9);
          expect(namedWrong).toBe(0);
          expect(strange.length).toBeGreaterThanOrEqual(10);
          expect(strangersUnknown / strange.length).toBeGreaterThanOrEqual(0.8);
          expect(drawn).toBeDefined(); // the detector does take the drawing for a face
          expect(['far', 'generic']).toContain(cartoon?.unknownBecause);
        },
        LONG,
      );
    }
  });
});
