// RedisDict's batching: the calls batching handles on one client get in one
// tick go to Redis as one `pipeline()` (one write, one exec Promise), with one deadline timer
// per batch instead of a Promise, two closures and a timer per call.
//
// A call is one Pending: the ioredis method and its arguments (fields, not an
// array), how to turn the reply into the call's result, and the caller's
// resolve/reject, captured without a per-call closure. The batch is sent on
// process.nextTick, as ioredis's own auto-pipelining does. Calls of every
// batching handle on the client keep their order; a command sent on the
// client directly in the same tick goes before the whole batch, or after it
// when the batch's first call came first.
//
// Each call keeps its own bound: the batch's timer fires at the shortest
// bound among its calls (counted from the moment the batch is written),
// rejects every call whose bound that is with ETIMEDOUT naming the server,
// and re-arms for the next shortest. A reply error (or a reply that does not
// decode) rejects only its own call.
import type { Redis } from 'ioredis';
import { ShmkitError } from '../index.js';
import { remoteError } from './remote.js';

/** Turns a reply into the call's result (may throw: the call rejects). */
export type Done = (reply: any) => unknown;
/** Handles a failed call (the error already a ShmkitError naming the engine): its result, or a rejection. */
export type Failed = (err: unknown) => Promise<unknown>;

type Arg = string | Buffer | number;

let capturedResolve: (value: unknown) => void;
let capturedReject: (err: unknown) => void;
/** The executor of every batched call's Promise: a module function, so no closure per call. */
function capture(resolve: (value: unknown) => void, reject: (err: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** One call waiting in a batch. */
class Pending {
  settled: boolean;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  constructor(
    readonly method: string,
    readonly n: number,
    readonly a0: Arg,
    readonly a1: Arg,
    readonly a2: Arg,
    readonly a3: Arg,
    readonly a4: Arg,
    readonly a5: Arg,
    readonly a6: Arg,
    readonly timeout: number,
    readonly op: string,
    readonly key: string,
    readonly what: string,
    readonly done: Done,
    readonly failed: Failed | undefined,
  ) {
    this.settled = false;
    this.resolve = capturedResolve;
    this.reject = capturedReject;
  }
}

/** The batchers of clients: every batching RedisDict handle on a client shares one, so their calls keep their order. */
const batchers = new WeakMap<Redis, DictBatcher>();

/** The batcher of `redis` (one per client). */
export function batcherOf(redis: Redis, engine: string): DictBatcher {
  let b = batchers.get(redis);
  if (b === undefined) {
    b = new DictBatcher(redis, engine);
    batchers.set(redis, b);
  }
  return b;
}

/** The batches of the batching RedisDict handles on one server client. */
export class DictBatcher {
  readonly #redis: Redis;
  readonly #engine: string;
  #pending: Pending[] = [];
  #scheduled = false;
  readonly #flush: () => void;

  constructor(redis: Redis, engine: string) {
    this.#redis = redis;
    this.#engine = engine;
    this.#flush = () => this.flush();
  }

  /**
   * Queues `method(a0, ..., a[n-1])` for this tick's batch; the Promise
   * settles with `done(reply)`, or rejects as bounded() would (`failed`,
   * when given, handles the error instead).
   */
  call(method: string, n: number, a0: Arg, a1: Arg, a2: Arg, a3: Arg, a4: Arg, a5: Arg, a6: Arg,
    timeout: number, op: string, key: string, what: string, done: Done, failed: Failed | undefined): Promise<any> {
    const promise = new Promise(capture);
    this.#pending.push(new Pending(method, n, a0, a1, a2, a3, a4, a5, a6, timeout, op, key, what, done, failed));
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
    return promise;
  }

  /** Sends the calls queued so far (at the end of the tick, or before a call that bypasses the batch). */
  flush(): void {
    this.#scheduled = false;
    const calls = this.#pending;
    if (calls.length === 0) return;
    this.#pending = [];
    const p = this.#redis.pipeline() as unknown as Record<string, (...args: Arg[]) => unknown>;
    let shortest = Infinity;
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      if (c.timeout < shortest) shortest = c.timeout;
      switch (c.n) {
        case 1: p[c.method]!(c.a0); break;
        case 2: p[c.method]!(c.a0, c.a1); break;
        case 3: p[c.method]!(c.a0, c.a1, c.a2); break;
        case 4: p[c.method]!(c.a0, c.a1, c.a2, c.a3); break;
        case 5: p[c.method]!(c.a0, c.a1, c.a2, c.a3, c.a4); break;
        case 6: p[c.method]!(c.a0, c.a1, c.a2, c.a3, c.a4, c.a5); break;
        default: p[c.method]!(c.a0, c.a1, c.a2, c.a3, c.a4, c.a5, c.a6); break;
      }
    }
    new Batch(calls, shortest, this.#engine).send((p as unknown as { exec(): Promise<Array<[Error | null, unknown]> | null> }).exec());
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
    clearTimeout(this.#timer);
    const calls = this.calls;
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      if (c.settled) continue;
      c.settled = true;
      const reply = replies?.[i];
      if (reply === undefined) {
        this.#fail(c, new Error('no reply in the pipeline'));
      } else if (reply[0] !== null && reply[0] !== undefined) {
        this.#fail(c, reply[0]);
      } else {
        try {
          c.resolve(c.done(reply[1]));
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
    const e = remoteError(err, this.engine, `${c.what}: ${c.op} '${c.key}'`);
    if (c.failed === undefined) c.reject(e);
    else c.resolve(c.failed(e));
  }

  /** The timer fired: reject the calls bound by `#armed`, re-arm for the next shortest bound. */
  #expire(): void {
    const armed = this.#armed;
    let next = Infinity;
    for (const c of this.calls) {
      if (c.settled) continue;
      if (c.timeout <= armed) {
        c.settled = true;
        const what = `${c.what}: ${c.op} '${c.key}'`;
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
