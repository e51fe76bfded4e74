// bench:server, section "feed": examples/realtime-feed under load. For each
// variant (the Topic on shared memory at 1, 2 and 4 worker processes; the
// same server with the ticks forwarded to the workers by process.send, at
// 1, 2 and 4; a RedisTopic at 2) the example is started as a user would
// (node dist/examples/realtime-feed/main.js, ports 0), K clients are
// connected by its own watch-ticks (one process: it measures each tick's
// latency from its datagram's send time, on the host's monotonic clock),
// and its own send-ticks sends ticks over UDP at two offered rates:
//
//   - a modest one, for latency: p50/p99 from datagram send to client;
//   - a high one, for fan-out: ticks/s in, deliveries/s the workers wrote,
//     ticks clients missed by falling behind, latency under load.
//
// CPU per tick: the CPU time (user + system, /proc/<pid>/stat) of the
// feed's processes (ingest and workers; not the sender nor the clients)
// over the phase, divided by the ticks in. Every process of the run
// shares this machine's CPUs: with 4 workers, the sender, the clients and
// the ingest, a 2-CPU machine is oversubscribed, and the numbers say so.
import { fileURLToPath } from 'node:url';
import { readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { procStatTicks, sig, fmtRate } from '../lib/common.mjs';
import { startNode } from '../../test/fixtures/proc.mjs';

const DIST = fileURLToPath(new URL('../../dist/examples/realtime-feed/', import.meta.url));
const CLIENTS = 8;
const CLOCK_TICK_US = 10_000; // /proc/<pid>/stat counts in 1/100 s (USER_HZ)

let made = 0;
const prefixes = [];

/** The feed started with `env` (ports 0); resolves once it is ready, with its ports. */
async function startFeed(env) {
  made++;
  const prefix = `/shmkit-bench-feed-${process.pid}-${made}`;
  prefixes.push(prefix);
  const proc = startNode(`${DIST}main.js`, [], { timeoutMs: 120_000, env: { ...process.env, PORT: '0', UDP_PORT: '0', FEED_PREFIX: prefix, ...env } });
  await proc.line(/^realtime-feed: ready/, 20_000);
  const udpPort = Number(/ticks in on udp [\d.]+:(\d+)/.exec(proc.stdout)[1]);
  const httpPort = Number(/SSE on http:\/\/[\d.]+:(\d+)\/ticks/.exec(proc.stdout)[1]);
  return { proc, udpPort, httpPort };
}

async function stopFeed(feed) {
  feed.proc.child.kill('SIGTERM');
  const r = await Promise.race([feed.proc.done, new Promise((resolve) => setTimeout(resolve, 15_000, null))]);
  if (r === null || r.code !== 0) {
    feed.proc.kill();
    throw new Error(`the feed did not stop cleanly: ${r ? `exit ${r.code ?? r.signal}` : 'timed out'}\n${feed.proc.stderr}`);
  }
}

function getStats(port) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/stats', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

/** CPU time (µs) of the feed's processes now, and the counters of GET /stats. */
async function snapshot(feed) {
  const stats = await getStats(feed.httpPort);
  const pids = [stats.ingest.pid, ...stats.workers.map((w) => w.pid)];
  const cpu = pids.reduce((sum, pid) => sum + procStatTicks(pid), 0) * CLOCK_TICK_US;
  return { stats, cpu };
}

/** One phase: CLIENTS clients, `rate` ticks/s for `seconds`; what the clients saw and what the feed did. */
async function phase(feed, rate, seconds, first) {
  const watch = startNode(`${DIST}watch-ticks.js`, ['--url', `http://127.0.0.1:${feed.httpPort}/ticks`, '--clients', CLIENTS, '--json'], { timeoutMs: 60_000 });
  try {
    await watch.line(/"connected"/, 10_000);
    const before = await snapshot(feed);
    const count = Math.round(rate * seconds);
    const send = startNode(`${DIST}send-ticks.js`, ['--port', feed.udpPort, '--count', count, '--rate', rate, '--first', first, '--json'], { timeoutMs: 60_000, input: null });
    const sent = await send.done;
    if (sent.code !== 0) throw new Error(`send-ticks: ${sent.stderr}`);
    const report = JSON.parse(sent.stdout.trim().split('\n').pop());
    await new Promise((resolve) => setTimeout(resolve, 300)); // the last ticks on their way
    const after = await snapshot(feed);
    watch.child.kill('SIGTERM');
    const w = await watch.done;
    const seen = JSON.parse(w.stdout.trim().split('\n').pop());
    const s = report.ms / 1000;
    const ticksIn = after.stats.ingest.received - before.stats.ingest.received;
    return {
      sent: report.sent,
      offered: report.rate,
      ticksIn: ticksIn / s,
      deliveries: (after.stats.total.deliveries - before.stats.total.deliveries) / s,
      received: seen.ticks,
      missed: seen.missed,
      p50: seen.p50us,
      p99: seen.p99us,
      cpuPerTick: ticksIn > 0 ? (after.cpu - before.cpu) / ticksIn : NaN,
    };
  } finally {
    watch.kill();
  }
}

export default async function feed(ctx) {
  const seconds = ctx.quick ? 1.5 : 4;
  const low = 1000;
  const high = 30_000;
  const variants = [
    ...[1, 2, 4].map((workers) => ({ label: `Topic (shm), ${workers} worker${workers > 1 ? 's' : ''}`, backend: 'shm', workers })),
    ...[1, 2, 4].map((workers) => ({ label: `process.send, ${workers} worker${workers > 1 ? 's' : ''}`, backend: 'ipc', workers, reference: true })),
    { label: 'RedisTopic, 2 workers', backend: 'redis', workers: 2, reference: true },
  ];
  const results = [];
  try {
    for (const v of variants) {
      const f = await startFeed({ BACKEND: v.backend, WORKERS: String(v.workers), REDIS_URL: ctx.redis.url });
      try {
        const calm = await phase(f, low, seconds, 0);
        const busy = await phase(f, high, seconds, calm.sent);
        results.push({ ...v, calm, busy });
      } finally {
        await stopFeed(f);
      }
    }
  } finally {
    // A feed that failed to stop cleanly may have left its objects.
    for (const p of prefixes) for (const n of readdirSync('/dev/shm').filter((x) => x.startsWith(p.slice(1)))) rmSync(`/dev/shm/${n}`, { force: true });
  }

  const us = (x) => (x == null ? '—' : sig(x));
  ctx.table(`Realtime feed: latency at ${low} ticks/s to ${CLIENTS} SSE clients (datagram sent → event parsed by the client)`,
    ['variant', 'ticks/s in', 'deliveries/s', 'missed', 'p50 µs', 'p99 µs', 'CPU µs/tick'],
    results.map((r) => [r.label, fmtRate(r.calm.ticksIn), fmtRate(r.calm.deliveries), String(r.calm.missed), us(r.calm.p50), us(r.calm.p99), us(r.calm.cpuPerTick)]));
  ctx.table(`Realtime feed: fan-out at ${fmtRate(high)} ticks/s offered to ${CLIENTS} SSE clients`,
    ['variant', 'sent/s', 'ticks/s in', 'deliveries/s', 'of in × clients', 'missed', 'p50 µs', 'p99 µs', 'CPU µs/tick'],
    results.map((r) => [r.label, fmtRate(r.busy.offered), fmtRate(r.busy.ticksIn), fmtRate(r.busy.deliveries), `${((100 * r.busy.deliveries) / (r.busy.ticksIn * CLIENTS)).toFixed(0)} %`,
      String(r.busy.missed), us(r.busy.p50), us(r.busy.p99), us(r.busy.cpuPerTick)]));
  const bars = (pick) => results.map((r) => ({ label: r.label, value: Math.round(pick(r) * 10) / 10, ...(r.reference ? { reference: true } : {}) }));
  ctx.chart({ id: 'feed-deliveries', title: `Realtime feed: deliveries/s to ${CLIENTS} SSE clients at ${fmtRate(high)} ticks/s offered`, unit: 'deliveries/s', better: 'higher', bars: bars((r) => r.busy.deliveries) });
  ctx.chart({
    id: 'feed-latency', kind: 'grouped', title: `Realtime feed: latency from datagram to client at ${low} ticks/s`, unit: 'µs', better: 'lower',
    series: ['p50', 'p99'],
    groups: results.map((r) => ({ label: r.label, values: [r.calm.p50 ?? NaN, r.calm.p99 ?? NaN].map((v) => Math.round(v)), ...(r.reference ? { reference: true } : {}) })),
  });
  ctx.chart({ id: 'feed-cpu', title: `Realtime feed: CPU per tick (ingest + workers) at ${fmtRate(high)} ticks/s offered`, unit: 'µs/tick', better: 'lower', bars: bars((r) => r.busy.cpuPerTick) });
  ctx.note(`Realtime feed: examples/realtime-feed as a user runs it (UDP ticks in, Server-Sent Events out, one subscription per client), ${CLIENTS} clients in one watch-ticks process, ` +
    `ticks from send-ticks, ${seconds} s per rate. "process.send" is the same server with the primary forwarding each tick to every worker over cluster IPC ` +
    '(each worker keeps its own ring); "RedisTopic" publishes to a local redis-server. "sent/s": what send-ticks achieved of the rate offered; ' +
    '"ticks/s in": what the ingest received (UDP drops the rest when the ingest falls behind); "of in × clients": deliveries against every tick in to every client. ' +
    'Latency under the high rate includes the time ticks wait in socket buffers when the machine is saturated. Sender, clients, ingest and workers share this ' +
    'machine\'s CPUs; clients that fall a lap behind are skipped ahead (missed) rather than slowing anyone down.');
}
