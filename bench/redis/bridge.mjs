// bench:redis section "bridge": 64-byte Topic messages from an application
// on host A to one on host B through two `shmkit bridge` processes and
// Redis, against a plain ioredis XADD / XREAD BLOCK loop between two
// processes measured in the same run on the same redis-server.
//
// Hosts are process groups in their own IPC and mount namespaces with a
// private /dev/shm (test/fixtures/bridge-hosts.mjs), when unshare allows;
// else the same processes without namespaces (the local names are then
// unique per host). Two runs each:
//   burst: N messages published at once; rate = N / (last received − first sent)
//   paced: one message per ms; latency = received − sent (monotonic clock, shared by the processes)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { namespacesUnavailable, startHost } from '../../test/fixtures/bridge-hosts.mjs';
import { summarize } from '../lib/common.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// The reference: a producer process XADDs (one awaited call per message, the
// plain loop), a consumer process XREADs BLOCK with COUNT 100.
const CONSUMER = `
import Redis from 'ioredis';
const [url, key, n] = process.argv.slice(1);
const r = new Redis(url);
let id = '0'; // a fresh key: from its start (a '$' read issued after the first XADD would miss it)
const latencies = [];
let last = 0n;
process.stdout.write('ready\\n');
while (latencies.length < Number(n)) {
  const reply = await r.xreadBuffer('BLOCK', 10000, 'COUNT', 100, 'STREAMS', key, id);
  if (reply === null) break;
  for (const [eid, fields] of reply[0][1]) {
    id = eid.toString();
    last = process.hrtime.bigint();
    latencies.push(Number(last - fields[1].readBigUInt64LE(0)));
  }
}
process.stdout.write(JSON.stringify({ latencies, last: String(last) }) + '\\n');
r.disconnect();
`;
const PRODUCER = `
import Redis from 'ioredis';
const [url, key, n, every] = process.argv.slice(1);
const r = new Redis(url);
await r.ping();
const m = Buffer.alloc(64);
const t0 = process.hrtime.bigint();
for (let i = 0; i < Number(n); i++) {
  m.writeBigUInt64LE(process.hrtime.bigint(), 0);
  m.writeUInt32LE(i, 8);
  await r.xadd(key, 'MAXLEN', '~', 100000, '*', 'm', m);
  if (Number(every) > 0 && i % Number(every) === Number(every) - 1) await new Promise((res) => setTimeout(res, 1));
}
process.stdout.write(JSON.stringify({ t0: String(t0) }) + '\\n');
r.disconnect();
`;

function node(code, args) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, ...args.map(String)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const lines = () => out.split('\n').filter(Boolean);
  return {
    async ready() {
      while (!lines().includes('ready')) await once(child.stdout, 'data');
    },
    async result() {
      await once(child, 'exit');
      return JSON.parse(lines().pop());
    },
  };
}

async function plainRun(redis, n, every) {
  const key = `bench:bridge:plain:${process.pid}:${Date.now()}`;
  const consumer = node(CONSUMER, [redis.url, key, n]);
  await consumer.ready();
  const producer = node(PRODUCER, [redis.url, key, n, every]);
  const [p, c] = await Promise.all([producer.result(), consumer.result()]);
  return { ...c, t0: p.t0 };
}

async function bridgeRun(a, b, topic, n, every) {
  const received = b.call('timed', { topic, n, ms: 60000 }, 90000);
  const sent = await a.call('stamped', { topic, n, every }, 90000);
  return { ...(await received), t0: sent.t0 };
}

function figures(r, n) {
  const got = r.latencies.length;
  const seconds = Number(BigInt(r.last) - BigInt(r.t0)) / 1e9;
  const s = summarize(Float64Array.from(r.latencies), got);
  return { rate: got / seconds, p50_ns: s.p50_ns, p99_ns: s.p99_ns, lost: n - got };
}

export default async function bridgeSection(ctx) {
  const { redis, quick, rounds, table, cells } = ctx;
  const n = quick ? 2000 : 10000;
  const paced = quick ? 500 : 2000;
  const why = namespacesUnavailable();
  const [a, b] = why === undefined ? [await startHost('A'), await startHost('B')] : [null, null];
  if (why !== undefined) {
    ctx.note(`(section bridge: ${why}; skipped)`);
    return;
  }
  const rows = [];
  try {
    const topic = '/bench-bridge';
    // A local ring big enough that the burst never laps A's bridge (a lap would show as lost).
    await a.call('create', { topic, capacity: 16 << 20 });
    await b.call('create', { topic, capacity: 16 << 20 });
    await a.call('bridge', { args: ['--redis', redis.url, '--id', 'bench-a', '--topic', topic, '--remote-topic-capacity', String(n * 2)] });
    await b.call('bridge', { args: ['--redis', redis.url, '--id', 'bench-b', '--topic', topic, '--remote-topic-capacity', String(n * 2)] });
    await b.call('subscribe', { topic });
    await bridgeRun(a, b, topic, 200, 0); // warm-up: connections, scripts
    await plainRun(redis, 200, 0);
    const best = { bridgeBurst: null, plainBurst: null, bridgePaced: null, plainPaced: null };
    const better = (x, y) => (x === null || y.rate > x.rate ? y : x);
    const lower = (x, y) => (x === null || y.p50_ns < x.p50_ns ? y : x);
    for (let round = 0; round < rounds; round++) {
      best.plainBurst = better(best.plainBurst, figures(await plainRun(redis, n, 0), n));
      best.bridgeBurst = better(best.bridgeBurst, figures(await bridgeRun(a, b, topic, n, 0), n));
      best.plainPaced = lower(best.plainPaced, figures(await plainRun(redis, paced, 1), paced));
      best.bridgePaced = lower(best.bridgePaced, figures(await bridgeRun(a, b, topic, paced, 1), paced));
    }
    rows.push(['plain ioredis XADD → XREAD BLOCK, burst', ...cells(best.plainBurst), String(best.plainBurst.lost)]);
    rows.push(['A app → bridge → Redis → bridge → B app, burst', ...cells(best.bridgeBurst, best.plainBurst), String(best.bridgeBurst.lost)]);
    rows.push(['plain ioredis, paced 1/ms', ...cells(best.plainPaced), String(best.plainPaced.lost)]);
    rows.push(['bridge, paced 1/ms', ...cells(best.bridgePaced, best.plainPaced), String(best.bridgePaced.lost)]);
    table(`bridge: 64 B Topic messages host A → host B (${n} burst, ${paced} paced; best of ${rounds}; hosts in their own IPC+mount namespaces)`,
      ['path', 'msgs/s', 'p50 µs', 'p99 µs', 'vs plain', 'lost'], rows);
    ctx.note('burst: rate = messages / (last received − first sent); latency includes the queueing of the burst. paced: latency of one message at a time.');
    const us = (ns) => ns / 1000;
    ctx.chart({
      id: 'bridge', kind: 'grouped', title: '64 B Topic messages from host A to host B: bridge vs plain ioredis streams',
      unit: 'µs', better: 'lower', series: ['p50', 'p99'],
      groups: [
        { label: 'shmkit bridge, paced 1/ms', values: [us(best.bridgePaced.p50_ns), us(best.bridgePaced.p99_ns)] },
        { label: 'ioredis XADD → XREAD, paced', values: [us(best.plainPaced.p50_ns), us(best.plainPaced.p99_ns)], reference: true },
      ],
    });
    await a.call('stop', {});
    await b.call('stop', {});
  } finally {
    await a.close();
    await b.close();
  }
}
