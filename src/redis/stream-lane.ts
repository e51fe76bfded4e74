// A connection of its own for blocking reads (XREADGROUP/XREAD BLOCK,
// BLPOP): a blocked command holds its connection until it answers, so it
// must never run on the user's client, where it would stall every other
// command behind it. Made lazily with `redis.duplicate()`, closed by
// close(). A blocked command cannot be cancelled in Redis, so a wait that
// ends early (timeout of the round trip, abort, close) drops the
// connection instead, and the next wait makes a fresh one: nothing ever
// queues behind a command whose answer nobody awaits.
import { ShmkitError } from '../index.js';
import { bounded, type RedisClient } from './remote.js';

const ignore = (): void => {};

/** One owned connection for blocking commands. */
export class BlockingLane {
  readonly #parent: RedisClient;
  readonly #engine: string;
  readonly #label: string;
  #conn: RedisClient | null = null;
  #closed = false;
  // The wait in progress, so close() and abort can end it at once.
  #reject: ((err: unknown) => void) | null = null;

  constructor(parent: RedisClient, engine: string, label: string) {
    this.#parent = parent;
    this.#engine = engine;
    this.#label = label;
  }

  /**
   * Runs one blocking command, bounded by `ms` (the command's own block
   * time plus commandTimeout); rejects with the signal's reason on abort
   * and ERR_SHMKIT_CLOSED on close().
   */
  run(command: string, argv: Array<string | Buffer | number>, ms: number, signal: AbortSignal | undefined, what: string): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.closedError());
    let conn = this.#conn;
    if (conn === null) {
      conn = this.#parent.duplicate();
      conn.on('error', ignore); // failures reach the command's promise; no unhandled 'error' events
      this.#conn = conn;
    }
    const work = bounded(conn.callBuffer(command, argv), ms, this.#engine, what);
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => {
        this.#drop();
        finish(signal?.reason ?? new DOMException('This operation was aborted', 'AbortError'), undefined);
      };
      const finish = (err: unknown, value: unknown): void => {
        if (this.#reject === null) return;
        this.#reject = null;
        signal?.removeEventListener('abort', onAbort);
        if (err !== null) reject(err);
        else resolve(value);
      };
      this.#reject = (err) => finish(err, undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      work.then(
        (value) => finish(null, value),
        (err: unknown) => {
          // The connection may still hold the unanswered command: start afresh next time.
          if ((err as ShmkitError).code === 'ETIMEDOUT') this.#drop();
          finish(err, undefined);
        },
      );
    });
  }

  closedError(): ShmkitError {
    return new ShmkitError('ERR_SHMKIT_CLOSED', `${this.#label} is closed`);
  }

  #drop(): void {
    const conn = this.#conn;
    this.#conn = null;
    conn?.disconnect();
  }

  /** Ends the connection; a wait in progress rejects with ERR_SHMKIT_CLOSED. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drop();
    this.#reject?.(this.closedError());
  }
}

/**
 * Lanes of one handle: a blocking call takes a free one (or makes one), so
 * concurrent receive() calls on one handle each block on their own
 * connection instead of queueing behind each other's block.
 */
export class LanePool {
  readonly #parent: RedisClient;
  readonly #engine: string;
  readonly #label: string;
  readonly #free: BlockingLane[] = [];
  readonly #all = new Set<BlockingLane>();
  #closed = false;

  constructor(parent: RedisClient, engine: string, label: string) {
    this.#parent = parent;
    this.#engine = engine;
    this.#label = label;
  }

  /** Runs one blocking command on a lane of its own (see BlockingLane.run). */
  async run(command: string, argv: Array<string | Buffer | number>, ms: number, signal: AbortSignal | undefined, what: string): Promise<unknown> {
    if (this.#closed) throw new ShmkitError('ERR_SHMKIT_CLOSED', `${this.#label} is closed`);
    let lane = this.#free.pop();
    if (lane === undefined) {
      lane = new BlockingLane(this.#parent, this.#engine, this.#label);
      this.#all.add(lane);
    }
    try {
      return await lane.run(command, argv, ms, signal, what);
    } finally {
      if (!this.#closed) this.#free.push(lane);
    }
  }

  /** Closes every lane; waits in progress reject with ERR_SHMKIT_CLOSED. */
  close(): void {
    this.#closed = true;
    for (const lane of this.#all) lane.close();
    this.#all.clear();
    this.#free.length = 0;
  }
}
