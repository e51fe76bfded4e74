// Read-through with one fetch per key per host, however many processes miss
// it at once: a cross-process single flight through the near Dict.
//
// The first process to miss `add`s a lease entry (`<epoch>?<key>`, value: a
// token of its own, TTL: the fetch's bound plus a margin) and fetches; the
// others find the lease taken and poll the near Dict, with a short backoff,
// until the value (or the negative entry) appears, the holder reports a
// failure for its token, or the lease disappears without a result: the
// holder died (its lease expires) or could not keep the value; then they
// try to take the lease themselves. Within one process, concurrent misses of
// a key share one promise and never touch the lease.
//
// Why a poll and not a Notifier: waiting is the rare path (only processes
// that miss the same key while its fetch is in flight, a few hundred µs on
// a LAN), a poll starting at 1 ms costs those callers a millisecond or two,
// and it needs no third named object per Dict to create and unlink.
import { ShmkitError, type AsyncDict, type DictValue, type ShmkitErrorCode } from '../index.js';
import { call, within } from './two-level-bound.js';
import { TAG_FAILED, TAG_LEASE, nearKey } from './two-level-layout.js';
import type { NearCopy } from './two-level-near.js';

/** Added to the fetch's bound to make the lease TTL: a live holder always finishes first. */
const LEASE_MARGIN_MS = 1000;
/** How long a failed fetch's report stays for its waiters. */
const FAILED_TTL_MS = 1000;
/** The poll's first and longest sleep. */
const POLL_FIRST_MS = 1;
const POLL_MAX_MS = 8;

/** What waiting for another process's fetch ended with. */
type WaitOutcome = { readonly done: true; readonly value: DictValue | undefined } | { readonly done: false };
const NOT_DONE: WaitOutcome = { done: false };

/** The read-through of one TwoLevelDict handle. */
export class ReadThrough {
  readonly #near: NearCopy;
  readonly #remote: AsyncDict;
  readonly #timeout: number;
  readonly #engine: string;
  readonly #canCache: () => boolean;
  readonly #inflight = new Map<string, Promise<DictValue | undefined>>();
  #seq = 0;
  /** Reads of Redis this handle made (for a miss). */
  fetches = 0;
  /** Misses answered by another process's fetch. */
  waits = 0;
  /** Leases taken over from a holder that left without a result. */
  takeovers = 0;

  constructor(near: NearCopy, remote: AsyncDict, timeout: number, engine: string, canCache: () => boolean) {
    this.#near = near;
    this.#remote = remote;
    this.#timeout = timeout;
    this.#engine = engine;
    this.#canCache = canCache;
  }

  /** The lease TTL: the fetch's bound plus a margin. */
  get leaseTtl(): number {
    return this.#timeout + LEASE_MARGIN_MS;
  }

  /** The value of `key` in Redis, fetched once for this host, cached near (a miss of the near copy). */
  fetch(key: string): Promise<DictValue | undefined> {
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const p = this.#fetchForHost(key).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  /** Reads Redis without caching (bounded). */
  async read(key: string): Promise<{ value: DictValue | undefined; ttl: number | undefined }> {
    this.fetches += 1;
    // GET and TTL leave together: one round trip, and the near entry never outlives the key.
    const [value, ttl] = await within(
      Promise.all([call(() => this.#remote.get(key)), call(() => this.#remote.ttl(key))]),
      this.#timeout, this.#engine, `GET '${key}'`,
    );
    return { value, ttl };
  }

  async #fetchForHost(key: string): Promise<DictValue | undefined> {
    // Each round either holds the lease (one bounded fetch) or waits at most
    // a lease TTL; past two of them the caller is served without the lease.
    const deadline = Date.now() + 2 * this.leaseTtl;
    for (;;) {
      if (!this.#canCache() || Date.now() > deadline) return (await this.read(key)).value;
      const epoch = this.#near.meta.epoch;
      const lease = nearKey(epoch, TAG_LEASE, key);
      const token = `${process.pid}:${++this.#seq}:${Math.random().toString(36).slice(2, 10)}`;
      let leased: boolean;
      try {
        leased = this.#near.dict.add(lease, token, { ttl: this.leaseTtl });
      } catch {
        return (await this.read(key)).value; // the near Dict's lock is held by a stopped process: serve without it
      }
      if (leased) return this.#fetchAsHolder(key, epoch, lease, token);
      const outcome = await this.#waitForHolder(key, epoch, lease, deadline);
      if (outcome.done) {
        this.waits += 1;
        return outcome.value;
      }
      this.takeovers += 1;
    }
  }

  async #fetchAsHolder(key: string, epoch: number, lease: string, token: string): Promise<DictValue | undefined> {
    const gen = this.#near.meta.gen(key); // before the fetch: see two-level-layout.ts
    try {
      // Another holder may have filled and released between our miss and our
      // lease: look again before going to Redis (double-checked).
      const filled = this.#near.value(key);
      if (filled !== undefined || this.#near.absent(key)) {
        this.waits += 1;
        return filled;
      }
      const { value, ttl } = await this.read(key);
      // A value without a TTL (or the reverse) changed between the two reads: not kept.
      if ((value === undefined) === (ttl === undefined) && this.#canCache()) this.#near.store(key, epoch, gen, value, ttl ?? 0);
      return value;
    } catch (err) {
      this.#reportFailure(epoch, key, token, err);
      throw err;
    } finally {
      // Release only our own lease (it may have expired and been taken): a
      // compare-and-set to an entry that expires at once.
      try {
        this.#near.dict.compareAndSet(lease, token, '', { ttl: 1 });
      } catch {
        // the near Dict is busy: the lease expires on its own
      }
    }
  }

  #reportFailure(epoch: number, key: string, token: string, err: unknown): void {
    const code = (err as { code?: unknown }).code;
    const message = err instanceof Error ? err.message : String(err);
    try {
      this.#near.dict.set(nearKey(epoch, TAG_FAILED, key), `${token}\n${typeof code === 'string' ? code : 'ERR_SHMKIT_REMOTE'}\n${message}`, { ttl: FAILED_TTL_MS });
    } catch {
      // the waiters find the lease gone and try themselves
    }
  }

  async #waitForHolder(key: string, epoch: number, lease: string, deadline: number): Promise<WaitOutcome> {
    const dict = this.#near.dict;
    const holder = dict.get(lease);
    for (let delay = POLL_FIRST_MS; ; delay = Math.min(delay * 2, POLL_MAX_MS)) {
      if (this.#near.meta.epoch !== epoch) return NOT_DONE;
      const value = this.#near.value(key);
      if (value !== undefined) return { done: true, value };
      if (this.#near.absent(key)) return { done: true, value: undefined };
      if (typeof holder !== 'string') return NOT_DONE; // released between our add and our look
      const failed = dict.get(nearKey(epoch, TAG_FAILED, key));
      if (typeof failed === 'string' && failed.startsWith(`${holder}\n`)) throw failureOf(failed);
      if (dict.get(lease) !== holder || Date.now() > deadline) return NOT_DONE;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** The holder's error, rebuilt for its waiters (same code and message). */
function failureOf(report: string): ShmkitError {
  const first = report.indexOf('\n');
  const second = report.indexOf('\n', first + 1);
  return new ShmkitError(report.slice(first + 1, second) as ShmkitErrorCode, report.slice(second + 1));
}
