// Topic and Subscriber as a user holds them: closed handles (every getter
// and method), Subscriber.close() and what closing the Topic does to its
// subscribers, the lag policy (onLag: 'throw' | 'skip'), bounded waits for
// the publisher lock (a holder SIGSTOPped while holding it), the
// openOrCreate rule, coded errors that name the Topic, and internals that
// must not be reachable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { LaggedError, Segment, Subscriber, Topic } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, expectCode, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';
import { reap, reportOf, startNode } from './fixtures/proc.mjs';
import { DATA_OFFSET, DATA_WAITERS } from '../dist/src/channel/topic-layout.js';

const uniqueName = trackedNames();
const PEER = fileURLToPath(new URL('./fixtures/topic-api-peer.mjs', import.meta.url));
const peer = (mode, opts, procOptions = {}) => startNode(PEER, [mode, JSON.stringify(opts)], { waitMs: 20000, ...procOptions });
const waiters = (topic) => Atomics.load(new Int32Array(topic.buffer, topic.byteOffset, DATA_OFFSET / 4), DATA_WAITERS);

/** A fixed-size message: u32 seq, then 44 bytes of (seq & 0xff): a 64-byte record (16 per 1024-byte ring). */
function fixed(seq) {
  const b = Buffer.alloc(48, seq & 0xff);
  b.writeUInt32LE(seq, 0);
  return b;
}
const seqOf = (m) => {
  assert.ok(Buffer.isBuffer(m) && m.length === 48, `not a fixed() message: ${m}`);
  return m.readUInt32LE(0);
};

/** The public members of a prototype (getters and methods), as `name` or `[Symbol.x]`. */
function membersOf(proto) {
  return Reflect.ownKeys(proto)
    .filter((k) => k !== 'constructor')
    .map((k) => (k === Symbol.dispose ? '[Symbol.dispose]' : k === Symbol.asyncDispose ? '[Symbol.asyncDispose]' : typeof k === 'symbol' ? `[${k.description}]` : k))
    .sort();
}

// --------------------------------------------------- closed handles --

// Every public getter and method of each class, and how to call it. A new
// member makes the completeness check below fail until it is listed here.
const TOPIC_CALLS = {
  buffer: (t) => t.buffer,
  byteOffset: (t) => t.byteOffset,
  capacity: (t) => t.capacity,
  capabilities: (t) => t.capabilities,
  maxMessage: (t) => t.maxMessage,
  published: (t) => t.published,
  lastSeq: (t) => t.lastSeq,
  stats: (t) => t.stats(),
  faults: (t) => t.faults,
  check: (t) => t.check(),
  repair: (t) => t.repair(),
  publish: (t) => t.publish('x'),
  subscribe: (t) => t.subscribe(),
  check: (t) => t.check(),
  repair: (t) => t.repair(),
  faults: (t) => t.faults,
};
const TOPIC_ALWAYS = ['close', '[Symbol.dispose]', '[Symbol.asyncDispose]', 'closed', 'name'];
const SUB_CALLS = {
  pending: (s) => s.pending,
  missed: (s) => s.missed,
  lastSeq: (s) => s.lastSeq,
  tryReceive: (s) => s.tryReceive(),
  receiveSync: (s) => s.receiveSync({ timeout: 0 }),
  receive: (s) => s.receive({ timeout: 0 }),
  '[Symbol.asyncIterator]': (s) => s[Symbol.asyncIterator](),
};
const SUB_ALWAYS = ['close', '[Symbol.dispose]', 'closed'];

test('the closed-handle table lists every public member of Topic and Subscriber', () => {
  // (closedError is the base class's protected helper, shared by every kind)
  const topicMembers = [...membersOf(Topic.prototype), ...membersOf(Object.getPrototypeOf(Topic.prototype)).filter((k) => k !== 'closedError')];
  assert.deepEqual([...new Set(topicMembers)].sort(), [...Object.keys(TOPIC_CALLS), ...TOPIC_ALWAYS].sort());
  assert.deepEqual(membersOf(Subscriber.prototype), [...Object.keys(SUB_CALLS), ...SUB_ALWAYS].sort());
});

/** Calls `fn` and expects ERR_SHMKIT_CLOSED (thrown, or for async members rejected) naming the topic. */
async function expectClosed(fn, what, name) {
  let result;
  try {
    result = fn();
  } catch (err) {
    assert.equal(err.code, 'ERR_SHMKIT_CLOSED', `${what}: ${err.code} ${err.message}`);
    assert.ok(err.message.includes(name), `${what}: the message does not name the topic: ${err.message}`);
    return;
  }
  if (result instanceof Promise) {
    await assert.rejects(withTimeout(result, STEP_MS, what), (err) => {
      assert.equal(err.code, 'ERR_SHMKIT_CLOSED', `${what}: ${err.code} ${err.message}`);
      return true;
    });
    return;
  }
  assert.fail(`${what} returned ${String(result)} instead of throwing ERR_SHMKIT_CLOSED`);
}

test('a closed Topic: every getter and method throws ERR_SHMKIT_CLOSED (naming it), and so does every member of its subscribers', async () => {
  const name = uniqueName('topic-closed');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    const h = Topic.open(name);
    const subs = [h.subscribe(), h.subscribe({ from: 'earliest' }), h.subscribe({ onLag: 'skip' })];
    for (let i = 0; i < 5; i++) topic.publish(fixed(i)); // something pending: pending was 2^32 - position after close
    assert.equal(subs[1].pending, 5);
    h.close();
    assert.equal(h.closed, true);
    assert.equal(h.name, name);
    for (const [member, call] of Object.entries(TOPIC_CALLS)) await expectClosed(() => call(h), `topic.${member}`, name);
    for (const [i, s] of subs.entries()) {
      assert.equal(s.closed, true, `subscriber ${i} of a closed topic is closed`);
      for (const [member, call] of Object.entries(SUB_CALLS)) await expectClosed(() => call(s), `subscriber ${i}.${member}`, name);
      s.close(); // idempotent
      s[Symbol.dispose]();
    }
    h.close();
    h[Symbol.dispose]();
    await h[Symbol.asyncDispose]();
    // the other handle and the object are untouched
    assert.equal(topic.published, 5);
  } finally {
    topic.close();
    Topic.unlink(name);
  }
});

test('a closed Subscriber: its members throw ERR_SHMKIT_CLOSED; its Topic and other subscribers go on', async () => {
  const name = uniqueName('topic-subclosed');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    const a = topic.subscribe({ from: 'earliest' });
    const b = topic.subscribe({ from: 'earliest' });
    topic.publish(fixed(0));
    assert.equal(a.closed, false);
    a.close();
    assert.equal(a.closed, true);
    for (const [member, call] of Object.entries(SUB_CALLS)) await expectClosed(() => call(a), `subscriber.${member}`, name);
    a.close();
    assert.equal(seqOf(b.tryReceive()), 0);
    topic.publish(fixed(1));
    assert.equal(seqOf(b.tryReceive()), 1);
    assert.equal(topic.published, 2);
    const c = topic.subscribe();
    assert.equal(c.closed, false);
    c[Symbol.dispose]();
    assert.equal(c.closed, true, '[Symbol.dispose] closes a Subscriber');
  } finally {
    topic.close();
    Topic.unlink(name);
  }
});

test('closing the Subscriber or its Topic rejects a parked receive() with ERR_SHMKIT_CLOSED at once; for await ends', async () => {
  const name = uniqueName('topic-closewait');
  const topic = Topic.create(name, { capacity: 1024 });
  const other = Topic.open(name);
  try {
    // the subscriber closed
    const s1 = topic.subscribe();
    const p1 = s1.receive({ timeout: 3 * STEP_MS });
    setTimeout(() => s1.close(), 50);
    let t0 = performance.now();
    await assert.rejects(withTimeout(p1, STEP_MS, 'receive() after Subscriber.close()'), expectCode('ERR_SHMKIT_CLOSED'));
    assert.ok(performance.now() - t0 < 2000, 'receive() hung after close');
    // its Topic closed (two subscribers parked), and a for-await loop on another handle closed
    const loopSub = other.subscribe();
    other.publish('one');
    const loop = (async () => {
      const got = [];
      for await (const m of loopSub) got.push(m.toString());
      return got;
    })();
    const s2 = topic.subscribe();
    const s3 = topic.subscribe();
    const parked = [s2.receive(), s3.receive({ timeout: 3 * STEP_MS })];
    setTimeout(() => topic.close(), 80);
    setTimeout(() => other.close(), 120);
    t0 = performance.now();
    for (const p of parked) await assert.rejects(withTimeout(p, STEP_MS, 'receive() after Topic.close()'), expectCode('ERR_SHMKIT_CLOSED'));
    assert.deepEqual(await withTimeout(loop, STEP_MS, 'for await to end on close'), ['one']);
    assert.ok(performance.now() - t0 < 2000, 'hung after close');
    const probe = Topic.open(name);
    assert.equal(waiters(probe), 0, 'waiter count back to 0');
    probe.close();
  } finally {
    topic.close();
    other.close();
    Topic.unlink(name);
  }
});

test('new Subscriber() is refused: subscribers come from topic.subscribe()', () => {
  const name = uniqueName('topic-ctor');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    assert.throws(() => new Subscriber(), expectCode('ERR_ILLEGAL_CONSTRUCTOR', TypeError));
    assert.throws(() => new Subscriber(topic, 'latest'), expectCode('ERR_ILLEGAL_CONSTRUCTOR', TypeError));
    assert.ok(topic.subscribe() instanceof Subscriber);
  } finally {
    topic.close();
    Topic.unlink(name);
  }
});

test('internals are not reachable: no lock, data, cells, words, startingPoint, recordSizeAt or attempt', () => {
  const name = uniqueName('topic-internals');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    const sub = topic.subscribe();
    for (const key of ['lock', 'data', 'cells', 'words', 'mask', 'encoding', 'spin', 'startingPoint', 'recordSizeAt', 'attempt']) {
      assert.equal(topic[key], undefined, `topic.${key}`);
      assert.equal(sub[key], undefined, `subscriber.${key}`);
    }
  } finally {
    topic.close();
    Topic.unlink(name);
  }
});

// ------------------------------------------------------- lag policy --

// A 1024-byte ring holds exactly 16 fixed() records; 50 published before the
// subscriber reads anything lap it: messages 0..33 are lost, 34..49 kept.
function lapped(onLag) {
  const name = uniqueName(`topic-lag-${onLag ?? 'default'}`);
  const topic = Topic.create(name, { capacity: 1024 });
  const sub = topic.subscribe(onLag === undefined ? { from: 'earliest' } : { from: 'earliest', onLag });
  for (let s = 0; s < 50; s++) topic.publish(fixed(s));
  return { name, topic, sub };
}

for (const how of ['tryReceive', 'receiveSync', 'receive']) {
  const get = (sub) => (how === 'tryReceive' ? sub.tryReceive() : how === 'receiveSync' ? sub.receiveSync({ timeout: STEP_MS }) : sub.receive({ timeout: STEP_MS }));

  test(`onLag 'skip' (${how}): a lapped subscriber gets the oldest message kept, counts the missed ones, and goes on`, async () => {
    const { name, topic, sub } = lapped('skip');
    try {
      assert.equal(sub.missed, 0);
      assert.equal(seqOf(await get(sub)), 34);
      assert.equal(sub.missed, 34);
      for (let want = 35; want < 50; want++) assert.equal(seqOf(await get(sub)), want);
      // a second lap adds up
      for (let s = 50; s < 100; s++) topic.publish(fixed(s));
      assert.equal(seqOf(await get(sub)), 84);
      assert.equal(sub.missed, 34 + 34);
      assert.equal(sub.pending, 15);
    } finally {
      topic.close();
      Topic.unlink(name);
    }
  });

  test(`onLag 'throw' (${how}, and the default): LaggedError with missed, then the oldest message kept`, async () => {
    for (const onLag of [undefined, 'throw']) {
      const { name, topic, sub } = lapped(onLag);
      try {
        let lag;
        try {
          await get(sub);
          assert.fail('no LaggedError');
        } catch (err) {
          lag = err;
        }
        assert.ok(lag instanceof LaggedError, String(lag));
        assert.equal(lag.code, 'ERR_SHMKIT_LAGGED');
        assert.equal(lag.missed, 34);
        assert.ok(lag.message.includes(name), lag.message);
        assert.equal(sub.missed, 34, 'counted under throw as well');
        assert.equal(seqOf(await get(sub)), 34);
      } finally {
        topic.close();
        Topic.unlink(name);
      }
    }
  });
}

test("for await with onLag 'skip' keeps iterating across laps; with 'throw' the loop throws LaggedError and iterating again goes on", async () => {
  const s = lapped('skip');
  const t = lapped('throw');
  try {
    const got = [];
    await withTimeout((async () => {
      for await (const m of s.sub) {
        got.push(seqOf(m));
        if (got.length === 16) for (let i = 50; i < 100; i++) s.topic.publish(fixed(i)); // lapped again mid-loop
        if (got.length === 32) break;
      }
    })(), STEP_MS, 'the skip loop');
    assert.deepEqual(got, [...Array.from({ length: 16 }, (_, i) => 34 + i), ...Array.from({ length: 16 }, (_, i) => 84 + i)]);
    assert.equal(s.sub.missed, 68);

    const seen = [];
    await assert.rejects(
      withTimeout((async () => {
        for await (const m of t.sub) seen.push(seqOf(m));
      })(), STEP_MS, 'the throw loop'),
      (err) => err instanceof LaggedError && err.missed === 34,
    );
    assert.deepEqual(seen, []);
    await withTimeout((async () => {
      for await (const m of t.sub) {
        seen.push(seqOf(m));
        if (seen.length === 16) break;
      }
    })(), STEP_MS, 'the loop after the lag');
    assert.deepEqual(seen, Array.from({ length: 16 }, (_, i) => 34 + i));
  } finally {
    for (const x of [s, t]) {
      x.topic.close();
      Topic.unlink(x.name);
    }
  }
});

test('bad onLag / timeout options: TypeError / RangeError with codes', () => {
  const name = uniqueName('topic-badsub');
  const topic = Topic.create(name, { capacity: 1024 });
  try {
    assert.throws(() => topic.subscribe({ onLag: 'ignore' }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => topic.subscribe({ onLag: true }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => topic.subscribe({ timeout: -1 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => topic.publish('x', { timeout: 'soon' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => topic.publish('x', null), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => Topic.open(name, { lockTimeout: -5 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => Topic.open(name, { lockTimeout: '1s' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    const other = uniqueName('topic-badlt');
    assert.throws(() => Topic.create(other, { capacity: 1024, lockTimeout: NaN }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => Segment.open(other), expectCode('ENOENT'), 'a refused create left its segment');
    assert.equal(topic.published, 0);
  } finally {
    topic.close();
    Topic.unlink(name);
  }
});

// ------------------------------------- a publisher stopped holding the lock --

test('a lock holder SIGSTOPped: publish/subscribe with a timeout give ETIMEDOUT naming the Topic, readers are not blocked; after SIGCONT all works', async () => {
  const name = uniqueName('topic-stopped');
  const topic = Topic.create(name, { capacity: 1024, lockTimeout: 300 });
  const procs = [];
  let holder;
  try {
    const sub = topic.subscribe({ from: 'earliest' });
    const reader = peer('lagged-read', { name }, { timeoutMs: 20000 });
    procs.push(reader);
    await reader.line(/^ready$/);
    for (let s = 0; s < 50; s++) topic.publish(fixed(s)); // laps both subscribers
    holder = peer('hold-lock', { name }, { timeoutMs: 20000 });
    procs.push(holder);
    await holder.line(/^locked$/);
    holder.child.kill('SIGSTOP');

    // publish: the per-call timeout, then the handle's lockTimeout (300)
    for (const [call, min] of [[() => topic.publish(fixed(50), { timeout: 100 }), 100], [() => topic.publish(fixed(50)), 300]]) {
      const t0 = performance.now();
      assert.throws(call, (err) => {
        assert.equal(err.code, 'ETIMEDOUT', `${err.code} ${err.message}`);
        assert.ok(err.message.includes(name), err.message);
        assert.ok(err.message.includes(String(holder.child.pid)), `the message names the holder: ${err.message}`);
        assert.equal(err.errno, undefined);
        assert.equal(err.syscall, undefined);
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms >= min - 5 && ms < min + 3000, `timed out after ${ms.toFixed(0)} ms (timeout ${min})`);
    }
    assert.throws(() => topic.subscribe({ timeout: 50 }), expectCode('ETIMEDOUT'));
    assert.equal(topic.published, 50, 'nothing was published');

    // Reading never takes the lock: a lapped subscriber (here and in another process) is told at once.
    assert.throws(() => sub.tryReceive(), (e) => e instanceof LaggedError && e.missed === 34);
    assert.equal(seqOf(sub.tryReceive()), 34);
    reader.send('go\n');
    const r = await reportOf(reader, 'the lapped reader in another process');
    assert.deepEqual({ lagged: r.lagged }, { lagged: 34 }, JSON.stringify(r));

    // the holder goes on and lets go: everything works again
    holder.child.kill('SIGCONT');
    holder.send('unlock\n');
    await holder.line(/^unlocked$/);
    assert.equal((await withTimeout(holder.done, STEP_MS, 'the holder to exit')).code, 0);
    topic.publish(fixed(50), { timeout: STEP_MS });
    assert.equal(topic.published, 51);
    const late = topic.subscribe({ from: 'latest' });
    topic.publish(fixed(51));
    assert.equal(seqOf(late.tryReceive()), 51);
  } finally {
    if (holder?.alive()) holder.child.kill('SIGCONT');
    await reap(...procs);
    topic.close();
    Topic.unlink(name);
  }
});

test('lockTimeout: Infinity waits for a holder that lets go', async () => {
  const name = uniqueName('topic-lockinf');
  const topic = Topic.create(name, { capacity: 1024, lockTimeout: Infinity });
  let holder;
  try {
    holder = peer('hold-lock', { name, holdMs: 400 }, { timeoutMs: 20000 });
    await holder.line(/^locked$/);
    const t0 = performance.now();
    topic.publish('waited'); // blocks this thread until the holder lets go
    assert.ok(performance.now() - t0 >= 100, 'publish did not wait for the lock');
    assert.equal(topic.published, 1);
    const r = await withTimeout(holder.done, STEP_MS, 'the holder to exit');
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await reap(holder);
    topic.close();
    Topic.unlink(name);
  }
});

// ---------------------------------------- openOrCreate and error codes --

test('openOrCreate on an existing Topic: a different capacity is ERR_SHMKIT_MISMATCH; the same (after rounding) opens it', () => {
  const name = uniqueName('topic-ooc');
  const x = Topic.openOrCreate(name, { capacity: 512 });
  try {
    assert.throws(() => Topic.openOrCreate(name, { capacity: 4096 }), (err) => {
      assert.equal(err.code, 'ERR_SHMKIT_MISMATCH');
      for (const part of [name, 'capacity', '512', '4096']) assert.ok(err.message.includes(part), `${part} missing: ${err.message}`);
      return true;
    });
    // 300 rounds up to 512: the same as stored
    const y = Topic.openOrCreate(name, { capacity: 300, encoding: 'json' });
    assert.equal(y.capacity, 512);
    x.publish('"hi"');
    assert.equal(y.subscribe({ from: 'earliest' }).tryReceive(), 'hi');
    y.close();
  } finally {
    x.close();
    Topic.unlink(name);
  }
});

test('errors carry codes and name the Topic: encode, decode, too long, receive timeouts, bad layout', async () => {
  const name = uniqueName('topic-codes');
  const json = Topic.create(name, { capacity: 1024, encoding: 'json' });
  const raw = Topic.open(name);
  const v8 = Topic.open(name, { encoding: 'v8' });
  try {
    const sub = json.subscribe();
    const named = (code) => (err) => {
      assert.equal(err.code, code, `${err.code}: ${err.message}`);
      assert.ok(err.message.includes(name), `the message does not name the topic: ${err.message}`);
      return true;
    };
    assert.throws(() => json.publish(10n), named('ERR_SHMKIT_ENCODE'));
    assert.throws(() => raw.publish(42), (err) => err instanceof TypeError && named('ERR_INVALID_ARG_TYPE')(err));
    assert.throws(() => v8.publish(() => 1), named('ERR_SHMKIT_ENCODE'));
    assert.throws(() => json.publish('x'.repeat(json.maxMessage)), (err) => err instanceof RangeError && named('ERR_OUT_OF_RANGE')(err));
    assert.equal(json.published, 0);
    // bytes that are not JSON, published by a bytes handle: the json subscriber skips them with ERR_SHMKIT_DECODE
    raw.publish('{not json');
    json.publish({ ok: true });
    assert.throws(() => sub.tryReceive(), named('ERR_SHMKIT_DECODE'));
    assert.deepEqual(sub.tryReceive(), { ok: true });
    assert.throws(() => sub.receiveSync({ timeout: 10 }), named('ETIMEDOUT'));
    await assert.rejects(sub.receive({ timeout: 10 }), named('ETIMEDOUT'));
  } finally {
    v8.close();
    raw.close();
    json.close();
    Topic.unlink(name);
  }
  // a named Topic whose geometry is bad
  const bad = uniqueName('topic-badgeom');
  try {
    const t = Topic.create(bad, { capacity: 1024 });
    new Int32Array(t.buffer, 0, 32)[16] = 100; // CAPACITY
    t.close();
    assert.throws(() => Topic.open(bad), named2('ERR_SHMKIT_BAD_LAYOUT', bad));
  } finally {
    unlinkQuietly(bad);
  }
});

function named2(code, name) {
  return (err) => {
    assert.equal(err.code, code, `${err.code}: ${err.message}`);
    assert.ok(err.message.includes(name), `the message does not name the topic: ${err.message}`);
    return true;
  };
}
