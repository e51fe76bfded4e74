// The near copy: this host's shared-memory Dict seen through the key
// spelling and the generation rule of two-level-layout.ts. Every entry it
// stores lives at most `nearTtl` ms (the bound on staleness when an
// invalidation is lost), and never longer than the key's TTL in Redis.
import type { Dict, DictValue } from '../index.js';
import { MAX_NEAR_KEY_BYTES, TAG_ABSENT, TAG_DEADLINE, TAG_VALUE, nearKey, type TwoLevelMeta } from './two-level-layout.js';

/** The near Dict with the rules for storing into it. */
export class NearCopy {
  readonly dict: Dict;
  readonly meta: TwoLevelMeta;
  readonly nearTtl: number;
  readonly negativeTtl: number;
  /** Fetched values not kept (too large for the near Dict, or it was busy); they were still returned. */
  storeFailures = 0;
  // The hit path's key prefix, spelled again only when the epoch moves.
  #epoch = Number.NaN;
  #valuePrefix = '';
  #absentPrefix = '';

  constructor(dict: Dict, meta: TwoLevelMeta, nearTtl: number, negativeTtl: number) {
    this.dict = dict;
    this.meta = meta;
    this.nearTtl = nearTtl;
    this.negativeTtl = negativeTtl;
  }

  /** Whether `key` can have a near entry (keys near 64 KiB bypass the near copy). */
  fits(key: string): boolean {
    return key.length * 3 <= MAX_NEAR_KEY_BYTES || Buffer.byteLength(key) <= MAX_NEAR_KEY_BYTES;
  }

  /** The cached value, or undefined (not cached, or cached as absent: see `absent`). */
  value(key: string): DictValue | undefined {
    return this.dict.get(this.#prefix(TAG_VALUE) + key);
  }

  /** True when the host cached that `key` is absent in Redis. */
  absent(key: string): boolean {
    return this.dict.get(this.#prefix(TAG_ABSENT) + key) !== undefined;
  }

  /** The near-key prefix of `tag` in the current epoch. */
  #prefix(tag: typeof TAG_VALUE | typeof TAG_ABSENT): string {
    const epoch = this.meta.epoch;
    if (epoch !== this.#epoch) {
      this.#valuePrefix = nearKey(epoch, TAG_VALUE, '');
      this.#absentPrefix = nearKey(epoch, TAG_ABSENT, '');
      this.#epoch = epoch;
    }
    return tag === TAG_VALUE ? this.#valuePrefix : this.#absentPrefix;
  }

  /**
   * Caches what a fetch found, unless an invalidation or a flush came
   * between `epoch`/`gen` (read before the fetch) and now: the entry is
   * stored, then the generation re-read (see two-level-layout.ts).
   * `remoteTtl` is Redis's answer to TTL (ms left, 0 never expires).
   * Returns whether the entry stayed.
   */
  store(key: string, epoch: number, gen: number, value: DictValue | undefined, remoteTtl: number): boolean {
    if (value === undefined && this.negativeTtl === 0) return false; // negative caching off
    const name = nearKey(epoch, value === undefined ? TAG_ABSENT : TAG_VALUE, key);
    const ttl = value === undefined ? this.negativeTtl : this.#ttlFor(remoteTtl);
    try {
      this.dict.set(name, value === undefined ? true : value, { ttl });
    } catch {
      // ENOSPC (larger than the near Dict) or ETIMEDOUT (its write lock held
      // by a stopped process): the caller has the value; it is just not kept.
      this.storeFailures += 1;
      return false;
    }
    if (this.meta.gen(key) === gen && this.meta.epoch === epoch) return true;
    this.#deleteQuietly(name);
    return false;
  }

  /**
   * Caches a counter's value as this host sees it (synced-counter mode),
   * under the same rule as `store`.
   */
  storeCounter(key: string, epoch: number, gen: number, value: number, remoteTtl: number): void {
    const name = nearKey(epoch, TAG_VALUE, key);
    const deadline = nearKey(epoch, TAG_DEADLINE, key);
    const ttl = this.#ttlFor(remoteTtl);
    try {
      // The deadline first: a view is never seen without it (only after an eviction of it).
      this.dict.set(deadline, remoteTtl === 0 ? 0 : Date.now() + remoteTtl, { ttl });
      this.dict.set(name, value, { ttl });
    } catch {
      this.storeFailures += 1;
      return;
    }
    if (this.meta.gen(key) !== gen || this.meta.epoch !== epoch) {
      this.#deleteQuietly(name);
      this.#deleteQuietly(deadline);
    }
  }

  /**
   * The ms a synced counter has left in Redis, from the deadline its last
   * sync read (0: none), or undefined when this host does not know it.
   */
  counterTtl(key: string): number | undefined {
    const deadline = this.dict.get(nearKey(this.meta.epoch, TAG_DEADLINE, key));
    if (typeof deadline !== 'number') return undefined;
    return deadline === 0 ? 0 : Math.max(1, Math.ceil(deadline - Date.now()));
  }

  /**
   * Drops this host's copy of `key` after a change: the generation first,
   * then the entries, so a fill in flight cannot put an older value back.
   */
  drop(key: string): void {
    this.meta.bumpGen(key);
    const epoch = this.meta.epoch;
    this.dict.delete(nearKey(epoch, TAG_VALUE, key));
    this.dict.delete(nearKey(epoch, TAG_ABSENT, key));
    // Not the DEADLINE: it is read only while a view lives, and every view
    // is stored after its own deadline (storeCounter), so one left behind
    // is never read (and dies at its TTL). A delete less under the write
    // lock on every write and every invalidation message.
  }

  /** Drops this host's whole near copy (one atomic add; no walk, no lock). */
  flush(): void {
    this.meta.bumpEpoch();
  }

  #ttlFor(remoteTtl: number): number {
    return remoteTtl > 0 ? Math.min(remoteTtl, this.nearTtl) : this.nearTtl;
  }

  #deleteQuietly(name: string): void {
    try {
      this.dict.delete(name);
    } catch {
      // Only a stopped lock holder gets here; the entry still dies at its TTL (≤ nearTtl).
    }
  }
}
