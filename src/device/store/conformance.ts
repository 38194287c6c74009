/**
 * One conformance suite for every DeviceStore (the Hono router-cases habit): call
 * `describeDeviceStore(name, factory)` from an implementation's test file and the same behaviour is
 * checked everywhere. Test support only; registers vitest tests, so import it from `*.test.ts`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceStore } from '../types.js';

export interface StoreUnderTest {
  store: DeviceStore;
  /** Opens the same storage again (a restart); omitted for stores that keep nothing. */
  reopen?: () => Promise<DeviceStore>;
  cleanup?: () => Promise<void>;
}

export function describeDeviceStore(name: string, factory: () => Promise<StoreUnderTest>): void {
  describe(`DeviceStore conformance: ${name}`, () => {
    let current: StoreUnderTest | undefined;
    const open = async () => (current = await factory());

    afterEach(async () => {
      await current?.store.close?.();
      await current?.cleanup?.();
      current = undefined;
    });

    it('answers undefined for a key never written', async () => {
      const { store } = await open();
      expect(await store.getJson('missing')).toBeUndefined();
      expect(await store.getBytes('missing')).toBeUndefined();
    });

    it('round-trips JSON values and overwrites them', async () => {
      const { store } = await open();
      const value = { token: 'fxd_abc', n: 3, nested: { list: [1, 'two', null] }, ok: true };
      await store.putJson('state', value);
      expect(await store.getJson('state')).toEqual(value);
      await store.putJson('state', [1, 2]);
      expect(await store.getJson('state')).toEqual([1, 2]);
    });

    it('round-trips bytes exactly, copying them in and out', async () => {
      const { store } = await open();
      const backing = new Uint8Array([9, 9, 0, 1, 2, 255, 128, 9]);
      const view = backing.subarray(2, 7);
      await store.putBytes('blob.bin', view);
      view[0] = 42; // the caller's later change must not reach the store
      const got = await store.getBytes('blob.bin');
      expect(Array.from(got!)).toEqual([0, 1, 2, 255, 128]);
      got![0] = 7;
      expect(Array.from((await store.getBytes('blob.bin'))!)).toEqual([0, 1, 2, 255, 128]);
      await store.putBytes('empty', new Uint8Array(0));
      expect((await store.getBytes('empty'))!.byteLength).toBe(0);
    });

    it('deletes a key, and deleting a missing key is fine', async () => {
      const { store } = await open();
      await store.putJson('a', 1);
      await store.delete('a');
      await store.delete('a');
      await store.delete('never');
      expect(await store.getJson('a')).toBeUndefined();
      expect(await store.keys('')).toEqual([]);
    });

    it('lists keys with a prefix, sorted ascending', async () => {
      const { store } = await open();
      for (const k of [
        'outbox.0000000000002.b',
        'outbox.0000000000010.a',
        'outbox.0000000000001.c',
        'state',
        'dead.1.x',
      ])
        await store.putJson(k, k);
      expect(await store.keys('outbox.')).toEqual([
        'outbox.0000000000001.c',
        'outbox.0000000000002.b',
        'outbox.0000000000010.a',
      ]);
      expect(await store.keys('')).toEqual([
        'dead.1.x',
        'outbox.0000000000001.c',
        'outbox.0000000000002.b',
        'outbox.0000000000010.a',
        'state',
      ]);
      expect(await store.keys('nothing')).toEqual([]);
    });

    it('refuses keys that could escape the store or collide with its temporary files', async () => {
      const { store } = await open();
      for (const bad of [
        '',
        '.',
        '..',
        '../x',
        'a/b',
        'a\\b',
        'a..b',
        'x.tmp-1',
        'sp ace',
        'é',
        'k'.repeat(201),
      ]) {
        await expect(store.putJson(bad, 1), bad).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
        await expect(store.getBytes(bad), bad).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
      }
      await expect(store.keys('../')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    });

    it('says a value is not JSON rather than returning garbage', async () => {
      const { store } = await open();
      await store.putBytes('raw', new Uint8Array([0xff, 0x00, 0x7b]));
      await expect(store.getJson('raw')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
    });

    it('keeps concurrent writes to different keys', async () => {
      const { store } = await open();
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.putJson(`k${String(i).padStart(2, '0')}`, i)),
      );
      const keys = await store.keys('k');
      expect(keys).toHaveLength(20);
      expect(await Promise.all(keys.map((k) => store.getJson<number>(k)))).toEqual(
        Array.from({ length: 20 }, (_, i) => i),
      );
    });

    it('keeps what was written across a reopen', async () => {
      const t = await open();
      if (!t.reopen) return; // a store that keeps nothing between runs
      await t.store.putJson('state', { v: 1 });
      await t.store.putBytes('blob', new Uint8Array([1, 2, 3]));
      await t.store.delete('state');
      await t.store.putJson('state', { v: 2 });
      await t.store.close?.();
      const again = await t.reopen();
      expect(await again.getJson('state')).toEqual({ v: 2 });
      expect(Array.from((await again.getBytes('blob'))!)).toEqual([1, 2, 3]);
      expect(await again.keys('')).toEqual(['blob', 'state']);
      await again.close?.();
    });
  });
}
