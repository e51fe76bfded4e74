// One Queue carried one way, at least once: a message leaves the queue it
// is in only once the other side has it.
//   out: local tryPeek() → remote trySend() → local release()
//   in:  remote tryPeek() → local send() → remote release()
// A bridge that stops (or dies) holding a message hands it back: the local
// Queue gives a peeked message to the next consumer when the handle closes
// (or its process dies); Redis delivers an unreleased one again after the
// queue's `claimAfter` (`capabilities.redeliveryBound`).
//
// Neither side can wake the bridge when a message arrives without taking it
// away, so an idle link polls, backing off from 1 ms to MAX_POLL_MS.
import type { AsyncQueue, Queue } from '../index.js';
import { idle, isAbort, Pump, type LinkContext } from './bridge-link.js';

/** Counters of one bridged Queue. */
export interface BridgeQueueStats {
  /** `'out'`: local Queue to Redis; `'in'`: Redis to the local Queue. */
  direction: 'out' | 'in';
  /** Messages moved (taken from one side once the other had them). */
  moved: number;
  /**
   * `in` only: messages put in the local Queue whose release on Redis
   * failed (Redis was away): Redis delivers them again after `claimAfter`,
   * so the local Queue may get them twice.
   */
  releaseFailed: number;
  /**
   * `out` only: messages sent to Redis after a failed try (a try that
   * failed on its way back may have reached Redis: the Redis queue may
   * hold them twice).
   */
  retried: number;
}

const MIN_POLL_MS = 1;
const MAX_POLL_MS = 20;

export class QueueLink {
  readonly name: string;
  readonly stats: BridgeQueueStats;
  readonly #local: Queue<Buffer>;
  readonly #remote: AsyncQueue<Buffer>;
  readonly #pump: Pump;
  #poll = MIN_POLL_MS;

  constructor(ctx: LinkContext, name: string, direction: 'out' | 'in', local: Queue<Buffer>, remote: AsyncQueue<Buffer>) {
    this.name = name;
    this.stats = { direction, moved: 0, releaseFailed: 0, retried: 0 };
    this.#local = local;
    this.#remote = remote;
    this.#pump = new Pump(ctx, `queue ${name}`, direction);
  }

  /** Reports that the link stopped (after its handles are closed). */
  closed(): void {
    this.#pump.emit('closed', 'closed');
  }

  async run(): Promise<void> {
    this.#pump.emit('started', this.stats.direction === 'out' ? 'from the local Queue to Redis' : 'from Redis to the local Queue');
    if (this.stats.direction === 'out') await this.#outLoop();
    else await this.#inLoop();
  }

  async #idle(): Promise<void> {
    await idle(this.#poll, this.#pump.ctx.closing);
    this.#poll = Math.min(this.#poll * 2, MAX_POLL_MS);
  }

  async #outLoop(): Promise<void> {
    const pump = this.#pump;
    while (!pump.closing) {
      let view: Uint8Array | undefined;
      try {
        view = this.#local.tryPeek();
      } catch (err) {
        await pump.localError(err);
        continue;
      }
      if (view === undefined) {
        await this.#idle();
        continue;
      }
      this.#poll = MIN_POLL_MS;
      // A copy: the view is the ring's memory, and the send may outlive a retry.
      const message = Buffer.from(view);
      if (await this.#sendRemote(message)) {
        this.#local.release();
        this.stats.moved++;
      }
      // else: closing while Redis refused it; close() hands the peeked message back to the local Queue.
    }
  }

  /** Sends until Redis has it (true), or the bridge closes first (false; a send under way is finished first). */
  async #sendRemote(message: Buffer): Promise<boolean> {
    const pump = this.#pump;
    let failed = false;
    for (;;) {
      try {
        if (await pump.remote(this.#remote.trySend(message), 'trySend')) {
          pump.up();
          if (failed) this.stats.retried++;
          return true;
        }
        pump.up();
        if (pump.closing) return false;
        await this.#idle(); // the Redis queue is full: wait for its consumers
      } catch (err) {
        failed = true;
        if (pump.closing) return false;
        await pump.down(err);
      }
    }
  }

  async #inLoop(): Promise<void> {
    const pump = this.#pump;
    while (!pump.closing) {
      let bytes: Uint8Array | undefined;
      try {
        bytes = await pump.remote(this.#remote.tryPeek(), 'tryPeek');
        pump.up();
      } catch (err) {
        await pump.down(err);
        continue;
      }
      if (bytes === undefined) {
        await this.#idle();
        continue;
      }
      this.#poll = MIN_POLL_MS;
      const sent = await this.#sendLocal(bytes);
      if (sent === 'closing') break; // not sent: the Redis queue delivers it again (claimAfter)
      await this.#releaseRemote();
      if (sent === 'sent') this.stats.moved++;
    }
  }

  /** Sends into the local Queue, waiting while it is full and retrying a failure; 'too-long' never fits (reported, dropped). */
  async #sendLocal(bytes: Uint8Array): Promise<'sent' | 'closing' | 'too-long'> {
    const pump = this.#pump;
    const closing = pump.ctx.closing;
    for (;;) {
      try {
        await this.#local.send(bytes, { signal: closing });
        return 'sent';
      } catch (err) {
        if (isAbort(err, closing)) return 'closing';
        if ((err as { code?: string }).code === 'ERR_OUT_OF_RANGE') {
          pump.emit('dropped', `a message from Redis is longer than the local Queue takes: ${(err as Error).message}`, { count: 1 });
          return 'too-long';
        }
        await pump.localError(err);
        if (pump.closing) return 'closing';
      }
    }
  }

  // The message is in the local Queue: take it off Redis. One attempt: a
  // handle forgets its peek as release() starts (RedisQueue), so a failed
  // release cannot be retried; Redis then delivers the message again after
  // claimAfter (at least once: a duplicate here), which is counted and reported.
  async #releaseRemote(): Promise<void> {
    const pump = this.#pump;
    try {
      await pump.remote(this.#remote.release(), 'release');
      pump.up();
    } catch (err) {
      this.stats.releaseFailed++;
      pump.emit('remote-down', `a message now in the local Queue was not released on Redis and will be delivered again (at least once): ${(err as Error).message}`, { error: err as Error });
      if (!pump.closing) await pump.down(err);
    }
  }
}
