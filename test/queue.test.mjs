// Queue (kind 7): black-box tests across processes.
//
// Every message in the bulk and kill tests is self-checking
// (fixtures/queue-msg.mjs): its length is a function of (stream, seq), and it
// carries seq, its stream tag and a CRC-32 of its body (messages under 12
// bytes carry a pattern derived from (stream, seq) instead), so a receiver
// detects loss, duplication, reordering and corruption.
//
// 1. Bulk, one producer process -> one consumer process, 1 000 000 messages
//    of 1 B .. 4 KiB each through sendSync/receiveSync, send/for await and
//    reserve/commit + peek/release (trySendMany/tryReceiveMany and
//    trySend/tryReceive with 100 000 each).
// 2. SIGKILL at random instants (16 producers, 16 consumers, 5 producers in
//    trySendMany, plus one deterministic kill each between reserve/commit and
//    peek/release: 39 kills).
// 3. A C producer written from docs/LAYOUT.md alone (fixtures/queue-producer.c).
// 4. end(); 5. bad input and corrupted memory; 6. encodings, zero-length and
//    UTF-8 messages, wrap-around, blocking and timeouts.
//
// Queues were single-producer/single-consumer (ERR_SHMKIT_QUEUE_BUSY for a
// second one) when these tests were planned, then took a producer/consumer
// role Mutex per operation (layout version 2). Layout version 3 (docs/LAYOUT.md,
// "Queue (kind 7, version 3)") has no role and no lock on the data path: a
// record is claimed by one compare-and-swap on its cell's STAMP, and a handle
// holds one of 16 producer (consumer) slots, robust Mutexes, only so that a
// dead holder's claims can be recognised. So another process's open
// reservation or peek blocks no one (only ring order holds back what comes
// after an unfinished record), and a killed one is cleaned up by whoever
// meets its claim. The tests check that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serialize as v8Serialize } from 'node:v8';
import { Mutex, Notifier, Queue, Segment } from 'shmkit';
import { makeQueue as makeQueueNamed } from './fixtures/queue-handle.mjs';
import { trackedNames, uniqueName } from './fixtures/names.mjs';
import { STEP_MS, expectCode, sleep, unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { reap, run, startNode, startProcess, killedOk } from './fixtures/proc.mjs';
import { checkMessage, makeMessage, parseMessage, sizeOf, writeMessage } from './fixtures/queue-msg.mjs';
import { CAPACITY_OFF, CELL, CLAIM_OFF, DATA_WAITERS_OFF, HEAD_OFF, MAX_MSG_OFF, MESSAGE, META_OFF, MUTEX_WORD_IN, PRODUCER_SLOTS_OFF, RESERVE_OFF, SKIP, SLOT_COUNT, SPACE_WAITERS_OFF, cellsFor, dataOffset, metaEntry } from './fixtures/queue-layout.mjs';

const fixture = (file) => fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));
const PRODUCER = fixture('queue-producer.mjs');
const CONSUMER = fixture('queue-consumer.mjs');
const PEER = fixture('queue-peer.mjs');
const C_SRC = fixture('queue-producer.c');

const ENDED = 'ERR_SHMKIT_QUEUE_ENDED';
const BAD_LAYOUT = 'ERR_SHMKIT_BAD_LAYOUT';
const CORRUPT = 'ERR_SHMKIT_CORRUPT';

const named = trackedNames(); // every shm name made here; none may survive the file

// ---- helpers ----------------------------------------------------------------

const makeQueue = (label, options) => makeQueueNamed(named, label, options);

/** The queue's memory through a raw Segment (header included), to look at or corrupt it. */
function rawQueue(name) {
  const seg = Segment.open(name);
  const view = new DataView(seg.buffer);
  return {
    seg,
    bytes: new Uint8Array(seg.buffer),
    u32: (off) => view.getUint32(off, true),
    setI32: (off, v) => view.setInt32(off, v, true),
    setU32: (off, v) => view.setUint32(off, v, true),
  };
}

/** startNode(script, [JSON cfg]) whose life is capped at `ms`, recorded in `procs` for reap(). */
function startChild(procs, script, cfg, ms = 20000) {
  const p = startNode(script, [JSON.stringify(cfg)], { timeoutMs: ms, waitMs: 10000 });
  procs.push(p);
  return p;
}

function startPeer(procs, args, ms = 15000) {
  const p = startNode(PEER, args, { timeoutMs: ms, waitMs: 10000 });
  procs.push(p);
  return p;
}

/** Awaits a child's exit (bounded), requires code 0 and parses its last stdout line as JSON. */
async function finish(proc, what, ms = 20000) {
  const r = await withTimeout(proc.done, ms, what);
  assert.equal(r.code, 0, `${what} exited ${r.code ?? r.signal}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// ---- 1. bulk ----------------------------------------------------------------

async function pipeline(t, { label, capacity = 65536, count, seed, producer, consumer, ms = 45000 }) {
  const { name, q, dispose } = makeQueue(label, { capacity });
  const procs = [];
  try {
    const t0 = performance.now();
    const p = startChild(procs, PRODUCER, { name, api: producer, count, seed, end: true, timeoutMs: 10000 }, ms);
    const c = startChild(procs, CONSUMER, { name, api: consumer, count, seed, expectEnd: true, timeoutMs: 10000 }, ms);
    const [pr, cr] = await Promise.all([finish(p, 'producer', ms), finish(c, 'consumer', ms)]);
    const elapsed = performance.now() - t0;
    assert.equal(cr.error, null, 'the consumer found a bad message');
    assert.deepEqual(cr, { received: count, ended: true, error: null });
    assert.equal(pr.sent, count);
    const s = q.stats();
    assert.deepEqual(
      { length: s.length, bytesUsed: s.bytesUsed, sent: s.sent, received: s.received, ended: s.ended, producerSlots: s.producerSlots, consumerSlots: s.consumerSlots },
      { length: 0, bytesUsed: 0, sent: count, received: count, ended: true, producerSlots: 0, consumerSlots: 0 },
    );
    t.diagnostic(`${count} messages, ${producer} -> ${consumer}: ${elapsed.toFixed(0)} ms (${Math.round((count / elapsed) * 1000)} msg/s)`);
  } finally {
    await reap(...procs);
    dispose();
  }
}

test('1 000 000 messages of 1 B..4 KiB, sendSync -> receiveSync across processes: each once, in order, intact', async (t) => {
  await pipeline(t, { label: 'q-bulk-sync', count: 1_000_000, seed: 11, producer: 'sync', consumer: 'sync' });
});

test('1 000 000 messages, await send -> for await across processes: each once, in order, intact; iteration ends', async (t) => {
  await pipeline(t, { label: 'q-bulk-async', count: 1_000_000, seed: 12, producer: 'async', consumer: 'iter' });
});

test('1 000 000 messages, reserve/commit -> peek/release across processes: each once, in order, intact', async (t) => {
  await pipeline(t, { label: 'q-bulk-zc', count: 1_000_000, seed: 13, producer: 'reserve', consumer: 'peek' });
});

test('100 000 messages each, trySendMany -> tryReceiveMany and trySend -> tryReceive across processes', async (t) => {
  await pipeline(t, { label: 'q-bulk-many', count: 100_000, seed: 14, producer: 'many', consumer: 'many' });
  await pipeline(t, { label: 'q-bulk-try', count: 100_000, seed: 15, producer: 'try', consumer: 'try', capacity: 16384 });
});

test('control: the checker catches a wrong, a missing and a corrupted message (so the tests above can fail)', async () => {
  // Wrong stream.
  assert.match(checkMessage(makeMessage(1, 5, 100), 2, 5, 100), /expected seq 5 of stream 2/);
  // Missing message: seq 6 where 5 was expected (by its length, or by its fields).
  assert.notEqual(checkMessage(makeMessage(1, 6), 1, 5), null);
  assert.match(checkMessage(makeMessage(1, 6, 100), 1, 5, 100), /expected seq 5 of stream 1, got seq 6/);
  // One flipped bit in the body, and in a short message.
  const long = makeMessage(1, 2, 300);
  long[200] ^= 1;
  assert.match(checkMessage(long, 1, 2, 300), /checksum/);
  const short = makeMessage(1, 3, 5);
  short[4] ^= 0x80;
  assert.match(checkMessage(short, 1, 3, 5), /short message byte 4/);
  // And end to end: a consumer expecting another stream reports it.
  const { name, dispose } = makeQueue('q-control', { capacity: 65536 });
  const procs = [];
  try {
    const p = startChild(procs, PRODUCER, { name, api: 'sync', count: 100, seed: 21, end: true });
    const c = startChild(procs, CONSUMER, { name, api: 'sync', count: 100, seed: 22, expectEnd: true });
    await finish(p, 'producer');
    const cr = await finish(c, 'consumer');
    assert.match(String(cr.error), /message #0/);
  } finally {
    await reap(...procs);
    dispose();
  }
});

// ---- 2. SIGKILL ----------------------------------------------------------------

test('producers SIGKILLed at 16 random instants (many between reserve and commit): each incarnation delivers a gap-free prefix, the next sends its first message within 1 s', async (t) => {
  const K = 16;
  const FINAL = 3000;
  const MIN = 12;
  const MAX = 512;
  const { name, q, dispose } = makeQueue('q-pkill', { capacity: 16384 });
  const logName = named('q-pkill-log');
  const logSeg = Segment.create(logName, { size: 32 * (K + 2) });
  const log = new Int32Array(logSeg.buffer);
  const procs = [];
  const next = new Map(); // stream (= incarnation) -> next seq expected
  const order = []; // streams in the order their first message arrived
  const problems = [];
  const ac = new AbortController();
  const consumer = (async () => {
    for (;;) {
      let m;
      try {
        m = await q.receive({ timeout: 10000, signal: ac.signal });
      } catch (err) {
        if (err.code === ENDED) return;
        throw err;
      }
      const { seq, seed, error } = parseMessage(m, MIN, MAX);
      if (error) {
        problems.push(error);
        continue;
      }
      const want = next.get(seed) ?? 0;
      if (!next.has(seed)) order.push(seed);
      if (seq !== want) problems.push(`stream ${seed}: seq ${seq} where ${want} was expected`);
      next.set(seed, seq + 1);
    }
  })();
  consumer.catch(() => {}); // awaited below
  try {
    for (let k = 1; k <= K; k++) {
      const p = startChild(procs, PRODUCER, { name, api: 'mixed', count: -1, seed: k, min: MIN, max: MAX, log: logName, slot: k, timeoutMs: 5000, hold: 0.5 });
      await p.line(/^ready$/);
      await sleep(randomInt(0, 60));
      p.kill(); // the next producer starts at once, while this one may still be dying
    }
    const last = startChild(procs, PRODUCER, { name, api: 'mixed', count: FINAL, seed: K + 1, min: MIN, max: MAX, log: logName, slot: K + 1, timeoutMs: 5000, end: true });
    const lr = await finish(last, 'final producer');
    await withTimeout(consumer, 15000, 'the consumer to drain the ended queue');
    for (const [i, p] of procs.slice(0, K).entries()) await killedOk(p, `producer ${i + 1}`);

    assert.deepEqual(problems, [], 'bad messages');
    assert.deepEqual(order, Array.from({ length: K + 1 }, (_, i) => i + 1), 'streams out of order');
    let midReservation = 0;
    let midBatch = 0;
    const firsts = [];
    for (let k = 1; k <= K; k++) {
      const [done, pending, firstMs, , reserving, batching] = log.subarray(8 * k, 8 * k + 6);
      const got = next.get(k) ?? 0;
      assert.ok(got >= done && got <= pending, `incarnation ${k}: ${got} messages arrived, but ${done} sends had returned and ${pending} were begun`);
      assert.ok(firstMs < 1000, `incarnation ${k} needed ${firstMs} ms for its first message (a killed predecessor's claim held it up)`);
      firsts.push(firstMs);
      midReservation += reserving;
      midBatch += batching;
    }
    assert.equal(next.get(K + 1), FINAL);
    assert.ok(lr.firstMs < 1000, `final producer needed ${lr.firstMs} ms for its first message`);
    // Every dead claim was turned into a skipped record, and no slot stayed held.
    assert.equal(q.bytesUsed, 0);
    assert.equal(q.stats().producerSlots, 0);
    // The kills did land inside reservations (the case the test is about).
    assert.ok(midReservation > 0, 'no kill landed between reserve and commit');
    t.diagnostic(`${K} kills: ${midReservation} between reserve and commit, ${midBatch} inside trySendMany; ` +
      `delivered per incarnation: ${[...next.values()].join(' ')}; first-message ms: ${firsts.join(' ')}`);
  } finally {
    ac.abort();
    await reap(...procs);
    logSeg.close();
    unlinkQuietly(logName);
    dispose();
  }
});

test('consumers SIGKILLed at 16 random instants (mid peek/release): every message delivered once, except a peeked-not-released one, delivered again', async (t) => {
  const K = 16;
  const N = 40000;
  const MIN = 12;
  const MAX = 512;
  const SEED = 77;
  const { name, q, dispose } = makeQueue('q-ckill', { capacity: 16384 });
  const logName = named('q-ckill-log');
  const logSeg = Segment.create(logName, { size: 4 * (16 + 3 * (N + 4 * K)) });
  const cells = new Int32Array(logSeg.buffer);
  const procs = [];
  try {
    const producer = startChild(procs, PRODUCER, { name, api: 'sync', count: N, seed: SEED, min: MIN, max: MAX, end: true, timeoutMs: 15000 }, 40000);
    const cfg = { name, api: 'peeklog', count: -1, seed: SEED, min: MIN, max: MAX, log: logName, timeoutMs: 10000 };
    for (let k = 1; k <= K; k++) {
      const c = startChild(procs, CONSUMER, { ...cfg, inc: k, hold: 0.05 });
      const before = Atomics.load(cells, 0);
      await c.line(/^ready$/);
      await waitUntil(() => {
        if (c.exited) throw new Error(`consumer ${k} exited early\n${c.stdout}\n${c.stderr}`);
        return Atomics.load(cells, 0) > before;
      }, 10000, `consumer ${k}'s first message`);
      await sleep(randomInt(5, 60));
      c.kill(); // the next consumer starts at once
    }
    const last = startChild(procs, CONSUMER, { ...cfg, inc: K + 1, hold: 0 }, 40000);
    const lr = await finish(last, 'final consumer', 40000);
    const pr = await finish(producer, 'producer', 40000);
    for (const [i, c] of procs.slice(1, K + 1).entries()) await killedOk(c, `consumer ${i + 1}`);
    assert.equal(lr.error, null);
    assert.equal(lr.ended, true);
    assert.equal(pr.sent, N);
    assert.equal(Atomics.load(cells, 1), 0, 'a consumer found a corrupted message');

    // Walk the log: seq must go 0, 1, 2, ... except for what a killed
    // incarnation held. It held at most one message (a peek at a time):
    // - the last one it logged, if not (known to be) released: it comes once
    //   more (owed);
    // - or one it had taken but not logged yet: the next incarnation starts
    //   one past it (the very next seq), and it comes later, once (late).
    // In layout version 3 such a message becomes an ORPHAN when someone meets
    // the dead consumer's claim (the next consumer taking the dead one's
    // slot, a producer that finds it in its way, a parked consumer's periodic
    // look), and consumers take orphans first: often it is the next
    // incarnation's first message, but it may come a little later.
    const used = Atomics.load(cells, 0);
    let expected = 0;
    let redelivered = 0;
    let redeliveredFirst = 0;
    let lateArrived = 0;
    let unconfirmed = 0;
    const owed = new Set(); // seqs a killed incarnation logged as peeked and may not have released
    const late = new Set(); // seqs a killed incarnation may have taken without logging them
    const problems = [];
    for (let j = 0; j < used; j++) {
      const [inc, seq, released] = cells.subarray(16 + 3 * j, 19 + 3 * j);
      const prev = j > 0 ? cells.subarray(16 + 3 * (j - 1), 19 + 3 * (j - 1)) : null;
      const firstOfInc = prev !== null && prev[0] !== inc;
      const lastOfInc = j + 1 === used || cells[16 + 3 * (j + 1)] !== inc;
      if (firstOfInc && prev[0] > inc) problems.push(`entry ${j}: incarnation ${inc} after ${prev[0]}`);
      if (firstOfInc && prev[2] === 0) {
        unconfirmed++;
        owed.add(prev[1]);
      }
      if (seq === expected) {
        expected++;
      } else if (owed.has(seq)) {
        owed.delete(seq);
        redelivered++;
        if (firstOfInc) redeliveredFirst++;
      } else if (late.has(seq)) {
        late.delete(seq);
        lateArrived++;
      } else if (firstOfInc && seq === expected + 1) {
        late.add(expected); // the killed predecessor took it without logging it
        expected += 2;
      } else {
        problems.push(`entry ${j} (incarnation ${inc}): seq ${seq}, expected ${expected}` +
          `${owed.size + late.size ? ` (or one of ${[...owed, ...late].join(', ')} again)` : ''}`);
        if (problems.length > 10) break;
      }
      if (!released && !(lastOfInc && inc <= K)) problems.push(`entry ${j} (incarnation ${inc}, seq ${seq}) never released, yet its consumer went on`);
    }
    if (late.size) problems.push(`taken by a killed consumer and never delivered again: ${[...late].join(', ')}`);
    assert.deepEqual(problems, []);
    assert.equal(expected, N, 'not every message was delivered');
    assert.ok(redelivered <= K);
    // Most kills land while a message is held between peek and release: the
    // at-least-once path must really have been exercised.
    assert.ok(redelivered > 0, 'no kill landed between peek and release');
    assert.equal(q.bytesUsed, 0);
    assert.equal(q.stats().consumerSlots, 0);
    t.diagnostic(`${K} consumer kills: ${redelivered} peeked messages delivered again (${redeliveredFirst} as the next incarnation's first), ` +
      `${unconfirmed - redelivered} released just before the kill, ${lateArrived} taken unlogged and delivered later; ${used} deliveries for ${N} messages`);
  } finally {
    await reap(...procs);
    logSeg.close();
    unlinkQuietly(logName);
    dispose();
  }
});

test('a producer killed holding a reservation blocks no other producer; consumers get what came before it, wait at its record until its death is noticed (< 1 s), then the rest; its message never appears', async () => {
  const SEED = 31;
  const { name, q, dispose } = makeQueue('q-kill-reserve', { capacity: 1024 }); // 16 cells: nothing below wraps
  const procs = [];
  try {
    assert.ok(q.trySend('before-0'));
    assert.ok(q.trySend('before-1'));
    const holder = startPeer(procs, ['hold-reservation', name, SEED]);
    await holder.line(/^reserved$/);
    const held = sizeOf(SEED, 0, 1, q.maxMessage); // the holder's reservation, in bytes
    // Other producers go on at once, through every path.
    assert.equal(q.trySend('after-0'), true, "trySend was turned away by another process's open reservation");
    q.sendSync('after-1', { timeout: 50 }); // ETIMEDOUT if the reservation blocked it
    await q.send('after-2', { timeout: 50 });
    let s = q.stats();
    assert.equal(s.length, 5);
    assert.equal(s.bytesUsed, (2 + cellsFor(held) + 3) * CELL, "bytesUsed counts the reservation's cells");
    // The consumer gets what came before the reservation, then nothing: ring order.
    assert.equal(q.tryReceive()?.toString(), 'before-0');
    assert.equal(q.tryReceive()?.toString(), 'before-1');
    assert.equal(q.tryReceive(), undefined, "a message went past another process's open reservation");
    // Waiting looks for dead peers every 250 ms: a live holder's claim must stay its own.
    assert.throws(() => q.receiveSync({ timeout: 600 }), expectCode('ETIMEDOUT'));

    const pending = q.receive({ timeout: 3000 });
    const t0 = performance.now();
    holder.kill();
    const first = await pending;
    const took = performance.now() - t0;
    assert.equal(first.toString(), 'after-0', "the first message after the dead reservation is not the next one sent (the killed one's appeared?)");
    assert.ok(took < 1000, `the consumer went past the dead reservation ${took.toFixed(0)} ms after the kill`);
    await killedOk(holder, 'holder');
    assert.equal(q.tryReceive()?.toString(), 'after-1');
    assert.equal(q.tryReceive()?.toString(), 'after-2');
    assert.equal(q.tryReceive(), undefined, 'the uncommitted reservation became visible');
    s = q.stats();
    assert.deepEqual([s.length, s.bytesUsed, s.sent, s.received], [0, 0, 5, 5]);
    // And the queue goes on.
    assert.ok(q.trySend('later'));
    assert.equal(q.tryReceive()?.toString(), 'later');
  } finally {
    await reap(...procs);
    dispose();
  }
});

test('a consumer killed between peek and release blocks no other consumer; its message is delivered again (< 1 s after the kill), the rest once', async () => {
  const { name, q, dispose } = makeQueue('q-kill-peek', { capacity: 1024 });
  const procs = [];
  try {
    for (const m of ['first', 'second', 'third']) assert.ok(q.trySend(m));
    const holder = startPeer(procs, ['hold-peek', name]);
    const line = await holder.line(/^peeked /);
    assert.equal(line, `peeked ${Buffer.from('first').toString('hex')}`);
    assert.equal(q.stats().consumerSlots, 1, 'the peek holds its consumer slot');
    // The others are not held back by the peeked one.
    assert.equal(q.tryReceive()?.toString(), 'second', "tryReceive was turned away by another process's peek");
    assert.equal(q.receiveSync({ timeout: 50 }).toString(), 'third');
    assert.equal(q.tryReceive(), undefined, 'the peeked message was given out twice');
    // Waiting looks for dead peers every 250 ms: a live peeker's message must stay its own.
    assert.throws(() => q.receiveSync({ timeout: 600 }), expectCode('ETIMEDOUT'));
    const pending = q.receive({ timeout: 3000 });
    const t0 = performance.now();
    holder.kill();
    const again = await pending;
    const took = performance.now() - t0;
    await killedOk(holder, 'holder');
    assert.equal(again.toString(), 'first');
    assert.ok(took < 1000, `the killed consumer's message came again ${took.toFixed(0)} ms after the kill`);
    assert.equal(q.tryReceive(), undefined);
    assert.deepEqual([q.length, q.bytesUsed], [0, 0]);
    assert.ok(q.trySend('later'));
    assert.equal(q.tryReceive()?.toString(), 'later');
  } finally {
    await reap(...procs);
    dispose();
  }
});

test('counters stay true when a producer is SIGKILLed inside trySendMany (5 kills): drained queue has length 0', async (t) => {
  // 64 MiB: the producer is still filling it (inside trySendMany nearly all the time) when killed.
  const { name, q, dispose } = makeQueue('q-kill-count', { capacity: 1 << 26 });
  const logName = named('q-kill-count-log');
  const logSeg = Segment.create(logName, { size: 32 * 8 });
  const log = new Int32Array(logSeg.buffer);
  const procs = [];
  try {
    const seen = [];
    for (let k = 1; k <= 5; k++) {
      const p = startChild(procs, PRODUCER, { name, api: 'flood', count: -1, seed: k, log: logName, slot: k });
      await p.line(/^ready$/);
      await sleep(randomInt(2, 10));
      // Kill while the "inside trySendMany" flag is up (the kill lands a moment later).
      await waitUntil(() => Atomics.load(log, 8 * k + 5) === 1, 2000, 'the producer to be inside trySendMany');
      p.kill();
      await killedOk(p, `producer ${k}`);
      const waiting = q.length; // what length says is waiting, before the drain
      let n = 0;
      while (q.tryReceive() !== undefined) n++;
      const s = q.stats();
      seen.push(`${n} drained (length said ${waiting}), died inside trySendMany: ${Atomics.load(log, 8 * k + 5) === 1}, length ${s.length}, sent ${s.sent}, received ${s.received}`);
      assert.equal(q.bytesUsed, 0, `after kill ${k}: a dead claim was left in the ring`);
      assert.equal(s.length, 0, `after kill ${k}: ${seen.at(-1)}`);
      // SENT is added after the STAMP store that publishes a message (for a
      // batch, after the store that makes the whole batch visible): a kill in
      // between leaves it low by that publish (docs/LAYOUT.md, "Counters"),
      // never high: at most one batch of 512 per kill.
      assert.ok(n - waiting >= 0 && n - waiting <= 512, `after kill ${k}: length said ${waiting} messages were waiting, ${n} were: ${seen.at(-1)}`);
      assert.ok(s.received >= s.sent && s.received - s.sent <= 512 * k, `after kill ${k}: ${seen.at(-1)}`);
    }
    t.diagnostic(seen.join('; '));
  } finally {
    await reap(...procs);
    logSeg.close();
    unlinkQuietly(logName);
    dispose();
  }
});

// ---- 3. C producer -------------------------------------------------------------

test('a C producer written from docs/LAYOUT.md alone sends 100 000 messages to a Node consumer', async (t) => {
  const N = 100_000;
  const SEED = 4242;
  const tmp = mkdtempSync(join(tmpdir(), 'shmkit-queue-c-'));
  const { name, q, dispose } = makeQueue('q-c', { capacity: 16384 });
  const procs = [];
  try {
    const bin = join(tmp, 'queue-producer');
    const cc = await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, C_SRC], { timeoutMs: 30000 });
    assert.equal(cc.code, 0, `cc failed:\n${cc.stdout}\n${cc.stderr}`);

    // It says which layout it was written from.
    assert.match(readFileSync(C_SRC, 'utf8'), /\bversion 3\b/, 'queue-producer.c does not say it follows the Queue layout version 3');

    // The C side refuses what is not a version-3 Queue.
    const mxName = named('q-c-mutex');
    Mutex.create(mxName).close();
    try {
      const bad = await run(bin, [mxName, 1, 1, 2], { timeoutMs: 10000 });
      assert.equal(bad.code, 4, `C producer on a Mutex: exit ${bad.code ?? bad.signal}\n${bad.stderr}`);
    } finally {
      unlinkQuietly(mxName);
    }

    const t0 = performance.now();
    const c = startProcess(bin, [name, N, SEED, 25], { timeoutMs: 30000, waitMs: 10000 });
    procs.push(c);
    await c.line(/^ready$/);
    // No consumer yet: the C producer fills the ring and parks on SPACE_SEQ,
    // holding one producer slot (a robust Mutex with its TID) all along.
    const raw = rawQueue(name);
    try {
      await waitUntil(() => {
        if (c.exited) throw new Error(`C producer exited early\n${c.stdout}\n${c.stderr}`);
        return raw.u32(SPACE_WAITERS_OFF) === 1;
      }, 5000, 'the C producer to park on a full queue');
      const held = Array.from({ length: SLOT_COUNT }, (_, s) => s).filter((s) => (raw.u32(PRODUCER_SLOTS_OFF + 128 * s + MUTEX_WORD_IN) & 0x3fffffff) === c.child.pid);
      assert.equal(held.length, 1, `producer slots whose Mutex word holds the C producer's TID: ${held.join(', ')}`);
      assert.equal(q.stats().producerSlots, 1);
      // The ring is full (RESERVE - CLAIM whole cells): no room for Node either
      // (a 4 KiB message: whatever the C producer's next message left at the end).
      assert.ok(q.bytesUsed > q.capacity - 4096, `bytesUsed ${q.bytesUsed}: the C producer parked on a queue that was not full`);
      assert.equal(q.trySend(Buffer.alloc(4096, 1)), false, 'Node sent into the full ring');
      assert.equal(q.lastTryResult, 'full');
    } finally {
      raw.seg.close();
    }
    const consumer = startChild(procs, CONSUMER, { name, api: 'sync', count: N, seed: SEED, timeoutMs: 10000 }, 30000);
    const cr = await finish(consumer, 'Node consumer', 30000);
    const r = await withTimeout(c.done, 30000, 'C producer');
    const elapsed = performance.now() - t0;
    assert.equal(r.code, 0, `C producer exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const m = /^ready\nok sent=(\d+) waits=(\d+)\n$/.exec(r.stdout);
    assert.ok(m, `C output: ${JSON.stringify(r.stdout)}`);
    assert.equal(Number(m[1]), N);
    assert.ok(Number(m[2]) > 0, 'the C producer never waited for space');
    assert.deepEqual(cr, { received: N, ended: false, error: null });

    // The slot was released, the counters agree, and Node carries on.
    const s = q.stats();
    assert.deepEqual([s.length, s.bytesUsed, s.sent, s.received, s.producerSlots], [0, 0, N, N, 0]);
    assert.ok(q.trySend('node after C'));
    assert.equal(q.tryReceive()?.toString(), 'node after C');
    t.diagnostic(`C -> Node, ${N} messages: ${elapsed.toFixed(0)} ms, the C producer waited for space ${m[2]} times`);
  } finally {
    await reap(...procs);
    dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
});

// ---- 4. end() ------------------------------------------------------------------

test('end(): receivers drain what was sent before, then receive rejects ERR_SHMKIT_QUEUE_ENDED; sending afterwards throws', async () => {
  const { name, q, dispose } = makeQueue('q-end', { capacity: 1024 });
  const r = Queue.open(name);
  try {
    const sent = ['one', 'two', 'three', 'four', 'five', 'six'];
    for (const m of sent) assert.ok(q.trySend(m));
    assert.equal(q.ended, false);
    q.end();
    assert.equal(q.ended, true);
    assert.equal(r.ended, true);
    assert.equal(r.stats().ended, true);
    // Sending after end, through every path and a fresh handle: nothing written.
    const fresh = Queue.open(name);
    try {
      for (const h of [q, fresh]) {
        assert.throws(() => h.trySend('late'), expectCode(ENDED));
        assert.throws(() => h.sendSync('late', { timeout: 100 }), expectCode(ENDED));
        await assert.rejects(h.send('late', { timeout: 100 }), expectCode(ENDED));
        assert.throws(() => h.trySendMany(['late']), expectCode(ENDED));
        assert.throws(() => h.tryReserve(4), expectCode(ENDED));
      }
    } finally {
      fresh.close();
    }
    assert.equal(r.length, sent.length);
    // Every way of receiving drains the rest.
    const got = [];
    got.push(r.receiveSync({ timeout: 1000 }).toString());
    got.push((await r.receive({ timeout: 1000 })).toString());
    got.push(r.tryReceive().toString());
    const view = r.tryPeek();
    got.push(Buffer.from(view).toString());
    r.release();
    got.push(...r.tryReceiveMany(10).map(String));
    assert.deepEqual(got, sent);
    // Then: ended, promptly.
    const t0 = performance.now();
    assert.throws(() => r.receiveSync({ timeout: 2000 }), expectCode(ENDED));
    await assert.rejects(r.receive({ timeout: 2000 }), expectCode(ENDED));
    await assert.rejects(withTimeout(r.receive(), 2000, 'receive() on an ended queue'), expectCode(ENDED));
    assert.ok(performance.now() - t0 < 1000, 'ENDED was not reported at once');
    assert.equal(r.tryReceive(), undefined);
    assert.equal(r.tryPeek(), undefined);
    assert.deepEqual(r.tryReceiveMany(5), []);
    const iterated = [];
    await withTimeout((async () => {
      for await (const m of r) iterated.push(m);
    })(), 2000, 'iteration over an ended queue');
    assert.deepEqual(iterated, []);
  } finally {
    r.close();
    dispose();
  }
});

test('end(): sending after end() throws even in the event-loop turn in which the handle still holds its producer slot', async () => {
  const { q, dispose } = makeQueue('q-end-sticky', { capacity: 1024 });
  try {
    assert.ok(q.trySend('before'));
    q.end();
    assert.throws(() => q.trySend('after'), expectCode(ENDED));
    assert.throws(() => q.trySendMany(['after']), expectCode(ENDED));
    assert.throws(() => q.sendSync('after', { timeout: 100 }), expectCode(ENDED));
    assert.equal(q.length, 1);
  } finally {
    dispose();
  }
});

test('end() across processes: for await drains 5000 messages then finishes; a receiver parked in another process is woken', async () => {
  const N = 5000;
  const SEED = 41;
  const { name, q, dispose } = makeQueue('q-end-x', { capacity: 16384 });
  const procs = [];
  try {
    const p = startChild(procs, PRODUCER, { name, api: 'async', count: N, seed: SEED, end: true });
    let i = 0;
    const bad = [];
    const drain = (async () => {
      for await (const m of q) {
        const err = checkMessage(m, SEED, i);
        if (err && bad.length < 5) bad.push(err);
        i++;
      }
    })();
    const producerFailed = p.done.then((r) => {
      if (r.code !== 0) throw new Error(`producer exited ${r.code ?? r.signal}\n${r.stderr}`);
      return new Promise(() => {}); // a clean exit: the drain decides
    });
    await withTimeout(Promise.race([drain, producerFailed]), 15000, 'for await to finish');
    await finish(p, 'producer');
    assert.deepEqual(bad, []);
    assert.equal(i, N);
    await assert.rejects(q.receive({ timeout: 1000 }), expectCode(ENDED));
  } finally {
    await reap(...procs);
    dispose();
  }

  // A consumer parked in receive() in another process when end() is called.
  const second = makeQueue('q-end-wake', { capacity: 1024 });
  const procs2 = [];
  try {
    const raw = rawQueue(second.name);
    try {
      const waiter = startPeer(procs2, ['wait-end', second.name]);
      await waiter.line(/^waiting$/);
      await waitUntil(() => raw.u32(DATA_WAITERS_OFF) === 1, 5000, 'the peer to park');
      const t0 = performance.now();
      second.q.end();
      const line = await waiter.line(/^(error|got) /);
      assert.match(line, /^error ERR_SHMKIT_QUEUE_ENDED /);
      assert.ok(performance.now() - t0 < 1000, 'the parked receiver was not woken by end()');
    } finally {
      raw.seg.close();
    }
  } finally {
    await reap(...procs2);
    second.dispose();
  }
});

// ---- 5. bad input ----------------------------------------------------------------

test('a message over maxMessage is a RangeError (ERR_OUT_OF_RANGE) on every path, and nothing is written', async () => {
  const { q, dispose } = makeQueue('q-big', { capacity: 256 });
  try {
    assert.equal(q.capacity, 256);
    assert.equal(q.maxMessage, 128); // CAPACITY / 2
    assert.ok(q.trySend('already there'));
    const before = () => [q.length, q.bytesUsed];
    const snapshot = before();
    for (const m of [Buffer.alloc(129), 'x'.repeat(129), 'é'.repeat(65) /* 65 chars, 130 bytes */, new Uint8Array(1 << 20)]) {
      assert.throws(() => q.trySend(m), expectCode('ERR_OUT_OF_RANGE', RangeError));
      assert.throws(() => q.sendSync(m, { timeout: 10 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
      await assert.rejects(q.send(m, { timeout: 10 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
      assert.throws(() => q.trySendMany(['fits', m]), expectCode('ERR_OUT_OF_RANGE', RangeError));
      assert.deepEqual(before(), snapshot);
    }
    assert.throws(() => q.tryReserve(129), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => q.tryReserve(-1), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.deepEqual(before(), snapshot);
    // Exactly maxMessage fits (bytes, not characters): two cells after the first one.
    assert.ok(q.trySend('é'.repeat(64)));
    assert.equal(q.bytesUsed, 3 * CELL);
    assert.equal(q.tryReceive().toString(), 'already there');
    assert.equal(q.tryReceive().toString(), 'é'.repeat(64));
    assert.equal(q.tryReceive(), undefined);
  } finally {
    dispose();
  }
});

test('wrong message types are TypeErrors (ERR_INVALID_ARG_TYPE) and write nothing; bad create options are refused', async () => {
  const { q, dispose } = makeQueue('q-types', { capacity: 256 });
  try {
    for (const m of [42, { a: 1 }, null, undefined, true, [1, 2], new ArrayBuffer(4), 10n]) {
      assert.throws(() => q.trySend(m), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
      assert.throws(() => q.sendSync(m, { timeout: 10 }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
      await assert.rejects(q.send(m, { timeout: 10 }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
      assert.throws(() => q.trySendMany(['ok', m]), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    }
    assert.throws(() => q.trySendMany('abc'), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => q.tryReserve('4'), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.deepEqual([q.length, q.bytesUsed], [0, 0]);
    assert.throws(() => q.commit(), expectCode('ERR_INVALID_STATE'));
    assert.throws(() => q.release(), expectCode('ERR_INVALID_STATE'));
  } finally {
    dispose();
  }

  // Geometry: rounded up to a power of two >= 64; nonsense refused before anything is created.
  for (const [capacity, expected] of [[1, 64], [64, 64], [100, 128], [4097, 8192]]) {
    const { q: r, dispose: d } = makeQueue('q-round', { capacity });
    try {
      assert.equal(r.capacity, expected);
      assert.equal(r.maxMessage, expected / 2);
    } finally {
      d();
    }
  }
  // Header and slots, then 8 bytes of cell meta per 64-byte cell (rounded up to 64), then the data.
  assert.equal(Queue.byteLength({ capacity: 100 }), 4736 + 64 + 128);
  assert.equal(Queue.byteLength({ capacity: 4096 }), 4736 + 512 + 4096);
  assert.equal(Queue.byteLength({ capacity: 2 ** 20 }), 4736 + 2 ** 17 + 2 ** 20);
  for (const [options, code, Type] of [
    [{ capacity: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ capacity: 2 ** 30 + 1 }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ capacity: 1.5 }, 'ERR_OUT_OF_RANGE', RangeError],
    [{ capacity: '64' }, 'ERR_INVALID_ARG_TYPE', TypeError],
    [{}, 'ERR_INVALID_ARG_TYPE', TypeError],
  ]) {
    const n = named('q-badopt');
    try {
      assert.throws(() => Queue.create(n, options).close(), expectCode(code, Type), JSON.stringify(options));
      assert.equal(existsSync(`/dev/shm${n}`), false, `${JSON.stringify(options)} left a segment behind`);
    } finally {
      unlinkQuietly(n);
    }
  }
});

test('Queue.create with a bad encoding option creates nothing', () => {
  const n = named('q-badenc');
  try {
    assert.throws(() => Queue.create(n, { capacity: 64, encoding: 'xml' }).close(), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.equal(existsSync(`/dev/shm${n}`), false, 'a failed create left a segment behind');
  } finally {
    unlinkQuietly(n);
  }
});

test('openOrCreate creates once then opens (the same capacity after rounding; another one is ERR_SHMKIT_MISMATCH); unlink removes the name', async () => {
  const name = named('q-ooc');
  try {
    const a = Queue.openOrCreate(name, { capacity: 100 });
    assert.throws(() => Queue.openOrCreate(name, { capacity: 4096 }), expectCode('ERR_SHMKIT_MISMATCH'));
    const b = Queue.openOrCreate(name, { capacity: 128 }); // exists: opened as it is
    try {
      assert.equal(a.capacity, 128);
      assert.equal(b.capacity, 128);
      assert.ok(a.trySend('via a'));
      assert.equal(b.tryReceive()?.toString(), 'via a'); // no role to hand over: the same turn works
    } finally {
      a.close();
      b.close();
    }
    Queue.unlink(name);
    assert.equal(existsSync(`/dev/shm${name}`), false);
    assert.throws(() => Queue.open(name), expectCode('ENOENT'));
    assert.throws(() => Queue.unlink(name), expectCode('ENOENT'));
  } finally {
    unlinkQuietly(name);
  }
});

test('a Mutex or Notifier opened as a Queue, and a Queue opened as a Mutex or Notifier: ERR_SHMKIT_BAD_LAYOUT', async () => {
  const mx = named('q-as-mutex');
  const nt = named('q-as-notifier');
  const { name, dispose } = makeQueue('q-kind', { capacity: 64 });
  try {
    Mutex.create(mx).close();
    Notifier.create(nt).close();
    assert.throws(() => Queue.open(mx), expectCode(BAD_LAYOUT));
    assert.throws(() => Queue.open(nt), expectCode(BAD_LAYOUT));
    assert.throws(() => Mutex.open(name), expectCode(BAD_LAYOUT));
    assert.throws(() => Notifier.open(name), expectCode(BAD_LAYOUT));
    // Embedded: attach where a Mutex was initialised.
    const sab = new SharedArrayBuffer(16384);
    Mutex.init(sab, 0).close();
    assert.throws(() => Queue.attach(sab, 0), expectCode(BAD_LAYOUT));
    const emb = Queue.init(sab, 1024, { capacity: 100 });
    try {
      assert.ok(emb.trySend('embedded'));
      const other = Queue.attach(sab, 1024);
      assert.equal(other.capacity, 128);
      assert.equal(other.tryReceive().toString(), 'embedded');
      other.close();
      assert.throws(() => Mutex.attach(sab, 1024), expectCode(BAD_LAYOUT));
    } finally {
      emb.close();
    }
  } finally {
    unlinkQuietly(mx, nt);
    dispose();
  }
});

/** Copies of a real queue's memory with `patch` applied, as new segments; returns their names. */
function corruptedCopies(label, count, patch, capacity = 1024) {
  const { name, dispose } = makeQueue(`${label}-src`, { capacity });
  const names = [];
  try {
    const raw = rawQueue(name);
    const image = Buffer.from(raw.bytes);
    raw.seg.close();
    for (let i = 0; i < count; i++) {
      const n = named(label);
      const seg = Segment.create(n, { size: image.length });
      try {
        const bytes = Buffer.from(image);
        patch(bytes, i);
        new Uint8Array(seg.buffer).set(bytes);
      } finally {
        seg.close();
      }
      names.push(n);
    }
  } finally {
    dispose();
  }
  return names;
}

async function openEach(names) {
  const r = await run(process.execPath, [PEER, 'open-each', ...names], { timeoutMs: 20000 });
  assert.equal(r.code, 0, `open-each exited ${r.code ?? r.signal} (a crash?)\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

test('a queue whose header or geometry was overwritten with garbage: ERR_SHMKIT_BAD_LAYOUT on open, no crash, no hang', async () => {
  const MAGIC = 0x4b4d4853;
  const names = [
    // Random bytes over the whole common header (magic never left valid or 0).
    ...corruptedCopies('q-garbage-hdr', 8, (b) => {
      randomBytes(64).copy(b, 0);
      const m = b.readUInt32LE(0);
      if (m === MAGIC || m === 0) b.writeUInt32LE(0xdeadbeef, 0);
    }),
    // Magic intact, random kind/version/sizes.
    ...corruptedCopies('q-garbage-fields', 6, (b) => randomBytes(60).copy(b, 4)),
    // Random bytes over the geometry (CAPACITY, FLAGS, MAX_MSG and the rest of that line).
    ...corruptedCopies('q-garbage-geo', 8, (b) => randomBytes(64).copy(b, 64)),
    // CAPACITY not a power of two / MAX_MSG not CAPACITY / 2 (1024 / 2 = 512).
    ...corruptedCopies('q-garbage-cap', 1, (b) => b.writeUInt32LE(1000, CAPACITY_OFF)),
    ...corruptedCopies('q-garbage-max', 1, (b) => b.writeUInt32LE(505, MAX_MSG_OFF)),
    // Never initialised: all zero (the opener waits up to 1 s for a creator).
    ...corruptedCopies('q-garbage-zero', 1, (b) => b.fill(0)),
  ];
  try {
    const t0 = performance.now();
    const results = await openEach(names);
    const elapsed = performance.now() - t0;
    assert.equal(results.length, names.length);
    for (const r of results) assert.equal(r.code, BAD_LAYOUT, `${r.name}: ${JSON.stringify(r)}`);
    assert.ok(elapsed < 10000, `opening took ${elapsed.toFixed(0)} ms`);
  } finally {
    unlinkQuietly(...names);
  }
});

test('a geometry that is consistent but disagrees with the object size: ERR_SHMKIT_BAD_LAYOUT', async () => {
  const names = [
    ...corruptedCopies('q-geo-double', 1, (b) => {
      b.writeUInt32LE(2048, CAPACITY_OFF);
      b.writeUInt32LE(2048 / 2, MAX_MSG_OFF);
    }),
    ...corruptedCopies('q-geo-half', 1, (b) => {
      b.writeUInt32LE(512, CAPACITY_OFF);
      b.writeUInt32LE(512 / 2, MAX_MSG_OFF);
    }),
  ];
  try {
    const results = await openEach(names);
    for (const r of results) assert.equal(r.code, BAD_LAYOUT, `${r.name}: ${JSON.stringify(r)}`);
  } finally {
    unlinkQuietly(...names);
  }
  // Embedded: a geometry claiming more than the buffer holds.
  const sab = new SharedArrayBuffer(8192);
  Queue.init(sab, 0, { capacity: 1024 }).close();
  new Int32Array(sab)[CAPACITY_OFF / 4] = 4096;
  new Int32Array(sab)[MAX_MSG_OFF / 4] = 4096 / 2;
  assert.throws(() => Queue.attach(sab, 0), expectCode(BAD_LAYOUT));
});

/**
 * A 1024-byte queue (16 cells) holding messages of 10, 20 and 30 bytes ('a',
 * 'b', 'c'), placed so that 'b' is in the LAST cell of the data area: 'a' in
 * cell 14, 'b' in cell 15, 'c' in cell 0 of the next lap (two messages of 8
 * and 6 cells were sent and received first to move the cursors there).
 * Returns its name and the byte offsets of 'b''s meta entry (STAMP, then LEN).
 */
function threeMessages(label) {
  const q = makeQueue(label, { capacity: 1024 });
  for (const len of [512, 384]) {
    assert.ok(q.q.trySend(Buffer.alloc(len)));
    assert.equal(q.q.tryReceive()?.length, len);
  }
  for (const [len, ch] of [[10, 'a'], [20, 'b'], [30, 'c']]) assert.ok(q.q.trySend(ch.repeat(len)));
  const stampOff = META_OFF + metaEntry(15, 1024 / CELL) * 8;
  const raw = rawQueue(q.name);
  try {
    // The placement this relies on (docs/LAYOUT.md: cell i's meta at 4736 + 8 metaEntry(i), STAMP = position | state).
    assert.deepEqual([raw.u32(CLAIM_OFF), raw.u32(RESERVE_OFF)], [14 * CELL, 17 * CELL]);
    assert.deepEqual([raw.u32(stampOff), raw.u32(stampOff + 4)], [(15 * CELL) | MESSAGE, 20], "'b' is not a 20-byte MESSAGE in cell 15");
    assert.equal(Buffer.from(raw.bytes.subarray(dataOffset(1024) + 15 * CELL, dataOffset(1024) + 15 * CELL + 20)).toString(), 'b'.repeat(20));
  } finally {
    raw.seg.close();
  }
  return { ...q, stampOff, lenOff: stampOff + 4, position: 15 * CELL };
}

async function report(name, k) {
  const r = await run(process.execPath, [PEER, 'report', name, k], { timeoutMs: 15000 });
  assert.equal(r.code, 0, `report exited ${r.code ?? r.signal} (a crash?)\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Corrupts 'b' of threeMessages() with `corrupt(raw, b)`, then receives in another process and here: 'a', then ERR_SHMKIT_CORRUPT. */
async function expectCorrupt(what, corrupt) {
  const q = threeMessages('q-corrupt');
  try {
    const raw = rawQueue(q.name);
    try {
      corrupt(raw, q);
    } finally {
      raw.seg.close();
    }
    const got = await report(q.name, 3);
    assert.deepEqual(got, [{ len: 10, hex: Buffer.from('a'.repeat(10)).toString('hex') }, { code: CORRUPT }], `${what}: the consumer got ${JSON.stringify(got)}`);
    // In this process too (tryReceive never waits): the record stays refused.
    assert.throws(() => q.q.tryReceive(), expectCode(CORRUPT), what);
  } finally {
    q.dispose();
  }
}

test('a corrupted MESSAGE record at CLAIM (unknown stamp state, LEN negative or over maxMessage, cells past the end of the data area): the receive throws ERR_SHMKIT_CORRUPT, no hang, no crash', async () => {
  const state = (st) => (raw, b) => raw.setU32(b.stampOff, b.position | st);
  const len = (n) => (raw, b) => raw.setI32(b.lenOff, n);
  const cases = [
    // Known states are 0..3, 16..31 (WRITING) and 32..47 (TAKEN).
    ['state 4', state(4)],
    ['state 15', state(15)],
    ['state 48', state(48)],
    ['state 63', state(63)],
    ['LEN -3', len(-3)],
    ['LEN -2^31', len(-(2 ** 31))],
    ['LEN maxMessage + 1', len(513)],
    ['LEN 0x7fffffff', len(0x7fffffff)],
    ['LEN random over maxMessage', len(513 + randomInt(2 ** 31 - 514))],
    // 'b' is in the last cell: a message of more than 64 bytes would run past the end.
    ['LEN 65: two cells from the last one', len(65)],
    ['LEN maxMessage: 8 cells from the last one', len(512)],
  ];
  for (const [what, corrupt] of cases) await expectCorrupt(what, corrupt);
});

test('a SKIP record of 0 cells, or of cells running past the end of the data area, is refused, not skipped', async () => {
  const skip = (n) => (raw, b) => {
    raw.setI32(b.lenOff, n);
    raw.setU32(b.stampOff, b.position | SKIP);
  };
  // A correct SKIP there (one cell, -LEN = 1) is skipped: 'a', then 'c'.
  const ok = threeMessages('q-skip-ok');
  try {
    const raw = rawQueue(ok.name);
    try {
      skip(-1)(raw, ok);
    } finally {
      raw.seg.close();
    }
    assert.deepEqual((await report(ok.name, 2)).map((r) => r.len), [10, 30], 'a one-cell SKIP was not skipped');
  } finally {
    ok.dispose();
  }
  for (const [what, corrupt] of [
    ['LEN 0 (no cells)', skip(0)],
    ['LEN -2 (two cells from the last one)', skip(-2)],
    ['LEN -17 (more cells than the ring)', skip(-17)],
    ['LEN -2^31', skip(-(2 ** 31))],
  ]) await expectCorrupt(`SKIP ${what}`, corrupt);
});

test("another process's open reservation blocks no producer: trySend, tryReserve, trySendMany and sendSync succeed at once; consumers see nothing after its record until it is committed, then everything in ring order", async () => {
  const SEED = 51;
  const { name, q, dispose } = makeQueue('q-second', { capacity: 1024 }); // 16 cells: nothing below wraps
  const r = Queue.open(name);
  const procs = [];
  try {
    const holder = startPeer(procs, ['hold-reservation', name, SEED]);
    await holder.line(/^reserved$/);
    const held = sizeOf(SEED, 0, 1, q.maxMessage);
    assert.equal(q.trySend('second'), true, "trySend was turned away by another process's open reservation");
    const view = q.tryReserve(4);
    assert.ok(view, "tryReserve was turned away by another process's open reservation");
    view.set(Buffer.from('thrd'));
    q.commit();
    assert.equal(q.trySendMany(['fourth']), 1);
    q.sendSync('fifth', { timeout: 50 }); // ETIMEDOUT if the reservation blocked it
    assert.equal(q.stats().producerSlots, 2, "the holder's slot (its reservation is open) and this handle's (for this turn)");
    assert.deepEqual([q.length, q.bytesUsed], [4, (cellsFor(held) + 4) * CELL]);
    // Ring order: the open reservation is first, and holds back everything after it.
    assert.equal(r.tryReceive(), undefined, "a message went past another process's open reservation");
    assert.equal(r.lastTryResult, 'empty');
    assert.throws(() => r.receiveSync({ timeout: 300 }), expectCode('ETIMEDOUT'));
    const pending = r.receive({ timeout: 3000 });
    holder.send('\n');
    await holder.line(/^committed$/);
    assert.equal(checkMessage(await pending, SEED, 0, held), null, "the holder's message is not the first");
    assert.deepEqual(r.tryReceiveMany(10).map(String), ['second', 'thrd', 'fourth', 'fifth']);
    holder.child.stdin.end();
    await withTimeout(holder.done, STEP_MS, 'holder exit');
    assert.deepEqual([q.length, q.bytesUsed], [0, 0]);
  } finally {
    r.close();
    await reap(...procs);
    dispose();
  }
});

test("closing a second handle in the same thread leaves another handle's open reservation alone: its slot stays held, the same thread's consumer does not take it for a dead claim, commit delivers it first", async () => {
  const { name, dispose } = makeQueue('q-two-handles', { capacity: 1024 });
  try {
    const r = await run(process.execPath, [PEER, 'two-handles', name], { timeoutMs: 15000 });
    assert.equal(r.code, 0, `two-handles exited ${r.code ?? r.signal}\n${r.stderr}`);
    const rep = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.deepEqual(rep.uncaught, []);
    assert.equal(rep.slotsBefore, 1, "A's open reservation holds one producer slot");
    assert.equal(rep.slotsAfterOtherClose, 1, "closing B released A's slot (A's claim would look like a dead producer's)");
    assert.equal(rep.otherSent, true, "a third handle could not send while A's reservation was open");
    assert.equal(rep.beforeCommit, null, "a consumer of the same thread took A's open claim for a dead one, or went past it");
    assert.deepEqual(rep.received, ['01020304', Buffer.from('other').toString('hex')], "A's reservation was lost or moved");
  } finally {
    dispose();
  }
});

test('two handles of one queue in one thread: the second can send and receive right after the first did, in the same turn', async () => {
  const { name, q: a, dispose } = makeQueue('q-same-thread', { capacity: 1024 });
  const b = Queue.open(name);
  try {
    assert.ok(a.trySend('from a'));
    assert.ok(b.trySend('from b'), 'b could not send right after a');
    b.sendSync('from b, sync', { timeout: 100 });
    assert.equal(a.tryReceive()?.toString(), 'from a');
    assert.equal(b.tryReceive()?.toString(), 'from b');
    assert.equal(b.receiveSync({ timeout: 100 }).toString(), 'from b, sync');
  } finally {
    b.close();
    dispose();
  }
});

// ---- 6. encodings, edge sizes, wrap-around, blocking, timeouts ---------------------

test("encoding 'json' and 'v8' round-trip objects (v8: Map, Set, Date, BigInt, typed arrays)", async () => {
  const jsonValues = [
    { a: 1, b: [1, 2, { c: 'x', d: [null, true, false] }], e: { f: { g: { h: 'deep' } } } },
    [1, 'two', 3.5, -0.25, [], {}],
    'a plain string',
    'ünïcödé 日本 🎉',
    42,
    null,
    false,
  ];
  const v8Values = [
    new Map([['a', new Date(0)], ['b', new Map([[1, new Set([1, 2, 3])]])]]),
    { when: new Date('2024-02-29T12:00:00Z'), big: 2n ** 70n, re: /x+y/gi, bytes: new Uint8Array([1, 2, 3]), f64: new Float64Array([1.5, -2]) },
    [undefined, null, NaN, -0, Infinity],
    'string',
  ];
  for (const [encoding, values] of [['json', jsonValues], ['v8', v8Values]]) {
    const { name, q, dispose } = makeQueue(`q-${encoding}`, { capacity: 4096, encoding });
    const r = Queue.open(name, { encoding });
    const raw = Queue.open(name);
    try {
      for (const v of values) {
        assert.ok(q.trySend(v));
        assert.deepEqual(r.tryReceive(), v, `${encoding}: ${String(v)}`);
      }
      // Batches and the blocking paths encode too.
      assert.equal(q.trySendMany(values), values.length);
      assert.deepEqual(r.tryReceiveMany(100), values);
      q.sendSync(values[0], { timeout: 1000 });
      assert.deepEqual(r.receiveSync({ timeout: 1000 }), values[0]);
      // On the wire: the encoded bytes (a handle without encoding sees them raw;
      // the same turn: there is no role to hand over).
      assert.ok(q.trySend(values[0]));
      const wire = raw.tryReceive();
      const expected = encoding === 'json' ? Buffer.from(JSON.stringify(values[0])) : v8Serialize(values[0]);
      assert.deepEqual(wire, expected);
      if (encoding === 'json') {
        assert.throws(() => q.trySend(undefined), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
        assert.throws(() => q.trySend(() => 1), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
      } else {
        assert.throws(() => q.trySend(() => 1)); // not cloneable
      }
      assert.deepEqual([q.length, q.bytesUsed], [0, 0]);
    } finally {
      r.close();
      raw.close();
      dispose();
    }
  }
});

test('zero-length messages and multi-byte UTF-8 strings round-trip', () => {
  const { q, dispose } = makeQueue('q-edge', { capacity: 512 }); // 8 cells
  try {
    assert.ok(q.trySend(Buffer.alloc(0)));
    assert.ok(q.trySend(''));
    assert.ok(q.trySend(new Uint8Array(0)));
    q.tryReserve(0);
    q.commit();
    const v = q.tryReserve(16);
    v.fill(7);
    q.commit(0);
    assert.equal(q.length, 5);
    assert.equal(q.bytesUsed, 5 * CELL); // an empty message still takes a cell
    for (let i = 0; i < 4; i++) {
      const m = q.tryReceive();
      assert.ok(Buffer.isBuffer(m));
      assert.equal(m.length, 0);
    }
    const view = q.tryPeek();
    assert.equal(view.length, 0);
    q.release();
    assert.equal(q.tryReceive(), undefined);

    const strings = ['€', '𝄞', 'naïve café', '日本語のテキスト', '👩‍👩‍👧‍👦', 'é'.repeat(60), 'a\u0000b'];
    for (const s of strings) {
      assert.ok(q.trySend(s), s);
      const m = q.tryReceive();
      assert.ok(Buffer.isBuffer(m));
      assert.equal(m.length, Buffer.byteLength(s));
      assert.equal(m.toString('utf8'), s);
    }
    assert.deepEqual([q.length, q.bytesUsed], [0, 0]);
  } finally {
    dispose();
  }
});

test('wrap-around in a 256-byte queue (4 cells): 20 000 messages of 0..128 bytes through every API, SKIP records many times, data intact', () => {
  const SEED = 61;
  const { name, q, dispose } = makeQueue('q-wrap', { capacity: 256 });
  const raw = rawQueue(name);
  try {
    const reserve = () => raw.u32(RESERVE_OFF);
    const SIZES = [120, 1, 57, 0, 128, 119, 8, 100, 33, 64, 11, 65, 12, 96];
    const lenOf = (seq) => SIZES[seq % SIZES.length];
    let sent = 0;
    let received = 0;
    let skips = 0; // fillers to the end of the data area, and the unused rest of shortened reservations
    const bad = [];
    const check = (m) => {
      const err = checkMessage(m, SEED, received, lenOf(received));
      if (err && bad.length < 5) bad.push(err);
      received++;
    };
    const scratch = Buffer.alloc(128);
    while (sent < 20000) {
      // Fill until full, through a random API each time.
      for (;;) {
        const len = lenOf(sent);
        const before = reserve();
        const api = randomInt(3);
        let ok;
        if (api === 0) {
          ok = q.trySend(scratch.subarray(0, writeMessage(scratch, SEED, sent, len)));
        } else if (api === 1) {
          const view = q.tryReserve(Math.min(q.maxMessage, len + randomInt(70)));
          ok = view !== undefined;
          if (ok) {
            writeMessage(view, SEED, sent, len);
            q.commit(len);
          }
        } else {
          ok = q.trySendMany([makeMessage(SEED, sent, len)]) === 1;
        }
        if (!ok) break;
        const moved = (reserve() - before) >>> 0;
        if (moved > cellsFor(len) * CELL) skips++;
        assert.ok(moved >= cellsFor(len) * CELL && moved <= 256, `RESERVE moved ${moved} for a ${len}-byte message`);
        sent++;
        assert.ok(q.bytesUsed <= 256 && q.bytesUsed % CELL === 0, `bytesUsed ${q.bytesUsed}`);
      }
      assert.equal(q.length, sent - received);
      // Drain a random part of it.
      let take = randomInt(1, q.length + 1);
      while (take > 0) {
        const api = randomInt(3);
        if (api === 0) {
          check(q.tryReceive());
          take--;
        } else if (api === 1) {
          const view = q.tryPeek();
          check(view === undefined ? view : Buffer.from(view));
          q.release();
          take--;
        } else {
          const batch = q.tryReceiveMany(Math.min(take, 1 + randomInt(3)));
          assert.ok(batch.length > 0);
          for (const m of batch) check(m);
          take -= batch.length;
        }
      }
    }
    for (let m; (m = q.tryReceive()) !== undefined;) check(m);
    assert.deepEqual(bad, []);
    assert.equal(received, sent);
    assert.ok(skips > 1000, `only ${skips} SKIP records`);
    assert.ok(reserve() / 256 > 1000, `RESERVE ${reserve()}: the ring wrapped too few times`);
    assert.deepEqual([q.length, q.bytesUsed], [0, 0]);
  } finally {
    raw.seg.close();
    dispose();
  }
});

test('wrap-around across processes: 100 000 messages of 1..128 bytes through a 256-byte queue (4 cells)', async (t) => {
  const N = 100_000;
  const SEED = 62;
  const { name, q, dispose } = makeQueue('q-wrap-x', { capacity: 256 });
  const procs = [];
  try {
    const t0 = performance.now();
    const p = startChild(procs, PRODUCER, { name, api: 'sync', count: N, seed: SEED, min: 1, max: 128, end: true }, 40000);
    const c = startChild(procs, CONSUMER, { name, api: 'sync', count: N, seed: SEED, min: 1, max: 128, expectEnd: true }, 40000);
    const [pr, cr] = await Promise.all([finish(p, 'producer', 40000), finish(c, 'consumer', 40000)]);
    assert.equal(pr.sent, N);
    assert.deepEqual(cr, { received: N, ended: true, error: null });
    const raw = rawQueue(name);
    const wraps = raw.u32(RESERVE_OFF) / 256;
    raw.seg.close();
    assert.ok(wraps > 10000, `only ${wraps} laps`);
    assert.deepEqual([q.length, q.bytesUsed], [0, 0]);
    t.diagnostic(`${N} messages through 256 bytes: ${Math.floor(wraps)} laps, ${(performance.now() - t0).toFixed(0)} ms`);
  } finally {
    await reap(...procs);
    dispose();
  }
});

test('sendSync blocked on a full queue in another process is released by a receive here; receiveSync blocked there by a send here', async () => {
  const SEED = 71;
  const { name, q, dispose } = makeQueue('q-block', { capacity: 256 });
  const raw = rawQueue(name);
  const procs = [];
  try {
    const filler = startPeer(procs, ['fill-then-send', name, SEED]);
    const full = await filler.line(/^full \d+$/);
    const n = Number(full.split(' ')[1]);
    assert.ok(n > 0);
    await waitUntil(() => raw.u32(SPACE_WAITERS_OFF) === 1, 5000, 'the sender to park');
    await sleep(100);
    assert.ok(!/sent/.test(filler.stdout), 'sendSync returned while the queue was full');
    assert.equal(q.length, n);
    // Receive one message at a time until the freed room fits the blocked
    // message: the sender must then be released at once.
    const got = [];
    let latency = -1;
    while (latency < 0) {
      assert.ok(got.length < n, 'every message was received and the sender is still blocked');
      const t = performance.now();
      got.push(q.receiveSync({ timeout: 1000 }));
      try {
        await filler.line(/^sent /, 500);
        latency = performance.now() - t;
      } catch {
        assert.ok(filler.alive(), `the sender died\n${filler.stderr}`);
      }
    }
    assert.ok(latency < 500, `the blocked sender took ${latency.toFixed(0)} ms to notice the room`);
    await withTimeout(filler.done, STEP_MS, 'filler exit');
    for (let m; (m = q.tryReceive()) !== undefined;) got.push(m);
    assert.equal(got.length, n + 1);
    got.forEach((m, seq) => assert.equal(checkMessage(m, SEED, seq, sizeOf(SEED, seq, 1, q.maxMessage)), null));

    // The other direction: a receiver parked in another process.
    const waiter = startPeer(procs, ['receive-one', name]);
    await waiter.line(/^waiting$/);
    await waitUntil(() => raw.u32(DATA_WAITERS_OFF) === 1, 5000, 'the receiver to park');
    const t1 = performance.now();
    assert.ok(q.trySend('wake up'));
    const line = await waiter.line(/^(got|error) /);
    assert.match(line, new RegExp(`^got ${Buffer.from('wake up').toString('hex')} `));
    assert.ok(performance.now() - t1 < 1000);
  } finally {
    await reap(...procs);
    raw.seg.close();
    dispose();
  }
});

test('timeouts: receive on an empty queue and send on a full one give ETIMEDOUT after about the timeout, writing nothing; abort works', async () => {
  const { q, dispose } = makeQueue('q-timeout', { capacity: 128 }); // two cells
  try {
    const timed = async (fn) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    let ms = await timed(() => assert.throws(() => q.receiveSync({ timeout: 80 }), expectCode('ETIMEDOUT')));
    assert.ok(ms >= 70 && ms < 1000, `receiveSync timed out after ${ms} ms`);
    ms = await timed(() => assert.rejects(q.receive({ timeout: 80 }), expectCode('ETIMEDOUT')));
    assert.ok(ms >= 70 && ms < 1000, `receive timed out after ${ms} ms`);

    assert.equal(q.maxMessage, 64);
    assert.ok(q.trySend(Buffer.alloc(64, 1)));
    assert.ok(q.trySend(Buffer.alloc(24, 2)));
    assert.equal(q.trySend('x'), false);
    const snapshot = [q.length, q.bytesUsed];
    ms = await timed(() => assert.throws(() => q.sendSync('x', { timeout: 80 }), expectCode('ETIMEDOUT')));
    assert.ok(ms >= 70 && ms < 1000, `sendSync timed out after ${ms} ms`);
    ms = await timed(() => assert.rejects(q.send('x', { timeout: 80 }), expectCode('ETIMEDOUT')));
    assert.ok(ms >= 70 && ms < 1000, `send timed out after ${ms} ms`);
    assert.deepEqual([q.length, q.bytesUsed], snapshot);
    assert.throws(() => q.sendSync('x', { timeout: 0 }), expectCode('ETIMEDOUT'));

    const ac = new AbortController();
    const pending = q.send('x', { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 30);
    await assert.rejects(withTimeout(pending, 2000, 'aborted send'), /stop/);
    assert.deepEqual([q.length, q.bytesUsed], snapshot);
    assert.deepEqual(q.tryReceiveMany(5).map((m) => m[0]), [1, 2]);
    const ac2 = new AbortController();
    const waiting = q.receive({ signal: ac2.signal });
    setTimeout(() => ac2.abort(new Error('stop receiving')), 30);
    await assert.rejects(withTimeout(waiting, 2000, 'aborted receive'), /stop receiving/);
  } finally {
    dispose();
  }
});

// Positions are byte counters that pass 2^31 (negative as Int32) and 2^32
// (back to 0) in a long-lived queue. Start a fresh embedded queue just below
// each boundary and cross it with every API. A consistent empty ring there
// (docs/LAYOUT.md, "Queue (kind 7, version 3)"): HEAD = CLAIM = RESERVE =
// start, and every cell's STAMP a leftover of the lap before: cell i's STAMP
// is the position p >= start with (p & (CAPACITY - 1)) >> 6 == i, as if the
// record there one lap before had been freed.
test('positions crossing 2^31 and 2^32: every API keeps working', () => {
  const CAPACITY = 1024;
  for (const start of [2 ** 31 - 4096, 2 ** 32 - 4096, 2 ** 32 - 4096 + 3 * CELL /* not lap-aligned */]) {
    const sab = new SharedArrayBuffer(Queue.byteLength({ capacity: CAPACITY }));
    const q = Queue.init(sab, 0, { capacity: CAPACITY });
    const i32 = new Int32Array(sab);
    i32[RESERVE_OFF / 4] = start | 0;
    i32[CLAIM_OFF / 4] = start | 0;
    i32[HEAD_OFF / 4] = start | 0;
    for (let i = 0; i < CAPACITY / CELL; i++) {
      const p = start + ((i * CELL - (start % CAPACITY) + CAPACITY) % CAPACITY);
      i32[(META_OFF + 8 * metaEntry(i, CAPACITY / CELL)) / 4] = p | 0; // FREE (state 0) for position p
    }
    try {
      let n = 0;
      for (let i = 0; i < 300; i++) {
        const size = (i * 37) % 200;
        const m = Buffer.alloc(size, i & 0xff);
        assert.ok(q.trySend(m), `trySend ${i} (positions from ${start})`);
        assert.deepEqual(q.tryReceive(), m, `tryReceive ${i}`);
        const view = q.tryReserve(size);
        assert.ok(view, `reserve ${i}`);
        view.fill((i + 1) & 0xff);
        q.commit();
        const peeked = q.tryPeek();
        assert.ok(peeked && peeked.length === size && peeked.every((b) => b === ((i + 1) & 0xff)), `peek ${i}`);
        q.release();
        assert.equal(q.trySendMany([m, m]), 2);
        assert.equal(q.tryReceiveMany(10).length, 2);
        n++;
      }
      assert.equal(n, 300);
      assert.ok(((i32[RESERVE_OFF / 4] - start) >>> 0) > 4096, 'the boundary was crossed');
      assert.equal(i32[RESERVE_OFF / 4], i32[CLAIM_OFF / 4]);
      assert.equal(q.length, 0);
      assert.equal(q.bytesUsed, 0);
    } finally {
      q.close();
    }
  }
});

// 3 producers -> 3 consumers across processes, messages of random sizes with
// checksums: each delivered exactly once, in order per producer, none corrupt.
for (const [api, perProducer] of [['sync', 333_334], ['async', 333_334], ['reserve', 333_334]]) {
  test(`3 producers x 3 consumers (${api}), ${3 * perProducer} messages: exactly once, in order per producer`, async (t) => {
    const name = uniqueName(`q-mpmc-${api}`);
    const q = Queue.create(name, { capacity: 1 << 18 });
    const MPMC = fixture('queue-mpmc.mjs');
    const consumerApi = api === 'reserve' ? 'peek' : api;
    try {
      const started = performance.now();
      const consumers = [0, 1, 2].map(() => run(process.execPath, [MPMC, JSON.stringify({ role: 'consumer', name, producers: 3, api: consumerApi })], { timeoutMs: 120_000 }));
      const producers = [0, 1, 2].map((id) => run(process.execPath, [MPMC, JSON.stringify({ role: 'producer', name, id, count: perProducer, api })], { timeoutMs: 120_000 }));
      for (const p of await Promise.all(producers)) assert.equal(p.code, 0, p.stderr);
      q.end();
      const reports = [];
      for (const c of await Promise.all(consumers)) {
        assert.equal(c.code, 0, c.stderr);
        reports.push(JSON.parse(c.stdout));
      }
      t.diagnostic(`${3 * perProducer} messages in ${(performance.now() - started).toFixed(0)} ms; per consumer ${reports.map((r) => r.stats.reduce((a, s) => a + s.count, 0)).join(' / ')}`);
      for (const r of reports) assert.equal(r.corrupt, 0, 'corrupt messages');
      const expectedSum = (perProducer * (perProducer - 1)) / 2;
      for (let id = 0; id < 3; id++) {
        const count = reports.reduce((a, r) => a + r.stats[id].count, 0);
        const seqSum = reports.reduce((a, r) => a + r.stats[id].seqSum, 0);
        assert.equal(count, perProducer, `producer ${id}: every message once`);
        assert.equal(seqSum, expectedSum, `producer ${id}: no duplicate replacing a lost one`);
        for (const r of reports) assert.equal(r.stats[id].outOfOrder, 0, `producer ${id}: in order at each consumer`);
      }
      assert.equal(q.length, 0);
    } finally {
      q.close();
      unlinkQuietly(name);
    }
  });
}

test('tryReceiveInto copies into the caller\'s buffer, keeps a message that does not fit, and refuses decoding handles', () => {
  const name = uniqueName('q-into');
  const q = Queue.create(name, { capacity: 4096 });
  const json = Queue.open(name, { encoding: 'json' });
  try {
    const target = Buffer.alloc(100, 0xee);
    assert.equal(q.tryReceiveInto(target), -1, 'empty');
    assert.ok(q.trySend(Buffer.from('hello')));
    assert.ok(q.trySend(Buffer.alloc(80, 1)));
    assert.ok(q.trySend(''));
    assert.equal(q.tryReceiveInto(target, 10), 5);
    assert.equal(target.subarray(10, 15).toString(), 'hello');
    assert.equal(target[9], 0xee, 'nothing written before the offset');
    assert.equal(target[15], 0xee, 'nothing written after the message');
    assert.throws(() => q.tryReceiveInto(target, 30), { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
    assert.equal(q.length, 2, 'the message that did not fit stayed');
    assert.equal(q.tryReceiveInto(target, 20), 80);
    assert.ok(target.subarray(20, 100).every((b) => b === 1));
    assert.equal(q.tryReceiveInto(target), 0, 'a zero-length message');
    assert.equal(q.length, 0);
    assert.throws(() => q.tryReceiveInto('x'), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => q.tryReceiveInto(target, 101), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => json.tryReceiveInto(target), { code: 'ERR_INVALID_STATE' });
  } finally {
    json.close();
    q.close();
    unlinkQuietly(name);
  }
});
