// bench:redis section "dict": RedisDict against the very Redis commands it
// sends, issued directly with ioredis, in the same run on the same server.
//
// - awaited one by one: `await dict.get(k)` vs `await client.getBuffer(key)`
//   (one round trip each; the difference is RedisDict's own cost: argument
//   checks, encoding, the commandTimeout bound, decoding);
// - pipelined: RedisDict calls with BATCH in flight on a client with
//   `enableAutoPipelining: true` vs a hand-built `client.pipeline()` of
//   BATCH of the same commands.
//
// The Lua operations (incr, compareAndSet) are compared with EVALSHA of the
// same script (loaded first), which is what RedisDict sends once the script
// is cached on the connection.
//
// This VM is shared and noisy (other processes come and go by the second),
// so the two sides are measured in alternating chunks, never one whole run
// after the other: drift then hits both alike.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { summarize } from '../lib/common.mjs';

const require = createRequire(import.meta.url);
// The scripts are not public API; the bench reads them from the build to send the same EVALSHA.
const { INCR_SCRIPT, CAS_SCRIPT } = require('../../dist/src/redis/dict-scripts.js');
const sha = (lua) => createHash('sha1').update(lua).digest('hex');
const INCR_SHA = sha(INCR_SCRIPT);
const CAS_SHA = sha(CAS_SCRIPT);

const NAME = 'bench';
const PREFIX = `shmkit:${NAME}:`;
const VALUE = 'v'.repeat(32);
const G = `${PREFIX}g`;
const S = `${PREFIX}s`;
const C = `${PREFIX}c`;
const STORED = `s${VALUE}`;

/** Each op: what RedisDict does, and the same command sent raw (`c`: a client or a pipeline). */
const OPS = [
  { op: 'get', dict: (d) => d.get('g'), raw: (c) => c.getBuffer(G) },
  { op: 'set', dict: (d) => d.set('s', VALUE), raw: (c) => c.set(S, STORED) },
  { op: 'incr', dict: (d) => d.incr('c', 1, { init: 0 }), raw: (c) => c.evalsha(INCR_SHA, 1, C, 'n', '1', '0', '0') },
  { op: 'compareAndSet', dict: (d) => d.compareAndSet('g', VALUE, VALUE), raw: (c) => c.evalsha(CAS_SHA, 1, G, STORED, STORED, '0') },
];

/** Timing of one side: every call's latency, and the time spent in its chunks. */
class Side {
  constructor(capacity) {
    this.samples = new Float64Array(capacity);
    this.n = 0;
    this.ns = 0;
    this.ops = 0;
  }

  result() {
    return { rate: this.ops / (this.ns / 1e9), ...summarize(this.samples, this.n) };
  }
}

/** `ops` calls of `fn`, awaited one by one. */
async function sequential(side, fn, ops) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const s = process.hrtime.bigint();
    await fn();
    side.samples[side.n++] = Number(process.hrtime.bigint() - s);
  }
  side.ns += Number(process.hrtime.bigint() - t0);
  side.ops += ops;
}

/** `ops` calls of `fn` with `lanes` in flight at all times. */
async function concurrent(side, fn, ops, lanes) {
  let next = 0;
  const t0 = process.hrtime.bigint();
  const lane = async () => {
    while (next < ops) {
      next++;
      const s = process.hrtime.bigint();
      await fn();
      side.samples[side.n++] = Number(process.hrtime.bigint() - s);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  side.ns += Number(process.hrtime.bigint() - t0);
  side.ops += ops;
}

/** `batches` pipelines of `size` commands, each exec'd and awaited; each command's latency is its batch's. */
async function pipelined(side, client, raw, batches, size) {
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) {
    const s = process.hrtime.bigint();
    const p = client.pipeline();
    for (let i = 0; i < size; i++) raw(p);
    await p.exec();
    const took = Number(process.hrtime.bigint() - s);
    for (let i = 0; i < size; i++) side.samples[side.n++] = took;
  }
  side.ns += Number(process.hrtime.bigint() - t0);
  side.ops += batches * size;
}

export default async function dictSection(ctx) {
  const { redis, quick, rounds, redisLib, table, cells } = ctx;
  const plain = redis.client();
  const auto = redis.client({ enableAutoPipelining: true });
  for (const c of [plain, auto]) {
    await c.script('LOAD', INCR_SCRIPT);
    await c.script('LOAD', CAS_SCRIPT);
  }
  const dictPlain = new redisLib.RedisDict(plain, NAME);
  const dictAuto = new redisLib.RedisDict(auto, NAME);
  await dictPlain.set('g', VALUE);

  const BATCH = 64;
  const CHUNK = 200; // calls per side before switching (sequential)
  const BATCHES = 20; // pipelines per side before switching
  const seqChunks = (quick ? 10 : 50) * rounds;
  const pipeChunks = (quick ? 10 : 40) * rounds;

  const seqRows = [];
  const pipeRows = [];
  for (const { op, dict, raw } of OPS) {
    // Warm both sides (scripts cached on each connection, JIT).
    for (let i = 0; i < 1000; i++) { await dict(dictPlain); await raw(plain); }
    await concurrent(new Side(2000), () => dict(dictAuto), 2000, BATCH);

    const d1 = new Side(seqChunks * CHUNK);
    const r1 = new Side(seqChunks * CHUNK);
    for (let k = 0; k < seqChunks; k++) {
      if (k % 2 === 0) { await sequential(d1, () => dict(dictPlain), CHUNK); await sequential(r1, () => raw(plain), CHUNK); } else { await sequential(r1, () => raw(plain), CHUNK); await sequential(d1, () => dict(dictPlain), CHUNK); }
    }
    const d2 = new Side(pipeChunks * BATCHES * BATCH);
    const r2 = new Side(pipeChunks * BATCHES * BATCH);
    for (let k = 0; k < pipeChunks; k++) {
      const mine = () => concurrent(d2, () => dict(dictAuto), BATCHES * BATCH, BATCH);
      const ref = () => pipelined(r2, plain, raw, BATCHES, BATCH);
      if (k % 2 === 0) { await mine(); await ref(); } else { await ref(); await mine(); }
    }
    const [a1, b1, a2, b2] = [d1.result(), r1.result(), d2.result(), r2.result()];
    seqRows.push([`RedisDict.${op}`, ...cells(a1, b1)], ['  ioredis, same command', ...cells(b1)]);
    pipeRows.push([`RedisDict.${op} (${BATCH} in flight, auto-pipelined)`, ...cells(a2, b2)], [`  ioredis pipeline() of ${BATCH}`, ...cells(b2)]);
  }
  table('RedisDict, awaited one by one, vs the same command through ioredis', ['op', 'ops/s', 'p50 µs', 'p99 µs', 'ratio'], seqRows);
  table('RedisDict pipelined vs a hand-built ioredis pipeline of the same commands', ['op', 'ops/s', 'p50 µs', 'p99 µs', 'ratio'], pipeRows);
  await dictPlain.flushAll();
}
