// Batching for the Redis-backed objects (RedisDict, RedisQueue, RedisTopic
// with `batch: true`): the commands batching handles on one client make in
// one tick go to Redis in one socket write, with one deadline timer per
// batch instead of one per call.
//
// A call makes its command at once (its arguments all checked first),
// through a pipeline object kept as a command factory: its command
// methods build ioredis Commands (with the client's keyPrefix) and hand
// them here instead of queueing them. The batch is sent on
// process.nextTick, as ioredis's own auto-pipelining does: every command
// through the client's sendCommand() (its offline queue, reconnection and
// reply matching as for any command), their bytes gathered into one socket
// write as a pipeline's are (Gather). Not through pipeline.exec(): a
// pipeline adds two Promise reactions and two closures per command and an
// array of results, garbage that took a third of the client's CPU (in the
// collector) on a batch of GETs.
//
// A call's Promise is its command's own, followed (through two bound
// functions) by its Pending: how to turn the reply into the call's result.
// (Replies could be matched to calls by their order, with no function per
// call, but a command ioredis sends again after a reconnection is answered
// out of that order.) Calls of every batching handle on the client keep
// their order; a command sent on the client directly in the same tick goes
// before the whole batch (flush() sends the batch first, for a handle whose
// next command must come after it).
//
// Each call keeps its own bound: the batch's timer fires at the shortest
// bound among its calls (counted from the moment the batch is written),
// fails every call whose bound that is with ETIMEDOUT naming the server (as
// a reply error would: through the call's failure handler, if it has one),
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

/** What the batcher uses of an ioredis Command: the Promise of its reply, and how to fail it. */
interface SentCommand {
  readonly promise: Promise<unknown>;
  reject(err: unknown): void;
}

/**
 * One call waiting in a batch: its command, and how its reply becomes the
 * call's result. The call's Promise is the command's own, followed by
 * answered()/failedWith(); a call past its bound fails its command (as
 * ioredis's own commandTimeout does), so a late reply is dropped. What its
 * errors name: `<what>: <op> '<key>'`, or `what` alone when `key` is null.
 */
class Pending {
  settled: boolean;
  /** Failed by the batch's timer (its failedWith() still to run). */
  expired: boolean;
  /** The batch it went out in (set when sent). */
  batch: Batch | null;
  constructor(
    readonly command: SentCommand,
    readonly timeout: number,
    readonly what: string,
    readonly op: string,
    readonly key: string | null,
    readonly done: Done,
    readonly failed: Failed | undefined,
    readonly arg: unknown,
  ) {
    this.settled = false;
    this.expired = false;
    this.batch = null;
  }

  /** The command's reply came: the call's result. */
  answered(reply: unknown): unknown {
    this.settled = true;
    this.batch!.settledOne();
    return this.done(reply, this.arg);
  }

  /** The command failed (a reply error, the connection closed, the call's bound passed): the failure handler's result, or the error. */
  failedWith(err: unknown): unknown {
    this.settled = true;
    const batch = this.batch!;
    batch.settledOne();
    const e = remoteError(err, batch.engine, this.describe());
    if (this.failed === undefined) throw e;
    return this.failed(e, this.arg);
  }

  /** What this call's errors name (built only when one is thrown). */
  describe(): string {
    return this.key === null ? this.what : `${this.what}: ${this.op} '${this.key}'`;
  }
}

/** The batchers of clients: every batching handle on a client shares one, so their calls keep their order. */
const batchers = new WeakMap<Redis, Batcher>();

/**
 * The batcher of `redis` (one per client), or null when the client is not
 * of the shape the batcher was written against (ioredis 5: `sendCommand(
 * command, stream)`, a pipeline whose `sendCommand` takes each Command it
 * makes, the connection's `stream` once connected). Those are ioredis's
 * workings, not its typed API; on another shape the handle sends each call
 * on its own (slower, still correct) instead of batching wrongly.
 */
export function batcherOf(redis: Redis, engine: string): Batcher | null {
  let b = batchers.get(redis);
  if (b === undefined) {
    if (!batchable(redis)) return null;
    b = new Batcher(redis, engine);
    batchers.set(redis, b);
  }
  return b;
}

function batchable(redis: Redis): boolean {
  const r = redis as unknown as { sendCommand?: unknown; pipeline?: unknown };
  if (typeof r.sendCommand !== 'function' || r.sendCommand.length < 2 || typeof r.pipeline !== 'function') return false;
  const probe = redis.pipeline() as unknown as { sendCommand?: unknown; _queue?: unknown };
  return typeof probe.sendCommand === 'function';
}

/** The batches of the batching handles on one server client. */
export class Batcher {
  readonly #redis: Redis;
  readonly #engine: string;
  /** Builds this tick's commands: a pipeline never exec'd, whose sendCommand keeps each command for flush(). */
  readonly #factory: ChainableCommander;
  /** This tick's commands and their calls, in the same order (a call is added right after its command). */
  #commands: SentCommand[] = [];
  #pending: Pending[] = [];
  #scheduled = false;
  readonly #flush: () => void;
  readonly #gather: Gather;

  constructor(redis: Redis, engine: string) {
    this.#redis = redis;
    this.#engine = engine;
    this.#flush = () => this.flush();
    const factory = redis.pipeline();
    (factory as unknown as { sendCommand: (command: SentCommand) => unknown }).sendCommand = (command) => {
      this.#commands.push(command);
      return factory;
    };
    this.#factory = factory;
    this.#gather = new Gather(redis);
  }

  /**
   * Where to make one command of this tick (`commander().getBuffer(key)`),
   * right before add() (every argument checked first: a command made is
   * sent).
   */
  commander(): ChainableCommander {
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
    return this.#factory;
  }

  /**
   * The call whose command was just made: its Promise settles with
   * `done(reply, arg)`, or rejects as bounded() would (`failed`, when
   * given, handles the error instead). `what`, `op` and `key` are what its
   * errors name (see Pending).
   */
  add(timeout: number, what: string, op: string, key: string | null, done: Done, failed: Failed | undefined, arg?: unknown): Promise<any> {
    const commands = this.#commands;
    const command = commands[commands.length - 1]!;
    const call = new Pending(command, timeout, what, op, key, done, failed, arg);
    this.#pending.push(call);
    return command.promise.then(answered.bind(call), failedWith.bind(call));
  }

  /** Sends the commands made so far (at the end of the tick, or before a command that bypasses the batch). */
  flush(): void {
    this.#scheduled = false;
    const commands = this.#commands;
    const calls = this.#pending;
    if (commands.length === 0) return;
    this.#commands = [];
    this.#pending = [];
    let shortest = Infinity;
    for (let i = 0; i < calls.length; i++) {
      const t = calls[i]!.timeout;
      if (t < shortest) shortest = t;
    }
    const batch = new Batch(calls, shortest, this.#engine);
    const redis = this.#redis;
    const gather = this.#gather;
    gather.begin();
    try {
      for (let i = 0; i < commands.length; i++) {
        calls[i]!.batch = batch;
        // A client not ready queues the command (and writes it through `gather` once it is: at once then).
        redis.sendCommand(commands[i] as never, gather as never);
      }
    } finally {
      gather.end();
    }
  }
}

/**
 * The stream a batch's commands are written to: between begin() and end()
 * it gathers their bytes, and end() writes them to the client's socket in
 * one write; outside (a command queued while the client reconnected, sent
 * again later) it writes at once.
 */
class Gather {
  readonly #redis: Redis;
  #on = false;
  #text = '';
  #buffers: Buffer[] | null = null;

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  begin(): void {
    this.#on = true;
  }

  /** What ioredis calls with each command's bytes (a string, or a Buffer when an argument is one). */
  write(chunk: string | Buffer): boolean {
    if (!this.#on) return this.#redis.stream.write(chunk);
    if (typeof chunk === 'string') {
      this.#text += chunk;
    } else {
      const buffers = this.#buffers ??= [];
      if (this.#text !== '') {
        buffers.push(Buffer.from(this.#text));
        this.#text = '';
      }
      buffers.push(chunk);
    }
    return true;
  }

  end(): void {
    this.#on = false;
    const buffers = this.#buffers;
    const text = this.#text;
    this.#buffers = null;
    this.#text = '';
    if (buffers !== null) {
      if (text !== '') buffers.push(Buffer.from(text));
      this.#redis.stream.write(Buffer.concat(buffers));
    } else if (text !== '') {
      this.#redis.stream.write(text);
    }
  }
}

function answered(this: Pending, reply: unknown): unknown {
  return this.answered(reply);
}
function failedWith(this: Pending, err: unknown): unknown {
  return this.failedWith(err);
}

/** One batch in flight: its calls and its deadline timer. */
class Batch {
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The bound the timer is armed for (ms after the write). */
  #armed: number;
  /** Calls not settled yet: the timer goes when none is left. */
  #left: number;

  constructor(
    readonly calls: Pending[],
    shortest: number,
    readonly engine: string,
  ) {
    this.#armed = shortest;
    this.#left = calls.length;
    this.#timer = setTimeout(() => this.#expire(), shortest);
  }

  /** One call settled (answered, failed or timed out). */
  settledOne(): void {
    if (--this.#left === 0) clearTimeout(this.#timer);
  }

  /** The timer fired: reject the calls bound by `#armed`, re-arm for the next shortest bound. */
  #expire(): void {
    const armed = this.#armed;
    let next = Infinity;
    for (const c of this.calls) {
      if (c.settled || c.expired) continue;
      if (c.timeout <= armed) {
        // As any failure: through the call's own handler (an acknowledgement
        // that times out still hands its message over, as without batching).
        c.expired = true;
        const what = c.describe();
        c.command.reject(new ShmkitError('ETIMEDOUT', `ETIMEDOUT: ${this.engine} did not answer ${what} within ${c.timeout} ms`, { path: what }));
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
