// bench:redis section "dict": RedisDict against the very Redis commands it
// sends, issued directly with ioredis, in the same run on the same server.
//
// - awaited one by one: `await dict.get(k)` vs `await client.getBuffer(key)`
//   (one round trip each; the difference is RedisDict's own cost: argument
//   checks, encoding, the commandTimeout bound, decoding);
// - pipelined: waves of BATCH RedisDict calls issued together (so ioredis's
//   `enableAutoPipelining: true` sends each wave as one batch) and awaited
//   together, vs a hand-built `client.pipeline()` of BATCH of the same
//   commands, exec'd and awaited. A third row sends the same waves of raw
//   commands through the auto-pipelining client, to show which part of the
//   difference is ioredis's auto-pipelining (a Promise and a Command per
//   call, where a hand-built pipeline has one Promise per batch) and which
//   is RedisDict's own. The `batch: true` row sends the same waves through a
//   RedisDict that gathers each tick's commands into one socket write (on a
//   plain client of its own), as the hand pipeline does, without a
//   pipeline's Promise reactions per command. A last row is that hand
//   pipeline with a Promise per command, resolved from exec()'s replies and
//   awaited with Promise.all: what an API that returns a Promise per call
//   would pay on top of a pipeline (batch: true can come out above it: it
//   does not pay the pipeline's own per-command Promises).
//
// The Lua operations (incr, compareAndSet) are compared with EVALSHA of the
// same script (loaded first), which is what RedisDict sends once the script
// is cached on the connection.
//
// The sides are measured in alternating chunks (interleave.mjs).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Side, interleave, waves } from './interleave.mjs';

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

/** As pipelined(), plus a Promise per command resolved from its reply and Promise.all over them. */
async function perCallPromises(side, client, raw, batches, size) {
  const pending = new Array(size);
  const resolvers = new Array(size);
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) {
    const s = process.hrtime.bigint();
    const p = client.pipeline();
    for (let i = 0; i < size; i++) {
      raw(p);
      pending[i] = new Promise((resolve) => { resolvers[i] = resolve; });
    }
    const replies = await p.exec();
    for (let i = 0; i < size; i++) resolvers[i](replies[i][1]);
    await Promise.all(pending);
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
  const batching = redis.client();
  for (const c of [plain, auto, batching]) {
    await c.script('LOAD', INCR_SCRIPT);
    await c.script('LOAD', CAS_SCRIPT);
  }
  const dictPlain = new redisLib.RedisDict(plain, NAME);
  const dictAuto = new redisLib.RedisDict(auto, NAME);
  const dictBatch = new redisLib.RedisDict(batching, NAME, { batch: true });
  await dictPlain.set('g', VALUE);

  const BATCH = 64;
  const CHUNK = 200; // calls per side before switching (sequential)
  const BATCHES = 20; // pipelines per side before switching
  const seqChunks = (quick ? 10 : 50) * rounds;
  const pipeChunks = (quick ? 10 : 40) * rounds;

  const seqRows = [];
  const pipeRows = [];
  const rates = { dict: [], raw: [], auto: [], batch: [], pipeline: [], rawAuto: [] }; // ops/s per op, for the charts
  for (const { op, dict, raw } of OPS) {
    // Warm both sides (scripts cached on each connection, JIT).
    for (let i = 0; i < 1000; i++) { await dict(dictPlain); await raw(plain); }
    await waves(new Side(64 * 64), () => dict(dictAuto), 64, BATCH);
    await waves(new Side(64 * 64), () => dict(dictBatch), 64, BATCH);
    await waves(new Side(64 * 64), () => raw(auto), 64, BATCH);

    const d1 = new Side(seqChunks * CHUNK);
    const r1 = new Side(seqChunks * CHUNK);
    for (let k = 0; k < seqChunks; k++) {
      if (k % 2 === 0) { await sequential(d1, () => dict(dictPlain), CHUNK); await sequential(r1, () => raw(plain), CHUNK); } else { await sequential(r1, () => raw(plain), CHUNK); await sequential(d1, () => dict(dictPlain), CHUNK); }
    }
    const size = pipeChunks * BATCHES * BATCH;
    const d2 = new Side(size);
    const r2 = new Side(size);
    const a2 = new Side(size);
    const b2 = new Side(size);
    const f2 = new Side(size);
    const sides = [
      () => waves(d2, () => dict(dictAuto), BATCHES, BATCH),
      () => waves(b2, () => dict(dictBatch), BATCHES, BATCH),
      () => pipelined(r2, plain, raw, BATCHES, BATCH),
      () => waves(a2, () => raw(auto), BATCHES, BATCH),
      () => perCallPromises(f2, plain, raw, BATCHES, BATCH),
    ];
    await interleave(sides, pipeChunks);
    seqRows.push([`RedisDict.${op}`, ...cells(d1.result(), r1.result())], ['  ioredis, same command', ...cells(r1.result())]);
    for (const [k, side] of [['dict', d1], ['raw', r1], ['auto', d2], ['batch', b2], ['pipeline', r2], ['rawAuto', a2]]) rates[k].push(side.result().rate);
    pipeRows.push(
      [`RedisDict.${op}, waves of ${BATCH} (auto-pipelined)`, ...cells(d2.result(), r2.result())],
      [`RedisDict.${op}, waves of ${BATCH} (batch: true)`, ...cells(b2.result(), r2.result())],
      [`  ioredis pipeline() of ${BATCH}, same commands`, ...cells(r2.result())],
      [`  ioredis auto-pipelined waves, same commands`, ...cells(a2.result(), r2.result())],
      [`  ioredis pipeline() of ${BATCH} + a Promise per command (Promise.all)`, ...cells(f2.result(), r2.result())],
    );
  }
  table('RedisDict, awaited one by one, vs the same command through ioredis', ['op', 'ops/s', 'p50 µs', 'p99 µs', 'ratio'], seqRows);
  table('RedisDict pipelined vs a hand-built ioredis pipeline of the same commands (ratio: against the pipeline)', ['op', 'ops/s', 'p50 µs', 'p99 µs', 'ratio'], pipeRows);
  const series = OPS.map((o) => o.op);
  ctx.chart({
    id: 'dict-awaited', kind: 'grouped', title: 'RedisDict vs the same commands through ioredis, awaited one by one',
    unit: 'ops/s', better: 'higher', series,
    groups: [{ label: 'shmkit RedisDict', values: rates.dict }, { label: 'ioredis, same commands', values: rates.raw, reference: true }],
  });
  ctx.chart({
    id: 'dict-pipelined', kind: 'grouped', title: `RedisDict pipelined (waves of ${BATCH}) vs an ioredis pipeline of the same commands`,
    unit: 'ops/s', better: 'higher', series,
    groups: [
      { label: 'shmkit RedisDict, batch: true', values: rates.batch },
      { label: 'shmkit RedisDict, auto-pipelined', values: rates.auto },
      { label: `ioredis pipeline() of ${BATCH}`, values: rates.pipeline, reference: true },
      { label: 'ioredis, auto-pipelined waves', values: rates.rawAuto, reference: true },
    ],
  });
  await dictPlain.flushAll();
}
