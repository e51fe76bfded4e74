// What a host's processes share for one two-level Dict, besides the near
// Dict itself: a small named SharedArray (`<near name>.two-level`) and the
// way keys of the near Dict are spelled.
//
// The meta array (Int32, META_LENGTH elements, zero at creation):
//
//   0        EPOCH      bumped to drop the whole near copy at once (a flush)
//   1..2     HOST_ID    random, non-zero once set: names this host in messages
//   3..7     (reserved, zero)
//   8..263   GEN[256]   bumped (after the remote change) by every invalidation
//                       of a key hashing to the slot
//
// The one rule that keeps a fill from caching a value older than a write:
// an invalidation bumps GEN[slot] BEFORE it deletes the near entry, and a
// fill stores its entry BEFORE it re-reads GEN[slot] (and EPOCH); a fill
// that sees either moved deletes what it stored. Whatever the interleaving,
// the entry is gone or was fetched after the write.
//
// These live outside the near Dict on purpose: a Dict entry can be evicted
// (LRU) or expired, and a counter that silently restarts could equal an old
// snapshot; these words are never evicted, and a flush is one atomic add
// instead of a walk under the Dict's write lock.
//
// Near-Dict keys: `<epoch base 36><tag><user key>`, so bumping EPOCH makes
// every cached entry unreachable at once (LRU and the entries' TTLs reclaim
// them). Pending counter deltas are the exception: `+<user key>`, outside the
// epoch, because a flush must never drop an increment not yet in Redis.
import { ShmkitError, SharedArray } from '../index.js';

/** Elements of the meta array. */
export const META_LENGTH = 264;
/** Index of EPOCH. */
export const EPOCH = 0;
/** Index of the first of the two HOST_ID words. */
export const HOST_ID = 1;
/** Index of GEN[0]. */
export const GEN_BASE = 8;
/** Number of GEN slots (a power of two). */
export const GEN_SLOTS = 256;

/** The meta array's name for a near Dict named `nearName`. */
export function metaName(nearName: string): string {
  return `${nearName}.two-level`;
}

/** Tags of near-Dict keys (one character after the epoch). */
export const TAG_VALUE = '=';
/**
 * A synced counter's deadline in Redis as its last sync read it: when the
 * key expires there (ms since the epoch; 0: never). Stored with the VIEW,
 * for incrWithTtl to answer the window's time left without a round trip.
 */
export const TAG_DEADLINE = '@';
/** A key absent in Redis (a negative entry; its value is `true`). */
export const TAG_ABSENT = '!';
/** A fetch in progress: its value is the holder's token. */
export const TAG_LEASE = '?';
/** A fetch that failed: `<token>\n<code>\n<message>`, for the holder's waiters. */
export const TAG_FAILED = '~';
/** Prefix of a pending counter delta (no epoch). */
export const PENDING_PREFIX = '+';

/** Longest user key kept in the near Dict (its keys are at most 65535 bytes; the epoch and tag take up to 8). */
export const MAX_NEAR_KEY_BYTES = 65535 - 8;

/** The meta array, opened or created, with accessors named by what they mean. */
export class TwoLevelMeta {
  readonly #handle: SharedArray<Int32Array>;
  readonly #a: Int32Array;
  readonly hostId: string;
  readonly name: string;

  constructor(nearName: string) {
    this.name = metaName(nearName);
    this.#handle = SharedArray.openOrCreate(this.name, { type: Int32Array, length: META_LENGTH });
    this.#a = this.#handle.array;
    this.hostId = this.#claimHostId();
  }

  /** The current epoch, as the prefix of near keys. */
  get epoch(): number {
    return Atomics.load(this.#a, EPOCH);
  }

  /** Drops the whole near copy of this host: every later lookup uses a new prefix. */
  bumpEpoch(): void {
    Atomics.add(this.#a, EPOCH, 1);
  }

  /** The generation of `key`'s slot. */
  gen(key: string): number {
    return Atomics.load(this.#a, GEN_BASE + slotOf(key));
  }

  /** Announces a change of `key` to fills in flight on this host (before deleting its entry). */
  bumpGen(key: string): void {
    Atomics.add(this.#a, GEN_BASE + slotOf(key), 1);
  }

  close(): void {
    this.#handle.close();
  }

  // The first process of a host draws the id; the others read it. A CAS per
  // word from 0, so two first processes agree on one id.
  #claimHostId(): string {
    for (let i = 0; i < 2; i++) {
      let drawn = 0;
      while (drawn === 0) drawn = (Math.random() * 0x100000000) | 0;
      Atomics.compareExchange(this.#a, HOST_ID + i, 0, drawn);
    }
    const hi = Atomics.load(this.#a, HOST_ID) >>> 0;
    const lo = Atomics.load(this.#a, HOST_ID + 1) >>> 0;
    if (hi === 0 || lo === 0) throw new ShmkitError('ERR_SHMKIT_CORRUPT', `ERR_SHMKIT_CORRUPT: SharedArray '${this.name}': the host id is not set`);
    return `${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
  }
}

/** FNV-1a of the key's UTF-16 units, folded to a GEN slot. */
export function slotOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 16)) & (GEN_SLOTS - 1);
}

/** The near-Dict key of `key` under `tag` in `epoch`. */
export function nearKey(epoch: number, tag: string, key: string): string {
  return `${epoch.toString(36)}${tag}${key}`;
}
