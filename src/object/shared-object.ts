// The base of every shmkit object handle: the memory it works on and, for
// named objects, the segment it owns.
import { ShmkitError, closedError } from '../errors.js';
import type { Segment } from '../segment/segment.js';

/**
 * Base of every object handle: the memory it works on and, for named
 * objects, the segment it owns. Hot paths read `cells` directly.
 */
export abstract class SharedObject implements Disposable, AsyncDisposable {
  readonly #buffer: SharedArrayBuffer;
  readonly #byteOffset: number;
  #closed = false;
  readonly #segment: Segment | null;
  /**
   * @internal The object as messages name it: `Mutex '/jobs'`, or `Mutex at
   * offset 64` when embedded.
   */
  protected readonly subject: string;

  protected constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, what: string) {
    this.#buffer = buffer;
    this.#byteOffset = byteOffset;
    this.#segment = segment;
    const name = segment?.name ?? null;
    this.subject = name === null ? `${what} at offset ${byteOffset}` : `${what} '${name}'`;
  }

  /** The memory holding the object (its segment's buffer when named). */
  get buffer(): SharedArrayBuffer {
    if (this.#closed) throw this.closedError();
    return this.#buffer;
  }

  /** Where the object starts in `buffer`. */
  get byteOffset(): number {
    if (this.#closed) throw this.closedError();
    return this.#byteOffset;
  }

  /** True once `close()` has run on this handle. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Pages of a named object's mapping that the kernel could not back and
   * that were replaced by private zero pages (see `Segment.faults`: writes
   * there are seen by this process only). Always 0 for an embedded object:
   * its memory is the caller's, whose `Segment.faults` counts it.
   */
  get faults(): number {
    if (this.#closed) throw this.closedError();
    return this.#segment?.faults ?? 0;
  }

  /** The POSIX name of a named object, `null` when embedded. */
  get name(): string | null {
    return this.#segment?.name ?? null;
  }

  /** @internal */
  protected closedError(): ShmkitError {
    return closedError(this.subject);
  }

  /**
   * Releases this handle (and, for a named object, its mapping). The object
   * itself lives on for other handles; `unlink()` removes a named one.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#segment?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** For `await using`: the same as the synchronous dispose. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
