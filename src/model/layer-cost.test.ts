import { describe, expect, it } from 'vitest';
import {
  activationCost,
  addCost,
  backwardFlops,
  batchNormCost,
  conv2dCost,
  dataMovementCost,
  denseCost,
  depthwiseConv2dCost,
  globalPoolCost,
  poolCost,
  sumCosts,
} from './layer-cost.js';

describe('layer costs', () => {
  it('counts a 3×3 conv 2→4 on a 5×5 output with bias and relu by hand', () => {
    // 2·(3·3·2)·4·25 = 3600 multiply-add FLOPs; bias 4·25 = 100; relu 100.
    const c = conv2dCost('c', {
      kernel: [3, 3],
      inChannels: 2,
      outChannels: 4,
      outputShape: [5, 5, 4],
      useBias: true,
      activation: 'relu',
    });

    expect(c).toEqual({
      name: 'c',
      kind: 'conv2d',
      outputShape: [5, 5, 4],
      params: 3 * 3 * 2 * 4 + 4,
      trainableParams: 76,
      forwardFlops: 3800,
      backwardFlops: 7600,
    });
  });

  it('counts a frozen conv with no trainable parameters and an input-gradient-only backward', () => {
    const c = conv2dCost('c', {
      kernel: [1, 1],
      inChannels: 3,
      outChannels: 2,
      outputShape: [2, 2, 2],
      useBias: false,
      trainable: false,
    });

    expect(c.forwardFlops).toBe(2 * 3 * 2 * 4);
    expect(c.trainableParams).toBe(0);
    expect(c.backwardFlops).toBe(c.forwardFlops);
  });

  it('counts depthwise, dense, batch-norm, pooling, add, activation and data movement by the rule', () => {
    const dw = depthwiseConv2dCost('dw', {
      kernel: [3, 3],
      inChannels: 4,
      depthMultiplier: 2,
      outputShape: [2, 2, 8],
      useBias: true,
    });
    const fc = denseCost('fc', { inUnits: 10, units: 3, useBias: true, activation: 'linear' });
    const bn = batchNormCost('bn', { outputShape: [2, 2, 8] });
    const mp = poolCost('mp', 'maxPool', { pool: [3, 3], outputShape: [2, 2, 8] });
    const gap = globalPoolCost('gap', 'globalAvgPool', [4, 4, 8]);
    const add = addCost('add', { inputs: 3, outputShape: [2, 2, 8] });
    const relu = activationCost('r', 'relu', [2, 2, 8]);
    const pad = dataMovementCost('p', 'zeroPadding2D', [3, 3, 8]);

    expect([dw.params, dw.forwardFlops, dw.backwardFlops]).toEqual([
      3 * 3 * 8 + 8,
      2 * 9 * 32 + 32,
      2 * (2 * 9 * 32 + 32),
    ]);
    expect([fc.params, fc.forwardFlops, fc.outputShape]).toEqual([33, 63, [3]]);
    expect([bn.params, bn.trainableParams, bn.forwardFlops]).toEqual([32, 16, 64]);
    expect([mp.forwardFlops, mp.backwardFlops, mp.params]).toEqual([9 * 32, 9 * 32, 0]);
    expect([gap.forwardFlops, gap.outputShape]).toEqual([128, [8]]);
    expect(add.forwardFlops).toBe(64);
    expect(relu.forwardFlops).toBe(32);
    expect([pad.forwardFlops, pad.backwardFlops]).toEqual([0, 0]);
  });

  it('applies backward = 2× forward with trainable weights, 1× without, and sums costs', () => {
    const a = denseCost('a', { inUnits: 2, units: 2, useBias: false });
    const b = activationCost('b', 'relu', [2]);

    const total = sumCosts([a, b]);

    expect(backwardFlops(10, true)).toBe(20);
    expect(backwardFlops(10, false)).toBe(10);
    expect(total).toEqual({ params: 4, trainableParams: 4, forwardFlops: 8 + 2, backwardFlops: 16 + 2 });
  });
});
