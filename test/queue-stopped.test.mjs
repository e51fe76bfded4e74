// Issue 11: a stopped peer costs the others a timeout error, never a hang.
// Sixteen producer processes each hold an open reservation (so all 16
// producer slots) and are SIGSTOPped: a 17th handle's trySend says 'busy',
// sendSync / send with a timeout give ETIMEDOUT at the deadline without
// blocking the event loop (send), a consumer's receive times out too (the
// first record is uncommitted); after SIGCONT and their commits, everything
// works again and every message arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Queue } from 'shmkit';
import { makeQueue } from './fixtures/queue-handle.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { expectCode } from './fixtures/helpers.mjs';
import { reap, startNode } from './fixtures/proc.mjs';
import { checkMessage, sizeOf } from './fixtures/queue-msg.mjs';

const PEER = fileURLToPath(new URL('./fixtures/queue-peer.mjs', import.meta.url));
const named = trackedNames();
const SLOTS = 16;
const WAIT_MS = 300;

test('16 producers SIGSTOPped, each holding a reservation (every producer slot): the others get busy / ETIMEDOUT within their timeouts, never a hang; after SIGCONT everything arrives', { timeout: 120000 }, async () => {
  const { name, q, dispose } = makeQueue(named, 'stopped16', { capacity: 65536 });
  // Seeds whose first message is small, so 16 reservations fit at once.
  const seeds = [];
  for (let s = 1; seeds.length < SLOTS; s++) if (sizeOf(s, 0, 1, q.maxMessage) <= 64) seeds.push(s);
  const peers = seeds.map((seed) => startNode(PEER, ['hold-reservation', name, seed], { timeoutMs: 90000, waitMs: 60000 }));
  const other = Queue.open(name);
  try {
    await Promise.all(peers.map((p) => p.line(/^reserved$/)));
    for (const p of peers) p.child.kill('SIGSTOP');
    assert.equal(other.stats().producerSlots, SLOTS, 'the stopped reservers hold every producer slot');

    assert.equal(other.trySend('x'), false);
    assert.equal(other.lastTryResult, 'busy');
    let t0 = performance.now();
    assert.throws(() => other.sendSync('x', { timeout: WAIT_MS }), expectCode('ETIMEDOUT'));
    const syncMs = performance.now() - t0;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    t0 = performance.now();
    await assert.rejects(other.send('x', { timeout: WAIT_MS }), expectCode('ETIMEDOUT'));
    const asyncMs = performance.now() - t0;
    clearInterval(timer);
    // The consumer side: the first record in ring order is uncommitted.
    assert.equal(other.tryReceive(), undefined);
    assert.equal(other.lastTryResult, 'empty');
    t0 = performance.now();
    await assert.rejects(other.receive({ timeout: WAIT_MS }), expectCode('ETIMEDOUT'));
    const receiveMs = performance.now() - t0;
    for (const [what, ms] of [['sendSync', syncMs], ['send', asyncMs], ['receive', receiveMs]]) {
      // At the deadline, not before; "within its timeout" allows a busy machine's delay, not a hang.
      assert.ok(ms >= WAIT_MS - 1 && ms < WAIT_MS + 10000, `${what} gave up after ${ms.toFixed(0)} ms`);
    }
    assert.ok(ticks > 0, 'timers ran while send() waited: the event loop was not blocked');

    for (const p of peers) p.child.kill('SIGCONT');
    for (const p of peers) p.send('commit\n');
    await Promise.all(peers.map((p) => p.line(/^committed$/)));
    for (const p of peers) p.child.stdin.end(); // a holder closes once stdin ends
    for (const p of peers) {
      const r = await p.done;
      assert.equal(r.code, 0, r.stderr);
    }
    other.sendSync('after', { timeout: 5000 });
    const got = [];
    for (let i = 0; i <= SLOTS; i++) got.push(other.receiveSync({ timeout: 5000 }));
    assert.equal(String(got.pop()), 'after');
    // Each reserver's message, whatever order they claimed in.
    const bad = seeds.map((seed) => (got.some((m) => checkMessage(m, seed, 0, sizeOf(seed, 0, 1, q.maxMessage)) === null) ? null : `seed ${seed} missing`)).filter(Boolean);
    assert.deepEqual(bad, []);
    assert.equal(other.length, 0);
  } finally {
    for (const p of peers) if (p.alive()) p.child.kill('SIGCONT');
    await reap(...peers);
    other.close();
    dispose();
  }
});
