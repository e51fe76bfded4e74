/**
 * SharedArray: a typed array (any of the eleven built-in kinds) in shared
 * memory, named or embedded. The element type and the length are recorded
 * in the object, so `open(name)` gives back the same kind of array, and
 * `open(name, { type: Float64Array })` refuses anything else. `handle.array` is a real
 * typed array over the shared memory: index it, `set()` it, or use `Atomics`
 * on it (integer types) across processes. See shared-array-layout.ts.
 */
import { constants as bufferConstants } from 'node:buffer';
import { MAX_SIZE, checkObject } from '../args.js';
import { ShmkitError, invalidArgType, mismatchError, outOfRange } from '../errors.js';
import { HEADER_LENGTH, objectBytesAt } from '../layout/header.js';
import { Segment } from '../segment/segment.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import {
  DATA_OFFSET, DATA_OFFSET_OFFSET, ELEMENT_BYTES, ELEMENT_BYTES_OFFSET, ELEMENT_TYPE_NAMES, ElementType, LENGTH_OFFSET, SHARED_ARRAY_KIND, SHARED_ARRAY_VERSION,
  TYPE_OFFSET, checkSharedArrayGeometry, sharedArrayLength, type ElementTypeName,
} from './shared-array-layout.js';

/** A typed array a SharedArray can hold. */
export type SharedTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** The constructors a SharedArray accepts (the built-in ones, not subclasses). */
export type SharedTypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** The array type a constructor makes (`Float64Array` for `Float64ArrayConstructor`). */
export type TypedArrayOf<C extends SharedTypedArrayConstructor> =
  C extends Int8ArrayConstructor ? Int8Array
  : C extends Uint8ClampedArrayConstructor ? Uint8ClampedArray
  : C extends Uint8ArrayConstructor ? Uint8Array
  : C extends Int16ArrayConstructor ? Int16Array
  : C extends Uint16ArrayConstructor ? Uint16Array
  : C extends Int32ArrayConstructor ? Int32Array
  : C extends Uint32ArrayConstructor ? Uint32Array
  : C extends Float32ArrayConstructor ? Float32Array
  : C extends Float64ArrayConstructor ? Float64Array
  : C extends BigInt64ArrayConstructor ? BigInt64Array
  : C extends BigUint64ArrayConstructor ? BigUint64Array
  : SharedTypedArray;

/** Name of an element type, as `handle.type` reports it (`'Float64Array'`). */
export type SharedArrayType =
  | 'Int8Array' | 'Uint8Array' | 'Uint8ClampedArray' | 'Int16Array' | 'Uint16Array' | 'Int32Array'
  | 'Uint32Array' | 'Float32Array' | 'Float64Array' | 'BigInt64Array' | 'BigUint64Array';
// The layout's table of element types is the source: the two lists must name the same types.
const _sameTypes: [SharedArrayType, ElementTypeName] extends [ElementTypeName, SharedArrayType] ? true : never = true;
void _sameTypes;

type AnyConstructor = new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => SharedTypedArray;

// The one table from constructor to type code: the global constructors by
// name, so it can never disagree with ElementType.
const CONSTRUCTORS = new Map<number, AnyConstructor>(
  (Object.entries(ElementType) as [ElementTypeName, number][]).map(([name, code]) => [code, (globalThis as unknown as Record<string, AnyConstructor>)[name] as AnyConstructor]),
);
const CODES = new Map<unknown, number>([...CONSTRUCTORS].map(([code, ctor]) => [ctor, code]));
// %TypedArray%, the prototype every typed array constructor inherits from.
const TYPED_ARRAY = Object.getPrototypeOf(Int8Array) as Function;
const TYPE_LIST = [...ELEMENT_TYPE_NAMES.values()].join(', ');

/**
 * Most elements one typed array may have in this Node.js (2^32 on Node 20,
 * whatever the element size), and never more than a segment may hold.
 */
export function maxSharedArrayLength(elementBytes: number): number {
  return Math.min(bufferConstants.MAX_LENGTH, Math.floor((MAX_SIZE - DATA_OFFSET - 7) / elementBytes));
}

/** Type code of a built-in TypedArray constructor; a precise TypeError for anything else. */
function typeCodeOf(type: unknown): number {
  const code = CODES.get(type);
  if (code !== undefined) return code;
  let received: string;
  if (typeof type === 'function') {
    const fnName = (type as { name?: unknown }).name;
    received = `function ${typeof fnName === 'string' && fnName !== '' ? fnName : '(anonymous)'}`;
    if ((type as { prototype?: unknown }).prototype instanceof TYPED_ARRAY) {
      const base = Object.getPrototypeOf(type) as { name?: string };
      received += ` (a subclass of ${base.name ?? 'a typed array'}: pass ${base.name ?? 'the built-in constructor'} itself)`;
    }
  } else if (type === null || type === undefined) {
    received = String(type);
  } else if (typeof type === 'object') {
    received = `an instance of ${(type as object).constructor?.name ?? 'Object'}`;
  } else {
    received = `type ${typeof type} (${String(type)})`;
  }
  const e = new TypeError(`The "options.type" argument must be a TypedArray constructor (${TYPE_LIST}). Received ${received}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_TYPE';
  throw e;
}

function checkLength(typeCode: number, length: unknown): number {
  if (typeof length !== 'number') throw invalidArgType('options.length', 'of type number', length);
  if (!Number.isInteger(length)) throw outOfRange('options.length', 'an integer', length);
  if (length < 0) throw outOfRange('options.length', '>= 0', length);
  const max = maxSharedArrayLength(ELEMENT_BYTES.get(typeCode) as number);
  if (length > max) {
    throw outOfRange('options.length', `<= ${max} (the most elements one ${ELEMENT_TYPE_NAMES.get(typeCode)} may have in this Node.js)`, length);
  }
  return length;
}

/**
 * What `stats()` reports about a SharedArray: its geometry. The data has no
 * protocol, so there are no counters (every kind has a `stats()`, so a tool
 * can ask any object the same question).
 */
export interface SharedArrayStats {
  /** The element type (`'Float64Array'`). */
  type: SharedArrayType;
  /** Number of elements. */
  length: number;
  /** Bytes of the elements: length × bytes per element. */
  byteLength: number;
}

/** Geometry of a SharedArray: what `create`, `openOrCreate`, `byteLength` and `init` take. */
export interface SharedArrayOptions<C extends SharedTypedArrayConstructor = SharedTypedArrayConstructor> {
  /** The element type: one of the eleven built-in TypedArray constructors (`Float64Array`, ...). */
  type: C;
  /** Number of elements (0 allowed), fixed for the array's life. */
  length: number;
}

/** What `open` and `attach` take: the element type the caller expects, if any. */
export interface SharedArrayOpenOptions<C extends SharedTypedArrayConstructor = SharedTypedArrayConstructor> {
  /** When given, an array of another element type is refused with ERR_SHMKIT_MISMATCH. */
  type?: C;
}

/** What the object is formatted with. */
interface Geometry {
  typeCode: number;
  length: number;
  /** Embedded memory may hold anything; a new segment is already zero (zeroing it would touch every page). */
  zeroData: boolean;
  mode?: number;
}

// The geometry fields of a formatted array (its header checked first).
function typeCodeAt(buffer: SharedArrayBuffer, byteOffset: number): number {
  return new DataView(buffer, byteOffset, DATA_OFFSET).getUint32(TYPE_OFFSET, true);
}
function lengthAt(buffer: SharedArrayBuffer, byteOffset: number): number {
  return Number(new DataView(buffer, byteOffset, DATA_OFFSET).getBigUint64(LENGTH_OFFSET, true));
}
function typeName(code: number): string {
  return ELEMENT_TYPE_NAMES.get(code) ?? `unknown type code ${code}`;
}

const SPEC: ObjectSpec<Geometry> = {
  kind: SHARED_ARRAY_KIND,
  version: SHARED_ARRAY_VERSION,
  what: 'SharedArray',
  byteLength: (g) => sharedArrayLength(ELEMENT_BYTES.get(g.typeCode) as number, g.length),
  initFields: (buffer, byteOffset, g) => {
    const elementBytes = ELEMENT_BYTES.get(g.typeCode) as number;
    new Uint8Array(buffer, byteOffset + HEADER_LENGTH, DATA_OFFSET - HEADER_LENGTH).fill(0);
    const view = new DataView(buffer, byteOffset, DATA_OFFSET);
    view.setUint32(TYPE_OFFSET, g.typeCode, true);
    view.setUint32(ELEMENT_BYTES_OFFSET, elementBytes, true);
    view.setBigUint64(LENGTH_OFFSET, BigInt(g.length), true);
    view.setUint32(DATA_OFFSET_OFFSET, DATA_OFFSET, true);
    if (g.zeroData) {
      const end = sharedArrayLength(elementBytes, g.length);
      new Uint8Array(buffer, byteOffset + DATA_OFFSET, end - DATA_OFFSET).fill(0);
    }
    // initObject publishes the magic after this (release): openers that see
    // it see this geometry.
  },
  // The openOrCreate rule: type and length (both required there) must be the existing array's.
  checkExisting: (buffer, byteOffset, g, name) => {
    if (objectBytesAt(buffer, byteOffset) < DATA_OFFSET) return; // the constructor reports the bad layout
    const typeCode = typeCodeAt(buffer, byteOffset);
    if (typeCode !== g.typeCode) throw mismatchError('SharedArray', name, 'type', typeName(typeCode), typeName(g.typeCode));
    const length = lengthAt(buffer, byteOffset);
    if (length !== g.length) throw mismatchError('SharedArray', name, 'length', length, g.length);
  },
};

function geometry(options: unknown, zeroData: boolean): Geometry & NamedCreateOptions & NamedOpenOptions {
  if (typeof options === 'function') {
    // The 0.x positional form (name, Type, length): say what replaced it.
    throw invalidArgType('options', 'an object { type, length } (the positional (Type, length) form was replaced)', options);
  }
  const opts = checkObject<SharedArrayOptions & NamedCreateOptions & NamedOpenOptions>('options', options);
  const typeCode = typeCodeOf(opts.type);
  const g: Geometry & NamedCreateOptions & NamedOpenOptions = { typeCode, length: checkLength(typeCode, opts.length), zeroData };
  if (opts.mode !== undefined) g.mode = opts.mode;
  if (opts.trustOwners !== undefined) g.trustOwners = opts.trustOwners;
  if (opts.reserve !== undefined) g.reserve = opts.reserve;
  return g;
}

/** The type code `open`/`attach` were asked for, or -1 for any. */
function expectedType(options: unknown): number {
  if (options === undefined) return -1;
  const opts = checkObject<SharedArrayOpenOptions>('options', options);
  return opts.type === undefined ? -1 : typeCodeOf(opts.type);
}

/**
 * A typed array in shared memory: named (`create`/`open`/`openOrCreate`) or
 * embedded in memory you own (`byteLength`/`init`/`attach`).
 */
export class SharedArray<T extends SharedTypedArray = SharedTypedArray> extends SharedObject {
  readonly #length: number;
  readonly #type: SharedArrayType;
  readonly #array: T;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, expectedCode: number, where: string) {
    super(buffer, byteOffset, segment, 'SharedArray');
    // The header was checked (magic loaded with acquire): the geometry is complete.
    const objectBytes = objectBytesAt(buffer, byteOffset);
    if (objectBytes < DATA_OFFSET) {
      throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `${this.subject}: claims ${objectBytes} bytes, less than its ${DATA_OFFSET}-byte header`);
    }
    const view = new DataView(buffer, byteOffset, DATA_OFFSET);
    const typeCode = view.getUint32(TYPE_OFFSET, true);
    const found = {
      typeCode,
      elementBytes: view.getUint32(ELEMENT_BYTES_OFFSET, true),
      length: Number(view.getBigUint64(LENGTH_OFFSET, true)),
      dataOffset: view.getUint32(DATA_OFFSET_OFFSET, true),
    };
    const problem = checkSharedArrayGeometry(found, objectBytes, maxSharedArrayLength(Math.max(1, found.elementBytes)));
    if (problem !== undefined) throw new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `${this.subject}: ${problem}`);
    const type = ELEMENT_TYPE_NAMES.get(typeCode) as SharedArrayType;
    if (expectedCode >= 0 && typeCode !== expectedCode) {
      throw new ShmkitError('ERR_SHMKIT_MISMATCH', `${this.subject}: its element type is ${type} (${found.length} elements), not ${typeName(expectedCode)}`,
        segment === null ? {} : { path: where });
    }
    this.#length = found.length;
    this.#type = type;
    const Ctor = CONSTRUCTORS.get(typeCode) as AnyConstructor;
    this.#array = new Ctor(buffer, byteOffset + DATA_OFFSET, found.length) as T;
  }

  /**
   * Bytes an embedded SharedArray of `length` elements of `type` occupies:
   * 128 bytes of header, then the data, rounded up to a multiple of 8.
   */
  static byteLength(options: SharedArrayOptions): number {
    return SPEC.byteLength(geometry(options, false));
  }

  /**
   * Formats a zero-filled SharedArray at `byteOffset` (a multiple of 8) of
   * `buffer` and returns a handle.
   */
  static init<C extends SharedTypedArrayConstructor>(buffer: SharedArrayBuffer, byteOffset: number, options: SharedArrayOptions<C>): SharedArray<TypedArrayOf<C>> {
    const g = geometry(options, true);
    initObject(SPEC, buffer, byteOffset, g);
    return new SharedArray(buffer, byteOffset, null, g.typeCode, `offset ${byteOffset}`);
  }

  /**
   * Uses a SharedArray formatted by anyone at `byteOffset` of `buffer`. With
   * `type`, an array of another element type is refused (ERR_SHMKIT_MISMATCH).
   */
  static attach<C extends SharedTypedArrayConstructor = SharedTypedArrayConstructor>(buffer: SharedArrayBuffer, byteOffset: number, options?: SharedArrayOpenOptions<C> & NamedOpenOptions): SharedArray<TypedArrayOf<C>> {
    const expected = expectedType(options);
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset);
    return new SharedArray(buffer, byteOffset, null, expected, `offset ${byteOffset}`);
  }

  /**
   * Creates a named SharedArray of `length` zeros of `type` (`EEXIST` if the
   * name is taken). `length` may be 0.
   */
  static create<C extends SharedTypedArrayConstructor>(name: string, options: SharedArrayOptions<C> & NamedCreateOptions & NamedOpenOptions): SharedArray<TypedArrayOf<C>> {
    const g = geometry(options, false);
    return adoptNamed(createNamed(SPEC, name, g), (seg) => new SharedArray<TypedArrayOf<C>>(seg.buffer, 0, seg, g.typeCode, seg.name as string), true);
  }

  /**
   * Opens a named SharedArray. Without `type` the array is of the recorded
   * type; with it, any other type is refused (ERR_SHMKIT_MISMATCH).
   */
  static open<C extends SharedTypedArrayConstructor = SharedTypedArrayConstructor>(name: string, options?: SharedArrayOpenOptions<C> & NamedOpenOptions): SharedArray<TypedArrayOf<C>> {
    const expected = expectedType(options);
    return adoptNamed(openNamed(SPEC as ObjectSpec<unknown>, name, options), (seg) => new SharedArray<TypedArrayOf<C>>(seg.buffer, 0, seg, expected, seg.name as string));
  }

  /**
   * Opens the named SharedArray, creating it (zero-filled) if it does not
   * exist. An existing one must have this `type` and `length`
   * (ERR_SHMKIT_MISMATCH otherwise).
   */
  static openOrCreate<C extends SharedTypedArrayConstructor>(name: string, options: SharedArrayOptions<C> & NamedCreateOptions & NamedOpenOptions): SharedArray<TypedArrayOf<C>> {
    const g = geometry(options, false);
    return adoptNamed(openOrCreateNamed(SPEC, name, g), (seg) => new SharedArray<TypedArrayOf<C>>(seg.buffer, 0, seg, g.typeCode, seg.name as string));
  }

  /** Removes the name of a SharedArray (ERR_SHMKIT_BAD_LAYOUT for another kind); handles keep working. */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** Number of elements (fixed at creation). */
  get length(): number {
    if (this.closed) throw this.closedError();
    return this.#length;
  }

  /** Type, length and data bytes (SharedArrayStats); a fresh object on every call. */
  stats(): SharedArrayStats {
    if (this.closed) throw this.closedError();
    return { type: this.#type, length: this.#length, byteLength: this.#array.byteLength };
  }

  /** The element type: the constructor's name (`'Float64Array'`). */
  get type(): SharedArrayType {
    if (this.closed) throw this.closedError();
    return this.#type;
  }

  /**
   * The typed array over the shared memory (the same object on every call).
   * After `close()` this throws ERR_SHMKIT_CLOSED; an array obtained before
   * keeps working but reads private zero pages (it never crashes).
   */
  get array(): T {
    if (this.closed) throw this.closedError();
    return this.#array;
  }
}
