// Semaphore: counting across processes, waking, timeouts/aborts, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Barrier, Condition, Mutex, RwLock, Segment, Semaphore } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { assertParkedIdle, parkedOn, rawCells, sleep, unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';
import { children, run } from './fixtures/proc.mjs';

const PEER = new URL('./fixtures/semaphore-peer.mjs', import.meta.url).pathname;

// Data cells shared with semaphore-peer.mjs.
const IN_USE = 0;
const MAX_IN_USE = 1;
const VIOLATIONS = 2;
const ACQUIRED = 3;
const RELEASED = 4;
const READY = 5;

// Semaphore layout (LAYOUT: VALUE at byte 64, WAITERS at 68).
const WAITERS = 68 / 4;

// First in the file, so no earlier test's GC or JIT work muddies the CPU figure.
test('await acquire() parked for ~1 s: the event loop ticks on time and the process uses < 5 % CPU', async (t) => {
  const name = uniqueName('sem-idle');
  const sem = Semaphore.create(name, { initial: 0 });
  try {
    const releaser = run(process.execPath, ['--input-type=module', '-e',
      `import { Semaphore } from 'shmkit'; const s = Semaphore.open(${JSON.stringify(name)}); setTimeout(() => { s.release(); s.close(); }, 1000);`,
    ], { timeoutMs: 10000, cwd: new URL('..', import.meta.url).pathname });
    await assertParkedIdle(t, () => sem.acquire({ timeout: 8000 }));
    assert.equal((await releaser).code, 0);
    assert.equal(sem.value, 0, 'the released unit was taken exactly once');
  } finally {
    sem.close();
    Semaphore.unlink(name);
  }
});

const waitersOf = (sem) => Atomics.load(rawCells(sem), WAITERS);

test('4 processes never hold more units than the initial value', async () => {
  const semName = uniqueName('sem-inuse');
  const dataName = uniqueName('sem-inuse-data');
  const kids = children(PEER);
  const initial = 2;
  const iters = 1500;
  const sem = Semaphore.create(semName, { initial });
  const data = Segment.create(dataName, { size: 4096 });
  try {
    const cells = new Int32Array(data.buffer, 0, 64);
    const forms = ['sync', 'sync', 'async', 'async'];
    await Promise.all(forms.map((form) => kids.node(['worker', semName, dataName, iters, form, initial])));
    assert.equal(Atomics.load(cells, VIOLATIONS), 0, 'no child saw a broken invariant');
    assert.equal(Atomics.load(cells, ACQUIRED), forms.length * iters);
    assert.equal(Atomics.load(cells, MAX_IN_USE), initial, 'all units were in use at some point, never more');
    assert.equal(Atomics.load(cells, IN_USE), 0);
    assert.equal(sem.value, initial, 'every unit came back, none was added');
    assert.equal(waitersOf(sem), 0);
  } finally {
    await kids.kill();
    sem.close();
    data.close();
    unlinkQuietly(semName, dataName);
  }
});

test('producers and consumers in 5 processes: acquires equal releases, despite racing timeouts and aborts', async () => {
  const semName = uniqueName('sem-pc');
  const dataName = uniqueName('sem-pc-data');
  const kids = children(PEER);
  const sem = Semaphore.create(semName, { initial: 0 });
  const data = Segment.create(dataName, { size: 4096 });
  try {
    const cells = new Int32Array(data.buffer, 0, 64);
    const perProducer = 6000;
    const perConsumer = 4000; // 3 consumers take what 2 producers give
    // Consumers first: they start out waiting, with waits of 2 ms that keep
    // timing out (or being aborted) while units arrive.
    const consumers = ['sync', 'async', 'abort'].map((form) => kids.node(['consume', semName, dataName, perConsumer, form, 2]));
    await waitUntil(() => Atomics.load(cells, READY) === 3, 10000, 'consumers ready');
    const producers = [0, 1].map(() => kids.node(['produce', semName, dataName, perProducer]));
    await Promise.all([...consumers, ...producers]);
    assert.equal(Atomics.load(cells, RELEASED), 2 * perProducer);
    assert.equal(Atomics.load(cells, ACQUIRED), 3 * perConsumer);
    assert.equal(sem.value, 0, 'no unit left over (none duplicated)');
    assert.equal(sem.tryAcquire(), false);
    assert.equal(waitersOf(sem), 0);
  } finally {
    await kids.kill();
    sem.close();
    data.close();
    unlinkQuietly(semName, dataName);
  }
});

test('an async acquire wakes when another process releases', async () => {
  const semName = uniqueName('sem-async-wake');
  const kids = children(PEER);
  const sem = Semaphore.create(semName, { initial: 0 });
  try {
    let settled = false;
    const t0 = performance.now();
    const waiting = sem.acquire({ timeout: 8000 }).finally(() => (settled = true));
    assert.equal(waitersOf(sem), 1, 'parked');
    await sleep(50);
    assert.equal(settled, false, 'still waiting with value 0');
    await kids.node(['release', semName, '-', 1]);
    await waiting; // a timeout would reject
    assert.ok(performance.now() - t0 < 6000);
    assert.equal(sem.value, 0, 'the released unit was taken');
    assert.equal(waitersOf(sem), 0);

    // The same with a release that comes while the event loop is idle.
    const again = sem.acquire({ timeout: 8000 });
    const releaser = kids.node(['release', semName, '-', 1, 100]);
    await again;
    await releaser;
    assert.equal(sem.value, 0);
  } finally {
    await kids.kill();
    sem.close();
    unlinkQuietly(semName);
  }
});

test('acquireSync in another process wakes when this one releases', async () => {
  const semName = uniqueName('sem-sync-wake');
  const dataName = uniqueName('sem-sync-wake-data');
  const kids = children(PEER);
  const sem = Semaphore.create(semName, { initial: 0 });
  const data = Segment.create(dataName, { size: 4096 });
  try {
    const cells = new Int32Array(data.buffer, 0, 64);
    const child = kids.node(['acquire', semName, dataName, 8000]);
    await waitUntil(() => Atomics.load(cells, READY) === 1 && waitersOf(sem) === 1, 10000, 'the child to park');
    await sleep(20);
    sem.release();
    const { waitedMs } = JSON.parse(await child);
    assert.ok(waitedMs < 6000, `waited ${waitedMs} ms`);
    assert.equal(sem.value, 0);
    assert.equal(waitersOf(sem), 0);
  } finally {
    await kids.kill();
    sem.close();
    data.close();
    unlinkQuietly(semName, dataName);
  }
});

test('timeouts and aborts do not take a unit', async () => {
  const semName = uniqueName('sem-timeout');
  const kids = children(PEER);
  const sem = Semaphore.create(semName, { initial: 0 });
  try {
    assert.throws(() => sem.acquireSync({ timeout: 30 }), { code: 'ETIMEDOUT' });
    assert.equal(sem.value, 0);
    await assert.rejects(sem.acquire({ timeout: 30 }), { code: 'ETIMEDOUT' });
    assert.equal(sem.value, 0);

    const ac = new AbortController();
    const reason = new Error('stop waiting');
    const aborted = sem.acquire({ signal: ac.signal, timeout: 5000 });
    setTimeout(() => ac.abort(reason), 30);
    await assert.rejects(aborted, (err) => err === reason);
    assert.equal(sem.value, 0);

    const pre = AbortSignal.abort(new Error('already'));
    await assert.rejects(sem.acquire({ signal: pre, timeout: 5000 }), { message: 'already' });
    assert.equal(sem.value, 0);
    assert.equal(waitersOf(sem), 0, 'no waiter left registered');

    // Another process times out too; the units released afterwards are all there.
    const r = await kids.raw(['acquire', semName, '-', 100]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ETIMEDOUT/);
    sem.release(2);
    assert.equal(sem.value, 2);
    assert.equal(sem.tryAcquire(), true);
    assert.equal(sem.tryAcquire(), true);
    assert.equal(sem.tryAcquire(), false);
    assert.equal(sem.value, 0);
  } finally {
    await kids.kill();
    sem.close();
    unlinkQuietly(semName);
  }
});

test('an async acquire aborted after it was woken passes the wake-up on', async () => {
  const semName = uniqueName('sem-abort-wake');
  const dataName = uniqueName('sem-abort-wake-data');
  const kids = children(PEER);
  const sem = Semaphore.create(semName, { initial: 0 });
  const data = Segment.create(dataName, { size: 4096 });
  try {
    const cells = new Int32Array(data.buffer, 0, 64);
    // This process parks first, so release(1) wakes it (futex wakes are FIFO).
    const ac = new AbortController();
    const mine = sem.acquire({ signal: ac.signal, timeout: 8000 });
    mine.catch(() => {});
    await waitUntil(() => parkedOn(process.pid, semName) >= 1, 10000, 'this process to park first');
    // The other waiter is async: a sync one re-checks every 50 ms anyway.
    const child = kids.raw(['acquire', semName, dataName, 2000, 'async']);
    await waitUntil(() => Atomics.load(cells, READY) === 1 && waitersOf(sem) === 2, 10000, 'the child to park');
    await sleep(100);
    sem.release(1);
    // Block the event loop so the wake-up is consumed before the abort is seen.
    const until = performance.now() + 30;
    while (performance.now() < until);
    ac.abort(new Error('gave up'));
    await assert.rejects(mine, { message: 'gave up' });
    const r = await child;
    assert.equal(r.code, 0, `the child must get the released unit; it got: ${r.stderr.split('\n')[0]}`);
    // It parked about 100 ms before the release: it must not sit out its whole timeout.
    const { waitedMs } = JSON.parse(r.stdout);
    assert.ok(waitedMs < 1200, `the child waited ${Math.round(waitedMs)} ms for a unit released after about 100 ms`);
    assert.equal(sem.value, 0);
  } finally {
    await kids.kill();
    sem.close();
    data.close();
    unlinkQuietly(semName, dataName);
  }
});

test('an already-aborted signal rejects even when a unit is free', async () => {
  const semName = uniqueName('sem-preabort');
  const sem = Semaphore.create(semName, { initial: 1 });
  try {
    await assert.rejects(sem.acquire({ signal: AbortSignal.abort(new Error('already')), timeout: 1000 }), { message: 'already' });
    assert.equal(sem.value, 1, 'the unit is still there');
  } finally {
    sem.close();
    unlinkQuietly(semName);
  }
});

test('release and create check their arguments', () => {
  const semName = uniqueName('sem-args');
  const sem = Semaphore.create(semName, { initial: 3 });
  try {
    for (const n of [0, -1, 1.5, 2 ** 31]) {
      assert.throws(() => sem.release(n), (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE', `release(${n})`);
    }
    assert.throws(() => sem.release('1'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(sem.value, 3, 'bad releases changed nothing');
    sem.release(); // default 1
    assert.equal(sem.value, 4);
  } finally {
    sem.close();
    unlinkQuietly(semName);
  }

  for (const initial of [-1, 1.5, 2 ** 31]) {
    const name = uniqueName('sem-bad-initial');
    try {
      assert.throws(() => Semaphore.create(name, { initial }), (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE', `initial ${initial}`);
      assert.throws(() => Segment.open(name), { code: 'ENOENT' }, 'nothing was created');
      assert.throws(() => Semaphore.byteLength({ initial }), { code: 'ERR_OUT_OF_RANGE' });
    } finally {
      unlinkQuietly(name);
    }
  }

  const zero = uniqueName('sem-default');
  const s0 = Semaphore.create(zero);
  try {
    assert.equal(s0.value, 0, 'initial defaults to 0');
  } finally {
    s0.close();
    unlinkQuietly(zero);
  }
});

test('release past 2^31 - 1 throws EOVERFLOW and changes nothing', () => {
  const semName = uniqueName('sem-overflow');
  const sem = Semaphore.create(semName, { initial: 2 ** 31 - 2 });
  try {
    assert.throws(() => sem.release(2), { code: 'EOVERFLOW' });
    assert.equal(sem.value, 2 ** 31 - 2);
    sem.release(1);
    assert.equal(sem.value, 2 ** 31 - 1);
    assert.throws(() => sem.release(1), { code: 'EOVERFLOW' });
    assert.equal(sem.value, 2 ** 31 - 1);
    assert.equal(sem.tryAcquire(), true);
    assert.equal(sem.value, 2 ** 31 - 2);
  } finally {
    sem.close();
    unlinkQuietly(semName);
  }
});

test('misuse: another kind under the name, bad embedded offsets, closed handles', async () => {
  // A name holding another kind of object.
  const mutexName = uniqueName('sem-is-mutex');
  const semName = uniqueName('sem-kind');
  const m = Mutex.create(mutexName);
  const sem = Semaphore.create(semName, { initial: 1 });
  try {
    assert.throws(() => Semaphore.open(mutexName), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
    assert.throws(() => Semaphore.openOrCreate(mutexName, { initial: 1 }), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
    for (const Other of [Mutex, Condition, Barrier, RwLock]) {
      assert.throws(() => Other.open(semName), { code: 'ERR_SHMKIT_BAD_LAYOUT' }, `${Other.name}.open`);
    }
    assert.equal(sem.value, 1, 'the failed opens changed nothing');
  } finally {
    m.close();
    sem.close();
    unlinkQuietly(mutexName, semName);
  }

  // Embedded placement.
  const sab = new SharedArrayBuffer(1024);
  assert.equal(Semaphore.byteLength({ initial: 5 }), 128);
  for (const offset of [4, 12, -8, -1, 1.5, 1024, 1024 - 64, 2048]) {
    assert.throws(() => Semaphore.init(sab, offset, { initial: 1 }), { code: 'ERR_OUT_OF_RANGE' }, `init at ${offset}`);
  }
  for (const offset of [4, -8, 1.5, 2048]) {
    assert.throws(() => Semaphore.attach(sab, offset), { code: 'ERR_OUT_OF_RANGE' }, `attach at ${offset}`);
  }
  assert.ok(new Uint8Array(sab).every((b) => b === 0), 'failed inits wrote nothing');
  new Int32Array(sab, 0, 1)[0] = 0x12345678; // not a shmkit object
  assert.throws(() => Semaphore.attach(sab, 0), { code: 'ERR_SHMKIT_BAD_LAYOUT' }, 'not a shmkit header');
  const a = Semaphore.init(sab, 1024 - 128, { initial: 2 });
  const b = Semaphore.attach(sab, 1024 - 128);
  assert.equal(b.value, 2);
  assert.equal(a.tryAcquire(), true);
  assert.equal(b.value, 1);
  Mutex.init(sab, 0);
  assert.throws(() => Semaphore.attach(sab, 0), { code: 'ERR_SHMKIT_BAD_LAYOUT' });

  // Closed handles.
  a.close();
  a.close(); // idempotent
  assert.throws(() => a.value, { code: 'ERR_SHMKIT_CLOSED' });
  assert.throws(() => a.tryAcquire(), { code: 'ERR_SHMKIT_CLOSED' });
  assert.throws(() => a.acquireSync({ timeout: 10 }), { code: 'ERR_SHMKIT_CLOSED' });
  await assert.rejects(a.acquire({ timeout: 10 }), { code: 'ERR_SHMKIT_CLOSED' });
  assert.throws(() => a.release(), { code: 'ERR_SHMKIT_CLOSED' });
  assert.equal(b.value, 1, 'the other handle still works and nothing changed');
  b.close();

  const named = uniqueName('sem-closed');
  const s = Semaphore.create(named, { initial: 1 });
  try {
    s.close();
    assert.throws(() => s.release(), { code: 'ERR_SHMKIT_CLOSED' });
    const again = Semaphore.open(named);
    assert.equal(again.value, 1, 'closing a handle does not remove the object');
    again.close();
  } finally {
    unlinkQuietly(named);
  }
});

test('openOrCreate compares a given initial with the one the Semaphore was created with (not its current value); omitted, it is accepted', () => {
  const name = uniqueName('sem-mismatch');
  const sem = Semaphore.openOrCreate(name, { initial: 3 });
  try {
    const raw = rawCells(sem);
    assert.equal(raw[1] & 0xffff, 2, 'layout version 2 (INITIAL at byte 72)');
    assert.equal(raw[72 / 4], 3, 'INITIAL recorded at byte 72');
    sem.acquireSync();
    sem.acquireSync();
    assert.equal(sem.value, 1);
    // The same initial opens it, though the value is 1 now.
    const same = Semaphore.openOrCreate(name, { initial: 3 });
    assert.equal(same.value, 1);
    same.close();
    for (const opts of [undefined, {}, { spin: 0 }, { mode: 0o644 }]) Semaphore.openOrCreate(name, opts).close();
    for (const initial of [0, 1, 5]) {
      assert.throws(() => Semaphore.openOrCreate(name, { initial }), (err) => {
        assert.equal(err.code, 'ERR_SHMKIT_MISMATCH');
        assert.equal(err.name, 'ShmkitError');
        assert.equal(err.path, name);
        assert.match(err.message, new RegExp(`^Semaphore '${name}' already exists with initial 3; openOrCreate asked for ${initial}`));
        return true;
      });
    }
    assert.equal(sem.value, 1, 'the refused opens changed nothing');
  } finally {
    sem.close();
    Semaphore.unlink(name);
  }
  // Embedded objects record it too.
  const sab = new SharedArrayBuffer(128);
  Semaphore.init(sab, 0, { initial: 7 }).close();
  assert.equal(new Int32Array(sab)[72 / 4], 7);
});

test('a version-1 Semaphore (no INITIAL) is refused with ERR_SHMKIT_BAD_LAYOUT naming the version', () => {
  const sab = new SharedArrayBuffer(128);
  Semaphore.init(sab, 0, { initial: 1 }).close();
  new DataView(sab).setUint16(4, 1, true);
  assert.throws(() => Semaphore.attach(sab, 0), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /layout version 1; this shmkit reads version 2/.test(err.message));
});

test('withPermit/withPermitSync: fn runs holding a unit, its value is returned, and the unit comes back on return, throw and reject', async () => {
  const sab = new SharedArrayBuffer(128);
  const sem = Semaphore.init(sab, 0, { initial: 2 });
  try {
    assert.equal(sem.withPermitSync(() => sem.value), 1);
    assert.equal(await sem.withPermit(async () => (await sleep(1), sem.value)), 1);
    assert.equal(sem.value, 2);
    // nested: two units, then none left for a third
    assert.equal(sem.withPermitSync(() => sem.withPermitSync(() => sem.tryAcquire())), false);
    assert.equal(sem.value, 2);
    const boom = new Error('boom');
    assert.throws(() => sem.withPermitSync(() => { throw boom; }), (err) => err === boom);
    await assert.rejects(sem.withPermit(() => Promise.reject(boom)), (err) => err === boom);
    await assert.rejects(sem.withPermit(async () => { throw boom; }), (err) => err === boom);
    assert.equal(sem.value, 2, 'every failing fn gave its unit back');
    // options are passed on: with no unit left, the helpers time out and take nothing
    assert.equal(sem.tryAcquire(), true);
    assert.equal(sem.tryAcquire(), true);
    assert.throws(() => sem.withPermitSync(() => assert.fail('ran'), { timeout: 20 }), { code: 'ETIMEDOUT' });
    await assert.rejects(sem.withPermit(() => assert.fail('ran'), { timeout: 20 }), { code: 'ETIMEDOUT' });
    assert.equal(sem.value, 0);
    // a unit released while a helper waits lets it run
    const waiting = sem.withPermit(() => 'got it', { timeout: 5000 });
    sem.release();
    assert.equal(await waiting, 'got it');
    assert.equal(sem.value, 1);
    assert.throws(() => sem.withPermitSync(42), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(sem.withPermit(undefined), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(sem.value, 1);
  } finally {
    sem.close();
  }
});
