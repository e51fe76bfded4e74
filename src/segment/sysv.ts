/**
 * System V shared memory: shmget / shmat / shmdt / shmctl, interoperable with
 * C programs using the same calls and with `ipcs` / `ipcrm`.
 */
import { readFileSync } from 'node:fs';
import { native, type NativeSysVStat } from '../binding.js';
import { checkBoolean, checkInteger, checkMode, checkObject, checkString, MAX_SIZE } from '../args.js';
import { closedError, invalidArgValue, rethrowNative } from '../errors.js';
import { MappedMemory } from './mapped.js';
import { checkOwner, checkTrustOwners } from './owner.js';

/** Options of {@link SysVSegment.get}. */
export interface SysVGetOptions {
  /** Size in bytes; required when creating, may be 0 or omitted to open. */
  size?: number;
  /** IPC_CREAT: create the segment if the key has none. */
  create?: boolean;
  /** IPC_EXCL: with `create`, fail with `EEXIST` if it already exists. */
  exclusive?: boolean;
  /** Permission bits for a new segment. Default `0o600`. */
  mode?: number;
  /**
   * Owners (uids) besides this process's effective uid whose segments this
   * call may return, or `'any'`. By default a segment another user owns is
   * refused with `ERR_SHMKIT_FOREIGN_OWNER`: any user can create a key's
   * segment before you do (docs/LIFETIMES.md).
   */
  trustOwners?: readonly number[] | 'any';
}

/** shmctl(IPC_STAT), field for field; times are seconds since the epoch (0: never). */
export interface SysVSegmentStat {
  /** The key (0 for IPC_PRIVATE). */
  key: number;
  /** The shmid. */
  id: number;
  /** Size in bytes. */
  size: number;
  /** Permission bits. */
  mode: number;
  /** Owner and group; creator's user and group. */
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  /** Pid of the creator, and of the last shmat/shmdt. */
  cpid: number;
  lpid: number;
  /** Current attachments (shm_nattch). */
  attachments: number;
  /** Last attach, last detach, last change. */
  atime: number;
  dtime: number;
  ctime: number;
  /** True once IPC_RMID was requested (destroyed at the last detach). */
  removed: boolean;
}

// The native stat carries everything above but `removed` (from its flags).
type StatFields = Omit<SysVSegmentStat, 'removed'>;
const _statFieldsMatch: StatFields extends Omit<NativeSysVStat, 'flags'> ? true : never = true;
void _statFieldsMatch;

/** One row of {@link SysVSegment.list}: what `ipcs -m` shows. */
export interface SysVSegmentInfo extends SysVSegmentStat {
  /** Resident bytes and swapped bytes, as the kernel reports them. */
  rss: number;
  swap: number;
}

const SHM_DEST = 0o1000; // shm_perm.mode bit: IPC_RMID requested
const IPC_PRIVATE = 0;

/** An attachment (shmat). Detach when done; views that escape stay safe. */
export class SysVAttachment implements Disposable, AsyncDisposable {
  readonly #readOnly: boolean;
  readonly #memory: MappedMemory;
  readonly #what: string;

  private constructor(buffer: SharedArrayBuffer, readOnly: boolean, id: number) {
    this.#readOnly = readOnly;
    this.#what = `SysVAttachment of shmid ${id}`;
    this.#memory = new MappedMemory(buffer, this.#what);
  }

  /** @internal The handle over a fresh shmat() mapping (SysVSegment.attach). */
  static adopt(buffer: SharedArrayBuffer, readOnly: boolean, id: number): SysVAttachment {
    return new SysVAttachment(buffer, readOnly, id);
  }

  /** True when attached with SHM_RDONLY (writes stay private to this process). */
  get readOnly(): boolean {
    if (this.#memory.released) throw closedError(this.#what);
    return this.#readOnly;
  }

  /** The attached memory; usable with `Atomics` and postable to workers. */
  get buffer(): SharedArrayBuffer {
    return this.#memory.buffer;
  }

  /** A `Uint8Array` over the attachment (see `Segment.bytes` for the size cap). */
  get bytes(): Uint8Array {
    return this.#memory.bytes;
  }

  /** True once {@link SysVAttachment.detach} has run. */
  get detached(): boolean {
    return this.#memory.released;
  }

  /**
   * shmdt: the attachment ends now (the kernel's attachment count drops and a
   * removed segment is destroyed at its last detach). Views obtained earlier
   * see private zero pages from now on instead of crashing. Idempotent.
   */
  detach(): void {
    this.#memory.release();
  }

  [Symbol.dispose](): void {
    this.detach();
  }

  /** For `await using`: the same as the synchronous dispose. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.detach();
  }
}

/** A System V shared memory segment identifier (shmget). */
export class SysVSegment {
  /** The segment's identifier (shmid), as `ipcs -m` prints it. */
  readonly id: number;
  /** The key it was looked up with (0 for IPC_PRIVATE). */
  readonly key: number;

  private constructor(id: number, key: number) {
    this.id = id;
    this.key = key;
  }

  /** ftok(3): a key from an existing path and a project id (1..255). */
  static ftok(path: string, projId: number): number {
    checkString('path', path);
    checkInteger('projId', projId, 1, 255);
    try {
      return native.ftok(path, projId);
    } catch (err) {
      rethrowNative(err, path);
    }
  }

  /**
   * shmget(2). `key` is a number (e.g. from {@link SysVSegment.ftok}) or
   * `'private'` for IPC_PRIVATE (always a new segment).
   */
  static get(key: number | 'private', options?: SysVGetOptions): SysVSegment {
    let numericKey: number;
    if (key === 'private') numericKey = IPC_PRIVATE;
    else if (typeof key === 'number') {
      // ipcs prints keys as unsigned hex (0x8...): accept both spellings.
      numericKey = checkInteger('key', key, -(2 ** 31), 2 ** 32 - 1) | 0;
      if (numericKey === IPC_PRIVATE) {
        throw invalidArgValue('key', "must not be 0 (that is IPC_PRIVATE, which always makes a new segment: pass 'private')", key);
      }
    } else throw invalidArgValue('key', "must be a number or 'private'", key);
    const opts = checkObject<SysVGetOptions>('options', options);
    const create = checkBoolean('options.create', opts.create, key === 'private');
    const exclusive = checkBoolean('options.exclusive', opts.exclusive, false);
    const mode = checkMode(opts.mode);
    const size = opts.size === undefined ? 0 : checkInteger('options.size', opts.size, 0, MAX_SIZE);
    if (create && size === 0) throw invalidArgValue('options.size', 'must be given (>= 1) to create a segment', opts.size);
    const trust = checkTrustOwners(opts.trustOwners);
    const label = `key 0x${(numericKey >>> 0).toString(16).padStart(8, '0')}`;
    let id: number;
    try {
      id = native.shmget(numericKey, size, create, exclusive, mode);
    } catch (err) {
      rethrowNative(err, label);
    }
    // The owner of the id we will attach (one we just created is ours).
    checkOwner(SysVSegment.#stat(id).uid, trust, `SysVSegment ${label}`, label);
    return new SysVSegment(id, numericKey);
  }

  /** Wraps an existing identifier (as printed by `ipcs -m`). */
  static fromId(id: number): SysVSegment {
    checkInteger('id', id, 0, 2 ** 31 - 1);
    const stat = SysVSegment.#stat(id);
    return new SysVSegment(id, stat.key);
  }

  /** Every System V segment on the machine (from /proc/sysvipc/shm). */
  static list(): SysVSegmentInfo[] {
    const lines = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n');
    const header = lines.shift()?.trim().split(/\s+/) ?? [];
    const col = (row: string[], name: string): number => Number(row[header.indexOf(name)] ?? 0);
    return lines.map((line) => {
      const row = line.trim().split(/\s+/);
      return {
        key: col(row, 'key'),
        id: col(row, 'shmid'),
        size: col(row, 'size'),
        // the kernel prints perms in octal, with 01000 set once IPC_RMID was asked
        mode: parseInt(row[header.indexOf('perms')] ?? '0', 8) & 0o777,
        removed: (parseInt(row[header.indexOf('perms')] ?? '0', 8) & SHM_DEST) !== 0,
        uid: col(row, 'uid'),
        gid: col(row, 'gid'),
        cuid: col(row, 'cuid'),
        cgid: col(row, 'cgid'),
        cpid: col(row, 'cpid'),
        lpid: col(row, 'lpid'),
        attachments: col(row, 'nattch'),
        atime: col(row, 'atime'),
        dtime: col(row, 'dtime'),
        ctime: col(row, 'ctime'),
        rss: col(row, 'rss'),
        swap: col(row, 'swap'),
      };
    });
  }

  /**
   * shmat(2). With `readOnly` (SHM_RDONLY) only read permission is needed;
   * a write from JavaScript lands in a private copy of that page (as with a
   * read-only `Segment`) instead of crashing the process. That page then no
   * longer shows the segment, and once every page of the attachment has been
   * written the kernel no longer counts it as attached (`nattch` drops): it
   * has become a private snapshot.
   */
  attach(options?: { readOnly?: boolean }): SysVAttachment {
    const opts = checkObject<{ readOnly?: boolean }>('options', options);
    const readOnly = checkBoolean('options.readOnly', opts.readOnly, false);
    try {
      return SysVAttachment.adopt(native.shmat(this.id, readOnly), readOnly, this.id);
    } catch (err) {
      rethrowNative(err, `shmid ${this.id}`);
    }
  }

  /** shmctl(IPC_STAT). */
  stat(): SysVSegmentStat {
    return SysVSegment.#stat(this.id);
  }

  /** shmctl(IPC_SET): change owner and permission bits. */
  set(changes: { mode?: number; uid?: number; gid?: number }): void {
    const c = checkObject<{ mode?: number; uid?: number; gid?: number }>('changes', changes);
    const mode = c.mode === undefined ? -1 : checkInteger('changes.mode', c.mode, 0, 0o777);
    const uid = c.uid === undefined ? -1 : checkInteger('changes.uid', c.uid, 0, 2 ** 32 - 2);
    const gid = c.gid === undefined ? -1 : checkInteger('changes.gid', c.gid, 0, 2 ** 32 - 2);
    try {
      native.shmSet(this.id, uid, gid, mode);
    } catch (err) {
      rethrowNative(err, `shmid ${this.id}`);
    }
  }

  /** shmctl(IPC_RMID): the segment is destroyed after its last detach. */
  remove(): void {
    try {
      native.shmRemove(this.id);
    } catch (err) {
      rethrowNative(err, `shmid ${this.id}`);
    }
  }

  static #stat(id: number): SysVSegmentStat {
    try {
      const { flags, ...rest } = native.shmStat(id);
      return { ...rest, removed: (flags & SHM_DEST) !== 0 };
    } catch (err) {
      rethrowNative(err, `shmid ${id}`);
    }
  }
}
