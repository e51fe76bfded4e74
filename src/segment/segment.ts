/**
 * POSIX shared memory segments (`shm_open` + `mmap`) and anonymous ones
 * (`memfd_create`). A segment is raw memory: byte 0 is the user's byte 0, so C
 * (`shm_open`), Python (`multiprocessing.shared_memory`) and `ls /dev/shm`
 * see exactly what JavaScript wrote.
 */
import { totalmem } from 'node:os';
import { native, type FdStat } from '../binding.js';
import { checkBoolean, checkInteger, checkMode, checkObject, checkSize } from '../args.js';
import { ShmkitError, closedError, invalidArgValue, mismatchError, ownError, rethrowNative } from '../errors.js';
import { MappedMemory } from './mapped.js';
import { normalizeName } from './names.js';
import { listSegments, type SegmentInfo } from './list.js';
import { checkOwner, checkTrustOwners } from './owner.js';

/** Options of {@link Segment.create}. */
export interface SegmentCreateOptions {
  /** Size in bytes (integer >= 1). The pages are reserved at creation. */
  size: number;
  /** Permission bits, applied exactly (the umask is not applied). Default `0o600`. */
  mode?: number;
}

/** Options of {@link Segment.open}. */
export interface SegmentOpenOptions {
  /**
   * Open read-only (`O_RDONLY`): needs only read permission. The memory is
   * mapped privately: writes from JavaScript never reach the shared object,
   * they land in a private copy of the page written (which from then on no
   * longer shows other processes' updates). Nothing crashes.
   */
  readOnly?: boolean;
  /**
   * Owners (uids) besides this process's effective uid whose segments this
   * call may open, or `'any'`. By default a segment another user owns is
   * refused with `ERR_SHMKIT_FOREIGN_OWNER`: /dev/shm is world-writable, so
   * anyone can create a name before you do (docs/LIFETIMES.md).
   */
  trustOwners?: readonly number[] | 'any';
  /**
   * Reserve the object's pages now (`posix_fallocate` over its whole size),
   * as {@link Segment.create} always does. An object another program sized
   * with `ftruncate` alone is sparse: if its tmpfs is full when a page is
   * first touched, the kernel cannot back it and this process gets a private
   * zero page instead (counted in {@link Segment.faults}; what is written
   * there reaches no one else). With `reserve`, a full tmpfs is `ENOSPC`
   * (syscall `posix_fallocate`) here instead. Needs a writable open: with
   * `readOnly` it is `ERR_INVALID_ARG_VALUE`. Default `false`.
   */
  reserve?: boolean;
}

/** Options of {@link Segment.openOrCreate}. */
export interface SegmentOpenOrCreateOptions extends SegmentCreateOptions, SegmentOpenOptions {}

/** What {@link Segment.stat} returns. */
export interface SegmentStat {
  size: number;
  /** Permission bits (`0o600`...). */
  mode: number;
  uid: number;
  gid: number;
}

const ANONYMOUS_LABEL = 'shmkit';
// An opener may find the object between the creator's shm_open and its
// ftruncate (size still 0); it waits this long for the size to appear.
const SIZE_APPEAR_MS = 50;

/** A mapped shared memory segment. Close it when done; unlink the name to remove it. */
export class Segment implements Disposable, AsyncDisposable {
  /** The POSIX name (`/jobs`), or `null` for an anonymous segment. Readable after close. */
  readonly name: string | null;
  readonly #size: number;
  readonly #readOnly: boolean;
  readonly #memory: MappedMemory;
  #fd: number;

  private constructor(name: string | null, fd: number, size: number, readOnly: boolean) {
    let buffer: SharedArrayBuffer;
    try {
      buffer = native.mapFd(fd, size, readOnly);
    } catch (err) {
      native.close(fd);
      rethrowNative(err, name ?? undefined);
    }
    this.name = name;
    this.#size = size;
    this.#readOnly = readOnly;
    this.#fd = fd;
    this.#memory = new MappedMemory(buffer, subjectOf(name));
  }

  /**
   * Creates a new named segment of `size` bytes, zero-filled. Fails with
   * `EEXIST` if the name exists and `ENOSPC` if /dev/shm cannot hold it (the
   * pages are reserved now, so a full /dev/shm never shows up later as SIGBUS).
   */
  static create(name: string, options: SegmentCreateOptions): Segment {
    const shmName = normalizeName(name);
    const opts = checkObject<SegmentCreateOptions>('options', options);
    const size = checkSize('options.size', opts.size);
    const mode = checkMode(opts.mode);
    let fd: number;
    try {
      fd = native.shmCreate(shmName, size, mode);
    } catch (err) {
      rethrowNative(err, shmName);
    }
    return new Segment(shmName, fd, size, false);
  }

  /** Opens an existing named segment; fails with `ENOENT` or `EACCES`. */
  static open(name: string, options?: SegmentOpenOptions): Segment {
    const shmName = normalizeName(name);
    const opts = checkObject<SegmentOpenOptions>('options', options);
    const readOnly = checkBoolean('options.readOnly', opts.readOnly, false);
    const trust = checkTrustOwners(opts.trustOwners);
    const reserve = checkReserve(opts.reserve, readOnly);
    let fd: number;
    let size: number;
    try {
      fd = native.shmOpen(shmName, readOnly);
    } catch (err) {
      rethrowNative(err, shmName);
    }
    try {
      // Checked on the descriptor we map: nothing can be swapped in between.
      const st = native.fstat(fd);
      if (!st.regular) {
        throw ownError('ENODEV', `Segment '${shmName}'`, 'not a shared memory object (a FIFO, socket or device is at that name)', shmName);
      }
      checkOwner(st.uid, trust, `Segment '${shmName}'`, shmName);
      size = st.size === 0 ? sizeOnceSet(fd) : st.size;
      // After the checks: a foreign object is not written to before it is trusted.
      if (reserve && size > 0) native.reserve(fd, size);
    } catch (err) {
      native.close(fd);
      rethrowNative(err, shmName);
    }
    return new Segment(shmName, fd, size, readOnly);
  }

  /**
   * Opens the named segment, creating it with `options` if it does not
   * exist. An existing segment of another size is `ERR_SHMKIT_MISMATCH`
   * (the openOrCreate rule: a size that would silently not take effect is
   * refused). `reserve` acts on an existing segment; a created one is
   * always reserved.
   */
  static openOrCreate(name: string, options: SegmentOpenOrCreateOptions): Segment {
    const opts = checkObject<SegmentOpenOrCreateOptions>('options', options);
    const size = checkSize('options.size', opts.size);
    // Checked now: the create path below does not look at it.
    checkReserve(opts.reserve, checkBoolean('options.readOnly', opts.readOnly, false));
    for (;;) {
      try {
        return Segment.create(name, opts);
      } catch (err) {
        if ((err as ShmkitError).code !== 'EEXIST') throw err;
      }
      let seg: Segment;
      try {
        seg = Segment.open(name, opts);
      } catch (err) {
        // Unlinked between our two calls: try creating again.
        if ((err as ShmkitError).code !== 'ENOENT') throw err;
        continue;
      }
      if (seg.#size !== size) {
        seg.close();
        throw mismatchError('Segment', normalizeName(name), 'size', seg.#size, size);
      }
      return seg;
    }
  }

  /** Removes the name. Mappings that exist stay valid until closed. */
  static unlink(name: string): void {
    const shmName = normalizeName(name);
    try {
      native.shmUnlink(shmName);
    } catch (err) {
      rethrowNative(err, shmName);
    }
  }

  /**
   * Every POSIX shared memory object visible in /dev/shm, with size, mode,
   * owner, and which shmkit object it holds (if any).
   */
  static list(): SegmentInfo[] {
    return listSegments();
  }

  /**
   * Creates an anonymous segment (memfd): no name, nothing in /dev/shm, freed
   * by the kernel when the last process using it exits, crash or not. Pass it
   * on through {@link Segment.fd} (child stdio) or `sendSegment()`. Its size is
   * sealed, so receivers can trust it never shrinks under them.
   */
  static anonymous(options: { size: number }): Segment {
    const opts = checkObject<{ size: number }>('options', options);
    const size = checkSize('options.size', opts.size);
    // memfd memory comes from the kernel's internal tmpfs, which has no size
    // limit: all of it is reserved now, so a size past the machine's memory
    // (a typo) would push everything else out before failing. Refused here.
    const ram = totalmem();
    if (size > ram) {
      throw ownError('ENOMEM', 'Segment.anonymous()', `${size} bytes is more than this machine's memory (${ram} bytes): refused before reserving any`, 'memfd:' + ANONYMOUS_LABEL);
    }
    let fd: number;
    try {
      fd = native.memfdCreate(ANONYMOUS_LABEL, size);
    } catch (err) {
      rethrowNative(err, 'memfd:' + ANONYMOUS_LABEL);
    }
    return new Segment(null, fd, size, false);
  }

  /**
   * Maps a segment from a file descriptor (an inherited memfd or any shared
   * memory descriptor). The descriptor is duplicated: the caller keeps
   * ownership of `fd` and may close it.
   */
  static fromFd(fd: number, options?: SegmentOpenOptions): Segment {
    checkInteger('fd', fd, 0, 2 ** 31 - 1);
    const opts = checkObject<SegmentOpenOptions>('options', options);
    const readOnly = checkBoolean('options.readOnly', opts.readOnly, false);
    const reserve = checkReserve(opts.reserve, readOnly);
    let own: number;
    try {
      own = native.dup(fd);
    } catch (err) {
      rethrowNative(err, `fd ${fd}`);
    }
    return Segment.adoptFd(own, readOnly, reserve);
  }

  /** @internal Maps `fd` and takes ownership of it (closes it on failure). */
  static adoptFd(fd: number, readOnly: boolean, reserve = false): Segment {
    let st: FdStat;
    try {
      st = native.fstat(fd);
    } catch (err) {
      native.close(fd);
      rethrowNative(err, `fd ${fd}`);
    }
    if (!st.regular) {
      native.close(fd);
      // shmkit refuses it (fstat succeeded): no errno/syscall on the error.
      throw ownError('ENODEV', `Segment fd ${fd}`, 'ENODEV: not a shared memory object (a pipe, socket or device cannot be mapped)', `fd ${fd}`);
    }
    if (reserve && st.size > 0) {
      try {
        native.reserve(fd, st.size);
      } catch (err) {
        native.close(fd);
        rethrowNative(err, `fd ${fd}`);
      }
    }
    return new Segment(null, fd, st.size, readOnly);
  }

  /** Size in bytes. */
  get size(): number {
    if (this.#fd < 0) throw closedError(this.#what());
    return this.#size;
  }

  /** True when opened read-only (writes stay private to this process). */
  get readOnly(): boolean {
    if (this.#fd < 0) throw closedError(this.#what());
    return this.#readOnly;
  }

  /**
   * Pages of this mapping the kernel could not back, which shmkit's fault
   * guard replaced by private zero pages so the process lives on: another
   * process shrank the object, or it is sparse (sized by another program
   * without reserving its pages) and its tmpfs was full when the page was
   * first touched. What this process wrote to such a page is visible to this
   * process only, and it no longer sees other processes' writes there. Stays
   * 0 for a segment whose pages are reserved ({@link Segment.create}, the
   * `reserve` open option) and never shrunk. Counts this handle's mapping
   * only.
   */
  get faults(): number {
    return this.#memory.faults;
  }

  /** A `SharedArrayBuffer` over the mapping: use with `Atomics`, post to workers. */
  get buffer(): SharedArrayBuffer {
    return this.#memory.buffer;
  }

  /**
   * A `Uint8Array` over the whole segment (created once). Node 20 caps one
   * typed array at 2^32 bytes: past that this throws `ERR_OUT_OF_RANGE`, and
   * the segment is used through views over windows of {@link Segment.buffer}.
   */
  get bytes(): Uint8Array {
    return this.#memory.bytes;
  }

  /** The descriptor, for a child's stdio or `sendSegment()`; owned by this handle. */
  get fd(): number {
    if (this.#fd < 0) throw closedError(this.#what());
    return this.#fd;
  }

  /** True once {@link Segment.close} has run. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Size, permission bits and owner of the underlying object (`fstat`). */
  stat(): SegmentStat {
    try {
      const { size, mode, uid, gid } = native.fstat(this.fd);
      return { size, mode, uid, gid };
    } catch (err) {
      rethrowNative(err, this.name ?? undefined);
    }
  }

  /** Changes the permission bits (`fchmod`). */
  chmod(mode: number): void {
    const fd = this.fd; // a closed handle throws before the argument is checked
    checkInteger('mode', mode, 0, 0o7777);
    try {
      native.fchmod(fd, mode);
    } catch (err) {
      rethrowNative(err, this.name ?? undefined);
    }
  }

  /** Changes the owner (`fchown`); -1 leaves a field unchanged. */
  chown(uid: number, gid: number): void {
    const fd = this.fd;
    checkInteger('uid', uid, -1, 2 ** 32 - 1);
    checkInteger('gid', gid, -1, 2 ** 32 - 1);
    try {
      native.fchown(fd, uid, gid);
    } catch (err) {
      rethrowNative(err, this.name ?? undefined);
    }
  }

  /**
   * Releases this handle: the shared pages are let go at once (unlinked memory
   * is freed when its last user closes) and the descriptor is closed. The name
   * stays. Views obtained earlier keep working but see private zero pages
   * from now on: they never crash the process. Calling it again does nothing.
   */
  close(): void {
    if (this.#fd < 0) return;
    this.#memory.release();
    const fd = this.#fd;
    this.#fd = -1;
    native.close(fd);
  }

  /** Removes this segment's name (the memory lives on until every user closes). */
  unlink(): void {
    if (this.#fd < 0) throw closedError(this.#what());
    if (this.name === null) throw ownError('ERR_INVALID_STATE', this.#what(), 'unlink(): an anonymous segment has no name to unlink');
    Segment.unlink(this.name);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** For `await using`: the same as the synchronous dispose. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  #what(): string {
    return subjectOf(this.name);
  }
}

/** The `reserve` open option: reserving pages writes to the object, so not with `readOnly`. */
function checkReserve(value: unknown, readOnly: boolean): boolean {
  const reserve = checkBoolean('options.reserve', value, false);
  if (reserve && readOnly) {
    throw invalidArgValue('options.reserve', 'must not be true with options.readOnly (reserving pages needs a writable open)', value);
  }
  return reserve;
}

/** How messages name a segment: `Segment '/jobs'` or `anonymous Segment`. */
function subjectOf(name: string | null): string {
  return name === null ? 'anonymous Segment' : `Segment '${name}'`;
}

// Reads the object's size, giving a creator that is between shm_open and
// ftruncate a moment to set it.
function sizeOnceSet(fd: number): number {
  const deadline = Date.now() + SIZE_APPEAR_MS;
  let size = native.fstat(fd).size;
  while (size === 0 && Date.now() < deadline) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    size = native.fstat(fd).size;
  }
  return size;
}
