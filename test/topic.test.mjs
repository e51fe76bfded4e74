// Topic: fan-out of 200 000 messages to 4 subscriber processes (sync and
// async) with nothing lost; a stalled subscriber told exactly how many it
// missed, then carrying on in order; concurrent publisher processes; a
// publisher SIGKILLed at random instants (no corrupt message, no hang, the
// robust lock recovers); waiting, timeouts and aborts; bad input and
// corrupted memory.
//
// Messages between processes are self-checking (fixtures/topic-message.mjs):
// publisher id, sequence number, a body derived from both, and a hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LaggedError, Queue, Segment, Topic } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, expectCode, sleep, unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { reap, reportOf, startNode } from './fixtures/proc.mjs';
import { ALIGN16, bodyLength, checkMessage, makeMessage } from './fixtures/topic-message.mjs';
// Raw layout, to look under the hood and to corrupt on purpose.
import {
  CAPACITY, DATA_OFFSET, DATA_WAITERS, FILLER, MAX_MESSAGE, NEXT_SEQ, OLDEST_POS, OLDEST_SEQ, PUBLISHER_LOCK_OFFSET, R_LEN, R_SEQ, R_SIZE, TAIL, topicRecordSize,
} from '../dist/src/channel/topic-layout.js';
import { OWNER_DIED, TID_MASK, WORD } from '../dist/src/sync/mutex-layout.js';

const uniqueName = trackedNames();
const PEER = fileURLToPath(new URL('./fixtures/topic-peer.mjs', import.meta.url));

// ---------------------------------------------------------------- helpers --

/** Starts `node topic-peer.mjs <mode> <JSON opts>` (bounded by timeoutMs). */
function peer(mode, opts, procOptions = {}) {
  // waitMs: a child's start (its `ready` line) takes seconds on a loaded 2-CPU machine
  return startNode(PEER, [mode, JSON.stringify(opts)], { waitMs: 20000, ...procOptions });
}

/** The topic's header cells (Int32, offsets 0..639). */
const cellsOf = (topic) => new Int32Array(topic.buffer, topic.byteOffset, DATA_OFFSET / 4);

/** The futex word of the topic's publisher lock. */
const lockWord = (topic) => Atomics.load(new Int32Array(topic.buffer, topic.byteOffset + PUBLISHER_LOCK_OFFSET, 32), WORD);

/** A process's state letter from /proc/<pid>/stat ('R', 'S', 'T' when stopped...). */
function stateOf(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') return 'gone';
    throw err;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** A fixed-size message: u32 seq, then 44 bytes of (seq & 0xff): 48 bytes, a 64-byte record. */
function fixed(seq) {
  const b = Buffer.alloc(48, seq & 0xff);
  b.writeUInt32LE(seq, 0);
  return b;
}

/** The seq of a fixed() message, checking every byte. */
function fixedSeq(m) {
  assert.ok(Buffer.isBuffer(m), `expected a Buffer, got ${m}`);
  assert.equal(m.length, 48, 'fixed message length');
  const seq = m.readUInt32LE(0);
  for (let i = 4; i < 48; i++) assert.equal(m[i], seq & 0xff, `message ${seq}: byte ${i} corrupt`);
  return seq;
}

/**
 * Calls tryReceive until it returns undefined (at most `max` calls) and
 * returns what happened: { msg } per message (decoded with `decode`), and
 * { lagged: missed } per LaggedError. Other errors propagate.
 */
function drain(sub, decode, max = 10000) {
  const events = [];
  for (let i = 0; i < max; i++) {
    let m;
    try {
      m = sub.tryReceive();
    } catch (err) {
      if (!(err instanceof LaggedError)) throw err;
      assert.equal(err.code, 'ERR_SHMKIT_LAGGED');
      events.push({ lagged: err.missed });
      continue;
    }
    if (m === undefined) return events;
    events.push({ msg: decode(m) });
  }
  assert.fail(`tryReceive() still had something after ${max} calls: ${JSON.stringify(events.slice(-5))}`);
}

/**
 * Checks a drained sequence: starting from `expected`, each message is the
 * next one, except right after a LaggedError, where it must be exactly
 * expected + missed. Returns the next expected number.
 */
function assertInOrder(events, expected) {
  let missedBefore = 0;
  for (const [i, e] of events.entries()) {
    if (e.lagged !== undefined) {
      assert.ok(e.lagged > 0 && e.lagged < 2 ** 31, `event ${i}: LaggedError with missed = ${e.lagged}\nevents: ${JSON.stringify(events)}`);
      missedBefore += e.lagged;
      continue;
    }
    assert.equal(e.msg, expected + missedBefore, `event ${i}: expected message ${expected + missedBefore} (${missedBefore} reported missed)\nevents: ${JSON.stringify(events)}`);
    expected = e.msg + 1;
    missedBefore = 0;
  }
  assert.equal(missedBefore, 0, `a LaggedError was the last event: ${JSON.stringify(events)}`);
  return expected;
}

// ------------------------------------- 1. fan-out to 4 subscriber processes --

test('4 subscriber processes (2 receiveSync, 2 await receive) each get all 200 000 messages in order, none missed', async (t) => {
  const COUNT = 200_000;
  const name = uniqueName('topic-fan');
  const progressName = uniqueName('topic-fan-progress');
  const topic = Topic.create(name, { capacity: 4 << 20 });
  const progress = Segment.create(progressName, { size: 64 });
  const procs = [];
  try {
    // Subscribed from 'earliest' before anything is published. The ring
    // (4 MiB, ~75 000 of these messages) wraps ~2.7 times (each time after a
    // 16-byte filler: the sizes are fixed, so the positions are too); the publisher
    // stays at most 16 384 messages ahead of the slowest subscriber (which
    // reports its progress in a side segment), so nobody can lag.
    const kinds = [['sync', undefined], ['sync', 0], ['async', undefined], ['async', 0]];
    for (const [slot, [how, spin]] of kinds.entries()) {
      procs.push(peer('subscribe', { name, how, spin, count: COUNT, progress: progressName, slot }, { timeoutMs: 30000 }));
    }
    await Promise.all(procs.map((p) => p.line(/^ready$/)));
    const t0 = performance.now();
    const pub = peer('publish', { name, id: 0, count: COUNT, progress: progressName, slots: kinds.length, window: 16384 }, { timeoutMs: 30000 });
    procs.push(pub);
    const pubReport = await reportOf(pub, 'publisher');
    const reports = [];
    for (const [i, p] of procs.slice(0, kinds.length).entries()) reports.push(await reportOf(p, `subscriber ${i} (${kinds[i][0]}, spin ${kinds[i][1] ?? 'default'})`));
    const ms = performance.now() - t0;
    let bytes = 0;
    for (let seq = 0; seq < COUNT; seq++) bytes += topicRecordSize(12 + bodyLength(0, seq));
    t.diagnostic(`${COUNT} messages, ${(bytes / 2 ** 20).toFixed(1)} MiB of records (${(bytes / topic.capacity).toFixed(1)} laps) in ${ms.toFixed(0)} ms; publisher ${pubReport.ms} ms; subscribers ${reports.map((r) => r.ms).join(' / ')} ms`);
    assert.equal(pubReport.published, COUNT);
    assert.equal(topic.published, COUNT);
    assert.ok(bytes > 2 * topic.capacity, 'the ring must wrap');
    for (const [i, r] of reports.entries()) {
      const what = `subscriber ${i} (${kinds[i][0]})`;
      assert.deepEqual(r.errors, [], `${what}: ${r.errors.join('\n')}`);
      assert.equal(r.received, COUNT, what);
      assert.equal(r.lagged, 0, `${what} lagged`);
      assert.equal(r.missed, 0, `${what} missed messages`);
    }
  } finally {
    await reap(...procs);
    topic.close();
    progress.close();
    unlinkQuietly(name, progressName);
  }
});

// ------------------------------------------------ 2. a stalled subscriber --

test('a stalled subscriber gets ERR_SHMKIT_LAGGED with the exact number missed, then every later message in order', async () => {
  const name = uniqueName('topic-lag');
  // 1024 bytes hold exactly 16 records of 64 bytes (no filler ever).
  const topic = Topic.create(name, { capacity: 1024 });
  const PER_LAP = 16;
  try {
    let s = 0;
    for (; s < 5; s++) topic.publish(fixed(s));
    const sub = topic.subscribe({ from: 'latest' });
    assert.equal(sub.pending, 0);
    assert.equal(sub.tryReceive(), undefined);
    for (; s < 8; s++) topic.publish(fixed(s));
    assert.equal(sub.pending, 3);
    assert.deepEqual(drain(sub, fixedSeq), [{ msg: 5 }, { msg: 6 }, { msg: 7 }]);
    const expected = 8;

    // Stall while 50 more are published: the ring keeps the last 16.
    const K = 50;
    for (let i = 0; i < K; i++, s++) topic.publish(fixed(s));
    assert.equal(topic.published, s);
    assert.equal(sub.pending, K);
    const oldestKept = topic.published - PER_LAP;
    let err;
    assert.throws(() => sub.tryReceive(), (e) => {
      err = e;
      return e instanceof LaggedError && e.code === 'ERR_SHMKIT_LAGGED';
    });
    assert.equal(err.missed, oldestKept - expected, 'missed');
    assert.equal(err.missed, 34);
    // The next message pins `missed` exactly: it is number expected + missed.
    assert.equal(fixedSeq(sub.tryReceive()), expected + err.missed);
    const rest = drain(sub, fixedSeq);
    assert.deepEqual(rest.map((e) => e.msg), Array.from({ length: PER_LAP - 1 }, (_, i) => oldestKept + 1 + i));
    // ...and it carries on with everything published later.
    for (let i = 0; i < 10; i++, s++) topic.publish(fixed(s));
    assert.deepEqual(drain(sub, fixedSeq).map((e) => e.msg), Array.from({ length: 10 }, (_, i) => s - 10 + i));
    assert.equal(sub.pending, 0);

    // The async API reports the lag the same way (a rejection), then goes on.
    const asub = topic.subscribe({ from: 'latest' });
    const from = s;
    for (let i = 0; i < 3 * PER_LAP + 7; i++, s++) topic.publish(fixed(s));
    await assert.rejects(asub.receive({ timeout: STEP_MS }), (e) => {
      assert.ok(e instanceof LaggedError, `got ${e}`);
      assert.equal(e.missed, s - PER_LAP - from);
      return true;
    });
    for (let want = s - PER_LAP; want < s; want++) assert.equal(fixedSeq(await asub.receive({ timeout: STEP_MS })), want);
  } finally {
    topic.close();
    unlinkQuietly(name);
  }
});

// A record that ends 8 bytes before the end of the ring leaves room for
// only half a record header: the filler there has no SIZE word (its size is
// implied). Records that are multiples of 16 bytes never do that; arbitrary
// sizes do, so both are run.
for (const aligned of [true, false]) {
  test(`lag with variable-size records (${aligned ? '16-byte multiples' : 'any 8-byte multiple'}), fillers at the wrap: exact missed, then in order`, () => {
    const name = uniqueName('topic-lagvar');
    const topic = Topic.create(name, { capacity: 4096 });
    const id = aligned ? ALIGN16 | 3 : 3;
    try {
      const decode = (m) => {
        const c = checkMessage(m);
        assert.equal(c.error, undefined, c.error);
        assert.equal(c.id, id);
        return c.seq;
      };
      const sub = topic.subscribe({ from: 'earliest' });
      let s = 0;
      let expected = 0;
      let lags = 0;
      for (let round = 0; round < 40; round++) {
        // read everything, then stall for 0 to ~3 laps (about 4096 / 56 = 73 records a lap)
        const burst = (round * 37) % 230;
        for (let i = 0; i < burst; i++, s++) topic.publish(makeMessage(id, s));
        const events = drain(sub, decode, 1000);
        if (events.some((e) => e.lagged !== undefined)) {
          lags++;
          // reported first, and it resumes at the oldest message kept: what a new 'earliest' subscriber sees first
          assert.notEqual(events[0].lagged, undefined, 'the lag is reported first');
          const probe = topic.subscribe({ from: 'earliest' });
          assert.equal(events.find((e) => e.msg !== undefined).msg, drain(probe, decode, 1000)[0].msg, 'resumed at the oldest message kept');
        }
        expected = assertInOrder(events, expected);
        assert.equal(expected, s, `round ${round}: subscriber ends at ${expected}, published ${s}`);
      }
      assert.ok(lags >= 10, `only ${lags} lags`);
    } finally {
      topic.close();
      unlinkQuietly(name);
    }
  });
}

test('a record ending 8 bytes before the end of the ring: the 8-byte filler is skipped by subscribers and dropped by publishers', async () => {
  const name = uniqueName('topic-filler8');
  const topic = Topic.create(name, { capacity: 128 }); // maxMessage 16
  const procs = [];
  try {
    const sub = topic.subscribe({ from: 'earliest' });
    const msg = (seq, len) => Buffer.alloc(len, seq);
    topic.publish(msg(1, 16)); // record 32 bytes
    topic.publish(msg(2, 16));
    topic.publish(msg(3, 16));
    topic.publish(msg(4, 8)); // record 24 bytes: the tail is at 120, 8 bytes before the end
    assert.deepEqual(drain(sub, (m) => m[0], 20).map((e) => e.msg), [1, 2, 3, 4]);
    topic.publish(msg(5, 16)); // does not fit in 8 bytes: an 8-byte filler, then the record at 0
    assert.deepEqual(drain(sub, (m) => m[0], 20), [{ msg: 5 }]);
    // Dropping the filler must work too (with the bug this loops forever, so in a bounded child).
    const p = peer('publish', { name, id: 7, count: 6, bytes: 16, first: 6 }, { timeoutMs: 20000 });
    procs.push(p);
    await reportOf(p, 'a publisher dropping the 8-byte filler');
    assert.equal(topic.published, 11);
    const events = drain(sub, (m) => m[0], 20);
    assertInOrder(events, 6);
    assert.equal(events.at(-1).msg, 11);
  } finally {
    await reap(...procs);
    topic.close();
    unlinkQuietly(name);
  }
});

test('a subscriber stalled at a filler record is not handed a newer message out of order', () => {
  const name = uniqueName('topic-filler');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    // payload lengths 224 (record 240) and 24 (record 40) and 8 (record 24)
    const msg = (seq, len) => {
      const b = Buffer.alloc(len, seq & 0xff);
      b.writeUInt32LE(seq, 0);
      return b;
    };
    const decode = (m) => m.readUInt32LE(0);
    const sub = topic.subscribe({ from: 'latest' });
    let s = 0;
    for (let i = 0; i < 4; i++, s++) topic.publish(msg(s, 224)); // positions 0..960
    topic.publish(msg(s++, 24)); // 960..1000
    assert.deepEqual(drain(sub, decode).map((e) => e.msg), [0, 1, 2, 3, 4]);
    // The subscriber now sits at position 1000. Message 5 does not fit in the
    // 24 bytes left: a filler goes there and message 5 to the start.
    topic.publish(msg(s++, 24));
    // Stall: messages 6..9 fill the ring up to position 2024 (dropping 0..4)...
    for (let i = 0; i < 4; i++, s++) topic.publish(msg(s, 224));
    // ...and message 10 (a 24-byte record) overwrites the filler, dropping only it.
    topic.publish(msg(s++, 8));
    // Messages 5..10 are all still kept: the subscriber must get them in order.
    const probe = topic.subscribe({ from: 'earliest' });
    assert.deepEqual(drain(probe, decode).map((e) => e.msg), [5, 6, 7, 8, 9, 10]);
    const events = drain(sub, decode, 50);
    assertInOrder(events, 5);
    assert.equal(events.at(-1).msg, 10);
  } finally {
    topic.close();
    unlinkQuietly(name);
  }
});

// ------------------------------------------- 3. concurrent publisher processes --

test('two publisher processes at once: every message of each arrives once, in its order, intact', async (t) => {
  const N = 60_000;
  const name = uniqueName('topic-2pub');
  // 8 MiB hold all 120 000 records (~6.7 MB): nobody can lag.
  const topic = Topic.create(name, { capacity: 8 << 20 });
  const pubs = [];
  try {
    const sub = topic.subscribe({ from: 'earliest' });
    for (const id of [1, 2]) pubs.push(peer('publish', { name, id, count: N, gate: true }, { timeoutMs: 20000 }));
    await Promise.all(pubs.map((p) => p.line(/^ready$/)));
    for (const p of pubs) p.send('go\n');
    const next = { 1: 0, 2: 0 };
    let switches = 0;
    let last = 0;
    const t0 = performance.now();
    for (let i = 0; i < 2 * N; i++) {
      const m = await sub.receive({ timeout: STEP_MS });
      const c = checkMessage(m);
      assert.equal(c.error, undefined, `message ${i}: ${c.error}`);
      assert.ok(c.id === 1 || c.id === 2, `message ${i}: publisher ${c.id}`);
      assert.equal(c.seq, next[c.id], `message ${i}: publisher ${c.id} sent ${c.seq}, expected ${next[c.id]}`);
      next[c.id]++;
      if (c.id !== last) switches++;
      last = c.id;
    }
    const ms = performance.now() - t0;
    const reports = await Promise.all(pubs.map((p, i) => reportOf(p, `publisher ${i + 1}`)));
    t.diagnostic(`${2 * N} messages in ${ms.toFixed(0)} ms; publishers ${reports.map((r) => r.ms).join(' / ')} ms; ${switches} switches between publishers`);
    assert.deepEqual(next, { 1: N, 2: N });
    assert.equal(topic.published, 2 * N);
    assert.equal(sub.tryReceive(), undefined, 'nothing more');
    assert.ok(switches > 2, `the publishers never overlapped (${switches} switches): the test did not test concurrency`);
  } finally {
    await reap(...pubs);
    topic.close();
    unlinkQuietly(name);
  }
});

// ------------------------------------------------ 4. publishers SIGKILLed --

// The two instants where a dying publisher leaves the ring off by one
// (mid-drop: OLDEST_SEQ stored, OLDEST_POS not; after-claim: NEXT_SEQ stored,
// TAIL not). The next publisher repairs the first; the second is a gap in the
// sequence numbers. The aligned variant of the kill test recognises them while
// the publisher is frozen and moves the kill elsewhere; the other variant kills
// wherever it lands.
/**
 * Walks the complete records in [OLDEST_POS, TAIL) and says whether the ring
 * is consistent: SEQs consecutive, OLDEST_SEQ the first, NEXT_SEQ one past
 * the last. 'mid-drop' / 'after-claim': off by one in the way a publisher
 * frozen at one of the two known-bad instants leaves it. Anything else: corrupt.
 */
function ringState(topic) {
  const cells = cellsOf(topic);
  const capacity = topic.capacity;
  const words = new Int32Array(topic.buffer, topic.byteOffset + DATA_OFFSET, capacity / 4);
  const tail = Atomics.load(cells, TAIL);
  const oldestSeq = Atomics.load(cells, OLDEST_SEQ);
  const nextSeq = Atomics.load(cells, NEXT_SEQ);
  let pos = Atomics.load(cells, OLDEST_POS);
  if (((tail - pos) | 0) < 0 || tail - pos > capacity) return `corrupt: OLDEST_POS ${pos}, TAIL ${tail}`;
  let first;
  let last;
  while (pos !== tail) {
    const off = pos & (capacity - 1);
    const w = off >> 2;
    const len = words[w + R_LEN];
    const size = len === FILLER ? capacity - off : words[w + R_SIZE];
    // A filler's size is implied (it runs to the end); an 8-byte one has no SIZE word.
    if (!(size >= (len === FILLER ? 8 : 16) && (size & 7) === 0 && off + size <= capacity && (len === FILLER || (len >= 0 && len <= size - 16)))) {
      return `corrupt: record at ${pos}: LEN ${len}, SIZE ${size}`;
    }
    if (((tail - pos - size) | 0) < 0) return `corrupt: record at ${pos} of SIZE ${size} runs past TAIL ${tail}`;
    if (len !== FILLER) {
      const seq = words[w + R_SEQ];
      // A gap is allowed: a publisher killed after taking a number (documented).
      if (last !== undefined && ((seq - last) | 0) < 1) return `corrupt: SEQ ${seq} after ${last}`;
      first ??= seq;
      last = seq;
    }
    pos = (pos + size) | 0;
  }
  if (first === undefined) {
    if (oldestSeq === nextSeq) return 'ok';
    return oldestSeq === ((nextSeq - 1) | 0) ? 'after-claim' : `corrupt: empty, OLDEST_SEQ ${oldestSeq}, NEXT_SEQ ${nextSeq}`;
  }
  if (oldestSeq === first && nextSeq === ((last + 1) | 0)) return 'ok';
  if (oldestSeq === ((first + 1) | 0) && nextSeq === ((last + 1) | 0)) return 'mid-drop';
  if (oldestSeq === first && nextSeq === ((last + 2) | 0)) return 'after-claim';
  return `corrupt: records ${first}..${last}, OLDEST_SEQ ${oldestSeq}, NEXT_SEQ ${nextSeq}`;
}

for (const aligned of [true, false]) {
  test(`a publisher SIGKILLed at random instants (>= 12 times; ${aligned ? 'records of 16-byte multiples, not at the two known-bad instants' : 'any record size, any instant'}): subscribers never see a corrupt message nor hang; the next publisher gets the lock`, async (t) => {
    const flag = aligned ? ALIGN16 : 0;
    const name = uniqueName('topic-kill');
    // Small (64 KiB): the publishers lap the subscribers, which must tolerate LaggedError.
    const topic = Topic.create(name, { capacity: 64 * 1024 });
    const watchers = [];
    let pub;
    try {
      // two that keep up, and one that naps (5 ms every 16 messages) so that it
      // is lapped, often while it copies a message being overwritten
      const kinds = [{ how: 'sync' }, { how: 'async' }, { how: 'sync', napEvery: 16, napMs: 5 }];
      for (const k of kinds) watchers.push(peer('watch', { name, waitMs: 30000, ...k }, { timeoutMs: 90000 }));
      await Promise.all(watchers.map((w) => w.line(/^ready$/)));
      let kills = 0;
      let heldAtDeath = 0;
      const moved = { 'mid-drop': 0, 'after-claim': 0 };
      let id = 0;
      while ((kills < 12 || heldAtDeath < 3) && kills < 40) {
        id++;
        pub = peer('publish-forever', { name, id: flag | id }, { timeoutMs: 10000 });
        await pub.line(/^ready$/);
        // (on a loaded machine a started publisher may not run for a while: wait until it has published)
        const before = topic.published;
        await waitUntil(() => topic.published !== before, 4 * STEP_MS, `publisher ${id} to publish`);
        await sleep(3 + Math.random() * 40);
        // Freeze it, look at the lock and the ring, then kill it there.
        const pid = pub.child.pid;
        let state;
        for (let tries = 0; ; tries++) {
          pub.child.kill('SIGSTOP');
          await waitUntil(() => ['T', 'Z', 'gone'].includes(stateOf(pid)), STEP_MS, `publisher ${id} to stop`);
          if (stateOf(pid) !== 'T') break; // it died by itself: reported below
          state = ringState(topic);
          const holds = (lockWord(topic) & TID_MASK) === pid;
          assert.ok(state === 'ok' || (holds && (state === 'mid-drop' || state === 'after-claim')), `ring with publisher ${id} frozen: ${state}`);
          if (state === 'ok' || !aligned || tries === 100) {
            if (holds) heldAtDeath++;
            break;
          }
          moved[state]++; // a known-bad instant: let it run on a little
          pub.child.kill('SIGCONT');
          await sleep(1);
        }
        pub.kill();
        const r = await withTimeout(pub.done, STEP_MS, 'the killed publisher to exit');
        assert.equal(r.signal, 'SIGKILL', `publisher ${id} ended by itself: ${r.stderr}`);
        kills++;
        // The any-instant variant kills at the off-by-one instants too: the
        // next publisher repairs them (and the watchers must not notice).
        if (aligned) assert.equal(state, 'ok', `publisher ${id} killed at a known-bad instant 100 times in a row`);
        for (const [i, wt] of watchers.entries()) {
          assert.ok(wt.alive(), `watcher ${i} exited early (${wt.child.exitCode ?? wt.child.signalCode}): ${wt.stdout} ${wt.stderr}`);
        }
      }
      // The last publisher: publish() must get the lock (the dead holder's
      // included) and finish; it is killed (and fails the test) if it hangs.
      const finalId = flag | (id + 1);
      pub = peer('publish', { name, id: finalId, count: 2000, end: true }, { timeoutMs: 5000 });
      await reportOf(pub, 'the final publisher');
      const reports = [];
      for (const [i, wt] of watchers.entries()) reports.push(await reportOf(wt, `watcher ${i}`));
      t.diagnostic(`${kills} kills, ${heldAtDeath} while holding the publisher lock, moved off a known-bad instant ${moved['mid-drop']} + ${moved['after-claim']} times (mid-drop + after-claim); ${topic.published} messages published`);
      for (const [i, r] of reports.entries()) {
        t.diagnostic(`watcher ${i}: received ${r.received}, ${r.lagged} LaggedErrors (${r.missed} missed), from ${Object.keys(r.ids).length} publishers`);
        const what = `watcher ${i} (${JSON.stringify(kinds[i])})`;
        assert.deepEqual(r.corrupt, [], `${what} saw corrupt messages`);
        assert.deepEqual(r.order, [], `${what} saw messages out of order`);
        assert.deepEqual(r.other, [], `${what} failed`);
        assert.equal(r.timeouts, 0, `${what} waited ${STEP_MS} ms for a message in vain`);
        assert.equal(r.ended, true, `${what} never got 'end'`);
        assert.ok(r.ids[finalId] > 0, `${what} got nothing from the final publisher`);
      }
      assert.ok(reports[2].lagged > 0, 'the napping watcher was never lapped');
      assert.ok(heldAtDeath >= 1, `no kill landed while the publisher held the lock (${kills} kills): the recovery was not exercised`);
      // The ring is consistent, the lock free, and it works for this process too.
      assert.equal(ringState(topic), 'ok');
      assert.equal(lockWord(topic) & TID_MASK, 0);
      const n = topic.published;
      topic.publish('after');
      assert.equal(topic.published, n + 1);
    } finally {
      if (pub?.alive()) pub.child.kill('SIGCONT');
      await reap(pub, ...watchers);
      topic.close();
      unlinkQuietly(name);
    }
  });
}

test('a publisher killed holding the lock: the next publisher (another process) takes it and publishes', async () => {
  const name = uniqueName('topic-deadlock');
  const topic = Topic.create(name, { capacity: 1024 });
  const procs = [];
  try {
    const sub = topic.subscribe({ from: 'earliest' });
    for (let s = 0; s < 3; s++) topic.publish(fixed(s));
    const dying = peer('die-holding', { name, step: 'locked' });
    procs.push(dying);
    const r = await withTimeout(dying.done, STEP_MS, 'the dying publisher');
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    assert.equal(lockWord(topic) & (TID_MASK | OWNER_DIED), OWNER_DIED, 'the kernel marks the lock OWNER_DIED');
    const pub = peer('publish', { name, id: 4, count: 5 }, { timeoutMs: STEP_MS });
    procs.push(pub);
    await reportOf(pub, 'the next publisher');
    assert.equal(topic.published, 8);
    assert.deepEqual(drain(sub, (m) => m).slice(0, 3).map((e) => fixedSeq(e.msg)), [0, 1, 2]);
  } finally {
    await reap(...procs);
    topic.close();
    unlinkQuietly(name);
  }
});

test('the ring checker of the kill test tells the two known-bad instants from a consistent ring', async () => {
  const procs = [];
  const names = [];
  try {
    for (const [step, want] of [['locked', 'ok'], ['mid-drop', 'mid-drop'], ['after-claim', 'after-claim']]) {
      const name = uniqueName(`topic-check-${step}`);
      names.push(name);
      const topic = Topic.create(name, { capacity: 1024 });
      try {
        for (let s = 0; s < 20; s++) topic.publish(fixed(s)); // wrapped: 4..19 kept
        assert.equal(ringState(topic), 'ok');
        const dying = peer('die-holding', { name, step });
        procs.push(dying);
        assert.equal((await withTimeout(dying.done, STEP_MS, 'the dying publisher')).signal, 'SIGKILL');
        assert.equal(ringState(topic), want, step);
        new Int32Array(topic.buffer, DATA_OFFSET + 5 * 64, 4)[R_SEQ] = 2; // going back: never valid (a gap forward is)
        assert.match(ringState(topic), /^corrupt: SEQ 2 after 4/);
      } finally {
        topic.close();
      }
    }
  } finally {
    await reap(...procs);
    unlinkQuietly(...names);
  }
});

test('a publisher killed while making room (OLDEST_SEQ bumped, OLDEST_POS not): subscribers still get the retained messages', async () => {
  const name = uniqueName('topic-middrop');
  const topic = Topic.create(name, { capacity: 1024 });
  const procs = [];
  try {
    for (let s = 0; s < 16; s++) topic.publish(fixed(s)); // full: 16 records of 64 bytes
    const old = topic.subscribe({ from: 'earliest' }); // expects 0
    const dying = peer('die-holding', { name, step: 'mid-drop' });
    procs.push(dying);
    assert.equal((await withTimeout(dying.done, STEP_MS, 'the dying publisher')).signal, 'SIGKILL');
    assert.equal(lockWord(topic) & TID_MASK, 0, 'the lock is not held');
    topic.publish(fixed(16)); // drops message 0: 1..16 are kept
    const fresh = topic.subscribe({ from: 'earliest' });
    const events = drain(fresh, fixedSeq, 100);
    assert.deepEqual(events, Array.from({ length: 16 }, (_, i) => ({ msg: i + 1 })));
    const oldEvents = drain(old, fixedSeq, 100);
    assert.deepEqual(oldEvents[0], { lagged: 1 });
    assertInOrder(oldEvents, 0);
  } finally {
    await reap(...procs);
    topic.close();
    unlinkQuietly(name);
  }
});

test('a publisher killed after taking a number (NEXT_SEQ bumped, TAIL not): lap detection stays exact', async () => {
  const name = uniqueName('topic-gap');
  const topic = Topic.create(name, { capacity: 1024 }); // 16 records of 64 bytes
  const procs = [];
  try {
    let s = 0;
    for (; s < 4; s++) topic.publish(fixed(s));
    const dying = peer('die-holding', { name, step: 'after-claim' });
    procs.push(dying);
    assert.equal((await withTimeout(dying.done, STEP_MS, 'the dying publisher')).signal, 'SIGKILL');
    assert.equal(lockWord(topic) & TID_MASK, 0, 'the lock is not held');
    for (; s < 8; s++) topic.publish(fixed(s));
    const sub = topic.subscribe({ from: 'latest' });
    for (; s < 12; s++) topic.publish(fixed(s));
    assert.equal(fixedSeq(sub.tryReceive()), 8);
    assert.equal(fixedSeq(sub.tryReceive()), 9);
    // Stall while 15 more are published: message 10 is overwritten, 11..26 are kept.
    for (let i = 0; i < 15; i++, s++) topic.publish(fixed(s));
    const events = drain(sub, fixedSeq, 100);
    assert.deepEqual(events[0], { lagged: 1 }, JSON.stringify(events));
    assertInOrder(events, 10);
    assert.equal(events.at(-1).msg, 26);
  } finally {
    await reap(...procs);
    topic.close();
    unlinkQuietly(name);
  }
});

// ------------------------------------------------------------- 5. waiting --

test('await receive() wakes when another process publishes; receiveSync() too', async () => {
  const name = uniqueName('topic-wake');
  const topic = Topic.create(name, { capacity: 1024 });
  const procs = [];
  try {
    const sub = topic.subscribe();
    let p = peer('publish-after', { name, ms: 300, text: 'hello' });
    procs.push(p);
    await p.line(/^ready$/);
    let t0 = performance.now();
    const m = await sub.receive({ timeout: STEP_MS });
    let ms = performance.now() - t0;
    assert.equal(m.toString(), 'hello');
    assert.ok(ms > 150, `receive() returned after ${ms.toFixed(0)} ms, before the peer published`);
    const at = Number((await p.line(/^published /)).split(' ')[1]);
    assert.ok(Date.now() - at < 2000);
    assert.equal(Atomics.load(cellsOf(topic), DATA_WAITERS), 0, 'waiter count back to 0');

    p = peer('publish-after', { name, ms: 300, text: 'again' });
    procs.push(p);
    await p.line(/^ready$/);
    t0 = performance.now();
    assert.equal(sub.receiveSync({ timeout: STEP_MS }).toString(), 'again');
    ms = performance.now() - t0;
    assert.ok(ms > 150, `receiveSync() returned after ${ms.toFixed(0)} ms, before the peer published`);
    assert.equal(Atomics.load(cellsOf(topic), DATA_WAITERS), 0, 'waiter count back to 0');
  } finally {
    await reap(...procs);
    topic.close();
    unlinkQuietly(name);
  }
});

test('timeouts: receive({timeout: 50}) and receiveSync({timeout: 50}) fail with ETIMEDOUT after ~50 ms', async () => {
  const name = uniqueName('topic-timeout');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    const sub = topic.subscribe();
    let t0 = performance.now();
    await assert.rejects(sub.receive({ timeout: 50 }), expectCode('ETIMEDOUT'));
    let ms = performance.now() - t0;
    assert.ok(ms >= 45 && ms < 1000, `receive timed out after ${ms.toFixed(0)} ms`);
    t0 = performance.now();
    assert.throws(() => sub.receiveSync({ timeout: 50 }), expectCode('ETIMEDOUT'));
    ms = performance.now() - t0;
    assert.ok(ms >= 45 && ms < 1000, `receiveSync timed out after ${ms.toFixed(0)} ms`);
    await assert.rejects(sub.receive({ timeout: 0 }), expectCode('ETIMEDOUT'));
    assert.equal(Atomics.load(cellsOf(topic), DATA_WAITERS), 0);
    // still works afterwards
    topic.publish('x');
    assert.equal((await sub.receive({ timeout: 0 })).toString(), 'x');
  } finally {
    topic.close();
    unlinkQuietly(name);
  }
});

test('abort: a parked receive() rejects with the signal\'s reason; an aborted signal rejects at once', async () => {
  const name = uniqueName('topic-abort');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    const sub = topic.subscribe();
    const ac = new AbortController();
    const reason = new Error('stop waiting');
    const pending = sub.receive({ signal: ac.signal, timeout: STEP_MS });
    setTimeout(() => ac.abort(reason), 30);
    const t0 = performance.now();
    await assert.rejects(pending, (e) => e === reason);
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(Atomics.load(cellsOf(topic), DATA_WAITERS), 0, 'waiter count back to 0');
    await assert.rejects(sub.receive({ signal: ac.signal }), (e) => e === reason);
    await assert.rejects(sub.receive({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    // nothing was consumed by the aborted waits
    topic.publish('after');
    assert.equal((await sub.receive({ timeout: STEP_MS, signal: new AbortController().signal })).toString(), 'after');
  } finally {
    topic.close();
    unlinkQuietly(name);
  }
});

test("from: 'latest' misses earlier messages, 'earliest' sees exactly the retained ones; async iteration", async () => {
  const name = uniqueName('topic-from');
  const topic = Topic.create(name, { capacity: 128 }); // maxMessage 16: 4 records of 32 bytes
  const procs = [];
  let failsafe;
  try {
    assert.equal(topic.capacity, 128);
    assert.equal(topic.maxMessage, 16);
    const text = (i) => `m${String(i).padStart(15, '0')}`; // 16 bytes
    topic.publish(text(0));
    topic.publish(text(1));
    const latest = topic.subscribe({ from: 'latest' });
    const dflt = topic.subscribe();
    const earliest = topic.subscribe({ from: 'earliest' });
    assert.equal(latest.pending, 0);
    assert.equal(earliest.pending, 2);
    assert.equal(latest.tryReceive(), undefined);
    assert.equal(dflt.tryReceive(), undefined);
    assert.deepEqual(drain(earliest, String).map((e) => e.msg), [text(0), text(1)]);
    topic.publish(text(2));
    assert.equal(String(latest.tryReceive()), text(2));
    assert.equal(String(dflt.tryReceive()), text(2));
    assert.equal(String(earliest.tryReceive()), text(2));
    // wrapped: the ring keeps the last 4
    for (let i = 3; i < 10; i++) topic.publish(text(i));
    const late = topic.subscribe({ from: 'earliest' });
    assert.deepEqual(drain(late, String).map((e) => e.msg), [6, 7, 8, 9].map(text));

    // for await, fed by another process; a fail-safe 'end' bounds the loop
    const sub = topic.subscribe({ from: 'latest' });
    const p = peer('publish', { name: topic.name, id: 5, count: 0, gate: true, end: true });
    procs.push(p);
    await p.line(/^ready$/);
    topic.publish('a');
    failsafe = setTimeout(() => topic.publish('end'), STEP_MS);
    p.send('go\n');
    const got = [];
    for await (const m of sub) {
      got.push(String(m));
      if (String(m) === 'end') break;
    }
    clearTimeout(failsafe);
    await reportOf(p, 'publisher');
    assert.deepEqual(got, ['a', 'end']);
  } finally {
    clearTimeout(failsafe);
    await reap(...procs);
    topic.close();
    unlinkQuietly(name);
  }
});

// ----------------------------------------------------------- 6. bad input --

test('messages larger than maxMessage: RangeError ERR_OUT_OF_RANGE, nothing published', () => {
  const name = uniqueName('topic-big');
  const topic = Topic.create(name, { capacity: 1000 }); // rounded up to 1024
  try {
    assert.equal(topic.capacity, 1024);
    assert.equal(topic.maxMessage, 1024 / 4 - 16);
    const sub = topic.subscribe({ from: 'earliest' });
    const max = topic.maxMessage;
    assert.throws(() => topic.publish(Buffer.alloc(max + 1)), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => topic.publish('x'.repeat(max + 1)), expectCode('ERR_OUT_OF_RANGE', RangeError));
    // counted in UTF-8 bytes, not characters
    assert.throws(() => topic.publish('é'.repeat(Math.ceil((max + 1) / 2))), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => topic.publish(Buffer.alloc(10 * 1024)), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.equal(topic.published, 0);
    assert.equal(sub.tryReceive(), undefined);
    topic.publish(Buffer.alloc(max, 7)); // exactly the limit is fine
    topic.publish('é'.repeat(max / 2));
    assert.equal(topic.published, 2);
    assert.deepEqual(sub.tryReceive(), Buffer.alloc(max, 7));
    assert.equal(sub.tryReceive().toString(), 'é'.repeat(max / 2));
    // json: the encoded length counts
    const json = Topic.open(name, { encoding: 'json' });
    try {
      assert.throws(() => json.publish({ s: 'x'.repeat(max) }), expectCode('ERR_OUT_OF_RANGE', RangeError));
      assert.equal(topic.published, 2);
    } finally {
      json.close();
    }
  } finally {
    topic.close();
    unlinkQuietly(name);
  }
});

test('wrong types: TypeError, nothing published; bad options', async () => {
  const name = uniqueName('topic-types');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    const sub = topic.subscribe({ from: 'earliest' });
    for (const bad of [42, null, undefined, { a: 1 }, [1, 2], new Int32Array(2), new DataView(new ArrayBuffer(4)), Symbol('s'), true]) {
      assert.throws(() => topic.publish(bad), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `publish(${String(bad)})`);
    }
    assert.equal(topic.published, 0);
    assert.equal(sub.tryReceive(), undefined);
    // Uint8Array (not just Buffer) and strings are messages
    topic.publish(new Uint8Array([1, 2, 3]));
    topic.publish('');
    assert.deepEqual([...sub.tryReceive()], [1, 2, 3]);
    assert.equal(sub.tryReceive().length, 0);

    assert.throws(() => topic.subscribe({ from: 'x' }), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE');
    assert.throws(() => topic.subscribe({ from: 0 }), TypeError);
    assert.throws(() => topic.subscribe('latest'), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => topic.subscribe(null), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => Topic.open(name, { encoding: 'xml' }), TypeError);
    await assert.rejects(sub.receive({ timeout: -1 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    await assert.rejects(sub.receive({ signal: 'no' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => sub.receiveSync({ timeout: 'soon' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));

    for (const [opts, code, Type] of [
      [{ capacity: 0 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ capacity: 2 ** 30 + 1 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ capacity: 1.5 }, 'ERR_OUT_OF_RANGE', RangeError],
      [{ capacity: '1024' }, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{}, 'ERR_INVALID_ARG_TYPE', TypeError],
      [{ capacity: 1024, spin: -1 }, 'ERR_OUT_OF_RANGE', RangeError],
    ]) {
      const other = uniqueName('topic-badcreate');
      try {
        assert.throws(() => Topic.create(other, opts), expectCode(code, Type), JSON.stringify(opts));
        assert.throws(() => Segment.open(other), expectCode('ENOENT'), `a failed create left ${other} behind`);
      } finally {
        unlinkQuietly(other);
      }
    }
    // capacity rounding
    for (const [asked, got] of [[1, 128], [128, 128], [129, 256], [5000, 8192]]) {
      const n = uniqueName('topic-round');
      try {
        const t = Topic.create(n, { capacity: asked });
        assert.equal(t.capacity, got);
        assert.equal(t.maxMessage, got / 4 - 16);
        t.close();
      } finally {
        unlinkQuietly(n);
      }
    }
    // a closed handle
    const h = Topic.open(name);
    const hs = h.subscribe();
    h.close();
    assert.throws(() => h.publish('x'), expectCode('ERR_SHMKIT_CLOSED'));
    assert.throws(() => hs.tryReceive(), expectCode('ERR_SHMKIT_CLOSED'));
    assert.throws(() => h.subscribe(), expectCode('ERR_SHMKIT_CLOSED'));
  } finally {
    topic.close();
    unlinkQuietly(name);
  }
});

test('Topic.create() with a bad handle option (encoding) leaves no segment behind', () => {
  const name = uniqueName('topic-badenc');
  try {
    assert.throws(() => Topic.create(name, { capacity: 1024, encoding: 'yaml' }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => Segment.open(name), expectCode('ENOENT'), 'the failed create left its segment behind');
  } finally {
    unlinkQuietly(name);
  }
});

test('opening a Queue, garbage, or a too-small segment as a Topic: ERR_SHMKIT_BAD_LAYOUT', () => {
  const qname = uniqueName('topic-isqueue');
  const gname = uniqueName('topic-garbage');
  const sname = uniqueName('topic-small');
  const tname = uniqueName('topic-geom');
  try {
    Queue.create(qname, { capacity: 1024 }).close();
    assert.throws(() => Topic.open(qname), expectCode('ERR_SHMKIT_BAD_LAYOUT'));
    const g = Segment.create(gname, { size: 4096 });
    g.bytes.fill(0x5a);
    g.close();
    assert.throws(() => Topic.open(gname), expectCode('ERR_SHMKIT_BAD_LAYOUT'));
    Segment.create(sname, { size: 32 }).close();
    assert.throws(() => Topic.open(sname), expectCode('ERR_SHMKIT_BAD_LAYOUT'));
    // a Topic whose geometry was overwritten
    const t = Topic.create(tname, { capacity: 1024 });
    const cells = cellsOf(t);
    for (const [capacity, maxMessage] of [[100, 9], [1024, 17], [0, 0], [-1024, -272]]) {
      cells[CAPACITY] = capacity;
      cells[MAX_MESSAGE] = maxMessage;
      assert.throws(() => Topic.open(tname), expectCode('ERR_SHMKIT_BAD_LAYOUT'), `capacity ${capacity}, maxMessage ${maxMessage}`);
    }
    t.close();
    // embedded: attach to garbage
    const sab = new SharedArrayBuffer(4096);
    new Uint8Array(sab).fill(0xa5);
    assert.throws(() => Topic.attach(sab, 0), expectCode('ERR_SHMKIT_BAD_LAYOUT'));
  } finally {
    unlinkQuietly(qname, gname, sname, tname);
  }
});

test('a header claiming a capacity larger than the segment: ERR_SHMKIT_BAD_LAYOUT', () => {
  const name = uniqueName('topic-toobig');
  try {
    const t = Topic.create(name, { capacity: 1024 });
    const cells = cellsOf(t);
    for (const capacity of [2048, 1 << 20]) {
      cells[CAPACITY] = capacity;
      cells[MAX_MESSAGE] = capacity / 4 - 16;
      assert.throws(() => Topic.open(name), expectCode('ERR_SHMKIT_BAD_LAYOUT'), `capacity ${capacity}`);
    }
    t.close();
  } finally {
    unlinkQuietly(name);
  }
});

test('a corrupted record SIZE: the subscriber throws (LaggedError or ERR_SHMKIT_CORRUPT) without hanging; publishers get ERR_SHMKIT_CORRUPT and the lock is released', async () => {
  const name = uniqueName('topic-corrupt');
  const topic = Topic.create(name, { capacity: 1024 }); // 16 records of 64 bytes
  const procs = [];
  try {
    const sub = topic.subscribe({ from: 'earliest' });
    for (let s = 0; s < 10; s++) topic.publish(fixed(s));
    assert.equal(fixedSeq(sub.tryReceive()), 0);
    assert.equal(fixedSeq(sub.tryReceive()), 1);
    // overwrite record 3's SIZE through a raw mapping of the same segment
    const raw = Segment.open(name);
    try {
      new Int32Array(raw.buffer, DATA_OFFSET + 3 * 64, 4)[R_SIZE] = 0x7fffffff;
    } finally {
      raw.close();
    }
    assert.equal(fixedSeq(sub.tryReceive()), 2);
    const isExpected = (e) => (e instanceof LaggedError && e.code === 'ERR_SHMKIT_LAGGED') || e.code === 'ERR_SHMKIT_CORRUPT';
    assert.throws(() => sub.tryReceive(), isExpected);
    // Later calls stay bounded: each returns or throws one of those, and any
    // message returned is intact.
    for (let i = 0; i < 20; i++) {
      try {
        const m = sub.tryReceive();
        if (m !== undefined) fixedSeq(m);
      } catch (e) {
        assert.ok(isExpected(e), `got ${e}`);
      }
    }
    const t0 = performance.now();
    try {
      const m = sub.receiveSync({ timeout: 100 });
      if (m !== undefined) fixedSeq(m);
    } catch (e) {
      assert.ok(isExpected(e) || e.code === 'ETIMEDOUT', `got ${e}`);
    }
    await withTimeout(sub.receive({ timeout: 100 }).then((m) => m && fixedSeq(m), (e) => assert.ok(isExpected(e) || e.code === 'ETIMEDOUT', `got ${e}`)), STEP_MS, 'receive()');
    assert.ok(performance.now() - t0 < 2000);
    // A publisher that has to drop the corrupt record refuses; the lock is released.
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      try {
        topic.publish(fixed(100 + i));
      } catch (e) {
        assert.equal(e.code, 'ERR_SHMKIT_CORRUPT', String(e));
        refused++;
      }
    }
    assert.ok(refused > 0, 'publish never reached the corrupt record');
    assert.equal(lockWord(topic) & TID_MASK, 0, 'the publisher lock was left held');
    // and another process is refused too, rather than hanging on the lock
    const p = peer('publish', { name, id: 9, count: 1 }, { timeoutMs: STEP_MS });
    procs.push(p);
    const r = await withTimeout(p.done, STEP_MS + 1000, 'a publisher process');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERR_SHMKIT_CORRUPT/);
  } finally {
    await reap(...procs);
    topic.close();
    unlinkQuietly(name);
  }
});

test('a corrupted record is reported as such, never as a lag with a wrapped count followed by messages already received', () => {
  const name = uniqueName('topic-corrupt2');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    const sub = topic.subscribe({ from: 'earliest' });
    for (let s = 0; s < 10; s++) topic.publish(fixed(s));
    assert.deepEqual([0, 1, 2].map(() => fixedSeq(sub.tryReceive())), [0, 1, 2]);
    new Int32Array(topic.buffer, DATA_OFFSET + 3 * 64, 4)[R_SIZE] = 0x7fffffff;
    const seen = new Set([0, 1, 2]);
    for (let i = 0; i < 20; i++) {
      try {
        const m = sub.tryReceive();
        if (m === undefined) break;
        const s = fixedSeq(m);
        assert.ok(!seen.has(s), `message ${s} delivered twice`);
        seen.add(s);
      } catch (e) {
        if (e instanceof LaggedError) assert.ok(e.missed <= topic.published, `LaggedError claims ${e.missed} missed of ${topic.published} published`);
        else assert.equal(e.code, 'ERR_SHMKIT_CORRUPT', String(e));
      }
    }
  } finally {
    topic.close();
    unlinkQuietly(name);
  }
});

test('json and v8 encodings round-trip between handles of one topic', () => {
  const name = uniqueName('topic-enc');
  const topic = Topic.create(name, { capacity: 4096, encoding: 'json' });
  const v8 = Topic.open(name, { encoding: 'v8' });
  const raw = Topic.open(name);
  try {
    const jsub = topic.subscribe();
    const rsub = raw.subscribe();
    const values = [{ a: 1, b: [true, null, 'x'], c: { d: 'é€😀' } }, [1, 2, 3], 'text', 42, null, false];
    for (const v of values) topic.publish(v);
    for (const v of values) assert.deepEqual(jsub.tryReceive(), v);
    assert.equal(rsub.tryReceive().toString(), JSON.stringify(values[0]), 'json is stored as JSON text');
    drain(rsub, (m) => m);
    // nothing JSON can carry: an argument error or an encode error, coded either way
    const unencodable = (e) => ['ERR_INVALID_ARG_VALUE', 'ERR_SHMKIT_ENCODE'].includes(e.code);
    assert.throws(() => topic.publish(undefined), unencodable);
    assert.throws(() => topic.publish(() => 1), unencodable);
    assert.throws(() => topic.publish(10n), expectCode('ERR_SHMKIT_ENCODE')); // JSON.stringify's TypeError, given a code
    const vsub = v8.subscribe();
    const rich = { map: new Map([[1, 'one']]), set: new Set(['s']), date: new Date(1700000000000), big: 2n ** 70n, bytes: new Uint8Array([9, 8]), nested: [{ re: /x+/g }], sparse: [1, , 3], undef: undefined, nan: NaN };
    v8.publish(rich);
    v8.publish('plain');
    const got = vsub.tryReceive();
    assert.deepEqual(got, rich);
    assert.ok(got.map instanceof Map && got.date instanceof Date);
    assert.equal(vsub.tryReceive(), 'plain');
    assert.throws(() => v8.publish(() => 1), expectCode('ERR_SHMKIT_ENCODE')); // not cloneable
    const before = topic.published;
    assert.throws(() => v8.publish({ big: 'x'.repeat(2000) }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.equal(topic.published, before);
  } finally {
    raw.close();
    v8.close();
    topic.close();
    unlinkQuietly(name);
  }
});

test('v8: a published undefined is not silently dropped', () => {
  const name = uniqueName('topic-undef');
  const topic = Topic.create(name, { capacity: 1024, encoding: 'v8' });
  try {
    const sub = topic.subscribe();
    let rejected = false;
    try {
      topic.publish(undefined);
    } catch (e) {
      assert.ok(e instanceof TypeError, String(e));
      rejected = true;
    }
    topic.publish('next');
    if (rejected) assert.equal(sub.receiveSync({ timeout: 100 }), 'next');
    else assert.equal(sub.receiveSync({ timeout: 100 }), undefined, 'receiveSync() skipped the undefined message');
  } finally {
    topic.close();
    unlinkQuietly(name);
  }
});

test('embedded: byteLength/init/attach in a SharedArrayBuffer; openOrCreate', () => {
  const size = Topic.byteLength({ capacity: 200 });
  assert.equal(size, DATA_OFFSET + 256);
  const sab = new SharedArrayBuffer(8 + size);
  const a = Topic.init(sab, 8, { capacity: 200 });
  const b = Topic.attach(sab, 8);
  assert.equal(b.capacity, 256);
  assert.equal(a.name, null);
  const sub = b.subscribe();
  for (let i = 0; i < 20; i++) a.publish(`m${i}`);
  assert.equal(b.published, 20);
  assert.throws(() => sub.tryReceive(), LaggedError);
  assert.throws(() => Topic.init(sab, 4, { capacity: 200 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => Topic.init(sab, 16, { capacity: 200 }), expectCode('ERR_OUT_OF_RANGE', RangeError));

  const name = uniqueName('topic-ooc');
  try {
    const x = Topic.openOrCreate(name, { capacity: 512 });
    // an existing Topic's capacity is not silently ignored (the openOrCreate rule)
    assert.throws(() => Topic.openOrCreate(name, { capacity: 4096 }), expectCode('ERR_SHMKIT_MISMATCH'));
    const y = Topic.openOrCreate(name, { capacity: 512 }); // opens: the same geometry
    assert.equal(y.capacity, 512);
    x.publish('hi');
    assert.equal(y.published, 1);
    assert.throws(() => Topic.create(name, { capacity: 512 }), expectCode('EEXIST'));
    x.close();
    y.close();
    Topic.unlink(name);
    assert.throws(() => Topic.open(name), expectCode('ENOENT'));
  } finally {
    unlinkQuietly(name);
  }
});
