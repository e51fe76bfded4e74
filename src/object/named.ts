// The life cycle shared by every named or embedded shmkit object: a segment
// of exactly the object's size, a header checked on open, the one rule for
// openOrCreate on an object that exists, unlink that removes only its own
// kind, and placement rules for objects embedded in memory the user owns.
// This layer sits on segment/ and layout/; every kind (sync/, channel/,
// dict/, array/) builds on it.
import { checkBoolean, checkMode, checkObject } from '../args.js';
import { ShmkitError } from '../errors.js';
import { HEADER_LENGTH, KIND_OFFSET, MAGIC, MAGIC_OFFSET, checkHeader, checkPlacement, kindName, publishHeader, writeHeader } from '../layout/header.js';
import { normalizeName } from '../segment/names.js';
import { Segment } from '../segment/segment.js';

/** Options every named object's `create` takes. */
export interface NamedCreateOptions {
  /** Permission bits of the backing segment. Default `0o600`. */
  mode?: number;
}

/** Options every named object's `open` and `openOrCreate` take. */
export interface NamedOpenOptions {
  /**
   * Owners (uids) besides this process's effective uid whose objects this
   * call may open, or `'any'`. By default an object another user owns is
   * refused with `ERR_SHMKIT_FOREIGN_OWNER`: /dev/shm is world-writable, so
   * anyone can create a well-known name before you do (docs/LIFETIMES.md).
   */
  trustOwners?: readonly number[] | 'any';
  /**
   * Reserve the pages of an existing object on open (`posix_fallocate`), as
   * `create` always does: an object another program sized without reserving
   * its pages then fails here with `ENOSPC` when its tmpfs is full, instead
   * of losing writes later (see `Segment.faults`). Default `false`.
   */
  reserve?: boolean;
}

// The options of any open's options that Segment.open takes (it checks
// trustOwners; reserve is checked here too, for openOrCreate's create path);
// other fields and non-object options are the kind's own to check.
function segmentOpenOptions(options: unknown): NamedOpenOptions {
  if (typeof options !== 'object' || options === null) return {};
  const { trustOwners, reserve } = options as NamedOpenOptions;
  return { trustOwners, reserve: checkBoolean('options.reserve', reserve, false) };
}

/** How one kind of object is laid out and initialised. */
export interface ObjectSpec<O> {
  kind: number;
  version: number;
  /** Public name used in messages ("Mutex"). */
  what: string;
  byteLength(options: O): number;
  /** Writes the kind's own fields (the header is written around it). */
  initFields(buffer: SharedArrayBuffer, byteOffset: number, options: O): void;
  /** Validates handle options too, so a bad one fails before memory is touched. */
  checkOptions?(options: O): void;
  /**
   * The openOrCreate rule: called when openOrCreate opened an existing
   * object. Throws `mismatchError()` for each geometry option the caller
   * gave that differs from the object's (options left out are accepted).
   */
  checkExisting?(buffer: SharedArrayBuffer, byteOffset: number, options: O, name: string): void;
}

/** Formats an object in place: header, fields, then the magic last. */
export function initObject<O>(spec: ObjectSpec<O>, buffer: SharedArrayBuffer, byteOffset: number, options: O): void {
  spec.checkOptions?.(options); // every option is checked before memory is touched
  const length = spec.byteLength(options);
  checkPlacement(buffer, byteOffset, length);
  writeHeader(buffer, byteOffset, spec.kind, spec.version, length);
  spec.initFields(buffer, byteOffset, options);
  publishHeader(buffer, byteOffset);
}

/**
 * Checks an object formatted by anyone and returns its byte length. `where`
 * defaults to `offset <byteOffset>`, formatted only once the offset is known
 * to be a number (a Symbol in a template literal would throw a raw TypeError).
 */
export function attachObject(spec: ObjectSpec<unknown>, buffer: SharedArrayBuffer, byteOffset: number, where?: string): number {
  checkPlacement(buffer, byteOffset, 0);
  return checkHeader(buffer, byteOffset, spec.kind, spec.version, spec.what, where ?? `offset ${byteOffset}`);
}

/** Creates a named segment holding one initialised object. */
export function createNamed<O>(spec: ObjectSpec<O>, name: string, options: (O & NamedCreateOptions) | undefined): Segment {
  const opts = checkObject<O & NamedCreateOptions>('options', options);
  const mode = checkMode(opts.mode);
  spec.checkOptions?.(opts);
  const length = spec.byteLength(opts); // validates geometry before anything is created
  const seg = Segment.create(name, { size: length, mode });
  try {
    initObject(spec, seg.buffer, 0, opts);
  } catch (err) {
    seg.close();
    Segment.unlink(seg.name as string);
    throw err;
  }
  return seg;
}

/**
 * Opens a named object (refused if another user owns it, unless
 * `options.trustOwners` trusts them; its pages reserved with
 * `options.reserve`) and checks its header.
 */
export function openNamed(spec: ObjectSpec<unknown>, name: string, options?: unknown): Segment {
  const seg = Segment.open(name, segmentOpenOptions(options));
  try {
    attachObject(spec, seg.buffer, 0, normalizeName(name));
  } catch (err) {
    seg.close();
    throw err;
  }
  return seg;
}

/**
 * The handle over a named object's segment, built by `make`. If that throws
 * (handle options it refuses, a layout it rejects), the segment is closed
 * and, when this call created it, its name removed: a failed create or open
 * leaves no descriptor, mapping or name behind.
 */
export function adoptNamed<T>(seg: Segment, make: (seg: Segment) => T, created = false): T {
  try {
    return make(seg);
  } catch (err) {
    seg.close();
    if (created) Segment.unlink(seg.name as string);
    throw err;
  }
}

/** Opens the named object, creating it if it does not exist. */
export function openOrCreateNamed<O>(spec: ObjectSpec<O>, name: string, options: (O & NamedCreateOptions) | undefined): Segment {
  segmentOpenOptions(options); // a bad `reserve` fails before anything is created
  for (;;) {
    try {
      return createNamed(spec, name, options);
    } catch (err) {
      if ((err as ShmkitError).code !== 'EEXIST') throw err;
    }
    let seg: Segment;
    try {
      seg = openNamed(spec as ObjectSpec<unknown>, name, options);
    } catch (err) {
      if ((err as ShmkitError).code !== 'ENOENT') throw err;
      continue;
    }
    if (spec.checkExisting !== undefined) {
      try {
        spec.checkExisting(seg.buffer, 0, checkObject<O & object>('options', options), normalizeName(name));
      } catch (err) {
        seg.close();
        throw err;
      }
    }
    return seg;
  }
}

/**
 * Removes the name of an object of this kind, and nothing else. Allowed: a
 * complete object of the kind; a half-created one (its header has the kind
 * but no magic yet: a creator died while initialising it); an empty (0-byte)
 * object, which a creator that died between shm_open and sizing leaves.
 * Refused with ERR_SHMKIT_BAD_LAYOUT: another kind, or anything without a
 * shmkit header (raw data). `Segment.unlink` removes any name.
 */
export function unlinkNamed(spec: ObjectSpec<never>, name: string): void {
  const path = normalizeName(name);
  // Any owner: reading the header of another user's object is harmless,
  // and whether we may remove its name is the kernel's to say (/dev/shm's
  // sticky bit), so a squatted name can be cleaned up.
  const seg = Segment.open(path, { readOnly: true, trustOwners: 'any' });
  let verdict: string | null;
  try {
    verdict = kindVerdict(spec, seg);
  } finally {
    seg.close();
  }
  if (verdict !== null) {
    throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `${spec.what}.unlink('${path}'): ${verdict}; Segment.unlink removes any object`, { path });
  }
  Segment.unlink(path);
}

// Why `seg` may not be unlinked as a `spec`, or null when it may.
function kindVerdict(spec: ObjectSpec<never>, seg: Segment): string | null {
  if (seg.size === 0) return null;
  if (seg.size < HEADER_LENGTH) return `not a ${spec.what} (${seg.size} bytes, no shmkit header)`;
  const view = new DataView(seg.buffer, 0, HEADER_LENGTH);
  const magic = view.getUint32(MAGIC_OFFSET, true);
  const kind = view.getUint16(KIND_OFFSET, true);
  if (kind === spec.kind && (magic === MAGIC || magic === 0)) return null;
  if (magic === MAGIC) return `it holds a ${kindName(kind)}, not a ${spec.what}`;
  return `not a ${spec.what} (no shmkit header: raw data)`;
}

