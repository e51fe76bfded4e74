// The reference the Topic is measured against (BACKEND=ipc): the primary
// forwards every tick to every worker with `process.send` (cluster IPC),
// and each worker keeps the last ticks in a ring of its own memory, from
// which its clients read as from a Topic, skipping ahead when they fall a
// lap behind. This is how a cluster fans out without shared memory: one
// IPC message per tick per worker, each one serialised by the primary,
// copied through a pipe and parsed by the worker. (The pipe has no
// backpressure: a worker that falls behind makes the primary buffer.)
import { ShmkitError, type AsyncSubscriber, type SubscribeOptions } from 'shmkit';

/** Ticks kept in this process, read by subscribers that each keep their own position. */
export class LocalTopic {
  readonly #ring: Buffer[];
  /** Messages published so far; the newest is #ring[(#published - 1) % capacity]. */
  #published = 0;
  #wake: { promise: Promise<void>; resolve: () => void } | undefined;
  #closed = false;

  constructor(readonly capacity: number) {
    this.#ring = new Array<Buffer>(capacity);
  }

  get published(): number {
    return this.#published;
  }

  get closed(): boolean {
    return this.#closed;
  }

  publish(message: Buffer): void {
    this.#ring[this.#published % this.capacity] = message;
    this.#published++;
    this.wake();
  }

  /** From the next message published on, skipping ahead after a lap (the only policy this reference has). */
  subscribe(options?: SubscribeOptions): LocalSubscriber {
    if (options?.from === 'earliest' || options?.onLag === 'throw') throw new RangeError('LocalTopic: only { from: "latest", onLag: "skip" }');
    return new LocalSubscriber(this, this.#published);
  }

  /** The message numbered `n` (0 = the first published). */
  at(n: number): Buffer {
    return this.#ring[n % this.capacity] as Buffer;
  }

  /** Resolves at the next publish (or close). */
  next(): Promise<void> {
    this.#wake ??= withResolvers();
    return this.#wake.promise;
  }

  close(): void {
    this.#closed = true;
    this.wake();
  }

  /** Resolves what next() returned: the waiting subscribers look again. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.resolve();
  }
}

function withResolvers(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** One reader of a LocalTopic, with the AsyncSubscriber interface the workers use. */
export class LocalSubscriber implements AsyncSubscriber<Buffer> {
  readonly #topic: LocalTopic;
  /** The number of the next message to read. */
  #next: number;
  #missed = 0;
  #closed = false;

  constructor(topic: LocalTopic, next: number) {
    this.#topic = topic;
    this.#next = next;
  }

  get missed(): number {
    return this.#missed;
  }

  tryReceive(): Buffer | undefined {
    if (this.#closed || this.#topic.closed) throw new ShmkitError('ERR_SHMKIT_CLOSED', 'LocalSubscriber is closed');
    const published = this.#topic.published;
    if (this.#next === published) return undefined;
    const oldest = published - this.#topic.capacity;
    if (this.#next < oldest) {
      this.#missed += oldest - this.#next;
      this.#next = oldest;
    }
    return this.#topic.at(this.#next++);
  }

  async receive(): Promise<Buffer> {
    for (;;) {
      const m = this.tryReceive();
      if (m !== undefined) return m;
      await this.#topic.next();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    while (!this.#closed && !this.#topic.closed) yield await this.receive();
  }

  /** Stops it: a receive() waiting rejects with ERR_SHMKIT_CLOSED. */
  close(): void {
    this.#closed = true;
    this.#topic.wake();
  }
}
