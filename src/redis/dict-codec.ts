// How a RedisDict value sits in a Redis string: one ASCII type tag, then the
// payload. Text wherever it can be, so `redis-cli GET` shows it and a Python
// or Lua program reads it without a library (docs/API.md, "Value encoding"):
//
//   s<UTF-8 text>        string
//   n<decimal>           number: JavaScript's String(n) (shortest text that
//                        reads back to the same double), plus -0, NaN,
//                        Infinity, -Infinity; Lua may write up to 17 digits
//   i<decimal>           bigint (signed 64-bit)
//   b1 / b0              boolean
//   x<bytes>             Uint8Array (raw bytes; read back as a Buffer)
//
// List elements use the same tags (`s` and `n` only).
import { ShmkitError } from '../index.js';
import type { DictValue } from '../index.js';
import { invalidArgType, outOfRange } from './dict-args.js';

/** Type tags: the first byte of every stored value. */
export const TAG_STRING = 0x73; // 's'
export const TAG_NUMBER = 0x6e; // 'n'
export const TAG_BIGINT = 0x69; // 'i'
export const TAG_BOOLEAN = 0x62; // 'b'
export const TAG_BYTES = 0x78; // 'x'

/** The largest Redis string (proto-max-bulk-len's default, 512 MiB) less the tag byte. */
export const MAX_VALUE_BYTES = 512 * 1024 * 1024 - 1;

const BYTES_TAG = Buffer.from('x');

/** A number as the `n` payload: String(v), and '-0' (String(-0) is '0'). */
export function numberText(v: number): string {
  return v === 0 && 1 / v < 0 ? '-0' : String(v);
}

/**
 * The stored form of `value`: a string (ioredis writes it as UTF-8, no copy
 * here) for every type but bytes, which need a Buffer.
 */
export function encodeValue(value: unknown, name: string): string | Buffer {
  switch (typeof value) {
    case 'string':
      // 3 bytes per UTF-16 unit at most: only a value that might be too long pays for counting.
      if (value.length * 3 > MAX_VALUE_BYTES && Buffer.byteLength(value) > MAX_VALUE_BYTES) tooLarge(name, Buffer.byteLength(value));
      return 's' + value;
    case 'number':
      return 'n' + numberText(value);
    case 'bigint':
      if (BigInt.asIntN(64, value) !== value) throw outOfRange(name, 'a signed 64-bit integer', value);
      return 'i' + value.toString();
    case 'boolean':
      return value ? 'b1' : 'b0';
    default:
      if (value instanceof Uint8Array) {
        if (value.byteLength > MAX_VALUE_BYTES) tooLarge(name, value.byteLength);
        return Buffer.concat([BYTES_TAG, value]);
      }
      throw invalidArgType(name, 'a string, number, bigint, boolean or Uint8Array', value);
  }
}

/** The stored form of a list element (string or number). */
export function encodeElement(value: unknown): string {
  if (typeof value === 'string') return 's' + value;
  if (typeof value === 'number') return 'n' + numberText(value);
  throw invalidArgType('value', 'of type string or number', value);
}

function tooLarge(name: string, bytes: number): never {
  throw new ShmkitError('ENOSPC', `ENOSPC: "${name}" of ${bytes} bytes can never fit in a Redis string (at most ${MAX_VALUE_BYTES} bytes after the type tag)`);
}

/**
 * Buffer's own slicers: `toString(encoding, start)` checks its arguments
 * and looks the encoding up on every call, half the cost of decoding a
 * short value (these are Node's Buffer methods behind it, on every Buffer).
 */
interface Slicer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

/** A stored value back as JavaScript (null, Redis's nil: undefined). */
export function decodeValue(stored: Buffer | null): DictValue | undefined {
  if (stored === null) return undefined;
  switch (stored[0]) {
    case TAG_STRING: return (stored as unknown as Slicer).utf8Slice(1, stored.length);
    case TAG_NUMBER: return Number((stored as unknown as Slicer).latin1Slice(1, stored.length));
    case TAG_BIGINT: return BigInt((stored as unknown as Slicer).latin1Slice(1, stored.length));
    case TAG_BOOLEAN: return stored[1] === 0x31;
    case TAG_BYTES: return stored.subarray(1);
    default: throw foreign(stored);
  }
}

/** A stored list element back as JavaScript (null: undefined). */
export function decodeElement(stored: Buffer | null): string | number | undefined {
  if (stored === null) return undefined;
  switch (stored[0]) {
    case TAG_STRING: return (stored as unknown as Slicer).utf8Slice(1, stored.length);
    case TAG_NUMBER: return Number((stored as unknown as Slicer).latin1Slice(1, stored.length));
    default: throw foreign(stored);
  }
}

function foreign(stored: Buffer): ShmkitError {
  const head = stored.subarray(0, 16).toString('latin1');
  return new ShmkitError('ERR_SHMKIT_DECODE', `ERR_SHMKIT_DECODE: a value not written by shmkit (no known type tag): ${JSON.stringify(head)}${stored.length > 16 ? '...' : ''}`);
}
