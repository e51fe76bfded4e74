// Notifier: counting and wrapping, cross-process ping-pong without lost
// wake-ups (sync on one side, async on the other), a parked async wait that
// costs no CPU and keeps the event loop on time, timeouts and aborts that
// leave the waiter count consistent, and misuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Mutex, Notifier, Segment } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { STEP_MS, assertParkedIdle, expectCode, rawCells, sleep, unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { reap, reportOf, startNode } from './fixtures/proc.mjs';
// Raw layout, to check the waiter count the wakers rely on.
import { SEQ, WAITERS } from '../dist/src/sync/notifier-layout.js';

const PEER = fileURLToPath(new URL('./fixtures/notifier-peer.mjs', import.meta.url));

// ---------------------------------------------------------------- helpers --

const waitersOf = (n) => Atomics.load(rawCells(n), WAITERS);

// ------------------------------- 3. a parked async wait is free and on time --
// (first in the file: no earlier test's garbage collection or JIT work in the
// background threads muddies the CPU measurement)

test('await wait() parked for ~1 s: event loop ticks on time and the process uses < 5 % CPU', async (t) => {
  const name = uniqueName('ntf-cpu');
  const n = Notifier.create(name);
  let peer;
  try {
    peer = startNode(PEER, ['notify-after', name, 1200]);
    await peer.line(/^ready$/);
    await sleep(100); // let start-up work settle
    const seen = n.value;
    const { value, wokeAt } = await assertParkedIdle(t, () => n.wait(seen, { timeout: STEP_MS }), { minMs: 700 });
    const [, count, notifiedAt] = (await peer.line(/^notified /)).split(' ').map(Number);
    assert.equal(value, seen + 1);
    assert.equal(count, seen + 1);
    assert.ok(wokeAt - notifiedAt < 200, `woke ${wokeAt - notifiedAt} ms after notify`);
    assert.equal(waitersOf(n), 0);
  } finally {
    await reap(peer);
    n.close();
    unlinkQuietly(name);
  }
});

// --------------------------------------------------------------- basics --

test('notify() returns the new count, value reads it, wait returns at once when it already differs', async () => {
  const name = uniqueName('ntf-basic');
  const n = Notifier.create(name);
  const other = Notifier.open(name);
  try {
    assert.equal(n.value, 0);
    assert.equal(n.notify(), 1);
    assert.equal(other.notify(), 2);
    assert.equal(n.value, 2);
    assert.equal(other.value, 2);
    assert.equal(n.waitSync(0, { timeout: 0 }), 2);
    assert.equal(await n.wait(1, { timeout: 0 }), 2);
    assert.equal(n.waitSync(7, { timeout: STEP_MS }), 2);
    assert.throws(() => n.waitSync(2, { timeout: 0 }), expectCode('ETIMEDOUT'));
    await assert.rejects(n.wait(2, { timeout: 0 }), expectCode('ETIMEDOUT'));
    assert.equal(waitersOf(n), 0);
    const again = Notifier.openOrCreate(name);
    assert.equal(again.value, 2);
    again.close();
    assert.throws(() => Notifier.create(name), expectCode('EEXIST'));
  } finally {
    n.close();
    other.close();
    unlinkQuietly(name);
  }
});

test('the count wraps at 2^32 and seen accepts the unsigned spelling', async () => {
  const n = Notifier.init(new SharedArrayBuffer(Notifier.byteLength()), 0);
  try {
    const cells = rawCells(n);
    Atomics.store(cells, SEQ, 0x7fffffff);
    assert.equal(n.notify(), -0x80000000);
    Atomics.store(cells, SEQ, -1);
    assert.equal(n.value, -1);
    assert.throws(() => n.waitSync(0xffffffff, { timeout: 5 }), expectCode('ETIMEDOUT'), '0xffffffff is the same count as -1');
    const waiting = n.wait(0xffffffff, { timeout: STEP_MS });
    setTimeout(() => n.notify(), 10);
    assert.equal(await waiting, 0);
    assert.equal(n.value, 0);
  } finally {
    n.close();
  }
});

test('one notify wakes every waiter: async ones in this thread, a worker, and another process', async () => {
  const name = uniqueName('ntf-broadcast');
  const n = Notifier.create(name);
  let peer;
  let worker;
  try {
    const seen = n.value;
    const local = [1, 2, 3].map(() => n.wait(seen, { timeout: STEP_MS }));
    worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import('shmkit').then(({ Notifier }) => {
         const n = Notifier.open(workerData.name);
         parentPort.postMessage({ value: n.waitSync(workerData.seen, { timeout: 5000 }) });
       }).catch((err) => parentPort.postMessage({ error: String(err) }));`,
      { eval: true, workerData: { name, seen } },
    );
    const fromWorker = new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    peer = startNode(PEER, ['wait-sync', name, seen, STEP_MS]);
    // 3 local + worker + peer
    await waitUntil(() => waitersOf(n) === 5, STEP_MS, 'five parked waiters');
    await sleep(20);
    const notifiedAt = Date.now();
    assert.equal(n.notify(), seen + 1);
    const values = await withTimeout(Promise.all(local), STEP_MS, 'local waiters');
    assert.deepEqual(values, [seen + 1, seen + 1, seen + 1]);
    assert.deepEqual(await withTimeout(fromWorker, STEP_MS, 'the worker'), { value: seen + 1 });
    const out = await reportOf(peer, 'wait-sync peer');
    assert.equal(out.value, seen + 1);
    assert.ok(out.at - notifiedAt < 500, `the peer woke ${out.at - notifiedAt} ms after notify`);
    assert.equal(waitersOf(n), 0);
  } finally {
    await worker?.terminate();
    await reap(peer);
    n.close();
    unlinkQuietly(name);
  }
});

test('300 async waiters on one word (more than one parking thread) all wake on one notify', async () => {
  const n = Notifier.init(new SharedArrayBuffer(128), 0, { spin: 0 });
  try {
    const seen = n.value;
    const waits = Array.from({ length: 300 }, () => n.wait(seen, { timeout: STEP_MS }));
    assert.equal(waitersOf(n), 300);
    await sleep(20);
    n.notify();
    const values = await withTimeout(Promise.all(waits), 2000, '300 waiters');
    assert.ok(values.every((v) => v === seen + 1));
    assert.equal(waitersOf(n), 0);
  } finally {
    n.close();
  }
});

test('a signal reused across many waits collects no abort listeners', async () => {
  const n = Notifier.init(new SharedArrayBuffer(128), 0, { spin: 0 });
  try {
    const ac = new AbortController();
    for (let i = 0; i < 50; i++) {
      const p = n.wait(n.value, { signal: ac.signal, timeout: STEP_MS });
      setImmediate(() => n.notify());
      await p;
    }
    for (let i = 0; i < 5; i++) await assert.rejects(n.wait(n.value, { signal: ac.signal, timeout: 2 }), expectCode('ETIMEDOUT'));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    assert.equal(waitersOf(n), 0);
  } finally {
    n.close();
  }
});

test('worker.terminate() ends a worker parked in await wait() at once', async () => {
  const n = Notifier.init(new SharedArrayBuffer(128), 0);
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import('shmkit').then(async ({ Notifier }) => {
       const n = Notifier.attach(workerData, 0);
       parentPort.postMessage('parking');
       await n.wait(n.value, { timeout: 10000 });
       parentPort.postMessage('woke');
     });`,
    { eval: true, workerData: n.buffer },
  );
  try {
    await withTimeout(new Promise((resolve) => worker.once('message', resolve)), STEP_MS, 'the worker to start');
    await waitUntil(() => waitersOf(n) === 1, STEP_MS, 'the worker to park');
    const t0 = performance.now();
    await withTimeout(worker.terminate(), STEP_MS, 'terminate');
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `terminate took ${ms.toFixed(0)} ms`);
  } finally {
    await worker.terminate();
    n.close();
  }
});

test('worker.terminate() ends a worker blocked in waitSync() promptly', async () => {
  const n = Notifier.init(new SharedArrayBuffer(128), 0);
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import('shmkit').then(({ Notifier }) => {
       const n = Notifier.attach(workerData, 0);
       parentPort.postMessage('parking');
       try { n.waitSync(n.value, { timeout: 2000 }); } catch {}
     });`,
    { eval: true, workerData: n.buffer },
  );
  try {
    await withTimeout(new Promise((resolve) => worker.once('message', resolve)), STEP_MS, 'the worker to start');
    await waitUntil(() => waitersOf(n) === 1, STEP_MS, 'the worker to park');
    await sleep(20);
    const t0 = performance.now();
    await withTimeout(worker.terminate(), STEP_MS, 'terminate');
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `terminate took ${ms.toFixed(0)} ms (the worker's wait had a 2000 ms timeout)`);
  } finally {
    await worker.terminate();
    n.close();
  }
});

// --------------------------------------------- 6. ping-pong hand-off --

async function pingPong(t, { childMode, parentMode, rounds, spin }) {
  const pingName = uniqueName('ntf-ping');
  const pongName = uniqueName('ntf-pong');
  const ping = Notifier.create(pingName, { spin });
  const pong = Notifier.create(pongName, { spin });
  let peer;
  try {
    peer = startNode(PEER, ['pong', childMode, pingName, pongName, rounds, spin], { timeoutMs: 25000 });
    const t0 = performance.now();
    let seen = pong.value;
    const errors = [];
    for (let i = 1; i <= rounds; i++) {
      assert.equal(ping.notify(), i);
      // The first pong waits for the child to start, which a busy machine can make slow.
      const timeout = i === 1 ? 30000 : STEP_MS;
      const v = parentMode === 'sync' ? pong.waitSync(seen, { timeout }) : await pong.wait(seen, { timeout });
      if (v !== i && errors.length < 10) errors.push(`round ${i}: pong read ${v}`);
      seen = v;
    }
    const ms = performance.now() - t0;
    const out = await reportOf(peer, 'pong peer');
    t.diagnostic(`${rounds} round trips, parent ${parentMode} / child ${childMode}, spin ${spin}: ${ms.toFixed(0)} ms (${((ms * 1000) / rounds).toFixed(1)} us each)`);
    assert.deepEqual(errors, []);
    assert.deepEqual(out.errors, []);
    assert.equal(out.rounds, rounds);
    assert.equal(ping.value, rounds);
    assert.equal(pong.value, rounds);
    assert.equal(waitersOf(ping), 0);
    assert.equal(waitersOf(pong), 0);
    assert.ok(ms < 15000, `took ${ms.toFixed(0)} ms`);
  } finally {
    await reap(peer);
    ping.close();
    pong.close();
    unlinkQuietly(pingName);
    unlinkQuietly(pongName);
  }
}

test('ping-pong 10 000 times: this process async, the other sync', async (t) => {
  await pingPong(t, { parentMode: 'async', childMode: 'sync', rounds: 10000, spin: 50 });
});

test('ping-pong 10 000 times: this process sync, the other async', async (t) => {
  await pingPong(t, { parentMode: 'sync', childMode: 'async', rounds: 10000, spin: 50 });
});

test('ping-pong 10 000 times with no spinning (every hand-off parks): no lost wake-up', async (t) => {
  await pingPong(t, { parentMode: 'async', childMode: 'sync', rounds: 10000, spin: 0 });
});

// ---------------------------------------------- 4. timeouts and aborts --

test('timeouts and aborts end waits with ETIMEDOUT / the reason and bring WAITERS back to 0; notify still wakes the next waiter', async () => {
  const name = uniqueName('ntf-timeout');
  const n = Notifier.create(name, { spin: 0 });
  let peer;
  try {
    const seen = n.value;

    let t0 = performance.now();
    await assert.rejects(n.wait(seen, { timeout: 100 }), (err) => err.code === 'ETIMEDOUT' && /timed out after 100 ms/.test(err.message));
    let ms = performance.now() - t0;
    assert.ok(ms >= 95 && ms < 1000, `async timeout after ${ms.toFixed(1)} ms`);
    assert.equal(waitersOf(n), 0);

    t0 = performance.now();
    assert.throws(() => n.waitSync(seen, { timeout: 100 }), expectCode('ETIMEDOUT'));
    ms = performance.now() - t0;
    assert.ok(ms >= 95 && ms < 1000, `sync timeout after ${ms.toFixed(1)} ms`);
    assert.equal(waitersOf(n), 0);

    // abort without a reason: AbortError; the count is back to 0 afterwards
    const ac = new AbortController();
    const aborted = n.wait(seen, { signal: ac.signal, timeout: STEP_MS });
    assert.equal(waitersOf(n), 1, 'a parked async wait counts as a waiter');
    setTimeout(() => ac.abort(), 30);
    t0 = performance.now();
    await assert.rejects(aborted, (err) => err.name === 'AbortError');
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(waitersOf(n), 0);

    // abort with a reason: that very reason
    const reason = new Error('stop waiting');
    const ac2 = new AbortController();
    const aborted2 = n.wait(seen, { signal: ac2.signal });
    setTimeout(() => ac2.abort(reason), 20);
    await assert.rejects(aborted2, (err) => err === reason);
    assert.equal(waitersOf(n), 0);

    // already aborted, and AbortSignal.timeout
    const reason3 = new Error('never mind');
    await assert.rejects(n.wait(seen, { signal: AbortSignal.abort(reason3) }), (err) => err === reason3);
    await assert.rejects(n.wait(seen, { signal: AbortSignal.timeout(30) }), (err) => err.name === 'TimeoutError');
    assert.equal(waitersOf(n), 0);

    // a crowd of timeouts and aborts on the same word, beside one waiter that stays
    const stays = n.wait(seen, { timeout: STEP_MS });
    const crowd = [];
    for (let i = 0; i < 6; i++) crowd.push(assert.rejects(n.wait(seen, { timeout: 20 + i * 10 }), expectCode('ETIMEDOUT')));
    const acs = [0, 1, 2, 3].map(() => new AbortController());
    for (const c of acs) crowd.push(assert.rejects(n.wait(seen, { signal: c.signal }), (err) => err.name === 'AbortError'));
    assert.equal(waitersOf(n), 11);
    setTimeout(() => acs.forEach((c) => c.abort()), 40);
    await withTimeout(Promise.all(crowd), STEP_MS, 'the timeouts and aborts');
    assert.equal(waitersOf(n), 1, 'only the waiter that stays is counted');
    assert.equal(n.notify(), seen + 1);
    assert.equal(await withTimeout(stays, 1000, 'the remaining waiter'), seen + 1);
    assert.equal(waitersOf(n), 0);

    // After all that, a waiter in another process is still woken promptly.
    const seen2 = n.value;
    peer = startNode(PEER, ['wait-sync', name, seen2, STEP_MS]);
    await waitUntil(() => waitersOf(n) === 1, STEP_MS, 'the peer to park');
    await sleep(20);
    const notifiedAt = Date.now();
    assert.equal(n.notify(), seen2 + 1);
    const out = await reportOf(peer, 'wait-sync peer');
    assert.equal(out.value, seen2 + 1, JSON.stringify(out));
    assert.ok(out.at - notifiedAt < 500, `the peer woke ${out.at - notifiedAt} ms after notify`);
    assert.equal(waitersOf(n), 0);

    // A waiter in another process that times out leaves the count at 0 too.
    const timedOut = await reportOf(startNode(PEER, ['wait-sync', name, n.value, 100]), 'timing-out peer');
    assert.equal(timedOut.error, 'ETIMEDOUT');
    assert.equal(waitersOf(n), 0);
  } finally {
    await reap(peer);
    n.close();
    unlinkQuietly(name);
  }
});

test('bad wait arguments: seen must be an integer count, options an object', async () => {
  const n = Notifier.init(new SharedArrayBuffer(128), 0);
  try {
    const type = (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE';
    const range = (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE';
    assert.throws(() => n.waitSync('x'), type);
    assert.throws(() => n.waitSync(), type);
    assert.throws(() => n.waitSync(null), type);
    assert.throws(() => n.waitSync(0n), type);
    await assert.rejects(n.wait('x'), type);
    assert.throws(() => n.waitSync(1.5), range);
    assert.throws(() => n.waitSync(2 ** 32), range);
    assert.throws(() => n.waitSync(-(2 ** 31) - 1), range);
    assert.throws(() => n.waitSync(0, { timeout: -1 }), range);
    assert.throws(() => n.waitSync(0, 'soon'), type);
    await assert.rejects(n.wait(0, { signal: {} }), type);
    assert.equal(waitersOf(n), 0);
  } finally {
    n.close();
  }
});

// --------------------------------------------------------------- 5. misuse --

test('opening a Mutex as a Notifier is ERR_SHMKIT_BAD_LAYOUT naming what it holds', () => {
  const name = uniqueName('ntf-as-mutex');
  const m = Mutex.create(name);
  try {
    assert.throws(() => Notifier.open(name), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /holds a Mutex/.test(err.message) && /not a Notifier/.test(err.message));
    assert.throws(() => Notifier.openOrCreate(name), expectCode('ERR_SHMKIT_BAD_LAYOUT'));
    assert.throws(() => Notifier.attach(m.buffer, 0), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /holds a Mutex/.test(err.message));
    assert.equal(m.locked, false, 'the mutex is untouched');
  } finally {
    m.close();
    unlinkQuietly(name);
  }
});

test('a plain segment is not a Notifier', () => {
  const name = uniqueName('ntf-raw');
  const seg = Segment.create(name, { size: 4096 });
  try {
    new Uint8Array(seg.buffer).fill(0x41, 0, 64);
    const t0 = performance.now();
    assert.throws(() => Notifier.open(name), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /not a shmkit object/.test(err.message));
    assert.ok(performance.now() - t0 < 50);
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
});

test('embedded init/attach: bad offsets and buffers are TypeError/RangeError', () => {
  const sab = new SharedArrayBuffer(512);
  const range = (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE';
  const type = (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE';
  assert.equal(Notifier.byteLength(), 128);
  for (const fn of [Notifier.init, Notifier.attach]) {
    const call = (...a) => fn.apply(Notifier, a);
    assert.throws(() => call(sab, 4), range, `${fn.name}(4)`);
    assert.throws(() => call(sab, 7), range, `${fn.name}(7)`);
    assert.throws(() => call(sab, -8), range, `${fn.name}(-8)`);
    assert.throws(() => call(sab, 520), range, `${fn.name}(520)`);
    assert.throws(() => call(sab, '0'), type, `${fn.name}('0')`);
    assert.throws(() => call(new ArrayBuffer(512), 0), type, `${fn.name}(ArrayBuffer)`);
    assert.throws(() => call(new Int32Array(sab), 0), type, `${fn.name}(Int32Array)`);
    assert.throws(() => call(undefined, 0), type, `${fn.name}(undefined)`);
  }
  assert.throws(() => Notifier.init(sab, 400), range, 'does not fit');
  assert.ok(new Uint8Array(sab).every((b) => b === 0), 'refused calls wrote nothing');

  // two notifiers side by side, one attached from a second handle
  const a = Notifier.init(sab, 0);
  const b = Notifier.init(sab, 128);
  const a2 = Notifier.attach(sab, 0);
  a.notify();
  assert.equal(a2.value, 1);
  assert.equal(b.value, 0);
  for (const h of [a, b, a2]) h.close();
});

test('attach on zeroed memory fails after about 1 s; on a garbage header at once', () => {
  const sab = new SharedArrayBuffer(256);
  let t0 = performance.now();
  assert.throws(() => Notifier.attach(sab, 128), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /never initialised/.test(err.message));
  let ms = performance.now() - t0;
  assert.ok(ms >= 900 && ms < 1500, `zeroed memory refused after ${ms.toFixed(0)} ms`);

  crypto.getRandomValues(new Uint8Array(sab, 0, 64));
  new Uint8Array(sab)[0] = 0xde; // never the magic ('S' = 0x53) by chance
  t0 = performance.now();
  assert.throws(() => Notifier.attach(sab, 0), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /not a shmkit object/.test(err.message));
  ms = performance.now() - t0;
  assert.ok(ms < 50, `garbage refused after ${ms.toFixed(1)} ms`);
});

test('every method of a closed Notifier is ERR_SHMKIT_CLOSED; close is idempotent', async () => {
  const name = uniqueName('ntf-closed');
  const n = Notifier.create(name);
  const other = Notifier.open(name);
  try {
    n.close();
    n.close();
    const closed = expectCode('ERR_SHMKIT_CLOSED');
    assert.throws(() => n.notify(), closed);
    assert.throws(() => n.value, closed);
    assert.throws(() => n.stats(), closed);
    assert.throws(() => n.waitSync(0, { timeout: 0 }), closed);
    await assert.rejects(n.wait(0, { timeout: 0 }), closed);
    assert.equal(n.name, name);
    // the object lives on for other handles
    assert.equal(other.notify(), 1);
    assert.equal(other.value, 1);
  } finally {
    n.close();
    other.close();
    unlinkQuietly(name);
  }
});
