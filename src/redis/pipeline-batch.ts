// Batching for the Redis-backed objects (RedisDict, RedisQueue, RedisTopic
// with `batch: true`): the calls batching handles on one client make in one
// tick go to Redis as one `pipeline()` (one write, one exec Promise), with
// one deadline timer per batch instead of a Promise, two closures and a
// timer per call.
//
// A call queues its command on the tick's pipeline at once (its arguments
// all checked first) and one Pending: how to turn the reply into the call's
// result, and the caller's resolve/reject, captured without a per-call
// closure. The batch is sent on process.nextTick, as ioredis's own
// auto-pipelining does. Calls of every batching handle on the client keep
// their order; a command sent on the client directly in the same tick goes
// before the whole batch, or after it when the batch's first call came
// first (flush() first sends the batch, for a handle whose next command
// must come after it).
//
// Each call keeps its own bound: the batch's timer fires at the shortest
// bound among its calls (counted from the moment the batch is written),
// rejects every call whose bound that is with ETIMEDOUT naming the server,
// and re-arms for the next shortest. A reply error (or a reply that does not
// decode) rejects only its own call.
import type { ChainableCommander, Redis } from 'ioredis';
import { ShmkitError } from '../index.js';
import { remoteError } from './remote.js';

/**
 * Turns a reply into the call's result (may throw: the call rejects);
 * `arg` is the value the call was added with.
 */
export type Done = (reply: any, arg: any) => unknown;
/**
 * Handles a failed call (the error already a ShmkitError naming the
 * engine): its result, or a Promise of it, or a throw or rejection.
 */
export type Failed = (err: unknown, arg: any) => unknown;

let capturedResolve: (value: unknown) => void;
let capturedReject: (err: unknown) => void;
/** The executor of every batched call's Promise: a module function, so no closure per call. */
function capture(resolve: (value: unknown) => void, reject: (err: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * One call waiting in a batch (its command is already in the batch's
 * pipeline). What its errors name: `<what>: <op> '<key>'`, or `what`
 * alone when `key` is null.
 */
class Pending {
  settled: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  constructor(
    readonly timeout: number,
    readonly what: string,
    readonly op: string,
    readonly key: string | null,
    readonly done: Done,
    readonly failed: Failed | undefined,
    readonly arg: unknown,
  ) {
    this.settled = false;
    this.resolve = capturedResolve;
    this.reject = capturedReject;
  }

  /** What this call's errors name (built only when one is thrown). */
  describe(): string {
    return this.key === null ? this.what : `${this.what}: ${this.op} '${this.key}'`;
  }
}

/** The batchers of clients: every batching handle on a client shares one, so their calls keep their order. */
const batchers = new WeakMap<Redis, Batcher>();

/** The batcher of `redis` (one per client). */
export function batcherOf(redis: Redis, engine: string): Batcher {
  let b = batchers.get(redis);
  if (b === undefined) {
    b = new Batcher(redis, engine);
    batchers.set(redis, b);
  }
  return b;
}

/** The batches of the batching handles on one server client. */
export class Batcher {
  readonly #redis: Redis;
  readonly #engine: string;
  /** This tick's pipeline (null until a call comes) and its calls, in the same order. */
  #pipeline: ChainableCommander | null = null;
  #pending: Pending[] = [];
  readonly #flush: () => void;

  constructor(redis: Redis, engine: string) {
    this.#redis = redis;
    this.#engine = engine;
    this.#flush = () => this.flush();
  }

  /**
   * This tick's pipeline, to queue one command on, right before add()
   * (every argument checked first: a queued command is sent).
   */
  pipeline(): ChainableCommander {
    let p = this.#pipeline;
    if (p === null) {
      p = this.#pipeline = this.#redis.pipeline();
      process.nextTick(this.#flush);
    }
    return p;
  }

  /**
   * The call whose command was just queued: its Promise settles with
   * `done(reply, arg)`, or rejects as bounded() would (`failed`, when
   * given, handles the error instead). `what`, `op` and `key` are what its
   * errors name (see Pending).
   */
  add(timeout: number, what: string, op: string, key: string | null, done: Done, failed: Failed | undefined, arg?: unknown): Promise<any> {
    const promise = new Promise(capture);
    this.#pending.push(new Pending(timeout, what, op, key, done, failed, arg));
    return promise;
  }

  /** Sends the calls queued so far (at the end of the tick, or before a call that bypasses the batch). */
  flush(): void {
    const p = this.#pipeline;
    if (p === null) return;
    const calls = this.#pending;
    this.#pipeline = null;
    this.#pending = [];
    let shortest = Infinity;
    for (let i = 0; i < calls.length; i++) {
      const t = calls[i]!.timeout;
      if (t < shortest) shortest = t;
    }
    new Batch(calls, shortest, this.#engine).send(p.exec() as Promise<Array<[Error | null, unknown]> | null>);
  }
}

/** One batch in flight: its calls and its deadline timer. */
class Batch {
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The bound the timer is armed for (ms after the write). */
  #armed: number;

  constructor(
    readonly calls: Pending[],
    shortest: number,
    readonly engine: string,
  ) {
    this.#armed = shortest;
    this.#timer = setTimeout(() => this.#expire(), shortest);
  }

  send(replies: Promise<Array<[Error | null, unknown]> | null>): void {
    replies.then((r) => this.#answered(r), (err: unknown) => this.#failedAll(err));
  }

  #answered(replies: Array<[Error | null, unknown]> | null): void {
    const calls = this.calls;
    // One reply per call, in order; anything else (never seen) fails them all rather than mismatch them.
    if (replies === null || replies.length !== calls.length) {
      this.#failedAll(new Error(`the pipeline answered ${replies?.length ?? 0} replies to ${calls.length} commands`));
      return;
    }
    clearTimeout(this.#timer);
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      if (c.settled) continue;
      c.settled = true;
      const reply = replies[i]!;
      if (reply[0] !== null && reply[0] !== undefined) {
        this.#fail(c, reply[0]);
      } else {
        try {
          c.resolve(c.done(reply[1], c.arg));
        } catch (err) {
          c.reject(err);
        }
      }
    }
  }

  #failedAll(err: unknown): void {
    clearTimeout(this.#timer);
    for (const c of this.calls) {
      if (c.settled) continue;
      c.settled = true;
      this.#fail(c, err);
    }
  }

  #fail(c: Pending, err: unknown): void {
    const e = remoteError(err, this.engine, c.describe());
    if (c.failed === undefined) {
      c.reject(e);
      return;
    }
    try {
      c.resolve(c.failed(e, c.arg));
    } catch (thrown) {
      c.reject(thrown);
    }
  }

  /** The timer fired: reject the calls bound by `#armed`, re-arm for the next shortest bound. */
  #expire(): void {
    const armed = this.#armed;
    let next = Infinity;
    for (const c of this.calls) {
      if (c.settled) continue;
      if (c.timeout <= armed) {
        c.settled = true;
        const what = c.describe();
        c.reject(new ShmkitError('ETIMEDOUT', `ETIMEDOUT: ${this.engine} did not answer ${what} within ${c.timeout} ms`, { path: what }));
      } else if (c.timeout < next) {
        next = c.timeout;
      }
    }
    if (next !== Infinity) {
      this.#armed = next;
      this.#timer = setTimeout(() => this.#expire(), next - armed);
    } else {
      this.#timer = undefined;
    }
  }
}
