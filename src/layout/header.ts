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
