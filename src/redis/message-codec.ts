// How a Redis channel (RedisQueue, RedisTopic) turns values into the bytes
// it stores and back: the same three encodings as the shared-memory
// channels (bytes, 'json', 'v8'), so a message means the same on either
// backend. Re-implemented here rather than imported: src/redis/ sees only
// the public surface ('../index.js').
import { serialize as v8Serialize, deserialize as v8Deserialize } from 'node:v8';
import { ShmkitError } from '../index.js';

/** A channel's encoding: undefined (bytes), 'json' or 'v8'. */
export type MessageEncoding = 'json' | 'v8' | undefined;

/** Checks `options.encoding`. */
export function checkEncoding(value: unknown): MessageEncoding {
  if (value === undefined || value === 'json' || value === 'v8') return value;
  throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "options.encoding" option must be 'json' or 'v8'. Received ${String(value)}`);
}

// An error with a code wrapping the encoder's or decoder's own (kept as `cause`).
function codecError(code: 'ERR_SHMKIT_ENCODE' | 'ERR_SHMKIT_DECODE', message: string, cause: unknown): ShmkitError {
  const err = new ShmkitError(code, `${message}: ${cause instanceof Error ? cause.message : String(cause)}`);
  Object.defineProperty(err, 'cause', { value: cause, writable: true, configurable: true, enumerable: false });
  return err;
}

/**
 * The bytes `message` is stored as. Strings of a bytes channel travel as
 * their UTF-8 text (Redis stores the same bytes). Errors as on shared
 * memory: ERR_SHMKIT_ENCODE (with the encoder's error as `cause`),
 * ERR_INVALID_ARG_VALUE for `undefined`, ERR_INVALID_ARG_TYPE for a bytes
 * channel given anything but a string or Uint8Array.
 */
export function encodeMessage(encoding: MessageEncoding, message: unknown, label: string): Buffer | string {
  switch (encoding) {
    case 'json': {
      let text: string | undefined;
      try {
        text = JSON.stringify(message);
      } catch (err) {
        throw codecError('ERR_SHMKIT_ENCODE', `${label}: the message cannot be encoded as JSON`, err);
      }
      if (text === undefined) throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "message" argument cannot be encoded as JSON. Received ${String(message)}`);
      return text;
    }
    case 'v8':
      // Receivers answer undefined for "nothing there": the value itself cannot travel.
      if (message === undefined) throw new ShmkitError('ERR_INVALID_ARG_VALUE', 'The "message" argument must not be undefined');
      try {
        return v8Serialize(message);
      } catch (err) {
        throw codecError('ERR_SHMKIT_ENCODE', `${label}: the message cannot be encoded with v8.serialize`, err);
      }
    default:
      if (typeof message === 'string') return message;
      if (Buffer.isBuffer(message)) return message;
      if (message instanceof Uint8Array) return Buffer.from(message.buffer, message.byteOffset, message.byteLength);
      throw new ShmkitError('ERR_INVALID_ARG_TYPE', `The "message" argument must be of type string or an instance of Uint8Array (or open the ${label} with an encoding)`);
  }
}

/** Encoded length in bytes (what capacity and maxMessage count). */
export function encodedLength(bytes: Buffer | string): number {
  return typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
}

/** The value stored bytes stand for; bytes that do not decode throw ERR_SHMKIT_DECODE. */
export function decodeMessage(encoding: MessageEncoding, bytes: Buffer, label: string): unknown {
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
    throw codecError('ERR_SHMKIT_DECODE', `${label}: a ${bytes.byteLength}-byte message does not decode as '${encoding}'`, err);
  }
}
