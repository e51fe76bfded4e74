// Queue: "never waits" must not mean "fails while a peer is mid-operation".
// Layout version 3 has no producer/consumer role: every claim is one
// compare-and-swap on a cell's stamp, so a peer descheduled in the middle of
// its claim (on 2 CPUs shared by 5+ processes it happens all the time) holds
// nobody up. 'busy' only means all 16 slots of a side are held by others,
// which 4 processes cannot do. So the assertions are strict:
//
// 1. 4 producer processes, one trySend() per event-loop turn, into a 1 MiB
//    queue that can never fill (all they send together is less than its
//    capacity) while one consumer drains it: EVERY trySend() returns true
//    (no 'full', no 'busy', nothing).
// 2. 4 consumer processes, one tryReceive() per turn, on a queue holding
//    4 000 committed messages: none returns undefined ('empty', 'busy' or
//    anything else) while more messages are waiting than its 3 peers can be
//    taking at that instant.
//
// The count of calls and of every false / undefined, by lastTryResult, is
// reported as a diagnostic.
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
// A 64-byte message is one 64-byte cell: 4 x 3000 x 64 = 768 000 bytes < 1 MiB, never full
// (even if the consumer took nothing at all).
const PER_PRODUCER = 3000;
const PEERS = 4;

/** Sums the children's { reason: count } tables. */
function sum(reports) {
  const out = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.results)) out[k] = (out[k] ?? 0) + v;
  return out;
}

test('4 producer processes, one trySend per turn, into a queue that cannot fill: every trySend returns true (no busy, no full)', { timeout: 120000 }, async (t) => {
  const h = makeQueueNamed(named, 'try-p', { capacity: CAPACITY });
  const procs = [];
  try {
    const total = PEERS * PER_PRODUCER;
    procs.push(startNode(PEER, [JSON.stringify({ role: 'drain', name: h.name, total })], { timeoutMs: 90000 }));
    for (let i = 0; i < PEERS; i++) {
      procs.push(startNode(PEER, [JSON.stringify({ role: 'producer', name: h.name, count: PER_PRODUCER })], { timeoutMs: 90000 }));
    }
    const reports = [];
    for (const p of procs) reports.push(await reportOf(p, 'peer'));
    assert.equal(reports[0].got, total);
    const producers = reports.slice(1);
    const calls = producers.reduce((a, r) => a + r.calls, 0);
    const results = sum(producers);
    t.diagnostic(`${calls} trySend() calls; false: ${JSON.stringify(results)}`);
    assert.deepEqual(results, {}, `trySend() returned false on a queue that cannot fill, with 4 producers (< 16 slots): ` +
      `${JSON.stringify(results)} of ${calls} calls; bytesUsed then: ${producers.flatMap((r) => r.falseAt).join(', ')}`);
    assert.equal(calls, total, 'a producer needed more calls than messages');
    assert.equal(h.q.length, 0);
  } finally {
    await reap(...procs);
    h.dispose();
  }
});

test('4 consumer processes, one tryReceive per turn: an undefined never comes while more messages wait than 3 peers can be taking', { timeout: 120000 }, async (t) => {
  const h = makeQueueNamed(named, 'try-c', { capacity: CAPACITY });
  const procs = [];
  try {
    const total = 4000;
    const msg = Buffer.alloc(64, 3);
    for (let i = 0; i < total; i++) assert.equal(h.q.trySend(msg), true);
    for (let i = 0; i < PEERS; i++) {
      procs.push(startNode(PEER, [JSON.stringify({ role: 'consumer', name: h.name, total, busyPeers: PEERS - 1 })], { timeoutMs: 90000 }));
    }
    const reports = [];
    for (const p of procs) reports.push(await reportOf(p, 'consumer'));
    assert.equal(reports.reduce((a, r) => a + r.got, 0), total);
    const calls = reports.reduce((a, r) => a + r.calls, 0);
    const results = sum(reports);
    const all = sum(reports.map((r) => ({ results: r.undefinedBy })));
    t.diagnostic(`${calls} tryReceive() calls; every undefined: ${JSON.stringify(all)}; with messages waiting: ${JSON.stringify(results)}`);
    assert.deepEqual(results, {}, `tryReceive() returned undefined while more messages were waiting than 3 peers can be taking ` +
      `(${JSON.stringify(results)} of ${calls} calls); length then: ${reports.flatMap((r) => r.falseAt).join(', ')}`);
    assert.equal(all.busy, undefined, "a consumer reported 'busy' with 4 consumers (< 16 slots)");
    assert.equal(h.q.length, 0);
  } finally {
    await reap(...procs);
    h.dispose();
  }
});
