/**
 * The in-memory transport of the simulator: each selected client is a function from task to
 * result, called in process. Dropouts (never answer) and stragglers (answer after `delayMs`) are
 * injected; a client answering after the deadline, or throwing, is as good as dropped.
 *
 * Time is virtual by default: a client's answer arrives `delayMs` after the round opened plus the
 * compute time measured by `now` (0 with the default virtual clock), and no test waits for real.
 * Pass `now: performance.now`-like and `sleep` for real time; the round then also closes at the
 * deadline without waiting for slow clients.
 */
import type { ClientResult, ClientTask, Transport } from '../types.js';

export type ClientFn = (task: ClientTask) => Promise<ClientResult>;

export interface MemoryTransportOptions {
  /** True: the client does not answer this round. Default: nobody drops. */
  dropout?: (clientId: string, round: number) => boolean;
  /** Milliseconds before the client starts answering (network + queueing). Default 0. */
  delayMs?: (clientId: string, round: number) => number;
  /** Clock in ms. Default: a virtual clock that never advances by itself. */
  now?: () => number;
  /** Waits `ms`. Default: virtual (advances the virtual clock, resolves at once). */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * @example
 * const transport = new MemoryTransport(new Map([['a', clientA], ['b', clientB]]), {
 *   dropout: (id, round) => id === 'b' && round === 2,
 * });
 */
export class MemoryTransport implements Transport {
  private readonly realTime: boolean;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly clients: ReadonlyMap<string, ClientFn>,
    private readonly options: MemoryTransportOptions = {},
  ) {
    this.realTime = options.now !== undefined;
    this.now = options.now ?? (() => 0);
    this.sleep =
      options.sleep ??
      (options.now ? (ms) => new Promise((r) => setTimeout(r, ms)) : () => Promise.resolve());
  }

  async runRound(
    round: number,
    tasks: ReadonlyMap<string, ClientTask>,
    deadlineMs: number,
  ): Promise<ClientResult[]> {
    const start = this.now();
    const arrived: ClientResult[] = [];
    const calls = [...tasks].map(async ([id, task]) => {
      const client = this.clients.get(id);
      if (!client || this.options.dropout?.(id, round)) return;
      const delay = this.options.delayMs?.(id, round) ?? 0;
      if (delay > deadlineMs) return; // a straggler: it would answer after the round closed
      await this.sleep(delay);
      let result: ClientResult;
      try {
        result = await client(task);
      } catch {
        return; // a crashed client is a dropout
      }
      const elapsed = this.now() - start + (this.realTime ? 0 : delay);
      if (elapsed <= deadlineMs) arrived.push(result);
    });
    if (this.realTime) {
      await Promise.race([Promise.all(calls), this.sleep(Math.max(0, deadlineMs - (this.now() - start)))]);
      return arrived.slice();
    }
    await Promise.all(calls);
    return arrived;
  }
}
