// What every link of a bridge (one Topic, one Queue) shares: the bound on
// each Redis call, the retry after a failure (back off, report the outage
// once and the recovery once, never hang, never give up while running) and
// the events the bridge reports.
import { setTimeout as sleep } from 'node:timers/promises';
import { bounded } from './remote.js';

/** What a bridge reports as it runs (`onEvent`; the `shmkit bridge` command logs each one). */
export interface BridgeEvent {
  /**
   * `'started'`: a link is carrying messages. `'remote-down'`: a call to
   * Redis failed or stalled (reported once per outage, with `error`; the
   * link retries). `'remote-up'`: Redis answers again after an outage.
   * `'lag'`: messages were lost and counted (`count`): a local ring lapped
   * the bridge, Redis trimmed them before the bridge read them, or a
   * numbering gap. `'duplicate'`: a message seen twice on Redis (a publish
   * retried after a lost reply) was dropped. `'local-error'`: a call on a
   * local object failed (retried). `'dropped'`: a Topic message the bridge
   * held when it closed could not be published (`count`). `'resubscribed'`:
   * the bridge's own Topic messages stopped coming back from Redis while
   * it sat idle (a subscription past the end of a restarted numbering
   * that does not notice it: RedisTopic's does, and goes on with the new
   * history): it subscribed again, from the latest message. `'closed'`:
   * a link stopped.
   */
  readonly type: 'started' | 'remote-down' | 'remote-up' | 'lag' | 'duplicate' | 'local-error' | 'dropped' | 'resubscribed' | 'closed';
  /** The link: `'topic /prices'` or `'queue /jobs'`. */
  readonly link: string;
  /** `'out'`: this host to Redis; `'in'`: Redis to this host. */
  readonly direction: 'out' | 'in';
  /** How many messages (`'lag'`, `'duplicate'`, `'dropped'`). */
  readonly count?: number;
  /** The failure (`'remote-down'`, `'local-error'`). */
  readonly error?: Error;
  /** One line for people. */
  readonly message: string;
}

/** Counters every link adds to (the bridge's stats() sums them). */
export interface Counters {
  errors: number;
  reconnects: number;
}

/** What a link needs from its bridge. */
export interface LinkContext {
  /** How errors name Redis (`Redis at 127.0.0.1:6379`). */
  readonly engine: string;
  /** Bound of one Redis round trip, in ms. */
  readonly commandTimeout: number;
  /** First pause after a failure, in ms (doubles up to 40×). */
  readonly retryDelay: number;
  /** Aborted when the bridge closes: no new work is taken after that. */
  readonly closing: AbortSignal;
  readonly counters: Counters;
  emit(event: BridgeEvent): void;
}

/** One direction of one link: its health (up, or in an outage since the first failure). */
export class Pump {
  readonly ctx: LinkContext;
  readonly link: string;
  readonly direction: 'out' | 'in';
  #down = false;
  #pause: number;

  constructor(ctx: LinkContext, link: string, direction: 'out' | 'in') {
    this.ctx = ctx;
    this.link = link;
    this.direction = direction;
    this.#pause = ctx.retryDelay;
  }

  /** True once the bridge is closing. */
  get closing(): boolean {
    return this.ctx.closing.aborted;
  }

  /** Bounds one Redis call (`bounded()`, plus `extra` ms for a call that waits on purpose). */
  remote<T>(work: T | Promise<T>, what: string, extra = 0): Promise<T> {
    return bounded(Promise.resolve(work), this.ctx.commandTimeout + extra, this.ctx.engine, `${what} (${this.link})`);
  }

  /** A Redis call succeeded: ends an outage. */
  up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#pause = this.ctx.retryDelay;
    this.ctx.counters.reconnects++;
    this.emit('remote-up', `${this.ctx.engine} answers again`);
  }

  /** A Redis call failed: counts it, reports the first of an outage, and pauses (backing off) unless closing. */
  async down(err: unknown): Promise<void> {
    this.ctx.counters.errors++;
    if (!this.#down) {
      this.#down = true;
      this.emit('remote-down', `${(err as Error).message ?? String(err)}; retrying`, { error: err as Error });
    }
    await this.pause();
  }

  /** A local call failed (a stopped publisher holding a Topic's lock): reported each time, then a pause. */
  async localError(err: unknown): Promise<void> {
    this.ctx.counters.errors++;
    this.emit('local-error', `${(err as Error).message ?? String(err)}; retrying`, { error: err as Error });
    await this.pause();
  }

  /** Waits the current back-off (cut short by closing), then doubles it. */
  async pause(): Promise<void> {
    const ms = this.#pause;
    this.#pause = Math.min(ms * 2, this.ctx.retryDelay * 40);
    await idle(ms, this.ctx.closing);
  }

  emit(type: BridgeEvent['type'], message: string, extra?: { count?: number; error?: Error }): void {
    this.ctx.emit({ type, link: this.link, direction: this.direction, message: `${this.link} ${this.direction}: ${message}`, ...extra });
  }
}

/** Sleeps `ms`, returning early (without throwing) when `signal` aborts. */
export async function idle(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await sleep(ms, undefined, { signal }).catch(() => {});
}

/** True for the error of an aborted wait (the bridge closing), which is no failure. */
export function isAbort(err: unknown, signal: AbortSignal): boolean {
  const code = (err as { code?: unknown })?.code;
  return signal.aborted && (err === signal.reason || (err as Error)?.name === 'AbortError' || code === 'ABORT_ERR' || code === 'ERR_SHMKIT_CLOSED');
}
