// The life cycle shared by every named or embedded shmkit object: a segment
// of exactly the object's size, a header checked on open, and placement rules
// for objects embedded in memory the user owns.
import { checkMode, checkObject } from '../args.js';
import { ShmkitError, closedError } from '../errors.js';
import { checkHeader, checkPlacement, publishHeader, writeHeader } from '../layout/header.js';
import { normalizeName } from '../segment/names.js';
import { parseSpin, type SpinOptions } from './options.js';
import { Segment } from '../segment/segment.js';

/** Options every named object's `create` takes. */
export interface NamedCreateOptions {
  /** Permission bits of the backing segment. Default `0o600`. */
  mode?: number;
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
}

/** Formats an object in place: header, fields, then the magic last. */
export function initObject<O>(spec: ObjectSpec<O>, buffer: SharedArrayBuffer, byteOffset: number, options: O): void {
  parseSpin(options as SpinOptions | undefined); // every option is checked before memory is touched
  const length = spec.byteLength(options);
  checkPlacement(buffer, byteOffset, length);
  writeHeader(buffer, byteOffset, spec.kind, spec.version, length);
  spec.initFields(buffer, byteOffset, options);
  publishHeader(buffer, byteOffset);
}

/** Checks an object formatted by anyone and returns its byte length. */
export function attachObject(spec: ObjectSpec<unknown>, buffer: SharedArrayBuffer, byteOffset: number, where: string): number {
  checkPlacement(buffer, byteOffset, 0);
  return checkHeader(buffer, byteOffset, spec.kind, spec.version, spec.what, where);
}

/** Creates a named segment holding one initialised object. */
export function createNamed<O>(spec: ObjectSpec<O>, name: string, options: O & NamedCreateOptions): Segment {
  const opts = checkObject<O & NamedCreateOptions>('options', options);
  const mode = checkMode(opts.mode);
  parseSpin(opts as SpinOptions);
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

/** Opens a named object and checks its header. */
export function openNamed(spec: ObjectSpec<unknown>, name: string): Segment {
  const seg = Segment.open(name);
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
export function openOrCreateNamed<O>(spec: ObjectSpec<O>, name: string, options: O & NamedCreateOptions): Segment {
  for (;;) {
    try {
      return createNamed(spec, name, options);
    } catch (err) {
      if ((err as ShmkitError).code !== 'EEXIST') throw err;
    }
    try {
      return openNamed(spec, name);
    } catch (err) {
      if ((err as ShmkitError).code !== 'ENOENT') throw err;
    }
  }
}

/**
 * Base of every synchronisation handle: the memory it works on and, for named
 * objects, the segment it owns. Hot paths read `cells` directly.
 */
export abstract class SharedObject implements Disposable, AsyncDisposable {
  /** The memory holding the object (its segment's buffer when named). */
  readonly buffer: SharedArrayBuffer;
  /** Where the object starts in `buffer`. */
  readonly byteOffset: number;
  #closed = false;
  readonly #segment: Segment | null;
  readonly #what: string;

  protected constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, what: string) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.#segment = segment;
    this.#what = what;
  }

  /** True once `close()` has run on this handle. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The POSIX name of a named object, `null` when embedded. */
  get name(): string | null {
    return this.#segment?.name ?? null;
  }

  protected closedError(): ShmkitError {
    return closedError(this.#what);
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
