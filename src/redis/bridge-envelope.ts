// The frame a bridge wraps around each Topic message it puts on Redis, so
// that every bridge reading the same Redis topic knows where a message came
// from (a bridge skips its own: nothing loops) and which number its origin
// gave it (a message seen twice, after a publish retried across a lost
// reply, is dropped; a number skipped is a message lost, counted as lag).
//
//   0      4        5          5+L         5+L+8      5+L+12
//   +------+--------+----------+-----------+----------+---------
//   | SKB1 | L (u8) | origin   | instance  | number   | payload
//   |      |        | (L bytes)| (8 bytes) | (u32 LE) | (the local message, as is)
//   +------+--------+----------+-----------+----------+---------
//
// `origin` is the bridge's id (a label for people, UTF-8, 1..255 bytes);
// `instance` is random per bridge start: identity is origin + instance, so
// two bridges given the same id by mistake still see each other's messages.
// A message without the magic was published to the Redis topic by something
// else than a bridge: it is delivered as is, without numbering.
import { randomBytes } from 'node:crypto';
import { ShmkitError } from '../index.js';

/** "SKB" and the frame's version. */
const MAGIC = 0x01424b53; // 'S' 'K' 'B' 0x01, little-endian
const MAGIC_LENGTH = 4;
const INSTANCE_LENGTH = 8;
const NUMBER_LENGTH = 4;
const MAX_ORIGIN = 255;

/** Who published a framed message, and its number in that origin's sequence. */
export interface Framed {
  /** origin + instance, as one string: the key of the origin's numbering. */
  readonly source: string;
  /** The origin's label (its bridge id). */
  readonly origin: string;
  /** The origin's number for this message (u32, wraps). */
  readonly number: number;
  /** The message as the origin's local Topic carried it (a view into the frame). */
  readonly payload: Buffer;
}

/** Frames messages of one bridge (its origin and instance are fixed). */
export class Framer {
  readonly origin: string;
  /** origin + instance: what `Framed.source` says for this bridge's messages. */
  readonly source: string;
  readonly #prefix: Buffer;

  constructor(origin: string) {
    const id = Buffer.from(origin, 'utf8');
    if (id.length === 0 || id.length > MAX_ORIGIN) {
      throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "id" option must be 1 to ${MAX_ORIGIN} bytes of UTF-8. Received ${JSON.stringify(origin)}`);
    }
    const instance = randomBytes(INSTANCE_LENGTH);
    this.origin = origin;
    this.source = sourceOf(origin, instance);
    this.#prefix = Buffer.allocUnsafe(MAGIC_LENGTH + 1 + id.length + INSTANCE_LENGTH);
    this.#prefix.writeUInt32LE(MAGIC, 0);
    this.#prefix[MAGIC_LENGTH] = id.length;
    id.copy(this.#prefix, MAGIC_LENGTH + 1);
    instance.copy(this.#prefix, MAGIC_LENGTH + 1 + id.length);
  }

  /** The number of a frame this framer made. */
  numberOf(frame: Buffer): number {
    return frame.readUInt32LE(this.#prefix.length);
  }

  /** A new frame: prefix, `number`, then a copy of `payload`. */
  frame(number: number, payload: Uint8Array): Buffer {
    const head = this.#prefix.length;
    const out = Buffer.allocUnsafe(head + NUMBER_LENGTH + payload.byteLength);
    this.#prefix.copy(out, 0);
    out.writeUInt32LE(number >>> 0, head);
    out.set(payload, head + NUMBER_LENGTH);
    return out;
  }
}

/** The frame in `message`, or undefined when it is not one (published by something else than a bridge). */
export function unframe(message: Buffer): Framed | undefined {
  if (message.length < MAGIC_LENGTH + 1 || message.readUInt32LE(0) !== MAGIC) return undefined;
  const idLength = message[MAGIC_LENGTH] as number;
  const head = MAGIC_LENGTH + 1 + idLength + INSTANCE_LENGTH;
  if (idLength === 0 || message.length < head + NUMBER_LENGTH) return undefined;
  const origin = message.toString('utf8', MAGIC_LENGTH + 1, MAGIC_LENGTH + 1 + idLength);
  const instance = message.subarray(MAGIC_LENGTH + 1 + idLength, head);
  return {
    source: sourceOf(origin, instance),
    origin,
    number: message.readUInt32LE(head),
    payload: message.subarray(head + NUMBER_LENGTH),
  };
}

function sourceOf(origin: string, instance: Uint8Array): string {
  return `${origin}#${Buffer.from(instance).toString('hex')}`;
}
