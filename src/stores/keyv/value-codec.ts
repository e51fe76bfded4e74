// How a value Keyv hands the store sits in a Dict entry.
//
// Keyv gives the store what its `serialize` option made: a string by default
// (JSON of `{ value, expires }`), or, with `serialize: undefined`, the raw
// `{ value, expires }` object itself. The store keeps exactly what it is
// given:
//
//   string            stored as a Dict string (readable from C, Python, Lua,
//                     `shmkit` CLI; the same text comes back)
//   anything else     stored as bytes: v8.serialize(value), the structured
//                     clone format (objects, arrays, Buffers, Dates, Maps,
//                     Sets, bigints, undefined, null, numbers, booleans, ...);
//                     read back with v8.deserialize. Functions and symbols
//                     cannot be cloned: set() rejects (DataCloneError).
//
// A string is never turned into bytes, so the two forms cannot be confused on
// the way back. A number, bigint or boolean that something other than KeyvShm
// stored in the Dict (an `incr` counter) comes back as it is.
import { deserialize, serialize } from 'node:v8';
import type { DictValue } from '../../index.js';

/** What the Dict stores for a value Keyv gives the store. */
export function encodeValue(value: unknown): DictValue {
  return typeof value === 'string' ? value : serialize(value);
}

/** What the store gives back to Keyv for what the Dict holds (undefined: absent). */
export function decodeValue(stored: DictValue | undefined): unknown {
  return stored instanceof Uint8Array ? deserialize(stored) : stored;
}
