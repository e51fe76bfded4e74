// Condition: hand-offs across processes without lost wake-ups, notify and
// notifyAll, the mutex contract (EPERM, held after a timeout), bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Barrier, Condition, Mutex, RwLock, Segment, Semaphore } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { parkedOn, rawCells, sleep, unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';
import { children } from './fixtures/proc.mjs';

const PEER = new URL('./fixtures/condition-peer.mjs', import.meta.url).pathname;

// Data cells shared with condition-peer.mjs (named tests).
const READY = 0;
const TOKENS = 1;
const WOKEN = 2;
const RELEASE = 3;
const GRABBED = 4;

// Condition layout: SEQ at byte 64, WAITERS at 68.
const SEQ = 64 / 4;
const WAITERS = 68 / 4;

/** A named Mutex, Condition and data segment for the token tests. */
function namedSet(label) {
  const names = { m: uniqueName(`${label}-m`), c: uniqueName(`${label}-c`), d: uniqueName(`${label}-d`) };
  const m = Mutex.create(names.m);
  const cond = Condition.create(names.c);
  const data = Segment.create(names.d, { size: 4096 });
  const cells = new Int32Array(data.buffer, 0, 16);
  return {
    names,
    m,
    cond,
    cells,
    close() {
      m.close();
      cond.close();
      data.close();
      unlinkQuietly(names.m, names.c, names.d);
    },
  };
}

// The acceptance run is 100 000 hand-offs (sync producer, async consumer);
// the reverse pairing runs fewer to keep the file short on a busy machine.
for (const [producerForm, consumerForm, count] of [['sync', 'async', 100000], ['async', 'sync', 30000]]) {
  test(`${count} hand-offs across processes lose no wake-up (${producerForm} producer, ${consumerForm} consumer)`, async (t) => {
    const segName = uniqueName('cond-handoff');
    const kids = children(PEER);
    const seg = Segment.create(segName, { size: 4096 });
    const m = Mutex.init(seg.buffer, 0);
    const notEmpty = Condition.init(seg.buffer, 128);
    const notFull = Condition.init(seg.buffer, 256);
    try {
      const cells = new Int32Array(seg.buffer, 512, 16);
      const t0 = performance.now();
      const outs = await Promise.all([
        // A bound for a stuck run, not a speed target: at a load of 15 on
        // 2 CPUs the 100 000 hand-offs took over 20 s.
        kids.node(['handoff', segName, 'producer', producerForm, count], 120000),
        kids.node(['handoff', segName, 'consumer', consumerForm, count], 120000),
      ]);
      t.diagnostic(`${count} hand-offs in ${Math.round(performance.now() - t0)} ms`);
      // Every wait has a 5 s timeout, but a wait whose wake-up was lost
      // returns at the deadline all the same (the sequence moved): the
      // longest wait is what shows it.
      for (const out of outs) {
        const r = JSON.parse(out);
        assert.ok(r.longestWaitMs < 2000, `the ${r.form} ${r.role} once waited ${Math.round(r.longestWaitMs)} ms`);
      }
      assert.equal(Atomics.load(cells, 2), count, 'every hand-off completed');
      assert.equal(Atomics.load(cells, 3), 0, 'values arrived in order');
      assert.equal(Atomics.load(cells, 0), 0, 'slot empty at the end');
      assert.equal(m.locked, false);
      assert.equal(rawCells(notEmpty)[WAITERS], 0);
      assert.equal(rawCells(notFull)[WAITERS], 0);
    } finally {
      await kids.kill();
      m.close();
      notEmpty.close();
      notFull.close();
      seg.close();
      unlinkQuietly(segName);
    }
  });
}

// The waiters' own timeout: longer than three children take to start on a
// busy machine (a waiter parked first must not time out before the last
// parks), and far above PROMPT_MS, so a lost wake-up still shows.
const WAITER_MS = 20000;
const PROMPT_MS = 8000;

test('notifyAll wakes all 3 waiting processes', async () => {
  const set = namedSet('cond-all');
  const kids = children(PEER);
  try {
    const { names, m, cond, cells } = set;
    // Two async waiters: a sync one re-checks every 50 ms, woken or not.
    const waiters = ['async', 'sync', 'async'].map((form) => kids.node(['token', names.m, names.c, names.d, form, WAITER_MS]));
    await waitUntil(() => Atomics.load(cells, READY) === 3 && rawCells(cond)[WAITERS] === 3, 30000, '3 parked waiters');
    await sleep(20);
    assert.equal(Atomics.load(cells, WOKEN), 0, 'nobody passed without a token');
    m.lockSync({ timeout: 2000 });
    Atomics.store(cells, TOKENS, 3);
    cond.notifyAll();
    m.unlock();
    const t0 = performance.now();
    const reports = (await Promise.all(waiters)).map((out) => JSON.parse(out));
    assert.ok(performance.now() - t0 < PROMPT_MS, 'all woke promptly (their waits last 20 s)');
    assert.equal(Atomics.load(cells, WOKEN), 3);
    assert.equal(Atomics.load(cells, TOKENS), 0);
    for (const r of reports) assert.ok(r.wakes >= 1);
    assert.equal(rawCells(cond)[WAITERS], 0);
  } finally {
    await kids.kill();
    set.close();
  }
});

test('notify(n) wakes at least n of the waiting processes', async () => {
  const set = namedSet('cond-n');
  const kids = children(PEER);
  try {
    const { names, m, cond, cells } = set;
    // Async waiters: a sync one re-checks every 50 ms, woken or not.
    const waiters = ['async', 'async', 'async'].map((form) => kids.node(['token', names.m, names.c, names.d, form, WAITER_MS]));
    await waitUntil(() => Atomics.load(cells, READY) === 3 && rawCells(cond)[WAITERS] === 3, 30000, '3 parked waiters');
    m.lockSync({ timeout: 2000 });
    Atomics.store(cells, TOKENS, 1);
    cond.notify();
    m.unlock();
    await waitUntil(() => Atomics.load(cells, WOKEN) === 1, 2000, 'one waiter to take the token');
    await sleep(50);
    assert.equal(Atomics.load(cells, WOKEN), 1, 'the others went back to waiting');
    await waitUntil(() => rawCells(cond)[WAITERS] === 2, 3000, 'the other two to park again');
    m.lockSync({ timeout: 2000 });
    Atomics.store(cells, TOKENS, 2);
    cond.notify(2);
    m.unlock();
    const t0 = performance.now();
    await Promise.all(waiters);
    assert.ok(performance.now() - t0 < PROMPT_MS, 'both woke promptly (their waits last 20 s)');
    assert.equal(Atomics.load(cells, WOKEN), 3);
    assert.equal(rawCells(cond)[WAITERS], 0);
  } finally {
    await kids.kill();
    set.close();
  }
});

test('waiting without holding the mutex throws EPERM and changes nothing', async () => {
  const set = namedSet('cond-eperm');
  const kids = children(PEER);
  try {
    const { names, m, cond, cells } = set;
    const seq = rawCells(cond)[SEQ];
    // Free mutex.
    assert.throws(() => cond.waitSync(m, { timeout: 200 }), (err) => err.code === 'EPERM' && !('syscall' in err) && /^Condition .*: waitSync\(\): the mutex must be held \(Mutex .*: unlock\(\)/.test(err.message));
    await assert.rejects(cond.wait(m, { timeout: 200 }), (err) => err.code === 'EPERM' && /^Condition .*: wait\(\): the mutex must be held/.test(err.message));
    assert.equal(m.locked, false, 'still free');
    assert.equal(rawCells(cond)[WAITERS], 0);
    assert.equal(rawCells(cond)[SEQ], seq);

    // Mutex held by another process.
    const holder = kids.node(['hold', names.m, names.d]);
    await waitUntil(() => Atomics.load(cells, READY) === 1, 10000, 'the child to hold the mutex');
    const before = m.holder;
    assert.notEqual(before, null);
    assert.notEqual(before.pid, process.pid);
    assert.throws(() => cond.waitSync(m, { timeout: 200 }), { code: 'EPERM' });
    await assert.rejects(cond.wait(m, { timeout: 200 }), { code: 'EPERM' });
    assert.deepEqual(m.holder, before, 'still held by the child');
    assert.equal(rawCells(cond)[WAITERS], 0);
    Atomics.store(cells, RELEASE, 1);
    await holder;
    assert.equal(m.locked, false);

    // Bad arguments are rejected before the mutex is touched.
    m.lockSync({ timeout: 1000 });
    try {
      assert.throws(() => cond.waitSync({}, { timeout: 10 }), { code: 'ERR_INVALID_ARG_TYPE' });
      await assert.rejects(cond.wait(null, { timeout: 10 }), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.throws(() => cond.waitSync(m, { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(m.holder?.pid, process.pid, 'still ours');
    } finally {
      m.unlock();
    }
  } finally {
    await kids.kill();
    set.close();
  }
});

test('a timed-out wait throws ETIMEDOUT with the mutex held again', async () => {
  const set = namedSet('cond-timeout');
  const kids = children(PEER);
  try {
    const { names, m, cond, cells } = set;
    m.lockSync({ timeout: 1000 });
    assert.throws(() => cond.waitSync(m, { timeout: 30 }), { code: 'ETIMEDOUT' });
    assert.equal(m.holder?.pid, process.pid, 'held after waitSync timed out');
    m.unlock();
    assert.equal(m.locked, false);

    await m.lock({ timeout: 1000 });
    await assert.rejects(cond.wait(m, { timeout: 30 }), { code: 'ETIMEDOUT' });
    assert.equal(m.holder?.pid, process.pid, 'held after wait timed out');
    m.unlock();

    // Abort: the same, with the signal's reason.
    await m.lock({ timeout: 1000 });
    const reason = new Error('abort the wait');
    const ac = new AbortController();
    setTimeout(() => ac.abort(reason), 30);
    await assert.rejects(cond.wait(m, { signal: ac.signal, timeout: 5000 }), (err) => err === reason);
    assert.equal(m.holder?.pid, process.pid, 'held after the abort');
    m.unlock();
    assert.equal(rawCells(cond)[WAITERS], 0);

    // Across processes: the mutex is free during the wait (another process
    // takes it) and the timeout is only thrown once it is ours again.
    m.lockSync({ timeout: 1000 });
    const grabber = kids.node(['grab', names.m, names.d, 400]);
    await waitUntil(() => Atomics.load(cells, READY) === 1, 10000, 'the child to start');
    await sleep(20);
    const t0 = performance.now();
    assert.throws(() => cond.waitSync(m, { timeout: 300 }), { code: 'ETIMEDOUT' });
    const ms = performance.now() - t0;
    assert.equal(Atomics.load(cells, GRABBED), 1, 'the child had the mutex during the wait');
    assert.ok(ms >= 350, `re-locked after the child's 400 ms hold (${Math.round(ms)} ms)`);
    assert.equal(m.holder?.pid, process.pid);
    m.unlock();
    await grabber;
    assert.equal(m.locked, false);
  } finally {
    await kids.kill();
    set.close();
  }
});

test('an async wait aborted after it was woken passes the notify on', async () => {
  const set = namedSet('cond-abort-wake');
  const kids = children(PEER);
  try {
    const { names, m, cond, cells } = set;
    m.lockSync({ timeout: 1000 });
    const ac = new AbortController();
    const mine = cond.wait(m, { signal: ac.signal, timeout: 8000 }); // parks first
    mine.catch(() => {});
    await waitUntil(() => parkedOn(process.pid, names.c) >= 1, 10000, 'this process to park first');
    // The other waiter is async: a sync one re-checks every 50 ms anyway.
    const child = kids.raw(['token', names.m, names.c, names.d, 'async', 2000]);
    await waitUntil(() => Atomics.load(cells, READY) === 1 && rawCells(cond)[WAITERS] === 2, 10000, 'the child to park');
    await sleep(100);
    m.lockSync({ timeout: 1000 });
    Atomics.store(cells, TOKENS, 1);
    cond.notify(1);
    m.unlock();
    // Block the event loop so the wake-up is consumed before the abort is seen.
    const until = performance.now() + 30;
    while (performance.now() < until);
    ac.abort(new Error('gave up'));
    await assert.rejects(mine, { message: 'gave up' });
    m.unlock(); // held again after the abort
    const r = await child;
    assert.equal(r.code, 0, `the waiting child must see the notify; it got: ${r.stderr.split('\n').find((l) => l.includes('Error')) ?? r.stderr}`);
    assert.equal(Atomics.load(cells, WOKEN), 1);
    // It parked about 100 ms before the notify; without the wake-up it only
    // comes back when its 2 s wait times out (and then sees SEQ moved).
    const { waitedMs } = JSON.parse(r.stdout);
    assert.ok(waitedMs < 1200, `the child waited ${Math.round(waitedMs)} ms for a notify sent after about 100 ms`);
  } finally {
    await kids.kill();
    set.close();
  }
});

test('misuse: another kind under the name, bad embedded offsets, closed handles, bad notify counts', async () => {
  const condName = uniqueName('cond-kind');
  const semName = uniqueName('cond-is-sem');
  const cond = Condition.create(condName);
  const sem = Semaphore.create(semName);
  try {
    assert.throws(() => Condition.open(semName), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
    assert.throws(() => Condition.openOrCreate(semName), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
    for (const Other of [Mutex, Semaphore, Barrier, RwLock]) {
      assert.throws(() => Other.open(condName), { code: 'ERR_SHMKIT_BAD_LAYOUT' }, `${Other.name}.open`);
    }
    for (const n of [0, -1, 1.5]) assert.throws(() => cond.notify(n), { code: 'ERR_OUT_OF_RANGE' }, `notify(${n})`);
    const seq = rawCells(cond)[SEQ];
    cond.notify();
    cond.notify(5);
    cond.notifyAll();
    assert.equal(rawCells(cond)[SEQ], seq + 3, 'notifies with nobody waiting are cheap no-ops on WAITERS');
  } finally {
    cond.close();
    sem.close();
    unlinkQuietly(condName, semName);
  }

  const sab = new SharedArrayBuffer(1024);
  assert.equal(Condition.byteLength(), 128);
  for (const offset of [4, -8, 1.5, 1024, 1024 - 64, 4096]) {
    assert.throws(() => Condition.init(sab, offset), { code: 'ERR_OUT_OF_RANGE' }, `init at ${offset}`);
  }
  for (const offset of [4, -8, 1.5, 4096]) {
    assert.throws(() => Condition.attach(sab, offset), { code: 'ERR_OUT_OF_RANGE' }, `attach at ${offset}`);
  }
  assert.ok(new Uint8Array(sab).every((b) => b === 0), 'failed inits wrote nothing');
  const m = Mutex.init(sab, 0);
  const c = Condition.init(sab, 128);
  const c2 = Condition.attach(sab, 128);
  assert.throws(() => Condition.attach(sab, 0), { code: 'ERR_SHMKIT_BAD_LAYOUT' }, 'a Mutex is there');

  c.close();
  c.close();
  assert.throws(() => c.notify(), { code: 'ERR_SHMKIT_CLOSED' });
  assert.throws(() => c.notifyAll(), { code: 'ERR_SHMKIT_CLOSED' });
  m.lockSync({ timeout: 1000 });
  assert.throws(() => c.waitSync(m, { timeout: 10 }), { code: 'ERR_SHMKIT_CLOSED' });
  await assert.rejects(c.wait(m, { timeout: 10 }), { code: 'ERR_SHMKIT_CLOSED' });
  assert.equal(m.holder?.pid, process.pid, 'a closed condition does not touch the mutex');
  assert.throws(() => c2.waitSync(m, { timeout: 10 }), { code: 'ETIMEDOUT' }, 'the other handle still works');
  m.unlock();
  c2.close();
  m.close();
});
