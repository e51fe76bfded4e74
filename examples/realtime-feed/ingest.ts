// The ingest: price ticks arrive as UDP datagrams and each valid one is
// published as it is (the same TICK_LENGTH bytes) to the TickSink.
import dgram from 'node:dgram';
import { isIPv6, type AddressInfo } from 'node:net';
import type { Config } from './config.js';
import type { TickSink } from './feeds.js';
import type { Row } from './stats.js';
import { PRICE_OFFSET, SEQ_OFFSET, symbolOf } from './tick.js';

/** The socket's receive buffer asked for (Linux caps it at net.core.rmem_max): bursts wait here, not dropped. */
const RECEIVE_BUFFER = 4 << 20;
/** Senders whose last sequence number is remembered (to count gaps); forgotten all at once past this. */
const MAX_SENDERS = 1024;

export interface Ingest {
  readonly address: AddressInfo;
  /** Stops receiving (the sink stays open). */
  close(): Promise<void>;
}

/**
 * Binds the UDP socket and publishes every tick received to `sink`,
 * counting in `row`: datagrams received, ticks published, datagrams that
 * were no tick (rejected), and ticks missing between two of one sender's
 * sequence numbers (gaps: dropped on the way, or by this socket when its
 * buffer was full).
 */
export async function startIngest(config: Config, sink: TickSink, row: Row): Promise<Ingest> {
  const socket = dgram.createSocket({ type: isIPv6(config.udpHost) ? 'udp6' : 'udp4', recvBufferSize: RECEIVE_BUFFER });
  const lastSeq = new Map<string, number>();
  socket.on('message', (datagram, from) => {
    row.add('received', 1);
    if (symbolOf(datagram) === undefined || !Number.isFinite(datagram.readDoubleLE(PRICE_OFFSET))) {
      row.add('rejected', 1);
      return;
    }
    const sender = `${from.address}:${from.port}`;
    const seq = datagram.readUInt32LE(SEQ_OFFSET);
    const last = lastSeq.get(sender);
    if (last !== undefined) {
      const skipped = (seq - last - 1) >>> 0;
      if (skipped > 0 && skipped < 2 ** 31) row.add('gaps', skipped); // (a number going back: a restarted sender)
    } else if (lastSeq.size >= MAX_SENDERS) {
      lastSeq.clear();
    }
    lastSeq.set(sender, seq);
    if (sink.publish(datagram)) row.add('published', 1);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(config.udpPort, config.udpHost, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', (err) => console.error(`realtime-feed: UDP socket: ${err.message}`));
  return {
    address: socket.address(),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
