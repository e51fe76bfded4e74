// Queue's public surface: the naming rule (trySendMany/tryReceiveMany/
// tryReserve/tryPeek never wait; the old names are gone), lastTryResult, the openOrCreate rule
// (a capacity given must match, compared after rounding), and a closed
// handle (every getter and method throws ERR_SHMKIT_CLOSED, except closed,
// name and close()), and the blocking / async sends honouring `timeout`
// while every claim slot is busy (child: fixtures/queue-busy-peer.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Segment } from 'shmkit';
import { makeQueue as makeQueueNamed } from './fixtures/queue-handle.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, expectCode, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';
import { reap, reportOf, startNode } from './fixtures/proc.mjs';
import { fileURLToPath } from 'node:url';

const BUSY_PEER = fileURLToPath(new URL('./fixtures/queue-busy-peer.mjs', import.meta.url));
const named = trackedNames();

test('naming rule: trySendMany / tryReceiveMany / tryReserve / tryPeek exist and never wait; sendMany / receiveMany / reserve / peek are gone', () => {
  const h = makeQueueNamed(named, 'names', { capacity: 64 });
  try {
    assert.equal(typeof h.q.trySendMany, 'function');
    assert.equal(typeof h.q.tryReceiveMany, 'function');
    assert.equal('sendMany' in h.q, false);
    assert.equal('receiveMany' in h.q, false);
    // reserve / peek never wait and can come back empty-handed: tryReserve / tryPeek.
    for (const gone of ['reserve', 'peek']) assert.equal(gone in h.q, false, gone);
    assert.equal(typeof h.q.tryReserve, 'function');
    assert.equal(typeof h.q.tryPeek, 'function');
    // 64 bytes of ring, at most 24-byte messages: two 24-byte records fit, a 32-byte third does not.
    assert.equal(h.q.trySendMany(['a'.repeat(16), 'b'.repeat(16), 'c'.repeat(24)]), 2);
    assert.equal(h.q.lastTryResult, 'full');
    assert.deepEqual(h.q.tryReceiveMany(5).map(String), ['a'.repeat(16), 'b'.repeat(16)]);
    assert.equal(h.q.lastTryResult, 'empty');
    assert.deepEqual(h.q.tryReceiveMany(5), []);
  } finally {
    h.dispose();
  }
});

test('lastTryResult: ok, full and empty say why a non-waiting call returned what it did', () => {
  const h = makeQueueNamed(named, 'last', { capacity: 64 });
  try {
    const q = h.q;
    assert.equal(q.lastTryResult, 'ok');
    assert.equal(q.tryReceive(), undefined);
    assert.equal(q.lastTryResult, 'empty');
    assert.equal(q.tryReceiveInto(new Uint8Array(8)), -1);
    assert.equal(q.lastTryResult, 'empty');
    assert.equal(q.tryPeek(), undefined);
    assert.equal(q.lastTryResult, 'empty');
    assert.equal(q.trySend('x'.repeat(24)), true);
    assert.equal(q.lastTryResult, 'ok');
    assert.equal(q.trySend('y'.repeat(24)), true);
    assert.equal(q.trySend('z'), false);
    assert.equal(q.lastTryResult, 'full');
    assert.equal(q.tryReserve(1), undefined);
    assert.equal(q.lastTryResult, 'full');
    assert.equal(String(q.tryReceive()), 'x'.repeat(24));
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
    const getters = ['capacity', 'maxMessage', 'length', 'bytesUsed', 'ended', 'lastTryResult'];
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

test('sendSync / send with a timeout while every producer slot is busy: ETIMEDOUT at the deadline, the event loop keeps running', { timeout: 60000 }, async () => {
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
  } finally {
    await reap(p);
    h.dispose();
  }
});

test('a message a shared consumer gives back (target too small) announces itself: DATA_SEQ moves, so parked consumers wake at once', async () => {
  const { DATA_SEQ } = await import('../dist/src/channel/queue-layout.js');
  const h = makeQueueNamed(named, 'giveback', { capacity: 1024 });
  const c = Queue.open(h.name, { shared: true });
  const seg = Segment.open(h.name);
  try {
    const cells = new Int32Array(seg.buffer, 0, 128);
    assert.equal(h.q.trySend(Buffer.alloc(32, 7)), true);
    const before = Atomics.load(cells, DATA_SEQ);
    assert.throws(() => c.tryReceiveInto(new Uint8Array(8)), expectCode('ERR_OUT_OF_RANGE'));
    assert.notEqual(Atomics.load(cells, DATA_SEQ), before, 'giving the message back did not bump DATA_SEQ: a consumer parked meanwhile sleeps on');
    assert.equal(c.lastTryResult, 'ok');
    const target = new Uint8Array(32);
    assert.equal(c.tryReceiveInto(target), 32, 'the message stayed in the queue');
    assert.ok(target.every((b) => b === 7));
  } finally {
    seg.close();
    c.close();
    h.dispose();
  }
});
