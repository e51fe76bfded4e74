// One mapping seen from JavaScript: the SharedArrayBuffer the addon made and
// the byte view over it. Releasing swaps the shared pages for private zero
// pages in place (see native/mapping.h), so views that escaped stay harmless.
import { constants as bufferConstants } from 'node:buffer';
import { native } from '../binding.js';
import { closedError, outOfRange } from '../errors.js';

/** Largest byte length one typed array may have in this Node (2^32 on Node 20). */
export const MAX_VIEW_BYTES = bufferConstants.MAX_LENGTH;

export class MappedMemory {
  #buffer: SharedArrayBuffer | null;
  #bytes: Uint8Array | undefined;
  readonly #what: string;

  constructor(buffer: SharedArrayBuffer, what: string) {
    this.#buffer = buffer;
    this.#what = what;
  }

  get released(): boolean {
    return this.#buffer === null;
  }

  get buffer(): SharedArrayBuffer {
    if (this.#buffer === null) throw closedError(this.#what);
    return this.#buffer;
  }

  get bytes(): Uint8Array {
    if (this.#bytes !== undefined) return this.#bytes;
    const buffer = this.buffer;
    if (buffer.byteLength > MAX_VIEW_BYTES) {
      throw outOfRange(
        'bytes',
        `at most ${MAX_VIEW_BYTES} bytes for one typed array in this Node.js; ` +
          `use views over windows of .buffer (new Uint8Array(buffer, offset, length))`,
        buffer.byteLength,
      );
    }
    this.#bytes = new Uint8Array(buffer);
    return this.#bytes;
  }

  /**
   * Pages of this mapping the kernel could not back (SIGBUS: the object was
   * shrunk, or a sparse one's tmpfs was full) and the fault guard replaced by
   * private zero pages. Throws once released, like `buffer`.
   */
  get faults(): number {
    return native.faults(this.buffer);
  }

  /** Lets go of the shared memory now; returns false if already released. */
  release(): boolean {
    if (this.#buffer === null) return false;
    native.release(this.#buffer);
    this.#buffer = null;
    this.#bytes = undefined;
    return true;
  }
}
