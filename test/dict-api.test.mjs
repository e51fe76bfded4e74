// Dict: the factories every class shares and the bounded write lock.
//
// 1. Embedded: byteLength/init/attach; two Dicts side by side in one named
//    Segment, written by two other processes (exact incr totals) and read
//    back here; a writer SIGKILLed holding an embedded Dict's lock is
//    recovered from; attach refuses another kind, init bad placements.
// 2. The write lock is bounded: a process SIGSTOPped while holding it (not
//    dead) makes set/incr/delete/check throw ETIMEDOUT (naming the Dict and
//    the key) within bounds, per call and per handle; after SIGCONT and its
//    unlock every write works again.
// 3. Internal errors never escape without a code: a corrupt chain met by a
//    read, a write, keys() or flushAll/flushExpired is ERR_SHMKIT_CORRUPT
//    naming the Dict (keys and the flushes used to loop forever on it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Dict, Mutex, Segment, ShmkitError } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, expectCode, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';
import { reap, startNode } from './fixtures/proc.mjs';

const PEER = fileURLToPath(new URL('./fixtures/dict-peer.mjs', import.meta.url));
const HOLDER = fileURLToPath(new URL('./fixtures/dict-lock-holder.mjs', import.meta.url));
const named = trackedNames();

/** Awaits a child's exit (bounded), requires code 0 and parses its last stdout line. */
async function finish(proc, what, ms = 60000) {
  const r = await withTimeout(proc.done, ms, what);
  assert.equal(r.code, 0, `${what} exited ${r.code ?? r.signal}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// ---- 1. embedded -------------------------------------------------------------------

test('byteLength/init/attach: the same geometry as a named Dict; bad placements and other kinds refused', () => {
  const name = named('d-emb-size');
  const d = Dict.create(name, { memory: 65536 });
  try {
    const seg = Segment.open(name);
    try {
      assert.equal(seg.size, Dict.byteLength({ memory: 65536 }), 'a named Dict is exactly byteLength bytes');
    } finally {
      seg.close();
    }
  } finally {
    d.close();
    Dict.unlink(name);
  }
  // memory is used in whole 64-byte blocks
  assert.equal(Dict.byteLength({ memory: 65536 + 63 }), Dict.byteLength({ memory: 65536 }));
  assert.throws(() => Dict.byteLength({ memory: 100 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => Dict.byteLength({}), expectCode('ERR_INVALID_ARG_TYPE', TypeError));

  const len = Dict.byteLength({ memory: 8192 });
  const buf = new SharedArrayBuffer(8 + len);
  assert.throws(() => Dict.init(buf, 4, { memory: 8192 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => Dict.init(buf, 16, { memory: 8192 }), expectCode('ERR_OUT_OF_RANGE', RangeError), 'does not fit');
  assert.throws(() => Dict.init(new ArrayBuffer(len), 0, { memory: 8192 }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  assert.throws(() => Dict.init(buf, 8, { memory: 8192, timeout: -1 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => Dict.attach(buf, 8), expectCode('ERR_SHMKIT_BAD_LAYOUT', ShmkitError), 'nothing formatted there yet');
  const d1 = Dict.init(buf, 8, { memory: 8192 });
  const d2 = Dict.attach(buf, 8);
  try {
    assert.equal(d1.name, null);
    d1.set('a', 'b');
    assert.equal(d2.get('a'), 'b');
    assert.equal(d2.capacity, d1.capacity);
    assert.deepEqual(d2.check(), []);
    // A Mutex formatted there is not a Dict, and the other way round.
    const other = new SharedArrayBuffer(1024);
    Mutex.init(other, 0).close();
    assert.throws(() => Dict.attach(other, 0), (err) => expectCode('ERR_SHMKIT_BAD_LAYOUT')(err) && /Mutex/.test(err.message));
    assert.throws(() => Mutex.attach(buf, 8), expectCode('ERR_SHMKIT_BAD_LAYOUT'));
  } finally {
    d1.close();
    d2.close();
  }
  assert.throws(() => d1.get('a'), (err) => expectCode('ERR_SHMKIT_CLOSED')(err) && err.message === 'Dict at offset 8 is closed');
});

test('two Dicts embedded in one named Segment, written by two other processes: exact totals, each Dict its own', async () => {
  const segName = named('d-emb-seg');
  const len = Dict.byteLength({ memory: 1 << 16 });
  const offsets = [64, 64 + len];
  const seg = Segment.create(segName, { size: 64 + 2 * len });
  const dicts = offsets.map((offset) => Dict.init(seg.buffer, offset, { memory: 1 << 16 }));
  const procs = [];
  try {
    const COUNT = 5000;
    const keys = [['n', 'number'], ['b', 'bigint']];
    for (const [id, offset] of offsets.entries()) {
      for (const sub of [0, 1]) {
        procs.push(startNode(PEER, [JSON.stringify({ mode: 'incr', segment: segName, offset, id: id * 2 + sub, count: COUNT, keys })], { timeoutMs: 60000, waitMs: 30000 }));
      }
    }
    await Promise.all(procs.map((p) => p.line(/^ready$/)));
    for (const d of dicts) d.set('go', true);
    const reports = await Promise.all(procs.map((p, i) => finish(p, `incr peer ${i}`)));
    for (const [i, d] of dicts.entries()) {
      let n = 0;
      let b = 0n;
      for (const r of reports.slice(i * 2, i * 2 + 2)) {
        n += Number(r.sums.n);
        b += BigInt(r.sums.b);
      }
      assert.equal(d.get('n'), n, `Dict ${i}: number total`);
      assert.equal(d.get('b'), b, `Dict ${i}: bigint total`);
      assert.equal(d.size, 3);
      assert.deepEqual(d.check(), []);
    }
    // The memory around and between the Dicts was not touched.
    assert.ok(seg.bytes.subarray(0, 64).every((x) => x === 0), 'the bytes before the first Dict changed');
  } finally {
    await reap(...procs);
    for (const d of dicts) d.close();
    seg.close();
    Segment.unlink(segName);
  }
});

test('an embedded Dict whose writer is SIGKILLed holding the lock: the next writer repairs it', async () => {
  const segName = named('d-emb-kill');
  const offset = 128;
  const seg = Segment.create(segName, { size: offset + Dict.byteLength({ memory: 65536 }) });
  const d = Dict.init(seg.buffer, offset, { memory: 65536 });
  let holder;
  try {
    d.set('before', 1);
    holder = startNode(HOLDER, [segName, offset], { timeoutMs: 60000, waitMs: 30000 });
    await holder.line(/^locked$/);
    holder.kill();
    await withTimeout(holder.done, STEP_MS, 'the holder to die');
    assert.deepEqual(d.set('after', 2, { timeout: 10000 }), { evicted: 0 });
    assert.equal(d.get('before'), 1);
    assert.equal(d.get('after'), 2);
    assert.deepEqual(d.check(), []);
  } finally {
    await reap(holder);
    d.close();
    seg.close();
    Segment.unlink(segName);
  }
});

// ---- 2. a bounded write lock ------------------------------------------------------

test('a lock holder SIGSTOPped (not dead): writes throw ETIMEDOUT naming the Dict and key within bounds; after SIGCONT they work', async () => {
  const name = named('d-stopped');
  const d = Dict.create(name, { memory: 65536 });
  const h = Dict.open(name, { timeout: 200 });
  let holder;
  let stopped = false;
  try {
    d.set('k', 'v');
    assert.equal(d.timeout, 5050, 'the documented default: 5000 ms + 50 ms per MiB (started)');
    const big = Dict.byteLength({ memory: 64 << 20 });
    const bigDict = Dict.init(new SharedArrayBuffer(big), 0, { memory: 64 << 20 });
    assert.equal(bigDict.timeout, 5000 + 64 * 50);
    bigDict.close();
    assert.equal(h.timeout, 200);
    const forever = Dict.open(name, { timeout: Infinity });
    assert.equal(forever.timeout, Infinity);
    forever.close();
    holder = startNode(HOLDER, [name, 0], { timeoutMs: 60000, waitMs: 30000 });
    await holder.line(/^locked$/);
    process.kill(holder.child.pid, 'SIGSTOP');
    stopped = true;

    const timedOut = (op, key, ms) => (err) => {
      expectCode('ETIMEDOUT', ShmkitError)(err);
      const subject = key === null ? `${op}\\(\\)` : `${op} '${key}'`;
      assert.match(err.message, new RegExp(`^Dict '${name}': ${subject}: the write lock was not free within ${ms} ms \\(held by pid ${holder.child.pid}, thread \\d+\\)`));
      assert.equal(err.errno, undefined, 'shmkit\'s own deadline carries no errno');
      assert.equal(err.syscall, undefined);
      assert.equal(err.path, name);
      return true;
    };
    // A per-call timeout: 300 ms, not less, and not forever (a busy VM may add seconds).
    const t0 = performance.now();
    assert.throws(() => d.set('k', 'new', { timeout: 300 }), timedOut('set', 'k', 300));
    const ms = performance.now() - t0;
    assert.ok(ms >= 290 && ms < 10000, `set with timeout 300 gave up after ${ms.toFixed(0)} ms`);
    // The handle's default (200 ms) for every write and check(); per-call overrides.
    assert.throws(() => h.incr('n', 1, { init: 0 }), timedOut('incr', 'n', 200));
    assert.throws(() => h.delete('k'), timedOut('delete', 'k', 200));
    assert.throws(() => h.lpush('l', 1, { timeout: 50 }), timedOut('lpush', 'l', 50));
    assert.throws(() => h.check(), timedOut('check', null, 200));
    assert.throws(() => h.flushExpired(0, { timeout: 0 }), timedOut('flushExpired', null, 0));
    assert.throws(() => d.add('x', 1, { timeout: 'soon' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => d.set('x', 1, { timeout: -5 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    // Readers take no lock: they go on.
    assert.equal(h.get('k'), 'v');

    process.kill(holder.child.pid, 'SIGCONT');
    stopped = false;
    holder.send('unlock\n');
    await holder.line(/^unlocked$/);
    assert.deepEqual(d.set('k', 'new', { timeout: 300 }), { evicted: 0 });
    assert.equal(h.incr('n', 1, { init: 0 }), 1);
    assert.deepEqual(h.check(), []);
    assert.equal(h.get('k'), 'new');
    holder.send('exit\n');
    await withTimeout(holder.done, STEP_MS, 'the holder to exit');
  } finally {
    if (stopped) process.kill(holder.child.pid, 'SIGCONT');
    await reap(holder);
    h.close();
    d.close();
    unlinkQuietly(name);
  }
});

test('a writer stopped mid-change (shards half-written, lock held): reads give up with the handle\'s bound, naming the key; after it resumes they answer', async () => {
  const name = named('d-stopped-mid');
  const d = Dict.create(name, { memory: 65536 });
  const h = Dict.open(name, { timeout: 200 });
  let holder;
  let stopped = false;
  try {
    d.set('k', 'v');
    holder = startNode(HOLDER, [name, 0], { timeoutMs: 60000, waitMs: 30000 });
    await holder.line(/^locked$/);
    holder.send('odd\n');
    await holder.line(/^odd$/);
    process.kill(holder.child.pid, 'SIGSTOP');
    stopped = true;
    for (const [op, call] of [['get', () => h.get('k')], ['ttl', () => h.ttl('k')], ['keys', () => h.keys()]]) {
      assert.throws(call, (err) => {
        expectCode('ETIMEDOUT', ShmkitError)(err);
        const subject = op === 'keys' ? 'keys\\(\\)' : `${op} 'k'`;
        assert.match(err.message, new RegExp(`^Dict '${name}': ${subject}: the write lock was not free within 200 ms \\(held by pid ${holder.child.pid}, thread \\d+\\)`));
        return true;
      }, op);
    }
    process.kill(holder.child.pid, 'SIGCONT');
    stopped = false;
    holder.send('even\n');
    await holder.line(/^even$/);
    holder.send('unlock\n');
    await holder.line(/^unlocked$/);
    assert.equal(h.get('k'), 'v');
    assert.deepEqual(h.keys(), ['k']);
    holder.send('exit\n');
    await withTimeout(holder.done, STEP_MS, 'the holder to exit');
  } finally {
    if (stopped) process.kill(holder.child.pid, 'SIGCONT');
    await reap(holder);
    h.close();
    d.close();
    unlinkQuietly(name);
  }
});

// ---- 3. every throw has a code ------------------------------------------------------

test('a corrupt chain met by a write or a read: ERR_SHMKIT_CORRUPT naming the Dict, never a bare error', () => {
  const buf = new SharedArrayBuffer(Dict.byteLength({ memory: 8192 }));
  const d = Dict.init(buf, 0, { memory: 8192 });
  try {
    d.set('key', 'a value that spans two blocks, long enough to need a MORE link');
    // Point every bucket at an out-of-range block, as a stray write would.
    const cells = new Int32Array(buf, 0, 64);
    const buckets = cells[17];
    const bucketsOffset = 320 + 64 * 64 + 65 * 64; // docs/LAYOUT.md: after the SEQs and the read counters
    new Int32Array(buf, bucketsOffset, buckets).fill(0x7fff0000);
    const corrupt = (err) => {
      expectCode('ERR_SHMKIT_CORRUPT', ShmkitError)(err);
      assert.match(err.message, /^Dict at offset 0: corrupt entry chain/);
      return true;
    };
    assert.throws(() => d.get('key'), corrupt);
    assert.throws(() => d.set('key', 1), corrupt);
    assert.throws(() => d.incr('key', 1), corrupt);
    assert.throws(() => d.delete('key'), corrupt);
    // Whole-Dict walks stop at the bad link instead of looping (keys() without
    // a lock, flushAll/flushExpired under it), and leave no shard half-written:
    // the lock is free again and reads still answer.
    assert.throws(() => d.keys(0), (err) => expectCode('ERR_SHMKIT_CORRUPT')(err) && /^Dict at offset 0: corrupt entry chain in shard 0/.test(err.message));
    assert.throws(() => d.flushAll(), corrupt);
    assert.throws(() => d.flushExpired(), corrupt);
    assert.throws(() => d.set('key', 2, { timeout: 1000 }), corrupt, 'the write lock was left held');
    assert.throws(() => d.get('key'), corrupt, 'a shard was left odd');
    assert.ok(d.check().length > 0, 'check() reports the corruption');
  } finally {
    d.close();
  }
});
