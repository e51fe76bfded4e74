/**
 * RedisDict: the Dict's semantics (ngx.shared.DICT plus typed values and
 * compare-and-set) on Redis, shared by every host that reaches the server.
 * One entry is one Redis key, `<keyPrefix><name>:<key>`, holding a tagged
 * value (dict-codec.ts) or, for lists, a Redis list of tagged elements. Every
 * call is one Redis command or one Lua script (dict-scripts.ts) on that key,
 * so each is atomic; the keys carry no common hash tag and spread over a
 * Cluster's slots.
 */
import type { Cluster, Redis } from 'ioredis';
import type { AsyncDict, DictCapabilities, DictIncrOptions, DictSetOptions, DictValue, DictWriteOptions } from '../index.js';
import { ShmkitError } from '../index.js';
import { bounded, checkClient, checkCommandTimeout, checkKeyPrefix, describeClient, remoteError, type RedisClient, type RemoteOptions } from './remote.js';
import { checkCallTimeout, checkDictName, checkInteger, checkObject, checkTtl, closedError, invalidArgType, invalidArgValue, outOfRange } from './dict-args.js';
import { MAX_VALUE_BYTES, decodeElement, decodeValue, encodeElement, encodeValue, numberText } from './dict-codec.js';
import { CAS_SHA, INCR_SHA, INCR_TTL_SHA, PERSIST_SHA, scriptOf } from './dict-scripts.js';
import { keepTimerList } from './dict-timers.js';
import { batcherOf, type Batcher } from './pipeline-batch.js';

/** Options of a RedisDict: those of every Redis-backed object, and batching. */
export interface RedisDictOptions extends RemoteOptions {
  /**
   * Send the calls made in one tick (by every handle on the client with
   * `batch: true`) together, as a `pipeline()` would: one socket write, one
   * deadline timer per batch (default false: each call is sent as it is
   * made). A command sent on
   * the client directly in the same tick goes before or after the whole
   * batch. Ignored for a `Cluster` client, which sends each call on its own
   * (its `enableAutoPipelining` groups them per node).
   */
  batch?: boolean;
}

/** Largest key, in UTF-8 bytes: the shared-memory Dict's limit, so keys move between backends. */
const MAX_KEY_BYTES = 65535;
/** Keys asked of SCAN per round trip (a hint to the server). */
const SCAN_COUNT = 1000;
/** What set() returns: Redis never reports evictions to the writer. */
const NOT_EVICTED: { readonly evicted: number } = Object.freeze({ evicted: 0 });

/**
 * The client as RedisDict sends scripts through it: EVALSHA of a script's
 * SHA1 with one key, and EVAL of its text when the server lacks it.
 */
interface ScriptClient {
  evalsha(sha: string, keys: 1, key: string, ...args: Array<string | Buffer>): Promise<unknown>;
  eval(script: string, ...args: Array<string | Buffer | number>): Promise<unknown>;
}

/** An ioredis reply error as bounded() passes it on, with the command ioredis attaches. */
interface CommandError {
  message: string;
  command?: { name: string; args: Array<string | Buffer | number> };
}

/**
 * Longest TTL sent to Redis (ms, about 285 000 years): Redis refuses an
 * expiry past 2^63 ms, the Dict accepts any finite TTL; past this one the
 * difference is moot.
 */
const MAX_PX = Number.MAX_SAFE_INTEGER;

/** A TTL in ms as Redis's PX takes it: a whole number, never 0 for a positive TTL. */
function pxOf(ttl: number): number {
  return ttl > MAX_PX ? MAX_PX : Math.ceil(ttl);
}

/** Escapes SCAN MATCH's glob characters. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

// Reply converters: module functions, so a call allocates no closure.
// ioredis types SET's NX and XX as separate overloads: one signature for both.
type SetIfTarget = { set(...args: unknown[]): Promise<'OK' | null> };
function sendSetIf(target: SetIfTarget, k: string, v: string | Buffer, ttl: number, condition: 'NX' | 'XX'): Promise<'OK' | null> {
  return ttl === 0 ? target.set(k, v, condition) : target.set(k, v, 'PX', pxOf(ttl), condition);
}

function isOk(reply: string | null): boolean {
  return reply === 'OK';
}
function isOne(reply: number): boolean {
  return reply === 1;
}
function same<T>(reply: T): T {
  return reply;
}
function toNumber(reply: string | null): number | undefined {
  return reply === null ? undefined : Number(reply);
}
function toBigint(reply: string | null): bigint | undefined {
  return reply === null ? undefined : BigInt(reply);
}
/** incrWithTtl's reply: [value text, ms left] (0: no TTL), or null. */
type IncrTtlReply = [string, number] | null;
function toNumberTtl(reply: IncrTtlReply): { value: number; ttl: number } | undefined {
  return reply === null ? undefined : { value: Number(reply[0]), ttl: reply[1] };
}
function toBigintTtl(reply: IncrTtlReply): { value: bigint; ttl: number } | undefined {
  return reply === null ? undefined : { value: BigInt(reply[0]), ttl: reply[1] };
}
function pttlOf(reply: number): number | undefined {
  if (reply === -2) return undefined; // no such key
  if (reply === -1) return 0; // never expires
  return reply === 0 ? 1 : reply; // 0 ms left still exists; 0 means "never" here
}
/** The script's SHMKIT_NOT_A_NUMBER error as the Dict's ERR_SHMKIT_NOT_A_NUMBER. */
function notANumber(err: unknown): never {
  const reply = (err as { cause?: { message?: unknown } }).cause?.message;
  if (err instanceof ShmkitError && typeof reply === 'string' && reply.startsWith('SHMKIT_NOT_A_NUMBER ')) {
    const detail = reply.slice('SHMKIT_NOT_A_NUMBER '.length);
    throw new ShmkitError('ERR_SHMKIT_NOT_A_NUMBER', `ERR_SHMKIT_NOT_A_NUMBER: ${err.path ?? 'incr'}: ${detail}`, err.path === undefined ? {} : { path: err.path });
  }
  throw err;
}

/**
 * A Dict on Redis: the `AsyncDict` interface, shared by every process on
 * every host that uses the same server (or Cluster), `keyPrefix` and name.
 *
 * ```ts
 * import Redis from 'ioredis';
 * import { RedisDict } from 'shmkit/redis';
 * const dict = new RedisDict(new Redis(), 'sessions');
 * await dict.set('user:1', 'alice', { ttl: 60_000 });
 * ```
 */
export class RedisDict implements AsyncDict {
  readonly #redis: RedisClient;
  readonly #scripts: ScriptClient;
  readonly #name: string;
  /** `<keyPrefix><name>:`: every key of this Dict starts with it. */
  readonly #prefix: string;
  /** The client's own ioredis `keyPrefix` (ioredis adds it to keys, not to SCAN patterns). */
  readonly #clientPrefix: string;
  readonly #timeout: number;
  /** `Redis at host:port`: how errors name the engine. */
  readonly #engine: string;
  /** `RedisDict 'name'`, for messages. */
  readonly #what: string;
  #closed = false;
  /** This tick's calls, sent as one pipeline (null: each call is sent as it is made). */
  readonly #batch: Batcher | null;
  // Failure handlers of script calls (NOSCRIPT: EVAL once; the incr script's own error).
  readonly #incrNumberFailed: (err: unknown) => Promise<number | undefined>;
  readonly #incrBigintFailed: (err: unknown) => Promise<bigint | undefined>;
  readonly #incrTtlNumberFailed: (err: unknown) => Promise<{ value: number; ttl: number } | undefined>;
  readonly #incrTtlBigintFailed: (err: unknown) => Promise<{ value: bigint; ttl: number } | undefined>;
  readonly #flagFailed: (err: unknown) => Promise<boolean>;

  /**
   * A handle on the Dict `name` stored in `redis` (an ioredis `Redis` or
   * `Cluster` client, which stays the caller's: `close()` leaves it open).
   * Nothing is sent to Redis until the first call.
   */
  constructor(redis: Redis | Cluster, name: string, options?: RedisDictOptions) {
    this.#redis = checkClient(redis);
    this.#name = checkDictName(name);
    const opts = checkObject<RedisDictOptions>('options', options);
    this.#timeout = checkCommandTimeout(opts?.commandTimeout);
    keepTimerList(this.#timeout);
    this.#prefix = `${checkKeyPrefix(opts?.keyPrefix)}${name}:`;
    const clientOptions = (this.#redis as Cluster).isCluster ? (this.#redis as Cluster).options.redisOptions : (this.#redis as Redis).options;
    this.#clientPrefix = clientOptions?.keyPrefix ?? '';
    this.#engine = describeClient(this.#redis);
    this.#what = `RedisDict '${name}'`;
    const batch = opts?.batch;
    if (batch !== undefined && typeof batch !== 'boolean') throw invalidArgType('options.batch', 'of type boolean', batch);
    const isCluster = (this.#redis as Cluster).isCluster === true;
    this.#batch = !isCluster && batch === true ? batcherOf(this.#redis as Redis, this.#engine) : null;
    this.#scripts = this.#redis as unknown as ScriptClient;
    // Made once per handle, so a script call allocates no closure for its failure path.
    this.#incrNumberFailed = (err: unknown) => (this.#scriptFailed(err) as Promise<string | null>).then(toNumber);
    this.#incrBigintFailed = (err: unknown) => (this.#scriptFailed(err) as Promise<string | null>).then(toBigint);
    this.#incrTtlNumberFailed = (err: unknown) => (this.#scriptFailed(err) as Promise<IncrTtlReply>).then(toNumberTtl);
    this.#incrTtlBigintFailed = (err: unknown) => (this.#scriptFailed(err) as Promise<IncrTtlReply>).then(toBigintTtl);
    this.#flagFailed = (err: unknown) => (this.#scriptFailed(err) as Promise<number>).then(isOne);
  }

  /** The Dict's name (the part of each Redis key after `keyPrefix`). */
  get name(): string {
    return this.#name;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * What this backend guarantees: `{ backend: 'redis', scope: 'hosts',
   * eviction: 'server', ttlPrecision: 1, maxValue: 536870911, consistency:
   * 'atomic' }` (maxValue: Redis's 512 MiB string less the type tag).
   */
  get capabilities(): DictCapabilities {
    if (this.#closed) throw closedError(this.#what);
    return CAPABILITIES;
  }

  // ---- reads ---------------------------------------------------------------------

  /** The value of `key`, or undefined when absent or expired (ERR_SHMKIT_WRONG_TYPE for a list). */
  get(key: string): Promise<DictValue | undefined> {
    try {
      const k = this.#key(key);
      if (this.#batch !== null) {
        this.#batch.commander().getBuffer(k);
        return this.#batch.add(this.#timeout, this.#what, 'get', key, decodeValue, undefined);
      }
      return bounded(this.#redis.getBuffer(k), this.#timeout, this.#engine, this.#call('get', key)).then(decodeValue);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Milliseconds `key` has left: 0 when it never expires, undefined when absent (PTTL). */
  ttl(key: string): Promise<number | undefined> {
    try {
      const k = this.#key(key);
      if (this.#batch !== null) {
        this.#batch.commander().pttl(k);
        return this.#batch.add(this.#timeout, this.#what, 'ttl', key, pttlOf, undefined);
      }
      return bounded(this.#redis.pttl(k), this.#timeout, this.#engine, this.#call('ttl', key)).then(pttlOf);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Elements of the list at `key` (0 when absent; ERR_SHMKIT_WRONG_TYPE for a single value). */
  llen(key: string): Promise<number> {
    try {
      const k = this.#key(key);
      if (this.#batch !== null) {
        this.#batch.commander().llen(k);
        return this.#batch.add(this.#timeout, this.#what, 'llen', key, same, undefined);
      }
      return bounded(this.#redis.llen(k), this.#timeout, this.#engine, this.#call('llen', key));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Up to `max` keys of this Dict (default 1024; 0: all), found by SCAN on
   * the server or on every master of a Cluster: a walk of the whole keyspace
   * (every Dict's keys and others), one round trip per 1000 keys scanned.
   */
  async keys(max = 1024): Promise<string[]> {
    this.#checkOpen();
    checkInteger('max', max, 0, 2 ** 31 - 1);
    this.#batch?.flush();
    const found = new Set<string>();
    const strip = this.#clientPrefix.length + this.#prefix.length;
    const pattern = `${globEscape(this.#clientPrefix + this.#prefix)}*`;
    for (const node of await this.#nodes(this.#timeout, `${this.#what}: keys()`)) {
      let cursor = '0';
      do {
        const [next, batch] = await bounded(node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT), this.#timeout, this.#engine, `${this.#what}: keys() (SCAN)`);
        for (const k of batch) {
          found.add(k.slice(strip));
          if (max !== 0 && found.size >= max) return [...found];
        }
        cursor = next;
      } while (cursor !== '0');
    }
    return [...found];
  }

  // ---- writes --------------------------------------------------------------------

  /** Stores `value` under `key` (SET), replacing whatever is there, a list too. `evicted` is always 0. */
  set(key: string, value: DictValue, options?: DictSetOptions): Promise<{ evicted: number }> {
    try {
      const k = this.#key(key);
      const v = encodeValue(value, 'value');
      const ttl = this.#setTtl(options);
      if (this.#batch !== null) {
        const wait = this.#callTimeout(options);
        if (ttl === 0) {
          this.#batch.commander().set(k, v);
          return this.#batch.add(wait, this.#what, 'set', key, notEvicted, undefined);
        }
        this.#batch.commander().set(k, v, 'PX', pxOf(ttl));
        return this.#batch.add(wait, this.#what, 'set', key, notEvicted, undefined);
      }
      const work = ttl === 0 ? this.#redis.set(k, v) : this.#redis.set(k, v, 'PX', pxOf(ttl));
      return bounded(work, this.#callTimeout(options), this.#engine, this.#call('set', key)).then(notEvicted);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Stores only when `key` is absent (SET NX); false when present. */
  add(key: string, value: DictValue, options?: DictSetOptions): Promise<boolean> {
    return this.#setIf('add', 'NX', key, value, options);
  }

  /** Stores only when `key` is present (SET XX); false when absent. */
  replace(key: string, value: DictValue, options?: DictSetOptions): Promise<boolean> {
    return this.#setIf('replace', 'XX', key, value, options);
  }

  /** add (NX) and replace (XX): one SET with the condition, true when it stored. */
  #setIf(call: 'add' | 'replace', condition: 'NX' | 'XX', key: string, value: DictValue, options: DictSetOptions | undefined): Promise<boolean> {
    try {
      const k = this.#key(key);
      const v = encodeValue(value, 'value');
      const ttl = this.#setTtl(options);
      if (this.#batch !== null) {
        const wait = this.#callTimeout(options);
        sendSetIf(this.#batch.commander() as unknown as SetIfTarget, k, v, ttl, condition);
        return this.#batch.add(wait, this.#what, call, key, isOk, undefined);
      }
      const work = sendSetIf(this.#redis as unknown as SetIfTarget, k, v, ttl, condition);
      return bounded(work, this.#callTimeout(options), this.#engine, this.#call(call, key)).then(isOk);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Stores `value` only when the current value equals `expected` (same type
   * and value; numbers as `===`, NaN equal to NaN; undefined: absent). One
   * Lua script. Returns whether it stored.
   */
  compareAndSet(key: string, expected: DictValue | undefined, value: DictValue, options?: DictSetOptions): Promise<boolean> {
    try {
      const k = this.#key(key);
      const e = expected === undefined ? '' : encodeValue(expected, 'expected');
      const v = encodeValue(value, 'value');
      const ttl = this.#setTtl(options);
      const ttlText = ttl === 0 ? '0' : String(pxOf(ttl));
      if (this.#batch !== null) {
        const wait = this.#callTimeout(options);
        this.#batch.commander().evalsha(CAS_SHA, 1, k, e, v, ttlText);
        return this.#batch.add(wait, this.#what, 'compareAndSet', key, isOne, this.#flagFailed);
      }
      const work = this.#scripts.evalsha(CAS_SHA, 1, k, e, v, ttlText);
      return bounded(work as Promise<number>, this.#callTimeout(options), this.#engine, this.#call('compareAndSet', key)).then(isOne, this.#flagFailed);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Removes `key` (DEL); false when it was absent. */
  delete(key: string, options?: DictWriteOptions): Promise<boolean> {
    try {
      const k = this.#key(key);
      if (this.#batch !== null) {
        const wait = this.#callTimeout(options);
        this.#batch.commander().del(k);
        return this.#batch.add(wait, this.#what, 'delete', key, isOne, undefined);
      }
      return bounded(this.#redis.del(k), this.#callTimeout(options), this.#engine, this.#call('delete', key)).then(isOne);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Adds `delta` to the number (or bigint) at `key` and returns the result,
   * in one Lua script. A missing key starts from `init` (with `ttl`), or,
   * without `init`, stays missing and undefined is returned; an existing one
   * keeps its TTL. The value must have `delta`'s type
   * (ERR_SHMKIT_NOT_A_NUMBER otherwise); bigints wrap at 64 bits.
   */
  incr(key: string, delta: number, options: DictIncrOptions & { init: number }): Promise<number>;
  incr(key: string, delta: bigint, options: DictIncrOptions & { init: bigint }): Promise<bigint>;
  incr(key: string, delta: number, options?: DictIncrOptions): Promise<number | undefined>;
  incr(key: string, delta: bigint, options?: DictIncrOptions): Promise<bigint | undefined>;
  incr(key: string, delta: number | bigint, options?: DictIncrOptions): Promise<number | bigint | undefined>;
  incr(key: string, delta: number | bigint, options?: DictIncrOptions): Promise<number | bigint | undefined> {
    return this.#incr('incr', INCR_SHA, key, delta, options, toNumber, toBigint, this.#incrNumberFailed, this.#incrBigintFailed);
  }

  /**
   * {@link RedisDict.incr}, and how long `key` has left to live after it
   * (ms; 0: no TTL), read in the same Lua script: `{ value, ttl }`, or
   * undefined where `incr` answers undefined. One round trip where `incr`
   * then `ttl` take two, and nothing can happen to the key between the
   * two: the count and the end of the window it was counted in, as a
   * fixed-window rate limiter needs them on every host.
   */
  incrWithTtl(key: string, delta: number, options: DictIncrOptions & { init: number }): Promise<{ value: number; ttl: number }>;
  incrWithTtl(key: string, delta: bigint, options: DictIncrOptions & { init: bigint }): Promise<{ value: bigint; ttl: number }>;
  incrWithTtl(key: string, delta: number, options?: DictIncrOptions): Promise<{ value: number; ttl: number } | undefined>;
  incrWithTtl(key: string, delta: bigint, options?: DictIncrOptions): Promise<{ value: bigint; ttl: number } | undefined>;
  incrWithTtl(key: string, delta: number | bigint, options?: DictIncrOptions): Promise<{ value: number | bigint; ttl: number } | undefined>;
  incrWithTtl(key: string, delta: number | bigint, options?: DictIncrOptions): Promise<{ value: number | bigint; ttl: number } | undefined> {
    return this.#incr('incrWithTtl', INCR_TTL_SHA, key, delta, options, toNumberTtl, toBigintTtl, this.#incrTtlNumberFailed, this.#incrTtlBigintFailed);
  }

  // incr and incrWithTtl: the same arguments to their script (`sha`), whose
  // reply `asNumber` or `asBigint` (delta's type) turns into the result.
  #incr<N, B>(
    op: string, sha: string, key: string, delta: number | bigint, options: DictIncrOptions | undefined,
    asNumber: (reply: any) => N, asBigint: (reply: any) => B,
    numberFailed: (err: unknown) => Promise<N>, bigintFailed: (err: unknown) => Promise<B>,
  ): Promise<N | B> {
    try {
      const k = this.#key(key);
      const opts = options === undefined ? undefined : checkObject<DictIncrOptions>('options', options);
      const init = opts?.init;
      const ttl = checkTtl(opts?.ttl);
      const wait = opts?.timeout === undefined ? this.#timeout : checkCallTimeout(opts.timeout);
      const ttlText = ttl === 0 ? '0' : String(pxOf(ttl));
      if (typeof delta === 'number') {
        if (init !== undefined && typeof init !== 'number') throw invalidArgType('options.init', 'of type number (like delta)', init);
        if (this.#batch !== null) {
          this.#batch.commander().evalsha(sha, 1, k, 'n', numberText(delta), init === undefined ? '' : numberText(init), ttlText);
          return this.#batch.add(wait, this.#what, op, key, asNumber, numberFailed);
        }
        const work = this.#scripts.evalsha(sha, 1, k, 'n', numberText(delta), init === undefined ? '' : numberText(init), ttlText);
        return bounded(work, wait, this.#engine, this.#call(op, key)).then(asNumber, numberFailed);
      }
      if (typeof delta !== 'bigint') throw invalidArgType('delta', 'of type number or bigint', delta);
      if (init !== undefined && typeof init !== 'bigint') throw invalidArgType('options.init', 'of type bigint (like delta)', init);
      if (BigInt.asIntN(64, delta) !== delta) throw outOfRange('delta', 'a signed 64-bit integer', delta);
      if (this.#batch !== null) {
        this.#batch.commander().evalsha(sha, 1, k, 'i', delta.toString(), init === undefined ? '' : init.toString(), ttlText);
        return this.#batch.add(wait, this.#what, op, key, asBigint, bigintFailed);
      }
      const work = this.#scripts.evalsha(sha, 1, k, 'i', delta.toString(), init === undefined ? '' : init.toString(), ttlText);
      return bounded(work, wait, this.#engine, this.#call(op, key)).then(asBigint, bigintFailed);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Sets how long `key` lives from now (PEXPIRE; 0: never expires, PERSIST). False when absent. */
  expire(key: string, ttl: number, options?: DictWriteOptions): Promise<boolean> {
    try {
      const k = this.#key(key);
      const ms = checkTtl(ttl, 'ttl');
      const wait = this.#callTimeout(options);
      if (this.#batch !== null) {
        if (ms !== 0) {
          this.#batch.commander().pexpire(k, pxOf(ms));
          return this.#batch.add(wait, this.#what, 'expire', key, isOne, undefined);
        }
        this.#batch.commander().evalsha(PERSIST_SHA, 1, k);
        return this.#batch.add(wait, this.#what, 'expire', key, isOne, this.#flagFailed);
      }
      if (ms !== 0) return bounded(this.#redis.pexpire(k, pxOf(ms)), wait, this.#engine, this.#call('expire', key)).then(isOne);
      const work = this.#scripts.evalsha(PERSIST_SHA, 1, k) as Promise<number>;
      return bounded(work, wait, this.#engine, this.#call('expire', key)).then(isOne, this.#flagFailed);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Pushes `value` onto the head of the list at `key` (LPUSH); returns its new length. */
  lpush(key: string, value: string | number, options?: DictWriteOptions): Promise<number> {
    return this.#push('lpush', key, value, options);
  }

  /** Pushes `value` onto the tail of the list at `key` (RPUSH); returns its new length. */
  rpush(key: string, value: string | number, options?: DictWriteOptions): Promise<number> {
    return this.#push('rpush', key, value, options);
  }

  /** Takes the head of the list at `key` (LPOP); undefined when empty or absent. */
  lpop(key: string, options?: DictWriteOptions): Promise<string | number | undefined> {
    return this.#pop('lpop', key, options);
  }

  /** Takes the tail of the list at `key` (RPOP); undefined when empty or absent. */
  rpop(key: string, options?: DictWriteOptions): Promise<string | number | undefined> {
    return this.#pop('rpop', key, options);
  }

  /** lpush and rpush: one push at the named end; each command keeps its own (monomorphic) call site. */
  #push(call: 'lpush' | 'rpush', key: string, value: string | number, options: DictWriteOptions | undefined): Promise<number> {
    try {
      const k = this.#key(key);
      const v = encodeElement(value);
      if (this.#batch !== null) {
        const wait = this.#callTimeout(options);
        const pipeline = this.#batch.commander();
        if (call === 'lpush') pipeline.lpush(k, v);
        else pipeline.rpush(k, v);
        return this.#batch.add(wait, this.#what, call, key, same, undefined);
      }
      const work = call === 'lpush' ? this.#redis.lpush(k, v) : this.#redis.rpush(k, v);
      return bounded(work, this.#callTimeout(options), this.#engine, this.#call(call, key));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** lpop and rpop: one pop at the named end, the element decoded. */
  #pop(call: 'lpop' | 'rpop', key: string, options: DictWriteOptions | undefined): Promise<string | number | undefined> {
    try {
      const k = this.#key(key);
      if (this.#batch !== null) {
        const wait = this.#callTimeout(options);
        const pipeline = this.#batch.commander();
        if (call === 'lpop') pipeline.lpopBuffer(k);
        else pipeline.rpopBuffer(k);
        return this.#batch.add(wait, this.#what, call, key, decodeElement, undefined);
      }
      const work = call === 'lpop' ? this.#redis.lpopBuffer(k) : this.#redis.rpopBuffer(k);
      return bounded(work, this.#callTimeout(options), this.#engine, this.#call(call, key)).then(decodeElement);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Removes every key of this Dict (and only those): SCAN and UNLINK on the
   * server or on every master of a Cluster. Not atomic: a key written
   * meanwhile may stay.
   */
  async flushAll(options?: DictWriteOptions): Promise<void> {
    this.#checkOpen();
    const wait = this.#callTimeout(options);
    this.#batch?.flush();
    const pattern = `${globEscape(this.#clientPrefix + this.#prefix)}*`;
    const strip = this.#clientPrefix.length;
    const what = `${this.#what}: flushAll()`;
    for (const node of await this.#nodes(wait, what)) {
      let cursor = '0';
      do {
        const [next, batch] = await bounded(node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT), wait, this.#engine, what);
        if (batch.length > 0) {
          // One UNLINK per key: keys of one node may sit in different slots (CROSSSLOT).
          const pipeline = node.pipeline();
          for (const k of batch) pipeline.unlink(k.slice(strip));
          const replies = await bounded(pipeline.exec(), wait, this.#engine, what);
          for (const [err] of replies ?? []) if (err) throw remoteError(err, this.#engine, what);
        }
        cursor = next;
      } while (cursor !== '0');
    }
  }

  /**
   * Returns 0: Redis removes expired keys itself (on access and in its
   * background cycle), so there is nothing for a client to reclaim.
   */
  flushExpired(max = 0, options?: DictWriteOptions): Promise<number> {
    try {
      this.#checkOpen();
      checkInteger('max', max, 0, 2 ** 31 - 1);
      if (options !== undefined) this.#callTimeout(options);
      return Promise.resolve(0);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Releases this handle; the data stays and the client stays open (it is the caller's). Later calls reject ERR_SHMKIT_CLOSED. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** `await using dict = new RedisDict(...)`: close() at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- helpers -------------------------------------------------------------------

  /**
   * A script call failed: NOSCRIPT (the server has not cached it) sends the
   * same call as EVAL, which caches it, bounded by the handle's
   * commandTimeout; the incr script's SHMKIT_NOT_A_NUMBER becomes
   * ERR_SHMKIT_NOT_A_NUMBER; anything else passes on.
   */
  #scriptFailed(err: unknown): Promise<unknown> {
    const cause = (err as { cause?: CommandError }).cause;
    const args = cause?.command?.args;
    if (cause !== undefined && cause.message.startsWith('NOSCRIPT') && args !== undefined) {
      const script = scriptOf(String(args[0]));
      if (script !== undefined) {
        const what = (err as ShmkitError).path ?? this.#what;
        return bounded(this.#scripts.eval(script, ...args.slice(1)), this.#timeout, this.#engine, what).then(undefined, notANumber);
      }
    }
    return Promise.reject(err).then(undefined, notANumber);
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError(this.#what);
  }

  /** Checks `key` as the shared-memory Dict does; returns its Redis key. */
  #key(key: string): string {
    if (this.#closed) throw closedError(this.#what);
    if (typeof key !== 'string') throw invalidArgType('key', 'of type string', key);
    if (key.length === 0) throw invalidArgValue('key', 'must not be empty', key);
    if (key.length * 3 > MAX_KEY_BYTES) {
      const bytes = Buffer.byteLength(key);
      if (bytes > MAX_KEY_BYTES) throw outOfRange('key', `at most ${MAX_KEY_BYTES} bytes (UTF-8)`, `${bytes} bytes`);
    }
    return this.#prefix + key;
  }

  /** `RedisDict 'name': op 'key'`: what a timeout or error message names. */
  #call(op: string, key: string): string {
    return `${this.#what}: ${op} '${key}'`;
  }

  /** The TTL of set/add/replace/compareAndSet (0: none), checking the other options too. */
  #setTtl(options: DictSetOptions | undefined): number {
    if (options === undefined) return 0;
    const opts = checkObject<DictSetOptions>('options', options) as DictSetOptions;
    if (opts.evict !== undefined && typeof opts.evict !== 'boolean') throw invalidArgType('options.evict', 'of type boolean', opts.evict);
    return checkTtl(opts.ttl);
  }

  /** The bound of this call: `options.timeout`, or the handle's commandTimeout. */
  #callTimeout(options: DictWriteOptions | undefined): number {
    if (options === undefined) return this.#timeout;
    const t = (checkObject<DictWriteOptions>('options', options) as DictWriteOptions).timeout;
    return t === undefined ? this.#timeout : checkCallTimeout(t);
  }

  /**
   * The server, or every master of a Cluster: where SCAN must look. A
   * Cluster client knows its masters only once it has loaded the slot map:
   * a keyless command (queued by ioredis until then) waits for that first.
   */
  async #nodes(wait: number, what: string): Promise<Redis[]> {
    const redis = this.#redis;
    if (!(redis as Cluster).isCluster) return [redis as Redis];
    const cluster = redis as Cluster;
    if (cluster.status !== 'ready') await bounded(cluster.ping(), wait, this.#engine, what);
    const masters = cluster.nodes('master');
    if (masters.length === 0) throw remoteError(new Error('the Cluster client knows no master'), this.#engine, what);
    return masters;
  }
}

function notEvicted(): { evicted: number } {
  return NOT_EVICTED;
}

const CAPABILITIES: DictCapabilities = Object.freeze({
  backend: 'redis',
  scope: 'hosts',
  eviction: 'server',
  ttlPrecision: 1,
  maxValue: MAX_VALUE_BYTES,
  consistency: 'atomic',
});
