/**
 * SharedArray: one typed array in shared memory. Its element type and length
 * are recorded after the common header, so any process (or C, or Python)
 * finds the data knowing only the name.
 *
 *  0                                    64     68        72           80          84         128
 *  +------------------------------------+------+---------+------------+-----------+----------+--------------------+
 *  | common header (kind 10, version 1) | TYPE | ELEMENT | LENGTH     | DATA      | reserved | data: LENGTH       |
 *  |                                    | u32  | BYTES   | u64        | OFFSET    | (zero)   | elements, then 0-7 |
 *  |                                    |      | u32     | (elements) | u32 = 128 |          | bytes of padding   |
 *  +------------------------------------+------+---------+------------+-----------+----------+--------------------+
 *
 * Header fields are little-endian; the data is in the machine's native byte
 * order (it is a typed array's memory). The object is
 * `DATA_OFFSET + LENGTH * ELEMENT_BYTES` bytes rounded up to a multiple of 8,
 * so the next object embedded after it is aligned. DATA starts 128 bytes
 * into the object: 64-aligned for a named array (its object is at offset 0
 * of a page-aligned mapping), at least 8-aligned when embedded, which every
 * element type (and Atomics on BigInt64Array) needs.
 *
 * The rule: the geometry (TYPE, ELEMENT_BYTES, LENGTH, DATA_OFFSET) is
 * written once, before the header's magic is published (release), and never
 * changes; an opener that loaded the magic (acquire) may trust it after
 * checking it against itself and against the object's byte length. The
 * data has no protocol of its own: it is the user's memory.
 */
import { HEADER_LENGTH, Kind } from '../layout/header.js';

export const SHARED_ARRAY_KIND = Kind.SharedArray;
export const SHARED_ARRAY_VERSION = 1;

export const TYPE_OFFSET = HEADER_LENGTH;
export const ELEMENT_BYTES_OFFSET = HEADER_LENGTH + 4;
export const LENGTH_OFFSET = HEADER_LENGTH + 8;
export const DATA_OFFSET_OFFSET = HEADER_LENGTH + 16;
/** Bytes of header plus geometry: where the data starts. */
export const DATA_OFFSET = 128;
/** Object lengths are rounded up to a multiple of this. */
export const SHARED_ARRAY_ALIGNMENT = 8;

/**
 * Element type codes stored at TYPE_OFFSET. Never renumber: they are on-disk
 * values. New types get new codes; 0 is never a valid code.
 */
export const ElementType = {
  Int8Array: 1,
  Uint8Array: 2,
  Uint8ClampedArray: 3,
  Int16Array: 4,
  Uint16Array: 5,
  Int32Array: 6,
  Uint32Array: 7,
  Float32Array: 8,
  Float64Array: 9,
  BigInt64Array: 10,
  BigUint64Array: 11,
} as const;

export type ElementTypeName = keyof typeof ElementType;

/** Bytes per element of each type code. */
export const ELEMENT_BYTES: ReadonlyMap<number, number> = new Map([
  [ElementType.Int8Array, 1],
  [ElementType.Uint8Array, 1],
  [ElementType.Uint8ClampedArray, 1],
  [ElementType.Int16Array, 2],
  [ElementType.Uint16Array, 2],
  [ElementType.Int32Array, 4],
  [ElementType.Uint32Array, 4],
  [ElementType.Float32Array, 4],
  [ElementType.Float64Array, 8],
  [ElementType.BigInt64Array, 8],
  [ElementType.BigUint64Array, 8],
]);

/** The type name of each code. */
export const ELEMENT_TYPE_NAMES: ReadonlyMap<number, ElementTypeName> = new Map(
  (Object.entries(ElementType) as [ElementTypeName, number][]).map(([name, code]) => [code, name]),
);

/** Bytes of a SharedArray of `length` elements of `elementBytes` each (header included). */
export function sharedArrayLength(elementBytes: number, length: number): number {
  const unpadded = DATA_OFFSET + length * elementBytes;
  return Math.ceil(unpadded / SHARED_ARRAY_ALIGNMENT) * SHARED_ARRAY_ALIGNMENT;
}

/** What an opener reads from the geometry fields. */
export interface SharedArrayGeometry {
  typeCode: number;
  elementBytes: number;
  /** Exact when <= 2^53 - 1; otherwise only known to be larger (and refused). */
  length: number;
  dataOffset: number;
}

/**
 * Checks geometry read from memory against itself, the object's byte length
 * (from the common header) and `maxLength` (the most elements one typed array
 * may have here). Returns what is wrong, with the offending value, or
 * `undefined` when the geometry is sound.
 */
export function checkSharedArrayGeometry(g: SharedArrayGeometry, objectBytes: number, maxLength: number): string | undefined {
  const expectedBytes = ELEMENT_BYTES.get(g.typeCode);
  if (expectedBytes === undefined) return `unknown element type code ${g.typeCode}`;
  if (g.elementBytes !== expectedBytes) {
    return `element size ${g.elementBytes}, but ${ELEMENT_TYPE_NAMES.get(g.typeCode)} elements have ${expectedBytes} bytes`;
  }
  if (g.dataOffset !== DATA_OFFSET) return `data offset ${g.dataOffset} (expected ${DATA_OFFSET})`;
  if (!Number.isSafeInteger(g.length) || g.length > maxLength) {
    return `length ${g.length} is more than the ${maxLength} elements one typed array may have in this Node.js`;
  }
  const bytes = sharedArrayLength(g.elementBytes, g.length);
  if (bytes !== objectBytes) {
    return `${g.length} elements of ${g.elementBytes} bytes need ${bytes} bytes, but the header says the object has ${objectBytes}`;
  }
  return undefined;
}
