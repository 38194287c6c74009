/**
 * The device's outbox: encoded feature batches (FXFB) waiting for upload, kept in the DeviceStore
 * so that a crash, a reboot or a day offline loses nothing. Bounded (`OUTBOX_FULL` rather than
 * filling the phone), first in first out, and flushed with backoff: an entry leaves the outbox
 * only after the server acknowledged it, and since the batch id is the upload's Idempotency-Key a
 * resend after a lost acknowledgement is stored once.
 *
 * Storage layout, no index file: one key per entry, `outbox.<13-digit ordinal>.<batchId>`, holding
 * the FXFB bytes; the ordinal is the creation time in ms, bumped to stay strictly increasing, so
 * sorted keys are FIFO. Sample counts come from each batch's header (`peekHeader`). A batch the
 * server refuses for good (malformed, conflicting id, too large) is moved aside to
 * `dead.<ordinal>.<batchId>`: kept for inspection, never retried forever, not counted in `usage`.
 *
 * Platform-neutral; knows nothing about HTTP (the caller's `send` does the upload).
 *
 * @example
 * const outbox = await Outbox.open(store, { maxBatches: 500, maxBytes: 64 << 20 });
 * await outbox.add({ batchId, bytes });
 * const r = await outbox.flush((e) => client.uploadBatch(userId, e.batchId, e.bytes).then(() => {}), {
 *   policy, random: Math.random, sleep, retryable: isRetryable,
 * });
 */
import { peekHeader } from '../core/codec.js';
import { FedexError, isFedexError } from '../core/errors.js';
import { withRetry, type RetryOptions } from './backoff.js';
import type { DeviceStore, OutboxEntry, OutboxLimits } from './types.js';

const PENDING = 'outbox.';
const DEAD = 'dead.';
const ORDINAL_DIGITS = 13;
/** Batch ids the outbox accepts: the server's Idempotency-Key alphabet minus `:` (keys are file names). */
const BATCH_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/** Defaults of the outbox limits: 500 batches, 64 MiB. */
export const DEFAULT_OUTBOX_LIMITS: Readonly<OutboxLimits> = Object.freeze({
  maxBatches: 500,
  maxBytes: 64 * 1024 * 1024,
});

/** An entry as the outbox indexes it (no bytes). */
export interface OutboxEntryInfo {
  key: string;
  batchId: string;
  /** Size of the FXFB bytes. */
  size: number;
  samples: number;
  createdAt: number;
}

export interface OutboxUsage {
  batches: number;
  bytes: number;
  samples: number;
  /** Entries moved aside after a final refusal (not counted above). */
  dead: { batches: number; bytes: number };
}

/** One entry the server refused for good during a flush, now under `dead.*`. */
export interface DeadLetter {
  batchId: string;
  key: string;
  error: unknown;
}

export interface FlushOptions extends RetryOptions {
  /**
   * True when an error condemns this entry rather than the call (the batch itself is bad: codec
   * errors, a conflicting batch id, too large). Such an entry is moved aside and the flush goes
   * on. Default `isPoisonBatchError`. Any other non-retryable error (auth, unknown user) stops
   * the flush with the entry kept.
   */
  poison?: (e: unknown) => boolean;
}

export interface FlushResult {
  /** Entries acknowledged and removed. */
  sent: number;
  /** Entries still pending when the flush ended. */
  remaining: number;
  /** Entries moved aside during this flush. */
  dead: DeadLetter[];
  /** Why the flush stopped early (the entry at the head still failing), if it did. */
  lastError?: unknown;
}

/** The upload errors that no resend can cure and that concern only this batch. */
export function isPoisonBatchError(e: unknown): boolean {
  if (!isFedexError(e)) return false;
  return (
    e.code.startsWith('CODEC_') ||
    e.code === 'IDEMPOTENCY_CONFLICT' ||
    e.code === 'PAYLOAD_TOO_LARGE' ||
    e.code === 'UNSUPPORTED_MEDIA_TYPE' ||
    e.code === 'BAD_REQUEST'
  );
}

function parseKey(key: string, prefix: string): { ordinal: number; batchId: string } | undefined {
  const rest = key.slice(prefix.length);
  const m = /^(\d{13})\.(.+)$/.exec(rest);
  if (!m || !BATCH_ID.test(m[2])) return undefined;
  return { ordinal: Number(m[1]), batchId: m[2] };
}

function makeKey(prefix: string, ordinal: number, batchId: string): string {
  return `${prefix}${String(ordinal).padStart(ORDINAL_DIGITS, '0')}.${batchId}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Samples in an FXFB message, from its header alone. Throws the codec's error for other bytes. */
function countSamples(bytes: Uint8Array): number {
  const h = peekHeader(bytes);
  if (h.kind !== 'feature-batch')
    throw new FedexError('BAD_ARGUMENT', 'the outbox holds feature batches (FXFB), not model weights');
  return h.sampleIds.length;
}

export class Outbox {
  private readonly pending: OutboxEntryInfo[];
  private readonly deadIndex: OutboxEntryInfo[];
  private lastOrdinal: number;
  private flushing: Promise<FlushResult> | undefined;
  /** Serialises add/remove/flush steps so the index and the store never disagree. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly store: DeviceStore,
    readonly limits: OutboxLimits,
    private readonly now: () => number,
    pending: OutboxEntryInfo[],
    dead: OutboxEntryInfo[],
  ) {
    this.pending = pending;
    this.deadIndex = dead;
    this.lastOrdinal = Math.max(0, ...pending.map((e) => e.createdAt), ...dead.map((e) => e.createdAt));
  }

  /**
   * Opens the outbox kept in `store`, rebuilding its index from the keys. An entry whose bytes are
   * no feature batch is moved aside (`dead.*`); one left both pending and dead by a crash while it
   * was moved aside stays dead.
   */
  static async open(
    store: DeviceStore,
    limits: Partial<OutboxLimits> = {},
    options: { now?: () => number } = {},
  ): Promise<Outbox> {
    const resolved: OutboxLimits = { ...DEFAULT_OUTBOX_LIMITS, ...limits };
    for (const [name, v] of Object.entries(resolved)) {
      if (!Number.isSafeInteger(v) || v < 1)
        throw new FedexError('BAD_ARGUMENT', `outbox ${name} must be a positive integer, got ${v}`);
    }
    const dead = await Outbox.scan(store, DEAD);
    // A move aside keeps the ordinal, so the same ordinal and id in both means it was interrupted.
    const deadIds = new Set(dead.map((e) => `${e.info.createdAt}.${e.info.batchId}`));
    const pending: OutboxEntryInfo[] = [];
    for (const { info, ok } of await Outbox.scan(store, PENDING)) {
      if (deadIds.has(`${info.createdAt}.${info.batchId}`)) {
        await store.delete(info.key); // a move aside interrupted after its copy
      } else if (!ok) {
        const bytes = (await store.getBytes(info.key)) ?? new Uint8Array(0);
        const key = makeKey(DEAD, info.createdAt, info.batchId);
        await store.putBytes(key, bytes);
        await store.delete(info.key);
        dead.push({ info: { ...info, key }, ok: false });
      } else {
        pending.push(info);
      }
    }
    return new Outbox(
      store,
      resolved,
      options.now ?? Date.now,
      pending,
      dead.map((d) => d.info),
    );
  }

  private static async scan(
    store: DeviceStore,
    prefix: string,
  ): Promise<{ info: OutboxEntryInfo; ok: boolean }[]> {
    const out: { info: OutboxEntryInfo; ok: boolean }[] = [];
    for (const key of await store.keys(prefix)) {
      const parsed = parseKey(key, prefix);
      if (!parsed) continue; // not ours
      const bytes = await store.getBytes(key);
      if (bytes === undefined) continue;
      let samples = 0;
      let ok = true;
      try {
        samples = countSamples(bytes);
      } catch {
        ok = false;
      }
      out.push({
        info: { key, batchId: parsed.batchId, size: bytes.byteLength, samples, createdAt: parsed.ordinal },
        ok,
      });
    }
    return out;
  }

  /**
   * Queues a feature batch for upload. Throws `OUTBOX_FULL` (nothing written) when it would pass
   * `maxBatches` or `maxBytes`, a codec error when `bytes` is no feature batch, and
   * `IDEMPOTENCY_CONFLICT` when `batchId` is already queued with other bytes (the same bytes again
   * are a no-op). `samples` is read from the batch header; `createdAt` defaults to now.
   */
  add(entry: {
    batchId: string;
    bytes: Uint8Array;
    createdAt?: number;
    samples?: number;
  }): Promise<OutboxEntryInfo> {
    return this.serial(async () => {
      const { batchId, bytes } = entry;
      if (
        typeof batchId !== 'string' ||
        !BATCH_ID.test(batchId) ||
        batchId.includes('..') ||
        batchId.includes('.tmp-')
      )
        throw new FedexError(
          'BAD_ARGUMENT',
          `bad batch id ${JSON.stringify(batchId)}: use 1-128 of [A-Za-z0-9._-], not starting with "."`,
        );
      const samples = countSamples(bytes);
      const existing = this.pending.find((e) => e.batchId === batchId);
      if (existing) {
        const held = await this.store.getBytes(existing.key);
        if (held && sameBytes(held, bytes)) return { ...existing };
        throw new FedexError(
          'IDEMPOTENCY_CONFLICT',
          `batch ${batchId} is already in the outbox with other bytes`,
        );
      }
      const u = this.usage();
      if (u.batches + 1 > this.limits.maxBatches || u.bytes + bytes.byteLength > this.limits.maxBytes) {
        throw new FedexError(
          'OUTBOX_FULL',
          `the outbox is full: it holds ${u.batches} of ${this.limits.maxBatches} batches and ` +
            `${u.bytes} of ${this.limits.maxBytes} bytes; batch ${batchId} (${bytes.byteLength} bytes) ` +
            'must wait until a sync uploads some',
        );
      }
      const ordinal = Math.max(Math.floor(entry.createdAt ?? this.now()), this.lastOrdinal + 1);
      if (ordinal >= 10 ** ORDINAL_DIGITS)
        throw new FedexError('BAD_ARGUMENT', `createdAt ${ordinal} is out of range`);
      const key = makeKey(PENDING, ordinal, batchId);
      await this.store.putBytes(key, bytes);
      this.lastOrdinal = ordinal;
      const info: OutboxEntryInfo = { key, batchId, size: bytes.byteLength, samples, createdAt: ordinal };
      this.pending.push(info);
      return { ...info };
    });
  }

  /** Pending entries, oldest first, without their bytes. */
  entries(): OutboxEntryInfo[] {
    return this.pending.map((e) => ({ ...e }));
  }

  /** Pending entries with their bytes, oldest first. */
  async list(): Promise<OutboxEntry[]> {
    const out: OutboxEntry[] = [];
    for (const e of this.entries()) {
      const bytes = await this.store.getBytes(e.key);
      if (bytes) out.push({ batchId: e.batchId, bytes, samples: e.samples, createdAt: e.createdAt });
    }
    return out;
  }

  /** Entries moved aside after a final refusal, oldest first, without their bytes. */
  deadEntries(): OutboxEntryInfo[] {
    return this.deadIndex.map((e) => ({ ...e }));
  }

  /** The bytes of a dead entry, for inspection. */
  async deadBytes(batchId: string): Promise<Uint8Array | undefined> {
    const e = this.deadIndex.find((d) => d.batchId === batchId);
    return e ? this.store.getBytes(e.key) : undefined;
  }

  /** Deletes a pending entry; false when there was none with this id. */
  remove(batchId: string): Promise<boolean> {
    return this.serial(() => this.removeFrom(this.pending, batchId));
  }

  /** Deletes a dead entry for good; false when there was none with this id. */
  removeDead(batchId: string): Promise<boolean> {
    return this.serial(() => this.removeFrom(this.deadIndex, batchId));
  }

  usage(): OutboxUsage {
    let bytes = 0;
    let samples = 0;
    for (const e of this.pending) {
      bytes += e.size;
      samples += e.samples;
    }
    let deadBytes = 0;
    for (const e of this.deadIndex) deadBytes += e.size;
    return {
      batches: this.pending.length,
      bytes,
      samples,
      dead: { batches: this.deadIndex.length, bytes: deadBytes },
    };
  }

  /**
   * Sends pending entries oldest first, each with `withRetry`; removes an entry only after `send`
   * resolved. Stops at the first entry that still fails after its attempts, or fails with a
   * non-retryable error that is not the batch's fault (it stays pending; `lastError` says why).
   * An entry refused for good (`poison`) is moved aside and the flush goes on. Entries added
   * during a flush are sent by it too. A flush called while one runs joins it.
   */
  flush(send: (entry: OutboxEntry) => Promise<void>, options: FlushOptions): Promise<FlushResult> {
    this.flushing ??= this.runFlush(send, options).finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async runFlush(
    send: (entry: OutboxEntry) => Promise<void>,
    options: FlushOptions,
  ): Promise<FlushResult> {
    const poison = options.poison ?? isPoisonBatchError;
    const result: FlushResult = { sent: 0, remaining: 0, dead: [] };
    for (;;) {
      const head = this.pending[0];
      if (!head) break;
      const bytes = await this.store.getBytes(head.key);
      if (bytes === undefined) {
        // Deleted behind our back (another tab?): nothing to send.
        await this.serial(() => this.removeFrom(this.pending, head.batchId));
        continue;
      }
      const entry: OutboxEntry = {
        batchId: head.batchId,
        bytes,
        samples: head.samples,
        createdAt: head.createdAt,
      };
      try {
        await withRetry(() => send(entry), options);
      } catch (error) {
        if (!options.retryable(error) && poison(error)) {
          const key = await this.serial(() => this.moveAside(head));
          result.dead.push({ batchId: head.batchId, key, error });
          continue;
        }
        result.lastError = error;
        break;
      }
      await this.serial(() => this.removeFrom(this.pending, head.batchId));
      result.sent++;
    }
    result.remaining = this.pending.length;
    return result;
  }

  private async moveAside(info: OutboxEntryInfo): Promise<string> {
    const i = this.pending.indexOf(info);
    const bytes = await this.store.getBytes(info.key);
    const key = makeKey(DEAD, info.createdAt, info.batchId);
    // Copy first, then delete: a crash in between leaves both, and `open` keeps the dead one.
    if (bytes) await this.store.putBytes(key, bytes);
    await this.store.delete(info.key);
    if (i >= 0) this.pending.splice(i, 1);
    if (bytes) this.deadIndex.push({ ...info, key });
    return key;
  }

  private async removeFrom(index: OutboxEntryInfo[], batchId: string): Promise<boolean> {
    const i = index.findIndex((e) => e.batchId === batchId);
    if (i < 0) return false;
    await this.store.delete(index[i].key);
    index.splice(i, 1);
    return true;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
