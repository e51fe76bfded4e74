// The two-level Dict: a host's shared-memory Dict in front of a remote Dict
// (a RedisDict), after lua-resty-mlcache. Reads hit the near copy every
// process of the host shares; misses read through with one fetch per key
// per host (two-level-fill.ts); writes go to Redis, drop this host's copy
// and tell the other hosts over pub/sub (invalidation.ts); counters may add
// locally and sync every `syncInterval` (synced-counter.ts).
import { Dict, SharedArray, ShmkitError } from '../index.js';
import type { AsyncDict, Awaitable, DictCapabilities, DictIncrOptions, DictSetOptions, DictValue, DictWriteOptions } from '../index.js';
import { Invalidation } from './invalidation.js';
import { checkClient, checkCommandTimeout, checkKeyPrefix, describeClient, type RedisClient, type RemoteOptions } from './remote.js';
import { SyncedCounters } from './synced-counter.js';
import { call, mayHaveLanded, within } from './two-level-bound.js';
import { ReadThrough } from './two-level-fill.js';
import { TwoLevelMeta, metaName } from './two-level-layout.js';
import { NearCopy } from './two-level-near.js';

/** How a TwoLevelDict treats `incr`: through Redis at once, or added locally and synced. */
export type TwoLevelMode = 'near-copy' | 'synced-counter';

/** Options of a TwoLevelDict. */
export interface TwoLevelDictOptions extends RemoteOptions {
  /**
   * This host's shared-memory Dict: a named handle (kept open by close(), it
   * is yours), or `{ name, memory }` to open or create one (closed by
   * close()). Give it to this TwoLevelDict alone: it holds entries under its
   * own key spelling. A small SharedArray `<name>.two-level` is opened or
   * created next to it (see `TwoLevelDict.unlink`).
   */
  near: Dict | { name: string; memory: number };
  /** The Dict every host shares (a RedisDict). */
  remote: AsyncDict;
  /** A client of the same Redis: it publishes invalidations, and its `duplicate()` subscribes. */
  redis: RedisClient;
  /** The name of the invalidation channel (`<keyPrefix>two-level:<name>`); default: `remote.name`. Same on every host. */
  name?: string;
  /** Longest life of a near entry, in ms (default 5000): the bound on staleness when an invalidation is lost. */
  nearTtl?: number;
  /** Life of a cached absence, in ms (default `nearTtl`; 0: absences are not cached). */
  negativeTtl?: number;
  /** `'near-copy'` (default) or `'synced-counter'`: see docs/API.md. */
  mode?: TwoLevelMode;
  /** Synced-counter mode: ms between two pushes of the local sums (default 1000). */
  syncInterval?: number;
}

/** What one TwoLevelDict handle counted since it was made. */
export interface TwoLevelStats {
  /** Reads answered by the near copy (cached absences included). */
  nearHits: number;
  /** Reads the near copy could not answer. */
  nearMisses: number;
  /** Reads of Redis this handle made (GET with TTL, one round trip). */
  fetches: number;
  /** Misses answered by another process's fetch (the host's single flight). */
  waits: number;
  /** Fetches taken over from a process that left without a result. */
  takeovers: number;
  /** Invalidations from other hosts acted on. */
  invalidations: number;
  /** Times the subscriber connection came back (each flushed the near copy). */
  resubscriptions: number;
  /** Fetched values the near Dict could not keep (too large, or busy). */
  storeFailures: number;
  /** Synced-counter pushes to Redis, and those that failed. */
  pushes: number;
  pushFailures: number;
}

const DEFAULT_NEAR_TTL = 5000;
const DEFAULT_SYNC_INTERVAL = 1000;

/**
 * A Dict for many hosts: each host's processes share a near copy in shared
 * memory in front of a remote Dict (a RedisDict). Reads of cached keys take
 * no round trip; a miss reads Redis once per host, however many processes ask
 * at once; writes go to Redis and invalidate the other hosts' copies over
 * pub/sub. Staleness is bounded by `nearTtl`; see docs/API.md "Two-level
 * Dict" for the costs and bounds of each mode.
 *
 * ```ts
 * const dict = new TwoLevelDict({ near: { name: '/sessions', memory: 1 << 24 }, remote: new RedisDict(redis, 'sessions'), redis });
 * await dict.ready();
 * await dict.get('user:1'); // Redis once per host, then shared memory
 * ```
 */
export class TwoLevelDict implements AsyncDict {
  readonly #near: NearCopy;
  readonly #ownsNear: boolean;
  readonly #remote: AsyncDict;
  readonly #timeout: number;
  readonly #engine: string;
  readonly #mode: TwoLevelMode;
  readonly #inval: Invalidation;
  readonly #fill: ReadThrough;
  readonly #counters: SyncedCounters | null;
  #closed = false;
  #hits = 0;
  #misses = 0;

  /** Removes a near Dict and its `<name>.two-level` SharedArray (open handles keep working). */
  static unlink(name: string): void {
    Dict.unlink(name);
    try {
      SharedArray.unlink(metaName(name.startsWith('/') ? name : `/${name}`));
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
  }

  constructor(options: TwoLevelDictOptions) {
    if (options === null || typeof options !== 'object') throw new ShmkitError('ERR_INVALID_ARG_TYPE', 'The "options" argument must be an object');
    const redis = checkClient(options.redis);
    this.#remote = checkRemote(options.remote);
    this.#timeout = checkCommandTimeout(options.commandTimeout);
    const prefix = checkKeyPrefix(options.keyPrefix);
    const name = checkName(options.name ?? (options.remote as { name?: unknown }).name);
    const nearTtl = checkMs('nearTtl', options.nearTtl, DEFAULT_NEAR_TTL, 1);
    const negativeTtl = checkMs('negativeTtl', options.negativeTtl, nearTtl, 0);
    const syncInterval = checkMs('syncInterval', options.syncInterval, DEFAULT_SYNC_INTERVAL, 1);
    this.#mode = checkMode(options.mode);
    this.#engine = describeClient(redis);
    const { dict, owned } = openNear(options.near);
    this.#ownsNear = owned;
    let meta: TwoLevelMeta;
    try {
      meta = new TwoLevelMeta(dict.name as string);
    } catch (err) {
      if (owned) dict.close();
      throw err;
    }
    this.#near = new NearCopy(dict, meta, nearTtl, negativeTtl);
    this.#inval = new Invalidation(redis, `${prefix}two-level:${name}`, meta.hostId, this.#timeout, {
      key: (key) => this.#dropFromMessage(key),
      all: () => this.#near.flush(),
      resubscribed: () => this.#near.flush(),
    });
    this.#fill = new ReadThrough(this.#near, this.#remote, this.#timeout, this.#engine, () => this.#inval.subscribed);
    this.#counters = this.#mode === 'synced-counter' ? new SyncedCounters(this.#near, this.#remote, this.#timeout, this.#engine, syncInterval, () => this.#inval.subscribed) : null;
  }

  /** What this backend guarantees: the remote's limits, two-level consistency. */
  get capabilities(): DictCapabilities {
    const remote = this.#remote.capabilities;
    return { backend: 'two-level', scope: 'hosts', eviction: remote.eviction, ttlPrecision: remote.ttlPrecision, maxValue: remote.maxValue, consistency: this.#mode };
  }

  /** This host's near Dict (its keys are this object's spelling: read it through this object). */
  get near(): Dict {
    return this.#near.dict;
  }

  /**
   * Resolves once the invalidation channel is subscribed (rejects with
   * ETIMEDOUT naming the server). Until then reads go to Redis and nothing is
   * cached: a value cached before the subscription could miss its invalidation.
   */
  ready(): Promise<void> {
    return this.#inval.ready();
  }

  /** This handle's counters (a fresh object). */
  stats(): TwoLevelStats {
    return {
      nearHits: this.#hits, nearMisses: this.#misses, fetches: this.#fill.fetches, waits: this.#fill.waits, takeovers: this.#fill.takeovers,
      invalidations: this.#inval.received, resubscriptions: this.#inval.resubscriptions, storeFailures: this.#near.storeFailures,
      pushes: this.#counters?.pushes ?? 0, pushFailures: this.#counters?.pushFailures ?? 0,
    };
  }

  /** The value: from the near copy, else from Redis (once per host), then cached for at most `nearTtl`. */
  async get(key: string): Promise<DictValue | undefined> {
    this.#checkOpen();
    if (!this.#nearable(key)) return call(() => this.#remote.get(key));
    const value = this.#near.value(key);
    if (value !== undefined || this.#near.absent(key)) {
      this.#hits += 1;
      return value;
    }
    this.#misses += 1;
    return this.#fill.fetch(key);
  }

  /** Stores in Redis; drops this host's copy; invalidates the other hosts'. */
  set(key: string, value: DictValue, options?: DictSetOptions): Promise<{ evicted: number }> {
    return this.#write(key, `SET '${key}'`, () => this.#remote.set(key, value, options), always, options);
  }

  /** Stores in Redis only when absent there. */
  add(key: string, value: DictValue, options?: DictSetOptions): Promise<boolean> {
    return this.#write(key, `ADD '${key}'`, () => this.#remote.add(key, value, options), isTrue, options);
  }

  /** Stores in Redis only when present there. */
  replace(key: string, value: DictValue, options?: DictSetOptions): Promise<boolean> {
    return this.#write(key, `REPLACE '${key}'`, () => this.#remote.replace(key, value, options), isTrue, options);
  }

  /** Stores when Redis holds `expected` (compared in Redis, never against the near copy). */
  compareAndSet(key: string, expected: DictValue | undefined, value: DictValue, options?: DictSetOptions): Promise<boolean> {
    return this.#write(key, `CAS '${key}'`, () => this.#remote.compareAndSet(key, expected, value, options), isTrue, options);
  }

  /** Removes from Redis. */
  delete(key: string, options?: DictWriteOptions): Promise<boolean> {
    return this.#write(key, `DELETE '${key}'`, () => this.#remote.delete(key, options), isTrue, options);
  }

  /**
   * Near-copy mode: INCRBY in Redis (exact). Synced-counter mode with a
   * number delta: adds in shared memory and answers this host's view at once
   * (a round trip only when the host has no view of the key yet); Redis gets
   * the sum within `syncInterval`. Bigint deltas always go to Redis.
   */
  incr(key: string, delta: number, options: DictIncrOptions & { init: number }): Promise<number>;
  incr(key: string, delta: bigint, options: DictIncrOptions & { init: bigint }): Promise<bigint>;
  incr(key: string, delta: number, options?: DictIncrOptions): Promise<number | undefined>;
  incr(key: string, delta: bigint, options?: DictIncrOptions): Promise<bigint | undefined>;
  incr(key: string, delta: number | bigint, options?: DictIncrOptions): Promise<number | bigint | undefined>;
  async incr(key: string, delta: number | bigint, options?: DictIncrOptions): Promise<number | bigint | undefined> {
    this.#checkOpen();
    if (this.#counters !== null && typeof delta === 'number' && countable(options) && this.#nearable(key)) {
      return this.#counters.incr(key, delta, options);
    }
    return this.#write(key, `INCR '${key}'`, () => this.#remote.incr(key, delta, options), isDefined, options);
  }

  /**
   * `incr` and the key's time left in Redis (ms; 0: no TTL). Near-copy mode:
   * one Lua script in Redis (RedisDict.incrWithTtl). Synced-counter mode
   * with a number delta: the host's view, and the deadline the last sync
   * read with it (no round trip, unless the host has no view yet).
   */
  incrWithTtl(key: string, delta: number, options: DictIncrOptions & { init: number }): Promise<{ value: number; ttl: number }>;
  incrWithTtl(key: string, delta: bigint, options: DictIncrOptions & { init: bigint }): Promise<{ value: bigint; ttl: number }>;
  incrWithTtl(key: string, delta: number, options?: DictIncrOptions): Promise<{ value: number; ttl: number } | undefined>;
  incrWithTtl(key: string, delta: bigint, options?: DictIncrOptions): Promise<{ value: bigint; ttl: number } | undefined>;
  incrWithTtl(key: string, delta: number | bigint, options?: DictIncrOptions): Promise<{ value: number | bigint; ttl: number } | undefined>;
  async incrWithTtl(key: string, delta: number | bigint, options?: DictIncrOptions): Promise<{ value: number | bigint; ttl: number } | undefined> {
    this.#checkOpen();
    if (this.#counters !== null && typeof delta === 'number' && countable(options) && this.#nearable(key)) {
      return this.#counters.incrWithTtl(key, delta, options);
    }
    return this.#write(key, `INCR '${key}'`, () => this.#remote.incrWithTtl(key, delta, options), isDefined, options);
  }

  /** Milliseconds left in Redis (one round trip: the near copy does not know the remote TTL exactly). */
  ttl(key: string): Promise<number | undefined> {
    return this.#read(`TTL '${key}'`, () => this.#remote.ttl(key));
  }

  /** Sets a new TTL in Redis. */
  expire(key: string, ttl: number, options?: DictWriteOptions): Promise<boolean> {
    return this.#write(key, `EXPIRE '${key}'`, () => this.#remote.expire(key, ttl, options), isTrue, options);
  }

  /** Pushes onto the head of a list in Redis (lists are never cached near: every list call is a round trip). */
  lpush(key: string, value: string | number, options?: DictWriteOptions): Promise<number> {
    return this.#write(key, `LPUSH '${key}'`, () => this.#remote.lpush(key, value, options), always, options);
  }

  /** Pushes onto the tail of a list in Redis. */
  rpush(key: string, value: string | number, options?: DictWriteOptions): Promise<number> {
    return this.#write(key, `RPUSH '${key}'`, () => this.#remote.rpush(key, value, options), always, options);
  }

  /** Takes the head of a list in Redis. */
  lpop(key: string, options?: DictWriteOptions): Promise<string | number | undefined> {
    return this.#write(key, `LPOP '${key}'`, () => this.#remote.lpop(key, options), isDefined, options);
  }

  /** Takes the tail of a list in Redis. */
  rpop(key: string, options?: DictWriteOptions): Promise<string | number | undefined> {
    return this.#write(key, `RPOP '${key}'`, () => this.#remote.rpop(key, options), isDefined, options);
  }

  /** Length of a list in Redis. */
  llen(key: string): Promise<number> {
    return this.#read(`LLEN '${key}'`, () => this.#remote.llen(key));
  }

  /** Keys in Redis. */
  keys(max?: number): Promise<string[]> {
    return this.#read('KEYS', () => this.#remote.keys(max));
  }

  /** Empties Redis, this host's near copy and (by message) every other host's. */
  async flushAll(options?: DictWriteOptions): Promise<void> {
    this.#checkOpen();
    const timeout = options?.timeout ?? this.#timeout;
    try {
      await within(call(() => this.#remote.flushAll(options)), timeout, this.#engine, 'FLUSHALL');
    } finally {
      this.#near.flush();
    }
    await this.#inval.publishAll(timeout);
  }

  /** Redis expires keys itself; this asks the remote (near entries never outlive their key). */
  flushExpired(max?: number, options?: DictWriteOptions): Promise<number> {
    return this.#read('FLUSHEXPIRED', () => this.#remote.flushExpired(max, options));
  }

  /** Synced-counter mode: pushes the local sums now instead of at the next tick. */
  async sync(): Promise<void> {
    this.#checkOpen();
    await this.#counters?.sync();
  }

  /**
   * Pushes what synced counters hold, stops the subscriber and releases what
   * this object opened. The remote Dict, the client and a near handle you
   * passed stay open (they are yours). A push that fails leaves its sums in
   * shared memory, for this host's next incr of the key.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#counters?.close();
    } catch {
      // the sums stay in PENDING (shared memory): not lost
    } finally {
      this.#inval.close();
      this.#near.meta.close();
      if (this.#ownsNear) this.#near.dict.close();
    }
  }

  /** `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #write<T>(key: string, what: string, op: () => Awaitable<T>, changed: (result: T) => boolean, options: DictWriteOptions | undefined): Promise<T> {
    this.#checkOpen();
    const timeout = options?.timeout ?? this.#timeout;
    const nearable = this.#nearable(key);
    let result: T;
    try {
      result = await within(call(op), timeout, this.#engine, what);
    } catch (err) {
      // A write that timed out may still land (a stalled server runs it when
      // it resumes): drop this host's copy, and send the other hosts their
      // invalidation without waiting for it (sent after the write, it runs
      // after it when both wait in the same stalled server).
      if (nearable && mayHaveLanded(err)) {
        this.#near.drop(key);
        this.#inval.publishKey(key, timeout).catch(() => {});
      }
      throw err;
    }
    if (nearable) this.#near.drop(key);
    if (changed(result)) await this.#inval.publishKey(key, timeout);
    return result;
  }

  async #read<T>(what: string, op: () => Awaitable<T>): Promise<T> {
    this.#checkOpen();
    return within(call(op), this.#timeout, this.#engine, what);
  }

  // Runs in the subscriber's event handler: it must not throw. A near Dict
  // whose write lock is held by a stopped process cannot delete one key;
  // dropping the whole copy (an atomic add) always works.
  #dropFromMessage(key: string): void {
    if (!this.#near.fits(key)) return;
    try {
      this.#near.drop(key);
    } catch {
      this.#near.flush();
    }
  }

  // Keys the near Dict cannot hold, and bad keys (the remote reports those
  // with its own error), go straight to the remote.
  #nearable(key: string): boolean {
    return typeof key === 'string' && key.length > 0 && this.#near.fits(key);
  }

  #checkOpen(): void {
    if (this.#closed) throw new ShmkitError('ERR_SHMKIT_CLOSED', 'ERR_SHMKIT_CLOSED: this TwoLevelDict is closed');
  }
}

function always(): boolean {
  return true;
}
function isTrue(result: boolean): boolean {
  return result;
}
function isDefined(result: unknown): boolean {
  return result !== undefined;
}

/**
 * Whether a synced-counter incr can take these options locally: an `init`
 * that is absent or a number, a `ttl` the remote would accept. Anything else
 * goes to the remote, which reports it with its own error.
 */
function countable(options: DictIncrOptions | undefined): boolean {
  if (options === undefined) return true;
  if (options === null || typeof options !== 'object') return false;
  const { init, ttl } = options;
  if (init !== undefined && typeof init !== 'number') return false;
  return ttl === undefined || (typeof ttl === 'number' && Number.isInteger(ttl) && ttl >= 0 && ttl <= 2 ** 31 - 1);
}

function openNear(near: TwoLevelDictOptions['near']): { dict: Dict; owned: boolean } {
  if (near instanceof Dict) {
    if (near.name === null) throw new ShmkitError('ERR_INVALID_ARG_VALUE', 'The "near" option must be a named Dict (an embedded one has no name for its companion SharedArray)');
    return { dict: near, owned: false };
  }
  if (near === null || typeof near !== 'object' || typeof near.name !== 'string') {
    throw new ShmkitError('ERR_INVALID_ARG_TYPE', 'The "near" option must be a named Dict or { name, memory }');
  }
  return { dict: Dict.openOrCreate(near.name, { memory: near.memory }), owned: true };
}

function checkRemote(remote: unknown): AsyncDict {
  const r = remote as AsyncDict | null;
  if (r === null || typeof r !== 'object' || typeof r.get !== 'function' || typeof r.set !== 'function' || typeof r.capabilities !== 'object') {
    throw new ShmkitError('ERR_INVALID_ARG_TYPE', 'The "remote" option must be an AsyncDict (a RedisDict)');
  }
  return r;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || /[\r\n]/.test(name)) {
    throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "name" option must be a non-empty string without line breaks (default: remote.name). Received ${String(name)}`);
  }
  return name;
}

function checkMs(option: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 2 ** 31 - 1) {
    throw new ShmkitError('ERR_OUT_OF_RANGE', `The "${option}" option must be an integer of ms from ${min} to 2^31-1. Received ${String(value)}`);
  }
  return value;
}

function checkMode(mode: unknown): TwoLevelMode {
  if (mode === undefined) return 'near-copy';
  if (mode !== 'near-copy' && mode !== 'synced-counter') {
    throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "mode" option must be 'near-copy' or 'synced-counter'. Received ${String(mode)}`);
  }
  return mode;
}
