// Queue's public surface: the naming rule (trySendMany/tryReceiveMany/
// tryReserve/tryPeek never wait; the old names are gone), lastTryResult, the openOrCreate rule
// (a capacity given must match, compared after rounding), and a closed
// handle (every getter and method throws ERR_SHMKIT_CLOSED, except closed,
// name and close()), stats() of layout version 3 (no producer/consumer role
// any more, so no producerPid / consumerPid; slots held for a turn or an open
// reservation / peek; bytesUsed in whole 64-byte cells), and the blocking /
// async sends honouring `timeout` while all 16 producer slots are held by
// other handles (child: fixtures/queue-busy-peer.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment } from 'shmkit';
import { makeQueue as makeQueueNamed } from './fixtures/queue-handle.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, expectCode, unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { reap, reportOf, startNode } from './fixtures/proc.mjs';
import { fileURLToPath } from 'node:url';
import { CLAIM_OFF, DATA_SEQ_OFF, DATA_WAITERS_OFF, META_OFF, MESSAGE as STATE_MESSAGE, ORPHAN as STATE_ORPHAN, ORPHANS_OFF, STATE_MASK } from './fixtures/queue-layout.mjs';

const BUSY_PEER = fileURLToPath(new URL('./fixtures/queue-busy-peer.mjs', import.meta.url));
const named = trackedNames();

test('naming rule: trySendMany / tryReceiveMany / tryReserve / tryPeek exist and never wait; sendMany / receiveMany / reserve / peek are gone', () => {
  const h = makeQueueNamed(named, 'names', { capacity: 128 });
  try {
    assert.equal(typeof h.q.trySendMany, 'function');
    assert.equal(typeof h.q.tryReceiveMany, 'function');
    assert.equal('sendMany' in h.q, false);
    assert.equal('receiveMany' in h.q, false);
    // reserve / peek never wait and can come back empty-handed: tryReserve / tryPeek.
    for (const gone of ['reserve', 'peek']) assert.equal(gone in h.q, false, gone);
    assert.equal(typeof h.q.tryReserve, 'function');
    assert.equal(typeof h.q.tryPeek, 'function');
    // 128 bytes of ring are two 64-byte cells (messages up to 64 bytes): two
    // one-cell records fit, a third does not.
    assert.equal(h.q.maxMessage, 64);
    assert.equal(h.q.trySendMany(['a'.repeat(64), 'b', 'c'.repeat(64)]), 2);
    assert.equal(h.q.lastTryResult, 'full');
    assert.deepEqual(h.q.tryReceiveMany(5).map(String), ['a'.repeat(64), 'b']);
    assert.equal(h.q.lastTryResult, 'empty');
    assert.deepEqual(h.q.tryReceiveMany(5), []);
  } finally {
    h.dispose();
  }
});

test('lastTryResult: ok, full and empty say why a non-waiting call returned what it did', () => {
  const h = makeQueueNamed(named, 'last', { capacity: 128 }); // two one-cell messages fit
  try {
    const q = h.q;
    assert.equal(q.lastTryResult, 'ok');
    assert.equal(q.tryReceive(), undefined);
    assert.equal(q.lastTryResult, 'empty');
    assert.equal(q.tryReceiveInto(new Uint8Array(8)), -1);
    assert.equal(q.lastTryResult, 'empty');
    assert.equal(q.tryPeek(), undefined);
    assert.equal(q.lastTryResult, 'empty');
    assert.equal(q.trySend('x'.repeat(64)), true);
    assert.equal(q.lastTryResult, 'ok');
    assert.equal(q.trySend('y'.repeat(64)), true);
    assert.equal(q.trySend('z'), false);
    assert.equal(q.lastTryResult, 'full');
    assert.equal(q.tryReserve(1), undefined);
    assert.equal(q.lastTryResult, 'full');
    assert.equal(String(q.tryReceive()), 'x'.repeat(64));
    assert.equal(q.lastTryResult, 'ok');
  } finally {
    h.dispose();
  }
});

test('openOrCreate: a capacity that differs from the existing queue (after rounding) is ERR_SHMKIT_MISMATCH; an equal one or none opens', async () => {
  const name = named('ooc-mismatch');
  try {
    const a = Queue.openOrCreate(name, { capacity: 1000 }); // stored as 1024
    try {
      assert.equal(a.capacity, 1024);
      for (const capacity of [1000, 1024, 513]) {
        const b = Queue.openOrCreate(name, { capacity });
        assert.equal(b.capacity, 1024);
        b.close();
      }
      for (const capacity of [4096, 512, 64]) {
        assert.throws(() => Queue.openOrCreate(name, { capacity }), (err) => {
          assert.equal(err.code, 'ERR_SHMKIT_MISMATCH');
          assert.match(err.message, new RegExp(`Queue '${name}'.*capacity 1024.*${capacity}`));
          return true;
        });
      }
      const c = Queue.open(name); // open takes no geometry
      assert.equal(c.capacity, 1024);
      c.close();
    } finally {
      a.close();
    }
  } finally {
    unlinkQuietly(name);
  }
});

test('a closed handle: every getter and method throws ERR_SHMKIT_CLOSED; closed, name and close() do not', async () => {
  const h = makeQueueNamed(named, 'closed', { capacity: 256 });
  const q = Queue.open(h.name, { encoding: 'json' });
  try {
    q.close();
    assert.equal(q.closed, true);
    assert.equal(q.name, h.name);
    q.close(); // idempotent
    const closed = expectCode('ERR_SHMKIT_CLOSED');
    const getters = ['capabilities', 'capacity', 'maxMessage', 'length', 'bytesUsed', 'ended', 'lastTryResult'];
    for (const g of getters) assert.throws(() => q[g], closed, g);
    const calls = {
      stats: () => q.stats(),
      trySend: () => q.trySend(1),
      sendSync: () => q.sendSync(1),
      trySendMany: () => q.trySendMany([]),
      tryReserve: () => q.tryReserve(1),
      commit: () => q.commit(1),
      end: () => q.end(),
      tryReceive: () => q.tryReceive(),
      tryReceiveInto: () => q.tryReceiveInto(new Uint8Array(4)),
      receiveSync: () => q.receiveSync({ timeout: 10 }),
      tryReceiveMany: () => q.tryReceiveMany(1),
      tryPeek: () => q.tryPeek(),
      release: () => q.release(),
      check: () => q.check(),
      repair: () => q.repair(),
    };
    for (const [what, call] of Object.entries(calls)) assert.throws(call, closed, what);
    await assert.rejects(withTimeout(q.send(1), STEP_MS, 'send'), closed, 'send');
    await assert.rejects(withTimeout(q.receive({ timeout: 10 }), STEP_MS, 'receive'), closed, 'receive');
    await assert.rejects(withTimeout(q[Symbol.asyncIterator]().next(), STEP_MS, 'iterator'), closed, 'iterator');
    // Every public member of the prototype is in one of the lists above.
    const listed = new Set([...getters, ...Object.keys(calls), 'send', 'receive', 'close', 'constructor', 'closed', 'name', 'buffer', 'byteOffset']);
    const members = Object.getOwnPropertyNames(Queue.prototype).filter((m) => m !== 'attempt');
    assert.deepEqual(members.filter((m) => !listed.has(m)), [], 'a Queue member the closed-handle table does not cover');
  } finally {
    h.dispose();
  }
});

test('stats() of layout version 3: no producerPid / consumerPid (there is no role); a slot is held for the rest of the turn, or while a reservation or a peek is open; bytesUsed counts whole 64-byte cells', async () => {
  const h = makeQueueNamed(named, 'stats', { capacity: 1024 });
  const q = h.q;
  const slots = () => {
    const s = q.stats();
    return [s.producerSlots, s.consumerSlots];
  };
  try {
    // Exactly these keys (deepEqual compares them): producerPid and consumerPid are gone.
    assert.deepEqual(q.stats(), {
      capacity: 1024, maxMessage: 512, length: 0, bytesUsed: 0, sent: 0, received: 0, fullWaits: 0, emptyWaits: 0, orphans: 0,
      producersDied: 0, consumersDied: 0, ended: false, producerSlots: 0, consumerSlots: 0,
    });
    assert.ok(q.trySend('x'.repeat(65))); // 65 bytes: two cells
    assert.ok(q.trySend('')); // an empty message still takes one cell
    let s = q.stats();
    assert.deepEqual([s.length, s.bytesUsed, s.sent], [2, 3 * 64, 2]);
    assert.deepEqual(slots(), [1, 0], 'the handle holds a producer slot for the rest of this turn');
    assert.equal(q.tryReceive()?.length, 65);
    s = q.stats();
    assert.deepEqual([s.length, s.bytesUsed, s.received], [1, 64, 1]);
    assert.deepEqual(slots(), [1, 1], 'and a consumer slot once it received');
    await waitUntil(() => slots().every((n) => n === 0), STEP_MS, 'the slots to go back after the turn');

    // An open reservation keeps its producer slot, an open peek its consumer
    // slot, across turns (a live claim is known by its held slot).
    const view = q.tryReserve(100); // two cells
    assert.ok(view);
    assert.equal(q.tryPeek()?.length, 0, 'the empty message');
    await new Promise((resolve) => setTimeout(resolve, 20)); // a later turn
    assert.deepEqual(slots(), [1, 1], 'a slot went back while its reservation / peek was open');
    // RESERVE - CLAIM: the open reservation's two cells (the peeked message is taken, not counted).
    assert.equal(q.bytesUsed, 2 * 64);
    view.fill(1);
    q.commit(100);
    q.release();
    await waitUntil(() => slots().every((n) => n === 0), STEP_MS, 'the slots to go back after commit / release');
    assert.deepEqual([q.length, q.bytesUsed], [1, 2 * 64]);
    const m = q.tryReceive();
    assert.ok(m.length === 100 && m.every((b) => b === 1));
    s = q.stats();
    assert.deepEqual([s.length, s.bytesUsed, s.sent, s.received], [0, 0, 3, 3]);
  } finally {
    h.dispose();
  }
});

test('sendSync / send with a timeout while all 16 producer slots are held by other handles: ETIMEDOUT at the deadline, the event loop keeps running; trySend says busy', { timeout: 60000 }, async () => {
  const h = makeQueueNamed(named, 'busy', { capacity: 4096 });
  const p = startNode(BUSY_PEER, [h.name], { timeoutMs: 20000 });
  try {
    const r = await reportOf(p, 'busy peer');
    assert.equal(r.sync, 'ETIMEDOUT');
    assert.equal(r.async, 'ETIMEDOUT');
    assert.ok(r.syncMs >= 99 && r.syncMs < 5000, `sendSync gave up after ${r.syncMs} ms`);
    assert.ok(r.asyncMs >= 99 && r.asyncMs < 5000, `send gave up after ${r.asyncMs} ms`);
    assert.ok(r.ticks > 0, 'timers ran while send() waited');
    assert.deepEqual([r.trySend, r.why], [false, 'busy']);
    // 'busy' is about the producer side only: the same handle's consumer side works.
    assert.deepEqual([r.received, r.receiveWhy], [null, 'empty']);
    // Once the holders committed (empty messages) and closed, the 17th handle sends.
    assert.equal(r.sentAfter, true);
    assert.equal(h.q.length, 17);
  } finally {
    await reap(p);
    h.dispose();
  }
});

test('a message a consumer cannot take (its target is too small) stays there for every consumer: never taken, or given back as an ORPHAN with DATA_SEQ bumped for parked consumers', () => {
  const h = makeQueueNamed(named, 'giveback', { capacity: 1024 });
  const c = Queue.open(h.name);
  const seg = Segment.open(h.name);
  try {
    const raw = new DataView(seg.buffer);
    const u32 = (off) => raw.getUint32(off, true);
    const dataSeq = new Int32Array(seg.buffer, DATA_SEQ_OFF, 1);
    const dataWaiters = new Int32Array(seg.buffer, DATA_WAITERS_OFF, 1);
    assert.equal(h.q.trySend(Buffer.alloc(32, 7)), true); // cell 0, position 0
    const claimBefore = u32(CLAIM_OFF);
    // A consumer parked meanwhile (Notifier protocol: it counts itself in
    // DATA_WAITERS; a wake-up is owed only then). Stands for one that parks
    // between c's take and its give-back, which no test can time.
    Atomics.add(dataWaiters, 0, 1);
    const seqBefore = Atomics.load(dataSeq, 0);
    try {
      assert.throws(() => c.tryReceiveInto(new Uint8Array(8)), expectCode('ERR_OUT_OF_RANGE'));
    } finally {
      Atomics.sub(dataWaiters, 0, 1);
    }
    assert.equal(c.lastTryResult, 'ok');
    assert.equal(c.length, 1, 'the message is still waiting');
    const stamp = u32(META_OFF);
    if (u32(CLAIM_OFF) === claimBefore) {
      // Checked before taking: the record is untouched, the MESSAGE at CLAIM every consumer sees.
      assert.deepEqual([stamp, u32(ORPHANS_OFF)], [0 | STATE_MESSAGE, 0], 'CLAIM did not move, yet the record changed');
    } else {
      // Taken, then given back: any consumer takes an ORPHAN first, and one parked meanwhile must be woken.
      assert.deepEqual([stamp & STATE_MASK, u32(ORPHANS_OFF)], [STATE_ORPHAN, 1], `CLAIM moved past the message, which is now stamped ${stamp}`);
      assert.notEqual(Atomics.load(dataSeq, 0), seqBefore, 'giving the message back did not bump DATA_SEQ: a consumer parked meanwhile sleeps on');
    }
    // Another handle (another consumer slot) gets it: it was not left with c.
    const target = new Uint8Array(32);
    assert.equal(h.q.tryReceiveInto(target), 32, 'the message stayed in the queue');
    assert.ok(target.every((b) => b === 7));
    assert.equal(c.tryReceive(), undefined, 'the message came twice');
    assert.deepEqual([h.q.length, h.q.bytesUsed], [0, 0]);
  } finally {
    seg.close();
    c.close();
    h.dispose();
  }
});
