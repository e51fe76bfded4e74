// A Lua script run by its SHA1 (EVALSHA), falling back to EVAL when the
// server does not know it yet (first use, a restarted server, another
// Cluster node): EVAL also caches it, so the next EVALSHA hits. Run on the
// caller's client without adding commands to it (ioredis's defineCommand
// would change the user's object).
import { createHash } from 'node:crypto';
import type { ChainableCommander } from 'ioredis';
import type { ShmkitError } from '../index.js';
import { bounded, type RedisClient } from './remote.js';

/** One argument of a command: ioredis sends strings, Buffers and numbers as they are. */
export type Arg = string | Buffer | number;

/**
 * The ioredis command methods the channels use, each given one argv array
 * (ioredis flattens it) and answering bulk strings as Buffers. The named
 * methods, not `call`/`callBuffer`: with `enableAutoPipelining` ioredis
 * re-issues a queued command through the method it came from, which loses
 * the command name of `callBuffer(name, ...)`.
 */
export interface ArgvCommands {
  evalshaBuffer(argv: Arg[]): Promise<unknown>;
  evalBuffer(argv: Arg[]): Promise<unknown>;
  xreadBuffer(argv: Arg[]): Promise<unknown>;
  xreadgroupBuffer(argv: Arg[]): Promise<unknown>;
  blpopBuffer(argv: Arg[]): Promise<unknown>;
}

/** The client seen through ArgvCommands (every ioredis Redis and Cluster has these methods). */
export function commands(client: RedisClient): ArgvCommands {
  return client as unknown as ArgvCommands;
}

/** One Lua script and how to run it. */
export class LuaScript {
  readonly #sha: string;
  readonly #source: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  /** @internal The SHA1 EVALSHA names it by (benchmarks issue the same command directly). */
  get sha(): string {
    return this.#sha;
  }

  /**
   * Runs the script: `argv` is [slot, numkeys, ...keys, ...args], kept by
   * the caller and refilled for each call (slot 0 is this method's). It is
   * copied once here: the caller may refill it for its next call while this
   * one is still out (or queued by ioredis until a Cluster is ready), and
   * the EVAL fallback must send this call's arguments, not the next one's.
   * Replies keep bulk strings as Buffers (messages are bytes).
   */
  async run(client: RedisClient, argv: Arg[]): Promise<unknown> {
    const args = argv.slice();
    args[0] = this.#sha;
    try {
      return await commands(client).evalshaBuffer(args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      args[0] = this.#source;
      return commands(client).evalBuffer(args);
    }
  }

  /**
   * Makes the script's EVALSHA on a batch's commander (see
   * pipeline-batch.ts): slot 0 of `argv` is this method's, the rest as for
   * run(). ioredis copies the arguments as it makes the command, so the
   * caller may refill argv at once.
   */
  queue(commander: ChainableCommander, argv: Arg[]): void {
    argv[0] = this.#sha;
    (commander as unknown as ArgvCommands).evalshaBuffer(argv);
  }

  /**
   * A queued EVALSHA failed with `err` (the batch's ShmkitError, the reply
   * error as its `cause`): NOSCRIPT (the server has not cached the script)
   * sends the same call as EVAL, bounded by `ms`, which caches it; any
   * other failure rejects with `err`.
   */
  retry(client: RedisClient, err: unknown, ms: number, engine: string): Promise<unknown> {
    const cause = (err as { cause?: { message?: unknown; command?: { args?: Arg[] } } }).cause;
    const args = cause?.command?.args;
    if (typeof cause?.message === 'string' && cause.message.startsWith('NOSCRIPT') && args !== undefined) {
      const again = args.slice();
      again[0] = this.#source;
      return bounded(commands(client).evalBuffer(again), ms, engine, (err as ShmkitError).path ?? 'EVAL');
    }
    return Promise.reject(err);
  }
}
