// Synced counters (Kong's and APISIX's `sync_rate`): `incr` adds in shared
// memory at once, and the sums reach Redis every `syncInterval`.
//
// Per key, the near Dict holds three entries:
//   `+<key>`          PENDING: increments of this host not yet in Redis
//                     (outside the epoch: a flush never drops one)
//   `<epoch>=<key>`   the host's VIEW: the global value read at the last
//                     sync plus this host's increments since (what incr and
//                     get answer)
//   `<epoch>@<key>`   DEADLINE: when the key expires in Redis, as the last
//                     sync read it (ms since the epoch; 0: never), stored
//                     before VIEW with the same TTL
// incr adds to VIEW, then to PENDING; a process that finds no VIEW pushes
// its delta at once (one round trip) and learns the global value.
//
// A sync takes PENDING by compare-and-set to 0 (so two processes never push
// the same increments), pushes it with one incrWithTtl (the sum and the
// key's TTL from one script), and sets VIEW to the global value returned
// plus what is pending again by then, and DEADLINE to when the key expires
// in Redis, for incrWithTtl. What a failed push does with its delta: see
// retryPush().
//
// Each process syncs the keys it incremented since its last tick; every
// process's tick pushes the whole host's PENDING for those keys. A process
// killed between two ticks leaves its keys' PENDING in shared memory: the
// next incr of the key on this host (by any process) pushes it.
//
// The bound on overshoot (docs/API.md states it): once the true count
// reaches a limit at time T, every host's increments made before T are in
// Redis by T + I (I = syncInterval plus one push round trip), and every host
// that keeps incrementing reads a count past the limit at its next sync, by
// T + 2I. So past the limit at most the increments all hosts make within
// 2 × I are accepted.
import type { AsyncDict, Awaitable, DictIncrOptions } from '../index.js';
import { call, mayHaveLanded, within } from './two-level-bound.js';
import { PENDING_PREFIX, TAG_VALUE, nearKey } from './two-level-layout.js';
import type { NearCopy } from './two-level-near.js';

/** A compare-and-set that keeps losing to other processes gives up for this tick after this many tries. */
const TAKE_TRIES = 16;

/** The synced counters of one TwoLevelDict handle. */
export class SyncedCounters {
  readonly #near: NearCopy;
  readonly #remote: AsyncDict;
  readonly #timeout: number;
  readonly #engine: string;
  readonly #canCache: () => boolean;
  readonly #dirty = new Map<string, DictIncrOptions>();
  readonly #timer: NodeJS.Timeout;
  #tick: Promise<void> | null = null;
  /** Pushes to Redis (INCRBY) made by this handle. */
  pushes = 0;
  /** Pushes that failed (their delta went back to PENDING, or was dropped). */
  pushFailures = 0;

  constructor(near: NearCopy, remote: AsyncDict, timeout: number, engine: string, syncInterval: number, canCache: () => boolean) {
    this.#near = near;
    this.#canCache = canCache;
    this.#remote = remote;
    this.#timeout = timeout;
    this.#engine = engine;
    this.#timer = setInterval(() => void this.sync(), syncInterval);
    this.#timer.unref(); // a counter alone never keeps the process alive; close() syncs last
  }

  /** Adds `delta` on this host; the host's view of the sum (one round trip only when the host has none). */
  async incr(key: string, delta: number, options: DictIncrOptions | undefined): Promise<number | undefined> {
    const view = this.#addLocally(key, delta, options);
    if (view !== undefined) return view;
    // No view: this call's delta goes to Redis in the push that reads the
    // global value (so Infinity and -0 add as in the other backends).
    return (await this.#syncKey(key, pickIncrOptions(options), delta))?.value;
  }

  /**
   * incr, and the time the key has left in Redis: from the deadline the
   * last sync read (no round trip), or asked of Redis when this host does
   * not know it (its deadline entry was evicted).
   */
  async incrWithTtl(key: string, delta: number, options: DictIncrOptions | undefined): Promise<{ value: number; ttl: number } | undefined> {
    const value = this.#addLocally(key, delta, options);
    if (value === undefined) return this.#syncKey(key, pickIncrOptions(options), delta);
    const ttl = this.#near.counterTtl(key) ?? (await within(call(() => this.#remote.ttl(key)), this.#timeout, this.#engine, `PTTL '${key}'`));
    // Gone in Redis since the last sync (a window that just ended): nothing left of it.
    return { value, ttl: ttl ?? 1 };
  }

  /**
   * Adds `delta` to this host's view and PENDING: the view, or undefined
   * when the host has none (then nothing was added: the caller pushes the
   * delta itself and learns the global value).
   */
  #addLocally(key: string, delta: number, options: DictIncrOptions | undefined): number | undefined {
    const dict = this.#near.dict;
    // The view first: a view that is not a number throws before anything is added.
    const view = dict.incr(nearKey(this.#near.meta.epoch, TAG_VALUE, key), delta) as number | undefined;
    if (view === undefined) return undefined;
    dict.incr(PENDING_PREFIX + key, delta, { init: 0 });
    this.#dirty.set(key, pickIncrOptions(options));
    return view;
  }

  /** Pushes every key this handle incremented since the last sync (one tick; ticks never overlap). */
  sync(): Promise<void> {
    if (this.#tick === null) {
      this.#tick = this.#syncDirty().finally(() => {
        this.#tick = null;
      });
    }
    return this.#tick;
  }

  /** Stops the timer and pushes what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#tick;
    await this.#syncDirty();
  }

  async #syncDirty(): Promise<void> {
    const keys = [...this.#dirty];
    this.#dirty.clear();
    // All keys at once: the client pipelines them into about one round trip.
    await Promise.all(keys.map(async ([key, options]) => {
      try {
        await this.#syncKey(key, options, null);
      } catch {
        this.#dirty.set(key, options); // the next tick tries again
      }
    }));
  }

  /**
   * Pushes `key`'s PENDING and sets the host's view from the global value.
   * `extra`: the delta of an incr on a host without a view (pushed with
   * PENDING, even when both are 0); null for a tick.
   */
  async #syncKey(key: string, options: DictIncrOptions, extra: number | null): Promise<{ value: number; ttl: number } | undefined> {
    const taken = this.#take(key);
    if (taken === 0 && extra === null) return undefined;
    const delta = extra === null ? taken : taken === 0 ? extra : taken + extra;
    const meta = this.#near.meta;
    const epoch = meta.epoch;
    const gen = meta.gen(key);
    this.pushes += 1;
    let pushed: { value: number; ttl: number } | undefined;
    try {
      // The sum and the key's TTL from one script: the deadline kept with
      // the view is the end of the window the sum was counted in.
      const push = (): Awaitable<{ value: number; ttl: number } | undefined> => this.#remote.incrWithTtl(key, delta, options);
      pushed = await within(call(push), this.#timeout, this.#engine, `INCRBY '${key}' (sync)`);
    } catch (err) {
      this.pushFailures += 1;
      if (retryPush(err)) {
        // Not lost: back into PENDING, for the next tick.
        this.#near.dict.incr(PENDING_PREFIX + key, delta, { init: 0 });
        this.#dirty.set(key, options);
      }
      throw err;
    }
    if (pushed === undefined) return undefined; // missing in Redis and no `init`: nothing applied
    const rest = this.#pendingOf(key); // increments made on this host during the push
    const view = rest === 0 ? pushed.value : pushed.value + rest;
    // Without a confirmed subscription a view could miss a set or delete of
    // another host: not kept, so every incr goes to Redis until it is back.
    if (this.#canCache()) this.#near.storeCounter(key, epoch, gen, view, pushed.ttl);
    return { value: view, ttl: pushed.ttl };
  }

  /** Takes this host's PENDING for `key` (compare-and-set to 0); 0 if none or it kept changing. */
  #take(key: string): number {
    const dict = this.#near.dict;
    const name = PENDING_PREFIX + key;
    for (let i = 0; i < TAKE_TRIES; i++) {
      const pending = dict.get(name);
      if (typeof pending !== 'number' || pending === 0) return 0;
      if (dict.compareAndSet(name, pending, 0)) return pending;
    }
    return 0;
  }

  #pendingOf(key: string): number {
    const pending = this.#near.dict.get(PENDING_PREFIX + key);
    return typeof pending === 'number' ? pending : 0;
  }
}

/**
 * Whether a failed push puts its delta back for the next tick. A timeout:
 * no, it is taken to have landed: a stalled server runs the INCRBYs queued
 * in its socket when it resumes, and since each carries increments no other
 * push carries, the sum stays exact (retrying would count every stalled
 * tick's delta again). A refusal (not a number, wrong type) or an argument
 * error: no, it cannot apply. A lost connection or another error from Redis:
 * yes (if the connection was lost after Redis ran it, it counts twice).
 */
function retryPush(err: unknown): boolean {
  return mayHaveLanded(err) && (err as { code?: unknown } | null)?.code !== 'ETIMEDOUT';
}

/** The options a push repeats (its own bound is the handle's). */
function pickIncrOptions(options: DictIncrOptions | undefined): DictIncrOptions {
  const picked: DictIncrOptions = {};
  if (options?.init !== undefined) picked.init = options.init;
  if (options?.ttl !== undefined) picked.ttl = options.ttl;
  return picked;
}
