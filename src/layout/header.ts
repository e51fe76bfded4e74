/**
 * The versioned header every shmkit object (lock, queue, dict, array) starts
 * with. Raw segments have none: their byte 0 is the user's.
 *
 *  0               4       6       8               12              16
 *  +---------------+-------+-------+---------------+---------------+
 *  | magic 'SHMK'  | vers. | kind  | header bytes  | flags         |
 *  +---------------+-------+-------+---------------+---------------+
 *  | object bytes (u64, header included)           | creator pid   | ...
 *  +-----------------------------------------------+---------------+
 *  16                                              24              28
 *  28..63: reserved (zero), then kind-specific geometry from 64.
 *
 * All fields little-endian. The one rule: an object is complete only when
 * `magic` reads MAGIC; creators write everything else first and store the
 * magic last with release order, openers load it with acquire order.
 */

/** 'SHMK' read as a little-endian u32 (bytes 53 48 4D 4B). */
export const MAGIC = 0x4b4d4853;
export const MAGIC_OFFSET = 0;
export const VERSION_OFFSET = 4;
export const KIND_OFFSET = 6;
export const HEADER_BYTES_OFFSET = 8;
export const FLAGS_OFFSET = 12;
export const OBJECT_BYTES_OFFSET = 16;
export const CREATOR_PID_OFFSET = 24;
/** Bytes of the common header; kind-specific fields start here. */
export const HEADER_LENGTH = 64;

/** Kind codes stored at KIND_OFFSET. Never renumber: they are on-disk values. */
export const Kind = {
  Mutex: 1,
  RwLock: 2,
  Semaphore: 3,
  Condition: 4,
  Barrier: 5,
  Notifier: 6,
  Queue: 7,
  Topic: 8,
  Dict: 9,
  SharedArray: 10,
} as const;

export type KindName = keyof typeof Kind;

const KIND_NAMES = new Map<number, KindName>(
  (Object.entries(Kind) as [KindName, number][]).map(([name, code]) => [code, name]),
);

/** The name of a kind code, for messages ("Queue", or "kind 42"). */
export function kindName(code: number): string {
  return KIND_NAMES.get(code) ?? `kind ${code}`;
}

/** What a header says about itself. */
export interface HeaderInfo {
  kind: KindName | 'unknown';
  kindCode: number;
  version: number;
  objectBytes: number;
  creatorPid: number;
}

/**
 * Reads a header from the first bytes of an object, or returns `null` when
 * they are not a complete shmkit header (no magic: raw data, or an object
 * still being initialised).
 */
export function readHeader(bytes: Uint8Array): HeaderInfo | null {
  if (!isInstance(bytes, Uint8Array)) throw invalidArgType('bytes', 'an instance of Uint8Array', bytes);
  if (bytes.byteLength < HEADER_LENGTH) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_LENGTH);
  if (view.getUint32(MAGIC_OFFSET, true) !== MAGIC) return null;
  const kindCode = view.getUint16(KIND_OFFSET, true);
  return {
    kind: KIND_NAMES.get(kindCode) ?? 'unknown',
    kindCode,
    version: view.getUint16(VERSION_OFFSET, true),
    objectBytes: Number(view.getBigUint64(OBJECT_BYTES_OFFSET, true)),
    creatorPid: view.getUint32(CREATOR_PID_OFFSET, true),
  };
}

// ---- Writing and checking headers -------------------------------------------

import { ShmkitError, invalidArgType, outOfRange } from '../errors.js';
import { isInstance } from '../args.js';

/** Every shmkit object starts at a multiple of this (keeps 64-bit fields aligned). */
export const OBJECT_ALIGNMENT = 8;
/** How long an opener waits for a creator that is still initialising. */
export const INIT_WAIT_MS = 1000;

/** Checks that [offset, offset + length) is a usable, aligned window of `buffer`. */
export function checkPlacement(buffer: unknown, byteOffset: unknown, length: number): asserts buffer is SharedArrayBuffer {
  if (!isInstance(buffer, SharedArrayBuffer)) throw invalidArgType('buffer', 'an instance of SharedArrayBuffer', buffer);
  if (typeof byteOffset !== 'number') throw invalidArgType('byteOffset', 'of type number', byteOffset);
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % OBJECT_ALIGNMENT !== 0) {
    throw outOfRange('byteOffset', `a non-negative multiple of ${OBJECT_ALIGNMENT}`, byteOffset);
  }
  if (byteOffset + length > buffer.byteLength) {
    throw outOfRange('byteOffset', `<= ${buffer.byteLength - length} (the object needs ${length} bytes; the buffer has ${buffer.byteLength})`, byteOffset);
  }
}

/**
 * Writes every header field except the magic. The creator then initialises
 * its own fields and calls publishHeader() last.
 */
export function writeHeader(buffer: SharedArrayBuffer, byteOffset: number, kind: number, version: number, objectBytes: number): void {
  const view = new DataView(buffer, byteOffset, HEADER_LENGTH);
  new Uint8Array(buffer, byteOffset, HEADER_LENGTH).fill(0);
  view.setUint32(CREATOR_PID_OFFSET, process.pid, true);
  view.setUint16(VERSION_OFFSET, version, true);
  view.setUint16(KIND_OFFSET, kind, true);
  view.setUint32(HEADER_BYTES_OFFSET, HEADER_LENGTH, true);
  view.setBigUint64(OBJECT_BYTES_OFFSET, BigInt(objectBytes), true);
}

/** Stores the magic: from this store on, openers may use the object. */
export function publishHeader(buffer: SharedArrayBuffer, byteOffset: number): void {
  // release: every byte written before is visible to whoever loads the magic
  Atomics.store(new Int32Array(buffer, byteOffset, 1), 0, MAGIC | 0);
}

// `where` is a POSIX name (`/jobs`) or a place (`offset 64`): the message
// reads "Mutex '/jobs': ..." or "Mutex at offset 64: ...".
function badLayout(what: string, where: string, detail: string): ShmkitError {
  if (where.startsWith('/')) return new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `${what} '${where}': ${detail}`, { path: where });
  return new ShmkitError('ERR_SHMKIT_BAD_LAYOUT', `${what} at ${where}: ${detail}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Checks that `buffer` holds a complete object of `kind` at `byteOffset`, in a
 * layout version this code reads. Waits (up to INIT_WAIT_MS) for a creator
 * that is still initialising, and reports one that died doing so. Returns the
 * object's byte length.
 */
export function checkHeader(buffer: SharedArrayBuffer, byteOffset: number, kind: number, version: number, what: string, where: string): number {
  if (byteOffset + HEADER_LENGTH > buffer.byteLength) {
    throw badLayout(what, where, `too small for a shmkit header (${buffer.byteLength - byteOffset} bytes)`);
  }
  const magicCell = new Int32Array(buffer, byteOffset, 1);
  const view = new DataView(buffer, byteOffset, HEADER_LENGTH);
  const deadline = Date.now() + INIT_WAIT_MS;
  // acquire: pairs with publishHeader's store
  while ((Atomics.load(magicCell, 0) >>> 0) !== MAGIC) {
    const magic = Atomics.load(magicCell, 0) >>> 0;
    const creator = view.getUint32(CREATOR_PID_OFFSET, true);
    if (magic !== 0) throw badLayout(what, where, `not a shmkit object (magic 0x${magic.toString(16).padStart(8, '0')}, expected 0x${MAGIC.toString(16)})`);
    if (creator !== 0 && !processAlive(creator)) throw badLayout(what, where, `its creator (pid ${creator}) died before finishing initialisation; unlink it and create it again`);
    if (Date.now() > deadline) throw badLayout(what, where, 'never initialised (no shmkit header after 1 s)');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
  const foundKind = view.getUint16(KIND_OFFSET, true);
  if (foundKind !== kind) {
    throw badLayout(what, where, `holds a ${kindName(foundKind)}, not a ${kindName(kind)}`);
  }
  const foundVersion = view.getUint16(VERSION_OFFSET, true);
  if (foundVersion !== version) throw badLayout(what, where, `layout version ${foundVersion}; this shmkit reads version ${version}`);
  const headerBytes = view.getUint32(HEADER_BYTES_OFFSET, true);
  if (headerBytes !== HEADER_LENGTH) throw badLayout(what, where, `header length ${headerBytes}, expected ${HEADER_LENGTH}`);
  const objectBytes = Number(view.getBigUint64(OBJECT_BYTES_OFFSET, true));
  if (objectBytes < HEADER_LENGTH || byteOffset + objectBytes > buffer.byteLength) {
    throw badLayout(what, where, `claims ${objectBytes} bytes but only ${buffer.byteLength - byteOffset} are mapped`);
  }
  return objectBytes;
}

/** The object-bytes field of a header already checked with checkHeader(). */
export function objectBytesAt(buffer: SharedArrayBuffer, byteOffset: number): number {
  return Number(new DataView(buffer, byteOffset, HEADER_LENGTH).getBigUint64(OBJECT_BYTES_OFFSET, true));
}
