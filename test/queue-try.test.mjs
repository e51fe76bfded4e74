// Queue: "never waits" must not mean "fails while a peer is mid-operation".
//
// 1. 4 producer processes, one trySend() per event-loop turn, into a 1 MiB
//    queue that can never fill (all they send together is less than its
//    capacity) while one consumer drains it: no trySend() reports 'full';
//    every false is 'busy' (a peer held the role past the hand-over wait:
//    on 2 CPUs shared by 5+ processes, a peer descheduled inside its claim).
// 2. 4 consumer processes, one tryReceive() per turn, on a queue holding
//    4 000 committed messages: none reports 'empty' while more messages
//    are waiting than its 3 peers can be taking at that instant.
// Both in the default mode and with { shared: true }. The 'busy' share is
// reported as a diagnostic (it depends on the machine's load).
//
// Children: fixtures/queue-try-peer.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { makeQueue as makeQueueNamed } from './fixtures/queue-handle.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { reap, reportOf, startNode } from './fixtures/proc.mjs';

const PEER = fileURLToPath(new URL('./fixtures/queue-try-peer.mjs', import.meta.url));
const named = trackedNames();
const CAPACITY = 1 << 20;
const PER_PRODUCER = 3000; // 4 x 3000 x 72-byte records = 864 000 bytes < 1 MiB: never full
const PEERS = 4;

/** Sums the children's { reason: count } tables. */
function sum(reports) {
  const out = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.results)) out[k] = (out[k] ?? 0) + v;
  return out;
}

for (const shared of [false, true]) {
  const mode = shared ? '{ shared: true }' : 'default mode';

  test(`4 producer processes, one trySend per turn, ${mode}: a false is never a false 'full'`, { timeout: 120000 }, async (t) => {
    const h = makeQueueNamed(named, 'try-p', { capacity: CAPACITY });
    const procs = [];
    try {
      const total = PEERS * PER_PRODUCER;
      procs.push(startNode(PEER, [JSON.stringify({ role: 'drain', name: h.name, total })], { timeoutMs: 90000 }));
      for (let i = 0; i < PEERS; i++) {
        procs.push(startNode(PEER, [JSON.stringify({ role: 'producer', name: h.name, count: PER_PRODUCER, shared })], { timeoutMs: 90000 }));
      }
      const reports = [];
      for (const p of procs) reports.push(await reportOf(p, 'peer'));
      assert.equal(reports[0].got, total);
      const producers = reports.slice(1);
      const calls = producers.reduce((a, r) => a + r.calls, 0);
      const results = sum(producers);
      t.diagnostic(`${calls} trySend() calls; false: ${JSON.stringify(results)}`);
      assert.deepEqual(Object.keys(results).filter((r) => r !== 'busy'), [], `trySend() returned false for another reason than 'busy' ` +
        `on a queue that cannot fill (${JSON.stringify(results)} of ${calls} calls); bytesUsed then: ${producers.flatMap((r) => r.falseAt).join(', ')}`);
      assert.equal(h.q.length, 0);
    } finally {
      await reap(...procs);
      h.dispose();
    }
  });

  test(`4 consumer processes, one tryReceive per turn, ${mode}: an undefined is never a false 'empty'`, { timeout: 120000 }, async (t) => {
    const h = makeQueueNamed(named, 'try-c', { capacity: CAPACITY });
    const procs = [];
    try {
      const total = 4000;
      const msg = Buffer.alloc(64, 3);
      for (let i = 0; i < total; i++) assert.equal(h.q.trySend(msg), true);
      for (let i = 0; i < PEERS; i++) {
        procs.push(startNode(PEER, [JSON.stringify({ role: 'consumer', name: h.name, total, shared, busyPeers: PEERS - 1 })], { timeoutMs: 90000 }));
      }
      const reports = [];
      for (const p of procs) reports.push(await reportOf(p, 'consumer'));
      assert.equal(reports.reduce((a, r) => a + r.got, 0), total);
      const calls = reports.reduce((a, r) => a + r.calls, 0);
      const results = sum(reports);
      t.diagnostic(`${calls} tryReceive() calls; undefined with messages waiting: ${JSON.stringify(results)}`);
      assert.deepEqual(Object.keys(results).filter((r) => r !== 'busy'), [], `tryReceive() returned undefined with messages waiting ` +
        `for another reason than 'busy' (${JSON.stringify(results)} of ${calls} calls); length then: ${reports.flatMap((r) => r.falseAt).join(', ')}`);
      assert.equal(h.q.length, 0);
    } finally {
      await reap(...procs);
      h.dispose();
    }
  });
}
