// A price tick on the wire: one UDP datagram of TICK_LENGTH bytes, and the
// same bytes as one message on the Topic (the ingest checks them and
// publishes them unchanged). Little-endian:
//
//   0        8        16     20  21          32
//   +--------+--------+------+---+-----------+
//   |  SENT  | PRICE  | SEQ  | N |  SYMBOL   |
//   +--------+--------+------+---+-----------+
//
//   SENT    u64  the sender's process.hrtime.bigint() as it sent the datagram:
//                CLOCK_MONOTONIC in ns, the same clock for every process of
//                the host, so a client on this host subtracts it from its own
//                hrtime to get the latency from the datagram to the client
//   PRICE   f64
//   SEQ     u32  the sender's own counter (+1 per tick), so gaps show drops
//   N       u8   the symbol's length, 1 .. SYMBOL_MAX
//   SYMBOL       N bytes of [A-Za-z0-9._:^=-], then zeros
//
// The one rule: a datagram is a tick only when it is exactly TICK_LENGTH
// bytes, its symbol is valid and its price finite (decodeTick returns
// undefined otherwise): then it can be put in JSON as it is.

export const SENT_OFFSET = 0;
export const PRICE_OFFSET = 8;
export const SEQ_OFFSET = 16;
export const SYMBOL_LENGTH_OFFSET = 20;
export const SYMBOL_OFFSET = 21;
export const SYMBOL_MAX = 11;
export const TICK_LENGTH = SYMBOL_OFFSET + SYMBOL_MAX; // 32

export interface Tick {
  symbol: string;
  price: number;
  seq: number;
  /** process.hrtime.bigint() of the sender when it sent the tick. */
  sent: bigint;
}

const SYMBOL = /^[A-Za-z0-9._:^=-]+$/;

/** Writes `tick` into `into` (a new TICK_LENGTH-byte Buffer by default). Throws RangeError for a bad symbol or price. */
export function encodeTick(tick: Tick, into: Buffer = Buffer.alloc(TICK_LENGTH)): Buffer {
  const { symbol } = tick;
  if (symbol.length < 1 || symbol.length > SYMBOL_MAX || !SYMBOL.test(symbol)) {
    throw new RangeError(`symbol ${JSON.stringify(symbol)}: 1 to ${SYMBOL_MAX} of A-Z a-z 0-9 . _ : ^ = -`);
  }
  if (!Number.isFinite(tick.price)) throw new RangeError(`price ${tick.price}: a finite number`);
  into.fill(0, 0, TICK_LENGTH);
  into.writeBigUInt64LE(tick.sent, SENT_OFFSET);
  into.writeDoubleLE(tick.price, PRICE_OFFSET);
  into.writeUInt32LE(tick.seq >>> 0, SEQ_OFFSET);
  into.writeUInt8(symbol.length, SYMBOL_LENGTH_OFFSET);
  into.write(symbol, SYMBOL_OFFSET, 'latin1');
  return into;
}

/** The symbol of a tick's bytes, or undefined when they are not a tick. */
export function symbolOf(bytes: Uint8Array): string | undefined {
  if (bytes.length !== TICK_LENGTH) return undefined;
  const n = bytes[SYMBOL_LENGTH_OFFSET] as number;
  if (n < 1 || n > SYMBOL_MAX) return undefined;
  const symbol = Buffer.from(bytes.buffer, bytes.byteOffset + SYMBOL_OFFSET, n).toString('latin1');
  return SYMBOL.test(symbol) ? symbol : undefined;
}

/** The tick in `bytes`, or undefined when they are not one. */
export function decodeTick(bytes: Buffer): Tick | undefined {
  const symbol = symbolOf(bytes); // (undefined for a length other than TICK_LENGTH)
  if (symbol === undefined) return undefined;
  const price = bytes.readDoubleLE(PRICE_OFFSET);
  if (!Number.isFinite(price)) return undefined;
  return {
    symbol,
    price,
    seq: bytes.readUInt32LE(SEQ_OFFSET),
    sent: bytes.readBigUInt64LE(SENT_OFFSET),
  };
}

/**
 * The Server-Sent Event of one tick. `sent` travels as a decimal string:
 * hrtime nanoseconds pass 2^53 after 104 days of uptime.
 */
export function tickEvent(tick: Tick): string {
  return `id: ${tick.seq}\nevent: tick\ndata: {"symbol":"${tick.symbol}","price":${tick.price},"seq":${tick.seq},"sent":"${tick.sent}"}\n\n`;
}

/** The event that tells a client it was skipped ahead: `missed` ticks now, `total` since it connected. */
export function missedEvent(missed: number, total: number): string {
  return `event: missed\ndata: {"missed":${missed},"total":${total}}\n\n`;
}
