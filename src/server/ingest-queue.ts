/**
 * Group commit for uploads. Requests whose bodies arrive in the same turn of the event loop are
 * stored in one transaction (`Store.ingestMany`), so under load one fsync acknowledges many
 * uploads instead of one each; every request still gets its own answer only after the commit, and
 * a rejected upload does not take its group down. With one request at a time it costs one
 * `setImmediate` of latency.
 */
import type { IngestInput, Store } from './store/store.js';
import type { IngestResult } from './store/types.js';

interface Pending {
  input: IngestInput;
  resolve: (r: IngestResult) => void;
  reject: (e: Error) => void;
}

export class IngestQueue {
  private pending: Pending[] = [];
  private scheduled = false;
  private flushing = false;
  /** Groups committed and uploads in them, for the metrics. */
  groups = 0;
  uploads = 0;

  constructor(
    private readonly store: Store,
    /** Most uploads in one transaction. */
    private readonly maxGroup = 128,
  ) {}

  /** Resolves with the stored result once its transaction committed; rejects with its error. */
  submit(input: IngestInput): Promise<IngestResult> {
    return new Promise((resolve, reject) => {
      this.pending.push({ input, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    // Uploads that arrive while a group commits wait for the next group: with a store that
    // answers asynchronously (PostgreSQL) the groups grow with the load, one commit each.
    this.scheduled = false;
    if (this.flushing) return; // the running loop takes what arrived
    this.flushing = true;
    try {
      while (this.pending.length > 0) await this.commit(this.pending.splice(0, this.maxGroup));
    } finally {
      this.flushing = false;
    }
  }

  private async commit(group: Pending[]): Promise<void> {
    let results: (IngestResult | Error)[];
    try {
      results = await this.store.ingestMany(group.map((p) => p.input));
    } catch (e) {
      for (const p of group) p.reject(e as Error);
      return;
    }
    this.groups += 1;
    this.uploads += group.length;
    group.forEach((p, i) => {
      const r = results[i];
      if (r instanceof Error) p.reject(r);
      else p.resolve(r);
    });
  }
}
