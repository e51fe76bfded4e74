// Queue#check() and Queue#repair() (issue 11): what check() names, what
// repair() fixes while other processes use the queue, and that neither
// mistakes live change for damage. The layout is read from docs/LAYOUT.md
// (fixtures/queue-layout.mjs): a test corrupts the memory the way a stray
// write would, then looks through the public API and through another process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { setImmediate as turn } from 'node:timers/promises';
import { Queue, Segment } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { expectCode } from './fixtures/helpers.mjs';
import { reap, reportOf, run, startNode } from './fixtures/proc.mjs';
import { makeQueue as makeQueueNamed } from './fixtures/queue-handle.mjs';
import { CAPACITY_OFF, CELL, CLAIM_OFF, FLAGS_OFF, HEAD_OFF, MESSAGE, RESERVE_OFF, stampOffset } from './fixtures/queue-layout.mjs';

const fixture = (file) => fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));
const PRODUCER = fixture('queue-producer.mjs');
const CONSUMER = fixture('queue-consumer.mjs');
const PEER = fixture('queue-peer.mjs');
const CORRUPT = 'ERR_SHMKIT_CORRUPT';
const RECREATE = /no cursor can be moved back safely while the queue may be in use; recreate the queue \(unlink and create\)$/;

const named = trackedNames();
const makeQueue = (label, options) => makeQueueNamed(named, label, options);

/** Read and write the queue `name` (of `capacity` data bytes) as raw memory: Int32 at a byte offset, a position's STAMP and LEN offsets. */
function rawQueue(name, capacity) {
  const seg = Segment.open(name);
  const view = new DataView(seg.buffer);
  const stamp = (position) => stampOffset((position % capacity) / CELL, capacity);
  return {
    get: (off) => view.getInt32(off, true),
    set: (off, v) => view.setInt32(off, v, true),
    stamp,
    len: (position) => stamp(position) + 4,
    close: () => seg.close(),
  };
}

/** Corrupts the queue `name` through `corrupt(raw)`. */
function corrupt(name, capacity, fn) {
  const raw = rawQueue(name, capacity);
  try {
    fn(raw);
  } finally {
    raw.close();
  }
}

/**
 * A 1024-byte queue (16 cells, MAX_MSG 512) holding a 150-byte message at
 * position 0 (3 cells: the one the tests corrupt), then 'm1', 'm2', 'm3' (10
 * bytes each) at 192, 256 and 320: CLAIM 0, RESERVE 384.
 */
function fourMessages(label) {
  const q = makeQueue(label, { capacity: 1024 });
  assert.ok(q.q.trySend(Buffer.alloc(150, 'x')));
  for (const m of ['m1', 'm2', 'm3']) assert.ok(q.q.trySend(m.repeat(5)));
  corrupt(q.name, 1024, (raw) => {
    // The placement the cases rely on (docs/LAYOUT.md: STAMP = position | state).
    assert.deepEqual([raw.get(HEAD_OFF), raw.get(CLAIM_OFF), raw.get(RESERVE_OFF)], [0, 0, 384]);
    assert.deepEqual([raw.get(raw.stamp(0)), raw.get(raw.len(0)), raw.get(raw.stamp(192))], [MESSAGE, 150, 192 | MESSAGE]);
  });
  return q;
}

/** Up to `k` receives (500 ms each) in another process: [{ len, hex } | { code }], stopping at the first error. */
async function receivedElsewhere(name, k) {
  const r = await run(process.execPath, [PEER, 'report', name, k], { timeoutMs: 15000 });
  assert.equal(r.code, 0, `report exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()).map((m) => (m.hex ? Buffer.from(m.hex, 'hex').toString() : m));
}

const M123 = ['m1'.repeat(5), 'm2'.repeat(5), 'm3'.repeat(5)];

test('check() of a sound queue is [] in every state the protocol leaves: empty, holding messages, wrapped, an open reservation, a peeked message, an orphan', () => {
  const { name, q, dispose } = makeQueue('qc-sound', { capacity: 1024 });
  const other = Queue.open(name);
  try {
    assert.deepEqual(q.check(), []);
    for (let lap = 0; lap < 5; lap++) {
      for (let i = 0; i < 5; i++) assert.ok(q.trySend(Buffer.alloc(40 + 37 * i)));
      assert.deepEqual(q.check(), [], `lap ${lap}, holding messages`);
      assert.equal(q.tryReceiveMany(5).length, 5);
      assert.deepEqual(q.check(), [], `lap ${lap}, drained`);
    }
    const view = q.tryReserve(100); // a claim (WRITING) until commit
    assert.ok(view && other.trySend('after'));
    assert.deepEqual(q.check(), [], 'an open reservation');
    view.fill(0x41, 0, 10);
    q.commit(10); // the rest of its cells: a SKIP
    const peeker = Queue.open(name);
    assert.equal(peeker.tryPeek()?.length, 10); // TAKEN behind CLAIM, held
    assert.deepEqual(q.check(), [], 'a peeked message');
    peeker.close(); // the peeked message goes back: an ORPHAN behind CLAIM
    assert.deepEqual(q.check(), [], 'an orphan');
    assert.deepEqual(q.repair(), { found: [], repaired: [], remaining: [] });
    assert.deepEqual([q.tryReceive()?.toString(), q.tryReceive()?.toString()].sort(), ['AAAAAAAAAA', 'after']);
    assert.deepEqual(q.check(), []);
  } finally {
    other.close();
    dispose();
  }
});

for (const capacity of [4096, 65536]) {
  test(`a sound queue (capacity ${capacity}) under load from a producer and a consumer process: check() is always [], repair() finds and changes nothing, and every message arrives once, in order`, { timeout: 60000 }, async (t) => {
    const { name, q, dispose } = makeQueue(`qc-load-${capacity}`, { capacity });
    const count = 40000;
    const producer = startNode(PRODUCER, [JSON.stringify({ name, api: 'mixed', count, seed: 7, min: 1, max: 300, timeoutMs: 10000, hold: 0.3 })], { timeoutMs: 45000 });
    const consumer = startNode(CONSUMER, [JSON.stringify({ name, api: 'many', count, seed: 7, min: 1, max: 300, timeoutMs: 10000 })], { timeoutMs: 45000 });
    try {
      let checks = 0;
      let repairs = 0;
      const wrong = [];
      while (!(producer.exited && consumer.exited)) {
        const problems = q.check();
        checks++;
        if (problems.length > 0 && wrong.length < 5) wrong.push(problems);
        if (checks % 16 === 0) {
          const report = q.repair();
          repairs++;
          if ((report.found.length || report.repaired.length || report.remaining.length) && wrong.length < 5) wrong.push(report);
        }
        await turn();
      }
      const sent = await reportOf(producer, 'producer');
      const got = await reportOf(consumer, 'consumer');
      t.diagnostic(`${checks} checks and ${repairs} repairs while ${sent.sent} messages went through`);
      assert.deepEqual(wrong, [], 'check() or repair() reported live change as damage');
      assert.deepEqual([got.received, got.error], [count, null], 'the consumer lost, repeated or misread a message');
      assert.ok(checks > 100, `only ${checks} checks ran during the load`);
      assert.deepEqual(q.check(), []);
    } finally {
      await reap(producer, consumer);
      dispose();
    }
  });
}

// Each: [what, corrupt(raw) on fourMessages(), the one problem check() must report].
const CASES = [
  ['a garbage stamp state at CLAIM', (r) => r.set(r.stamp(0), 5), /^record at position 0: stamp 5 has an unknown state 5$/],
  ['LEN past MAX_MSG at CLAIM', (r) => r.set(r.len(0), 513), /^record at position 0: LEN 513 is more than MAX_MSG 512 \(stamp 1\)$/],
  ['a stamp of another lap at CLAIM', (r) => r.set(r.stamp(0), 1024 | MESSAGE), /^record at position 0: stamp 1025 is not of this lap \(its position is 1024\)$/],
  ['a stamp of another lap behind the record at CLAIM', (r) => r.set(r.stamp(256), 256 + 2048), /^record at position 256: stamp 2304 is not of this lap \(its position is 2304\)$/],
  ['a misaligned RESERVE', (r) => r.set(RESERVE_OFF, 384 + 4), /^RESERVE 388 is not a multiple of 64$/],
  ['RESERVE more than CAPACITY ahead of HEAD', (r) => r.set(RESERVE_OFF, 2048), /^RESERVE 2048 is more than CAPACITY 1024 ahead of HEAD 0$/],
  ['CLAIM behind HEAD', (r) => r.set(HEAD_OFF, 64), /^CLAIM 0 is behind HEAD 64$/],
  ['RESERVE inside a record', (r) => r.set(RESERVE_OFF, 128), /^record at position 0: its 3 cells end at 192, past RESERVE 128$/],
  ['CLAIM past a message nobody took', (r) => r.set(CLAIM_OFF, 192), /^record at position 0: a MESSAGE behind CLAIM 192$/],
  ['an unknown FLAGS bit', (r) => r.set(FLAGS_OFF, 0x100), /^FLAGS 0x100 has unknown bits 0x100$/],
  ['CAPACITY overwritten', (r) => r.set(CAPACITY_OFF, 2048), /^CAPACITY is 2048, not 1024 \(the queue's size says 1024\)$/],
  ['a free cell stamped for a later lap', (r) => r.set(r.stamp(448), (448 + 1024) | MESSAGE), /^free cell at position 448: stamp 1473 is not of an earlier lap \(RESERVE is 384\)$/],
];

test('check() names each kind of damage, with the field and the position, and nothing else', () => {
  for (const [what, fn, expected] of CASES) {
    const { name, q, dispose } = fourMessages('qc-kind');
    try {
      assert.deepEqual(q.check(), [], `${what}: before the damage`);
      corrupt(name, 1024, fn);
      const problems = q.check();
      assert.equal(problems.length, 1, `${what}: ${JSON.stringify(problems)}`);
      assert.match(problems[0], expected, what);
    } finally {
      dispose();
    }
  }
});

test('repair() of an unreadable record at CLAIM with 3 messages behind it: it becomes a SKIP, a consumer in another process then gets exactly those 3 messages, nothing twice, and check() is []', { timeout: 60000 }, async () => {
  for (const [what, fn] of CASES.slice(0, 3)) {
    const { name, q, dispose } = fourMessages('qc-skip');
    try {
      corrupt(name, 1024, fn);
      const before = await receivedElsewhere(name, 4);
      assert.ok(before.length === 1 && before[0].code !== undefined, `${what}: before repair() the consumer got ${JSON.stringify(before)}`);
      const found = q.check();
      const report = q.repair();
      assert.deepEqual(report, { found, repaired: ['record at position 0: unreadable, skipped (3 cells)'], remaining: [] }, what);
      assert.deepEqual(await receivedElsewhere(name, 4), [...M123, { code: 'ETIMEDOUT' }], `${what}: after repair()`);
      assert.deepEqual(q.check(), [], `${what}: after the consumer`);
      assert.ok(q.trySend('again') && q.tryReceive()?.toString() === 'again', `${what}: the queue goes on`);
    } finally {
      dispose();
    }
  }
});

test('repair() fixes what it can while the queue is in use: a message CLAIM skipped goes to the consumers as an orphan, a free cell stamped for a later lap is freed (producers refused it), FLAGS and CAPACITY are restored', async () => {
  const skipped = fourMessages('qc-orphan');
  try {
    corrupt(skipped.name, 1024, (r) => r.set(CLAIM_OFF, 192));
    const report = skipped.q.repair();
    assert.deepEqual(report.repaired, ['record at position 0: a message behind CLAIM, handed to the consumers as an orphan']);
    assert.deepEqual(report.remaining, []);
    const got = await receivedElsewhere(skipped.name, 5);
    assert.deepEqual(got.slice(0, 4).map((m) => (typeof m === 'string' ? m : m.code)).sort(), ['x'.repeat(150), ...M123].sort(), JSON.stringify(got));
    assert.deepEqual(got[4], { code: 'ETIMEDOUT' });
    assert.deepEqual(skipped.q.check(), [], 'HEAD moves past the orphan once it is consumed');
  } finally {
    skipped.dispose();
  }

  const ahead = fourMessages('qc-free-cell');
  try {
    corrupt(ahead.name, 1024, (r) => r.set(r.stamp(384), (384 + 1024) | MESSAGE)); // the cell at RESERVE
    assert.throws(() => ahead.q.trySend('m4'), expectCode(CORRUPT), 'producers refuse the cell before repair()');
    const report = ahead.q.repair();
    assert.deepEqual(report.repaired, ['free cell at position 384: stamp 1409 reset to FREE']);
    assert.deepEqual(report.remaining, []);
    assert.ok(ahead.q.trySend('m4'));
    assert.deepEqual(await receivedElsewhere(ahead.name, 6), ['x'.repeat(150), ...M123, 'm4', { code: 'ETIMEDOUT' }]);
  } finally {
    ahead.dispose();
  }

  const fields = fourMessages('qc-fields');
  try {
    corrupt(fields.name, 1024, (r) => {
      r.set(FLAGS_OFF, 0x300);
      r.set(CAPACITY_OFF, 2048);
    });
    const report = fields.q.repair();
    assert.deepEqual(report.repaired, ['CAPACITY: 2048 restored to 1024', 'FLAGS: unknown bits 0x300 cleared']);
    assert.deepEqual([report.found.length, report.remaining], [2, []]);
    assert.equal(fields.q.ended, false);
    const reopened = Queue.open(fields.name); // CAPACITY is what open() checks
    reopened.close();
  } finally {
    fields.dispose();
  }
});

test('repair() never moves a cursor back: a misaligned RESERVE, CLAIM behind HEAD, RESERVE or CLAIM inside a record stay in `remaining` with the advice to recreate the queue, and repair() returns at once', () => {
  const cursors = CASES.filter(([w]) => /RESERVE|HEAD/.test(w));
  // CLAIM inside the 3-cell record at 0: that record is behind it too, and which of the two is wrong is a guess.
  cursors.push(['CLAIM inside a record', (r) => r.set(CLAIM_OFF, 64), 2]);
  for (const [what, fn, expected] of cursors) {
    const { name, q, dispose } = fourMessages('qc-cursor');
    try {
      corrupt(name, 1024, fn);
      const t0 = performance.now();
      const report = q.repair();
      const ms = performance.now() - t0;
      assert.ok(ms < 1000, `${what}: repair() took ${ms.toFixed(0)} ms`);
      assert.deepEqual(report.repaired, [], what);
      assert.equal(report.remaining.length, typeof expected === 'number' ? expected : 1, `${what}: ${JSON.stringify(report)}`);
      report.remaining.forEach((p, i) => {
        assert.match(p, RECREATE, what);
        assert.equal(p.startsWith(report.found[i]), true, what);
      });
    } finally {
      dispose();
    }
  }
});

test('check() and repair() of a closed handle throw ERR_SHMKIT_CLOSED', () => {
  const { q, dispose } = makeQueue('qc-closed', { capacity: 1024 });
  dispose();
  assert.throws(() => q.check(), expectCode('ERR_SHMKIT_CLOSED'));
  assert.throws(() => q.repair(), expectCode('ERR_SHMKIT_CLOSED'));
});
