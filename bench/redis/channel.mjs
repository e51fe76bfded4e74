// bench/redis.mjs section "channel": RedisQueue and RedisTopic against THE
// SAME Redis commands issued directly with ioredis, in the same run on the
// same server.
//
//   one by one:  each call awaited before the next (latency-bound)
//     queue send+receive   = EVALSHA send; EVALSHA take; EVALSHA ack
//     topic publish        = EVALSHA publish
//     topic publish+read   = EVALSHA publish; XREAD COUNT 64 STREAMS key id
//   pipelined:   waves of BATCH calls issued together and awaited together,
//     against a hand-made `redis.pipeline()` of BATCH of the same commands,
//     exec'd and awaited, per message. The calls go through a handle with
//     `batch: true` (each tick's scripts sent as one `pipeline()`, on a plain
//     client of its own: what the hand pipeline does) and through a handle on
//     an `enableAutoPipelining: true` client (ioredis groups the commands of
//     a tick, at a Promise and a Command per call). The three sides are
//     measured in alternating chunks (interleave.mjs); each queue side sends
//     to its own queue, then receives exactly what it sent.
//
// The scripts' SHA1s come from shmkit's own script objects (dist), so the
// reference runs exactly the Lua the classes run.
import { createRequire } from 'node:module';
import { Side, batched, interleave, waves } from './interleave.mjs';

const require = createRequire(import.meta.url);
const queueScripts = require('../../dist/src/redis/stream-queue-scripts.js');
const topicScripts = require('../../dist/src/redis/stream-topic-scripts.js');

const BATCH = 64;

// One measurement plus this process's CPU per call (µs): on a VM shared
// with other work the rate swings, the client CPU a call costs much less.
async function measure(ctx, fn, opts) {
  const u = process.cpuUsage();
  const m = await ctx.timeIt(fn, opts);
  const d = process.cpuUsage(u);
  return { ...m, cpu: (d.user + d.system) / opts.ops };
}

// Reference and class measured in turns (ref, class, ref, class, ...), the
// best of each: a burst of load on the VM then hits both alike.
async function pair(ctx, refFn, classFn, opts) {
  let ref = null;
  let cls = null;
  for (let r = 0; r < ctx.rounds; r++) {
    const a = await measure(ctx, refFn, opts);
    const b = await measure(ctx, classFn, opts);
    if (ref === null || a.rate > ref.rate) ref = a;
    if (cls === null || b.rate > cls.rate) cls = b;
  }
  return [ref, cls];
}

// A table row: the usual cells plus client CPU per call and its ratio.
function row(ctx, label, m, ref) {
  const cpu = `${m.cpu.toFixed(1)}${ref ? ` (${(m.cpu / ref.cpu).toFixed(2)}×)` : ''}`;
  return [label, ...ctx.cells(m, ref), cpu];
}

export default async function channel(ctx) {
  const { redisLib } = ctx;
  const one = ctx.quick ? 2000 : 10_000;
  const plain = ctx.redis.client();
  const auto = ctx.redis.client({ enableAutoPipelining: true });
  const msg = Buffer.alloc(64, 0x61);
  let n = 0;
  const tag = () => `bench-${process.pid}-${++n}`;

  // ---- queue, one by one ----
  const q = new redisLib.RedisQueue(plain, tag(), { capacity: 1 << 30 });
  await q.send(msg);
  await q.receive(); // scripts cached, group made
  const qk = q.key;
  const sendSha = queueScripts.SEND.sha;
  const takeSha = queueScripts.TAKE.sha;
  const ackSha = queueScripts.ACK.sha;
  const consumer = 'bench-direct';
  await plain.xgroup('CREATE', qk, 'shmkit', '0', 'MKSTREAM').catch(() => {});
  const sendArgs = [sendSha, 3, qk, `${qk}:bytes`, `${qk}:full`, String(1 << 30), msg, '1000'];
  const takeArgs = [takeSha, 1, qk, 'shmkit', consumer, '30000', '0-0'];
  const ackArgs = [ackSha, 4, qk, `${qk}:bytes`, `${qk}:full`, `${qk}:space`, 'shmkit', '', 0];
  const direct = async (client) => {
    await client.evalshaBuffer(sendArgs);
    const r = await client.evalshaBuffer(takeArgs);
    ackArgs[7] = r[1];
    ackArgs[8] = r[2].byteLength;
    await client.evalshaBuffer(ackArgs);
  };
  const [refQueue, classQueue] = await pair(ctx, () => direct(plain), async () => {
    await q.send(msg);
    await q.receive();
  }, { ops: one });

  // ---- topic, one by one ----
  const t = new redisLib.RedisTopic(plain, tag(), { capacity: 1000 });
  await t.publish(msg);
  const tk = t.key;
  const pubArgs = [topicScripts.PUBLISH.sha, 2, tk, `${tk}:seq`, '1000', msg];
  const [refPublish, classPublish] = await pair(ctx, () => plain.evalshaBuffer(pubArgs), () => t.publish(msg), { ops: one });
  // Two topics: the direct reader and the subscriber each read only their own publishes.
  const t2 = new redisLib.RedisTopic(plain, tag(), { capacity: 1000 });
  await t2.publish(msg);
  const t2k = t2.key;
  const pub2Args = [topicScripts.PUBLISH.sha, 2, t2k, `${t2k}:seq`, '1000', msg];
  let next = Number(await plain.get(`${t2k}:seq`)) + 1;
  const xreadArgs = ['COUNT', 64, 'STREAMS', t2k, ''];
  const sub = await t.subscribe();
  const [refPubRead, classPubRead] = await pair(ctx, async () => {
    await plain.evalshaBuffer(pub2Args);
    xreadArgs[4] = `${next - 1}-0`;
    const r = await plain.xreadBuffer(xreadArgs);
    next += r[0][1].length;
  }, async () => {
    await t.publish(msg);
    await sub.tryReceive();
  }, { ops: one });
  await sub.close();

  ctx.table('RedisQueue / RedisTopic, one call awaited at a time (64-byte messages)',
    ['operation', 'ops/s', 'p50 µs', 'p99 µs', 'vs direct ioredis', 'client CPU µs/call (vs direct)'], [
      row(ctx, 'direct: EVALSHA send + take + ack', refQueue, null),
      row(ctx, 'RedisQueue send + receive', classQueue, refQueue),
      row(ctx, 'direct: EVALSHA publish', refPublish, null),
      row(ctx, 'RedisTopic publish', classPublish, refPublish),
      row(ctx, 'direct: EVALSHA publish + XREAD', refPubRead, null),
      row(ctx, 'RedisTopic publish + tryReceive', classPubRead, refPubRead),
    ]);
  const pairSeries = ['shmkit RedisQueue / RedisTopic', { name: 'the same commands through ioredis', reference: true }];
  ctx.chart({
    id: 'channel-awaited', kind: 'grouped', title: 'RedisQueue / RedisTopic vs the same commands, one call awaited at a time',
    unit: 'ops/s', better: 'higher', series: pairSeries,
    groups: [
      { label: 'queue send + receive', values: [classQueue.rate, refQueue.rate] },
      { label: 'topic publish', values: [classPublish.rate, refPublish.rate] },
      { label: 'topic publish + read', values: [classPubRead.rate, refPubRead.rate] },
    ],
  });

  // ---- pipelined ----
  const BATCHES = 20; // waves (or pipelines) per side before switching
  const chunks = (ctx.quick ? 10 : 40) * ctx.rounds;
  const perSide = chunks * BATCHES * BATCH;
  const batching = ctx.redis.client();
  const qr = new redisLib.RedisQueue(plain, tag(), { capacity: 1 << 30 }); // the hand pipelines' queue
  const qb = new redisLib.RedisQueue(batching, tag(), { capacity: 1 << 30, batch: true });
  const qa = new redisLib.RedisQueue(auto, tag(), { capacity: 1 << 30 });
  for (const h of [qr, qb, qa]) { await h.send(msg); await h.receive(); } // scripts cached, groups made
  const qrk = qr.key;
  const pSend = [sendSha, 3, qrk, `${qrk}:bytes`, `${qrk}:full`, String(1 << 30), msg, '1000'];
  const pTake = [takeSha, 1, qrk, 'shmkit', consumer, '30000', '0-0'];
  const refSendBatch = async () => {
    const p = plain.pipeline();
    for (let i = 0; i < BATCH; i++) p.evalshaBuffer(pSend);
    await p.exec();
  };
  const refTakeBatch = async () => {
    const p = plain.pipeline();
    for (let i = 0; i < BATCH; i++) p.evalshaBuffer(pTake);
    const taken = await p.exec();
    const a = plain.pipeline();
    for (const [, r] of taken) {
      if (r.length < 3) continue;
      a.evalshaBuffer([ackSha, 4, qrk, `${qrk}:bytes`, `${qrk}:full`, `${qrk}:space`, 'shmkit', r[1], r[2].byteLength]);
    }
    await a.exec();
  };
  const sendB = () => qb.trySend(msg);
  const sendA = () => qa.trySend(msg);
  const takeB = () => qb.tryReceive();
  const takeA = () => qa.tryReceive();
  // Warm-up (JIT) off the clock, then empty queues again.
  for (let i = 0; i < 20; i++) { await refSendBatch(); await waves(new Side(BATCH), sendB, 1, BATCH); await waves(new Side(BATCH), sendA, 1, BATCH); }
  for (let i = 0; i < 20; i++) { await refTakeBatch(); await waves(new Side(BATCH), takeB, 1, BATCH); await waves(new Side(BATCH), takeA, 1, BATCH); }

  const refSend = new Side(perSide);
  const batchSend = new Side(perSide);
  const autoSend = new Side(perSide);
  await interleave([
    () => batched(refSend, refSendBatch, BATCHES, BATCH),
    () => waves(batchSend, sendB, BATCHES, BATCH),
    () => waves(autoSend, sendA, BATCHES, BATCH),
  ], chunks);
  // Each side receives exactly what it sent.
  const refTake = new Side(perSide);
  const batchTake = new Side(perSide);
  const autoTake = new Side(perSide);
  await interleave([
    () => batched(refTake, refTakeBatch, BATCHES, BATCH),
    () => waves(batchTake, takeB, BATCHES, BATCH),
    () => waves(autoTake, takeA, BATCHES, BATCH),
  ], chunks);

  const tr = new redisLib.RedisTopic(plain, tag(), { capacity: 1000 });
  const tb = new redisLib.RedisTopic(batching, tag(), { capacity: 1000, batch: true });
  const ta = new redisLib.RedisTopic(auto, tag(), { capacity: 1000 });
  for (const h of [tr, tb, ta]) await h.publish(msg);
  const trk = tr.key;
  const pPub = [topicScripts.PUBLISH.sha, 2, trk, `${trk}:seq`, '1000', msg];
  const refPubBatch = async () => {
    const p = plain.pipeline();
    for (let i = 0; i < BATCH; i++) p.evalshaBuffer(pPub);
    await p.exec();
  };
  const pubB = () => tb.publish(msg);
  const pubA = () => ta.publish(msg);
  for (let i = 0; i < 20; i++) { await refPubBatch(); await waves(new Side(BATCH), pubB, 1, BATCH); await waves(new Side(BATCH), pubA, 1, BATCH); }
  const refPub = new Side(perSide);
  const batchPub = new Side(perSide);
  const autoPub = new Side(perSide);
  await interleave([
    () => batched(refPub, refPubBatch, BATCHES, BATCH),
    () => waves(batchPub, pubB, BATCHES, BATCH),
    () => waves(autoPub, pubA, BATCHES, BATCH),
  ], chunks);

  const r = (side) => side.result();
  ctx.table(`RedisQueue / RedisTopic, waves of ${BATCH} calls vs a hand-made pipeline of ${BATCH} of the same commands`,
    ['operation', 'ops/s', 'p50 µs', 'p99 µs', 'vs pipeline', 'client CPU µs/message (vs pipeline)'], [
      row(ctx, `pipeline: EVALSHA send ×${BATCH}`, r(refSend), null),
      row(ctx, 'RedisQueue trySend (batch: true)', r(batchSend), r(refSend)),
      row(ctx, 'RedisQueue trySend (auto-pipelined client)', r(autoSend), r(refSend)),
      row(ctx, `pipeline: EVALSHA take ×${BATCH}, then ack ×${BATCH}`, r(refTake), null),
      row(ctx, 'RedisQueue tryReceive (batch: true)', r(batchTake), r(refTake)),
      row(ctx, 'RedisQueue tryReceive (auto-pipelined client)', r(autoTake), r(refTake)),
      row(ctx, `pipeline: EVALSHA publish ×${BATCH}`, r(refPub), null),
      row(ctx, 'RedisTopic publish (batch: true)', r(batchPub), r(refPub)),
      row(ctx, 'RedisTopic publish (auto-pipelined client)', r(autoPub), r(refPub)),
    ]);
  ctx.chart({
    id: 'channel-pipelined', kind: 'grouped', title: `RedisQueue / RedisTopic, waves of ${BATCH}, vs a hand-made pipeline of the same commands`,
    unit: 'messages/s', better: 'higher',
    series: ['shmkit, batch: true', 'shmkit, auto-pipelined client', { name: `ioredis pipeline() of ${BATCH}`, reference: true }],
    groups: [
      { label: 'queue send', values: [r(batchSend).rate, r(autoSend).rate, r(refSend).rate] },
      { label: 'queue receive', values: [r(batchTake).rate, r(autoTake).rate, r(refTake).rate] },
      { label: 'topic publish', values: [r(batchPub).rate, r(autoPub).rate, r(refPub).rate] },
    ],
  });

  for (const h of [q, qr, qb, qa, t, t2, tr, tb, ta]) await h.close();
  for (const k of [qk, qr.key, qb.key, qa.key]) await plain.del(k, `${k}:bytes`, `${k}:full`, `${k}:space`);
  for (const k of [tk, t2k, tr.key, tb.key, ta.key]) await plain.del(k, `${k}:seq`);
  batching.disconnect();
}
