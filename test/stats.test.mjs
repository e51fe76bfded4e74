// Statistics live in the objects: the counters every process keeps in an
// object's shared memory, checked against known traffic made by other
// processes (test/fixtures/stats-peer.mjs), and stats() on closed handles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Barrier, Condition, Mutex, Notifier, Queue, RwLock, Segment, Semaphore, SharedArray, Topic } from 'shmkit';
import { PUBLISHER_LOCK_OFFSET } from '../dist/src/channel/topic-layout.js';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, expectCode, sleep, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { killedOk, reap, reportOf, startNode } from './fixtures/proc.mjs';

const PEER = fileURLToPath(new URL('./fixtures/stats-peer.mjs', import.meta.url));
const uniqueName = trackedNames();
const peer = (...args) => startNode(PEER, args, { timeoutMs: 30000 });

/** Creates a named object with `make(name)`, runs `fn(handle, name)`, always closes and unlinks. */
async function withNamed(Kind, label, make, fn) {
  const name = uniqueName(label);
  const handle = make(name);
  try {
    await fn(handle, name);
  } finally {
    handle.close();
    Kind.unlink(name);
  }
}

test('Queue: sent, received and emptyWaits count another process\'s traffic; a receive that parks counts once', async () => {
  await withNamed(Queue, 'q-traffic', (n) => Queue.create(n, { capacity: 4096 }), async (q, name) => {
    assert.deepEqual([q.stats().sent, q.stats().received, q.stats().fullWaits, q.stats().emptyWaits], [0, 0, 0, 0]);
    const N = 200;
    const receiver = peer('queue-receive', name, N);
    let sender;
    try {
      // The receiver finds the queue empty and parks: counted as it parks, not after.
      await waitUntil(() => q.stats().emptyWaits >= 1, STEP_MS, 'the receiver to park');
      sender = peer('queue-send', name, N, 100);
      const [got] = await Promise.all([reportOf(receiver, 'receiver'), reportOf(sender, 'sender')]);
      assert.equal(got.total, N * 100);
      const s = q.stats();
      assert.equal(s.sent, N);
      assert.equal(s.received, N);
      assert.equal(s.length, 0);
      assert.ok(s.emptyWaits >= 1 && s.emptyWaits <= N, `emptyWaits ${s.emptyWaits}: at most one per receive call`);
      // One receive that waits three repair slices (250 ms each) is one wait, not three.
      const before = s.emptyWaits;
      await reportOf(peer('queue-receive-timeout', name, 700), 'timed-out receiver');
      assert.equal(q.stats().emptyWaits, before + 1);
    } finally {
      await reap(receiver, sender);
    }
  });
});

test('Queue: a send that parks on a full queue counts one fullWait, however long it waits', async () => {
  await withNamed(Queue, 'q-full', (n) => Queue.create(n, { capacity: 4096 }), async (q, name) => {
    const message = Buffer.alloc(100);
    let filled = 0;
    while (q.trySend(message)) filled++;
    assert.equal(q.lastTryResult, 'full');
    await sleep(1); // end of the turn: the producer slot goes back
    const sender = peer('queue-send', name, 1, 100);
    try {
      await waitUntil(() => q.stats().fullWaits === 1, STEP_MS, 'the sender to park');
      await sleep(600); // more than two repair slices: still one wait
      assert.equal(q.stats().fullWaits, 1);
      assert.ok(q.tryReceive());
      await reportOf(sender, 'sender');
      const s = q.stats();
      assert.deepEqual([s.fullWaits, s.sent, s.received, s.length], [1, filled + 1, 1, filled]);
    } finally {
      await reap(sender);
    }
  });
});

test('Queue: a producer SIGKILLed mid-send is counted in producersDied once its claim is cleaned up', async () => {
  await withNamed(Queue, 'q-died', (n) => Queue.create(n, { capacity: 4096 }), async (q, name) => {
    const producer = peer('queue-reserve', name, 0, 100);
    try {
      await producer.line(/reserved/);
      producer.child.kill('SIGKILL');
      await killedOk(producer, 'producer');
      assert.ok(q.trySend('after'));
      // The consumer finds the dead claim at CLAIM, cleans it up, and takes the next message.
      assert.equal(String(q.receiveSync({ timeout: STEP_MS })), 'after');
      const s = q.stats();
      assert.deepEqual([s.producersDied, s.consumersDied, s.sent, s.received], [1, 0, 1, 1]);
    } finally {
      await reap(producer);
    }
  });
});

test('Mutex: two processes lock K times in all: acquisitions is exact, contended counts the ones that waited; holder is reported', async () => {
  await withNamed(Mutex, 'mtx-count', (n) => Mutex.create(n), async (m, name) => {
    const K = 300;
    m.lockSync();
    assert.equal(m.stats().holder?.pid, process.pid);
    const a = peer('mutex-lock', name, K);
    const b = peer('mutex-lock', name, K);
    try {
      await Promise.all([a.line(/ready/), b.line(/ready/)]);
      // A locker parks only after setting the WAITERS bit: then it surely waited.
      await waitUntil(() => m.stats().waiting, STEP_MS, 'a child to wait for the lock');
      m.unlock();
      await Promise.all([reportOf(a, 'a'), reportOf(b, 'b')]);
      const s = m.stats();
      assert.equal(s.acquisitions, 1 + 2 * K, 'every lock counted once, by its holder');
      assert.ok(s.contended >= 1 && s.contended <= 2 * K, `contended ${s.contended}`);
      assert.equal(s.ownerDied, 0);
      assert.equal(s.holder, null);
    } finally {
      await reap(a, b);
    }
  });
});

test('Mutex: a holder SIGKILLed: the next lock reports ownerDied and the counter is 1', async () => {
  await withNamed(Mutex, 'mtx-died', (n) => Mutex.create(n), async (m, name) => {
    const holder = peer('mutex-hold', name);
    try {
      await holder.line(/held/);
      assert.equal(m.stats().holder?.pid, holder.child.pid);
      holder.child.kill('SIGKILL');
      await killedOk(holder, 'holder');
      assert.deepEqual(m.lockSync({ timeout: STEP_MS }), { ownerDied: true });
      m.unlock();
      assert.deepEqual(m.lockSync({ timeout: STEP_MS }), { ownerDied: false });
      m.unlock();
      const s = m.stats();
      assert.deepEqual([s.ownerDied, s.acquisitions, s.holder], [1, 3, null]);
    } finally {
      await reap(holder);
    }
  });
});

test('Topic: published, dropped, laps and what is kept after another process published several rings\' worth', async () => {
  await withNamed(Topic, 'topic-laps', (n) => Topic.create(n, { capacity: 1024 }), async (t, name) => {
    assert.deepEqual(t.stats(), {
      capacity: 1024, maxMessage: 240, published: 0, dropped: 0, keptMessages: 0, keptBytes: 0, laps: 0, waiting: 0, lockContended: 0, publishersDied: 0,
    });
    // 40-byte messages: 56-byte records, 18 to a lap (1008 bytes, then a 16-byte filler).
    const N = 100;
    await reportOf(peer('topic-publish', name, N, 40), 'publisher');
    const s = t.stats();
    assert.equal(s.published, N);
    assert.equal(s.laps, Math.floor((N - 1) / 18), 'a lap ends when record 18k + 1 starts the ring again');
    assert.equal(s.keptMessages + s.dropped, N);
    assert.ok(s.dropped > 0 && s.keptBytes <= 1024 && s.keptBytes >= s.keptMessages * 56, JSON.stringify(s));
    // What is kept is what a subscriber from the oldest message reads.
    const sub = t.subscribe({ from: 'earliest' });
    let read = 0;
    while (sub.tryReceive() !== undefined) read++;
    sub.close();
    assert.equal(read, s.keptMessages);
  });
});

test('Topic: a publisher killed holding the lock: publishersDied is 1 after the next publish', async () => {
  await withNamed(Topic, 'topic-died', (n) => Topic.create(n, { capacity: 1024 }), async (t, name) => {
    const holder = peer('topic-hold-lock', name);
    try {
      await holder.line(/held/);
      holder.child.kill('SIGKILL');
      await killedOk(holder, 'lock holder');
      t.publish('after', { timeout: STEP_MS }); // finds OWNER_DIED: recovers the lock, and the ring
      const s = t.stats();
      assert.deepEqual([s.publishersDied, s.lockContended, s.published], [1, 0, 1]);
    } finally {
      await reap(holder);
    }
  });
});

test('Topic: two processes publishing in tight loops while the publisher lock is held: lockContended counts the waits, published is exact', async () => {
  await withNamed(Topic, 'topic-contended', (n) => Topic.create(n, { capacity: 1 << 16 }), async (t, name) => {
    const K = 2000;
    // This process takes the publisher lock as a publisher would (the Mutex
    // at PUBLISHER_LOCK_OFFSET), so the children's first publishes must wait
    // whatever the scheduling.
    const seg = Segment.open(name);
    const lock = Mutex.attach(seg.buffer, PUBLISHER_LOCK_OFFSET);
    lock.lockSync({ timeout: STEP_MS });
    let held = true;
    const a = peer('topic-publish', name, K, 40);
    const b = peer('topic-publish', name, K, 40);
    try {
      // A publisher parks only after its tryLock failed and its spin gave up: then it surely waited.
      await waitUntil(() => lock.stats().waiting >= 1, 2 * STEP_MS, 'a publisher to wait for the lock');
      lock.unlock();
      held = false;
      await Promise.all([reportOf(a, 'a'), reportOf(b, 'b')]); // then both publish in tight loops, against each other
      const s = t.stats();
      assert.equal(s.published, 2 * K, 'every publish counted once');
      assert.ok(s.lockContended >= 1 && s.lockContended <= 2 * K, `lockContended ${s.lockContended}`);
      assert.equal(s.publishersDied, 0);
    } finally {
      if (held) lock.unlock();
      lock.close();
      seg.close();
      await reap(a, b);
    }
  });
});

test('RwLock: reads and writes of another process counted exactly; a writer that waited is contended', async () => {
  await withNamed(RwLock, 'rw-count', (n) => RwLock.create(n), async (l, name) => {
    l.writeSync();
    const child = peer('rwlock', name, 50, 20);
    try {
      await waitUntil(() => l.stats().waiting >= 1, STEP_MS, 'the child to park');
      l.unlock();
      await reportOf(child, 'rwlock child');
      const s = l.stats();
      assert.deepEqual([s.reads, s.writes, s.readers, s.writer], [50, 21, 0, false]);
      assert.ok(s.contended >= 1, `contended ${s.contended}`);
    } finally {
      await reap(child);
    }
  });
});

test('Semaphore: units taken and released across processes; the one taken after parking is contended', async () => {
  await withNamed(Semaphore, 'sem-count', (n) => Semaphore.create(n, { initial: 0 }), async (s, name) => {
    const child = peer('semaphore-acquire', name, 3);
    try {
      await waitUntil(() => s.stats().waiting === 1, STEP_MS, 'the child to park');
      s.release(3); // all three at once: only the first acquire waited
      await reportOf(child, 'semaphore child');
      assert.deepEqual(s.stats(), { value: 0, initial: 0, acquisitions: 3, contended: 1, released: 3, waiting: 0 });
    } finally {
      await reap(child);
    }
  });
});

test('Notifier, Condition, Barrier: notifications, broadcasts, generations and parked waits', async () => {
  await withNamed(Notifier, 'ntf-count', (n) => Notifier.create(n), async (n, name) => {
    const child = peer('notifier-wait', name);
    try {
      await waitUntil(() => n.stats().waiting === 1, STEP_MS, 'the child to park');
      assert.equal(n.stats().parkedWaits, 1, 'counted as it parks');
      n.notify();
      await reportOf(child, 'notifier child');
      assert.deepEqual(n.stats(), { notifications: 1, parkedWaits: 1, waiting: 0 });
    } finally {
      await reap(child);
    }
  });
  const mutex = Mutex.init(new SharedArrayBuffer(Mutex.byteLength()), 0);
  await withNamed(Condition, 'cond-count', (n) => Condition.create(n, { spin: 0 }), async (c, name) => {
    mutex.lockSync();
    const waited = c.wait(mutex, { timeout: STEP_MS });
    await waitUntil(() => c.stats().waiting === 1, STEP_MS, 'the wait to park');
    await reportOf(peer('condition-notify-all', name), 'notifier');
    await withTimeout(waited, STEP_MS, 'the wait');
    mutex.unlock();
    assert.deepEqual(c.stats(), { notifications: 1, broadcasts: 1, parkedWaits: 1, waiting: 0 });
  });
  mutex.close();
  await withNamed(Barrier, 'bar-count', (n) => Barrier.create(n, { parties: 2, spin: 0 }), async (b, name) => {
    assert.deepEqual(b.stats(), { parties: 2, arrived: 0, generations: 0, parkedWaits: 0, waiting: 0 });
    const child = peer('barrier-wait', name, 3);
    try {
      for (let i = 0; i < 3; i++) await withTimeout(b.wait({ timeout: STEP_MS }), STEP_MS, `generation ${i}`);
      await reportOf(child, 'barrier child');
      const s = b.stats();
      // The last to arrive never waits; the first parks unless the last came
      // in the instant between its arrival and its one look (no spin).
      assert.deepEqual([s.parties, s.arrived, s.generations, s.waiting], [2, 0, 3, 0]);
      assert.ok(s.parkedWaits >= 1 && s.parkedWaits <= 3, `parkedWaits ${s.parkedWaits}`);
    } finally {
      await reap(child);
    }
  });
});

test('SharedArray: stats() is its geometry', () => {
  const sa = SharedArray.init(new SharedArrayBuffer(SharedArray.byteLength({ type: Float64Array, length: 5 })), 0, { type: Float64Array, length: 5 });
  assert.deepEqual(sa.stats(), { type: 'Float64Array', length: 5, byteLength: 40 });
  sa.close();
});

test('stats() of every kind: a fresh plain object each call; ERR_SHMKIT_CLOSED on a closed handle', () => {
  const embedded = (Kind, options) => Kind.init(new SharedArrayBuffer(Kind.byteLength(options)), 0, options);
  const handles = [
    embedded(Mutex), embedded(RwLock), embedded(Semaphore, { initial: 1 }), embedded(Condition), embedded(Barrier, { parties: 2 }),
    embedded(Notifier), embedded(Queue, { capacity: 4096 }), embedded(Topic, { capacity: 4096 }),
    embedded(SharedArray, { type: Int32Array, length: 4 }),
  ];
  for (const h of handles) {
    const what = h.constructor.name;
    const a = h.stats();
    assert.equal(Object.getPrototypeOf(a), Object.prototype, `${what}: a plain object`);
    assert.notEqual(h.stats(), a, `${what}: a fresh object`);
    for (const [k, v] of Object.entries(a)) {
      if (k === 'holder' || k === 'type') continue;
      assert.ok(typeof v === 'number' || typeof v === 'boolean', `${what}.${k} is ${typeof v}`);
    }
    h.close();
    assert.throws(() => h.stats(), expectCode('ERR_SHMKIT_CLOSED'), `${what}.stats() on a closed handle`);
  }
});

test('the counters sit where docs/LAYOUT.md says (byte offsets a C peer uses)', async () => {
  const word = (sab, offset) => new Int32Array(sab, offset, 1)[0] >>> 0;
  const at = (Kind, options) => {
    const sab = new SharedArrayBuffer(Kind.byteLength(options));
    return [sab, Kind.init(sab, 0, options)];
  };
  const [ms, m] = at(Mutex);
  for (let i = 0; i < 3; i++) {
    m.lockSync();
    m.unlock();
  }
  assert.deepEqual([word(ms, 84), word(ms, 88), word(ms, 92)], [3, 0, 0], 'Mutex ACQUISITIONS, CONTENDED, OWNER_DIED_COUNT');
  const [rs, r] = at(RwLock);
  r.readSync();
  r.unlock();
  r.writeSync();
  r.unlock();
  r.writeSync();
  r.unlock();
  assert.deepEqual([word(rs, 80), word(rs, 84), word(rs, 88)], [1, 2, 0], 'RwLock READS, WRITES, CONTENDED');
  const [ss, s] = at(Semaphore, { initial: 2 });
  s.acquireSync();
  s.release(5);
  assert.deepEqual([word(ss, 76), word(ss, 80), word(ss, 84)], [1, 0, 5], 'Semaphore ACQUISITIONS, CONTENDED, RELEASED');
  const [cs, c] = at(Condition);
  c.notify();
  c.notifyAll();
  assert.deepEqual([word(cs, 64), word(cs, 72), word(cs, 76)], [2, 0, 1], 'Condition SEQ, PARKED_WAITS, BROADCASTS');
  const [ns, n] = at(Notifier, undefined);
  await assert.rejects(Notifier.attach(ns, 0, { spin: 0 }).wait(0, { timeout: 20 }), { code: 'ETIMEDOUT' });
  assert.deepEqual([word(ns, 64), word(ns, 72)], [0, 1], 'Notifier SEQ, PARKED_WAITS');
  const [bs, b] = at(Barrier, { parties: 2 });
  await assert.rejects(Barrier.attach(bs, 0, { spin: 0 }).wait({ timeout: 20 }), { code: 'ETIMEDOUT' });
  assert.equal(word(bs, 80), 1, 'Barrier PARKED_WAITS');
  const [qs, q] = at(Queue, { capacity: 4096 });
  await assert.rejects(Queue.attach(qs, 0, { spin: 0 }).receive({ timeout: 20 }), { code: 'ETIMEDOUT' });
  assert.deepEqual([word(qs, 400), word(qs, 404)], [0, 1], 'Queue FULL_WAITS, EMPTY_WAITS');
  const [ts, t] = at(Topic, { capacity: 1024 });
  for (let i = 0; i < 19; i++) t.publish(Buffer.alloc(40)); // the 19th starts the second lap
  assert.deepEqual([word(ts, 132), word(ts, 136)], [19, 1], 'Topic NEXT_SEQ, LAPS');
  for (const h of [m, r, s, c, n, b, q, t]) h.close();
});
