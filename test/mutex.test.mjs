// Mutex: mutual exclusion across processes and worker threads (sync, async and
// mixed), owner-died recovery after SIGKILL / worker termination, a parked
// async lock that costs no CPU and keeps the event loop on time, timeouts and
// aborts, and misuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Mutex, Notifier, Segment } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { STEP_MS, assertParkedIdle, expectCode, rawCells, sleep, unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { reap, runNode, startNode } from './fixtures/proc.mjs';
// Raw layout of the futex word, for checks that look under the hood.
import { WORD, TID_MASK, OWNER_DIED, WAITERS_BIT } from '../dist/src/sync/mutex-layout.js';

const COUNTER_URL = new URL('./fixtures/mutex-counter.mjs', import.meta.url);
const COUNTER = fileURLToPath(COUNTER_URL);
const HOLDER = fileURLToPath(new URL('./fixtures/mutex-holder.mjs', import.meta.url));
const WORKER = new URL('./fixtures/mutex-worker.mjs', import.meta.url);

// Segment layout shared with fixtures/mutex-counter.mjs (Int32 indexes).
const READY = 64;
const INSIDE = 65;
const VIOLATIONS = 66;
const COUNTER_CELL = 67;

// ---------------------------------------------------------------- helpers --

/** Runs a worker thread to completion and returns its message; bounded. */
function runWorker(url, workerData, ms) {
  const worker = new Worker(url, { workerData });
  return withTimeout(
    new Promise((resolve, reject) => {
      let message;
      worker.once('message', (m) => (message = m));
      worker.once('error', reject);
      worker.once('exit', (code) => (code === 0 ? resolve(message) : reject(new Error(`worker exited ${code}`))));
    }),
    ms,
    'worker',
  ).finally(() => worker.terminate());
}

/** The raw futex word of a Mutex handle. */
function rawWord(m) {
  return Atomics.load(rawCells(m), WORD);
}

// ---------------------------- 3. a parked async lock is free and on time --
// (first in the file: no earlier test's garbage collection or JIT work in the
// background threads muddies the CPU measurement)

test('await lock() parked for ~1 s: event loop ticks on time and the process uses < 5 % CPU', async (t) => {
  const name = uniqueName('mtx-cpu');
  const m = Mutex.create(name);
  let holder;
  try {
    holder = startNode(HOLDER, ['hold', name, 1200]);
    await holder.line(/^locked /);
    await sleep(100); // let start-up work (the child's pipes, earlier tests' GC) settle
    const { value: result, wokeAt: acquiredAt } = await assertParkedIdle(t, () => m.lock({ timeout: STEP_MS }), { minMs: 700 });
    m.unlock();
    const unlockedAt = Number((await holder.line(/^unlocked /)).split(' ')[1]);
    assert.deepEqual(result, { ownerDied: false });
    assert.ok(acquiredAt - unlockedAt < 200, `acquired ${acquiredAt - unlockedAt} ms after the unlock`);
  } finally {
    await reap(holder);
    m.close();
    unlinkQuietly(name);
  }
});

// ------------------------------------------ 1. counting under the mutex --

/**
 * Creates the counter segment, starts `procs` child processes and `workers`
 * worker threads (each a [mode] entry), releases them together and checks
 * that every one of their plain increments survived.
 */
async function countTogether(t, { embedded, procs, workers = [], iterations }) {
  const segName = uniqueName('mtx-counter');
  const mutexName = embedded ? 'embedded' : uniqueName('mtx');
  const seg = Segment.create(segName, { size: 4096 });
  const local = embedded ? Mutex.init(seg.buffer, 0) : Mutex.create(mutexName);
  const go = Notifier.init(seg.buffer, 128);
  const cells = new Int32Array(seg.buffer);
  const children = [];
  const pending = [];
  try {
    for (const mode of procs) {
      const c = startNode(COUNTER, [segName, mutexName, mode, iterations], { timeoutMs: 25000 });
      children.push(c);
      pending.push(
        c.done.then((r) => {
          assert.equal(r.code, 0, `counter child (${mode}) exited ${r.code ?? r.signal}\nstderr: ${r.stderr}`);
          return JSON.parse(r.stdout);
        }),
      );
    }
    for (const mode of workers) {
      pending.push(runWorker(COUNTER_URL, [segName, mutexName, mode, iterations], 25000).then((m) => JSON.parse(m)));
    }
    for (const p of pending) p.catch(() => {}); // awaited below; no unhandled rejection if setup fails first
    const total = procs.length + workers.length;
    await waitUntil(() => Atomics.load(cells, READY) === total, 15000, 'every counter to be ready');
    const t0 = performance.now();
    go.notify();
    const reports = await Promise.all(pending);
    const ms = performance.now() - t0;
    t.diagnostic(`${total} x ${iterations} increments (${procs.join('/')} procs, ${workers.join('/') || 'no'} workers): ${ms.toFixed(0)} ms`);
    for (const r of reports) {
      assert.equal(r.done, iterations);
      assert.equal(r.ownerDied, 0, 'nobody died, so no lock may report ownerDied');
    }
    assert.equal(Atomics.load(cells, VIOLATIONS), 0, 'two threads were inside the critical section at once');
    assert.equal(Atomics.load(cells, INSIDE), 0);
    assert.equal(cells[COUNTER_CELL], total * iterations, 'lost increments');
    assert.equal(local.locked, false);
    assert.equal(local.holder, null);
    assert.equal(rawWord(local) & TID_MASK, 0);
  } finally {
    await reap(...children);
    go.close();
    local.close();
    seg.close();
    unlinkQuietly(segName);
    if (!embedded) unlinkQuietly(mutexName);
  }
}

test('4 processes x 20 000 plain increments under lockSync: total exact', async (t) => {
  await countTogether(t, { embedded: false, procs: ['sync', 'sync', 'sync', 'sync'], iterations: 20000 });
});

test('4 processes x 20 000 plain increments under await lock(): total exact (embedded Mutex)', async (t) => {
  await countTogether(t, { embedded: true, procs: ['async', 'async', 'async', 'async'], iterations: 20000 });
});

test('2 processes + 2 worker threads x 20 000 increments under one mutex (sync and async mixed)', async (t) => {
  await countTogether(t, { embedded: false, procs: ['sync', 'async'], workers: ['async', 'sync'], iterations: 20000 });
});

test('async contexts of one thread exclude each other; lockSync in that thread is EDEADLK', async () => {
  const m = Mutex.init(new SharedArrayBuffer(Mutex.byteLength()), 0);
  try {
    let inside = 0;
    let maxInside = 0;
    let count = 0;
    const job = async () => {
      for (let i = 0; i < 200; i++) {
        await m.withLock(async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          const v = count;
          if (i % 10 === 0) await sleep(0);
          else await null;
          count = v + 1;
          inside--;
        }, { timeout: STEP_MS });
      }
    };
    await withTimeout(Promise.all([job(), job(), job()]), 20000, 'three async contexts');
    assert.equal(count, 600);
    assert.equal(maxInside, 1);
    assert.equal(m.locked, false);

    // One async context holds it: another one waits (no deadlock) ...
    m.lockSync();
    const waiting = m.lock({ timeout: STEP_MS });
    // ... while a lockSync from the same thread is refused at once.
    assert.throws(() => m.lockSync({ timeout: 1000 }), expectCode('EDEADLK'));
    assert.equal(m.tryLock(), false);
    setTimeout(() => m.unlock(), 20);
    assert.deepEqual(await waiting, { ownerDied: false });
    assert.equal(m.holder.pid, process.pid);
    m.unlock();
    assert.equal(m.locked, false);
  } finally {
    m.close();
  }
});

test('withLock / withLockSync unlock when the callback throws, and pass the lock result', async () => {
  const m = Mutex.init(new SharedArrayBuffer(256), 128);
  try {
    assert.throws(() => m.withLockSync(() => {
      assert.equal(m.locked, true);
      throw new Error('boom');
    }), /boom/);
    assert.equal(m.locked, false);
    await assert.rejects(m.withLock(async () => {
      await sleep(1);
      throw new Error('async boom');
    }), /async boom/);
    assert.equal(m.locked, false);
    assert.equal(m.withLockSync((r) => (assert.equal(r.ownerDied, false), 42)), 42);
    assert.equal(await m.withLock(async (r) => (assert.equal(r.ownerDied, false), 43)), 43);
    assert.throws(() => m.withLockSync('nope'), expectCode('ERR_INVALID_ARG_TYPE'));
    assert.equal(m.locked, false);
  } finally {
    m.close();
  }
});

// --------------------------------------------- 2. owner died (SIGKILL) --

test('holder SIGKILLed while the test awaits lock(): acquired within 1 s with ownerDied, then usable', async () => {
  const name = uniqueName('mtx-died-async');
  const m = Mutex.create(name);
  let holder;
  try {
    holder = startNode(HOLDER, ['hold', name]);
    const [, pid, tid] = (await holder.line(/^locked /)).split(' ').map(Number);
    assert.equal(pid, holder.child.pid);
    assert.deepEqual(m.holder, { pid, tid });
    assert.equal(m.tryLock(), false);

    const locking = m.lock({ timeout: STEP_MS });
    await waitUntil(() => (rawWord(m) & WAITERS_BIT) !== 0, STEP_MS, 'the wait to park (WAITERS set)');
    assert.equal(rawWord(m) & WAITERS_BIT, WAITERS_BIT, 'a parked waiter sets WAITERS');
    const t0 = performance.now();
    holder.child.kill('SIGKILL');
    const result = await locking;
    const ms = performance.now() - t0;
    assert.deepEqual(result, { ownerDied: true });
    assert.ok(ms < 1000, `took ${ms.toFixed(1)} ms after the kill`);
    assert.equal(m.holder.pid, process.pid);
    assert.equal((await holder.done).signal, 'SIGKILL');

    m.unlock();
    assert.equal(rawWord(m), 0, 'unlock leaves the word clean (no OWNER_DIED)');
    assert.deepEqual(await m.lock({ timeout: STEP_MS }), { ownerDied: false });
    m.unlock();
    assert.deepEqual(m.lockSync({ timeout: STEP_MS }), { ownerDied: false });
    m.unlock();
    // another process can use it normally too
    const other = JSON.parse(await runNode(HOLDER, ['lock', name, STEP_MS], { timeoutMs: 15000 }));
    assert.equal(other.ownerDied, false);
    assert.equal(m.locked, false);
  } finally {
    await reap(holder);
    m.close();
    unlinkQuietly(name);
  }
});

test('holder SIGKILLed while the test is blocked in lockSync(): acquired within 1 s with ownerDied', async () => {
  const name = uniqueName('mtx-died-sync');
  const m = Mutex.create(name);
  let holder;
  let killer;
  try {
    holder = startNode(HOLDER, ['hold', name]);
    await holder.line(/^locked /);
    // This thread is about to block: another process does the kill.
    killer = spawn('sh', ['-c', `sleep 0.2; date +%s%3N; kill -9 ${holder.child.pid}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let killerOut = '';
    killer.stdout.on('data', (d) => (killerOut += d));
    const killerDone = new Promise((resolve) => killer.on('close', resolve));
    const t0 = performance.now();
    const result = m.lockSync({ timeout: 5000 });
    const acquiredAt = Date.now();
    const blockedMs = performance.now() - t0;
    assert.deepEqual(result, { ownerDied: true });
    await withTimeout(killerDone, STEP_MS, 'the killer shell');
    const killedAt = Number(killerOut.trim());
    assert.ok(Number.isFinite(killedAt), `killer printed ${killerOut}`);
    const lag = acquiredAt - killedAt;
    assert.ok(lag >= 0 && lag < 1000, `acquired ${lag} ms after the kill (blocked ${blockedMs.toFixed(0)} ms)`);
    assert.ok(blockedMs >= 150, `lockSync returned after ${blockedMs.toFixed(0)} ms, before the kill`);
    assert.equal((await holder.done).signal, 'SIGKILL');
    m.unlock();
    assert.deepEqual(m.lockSync({ timeout: STEP_MS }), { ownerDied: false });
    m.unlock();
  } finally {
    killer?.kill('SIGKILL');
    await reap(holder);
    m.close();
    unlinkQuietly(name);
  }
});

test('a waiter blocked in lockSync in another process gets ownerDied within 1 s of the SIGKILL', async () => {
  const name = uniqueName('mtx-died-child');
  const m = Mutex.create(name);
  let holder;
  let waiter;
  try {
    holder = startNode(HOLDER, ['hold', name]);
    await holder.line(/^locked /);
    waiter = startNode(HOLDER, ['lock', name, 5000]);
    await waitUntil(() => (rawWord(m) & WAITERS_BIT) !== 0, STEP_MS, 'the waiter to park');
    await sleep(20);
    const killedAt = Date.now();
    holder.child.kill('SIGKILL');
    const r = await withTimeout(waiter.done, STEP_MS, 'the waiter');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ownerDied, true, r.stdout);
    assert.ok(out.at - killedAt < 1000, `acquired ${out.at - killedAt} ms after the kill`);
    assert.equal(m.locked, false, 'the waiter unlocked before exiting');
    assert.deepEqual(m.tryLock(), { ownerDied: false });
    m.unlock();
  } finally {
    await reap(holder, waiter);
    m.close();
    unlinkQuietly(name);
  }
});

test('SIGKILL at random instants of a lock/unlock hammer: survivor locks within 1 s, data invariants hold', async (t) => {
  const name = uniqueName('mtx-hammer');
  const segName = uniqueName('mtx-hammer-data');
  const m = Mutex.create(name);
  // The survivor parks at once (no spin), so it waits in the kernel rather
  // than snatching the lock in a gap of the hammer's loop.
  const survivor = Mutex.open(name, { spin: 0 });
  const seg = Segment.create(segName, { size: 4096 });
  const cells = new Int32Array(seg.buffer, 0, 4);
  const ROUNDS = Number(process.env.HAMMER_ROUNDS ?? 10);
  let early = 0;
  let died = 0;
  let maxMs = 0;
  let child;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      child = startNode(HOLDER, ['hammer', name, segName]);
      const before = Atomics.load(cells, 3);
      await waitUntil(() => Atomics.load(cells, 3) > before + 1000, STEP_MS, 'the hammer to run');
      // Three ways to be the survivor, in turn:
      //  0: await lock() first (contending with the hammer), kill a few ms later
      //  1: kill, then at once await lock() (racing the kernel's clean-up)
      //  2: kill, then at once lockSync()
      const how = round % 3;
      let result;
      let ms;
      await sleep(Math.random() * 10);
      if (how === 0) {
        let settled = false;
        const locking = survivor.lock({ timeout: STEP_MS }).finally(() => (settled = true));
        await sleep(Math.random() * 5);
        if (settled) early++;
        const t0 = performance.now();
        child.child.kill('SIGKILL');
        result = await locking;
        ms = performance.now() - t0;
      } else {
        const t0 = performance.now();
        child.child.kill('SIGKILL');
        result = how === 1 ? await survivor.lock({ timeout: STEP_MS }) : survivor.lockSync({ timeout: STEP_MS });
        ms = performance.now() - t0;
      }
      const exit = await withTimeout(child.done, STEP_MS, 'the hammer to die');
      assert.equal(exit.signal, 'SIGKILL', `round ${round}: hammer ended by ${exit.code ?? exit.signal}: ${exit.stderr}`);
      maxMs = Math.max(maxMs, ms);
      assert.ok(ms < 1000, `round ${round}: survivor waited ${ms.toFixed(1)} ms`);
      assert.equal(m.holder.pid, process.pid);
      const a = cells[0];
      const b = cells[1];
      if (result.ownerDied) {
        died++;
        assert.ok(a - b === 0 || a - b === 1, `round ${round}: after a death A=${a} B=${b}`);
        cells[1] = a; // repair
      } else {
        assert.equal(a, b, `round ${round}: no death reported but A=${a} B=${b}`);
      }
      assert.equal(Atomics.load(cells, 2), 0, `round ${round}: the hammer saw a torn update without ownerDied`);
      survivor.unlock();
      assert.deepEqual(m.lockSync({ timeout: STEP_MS }), { ownerDied: false }, `round ${round}: relock`);
      assert.equal(cells[0], cells[1]);
      m.unlock();
      assert.equal(rawWord(m) & (TID_MASK | OWNER_DIED), 0);
    }
    t.diagnostic(`${died}/${ROUNDS} kills landed inside the critical section (${early} contending survivors got the lock before the kill); slowest recovery ${maxMs.toFixed(1)} ms`);
    assert.ok(died >= 1, 'no kill landed while the hammer held the lock: the owner-died path was never exercised');
  } finally {
    await reap(child);
    survivor.close();
    m.close();
    seg.close();
    unlinkQuietly(name);
    unlinkQuietly(segName);
  }
});

test('a worker thread terminated while holding the lock (on the posted buffer): main gets ownerDied', async () => {
  const name = uniqueName('mtx-worker');
  const m = Mutex.create(name);
  const worker = new Worker(WORKER, { workerData: { how: 'attach', buffer: m.buffer } });
  try {
    const msg = await withTimeout(new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }), STEP_MS, 'the worker to lock');
    assert.equal(msg.ownerDied, false);
    assert.equal(msg.holder.pid, process.pid);
    assert.notEqual(msg.holder.tid, process.pid, 'the worker has its own thread id');
    assert.deepEqual(m.holder, msg.holder);
    assert.throws(() => m.unlock(), expectCode('EPERM'));

    const locking = m.lock({ timeout: STEP_MS });
    await sleep(30);
    const t0 = performance.now();
    await worker.terminate();
    const result = await locking;
    const ms = performance.now() - t0;
    assert.deepEqual(result, { ownerDied: true });
    assert.ok(ms < 1000, `took ${ms.toFixed(1)} ms`);
    m.unlock();
    assert.deepEqual(m.lockSync({ timeout: STEP_MS }), { ownerDied: false });
    m.unlock();
  } finally {
    await worker.terminate();
    m.close();
    unlinkQuietly(name);
  }
});

test('a worker thread that mapped the mutex itself, terminated while holding it: main gets ownerDied', async () => {
  const name = uniqueName('mtx-worker-own');
  const m = Mutex.create(name);
  const worker = new Worker(WORKER, { workerData: { how: 'open', name } });
  try {
    const msg = await withTimeout(new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }), STEP_MS, 'the worker to lock');
    assert.deepEqual(m.holder, msg.holder);
    const locking = m.lock({ timeout: 1500 });
    await sleep(30);
    const t0 = performance.now();
    await worker.terminate();
    const result = await locking; // ETIMEDOUT today
    assert.deepEqual(result, { ownerDied: true });
    assert.ok(performance.now() - t0 < 1000);
    m.unlock();
  } finally {
    await worker.terminate();
    m.close();
    unlinkQuietly(name);
  }
});

test('a process whose program ends while it holds the lock: the next locker gets ownerDied', async () => {
  const name = uniqueName('mtx-exit-holding');
  const m = Mutex.create(name);
  try {
    const r = await runNode(HOLDER, ['exit-holding', name], { timeoutMs: 15000 });
    assert.equal(r, 'locked\n');
    const result = await m.lock({ timeout: 1000 }); // ETIMEDOUT today
    assert.deepEqual(result, { ownerDied: true });
    m.unlock();
  } finally {
    m.close();
    unlinkQuietly(name);
  }
});

test('worker.terminate() ends a worker blocked in lockSync() promptly', async () => {
  const m = Mutex.init(new SharedArrayBuffer(128), 0);
  m.lockSync();
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import('shmkit').then(({ Mutex }) => {
       const m = Mutex.attach(workerData, 0);
       parentPort.postMessage('locking');
       try { m.lockSync({ timeout: 2000 }); m.unlock(); } catch {}
     });`,
    { eval: true, workerData: m.buffer },
  );
  try {
    await withTimeout(new Promise((resolve) => worker.once('message', resolve)), STEP_MS, 'the worker to start');
    await waitUntil(() => (rawWord(m) & WAITERS_BIT) !== 0, STEP_MS, 'the worker to park');
    await sleep(20);
    const t0 = performance.now();
    await withTimeout(worker.terminate(), STEP_MS, 'terminate');
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `terminate took ${ms.toFixed(0)} ms (the worker's lockSync had a 2000 ms timeout)`);
  } finally {
    await worker.terminate();
    m.unlock();
    m.close();
  }
});

// ---------------------------------------------- 4. timeouts and aborts --

test('timeouts and aborts end lock waits with ETIMEDOUT / the reason, and leave the mutex usable', async () => {
  const name = uniqueName('mtx-timeout');
  const m = Mutex.create(name);
  let holder;
  try {
    holder = startNode(HOLDER, ['hold', name]);
    await holder.line(/^locked /);

    let t0 = performance.now();
    await assert.rejects(m.lock({ timeout: 100 }), expectCode('ETIMEDOUT'));
    let ms = performance.now() - t0;
    assert.ok(ms >= 95 && ms < 1000, `async timeout after ${ms.toFixed(1)} ms`);

    t0 = performance.now();
    assert.throws(() => m.lockSync({ timeout: 100 }), (err) => err.code === 'ETIMEDOUT' && /timed out after 100 ms/.test(err.message));
    ms = performance.now() - t0;
    assert.ok(ms >= 95 && ms < 1000, `sync timeout after ${ms.toFixed(1)} ms`);

    assert.throws(() => m.lockSync({ timeout: 0 }), expectCode('ETIMEDOUT'));
    await assert.rejects(m.lock({ timeout: 0 }), expectCode('ETIMEDOUT'));

    // abort without a reason: AbortError
    const ac = new AbortController();
    const aborted = m.lock({ signal: ac.signal, timeout: STEP_MS });
    setTimeout(() => ac.abort(), 50);
    t0 = performance.now();
    await assert.rejects(aborted, (err) => err.name === 'AbortError');
    ms = performance.now() - t0;
    assert.ok(ms < 1000, `abort took ${ms.toFixed(1)} ms`);

    // abort with a reason: that very reason
    const reason = new Error('stop waiting');
    const ac2 = new AbortController();
    const aborted2 = m.lock({ signal: ac2.signal, timeout: STEP_MS });
    setTimeout(() => ac2.abort(reason), 20);
    await assert.rejects(aborted2, (err) => err === reason);

    // already aborted
    const reason3 = new Error('never mind');
    await assert.rejects(m.lock({ signal: AbortSignal.abort(reason3), timeout: STEP_MS }), (err) => err === reason3);
    // AbortSignal.timeout
    await assert.rejects(m.lock({ signal: AbortSignal.timeout(30), timeout: STEP_MS }), (err) => err.name === 'TimeoutError');

    // several at once
    const many = [];
    for (let i = 0; i < 5; i++) many.push(assert.rejects(m.lock({ timeout: 30 + i * 10 }), expectCode('ETIMEDOUT')));
    const acs = [1, 2, 3].map(() => new AbortController());
    for (const c of acs) many.push(assert.rejects(m.lock({ signal: c.signal, timeout: STEP_MS }), (err) => err.name === 'AbortError'));
    setTimeout(() => acs.forEach((c) => c.abort()), 40);
    await withTimeout(Promise.all(many), STEP_MS, 'timeouts and aborts');

    // still held by the child, unchanged
    assert.equal(m.holder.pid, holder.child.pid);
    assert.throws(() => m.unlock(), expectCode('EPERM'));

    // A waiter that does not give up gets the lock when the holder releases it.
    const patient = m.lock({ timeout: STEP_MS });
    holder.send('release\n');
    assert.deepEqual(await patient, { ownerDied: false });
    const r = await holder.done;
    assert.equal(r.code, 0, r.stderr);
    m.unlock();
    assert.equal(rawWord(m), 0, 'the word is clean once free');

    // others can still lock and unlock
    const other = JSON.parse(await runNode(HOLDER, ['lock', name, STEP_MS], { timeoutMs: 15000 }));
    assert.equal(other.ownerDied, false);
    assert.deepEqual(m.tryLock(), { ownerDied: false });
    m.unlock();
    assert.equal(m.locked, false);
  } finally {
    await reap(holder);
    m.close();
    unlinkQuietly(name);
  }
});

test('bad wait options are rejected when the lock has to be waited for', async () => {
  const m = Mutex.init(new SharedArrayBuffer(128), 0);
  try {
    m.lockSync(); // contended from here on: every call below takes the waiting path
    const range = (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE';
    const type = (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE';
    assert.throws(() => m.lockSync({ timeout: -1 }), range);
    assert.throws(() => m.lockSync({ timeout: NaN }), range);
    assert.throws(() => m.lockSync({ timeout: '10' }), type);
    assert.throws(() => m.lockSync(5), type);
    await assert.rejects(m.lock({ timeout: -1 }), range);
    await assert.rejects(m.lock({ signal: 'abort' }), type);
    await assert.rejects(m.lock(null), type);
    assert.equal(m.holder.pid, process.pid);
    m.unlock();
    assert.equal(m.locked, false);
    assert.throws(() => Mutex.init(new SharedArrayBuffer(128), 0, { spin: -5 }), range);
    assert.throws(() => Mutex.init(new SharedArrayBuffer(128), 0, { spin: 1.5 }), range);
  } finally {
    m.close();
  }
});

test('bad wait options are rejected even when the lock is free', async () => {
  const m = Mutex.init(new SharedArrayBuffer(128), 0);
  try {
    assert.throws(() => m.lockSync({ timeout: -1 }), (err) => err.code === 'ERR_OUT_OF_RANGE');
    assert.equal(m.locked, false, 'a refused call must not take the lock');
    await assert.rejects(m.lock({ signal: 'abort' }), (err) => err.code === 'ERR_INVALID_ARG_TYPE');
    assert.equal(m.locked, false, 'a refused call must not take the lock');
  } finally {
    m.close();
  }
});

// --------------------------------------------------------------- 5. misuse --

test('opening a Notifier as a Mutex is ERR_SHMKIT_BAD_LAYOUT naming what it holds', () => {
  const name = uniqueName('mtx-as-notifier');
  const n = Notifier.create(name);
  try {
    assert.throws(() => Mutex.open(name), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /holds a Notifier/.test(err.message) && /not a Mutex/.test(err.message));
    assert.throws(() => Mutex.openOrCreate(name), expectCode('ERR_SHMKIT_BAD_LAYOUT'));
    assert.throws(() => Mutex.attach(n.buffer, 0), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /holds a Notifier/.test(err.message));
    assert.throws(() => Mutex.create(name), expectCode('EEXIST'));
    assert.equal(n.value, 0, 'the notifier is untouched');
  } finally {
    n.close();
    unlinkQuietly(name);
  }
});

test('unlock of a free mutex, of one held by another process, and lockSync twice', async () => {
  const name = uniqueName('mtx-misuse');
  const m = Mutex.create(name);
  let holder;
  try {
    assert.throws(() => m.unlock(), (err) => err.code === 'EPERM' && /does not hold/.test(err.message));
    assert.deepEqual(m.lockSync(), { ownerDied: false });
    assert.throws(() => m.lockSync({ timeout: 1000 }), expectCode('EDEADLK'));
    assert.throws(() => m.lockSync({ timeout: 10 }), expectCode('EDEADLK'));
    assert.equal(m.tryLock(), false);
    assert.equal(m.holder.pid, process.pid, 'still held after the refused relock');
    m.unlock();
    assert.throws(() => m.unlock(), expectCode('EPERM'));

    holder = startNode(HOLDER, ['hold', name]);
    await holder.line(/^locked /);
    assert.throws(() => m.unlock(), expectCode('EPERM'));
    assert.equal(m.holder.pid, holder.child.pid, 'a refused unlock does not release');
    assert.equal(m.tryLock(), false);
    // close() must not release someone else's lock
    const second = Mutex.open(name);
    second.close();
    assert.equal(m.holder.pid, holder.child.pid);
    holder.send('x\n');
    assert.equal((await holder.done).code, 0);
    assert.equal(m.locked, false);
  } finally {
    await reap(holder);
    m.close();
    unlinkQuietly(name);
  }
});

test('embedded init/attach: bad offsets and buffers are TypeError/RangeError', () => {
  const sab = new SharedArrayBuffer(512);
  const range = (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE';
  const type = (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE';
  assert.equal(Mutex.byteLength(), 128);
  for (const fn of [Mutex.init, Mutex.attach]) {
    const call = (...a) => fn.apply(Mutex, a);
    assert.throws(() => call(sab, 4), range, `${fn.name}(4)`);
    assert.throws(() => call(sab, 7), range, `${fn.name}(7)`);
    assert.throws(() => call(sab, -8), range, `${fn.name}(-8)`);
    assert.throws(() => call(sab, 8.5), range, `${fn.name}(8.5)`);
    assert.throws(() => call(sab, 520), range, `${fn.name}(520)`);
    assert.throws(() => call(sab, '8'), type, `${fn.name}('8')`);
    assert.throws(() => call(new ArrayBuffer(512), 0), type, `${fn.name}(ArrayBuffer)`);
    assert.throws(() => call(new Uint8Array(sab), 0), type, `${fn.name}(Uint8Array)`);
    assert.throws(() => call(Buffer.alloc(512), 0), type, `${fn.name}(Buffer)`);
    assert.throws(() => call(null, 0), type, `${fn.name}(null)`);
  }
  // the object must fit
  assert.throws(() => Mutex.init(sab, 512 - 120), range);
  assert.throws(() => Mutex.init(new SharedArrayBuffer(100), 0), range);
  // nothing was written by the refused calls
  assert.ok(new Uint8Array(sab).every((b) => b === 0));
  // a good one at the last possible offset
  const m = Mutex.init(sab, 512 - 128);
  assert.equal(m.name, null);
  assert.equal(m.byteOffset, 384);
  m.close();
});

test('attach on zeroed memory fails after about 1 s; on a garbage header at once', () => {
  const sab = new SharedArrayBuffer(256);
  let t0 = performance.now();
  assert.throws(() => Mutex.attach(sab, 0), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /never initialised/.test(err.message));
  let ms = performance.now() - t0;
  assert.ok(ms >= 900 && ms < 1500, `zeroed memory refused after ${ms.toFixed(0)} ms`);

  new Uint8Array(sab).fill(0xa5);
  t0 = performance.now();
  assert.throws(() => Mutex.attach(sab, 0), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /not a shmkit object/.test(err.message));
  ms = performance.now() - t0;
  assert.ok(ms < 50, `garbage refused after ${ms.toFixed(1)} ms`);

  // too small for a header
  assert.throws(() => Mutex.attach(sab, 224), expectCode('ERR_SHMKIT_BAD_LAYOUT'));
});

test('every method of a closed Mutex is ERR_SHMKIT_CLOSED; close is idempotent and releases a held lock', async () => {
  const name = uniqueName('mtx-closed');
  const m = Mutex.create(name);
  const other = Mutex.open(name);
  try {
    m.lockSync();
    m.close(); // held by this thread: close unlocks first
    assert.equal(other.locked, false, 'closing the holder\'s handle released the lock');
    m.close();
    const closed = expectCode('ERR_SHMKIT_CLOSED');
    assert.throws(() => m.lockSync(), closed);
    assert.throws(() => m.tryLock(), closed);
    assert.throws(() => m.unlock(), closed);
    assert.throws(() => m.locked, closed);
    assert.throws(() => m.holder, closed);
    assert.throws(() => m.stats(), closed);
    assert.throws(() => m.withLockSync(() => 1), closed);
    await assert.rejects(m.lock(), closed);
    await assert.rejects(m.withLock(() => 1), closed);
    assert.deepEqual(other.lockSync({ timeout: STEP_MS }), { ownerDied: false });
    other.unlock();
  } finally {
    m.close();
    other.close();
    unlinkQuietly(name);
  }
});

test('a handle that refuses its options after the segment is opened (spin out of range) leaves no descriptor, mapping or name behind, for every named kind', async () => {
  const { Barrier, Condition, RwLock, Semaphore } = await import('shmkit');
  const fds = () => readdirSync('/proc/self/fd').length;
  const kinds = [
    ['mutex', Mutex, {}], ['rwlock', RwLock, {}], ['semaphore', Semaphore, { initial: 1 }],
    ['condition', Condition, {}], ['barrier', Barrier, { parties: 2 }], ['notifier', Notifier, {}],
  ];
  for (const [label, Kind, createOptions] of kinds) {
    const name = uniqueName(`refuse-${label}`);
    Kind.create(name, createOptions).close();
    try {
      const before = fds();
      for (let i = 0; i < 20; i++) {
        assert.throws(() => Kind.open(name, { spin: -1 }), expectCode('ERR_OUT_OF_RANGE', RangeError), `${label}.open`);
        assert.throws(() => Kind.openOrCreate(name, { ...createOptions, spin: 1e9 }), expectCode('ERR_OUT_OF_RANGE', RangeError), `${label}.openOrCreate`);
      }
      assert.equal(fds(), before, `${label}: descriptors left open by refused handles`);
      const fresh = uniqueName(`refuse-new-${label}`);
      assert.throws(() => Kind.create(fresh, { ...createOptions, spin: -1 }), expectCode('ERR_OUT_OF_RANGE', RangeError), `${label}.create`);
      assert.equal(existsSync(`/dev/shm${fresh}`), false, `${label}.create left its name behind`);
    } finally {
      unlinkQuietly(name);
    }
  }
});

test('withLock/withLockSync whose fn closes the handle return fn\'s value (close unlocked it; the helper does not throw ERR_SHMKIT_CLOSED)', async () => {
  const sab = new SharedArrayBuffer(256);
  const watcher = Mutex.init(sab, 0);
  const a = Mutex.attach(sab, 0);
  assert.equal(a.withLockSync(() => (a.close(), 'done')), 'done');
  assert.equal(watcher.locked, false);
  const b = Mutex.attach(sab, 0);
  assert.equal(await b.withLock(async () => (b.close(), 'done async')), 'done async');
  assert.equal(watcher.locked, false);
  watcher.close();
});
