// KeyvShm: a Keyv storage adapter over a Dict, so that every process of a
// host (or, over a RedisDict, of every host) shares one cache.
//
// One Keyv call is one Dict call per key: set, get, delete and has are each
// atomic across processes (a writer killed at any instant leaves the key with
// its old or its new value, whole); the *Many calls and clear() are that
// call repeated, key by key. Every method awaits the Dict, so it runs on the
// shared-memory Dict (which answers synchronously) and on the Redis-backed
// ones alike, and rejects with the Dict's own error: Keyv turns a rejected
// set/delete/clear into its 'error' event (and `false`), a rejected get into
// a miss.
import { EventEmitter } from 'node:events';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import type { AsyncDict } from '../../index.js';
import { keysIn } from './namespace.js';
import { checkOptions, type KeyvShmOptions } from './options.js';
import { ALREADY_EXPIRED, dictTtl } from './ttl.js';
import { decodeValue, encodeValue } from './value-codec.js';

/**
 * `store.opts`, which Keyv reads. Keyv 5 offers `keyv.iterator()` only for
 * the adapters of its own list (it looks for their name in `opts.dialect` or
 * `opts.url`; `url` must be a string or its constructor throws): 'shmkit' is
 * not one of them, see {@link KeyvShm.iterator} for how to iterate anyway.
 */
export interface KeyvShmOpts {
  /** 'shmkit'. */
  dialect: string;
  /** 'shmkit'. */
  url: string;
  /** The namespace given in the options. */
  namespace: string | undefined;
  /** Keyv and its test suite may set further fields (`deserialize`); they are kept and unused. */
  [field: string]: unknown;
}

/**
 * A Keyv storage adapter (`KeyvStoreAdapter` of Keyv 5) over a shmkit Dict:
 * Keyv, `cacheable` and `cache-manager` share one cache across every worker
 * of a host.
 *
 * ```ts
 * import Keyv from 'keyv';
 * import { KeyvShm } from 'shmkit/keyv';
 * const cache = new Keyv({ store: new KeyvShm({ dict: { name: '/cache', memory: 64 << 20 } }), namespace: 'pages' });
 * await cache.set('/home', html, 60_000);
 * ```
 *
 * Keys are kept as Keyv gives them (`${namespace}:${key}`); strings are
 * stored as Dict strings, any other value as `v8.serialize` bytes; `ttl`
 * becomes the entry's Dict ttl; a full Dict evicts its least recently used
 * entries.
 */
export class KeyvShm extends EventEmitter implements KeyvStoreAdapter {
  /** Read by Keyv (see {@link KeyvShmOpts}). */
  opts: KeyvShmOpts;
  /**
   * The namespace whose keys clear() removes and iterator() walks (keys
   * starting with `${namespace}:`); undefined: every key of the Dict. Keyv
   * assigns its own namespace here when it is given the store.
   */
  namespace: string | undefined;
  readonly #dict: AsyncDict;
  readonly #owned: boolean;
  #disconnected = false;

  /**
   * Throws `ERR_INVALID_ARG_TYPE` for options that are not an object, a
   * `namespace` that is not a string, or a `dict` that is none of a Dict
   * handle, an AsyncDict or `{ name }`, before anything is opened.
   */
  constructor(options: KeyvShmOptions) {
    super();
    const { dict, owned, namespace } = checkOptions(options);
    this.#dict = dict;
    this.#owned = owned;
    this.namespace = namespace;
    this.opts = { dialect: 'shmkit', url: 'shmkit', namespace };
  }

  /** What the Dict holds at `key` (Keyv's serialized string, or its raw data), or undefined when absent or expired. */
  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return decodeValue(await this.#dict.get(key)) as StoredData<Value> | undefined;
  }

  /** The values at `keys`, in order (undefined for each one absent or expired). */
  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    return Promise.all(keys.map((key) => this.get<Value>(key)));
  }

  /**
   * Stores `value` at `key` for `ttl` ms (undefined or 0: no expiry; a
   * negative ttl deletes the key, the value having expired already).
   * Resolves to true; rejects with the Dict's error (ENOSPC for a value
   * larger than the whole Dict, DataCloneError for a value v8 cannot clone).
   */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    const stored = encodeValue(value);
    const ms = dictTtl(ttl);
    if (ms === ALREADY_EXPIRED) await this.#dict.delete(key);
    else await this.#dict.set(key, stored, { ttl: ms });
    return true;
  }

  // No setMany(): the adapter interface types it `Promise<void>`, and Keyv's
  // setMany() hands back whatever the store's returns as its `boolean[]`
  // result. Without one, Keyv calls set() per entry, which is all a setMany
  // here would do (each entry atomic, not all together), and its result is
  // right.

  /** Removes `key`; whether a live entry was there. */
  async delete(key: string): Promise<boolean> {
    return this.#dict.delete(key);
  }

  /** delete() of each key; true when any of them was there. */
  async deleteMany(keys: string[]): Promise<boolean> {
    const removed = await Promise.all(keys.map((key) => this.#dict.delete(key)));
    return removed.includes(true);
  }

  /**
   * Removes the keys of this store's namespace (those starting with
   * `${namespace}:`; every key of the Dict when there is no namespace),
   * leaving other namespaces sharing the Dict untouched. The keys are listed
   * once, then deleted one by one: a key another process sets meanwhile may
   * survive.
   */
  async clear(): Promise<void> {
    const keys = keysIn(await this.#dict.keys(0), this.namespace);
    await Promise.all(keys.map((key) => this.#dict.delete(key)));
  }

  /** Whether `key` holds a live entry. */
  async has(key: string): Promise<boolean> {
    return (await this.#dict.ttl(key)) !== undefined;
  }

  /** has() of each key, in order. */
  async hasMany(keys: string[]): Promise<boolean[]> {
    return Promise.all(keys.map((key) => this.has(key)));
  }

  /**
   * Yields `[key, value]` for each live key of `namespace` (default: the
   * store's), keys as stored (`${namespace}:${key}`), values as get() returns
   * them. Keyv 5 does not wire it to `keyv.iterator()` for an adapter outside
   * its own list; this does:
   * `keyv.iterator = keyv.generateIterator(store.iterator.bind(store))`.
   */
  async *iterator<Value>(namespace: string | undefined = this.namespace): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    for (const key of keysIn(await this.#dict.keys(0), namespace)) {
      const stored = await this.#dict.get(key);
      if (stored !== undefined) yield [key, decodeValue(stored) as Awaited<Value>];
    }
  }

  /**
   * Closes the Dict if the store opened it (`dict: { name }`); a Dict handed
   * in stays open (its owner closes it). Idempotent.
   */
  async disconnect(): Promise<void> {
    if (this.#disconnected) return;
    this.#disconnected = true;
    if (this.#owned) await this.#dict.close();
  }
}
