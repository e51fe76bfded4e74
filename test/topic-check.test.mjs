// Topic check() and repair() (issue 11): check() lists what overwritten
// memory did to the ring, naming the field and position, and nothing while
// other processes publish and read; repair() turns a ring that made every
// reader and publisher throw ERR_SHMKIT_CORRUPT into one that works again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Segment, Topic } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';
import { reap, reportOf, startNode } from './fixtures/proc.mjs';

const uniqueName = trackedNames();
const PEER = fileURLToPath(new URL('./fixtures/topic-peer.mjs', import.meta.url));
const peer = (mode, opts, procOptions = {}) => startNode(PEER, [mode, JSON.stringify(opts)], { waitMs: 20000, ...procOptions });

// docs/LAYOUT.md, Topic (kind 8, version 1).
const TAIL = 128;
const NEXT_SEQ = 132;
const OLDEST_POS = 256;
const OLDEST_SEQ = 260;
const DATA = 640;
const CAPACITY = 4096;

/** A topic holding `n` messages 'm0'.. of 100 bytes, a raw view of it, and a subscriber from the earliest. */
function withTopic(label, n, fn) {
  const name = uniqueName(label);
  const topic = Topic.create(name, { capacity: CAPACITY, encoding: 'json', lockTimeout: 2000 });
  const seg = Segment.open(name);
  const v = new DataView(seg.buffer);
  const sub = topic.subscribe({ from: 'earliest', onLag: 'skip' });
  try {
    for (let i = 0; i < n; i++) topic.publish(`m${i}`.padEnd(100, '.'));
    return fn({ name, topic, v, sub });
  } finally {
    sub.close();
    seg.close();
    topic.close();
    unlinkQuietly(name);
  }
}

const drain = (sub) => {
  const out = [];
  for (let m = sub.tryReceive(); m !== undefined; m = sub.tryReceive()) out.push(m.slice(0, m.indexOf('.')));
  return out;
};

test('a sound topic checks clean, also while another process publishes as fast as it can', async () => {
  const name = uniqueName('tcheck-live');
  const topic = Topic.create(name, { capacity: CAPACITY });
  let pub;
  try {
    assert.deepEqual(topic.check(), []);
    for (let i = 0; i < 100; i++) topic.publish(Buffer.alloc(i * 7 % 900, i)); // wraps, fillers included
    assert.deepEqual(topic.check(), []);
    pub = peer('publish-forever', { name, id: 1 });
    await pub.output(/ready/);
    const before = topic.published;
    let checks = 0;
    for (const end = Date.now() + 1500; Date.now() < end; checks++) assert.deepEqual(topic.check({ timeout: STEP_MS }), [], `check ${checks}`);
    assert.ok(topic.published - before > 0, 'the other process published meanwhile');
    const report = topic.repair({ timeout: STEP_MS });
    assert.deepEqual(report, { found: [], repaired: [], remaining: [] });
  } finally {
    await reap(pub);
    topic.close();
    unlinkQuietly(name);
  }
});

test('check() names each kind of damage with its field and position', () => {
  const cases = [
    ['a record SIZE', ({ v }) => v.setInt32(DATA + 8, 13, true), /^record at position 0: LEN \d+, SIZE 13 break the format$/],
    ['a record LEN', ({ v }) => v.setInt32(DATA + 4, 5000, true), /^record at position 0: LEN 5000, SIZE 120 break the format$/],
    ['TAIL misaligned', ({ v }) => v.setInt32(TAIL, v.getInt32(TAIL, true) + 3, true), /^TAIL \d+ is not a multiple of 8$/],
    ['OLDEST_POS laps behind', ({ v }) => v.setInt32(OLDEST_POS, v.getInt32(TAIL, true) - 2 * CAPACITY, true), /^OLDEST_POS \d+ is 8192 bytes behind TAIL \d+, more than the 4096-byte ring$/],
    ['TAIL between records', ({ v }) => v.setInt32(TAIL, v.getInt32(TAIL, true) - 8, true), /^TAIL \d+: the walk of the records from OLDEST_POS 0 passes it without landing on it$/],
    ['a SEQ going back', ({ v }) => v.setInt32(DATA + 120 * 2, 0, true), /^record at position 240: SEQ 0 does not follow 1$/],
    ['OLDEST_SEQ ahead', ({ v }) => v.setInt32(OLDEST_SEQ, 2, true), /^OLDEST_SEQ 2 is ahead of the first message kept \(SEQ 0\)$/],
    ['NEXT_SEQ behind', ({ v }) => v.setInt32(NEXT_SEQ, 3, true), /^NEXT_SEQ 3 is not past the last message kept \(SEQ 4\)$/],
  ];
  for (const [what, damage, expected] of cases) {
    withTopic('tcheck-kinds', 5, (t) => {
      assert.deepEqual(t.topic.check(), [], `${what}: sound before`);
      damage(t);
      const problems = t.topic.check();
      assert.equal(problems.length, 1, `${what}: ${JSON.stringify(problems)}`);
      assert.match(problems[0], expected, what);
    });
  }
});

test('repair() of a damaged record: readers and publishers that threw ERR_SHMKIT_CORRUPT work again, nothing garbled is delivered', () => {
  withTopic('tcheck-record', 5, ({ topic, v, sub }) => {
    v.setInt32(DATA + 120 * 2 + 8, 12345, true); // the third record's SIZE
    assert.deepEqual([sub.tryReceive(), sub.tryReceive()].map((m) => m.slice(0, 2)), ['m0', 'm1'], 'the records before the damage are read');
    assert.throws(() => sub.tryReceive(), (err) => err.code === 'ERR_SHMKIT_CORRUPT' && /position 240/.test(err.message));
    // A publisher that has to drop the damaged record refuses too.
    let refused = null;
    for (let i = 0; i < 40 && refused === null; i++) {
      try { topic.publish('x'.repeat(200)); } catch (err) { refused = err; }
    }
    assert.equal(refused?.code, 'ERR_SHMKIT_CORRUPT');
    const report = topic.repair();
    assert.equal(report.found.length, 1, JSON.stringify(report));
    assert.match(report.found[0], /^record at position 240: LEN \d+, SIZE 12345 break the format$/);
    assert.equal(report.repaired.length, 1, JSON.stringify(report));
    assert.match(report.repaired[0], /^dropped every record kept/);
    assert.deepEqual(report.remaining, []);
    assert.deepEqual(topic.check(), []);
    topic.publish('after'.padEnd(100, '.'));
    assert.deepEqual(drain(sub), ['after'], 'the subscriber skips what was dropped and reads on');
    assert.deepEqual(topic.check(), []);
  });
});

test('repair() of a misaligned TAIL and of cursors a ring apart; counters alone are recomputed, keeping every message', () => {
  withTopic('tcheck-tail', 5, ({ topic, v, sub }) => {
    v.setInt32(TAIL, v.getInt32(TAIL, true) + 3, true);
    const report = topic.repair();
    assert.deepEqual(report.remaining, [], JSON.stringify(report));
    assert.match(report.repaired[0], /^TAIL \d+ rounded up to \d+$/);
    assert.equal(v.getInt32(TAIL, true) % 8, 0);
    topic.publish('next'.padEnd(100, '.'));
    assert.deepEqual(drain(sub), ['next']);
  });
  withTopic('tcheck-apart', 5, ({ topic, v, sub }) => {
    v.setInt32(OLDEST_POS, v.getInt32(TAIL, true) - 3 * CAPACITY, true);
    assert.deepEqual(topic.repair().remaining, []);
    topic.publish('next'.padEnd(100, '.'));
    assert.deepEqual(drain(sub), ['next']);
  });
  withTopic('tcheck-counters', 5, ({ topic, v, sub }) => {
    v.setInt32(OLDEST_SEQ, 3, true);
    v.setInt32(NEXT_SEQ, 1, true);
    const report = topic.repair();
    assert.equal(report.found.length, 2, JSON.stringify(report));
    assert.deepEqual(report.remaining, []);
    assert.equal(v.getInt32(OLDEST_SEQ, true), 0);
    assert.equal(v.getInt32(NEXT_SEQ, true), 5);
    assert.deepEqual(drain(sub), ['m0', 'm1', 'm2', 'm3', 'm4'], 'no message was dropped');
  });
});

test('repair() after a publisher died holding the lock over a ring whose TAIL no walk reaches: the dead publisher\'s own repair would refuse, repair() fixes it', async () => {
  const name = uniqueName('tcheck-dead');
  const topic = Topic.create(name, { capacity: CAPACITY, lockTimeout: 2000 });
  const seg = Segment.open(name);
  const v = new DataView(seg.buffer);
  const procs = [];
  try {
    topic.publish(Buffer.alloc(10));
    // A filler from data offset 0 to the end, and a TAIL 8 past a lap of it: no walk lands there.
    v.setInt32(DATA + 4, -1, true);
    v.setInt32(OLDEST_POS, 0, true);
    v.setInt32(TAIL, CAPACITY + 8 + 8 * 2, true);
    const dying = peer('die-holding', { name, step: 'locked' });
    procs.push(dying);
    const r = await withTimeout(dying.done, STEP_MS, 'the dying publisher');
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    const report = topic.repair();
    assert.ok(report.found.length > 0, JSON.stringify(report));
    assert.deepEqual(report.remaining, [], JSON.stringify(report));
    const pub = peer('publish', { name, id: 2, count: 3 }, { timeoutMs: STEP_MS });
    procs.push(pub);
    await reportOf(pub, 'a publisher after the repair');
    assert.deepEqual(topic.check(), []);
  } finally {
    await reap(...procs);
    seg.close();
    topic.close();
    unlinkQuietly(name);
  }
});

test('check() and repair() on a closed handle: ERR_SHMKIT_CLOSED; a bad timeout: an argument error', () => {
  withTopic('tcheck-args', 0, ({ topic }) => {
    assert.throws(() => topic.check({ timeout: -5 }), (err) => err.code === 'ERR_OUT_OF_RANGE');
    assert.throws(() => topic.repair({ timeout: 'soon' }), (err) => err.code === 'ERR_INVALID_ARG_TYPE');
  });
  const t = Topic.init(new SharedArrayBuffer(Topic.byteLength({ capacity: 1024 })), 0, { capacity: 1024 });
  t.close();
  assert.throws(() => t.check(), (err) => err.code === 'ERR_SHMKIT_CLOSED');
  assert.throws(() => t.repair(), (err) => err.code === 'ERR_SHMKIT_CLOSED');
});
