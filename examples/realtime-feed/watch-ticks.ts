// Watches the feed as its clients see it: opens `clients` event streams
// and prints, every second, the ticks received per second and the latency
// from each tick's datagram send to its arrival here (p50, p99: the sender
// stamps process.hrtime.bigint(), the host's monotonic clock, and this
// process reads the same clock), and the ticks skipped by lag.
//
//   node dist/examples/realtime-feed/watch-ticks.js [--url http://127.0.0.1:3000/ticks]
//       [--clients 1] [--seconds 0 (until ^C)] [--json]
//
// With --json it prints one line `{"connected":N,...}` once every stream
// is open, and one report line at the end (the benchmark reads them).
import { parseArgs } from 'node:util';
import { connectTicks, type FeedConnection } from './sse-client.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3000/ticks' },
    clients: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
  },
});

/** Latencies in µs, in a typed array that grows. */
class Samples {
  #values = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.length++] = v;
  }
  /** p50, p99 and max (µs), or undefined without samples. */
  summary(): { p50: number; p99: number; max: number } | undefined {
    if (this.length === 0) return undefined;
    const sorted = this.#values.slice(0, this.length).sort();
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
    return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number };
  }
}

async function main(): Promise<void> {
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  let all = new Samples();
  let second = new Samples();
  let ticks = 0;
  let missed = 0;
  let ended = 0;
  let stopping = false;
  const connections: FeedConnection[] = [];
  for (let i = 0; i < clients; i++) {
    connections.push(await connectTicks(values.url, {
      tick(tick, arrived) {
        const micros = Number(arrived - BigInt(tick.sent)) / 1000;
        all.push(micros);
        second.push(micros);
        ticks++;
      },
      missed(n) {
        missed += n;
      },
      end(err) {
        ended++;
        if (!stopping) console.error(`watch-ticks: a stream ended${err ? `: ${err.message}` : ''}`);
      },
    }));
  }
  const workers = new Set(connections.map((c) => c.worker));
  if (values.json) console.log(JSON.stringify({ connected: clients, workers: workers.size }));
  else console.log(`watch-ticks: ${clients} clients on ${workers.size} workers of ${values.url}`);

  const measuredFrom = Date.now();
  let lastTicks = 0;
  const timer = setInterval(() => {
    const s = second.summary();
    if (!values.json) {
      console.log(`${ticks - lastTicks} ticks/s` + (s ? `, latency p50 ${s.p50.toFixed(0)} µs, p99 ${s.p99.toFixed(0)} µs` : '') + `, ${missed} skipped in all`);
    }
    lastTicks = ticks;
    second = new Samples();
  }, 1000);

  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    for (const c of connections) c.close();
    const s = all.summary();
    const ms = Date.now() - measuredFrom;
    const report = { clients, ticks, missed, ended, ms, ticksPerSecond: Math.round((ticks * 1000) / Math.max(ms, 1)), p50us: s?.p50 ?? null, p99us: s?.p99 ?? null, maxUs: s?.max ?? null };
    if (values.json) console.log(JSON.stringify(report));
    else console.log(`watch-ticks: ${ticks} ticks in ${(ms / 1000).toFixed(1)} s over ${clients} clients, latency p50 ${s?.p50.toFixed(0) ?? '-'} µs, p99 ${s?.p99.toFixed(0) ?? '-'} µs, ${missed} skipped`);
    all = new Samples();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (seconds > 0) setTimeout(stop, seconds * 1000);
}

main().catch((err) => {
  console.error(`watch-ticks: ${(err as Error).message}`);
  process.exit(1);
});
