/**
 * The `Backbone` conformance suite (after Hono's `common.case.test.ts`): every backbone runs the
 * same checks — specs, shapes per split, bottom + upper stage = the whole network, typed errors,
 * costs that add up, one training step of an upper stage, and no tensor leaks. Test support only.
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { isFedexError } from '../../core/errors.js';
import { sumCosts } from '../layer-cost.js';
import type { Backbone } from '../types.js';

export interface BackboneCase {
  /** The backbone under test (loaded in the caller's `beforeAll`). */
  backbone: () => Backbone;
  /** A batch of inputs `[n, ...inputShape]`, RGB 0..255 (the caller owns it). */
  input: () => tf.Tensor4D;
  /** Max abs difference allowed between bottom → upper stage and the whole network. */
  tolerance: number;
  /** Split whose upper stage gets one training step (the cheapest to train), or null. */
  trainSplit: string | null;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isFedexError(e) ? e.code : `not a FedexError: ${String(e)}`;
  }
  return undefined;
}

/** Registers the conformance tests (call inside a `describe`). */
export function backboneConformance(c: BackboneCase): void {
  it('names each split once, and records backbone, version, split and shape in its spec', () => {
    const bb = c.backbone();

    const names = bb.splits.map((s) => s.name);
    const specs = names.map((n) => bb.spec(n));

    expect(new Set(names).size).toBe(names.length);
    expect(bb.version).not.toBe('');
    specs.forEach((spec, i) => {
      expect(spec).toEqual({
        backboneId: bb.id,
        backboneVersion: bb.version,
        split: names[i],
        shape: bb.splits[i].shape,
      });
    });
  });

  it('gives each split its declared shape per sample', () => {
    const bb = c.backbone();
    const x = c.input();

    const shapes = bb.splits.map((s) => {
      const f = bb.bottom(x, s.name);
      const shape = f.shape;
      f.dispose();
      return shape;
    });

    expect(shapes).toEqual(bb.splits.map((s) => [x.shape[0], ...s.shape]));
  });

  it('gives the same final output through bottom(split) then upperStage(split) as through the whole bottom', () => {
    const bb = c.backbone();
    const x = c.input();
    const last = bb.splits[bb.splits.length - 1].name;
    const whole = bb.bottom(x, last);

    const diffs: Record<string, number> = {};
    for (const s of bb.splits.slice(0, -1)) {
      const top = bb.upperStage(s.name);
      if (!top) continue;
      const f = bb.bottom(x, s.name);
      const y = top.predict(f) as tf.Tensor;
      diffs[s.name] = tf.tidy(() => tf.max(tf.abs(tf.sub(y, whole))).dataSync()[0]);
      tf.dispose([f, y]);
      top.dispose();
    }
    const scale = tf.tidy(() => tf.max(tf.abs(whole)).dataSync()[0]);
    whole.dispose();

    expect(bb.upperStage(last)).toBeNull();
    expect(scale).toBeGreaterThan(0);
    for (const d of Object.values(diffs)) expect(d).toBeLessThanOrEqual(c.tolerance);
  });

  it('returns upper stages that start at the split shape, end at the final shape and are trainable', () => {
    const bb = c.backbone();
    const last = bb.splits[bb.splits.length - 1];

    let withWeights = 0;
    for (const s of bb.splits.slice(0, -1)) {
      const top = bb.upperStage(s.name);
      if (!top) continue;
      const inShape = top.inputs[0].shape.slice(1);
      const outShape = top.outputs[0].shape.slice(1);
      const [trainable, all] = [top.trainableWeights.length, top.weights.length];
      top.dispose();

      expect(inShape).toEqual(s.shape);
      expect(outShape).toEqual(last.shape);
      // Every weight of an upper stage trains (a stage may have none, e.g. a lone global pool).
      expect(trainable).toBe(all);
      if (all > 0) withWeights += 1;
    }
    expect(withWeights).toBeGreaterThan(0);
  });

  it('rejects an unknown split with MODEL_UNKNOWN_SPLIT and a wrong input shape with BAD_ARGUMENT', () => {
    const bb = c.backbone();
    const wrong = tf.zeros([1, 7, 7, 3]) as tf.Tensor4D;
    const x = c.input();

    const codes = [
      code(() => bb.spec('nope')),
      code(() => bb.bottom(x, 'nope')),
      code(() => bb.upperStage('nope')),
      code(() => bb.bottomCosts('nope')),
    ];
    const shapeCode = code(() => bb.bottom(wrong, bb.splits[0].name));
    wrong.dispose();

    expect(codes).toEqual([
      'MODEL_UNKNOWN_SPLIT',
      'MODEL_UNKNOWN_SPLIT',
      'MODEL_UNKNOWN_SPLIT',
      'MODEL_UNKNOWN_SPLIT',
    ]);
    expect(shapeCode).toBe('BAD_ARGUMENT');
  });

  it('counts bottom costs that grow with the split and end at the split shape', () => {
    const bb = c.backbone();

    const totals = bb.splits.map((s) => sumCosts(bb.bottomCosts(s.name)));
    const lastShapes = bb.splits.map((s) => bb.bottomCosts(s.name).at(-1)?.outputShape);

    for (let i = 1; i < totals.length; i++) {
      expect(totals[i].forwardFlops).toBeGreaterThan(totals[i - 1].forwardFlops);
      expect(totals[i].params).toBeGreaterThanOrEqual(totals[i - 1].params);
    }
    expect(totals[0].forwardFlops).toBeGreaterThan(0);
    // The bottom is frozen: nothing in it is trainable.
    expect(totals.every((t) => t.trainableParams === 0)).toBe(true);
    expect(lastShapes).toEqual(bb.splits.map((s) => s.shape));
  });

  it('leaks no tensor across bottom, upperStage and bottomCosts calls', () => {
    const bb = c.backbone();
    const x = c.input();
    const before = tf.memory().numTensors;

    for (const s of bb.splits) {
      bb.bottom(x, s.name).dispose();
      bb.upperStage(s.name)?.dispose();
      bb.bottomCosts(s.name);
    }

    expect(tf.memory().numTensors).toBe(before);
  });

  if (c.trainSplit) {
    const split = c.trainSplit;
    it(`trains the upper stage after ${split} for one step without touching the bottom or leaking`, async () => {
      const bb = c.backbone();
      const x = c.input();
      const top = bb.upperStage(split)!;
      const f = bb.bottom(x, split);
      const last = bb.splits[bb.splits.length - 1].name;
      const wholeBefore = bb.bottom(x, last);
      const target = tf.randomNormal(
        [x.shape[0], ...(top.outputs[0].shape.slice(1) as number[])],
        0,
        1,
        'float32',
        7,
      );
      top.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
      const weightsBefore = top.trainableWeights.map((w) => w.read().dataSync().slice());
      const tensorsBefore = tf.memory().numTensors;

      const loss1 = (await top.trainOnBatch(f, target)) as number;
      const loss2 = (await top.trainOnBatch(f, target)) as number;

      const tensorsAfter = tf.memory().numTensors;
      const weightCount = top.trainableWeights.length;
      const changed = top.trainableWeights.filter((w, i) => {
        const now = w.read().dataSync();
        return now.some((v, j) => v !== weightsBefore[i][j]);
      }).length;
      const wholeAfter = bb.bottom(x, last);
      const bottomDrift = tf.tidy(() => tf.max(tf.abs(tf.sub(wholeAfter, wholeBefore))).dataSync()[0]);
      tf.dispose([f, target, wholeBefore, wholeAfter]);
      top.optimizer.dispose();
      top.dispose();

      expect(Number.isFinite(loss1)).toBe(true);
      expect(loss2).toBeLessThan(loss1);
      expect(changed).toBeGreaterThan(weightCount / 2);
      expect(bottomDrift).toBe(0);
      // trainOnBatch keeps its optimizer's slots (none for plain SGD) and nothing else.
      expect(tensorsAfter).toBe(tensorsBefore);
    });
  }
}
