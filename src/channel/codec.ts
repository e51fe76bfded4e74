// What Queue and Topic share: how messages become bytes and back, the
// handle options, and the power-of-two capacity rule.
import { serialize as v8Serialize, deserialize as v8Deserialize } from 'node:v8';
import { checkInteger, checkObject } from '../args.js';
import { ShmkitError, invalidArgType, invalidArgValue } from '../errors.js';
import { parseSpin, type SpinOptions } from '../sync/options.js';

/** How a channel handle turns values into messages. */
export type Encoding = 'json' | 'v8' | undefined;

/** Handle options that select bytes: no `encoding` (receives `Buffer`). */
export interface BytesEncoding {
  encoding?: undefined;
}
/** Handle options that select JSON (receives `JsonValue`, or the type you name). */
export interface JsonEncoding {
  encoding: 'json';
}
/** Handle options that select structured clone (receives `unknown`, or the type you name). */
export interface V8Encoding {
  encoding: 'v8';
}

/** A value JSON text can carry: what a `'json'` channel receives. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * What a channel handle receives, by its encoding: `Buffer` without one
 * (bytes; strings arrive as their UTF-8 bytes), `JsonValue` for `'json'`,
 * `unknown` for `'v8'` (anything structured clone carries). Queue<T>,
 * Topic<T> and Subscriber<T> are typed by it.
 */
export type MessageOf<E extends Encoding> = E extends 'json' ? JsonValue : E extends 'v8' ? unknown : Buffer;

/** What a channel handle receiving `T` accepts to send: bytes handles also take strings. */
export type SendableOf<T> = [T] extends [Buffer] ? Uint8Array | string : T;

/** Options of a Queue or Topic handle. */
export interface ChannelHandleOptions extends SpinOptions {
  /** Send and receive objects: `'json'` (JSON text) or `'v8'` (structured clone). */
  encoding?: 'json' | 'v8';
}

/** Validates handle options (before anything is created or mapped). */
export function checkHandleOptions(options: ChannelHandleOptions | undefined): ChannelHandleOptions {
  const opts = checkObject<ChannelHandleOptions>('options', options);
  if (opts.encoding !== undefined && opts.encoding !== 'json' && opts.encoding !== 'v8') {
    throw invalidArgValue('options.encoding', "must be 'json' or 'v8'", opts.encoding);
  }
  parseSpin(opts);
  return opts;
}

/** `options.capacity` rounded up to a power of two in [min, max]. */
export function roundCapacity(options: { capacity?: unknown } | undefined, min: number, max: number): number {
  const opts = checkObject<{ capacity?: unknown }>('options', options);
  if (opts.capacity === undefined) throw invalidArgType('options.capacity', 'of type number', undefined);
  const requested = checkInteger('options.capacity', opts.capacity, 1, max);
  let capacity = min;
  while (capacity < requested) capacity *= 2;
  return capacity;
}

// Who the failure is about: "Queue '/jobs'" (or "Queue" when embedded).
function subject(what: string, name: string | null | undefined): string {
  const kind = what.charAt(0).toUpperCase() + what.slice(1);
  return name ? `${kind} '${name}'` : kind;
}

// An error with a code wrapping the encoder's or decoder's own (kept as `cause`).
function codecError(code: 'ERR_SHMKIT_ENCODE' | 'ERR_SHMKIT_DECODE', message: string, cause: unknown): ShmkitError {
  const err = new ShmkitError(code, `${message}: ${cause instanceof Error ? cause.message : String(cause)}`);
  Object.defineProperty(err, 'cause', { value: cause, writable: true, configurable: true, enumerable: false });
  return err;
}

/**
 * The bytes (or UTF-8 text) a message is sent as. A value the encoding
 * cannot carry (a BigInt or a cycle for JSON, a function for v8) throws
 * ERR_SHMKIT_ENCODE with the encoder's error as `cause`; `undefined`, which
 * neither can send, is ERR_INVALID_ARG_VALUE. `what`/`name` name the channel
 * in messages.
 */
export function encodeMessage(encoding: Encoding, message: unknown, what: string, name?: string | null): Uint8Array | string {
  switch (encoding) {
    case 'json': {
      let text: string | undefined;
      try {
        text = JSON.stringify(message);
      } catch (err) {
        throw codecError('ERR_SHMKIT_ENCODE', `${subject(what, name)}: the message cannot be encoded as JSON`, err);
      }
      if (text === undefined) throw invalidArgValue('message', 'cannot be encoded as JSON', message);
      return text;
    }
    case 'v8':
      // Receivers return undefined for "nothing there": the value itself cannot travel.
      if (message === undefined) throw invalidArgValue('message', 'must not be undefined', message);
      try {
        return v8Serialize(message);
      } catch (err) {
        throw codecError('ERR_SHMKIT_ENCODE', `${subject(what, name)}: the message cannot be encoded with v8.serialize`, err);
      }
    default:
      if (typeof message === 'string' || message instanceof Uint8Array) return message;
      throw invalidArgType('message', `of type string or an instance of Uint8Array (or open the ${what} with an encoding)`, message);
  }
}

/**
 * The value a received message stands for. `bytes` may be a view into the
 * ring (v8/json copy out of it). Bytes that do not decode (written by a
 * peer with another encoding, or by foreign code) throw ERR_SHMKIT_DECODE
 * with the decoder's error as `cause`.
 */
export function decodeMessage(encoding: Encoding, bytes: Buffer, what = 'channel', name?: string | null): unknown {
  try {
    switch (encoding) {
      case 'json':
        return JSON.parse(bytes.toString('utf8'));
      case 'v8':
        return v8Deserialize(bytes);
      default:
        return bytes;
    }
  } catch (err) {
    throw codecError('ERR_SHMKIT_DECODE', `${subject(what, name)}: a ${bytes.byteLength}-byte message does not decode as '${encoding}'`, err);
  }
}
