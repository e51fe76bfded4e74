// RwLock: shared readers, exclusive writers, writer preference, timeouts,
// bad input; across processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Barrier, Condition, Mutex, RwLock, Segment, Semaphore } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { STEP_MS, rawCells, sleep, unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';
import { children } from './fixtures/proc.mjs';

const PEER = new URL('./fixtures/rwlock-peer.mjs', import.meta.url).pathname;

// Data cells shared with rwlock-peer.mjs.
const READERS_IN = 0;
const WRITERS_IN = 1;
const MAX_READERS = 2;
const VIOLATIONS = 3;
const COUNTER = 4;
const READS = 5;
const WRITES = 6;
const READY = 8;
const RELEASE = 9;
const GO = 10;

// RwLock layout: STATE at byte 64, WRITERS_WAITING 68, WAITERS 72, WRITER_PID 76.
const STATE = 64 / 4;
const WAITERS = 72 / 4;
const WRITER_PID = 76 / 4;

const FREE = { readers: 0, writer: false, writersWaiting: 0 };

/** A named RwLock and a data segment. */
function namedSet(label) {
  const names = { rw: uniqueName(`${label}-rw`), d: uniqueName(`${label}-d`) };
  const rw = RwLock.create(names.rw);
  const data = Segment.create(names.d, { size: 4096 });
  return {
    names,
    rw,
    cells: new Int32Array(data.buffer, 0, 64),
    close() {
      rw.close();
      data.close();
      unlinkQuietly(names.rw, names.d);
    },
  };
}

test('readers in 2 processes hold the lock at once (sync and async)', async () => {
  const set = namedSet('rw-overlap');
  const kids = children(PEER);
  try {
    const { names, rw, cells } = set;
    // Each child keeps its read lock until 2 readers were inside together:
    // if reads excluded each other, both would time out.
    await Promise.all(['sync', 'async'].map((form) => kids.node(['overlap', names.rw, names.d, form])));
    assert.equal(Atomics.load(cells, MAX_READERS), 2);
    assert.equal(Atomics.load(cells, VIOLATIONS), 0);
    assert.deepEqual(rw.state, FREE);
  } finally {
    await kids.kill();
    set.close();
  }
});

test('a writer is alone: 2 writer and 2 reader processes never overlap', async () => {
  const set = namedSet('rw-exclusion');
  const kids = children(PEER);
  try {
    const { names, rw, cells } = set;
    const iters = 1500;
    const outs = await Promise.all([
      kids.node(['mix', names.rw, names.d, 'writer', 'sync', iters]),
      kids.node(['mix', names.rw, names.d, 'writer', 'async', iters]),
      kids.node(['mix', names.rw, names.d, 'reader', 'sync', iters]),
      kids.node(['mix', names.rw, names.d, 'reader', 'async', iters]),
    ]);
    // Waits have a 10 s timeout and a late wake-up still gets in at the
    // deadline: a lost wake-up shows only as a very long wait.
    for (const out of outs) {
      const r = JSON.parse(out);
      assert.ok(r.longestWaitMs < 5000, `a ${r.form} ${r.role} waited ${Math.round(r.longestWaitMs)} ms for the lock`);
    }
    assert.equal(Atomics.load(cells, VIOLATIONS), 0, 'no overlap seen');
    assert.equal(Atomics.load(cells, COUNTER), 2 * iters, 'no write was lost to another writer');
    assert.equal(Atomics.load(cells, WRITES), 2 * iters);
    assert.equal(Atomics.load(cells, READS), 2 * iters);
    assert.equal(Atomics.load(cells, READERS_IN), 0);
    assert.equal(Atomics.load(cells, WRITERS_IN), 0);
    assert.deepEqual(rw.state, FREE);
    assert.equal(rawCells(rw)[WAITERS], 0);
  } finally {
    await kids.kill();
    set.close();
  }
});

for (const writerForm of ['sync', 'async']) {
  test(`a ${writerForm} writer gets in within 1 s of a continuous stream of readers in 2 processes`, async () => {
    const set = namedSet('rw-starve');
    const kids = children(PEER);
    try {
      const { names, rw, cells } = set;
      const readers = ['sync', 'async'].map((form) => kids.node(['stream', names.rw, names.d, form]));
      const { ms } = JSON.parse(await kids.node(['writer', names.rw, names.d, writerForm]));
      await Promise.all(readers);
      assert.ok(ms < 1000, `the writer waited ${Math.round(ms)} ms`);
      assert.equal(Atomics.load(cells, VIOLATIONS), 0);
      assert.equal(Atomics.load(cells, WRITES), 1);
      assert.ok(Atomics.load(cells, MAX_READERS) >= 2, 'the readers overlapped');
      assert.deepEqual(rw.state, FREE);
    } finally {
      await kids.kill();
      set.close();
    }
  });
}

test('sync and async forms, try forms, unlock, state', async () => {
  const sab = new SharedArrayBuffer(256);
  const a = RwLock.init(sab, 128);
  const b = RwLock.attach(sab, 128);
  const raw = rawCells(a);
  assert.equal(RwLock.byteLength(), 128);
  assert.deepEqual(a.state, FREE);
  assert.throws(() => a.unlock(), { code: 'EPERM' }, 'holds nothing');

  // Reads share; a handle can hold several.
  a.readSync({ timeout: 100 });
  await a.read({ timeout: 100 });
  assert.equal(b.tryRead(), true);
  assert.deepEqual(a.state, { readers: 3, writer: false, writersWaiting: 0 });
  assert.equal(b.tryWrite(), false);
  assert.throws(() => b.writeSync({ timeout: 10 }), { code: 'ETIMEDOUT' });
  b.unlock();
  assert.throws(() => b.unlock(), { code: 'EPERM' }, 'b released its only read');
  a.unlock();
  a.unlock();
  assert.throws(() => a.unlock(), { code: 'EPERM' });
  assert.deepEqual(a.state, FREE);

  // Writes exclude.
  a.writeSync({ timeout: 100 });
  assert.deepEqual(b.state, { readers: 0, writer: true, writersWaiting: 0 });
  assert.equal(raw[WRITER_PID], process.pid);
  assert.equal(b.tryRead(), false);
  assert.equal(b.tryWrite(), false);
  await assert.rejects(b.read({ timeout: 10 }), { code: 'ETIMEDOUT' });
  assert.throws(() => b.unlock(), { code: 'EPERM' }, 'b does not hold the write lock');
  assert.deepEqual(b.state, { readers: 0, writer: true, writersWaiting: 0 });
  a.unlock();
  assert.equal(raw[WRITER_PID], 0);
  await b.write({ timeout: 100 });
  assert.equal(a.tryWrite(), false);
  b.unlock();
  assert.equal(a.tryWrite(), true);
  a.unlock();
  assert.deepEqual(a.state, FREE);

  // An already-aborted signal rejects, even with the lock free, and takes nothing.
  const already = new Error('already aborted');
  await assert.rejects(a.read({ signal: AbortSignal.abort(already), timeout: 100 }), (err) => err === already);
  await assert.rejects(a.write({ signal: AbortSignal.abort(already), timeout: 100 }), (err) => err === already);
  assert.deepEqual(a.state, FREE);
  assert.throws(() => a.unlock(), { code: 'EPERM' }, 'nothing was taken');

  // A waiting async writer goes in when the last reader leaves; readers queue behind it.
  a.readSync({ timeout: 100 });
  const writing = b.write({ timeout: 2000 });
  assert.equal(a.state.writersWaiting, 1);
  assert.equal(a.tryRead(), false, 'a waiting writer blocks new readers');
  a.unlock();
  await writing;
  assert.deepEqual(a.state, { readers: 0, writer: true, writersWaiting: 0 });
  const reading = a.read({ timeout: 2000 });
  await sleep(10);
  b.unlock();
  await reading;
  assert.deepEqual(a.state, { readers: 1, writer: false, writersWaiting: 0 });
  a.unlock();
  assert.equal(raw[WAITERS], 0);
  a.close();
  b.close();
});

test('timed-out and aborted writers leave the state consistent (in one process)', async () => {
  const sab = new SharedArrayBuffer(128);
  const reader = RwLock.init(sab, 0);
  const writer = RwLock.attach(sab, 0);
  const other = RwLock.attach(sab, 0);
  reader.readSync({ timeout: 100 });
  assert.throws(() => writer.writeSync({ timeout: 30 }), { code: 'ETIMEDOUT' });
  assert.deepEqual(reader.state, { readers: 1, writer: false, writersWaiting: 0 });
  await assert.rejects(writer.write({ timeout: 30 }), { code: 'ETIMEDOUT' });
  assert.deepEqual(reader.state, { readers: 1, writer: false, writersWaiting: 0 });
  const reason = new Error('no more');
  const ac = new AbortController();
  setTimeout(() => ac.abort(reason), 30);
  await assert.rejects(writer.write({ signal: ac.signal, timeout: 5000 }), (err) => err === reason);
  assert.deepEqual(reader.state, { readers: 1, writer: false, writersWaiting: 0 });
  assert.throws(() => writer.unlock(), { code: 'EPERM' }, 'the failed writer holds nothing');
  assert.equal(other.tryRead(), true, 'readers enter again');
  other.unlock();
  reader.unlock();
  assert.deepEqual(reader.state, FREE);
  assert.equal(rawCells(reader)[WAITERS], 0);
  assert.equal(writer.tryWrite(), true);
  writer.unlock();

  // Two writers waiting; one gives up: the other keeps its priority.
  reader.readSync({ timeout: 100 });
  const quitting = writer.write({ timeout: 50 });
  const staying = other.write({ timeout: 3000 });
  assert.equal(reader.state.writersWaiting, 2);
  await assert.rejects(quitting, { code: 'ETIMEDOUT' });
  assert.equal(reader.state.writersWaiting, 1);
  assert.equal(writer.tryRead(), false, 'the remaining writer still blocks new readers');
  reader.unlock();
  await staying;
  assert.deepEqual(reader.state, { readers: 0, writer: true, writersWaiting: 0 });
  other.unlock();
  assert.deepEqual(reader.state, FREE);
});

test('a writer timing out in one process lets blocked readers of another process in at once', async () => {
  const set = namedSet('rw-timeout');
  const kids = children(PEER);
  try {
    const { names, rw, cells } = set;
    // Another process reads; our sync writer times out.
    const holder = kids.node(['hold-read', names.rw, names.d]);
    await waitUntil(() => Atomics.load(cells, READY) === 1, 10000, 'the child to hold a read lock');
    assert.throws(() => rw.writeSync({ timeout: 100 }), { code: 'ETIMEDOUT' });
    assert.deepEqual(rw.state, { readers: 1, writer: false, writersWaiting: 0 });
    assert.equal(rw.tryRead(), true, 'readers can enter again');
    rw.unlock();

    // Our async writer waits (so new readers queue behind it), then times out:
    // the reader blocked in another process must get in right away, not at
    // the end of its own timeout.
    // The child starts (slow on a busy machine) before the writer's 500 ms
    // run, and reads only once told to, so it parks well within them.
    Atomics.store(cells, READY, 0);
    // An async reader: a sync one re-checks every 50 ms whether woken or not.
    const blocked = kids.node(['read-wait', names.rw, names.d, 'async', 4000]);
    await waitUntil(() => Atomics.load(cells, READY) === 1, 10000, 'the child reader to start');
    const writing = rw.write({ timeout: 500 });
    writing.catch(() => {});
    assert.equal(rw.state.writersWaiting, 1);
    Atomics.store(cells, GO, 1);
    await waitUntil(() => rawCells(rw)[WAITERS] === 2, 10000, 'the child reader to park');
    await assert.rejects(writing, { code: 'ETIMEDOUT' });
    const { ms } = JSON.parse(await blocked);
    assert.ok(ms < 2500, `the blocked reader waited ${Math.round(ms)} ms (its timeout was 4000)`);
    assert.deepEqual(rw.state, { readers: 1, writer: false, writersWaiting: 0 }, 'only the holder reads');
    Atomics.store(cells, RELEASE, 1);
    await holder;
    assert.deepEqual(rw.state, FREE);
    assert.equal(rw.tryWrite(), true);
    rw.unlock();
  } finally {
    await kids.kill();
    set.close();
  }
});

test('misuse: another kind under the name, bad embedded offsets, closed handles', async () => {
  const rwName = uniqueName('rw-kind');
  const barName = uniqueName('rw-is-barrier');
  const rw = RwLock.create(rwName);
  const bar = Barrier.create(barName, { parties: 2 });
  try {
    assert.throws(() => RwLock.open(barName), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
    assert.throws(() => RwLock.openOrCreate(barName), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
    for (const Other of [Mutex, Semaphore, Condition, Barrier]) {
      assert.throws(() => Other.open(rwName), { code: 'ERR_SHMKIT_BAD_LAYOUT' }, `${Other.name}.open`);
    }
    assert.deepEqual(rw.state, FREE);
  } finally {
    rw.close();
    bar.close();
    unlinkQuietly(rwName, barName);
  }

  const sab = new SharedArrayBuffer(1024);
  for (const offset of [4, -8, 1.5, 1024, 1024 - 64, 4096]) {
    assert.throws(() => RwLock.init(sab, offset), { code: 'ERR_OUT_OF_RANGE' }, `init at ${offset}`);
  }
  for (const offset of [4, -8, 1.5, 4096]) {
    assert.throws(() => RwLock.attach(sab, offset), { code: 'ERR_OUT_OF_RANGE' }, `attach at ${offset}`);
  }
  assert.ok(new Uint8Array(sab).every((v) => v === 0), 'failed inits wrote nothing');

  const a = RwLock.init(sab, 256);
  const b = RwLock.attach(sab, 256);
  a.close();
  a.close();
  for (const [what, fn] of [
    ['state', () => a.state],
    ['tryRead', () => a.tryRead()],
    ['tryWrite', () => a.tryWrite()],
    ['readSync', () => a.readSync({ timeout: 10 })],
    ['writeSync', () => a.writeSync({ timeout: 10 })],
    ['unlock', () => a.unlock()],
  ]) {
    assert.throws(fn, { code: 'ERR_SHMKIT_CLOSED' }, what);
  }
  await assert.rejects(a.read({ timeout: 10 }), { code: 'ERR_SHMKIT_CLOSED' });
  await assert.rejects(a.write({ timeout: 10 }), { code: 'ERR_SHMKIT_CLOSED' });
  assert.deepEqual(b.state, FREE, 'nothing was taken through the closed handle');
  assert.equal(rawCells(b)[STATE], 0);
  b.close();
});

test('withReadLock/withWriteLock (and Sync): fn runs under the lock, its value is returned, and the lock is released on return, throw and reject', async () => {
  const sab = new SharedArrayBuffer(256);
  const rw = RwLock.init(sab, 0);
  const other = RwLock.attach(sab, 0);
  try {
    assert.equal(rw.withReadLockSync(() => {
      assert.deepEqual(other.state, { readers: 1, writer: false, writersWaiting: 0 });
      assert.equal(other.tryWrite(), false);
      return 'r';
    }), 'r');
    assert.deepEqual(other.state, FREE);
    assert.equal(await rw.withReadLock(async () => {
      await sleep(1);
      assert.equal(other.state.readers, 1);
      return 'ra';
    }), 'ra');
    assert.deepEqual(other.state, FREE);
    assert.equal(rw.withWriteLockSync(() => {
      assert.deepEqual(other.state, { readers: 0, writer: true, writersWaiting: 0 });
      assert.equal(other.tryRead(), false);
      return 'w';
    }), 'w');
    assert.deepEqual(other.state, FREE);
    assert.equal(await rw.withWriteLock(async () => (await sleep(1), other.state.writer)), true);
    assert.deepEqual(other.state, FREE);

    const boom = new Error('boom');
    assert.throws(() => rw.withReadLockSync(() => { throw boom; }), (err) => err === boom);
    assert.throws(() => rw.withWriteLockSync(() => { throw boom; }), (err) => err === boom);
    await assert.rejects(rw.withReadLock(async () => { throw boom; }), (err) => err === boom);
    await assert.rejects(rw.withWriteLock(() => Promise.reject(boom)), (err) => err === boom);
    assert.deepEqual(other.state, FREE, 'every failing fn left the lock free');

    // the wait options are passed on: a held write lock times the helpers out, and nothing is left held
    assert.equal(other.tryWrite(), true);
    assert.throws(() => rw.withReadLockSync(() => assert.fail('ran'), { timeout: 20 }), { code: 'ETIMEDOUT' });
    await assert.rejects(rw.withWriteLock(() => assert.fail('ran'), { timeout: 20 }), { code: 'ETIMEDOUT' });
    const ac = new AbortController();
    const aborted = rw.withReadLock(() => assert.fail('ran'), { signal: ac.signal, timeout: STEP_MS });
    ac.abort(new Error('stop'));
    await assert.rejects(aborted, /stop/);
    other.unlock();
    assert.deepEqual(other.state, FREE);

    // a read helper releases only its own read lock
    rw.readSync();
    rw.withReadLockSync(() => assert.equal(other.state.readers, 2));
    assert.equal(other.state.readers, 1);
    rw.unlock();
    assert.throws(() => rw.withReadLockSync('fn'), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(rw.withWriteLock(null), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.deepEqual(other.state, FREE);
  } finally {
    rw.close();
    other.close();
  }
});

test('close() releases the locks the handle holds (also from inside a helper)', async () => {
  const sab = new SharedArrayBuffer(256);
  const rw = RwLock.init(sab, 0);
  const other = RwLock.attach(sab, 0);
  try {
    rw.readSync();
    rw.readSync();
    rw.close();
    assert.deepEqual(other.state, FREE, 'two read locks released by close');
    const w = RwLock.attach(sab, 0);
    assert.equal(w.withWriteLockSync(() => (w.close(), 'closed inside')), 'closed inside');
    assert.deepEqual(other.state, FREE);
    const r = RwLock.attach(sab, 0);
    assert.equal(await r.withReadLock(async () => (r.close(), 1)), 1);
    assert.deepEqual(other.state, FREE);
  } finally {
    other.close();
  }
});
