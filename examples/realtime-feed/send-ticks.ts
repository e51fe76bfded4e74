// Sends price ticks to the feed's UDP port: `count` ticks at `rate` per
// second (0: as fast as the socket takes them), prices on a random walk,
// numbered from `first` on, each stamped with process.hrtime.bigint() as it
// is sent (the clients measure their latency from that).
//
//   node dist/examples/realtime-feed/send-ticks.js [--host 127.0.0.1] [--port 9000]
//       [--count 10000] [--rate 1000] [--symbols ACME,GLOBEX,INITECH] [--first 0] [--json]
//
// Prints what it sent (one JSON line with --json).
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { encodeTick } from './tick.js';

/** The pacing timer's period: every PERIOD_MS it sends what the rate asks for by then. */
const PERIOD_MS = 4;
/** With --rate 0: datagrams queued in the socket at most before it waits for them to go. */
const MAX_QUEUED = 256;

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '9000' },
    count: { type: 'string', default: '10000' },
    rate: { type: 'string', default: '1000' },
    symbols: { type: 'string', default: 'ACME,GLOBEX,INITECH,UMBRELLA' },
    first: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
  },
});

function count(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} ${text}: a whole number`);
  return n;
}

async function main(): Promise<void> {
  const port = count('port', values.port);
  const total = count('count', values.count);
  const rate = count('rate', values.rate);
  const first = count('first', values.first);
  const symbols = values.symbols.split(',').filter(Boolean);
  const prices = symbols.map((_, i) => 100 + 10 * i);
  const socket = dgram.createSocket(isIPv6(values.host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, values.host, () => resolve());
  });

  let sent = 0;
  const sendOne = (): void => {
    const i = sent % symbols.length;
    // A random walk in cents, never below one.
    prices[i] = Math.max(0.01, Math.round(((prices[i] as number) + (Math.random() - 0.5) * 0.1) * 100) / 100);
    socket.send(encodeTick({ symbol: symbols[i] as string, price: prices[i] as number, seq: first + sent, sent: process.hrtime.bigint() }));
    sent++;
  };
  const start = process.hrtime.bigint();
  const elapsedMs = (): number => Number(process.hrtime.bigint() - start) / 1e6;
  await new Promise<void>((resolve) => {
    const step = (): void => {
      const due = rate === 0 ? sent + MAX_QUEUED - socket.getSendQueueCount() : Math.floor((elapsedMs() * rate) / 1000);
      while (sent < Math.min(due, total)) sendOne();
      if (sent < total) setTimeout(step, rate === 0 ? 0 : PERIOD_MS);
      else resolve();
    };
    step();
  });
  // Every datagram handed to the kernel before the socket closes.
  while (socket.getSendQueueCount() > 0) await new Promise((resolve) => setTimeout(resolve, 1));
  const ms = elapsedMs();
  socket.close();
  const report = { sent, first, last: first + sent - 1, ms: Math.round(ms), rate: Math.round((sent * 1000) / Math.max(ms, 1)) };
  console.log(values.json ? JSON.stringify(report) : `sent ${sent} ticks (seq ${first} to ${first + sent - 1}) in ${(ms / 1000).toFixed(2)} s: ${report.rate}/s`);
}

main().catch((err) => {
  console.error(`send-ticks: ${(err as Error).message}`);
  process.exit(1);
});
