import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FedexError } from '../core/errors.js';
import { encodeBatch, syntheticBatch } from '../server/testing/harness.js';
import { isRetryable } from './client.js';
import { Outbox, type FlushOptions } from './outbox.js';
import { MemoryDeviceStore } from './store/memory.js';
import { NodeFileDeviceStore } from './store/node-files.js';
import type { OutboxEntry } from './types.js';

const batch = (samples: number, prefix: string) =>
  encodeBatch(syntheticBatch({ people: 1, perPerson: samples, prefix }));

const fast: FlushOptions = {
  policy: { baseMs: 1, maxMs: 4, maxAttempts: 3 },
  random: () => 0.5,
  sleep: async () => {},
  retryable: isRetryable,
};

const dirs: string[] = [];
async function fileStore(): Promise<{ dir: string; store: NodeFileDeviceStore }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fedex-outbox-'));
  dirs.push(dir);
  return { dir, store: await NodeFileDeviceStore.open(dir) };
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('Outbox', () => {
  it('keeps entries first in first out, with sample counts from the batch headers, across a reopen', async () => {
    const { dir, store } = await fileStore();
    const outbox = await Outbox.open(store, {}, { now: () => 1_700_000_000_000 });
    await outbox.add({ batchId: 'b-3', bytes: batch(3, 'x') });
    await outbox.add({ batchId: 'b-1', bytes: batch(1, 'y') }); // same clock: still after b-3
    await outbox.add({ batchId: 'a-2', bytes: batch(2, 'z') });
    expect(outbox.entries().map((e) => e.batchId)).toEqual(['b-3', 'b-1', 'a-2']);

    const again = await Outbox.open(await NodeFileDeviceStore.open(dir));
    expect(again.entries().map((e) => [e.batchId, e.samples])).toEqual([
      ['b-3', 3],
      ['b-1', 1],
      ['a-2', 2],
    ]);
    const listed = await again.list();
    expect(listed.map((e) => e.bytes)).toEqual([batch(3, 'x'), batch(1, 'y'), batch(2, 'z')]);
    expect(again.usage()).toEqual({
      batches: 3,
      samples: 6,
      bytes: listed.reduce((a, e) => a + e.bytes.byteLength, 0),
      dead: { batches: 0, bytes: 0 },
    });
    const created = listed.map((e) => e.createdAt);
    expect(created).toEqual([1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002]);
  });

  it('refuses a batch past maxBatches or maxBytes with OUTBOX_FULL and writes nothing', async () => {
    const store = new MemoryDeviceStore();
    const one = batch(2, 'a');
    const outbox = await Outbox.open(store, { maxBatches: 2, maxBytes: 3 * one.byteLength });
    await outbox.add({ batchId: 'b1', bytes: one });
    await outbox.add({ batchId: 'b2', bytes: batch(2, 'b') });
    const full = outbox.add({ batchId: 'b3', bytes: batch(2, 'c') });
    await expect(full).rejects.toMatchObject({ code: 'OUTBOX_FULL' });
    await expect(full).rejects.toThrow(/2 of 2 batches/);
    expect(await store.keys('')).toHaveLength(2);

    const byBytes = await Outbox.open(new MemoryDeviceStore(), {
      maxBatches: 10,
      maxBytes: one.byteLength + 10,
    });
    await byBytes.add({ batchId: 'b1', bytes: one });
    await expect(byBytes.add({ batchId: 'b2', bytes: batch(2, 'b') })).rejects.toThrow(
      new RegExp(`${one.byteLength} of ${one.byteLength + 10} bytes`),
    );
    expect(byBytes.usage().batches).toBe(1);
  });

  it('treats the same batch added twice as one, and the same id with other bytes as a conflict', async () => {
    const outbox = await Outbox.open(new MemoryDeviceStore());
    await outbox.add({ batchId: 'b1', bytes: batch(2, 'a') });
    await outbox.add({ batchId: 'b1', bytes: batch(2, 'a') });
    expect(outbox.usage().batches).toBe(1);
    await expect(outbox.add({ batchId: 'b1', bytes: batch(2, 'other') })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_CONFLICT',
    });
  });

  it('refuses bytes that are no feature batch and ids that cannot be keys', async () => {
    const store = new MemoryDeviceStore();
    const outbox = await Outbox.open(store);
    await expect(
      outbox.add({ batchId: 'b1', bytes: new TextEncoder().encode('hello') }),
    ).rejects.toMatchObject({
      code: expect.stringMatching(/^CODEC_/),
    });
    for (const id of ['', 'a:b', '../x', '.hidden', 'x'.repeat(129)])
      await expect(outbox.add({ batchId: id, bytes: batch(1, 'a') }), id).rejects.toMatchObject({
        code: 'BAD_ARGUMENT',
      });
    expect(await store.keys('')).toEqual([]);
  });

  it('flushes in order and removes each entry only after send resolved', async () => {
    const store = new MemoryDeviceStore();
    const outbox = await Outbox.open(store);
    for (const id of ['b1', 'b2', 'b3']) await outbox.add({ batchId: id, bytes: batch(1, id) });
    const seen: string[] = [];
    const r = await outbox.flush(async (e) => {
      seen.push(e.batchId);
      // Not removed while its send is in flight.
      expect(outbox.entries().map((x) => x.batchId)).toContain(e.batchId);
    }, fast);
    expect(seen).toEqual(['b1', 'b2', 'b3']);
    expect(r).toEqual({ sent: 3, remaining: 0, dead: [] });
    expect(await store.keys('')).toEqual([]);
  });

  it('retries a transient failure, and stops at an entry that keeps failing, keeping it and those after it', async () => {
    const outbox = await Outbox.open(new MemoryDeviceStore());
    for (const id of ['b1', 'b2', 'b3']) await outbox.add({ batchId: id, bytes: batch(1, id) });
    const calls: string[] = [];
    let b1Failures = 1;
    const r = await outbox.flush(async (e) => {
      calls.push(e.batchId);
      if (e.batchId === 'b1' && b1Failures-- > 0) throw new FedexError('UNAVAILABLE', 'blip');
      if (e.batchId === 'b2') throw new FedexError('UNAVAILABLE', 'down');
    }, fast);
    expect(calls).toEqual(['b1', 'b1', 'b2', 'b2', 'b2']);
    expect(r.sent).toBe(1);
    expect(r.remaining).toBe(2);
    expect(r.lastError).toMatchObject({ code: 'UNAVAILABLE' });
    expect(outbox.entries().map((e) => e.batchId)).toEqual(['b2', 'b3']);
  });

  it('moves a batch the server refuses for good aside (kept, not retried) and goes on', async () => {
    const { dir, store } = await fileStore();
    const outbox = await Outbox.open(store);
    for (const id of ['b1', 'b2', 'b3']) await outbox.add({ batchId: id, bytes: batch(1, id) });
    let b2Calls = 0;
    const r = await outbox.flush(async (e) => {
      if (e.batchId === 'b2') {
        b2Calls++;
        throw new FedexError('IDEMPOTENCY_CONFLICT', 'other bytes under b2');
      }
    }, fast);
    expect(b2Calls).toBe(1);
    expect(r.sent).toBe(2);
    expect(r.dead.map((d) => [d.batchId, (d.error as FedexError).code])).toEqual([
      ['b2', 'IDEMPOTENCY_CONFLICT'],
    ]);
    expect(outbox.usage()).toMatchObject({ batches: 0, dead: { batches: 1 } });
    const reopened = await Outbox.open(await NodeFileDeviceStore.open(dir));
    expect(reopened.deadEntries().map((e) => e.batchId)).toEqual(['b2']);
    expect(await reopened.deadBytes('b2')).toEqual(batch(1, 'b2'));
    expect(await reopened.removeDead('b2')).toBe(true);
    expect(await store.keys('')).toEqual([]);
  });

  it('stops without dead-lettering when the error is the call’s, not the batch’s (auth)', async () => {
    const outbox = await Outbox.open(new MemoryDeviceStore());
    for (const id of ['b1', 'b2']) await outbox.add({ batchId: id, bytes: batch(1, id) });
    const r = await outbox.flush(async () => {
      throw new FedexError('AUTH_INVALID', 'revoked');
    }, fast);
    expect(r).toMatchObject({ sent: 0, remaining: 2, dead: [] });
    expect(r.lastError).toMatchObject({ code: 'AUTH_INVALID' });
  });

  it('finishes a move aside that a crash interrupted, and dead-letters unreadable entries at open', async () => {
    const store = new MemoryDeviceStore();
    const bytes = batch(1, 'a');
    await store.putBytes('outbox.0000000000005.b1', bytes);
    await store.putBytes('dead.0000000000005.b1', bytes); // copied aside, original not yet deleted
    await store.putBytes('outbox.0000000000006.b2', new Uint8Array([1, 2, 3])); // not an FXFB
    await store.putBytes('outbox.0000000000007.b3', bytes);
    const outbox = await Outbox.open(store);
    expect(outbox.entries().map((e) => e.batchId)).toEqual(['b3']);
    expect(outbox.deadEntries().map((e) => e.batchId)).toEqual(['b1', 'b2']);
    expect(await store.keys('outbox.')).toEqual(['outbox.0000000000007.b3']);
    // New entries sort after everything already there, whatever the clock says.
    const info = await outbox.add({ batchId: 'b4', bytes: batch(1, 'b'), createdAt: 1 });
    expect(info.createdAt).toBe(8);
  });

  it('joins a flush already running instead of sending twice', async () => {
    const outbox = await Outbox.open(new MemoryDeviceStore());
    await outbox.add({ batchId: 'b1', bytes: batch(1, 'a') });
    const sent: OutboxEntry[] = [];
    const send = async (e: OutboxEntry) => {
      await new Promise((r) => setTimeout(r, 5));
      sent.push(e);
    };
    const [a, b] = await Promise.all([outbox.flush(send, fast), outbox.flush(send, fast)]);
    expect(sent).toHaveLength(1);
    expect(a).toBe(b);
  });
});
