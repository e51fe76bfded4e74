// One reader of a RedisTopic. Its position (the next sequence number it
// expects) lives in this process only, as on shared memory. It reads in
// batches (XREAD COUNT) into a small local buffer; a blocking receive waits
// in Redis with XREAD BLOCK on a connection of its own.
import { LaggedError, ShmkitError, type AsyncSubscriber, type WaitOptions } from '../index.js';
import { bounded, type RedisClient } from './remote.js';
import { decodeMessage, type MessageEncoding } from './message-codec.js';
import { deadlineOf, msLeft, parseWaitOptions } from './stream-options.js';
import { LanePool } from './stream-lane.js';
import { receiveUntilClosed } from './stream-receive.js';
import { commands } from './stream-script.js';
import { START } from './stream-topic-scripts.js';

/** Entries one read asks for. */
const BATCH = 64;
/** Longest single block of a waiting receive (so a stalled server is noticed within this plus commandTimeout). */
const MAX_SLICE_MS = 1000;

/** @internal What a subscriber needs from its topic. */
export interface TopicLink {
  readonly redis: RedisClient;
  readonly engine: string;
  readonly label: string;
  readonly stream: string;
  readonly seqKey: string;
  readonly encoding: MessageEncoding;
  readonly commandTimeout: number;
  /** Called by close(): the topic stops tracking it. */
  forget(subscriber: RedisSubscriber<unknown>): void;
  /** Sends the topic's batched publishes now (`batch: true`), so a read sent next comes after them. */
  flush(): void;
}

type Entry = [Buffer, Buffer[]];

// Only RedisTopic.subscribe() makes subscribers.
const TOKEN: unique symbol = Symbol('RedisSubscriber');

/**
 * A subscriber of a RedisTopic (`AsyncSubscriber`), made by
 * `topic.subscribe()`. `T` is what it receives, by the topic's encoding.
 */
export class RedisSubscriber<T = Buffer> implements AsyncSubscriber<T> {
  readonly #link: TopicLink;
  readonly #throwOnLag: boolean;
  readonly #lanes: LanePool;
  // Next sequence number expected.
  #next: number;
  #missed = 0;
  #buffer: Entry[] = [];
  #at = 0;
  #closed = false;
  readonly #readArgv: Array<string | number>;
  readonly #blockArgv: Array<string | number>;

  private constructor(token: typeof TOKEN, link: TopicLink, next: number, throwOnLag: boolean) {
    if (token !== TOKEN) throw new ShmkitError('ERR_ILLEGAL_CONSTRUCTOR', 'Illegal constructor: a RedisSubscriber is made by topic.subscribe()');
    this.#link = link;
    this.#next = next;
    this.#throwOnLag = throwOnLag;
    this.#lanes = new LanePool(link.redis, link.engine, `${link.label} subscriber`);
    this.#readArgv = ['COUNT', BATCH, 'STREAMS', link.stream, ''];
    this.#blockArgv = ['COUNT', BATCH, 'BLOCK', 0, 'STREAMS', link.stream, ''];
  }

  /** @internal */
  static make<T>(link: TopicLink, next: number, throwOnLag: boolean): RedisSubscriber<T> {
    return new RedisSubscriber<T>(TOKEN, link, next, throwOnLag);
  }

  /** True once this subscriber, or its topic handle, is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Messages this subscriber missed in all by falling behind the history kept (counted under either `onLag`). */
  get missed(): number {
    this.#checkOpen();
    return this.#missed;
  }

  /**
   * The next message, or undefined when it has read them all; one XREAD
   * when its buffer is empty. After falling behind: LaggedError (`onLag:
   * 'throw'`) with the exact count, or skips ahead (`'skip'`).
   */
  async tryReceive(): Promise<T | undefined> {
    this.#checkOpen();
    if (this.#at === this.#buffer.length) {
      const argv = this.#readArgv;
      argv[4] = this.#after();
      this.#link.flush();
      const reply = await bounded(commands(this.#link.redis).xreadBuffer(argv.slice()) /* a copy: see LuaScript.run */, this.#link.commandTimeout, this.#link.engine, `XREAD (${this.#link.label} tryReceive)`);
      this.#checkOpen();
      this.#fill(reply);
    }
    return this.#nextMessage();
  }

  /**
   * The next message, waiting for one in Redis (XREAD BLOCK on a
   * connection of its own). `timeout` → ETIMEDOUT; `signal` aborts;
   * close() rejects it with ERR_SHMKIT_CLOSED.
   */
  async receive(options?: WaitOptions): Promise<T> {
    this.#checkOpen();
    const { timeout, signal } = parseWaitOptions(options);
    signal?.throwIfAborted();
    const deadline = deadlineOf(timeout);
    for (;;) {
      if (this.#at < this.#buffer.length) return this.#nextMessage() as T;
      const left = msLeft(deadline);
      if (left <= 0) {
        // A zero timeout still looks once.
        const m = await this.tryReceive();
        if (m !== undefined) return m;
        throw new ShmkitError('ETIMEDOUT', `ETIMEDOUT: ${this.#link.label} subscriber receive: no message within ${timeout} ms`, { path: this.#link.label });
      }
      const block = Math.max(1, Math.floor(Math.min(left, MAX_SLICE_MS)));
      const argv = this.#blockArgv;
      argv[3] = block;
      argv[6] = this.#after();
      const reply = await this.#lanes.run('xreadBuffer', argv, block + this.#link.commandTimeout, signal, `XREAD BLOCK (${this.#link.label} receive)`);
      this.#checkOpen();
      if (reply === null) await this.#checkReset();
      else this.#fill(reply);
    }
  }

  /**
   * `for await (const m of subscriber)`: receives until the subscriber (or
   * its topic) is closed, which ends the loop. With `onLag: 'throw'` a lag
   * throws LaggedError out of the loop; iterating again goes on from the
   * oldest message kept.
   */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return receiveUntilClosed(this);
  }

  /** Stops this subscriber: its connection ends; a receive() waiting rejects with ERR_SHMKIT_CLOSED. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lanes.close();
    this.#buffer = [];
    this.#at = 0;
    this.#link.forget(this as RedisSubscriber<unknown>);
  }

  // A slice without messages: was the topic's history lost (Redis restarted
  // without persistence, keys deleted)? The counter then is below what this
  // subscriber has read, and waiting for the old numbers would wait forever:
  // go on from the oldest message of the new history. What Redis lost is
  // not counted in `missed` (nobody knows how much it was).
  async #checkReset(): Promise<void> {
    const link = this.#link;
    const last = await bounded(link.redis.get(link.seqKey), link.commandTimeout, link.engine, `GET (${link.label} receive)`);
    if (Number(last ?? 0) >= this.#next - 1) return;
    this.#next = await bounded(START.run(link.redis, ['', 2, link.stream, link.seqKey, 'earliest']), link.commandTimeout, link.engine, `EVALSHA start (${link.label} receive)`) as number;
  }

  // XREAD returns entries after this id: the one before the next expected.
  #after(): string {
    return `${this.#next - 1}-0`;
  }

  #fill(reply: unknown): void {
    if (!Array.isArray(reply) || reply.length === 0) return;
    const entries = (reply[0] as [Buffer, Entry[]])[1];
    if (entries.length === 0) return;
    this.#buffer = entries;
    this.#at = 0;
  }

  // The buffer's next entry as a message, after the lag check.
  #nextMessage(): T | undefined {
    const buffer = this.#buffer;
    while (this.#at < buffer.length) {
      const entry = buffer[this.#at] as Entry;
      const seq = seqOf(entry[0]);
      if (seq < this.#next) {
        this.#at++; // read before (cannot happen with ids only growing; kept safe)
        continue;
      }
      if (seq > this.#next) {
        // Every number is a message (taken and added in one script), so the
        // numbers between were trimmed before this subscriber read them.
        const missed = seq - this.#next;
        this.#missed += missed;
        this.#next = seq; // this entry is the next one returned
        if (this.#throwOnLag) throw new LaggedError(missed, this.#link.label);
      }
      this.#at++;
      this.#next = seq + 1;
      return decodeMessage(this.#link.encoding, (entry[1] as Buffer[])[1] as Buffer, this.#link.label) as T;
    }
    return undefined;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ShmkitError('ERR_SHMKIT_CLOSED', `${this.#link.label} subscriber is closed`);
  }
}

// The sequence number of an entry id `<seq>-0`.
function seqOf(id: Buffer): number {
  let n = 0;
  for (let i = 0; i < id.length; i++) {
    const c = id[i] as number;
    if (c === 0x2d) break; // '-'
    n = n * 10 + (c - 0x30);
  }
  return n;
}
