// One reader of a Topic: a position in the ring, kept in this process only.
// Reading never takes the publisher lock (only subscribing does), so a
// publisher that is stopped while holding it never blocks a subscriber.
import type { AsyncSubscriber } from '../object/async-interfaces.js';
import { ShmkitError } from '../errors.js';
import { parseWait, type WaitOptions } from '../sync/options.js';
import { SpinBudget, waitForAsync, waitForSync, type Attempt, type WaitWord } from '../sync/wait.js';
import { decodeMessage } from './codec.js';
import { DATA_SEQ, DATA_WAITERS, FILLER, NEXT_SEQ, OLDEST_POS, RECORD_HEADER_LENGTH, R_LEN, R_SEQ, R_SIZE, TAIL } from './topic-layout.js';
import { type TopicRing } from './topic-ring.js';

/** What a Subscriber does when it finds it fell a lap behind. */
export type LagPolicy = 'throw' | 'skip';

/** The error a lagging subscriber gets (with `onLag: 'throw'`). */
export class LaggedError extends ShmkitError {
  /** Messages overwritten before this subscriber read them. */
  readonly missed: number;
  /** `topic` names the Topic in the message (e.g. `"Topic '/prices'"`). */
  constructor(missed: number, topic = 'Topic') {
    super('ERR_SHMKIT_LAGGED', `${topic}: the subscriber fell a lap behind and missed ${missed} message(s); it continues from the oldest message kept`);
    this.missed = missed;
  }
}

// The reading state and the read itself, apart from the public face so that
// `attempt()` (the wait core's hook) is not part of Subscriber's API.
class Cursor implements Attempt {
  readonly ring: TopicRing;
  readonly word: WaitWord;
  readonly spin: SpinBudget;
  readonly throwOnLag: boolean;
  readonly receiveWhat: string;
  readonly receiveSyncWhat: string;
  /** Position of the next record to read (bytes, wraps at 2^32). */
  pos: number;
  /** Sequence number expected next. */
  seq: number;
  /** Jumped to the oldest record kept after a lap; the next message read tells how many were missed. */
  lagged = false;
  /** Messages missed in all, since subscribing. */
  missed = 0;
  /** Sequence number (u32) of the message read() last returned; NO_SEQ before the first. */
  last = NO_SEQ;
  closed = false;
  /** receive() calls of this subscriber parked in the wait core. */
  parked = 0;

  constructor(ring: TopicRing, pos: number, seq: number, throwOnLag: boolean) {
    this.ring = ring;
    this.pos = pos;
    this.seq = seq;
    this.throwOnLag = throwOnLag;
    this.word = { cells: ring.cells, word: DATA_SEQ, waiters: DATA_WAITERS };
    this.spin = new SpinBudget(ring.spin);
    this.receiveWhat = `${ring.label}: Subscriber.receive`;
    this.receiveSyncWhat = `${ring.label}: Subscriber.receiveSync`;
  }

  isClosed(): boolean {
    return this.closed || this.ring.closed;
  }

  closedError(): ShmkitError {
    if (this.ring.closed) return this.ring.closedError();
    const ring = this.ring;
    return ring.path === undefined
      ? new ShmkitError('ERR_SHMKIT_CLOSED', `Subscriber of ${ring.label} is closed`)
      : new ShmkitError('ERR_SHMKIT_CLOSED', `Subscriber of ${ring.label} is closed`, { path: ring.path });
  }

  /** The wait core's check: something published past our position, or closed (the read then throws). */
  attempt(_arg: number): boolean {
    return this.closed || this.ring.closed || Atomics.load(this.ring.cells, TAIL) !== this.pos;
  }

  /** The next message (decoded), or undefined when there is none yet. */
  read(): unknown {
    if (this.closed || this.ring.closed) throw this.closedError();
    const ring = this.ring;
    const cells = ring.cells;
    const words = ring.words;
    const capacity = ring.capacity;
    // One call steps over at most a filler and a lap restart or so, unless
    // TAIL is where no walk arrives (a corrupt TAIL over a ring of fillers
    // would otherwise spin here for ever). Publishers lapping us again and
    // again within one call could add steps: the bound is generous.
    for (let steps = 0; ; steps++) {
      const pos = this.pos;
      if (steps > MAX_STEPS) throw ring.corruptCursor('TAIL', pos, Atomics.load(cells, TAIL));
      // acquire: the record before TAIL is complete
      if (pos === Atomics.load(cells, TAIL)) return undefined;
      const off = pos & ring.mask;
      const w = off >> 2;
      const len = words[w + R_LEN] as number;
      const filler = len === FILLER;
      const size = filler ? capacity - off : (words[w + R_SIZE] as number);
      const seq = words[w + R_SEQ] as number;
      const sane = filler || (size >= RECORD_HEADER_LENGTH && (size & 7) === 0 && off + size <= capacity &&
        len >= 0 && len <= size - RECORD_HEADER_LENGTH);
      let copy: Buffer | undefined;
      if (sane && !filler) {
        copy = Buffer.allocUnsafe(len);
        ring.data.copy(copy, 0, off + RECORD_HEADER_LENGTH, off + RECORD_HEADER_LENGTH + len);
      }
      // Was the record dropped (and maybe overwritten) while we read it?
      // acquire: publishers move OLDEST_POS past a record before they overwrite it.
      const oldest = Atomics.load(cells, OLDEST_POS);
      if (((pos - oldest) | 0) < 0) {
        // A lap behind: go on from the oldest record kept (always a record
        // boundary). No lock is needed: the first message read from there
        // (checked the same way) says how many were missed.
        this.pos = oldest;
        this.lagged = true;
        continue;
      }
      if (!sane) throw ring.corrupt(pos, len, size);
      if (filler) {
        this.pos = (pos + size) | 0;
        continue;
      }
      if (this.lagged) {
        this.lagged = false;
        // A SEQ above the expected one without a lap is a publisher that
        // died after taking a number: a gap, not a lost message. After a
        // lap, the numbers between were messages (or such gaps) dropped.
        const missed = (seq - this.seq) | 0;
        if (missed > 0) {
          this.missed += missed;
          if (this.throwOnLag) {
            this.seq = seq; // this record is the next one returned
            throw new LaggedError(missed, ring.label);
          }
        }
      }
      this.pos = (pos + size) | 0;
      this.seq = (seq + 1) | 0;
      this.last = seq >>> 0;
      return this.#decode(copy as Buffer);
    }
  }

  #decode(bytes: Buffer): unknown {
    if (this.ring.encoding === undefined) return bytes;
    // A message that does not decode throws ERR_SHMKIT_DECODE (codec.ts); it is already consumed.
    return decodeMessage(this.ring.encoding, bytes, this.ring.label);
  }
}

/** `Cursor.last` before the first message (sequence numbers are u32, so never this). */
const NO_SEQ = -1;

/** Records one read() may step over before it calls the ring corrupt. */
const MAX_STEPS = 10_000;

// Only Topic.subscribe() makes subscribers: the constructor wants this.
const TOKEN: unique symbol = Symbol('Subscriber');
let make: (cursor: Cursor) => Subscriber<unknown>;

/**
 * One reader of a Topic, made by `topic.subscribe()`. Its position lives in
 * this process only. `T` is what it receives: `Buffer` for a bytes topic,
 * `JsonValue` (or your type) for `'json'`, `unknown` (or your type) for `'v8'`.
 */
export class Subscriber<T = Buffer> implements Disposable, AsyncSubscriber<T> {
  readonly #c: Cursor;

  private constructor(token: typeof TOKEN, cursor: Cursor) {
    if (token !== TOKEN) throw illegalConstructor();
    this.#c = cursor;
  }

  static {
    make = (cursor) => new Subscriber<unknown>(TOKEN, cursor);
  }

  /** True once this subscriber, or the Topic handle it came from, is closed. */
  get closed(): boolean {
    return this.#c.isClosed();
  }

  /** Messages published that this subscriber has not read yet (a snapshot; includes any it will miss). */
  get pending(): number {
    const c = this.#c;
    if (c.isClosed()) throw c.closedError();
    return (Atomics.load(c.ring.cells, NEXT_SEQ) - c.seq) >>> 0;
  }

  /** Messages this subscriber missed in all by falling a lap behind (counted under either `onLag`). */
  get missed(): number {
    const c = this.#c;
    if (c.isClosed()) throw c.closedError();
    return c.missed;
  }

  /**
   * The sequence number (u32) of the message this subscriber returned last,
   * as `topic.publish()` returned it to its publisher; undefined before the
   * first. A message that failed to decode (ERR_SHMKIT_DECODE) counts as
   * returned.
   */
  get lastSeq(): number | undefined {
    const c = this.#c;
    if (c.isClosed()) throw c.closedError();
    return c.last === NO_SEQ ? undefined : c.last;
  }

  /**
   * The next message, or undefined if there is none yet; never waits. After
   * a lap: throws LaggedError (`onLag: 'throw'`), or skips to the oldest
   * message kept (`'skip'`, counted in `missed`).
   */
  tryReceive(): T | undefined {
    return this.#c.read() as T | undefined;
  }

  /** Blocks the thread until a message arrives (`timeout`: ETIMEDOUT). */
  receiveSync(options?: Omit<WaitOptions, 'signal'>): T {
    const c = this.#c;
    if (c.isClosed()) throw c.closedError();
    const { timeout } = parseWait(options);
    for (;;) {
      const m = c.read();
      if (m !== undefined) return m as T;
      waitForSync(c, 0, c.word, c.spin, timeout, c.receiveSyncWhat);
    }
  }

  /**
   * Waits for a message without blocking the event loop. Closing the
   * subscriber (or its Topic) meanwhile rejects it with ERR_SHMKIT_CLOSED.
   */
  async receive(options?: WaitOptions): Promise<T> {
    const c = this.#c;
    if (c.isClosed()) throw c.closedError();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    for (;;) {
      const m = c.read();
      if (m !== undefined) return m as T;
      const parked = waitForAsync(c, 0, c.word, c.spin, timeout, signal, c.receiveWhat);
      if (parked !== undefined) {
        // Counted, so that closing wakes only when a receive is parked, and
        // a closing Topic keeps its memory until the wait core has left it.
        const ring = c.ring;
        c.parked++;
        ring.parked++;
        try {
          await parked;
        } finally {
          c.parked--;
          if (--ring.parked === 0 && ring.closed) ring.idle();
        }
      }
    }
  }

  /**
   * `for await (const m of subscriber)`: receives until the subscriber (or
   * its Topic) is closed, which ends the loop. With `onLag: 'throw'` a lap
   * throws LaggedError out of the loop; iterating again goes on from the
   * oldest message kept. With `'skip'` the loop goes on by itself.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    const c = this.#c;
    if (c.isClosed()) throw c.closedError();
    return this.#iterate();
  }

  async *#iterate(): AsyncGenerator<T, void, undefined> {
    for (;;) {
      let m: T;
      try {
        m = await this.receive();
      } catch (err) {
        if ((err as ShmkitError).code === 'ERR_SHMKIT_CLOSED' && this.#c.isClosed()) return;
        throw err;
      }
      yield m;
    }
  }

  /** Stops this subscriber; a receive() waiting on it rejects with ERR_SHMKIT_CLOSED. Idempotent. */
  close(): void {
    const c = this.#c;
    if (c.closed) return;
    c.closed = true;
    // A parked receive() re-checks attempt() (now true) only when woken.
    if (c.parked > 0) c.ring.wakeSubscribers();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function illegalConstructor(): TypeError {
  const e = new TypeError('Illegal constructor: a Subscriber is made by topic.subscribe()') as TypeError & { code: string };
  e.code = 'ERR_ILLEGAL_CONSTRUCTOR';
  return e;
}

/** @internal Topic.subscribe()'s factory. */
export function newSubscriber<T>(ring: TopicRing, start: [number, number], throwOnLag: boolean): Subscriber<T> {
  return make(new Cursor(ring, start[0], start[1], throwOnLag)) as Subscriber<T>;
}

