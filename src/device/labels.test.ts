import { describe, expect, it } from 'vitest';
import { addCosts, CostMeter, emptyCosts, parseCosts } from './costs.js';
import { LabelMap } from './labels.js';

describe('LabelMap', () => {
  it('gives new names the next id and keeps known ones', () => {
    const map = new LabelMap();
    expect([map.ensure('ann'), map.ensure('bob'), map.ensure('ann')]).toEqual([0, 1, 0]);
    expect(map.nameOf(1)).toBe('bob');
    expect(map.entries().every((e) => !e.synced)).toBe(true);
  });

  it('adopts the server id of a name it knows and moves a provisional id another device took', () => {
    // Prepare: offline, this device named ann 0 and cy 1; meanwhile another device named bob 0, ann 1.
    const map = new LabelMap();
    map.ensure('ann');
    map.ensure('cy');

    // Execute
    const r = map.reconcile([
      { id: 0, name: 'bob' },
      { id: 1, name: 'ann' },
    ]);

    // Assert
    expect(r.toPut).toEqual([{ id: 2, name: 'cy' }]);
    expect([...r.remap]).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(map.entries().map(({ id, name }) => [id, name])).toEqual([
      [0, 'bob'],
      [1, 'ann'],
      [2, 'cy'],
    ]);
    map.markSynced(r.toPut);
    expect(map.entries().every((e) => e.synced)).toBe(true);
  });

  it('keeps a provisional id the server does not use', () => {
    const map = new LabelMap([{ id: 4, name: 'dee', synced: false }]);
    const r = map.reconcile([{ id: 0, name: 'bob' }]);
    expect(r).toEqual({ toPut: [{ id: 4, name: 'dee' }], remap: new Map() });
  });
});

describe('CostMeter', () => {
  it('adds this session to the totals before it', () => {
    const before = { ...emptyCosts(), photos: 2, flops: 10, bytesUp: 5 };
    const meter = new CostMeter(before);
    meter.photo(7, 30);
    meter.bytes(100, 200);
    meter.time('upload', 4);
    expect(meter.snapshot('session')).toMatchObject({ photos: 1, flops: 7, bytesUp: 100, bytesDown: 200 });
    expect(meter.snapshot()).toMatchObject({
      photos: 3,
      flops: 17,
      bytesUp: 105,
      ms: { extract: 30, upload: 4 },
    });
    expect(addCosts(before, before).photos).toBe(4);
    expect(parseCosts({ photos: 'x', ms: { predict: 3 } })).toMatchObject({ photos: 0, ms: { predict: 3 } });
  });
});
