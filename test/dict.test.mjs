// Dict (kind 9): acceptance tests.
//
// 1. ngx.shared.DICT behaviours in one process: add/replace, incr (init, ttl
//    only when initialising), ttl/expire, getStale, flushAll/flushExpired,
//    lists, LRU eviction order, typed round trips, the block memory model.
// 2. 4 processes x 50 000 incr on 8 shared number/bigint keys: exact totals.
// 3. 4 processes of random set/add/replace/get/delete/compareAndSet on 1 000
//    keys for 7 s with self-checking values (fixtures/dict-value.mjs): never
//    a torn or foreign value; a CAS counter shared by all: exact total.
// 4. 30 SIGKILLs of a writer at random instants; between kills the dict is
//    sound, every value whole, and a concurrent reader never stops.
// 5. Fragmentation: 1 000 000 replace/delete/add of 16 B .. 64 KiB values at
//    up to 90 % of the capacity with { evict: false }: never ENOSPC.
// 6. Bad input, wrong kinds, scribbled headers and geometry, closed handles.
//
// TTL tests give a minute wherever an entry must still be live and end it
// with expire(k, 1) plus a bounded wait for the Dict to report it expired
// (expireNow): a pause of the machine cannot break them.
// 7. Memory overhead per entry (16-byte keys, 64-byte values).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Dict, Mutex, Queue, Segment, ShmkitError } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { withNewDict } from './fixtures/dict-fixture.mjs';
import { STEP_MS, expectCode, sleep, unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { reap, startNode } from './fixtures/proc.mjs';
import { checkElement, checkValue, describeValue, kindOf, makeString } from './fixtures/dict-value.mjs';

const PEER = fileURLToPath(new URL('./fixtures/dict-peer.mjs', import.meta.url));

const BAD_LAYOUT = 'ERR_SHMKIT_BAD_LAYOUT';
const WRONG_TYPE = 'ERR_SHMKIT_WRONG_TYPE';
const NOT_A_NUMBER = 'ERR_SHMKIT_NOT_A_NUMBER';
const ENOSPC = 'ENOSPC';

// dict-layout.ts: byte offsets in the segment.
const BLOCKS_OFF = 64;
const BUCKETS_OFF = 68;
const SHARDS_OFF = 72;
const FREE_COUNT_OFF = 132;
const LOCK_WORD_OFF = 192 + 64; // the write lock's futex word (Mutex at 192)
const LOCK_OWNER_OFF = 192 + 80; // its OWNER pid
const TID_MASK = 0x3fffffff;
const OWNER_DIED = 0x40000000;

/** Blocks an entry takes (the memory model of the brief and of dict-layout.ts). */
const blocksFor = (valueBytes, keyBytes) => {
  const payload = valueBytes + keyBytes;
  return payload <= 24 ? 1 : 1 + Math.ceil((payload - 24) / 56);
};

const named = trackedNames(); // every shm name made here; none may survive the file

const withDict = (label, memory, fn) => withNewDict(named(label), memory, fn);

/**
 * Makes `keys` expire now and waits (bounded) until the Dict says they have.
 * TTL tests set long TTLs (a minute) wherever an entry must still be live,
 * and end its life with this: no pause of the machine can break them.
 */
async function expireNow(d, ...keys) {
  for (const k of keys) assert.equal(d.expire(k, 1), true, `expire('${k}', 1) on a live key`);
  await waitUntil(() => keys.every((k) => d.ttl(k) === undefined), STEP_MS, `${keys.join(', ')} to expire`);
}

/** startNode(PEER, [JSON cfg]) capped at `ms`, recorded in `procs` for reap(). */
function startPeer(procs, cfg, ms = 30000) {
  const p = startNode(PEER, [JSON.stringify(cfg)], { timeoutMs: ms, waitMs: 30000 });
  procs.push(p);
  return p;
}

/** Awaits a child's exit (bounded), requires code 0 and parses its last stdout line. */
async function finish(proc, what, ms = 30000) {
  const r = await withTimeout(proc.done, ms, what);
  assert.equal(r.code, 0, `${what} exited ${r.code ?? r.signal}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// ---- 1. ngx.shared.DICT behaviours ------------------------------------------------

test('add: fails on a live key (value kept), succeeds on a missing, deleted or expired one; replace: only on a live key', async () => {
  await withDict('d-add', 65536, async (d) => {
    assert.equal(d.add('k', 1), true);
    assert.equal(d.add('k', 2), false);
    assert.equal(d.get('k'), 1);
    assert.equal(d.size, 1);

    assert.equal(d.delete('k'), true);
    assert.equal(d.add('k', 'again'), true);
    assert.equal(d.get('k'), 'again');

    d.set('t', 'short-lived', { ttl: 60000 });
    assert.equal(d.add('t', 'x'), false, 'add succeeded on a live (not yet expired) key');
    await expireNow(d, 't');
    assert.equal(d.get('t'), undefined);
    assert.equal(d.add('t', 'fresh'), true, 'add failed on an expired key');
    assert.equal(d.get('t'), 'fresh');
    assert.equal(d.ttl('t'), 0, 'add without ttl made an entry that expires');

    assert.equal(d.replace('missing', 1), false);
    assert.equal(d.get('missing'), undefined);
    assert.equal(d.replace('k', 42), true);
    assert.equal(d.get('k'), 42);
    assert.equal(d.replace('k', 'typed', { ttl: 60000 }), true);
    assert.equal(d.get('k'), 'typed');
    assert.ok(d.ttl('k') > 30000 && d.ttl('k') <= 60000, `ttl after replace with ttl 60000: ${d.ttl('k')}`);

    // compareAndSet: an expired key counts as missing; its ttl option applies
    d.set('x', 'old', { ttl: 20 });
    await waitUntil(() => d.ttl('x') === undefined, STEP_MS, "'x' to expire");
    assert.equal(d.compareAndSet('x', 'old', 'new'), false, 'compareAndSet matched an expired value');
    assert.equal(d.compareAndSet('x', undefined, 'new', { ttl: 60000 }), true, 'an expired key is not "missing" to compareAndSet');
    assert.equal(d.get('x'), 'new');
    assert.ok(d.ttl('x') > 30000 && d.ttl('x') <= 60000);
    assert.equal(d.compareAndSet('x', 'new', 'newer'), true);
    assert.equal(d.ttl('x'), 0, 'compareAndSet without ttl kept the old expiry');

    d.set('e', 'old', { ttl: 20 });
    await waitUntil(() => d.ttl('e') === undefined, STEP_MS, "'e' to expire");
    assert.equal(d.replace('e', 'new'), false, 'replace succeeded on an expired key');
    assert.deepEqual(d.getStale('e'), { value: 'old', stale: true }, 'a failed replace changed the expired entry');
    assert.deepEqual(d.check(), []);
  });
});

test('incr: without init a missing key stays missing; with init it starts from init (+delta) and ttl applies only then; number/bigint deltas', async () => {
  await withDict('d-incr', 65536, async (d) => {
    assert.equal(d.incr('c', 1), undefined);
    assert.equal(d.get('c'), undefined);
    assert.equal(d.size, 0, 'incr without init stored something');
    assert.equal(d.incr('c', 5, { init: 10 }), 15);
    assert.equal(d.get('c'), 15);
    assert.equal(d.ttl('c'), 0);
    assert.equal(d.incr('c', -20), -5);
    assert.equal(d.incr('c', 0.5), -4.5);
    // init and ttl are ignored for a live key (ngx init_ttl)
    assert.equal(d.incr('c', 1, { init: 1000, ttl: 30 }), -3.5);
    assert.equal(d.ttl('c'), 0, 'incr on a live key applied its ttl');
    await sleep(50);
    assert.equal(d.get('c'), -3.5);

    // ttl when initialising
    assert.equal(d.incr('t', 2, { init: 0, ttl: 60000 }), 2);
    const left = d.ttl('t');
    assert.ok(left > 30000 && left <= 60000, `ttl of an entry incr created with ttl 60000: ${left}`);
    assert.equal(d.incr('t', 3, { ttl: 600000 }), 5, 'incr on a live key');
    assert.ok(d.ttl('t') <= 60000, 'incr on a live key extended its ttl');
    await expireNow(d, 't');
    assert.equal(d.get('t'), undefined);
    assert.equal(d.incr('t', 1), undefined, 'incr of an expired key without init');
    assert.equal(d.get('t'), undefined);
    assert.equal(d.incr('t', 1, { init: 100 }), 101, 'incr of an expired key with init starts from init');
    assert.equal(d.ttl('t'), 0, 'the re-initialised entry kept the old ttl');

    // bigint counters: exact past 2^53
    assert.equal(d.incr('b', 1n, { init: 2n ** 60n }), 2n ** 60n + 1n);
    assert.equal(d.incr('b', 2n ** 61n), 2n ** 60n + 2n ** 61n + 1n);
    assert.equal(d.incr('b', -(2n ** 62n)), 2n ** 60n + 2n ** 61n + 1n - 2n ** 62n);
    assert.equal(typeof d.get('b'), 'bigint');
    d.set('big', 9007199254740993n);
    assert.equal(d.incr('big', 1n), 9007199254740994n);

    // wrong kinds of value or delta
    d.set('s', '12');
    d.set('bool', true);
    d.set('bytes', new Uint8Array([1]));
    d.rpush('list', 1);
    for (const key of ['s', 'bool', 'bytes', 'list']) {
      assert.throws(() => d.incr(key, 1), expectCode(NOT_A_NUMBER, ShmkitError), key);
      assert.throws(() => d.incr(key, 1, { init: 0 }), expectCode(NOT_A_NUMBER, ShmkitError), key);
    }
    assert.throws(() => d.incr('c', 1n), expectCode(NOT_A_NUMBER, ShmkitError), 'bigint delta on a number');
    assert.throws(() => d.incr('b', 1), expectCode(NOT_A_NUMBER, ShmkitError), 'number delta on a bigint');
    assert.equal(d.get('s'), '12');
    assert.equal(d.get('c'), -3.5);
    assert.equal(d.get('b'), 2n ** 60n + 2n ** 61n + 1n - 2n ** 62n);
    assert.throws(() => d.incr('n', 1, { init: 1n }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => d.incr('n', '1'), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.equal(d.get('n'), undefined);
    assert.deepEqual(d.check(), []);
  });
});

test('incrWithTtl: incr\'s value with the time the key has left, read under the same lock: the full ttl when it starts the key, what is left on a live key, 0 without a TTL', async () => {
  await withDict('d-incrttl', 65536, async (d) => {
    assert.equal(d.incrWithTtl('w', 1), undefined, 'a missing key without init');
    assert.equal(d.size, 0, 'incrWithTtl without init stored something');
    // Starting the key: the ttl it was given, exactly (the expiry was written from the same clock read).
    assert.deepEqual(d.incrWithTtl('w', 1, { init: 0, ttl: 60000 }), { value: 1, ttl: 60000 });
    const live = d.incrWithTtl('w', 2, { init: 0, ttl: 600000 });
    assert.equal(live.value, 3, 'a live key counts on (init ignored)');
    assert.ok(live.ttl > 0 && live.ttl <= 60000, `a live key's ttl is what its window has left (ignoring the call's ttl): ${live.ttl}`);
    const read = d.ttl('w');
    assert.ok(read <= live.ttl, `ttl() after it (${read}) is at most what incrWithTtl said (${live.ttl})`);
    // The window ends: the next call starts a new one with the full ttl again.
    await expireNow(d, 'w');
    assert.equal(d.incrWithTtl('w', 1), undefined, 'an expired key without init');
    assert.deepEqual(d.incrWithTtl('w', 5, { init: 100, ttl: 30000 }), { value: 105, ttl: 30000 });
    // No TTL: 0, as ttl() says.
    assert.deepEqual(d.incrWithTtl('p', 1, { init: 0 }), { value: 1, ttl: 0 });
    assert.deepEqual(d.incrWithTtl('p', 1), { value: 2, ttl: 0 });
    assert.equal(d.ttl('p'), 0);
    // bigint counters
    assert.deepEqual(d.incrWithTtl('b', 1n, { init: 2n ** 60n, ttl: 60000 }), { value: 2n ** 60n + 1n, ttl: 60000 });
    // Errors name the call; nothing is stored by a refused call.
    d.set('s', 'x');
    assert.throws(() => d.incrWithTtl('s', 1), (err) => err.code === NOT_A_NUMBER && /incrWithTtl 's'/.test(err.message));
    assert.throws(() => d.incrWithTtl('b', 1), expectCode(NOT_A_NUMBER, ShmkitError), 'number delta on a bigint');
    assert.throws(() => d.incrWithTtl('n', '1', { init: 0 }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => d.incrWithTtl('n', 1, { init: 0, ttl: -1 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.equal(d.get('n'), undefined);
    assert.equal(d.get('s'), 'x');
    assert.deepEqual(d.check(), []);
  });
});

test('ttl/expire: 0 = never, ms left otherwise, undefined when missing or expired; expire(0) makes an entry permanent', async () => {
  await withDict('d-ttl', 65536, async (d) => {
    assert.equal(d.ttl('missing'), undefined);
    d.set('forever', 1);
    assert.equal(d.ttl('forever'), 0);
    d.set('zero', 1, { ttl: 0 });
    assert.equal(d.ttl('zero'), 0, 'ttl 0 is "never"');
    d.set('k', 'v', { ttl: 60000 });
    const left = d.ttl('k');
    assert.ok(left > 30000 && left <= 60000, `ttl right after set with ttl 60000: ${left}`);

    assert.equal(d.expire('k', 0), true);
    assert.equal(d.ttl('k'), 0);
    assert.equal(d.expire('k', 90000), true);
    assert.ok(d.ttl('k') > 60000 && d.ttl('k') <= 90000, `ttl after expire 90000: ${d.ttl('k')}`);
    assert.equal(d.expire('forever', 600000), true);
    assert.ok(d.ttl('forever') > 500000);
    assert.equal(d.expire('missing', 10), false);
    assert.equal(d.get('missing'), undefined);

    await expireNow(d, 'k');
    assert.equal(d.get('k'), undefined);
    assert.equal(d.ttl('k'), undefined);
    assert.equal(d.expire('k', 0), false, 'expire revived an expired key');
    assert.equal(d.get('k'), undefined);
    assert.deepEqual(d.keys(0).sort(), ['forever', 'zero']);
    assert.equal(d.size, 3, 'an expired entry is counted until reclaimed');
    assert.equal(d.delete('k'), false, 'delete of an expired key reports a live entry');
    assert.equal(d.size, 2, 'delete did not reclaim the expired entry');

    // set over an entry resets its ttl
    d.set('r', 1, { ttl: 50 });
    d.set('r', 2);
    assert.equal(d.ttl('r'), 0);
    // lists expire too
    d.rpush('l', 'a');
    assert.equal(d.expire('l', 20), true);
    await waitUntil(() => d.ttl('l') === undefined, STEP_MS, 'the list to expire');
    assert.equal(d.llen('l'), 0);
    assert.equal(d.lpop('l'), undefined);
    assert.equal(d.rpush('l', 'b'), 1, 'an expired list was pushed onto');
    assert.deepEqual(d.check(), []);
  });
});

test('getStale: expired values until reclaimed (flushExpired, overwrite), stale flag; get never sees them', async () => {
  await withDict('d-stale', 65536, async (d) => {
    assert.equal(d.getStale('nope'), undefined);
    d.set('a', 'A', { ttl: 60000 });
    d.set('b', 7n, { ttl: 60000 });
    d.set('c', new Uint8Array([1, 2, 3]), { ttl: 60000 });
    d.set('keep', true);
    assert.deepEqual(d.getStale('a'), { value: 'A', stale: false });
    assert.deepEqual(d.getStale('keep'), { value: true, stale: false });
    await expireNow(d, 'a', 'b', 'c');
    assert.equal(d.get('a'), undefined);
    assert.deepEqual(d.getStale('a'), { value: 'A', stale: true });
    assert.deepEqual(d.getStale('b'), { value: 7n, stale: true });
    const c = d.getStale('c');
    assert.ok(Buffer.isBuffer(c.value));
    assert.deepEqual([...c.value], [1, 2, 3]);
    assert.equal(c.stale, true);
    // an overwrite reclaims it
    d.set('a', 'A2');
    assert.deepEqual(d.getStale('a'), { value: 'A2', stale: false });
    // flushExpired reclaims the rest
    assert.equal(d.flushExpired(), 2);
    assert.equal(d.getStale('b'), undefined);
    assert.equal(d.getStale('c'), undefined);
    assert.deepEqual(d.getStale('keep'), { value: true, stale: false });
    assert.equal(d.size, 2);
    assert.deepEqual(d.check(), []);
  });
});

test('flushAll marks everything expired (getStale still sees it, size unchanged); flushExpired then frees all: freeSpace back to empty, size 0', async () => {
  await withDict('d-flush', 1 << 20, async (d) => {
    const empty = d.freeSpace();
    assert.equal(empty, d.capacity, 'an empty dict has all its capacity free');
    for (let i = 0; i < 200; i++) d.set(`k${i}`, i % 3 === 0 ? 'x'.repeat(i * 7) : i % 3 === 1 ? i : randomBytes(i));
    for (let i = 0; i < 5; i++) for (let j = 0; j < 30; j++) d.rpush(`list${i}`, j % 2 ? j : `el${j}`.repeat(j));
    d.set('t', 'ttl', { ttl: 60000 });
    assert.equal(d.size, 206);
    assert.ok(d.freeSpace() < empty);
    d.flushAll();
    assert.equal(d.size, 206, 'flushAll reclaimed memory (ngx marks only)');
    assert.equal(d.get('k1'), undefined);
    assert.equal(d.get('t'), undefined);
    assert.equal(d.ttl('k1'), undefined);
    assert.equal(d.llen('list0'), 0);
    assert.deepEqual(d.keys(0), []);
    assert.deepEqual(d.getStale('k1'), { value: 1, stale: true });
    assert.deepEqual(d.getStale('k3'), { value: 'x'.repeat(21), stale: true });
    assert.equal(d.flushExpired(10), 10);
    assert.equal(d.size, 196);
    assert.equal(d.flushExpired(0), 196);
    assert.equal(d.size, 0);
    assert.equal(d.freeSpace(), empty, 'flushExpired did not free every block');
    assert.equal(d.getStale('k1'), undefined);
    assert.equal(d.flushExpired(), 0);
    assert.deepEqual(d.check(), []);
    // and the dict is as good as new
    d.set('k1', 'again');
    assert.equal(d.get('k1'), 'again');
  });
});

test('keys(max): live keys only, at most max, 0 = all', async () => {
  await withDict('d-keys', 1 << 20, async (d) => {
    const want = [];
    for (let i = 0; i < 1500; i++) {
      d.set(`key-${i}`, i);
      want.push(`key-${i}`);
    }
    d.rpush('a-list', 'x');
    want.push('a-list');
    d.set('dying', 1, { ttl: 10 });
    await waitUntil(() => d.ttl('dying') === undefined, STEP_MS, "'dying' to expire");
    assert.deepEqual(d.keys(0).sort(), want.sort());
    assert.equal(d.keys().length, 1024, 'default max is 1024');
    assert.equal(d.keys(10).length, 10);
    for (const k of d.keys(10)) assert.ok(want.includes(k));
    assert.equal(new Set(d.keys(0)).size, want.length, 'keys() repeated a key');
  });
});

test('lists: order from both ends, lengths, pops on empty/missing, mixed string/number elements, emptied list deletes its key, wrong types', async () => {
  await withDict('d-list', 1 << 20, async (d) => {
    assert.equal(d.llen('l'), 0);
    assert.equal(d.lpop('l'), undefined);
    assert.equal(d.rpop('l'), undefined);
    assert.equal(d.size, 0, 'a pop on a missing key created it');

    assert.equal(d.rpush('l', 'a'), 1);
    assert.equal(d.rpush('l', 1), 2);
    assert.equal(d.rpush('l', 'b'), 3);
    assert.equal(d.lpush('l', 'z'), 4);
    assert.equal(d.lpush('l', -2.5), 5);
    assert.equal(d.llen('l'), 5);
    assert.equal(d.lpop('l'), -2.5);
    assert.equal(d.rpop('l'), 'b');
    assert.equal(d.lpop('l'), 'z');
    assert.equal(d.rpop('l'), 1);
    assert.equal(typeof d.lpop('l'), 'string'); // 'a'
    assert.equal(d.llen('l'), 0);
    assert.equal(d.size, 0, 'an emptied list kept its key');
    assert.equal(d.get('l'), undefined);
    assert.equal(d.freeSpace(), d.capacity, 'an emptied list kept blocks');
    assert.equal(d.add('l', 'plain now'), true);
    assert.equal(d.get('l'), 'plain now');

    // A model run: random pushes and pops at both ends, elements of every size class.
    const model = [];
    const elem = (i) => {
      switch (i % 6) {
        case 0: return i;
        case 1: return '';
        case 2: return `é日🎉${i}`;
        case 3: return 'x'.repeat(100 + (i % 150)); // 100..249 bytes
        case 4: return `${i}`.repeat(1 + (i % 700));
        default: return i + 0.25;
      }
    };
    for (let i = 0; i < 3000; i++) {
      const r = randomInt(100);
      if (r < 30) assert.equal(d.rpush('m', elem(i)), model.push(elem(i)), `rpush #${i}`);
      else if (r < 60) {
        model.unshift(elem(i));
        assert.equal(d.lpush('m', elem(i)), model.length, `lpush #${i}`);
      } else if (r < 80) assert.equal(d.lpop('m'), model.shift(), `lpop #${i}`);
      else assert.equal(d.rpop('m'), model.pop(), `rpop #${i}`);
      if (i % 200 === 0) assert.equal(d.llen('m'), model.length);
    }
    assert.equal(d.llen('m'), model.length);
    while (model.length) assert.equal(d.lpop('m'), model.shift());
    assert.equal(d.llen('m'), 0);
    assert.equal(d.get('m'), undefined);

    // Long elements round-trip byte for byte
    const long = `${'ab€'.repeat(3000)}🎉`;
    d.rpush('long', long);
    d.rpush('long', 'x'.repeat(150));
    assert.equal(d.lpop('long'), long);
    assert.equal(d.lpop('long'), 'x'.repeat(150));

    // Wrong types
    d.set('s', 'str');
    d.rpush('L', 'x');
    assert.throws(() => d.lpush('s', 1), expectCode(WRONG_TYPE, ShmkitError));
    assert.throws(() => d.rpush('s', 'y'), expectCode(WRONG_TYPE, ShmkitError));
    assert.throws(() => d.lpop('s'), expectCode(WRONG_TYPE, ShmkitError));
    assert.throws(() => d.rpop('s'), expectCode(WRONG_TYPE, ShmkitError));
    assert.throws(() => d.llen('s'), expectCode(WRONG_TYPE, ShmkitError));
    assert.throws(() => d.get('L'), expectCode(WRONG_TYPE, ShmkitError));
    assert.throws(() => d.getStale('L'), expectCode(WRONG_TYPE, ShmkitError));
    assert.throws(() => d.lpush('L', true), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => d.rpush('L', new Uint8Array(1)), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.equal(d.get('s'), 'str');
    assert.equal(d.llen('L'), 1);
    // set over a list replaces it (and frees its elements)
    for (let i = 0; i < 100; i++) d.rpush('L', 'e'.repeat(200));
    const before = d.freeSpace();
    d.set('L', 1);
    assert.equal(d.get('L'), 1);
    assert.ok(d.freeSpace() > before + 100 * 64 * 3, 'set over a list did not free its elements');
    assert.equal(d.delete('L'), true);
    // delete of a whole list gives all its blocks back
    for (let i = 0; i < 50; i++) d.lpush('D', i % 2 ? i : 'd'.repeat(i * 10));
    assert.equal(d.delete('D'), true);
    assert.equal(d.llen('D'), 0);
    for (const k of ['s', 'l']) assert.equal(d.delete(k), true);
    assert.equal(d.size, 0);
    assert.equal(d.freeSpace(), d.capacity, 'blocks of deleted lists were lost');
    assert.deepEqual(d.check(), []);
  });
});

test('eviction takes whole lists: a list is evicted with its elements, and its key reads as missing', async () => {
  await withDict('d-lru-list', 4096, async (d) => {
    // 'L': 1 entry block + 30 one-block elements = 31 blocks; 'x': 21 blocks; 11 blocks free.
    for (let i = 0; i < 30; i++) assert.equal(d.rpush('L', i % 2 ? i : `e${i}`), i + 1);
    d.set('x', 'x'.repeat(1143));
    assert.equal(d.freeSpace(), 11 * 64);
    // 21 more blocks: the oldest (L) goes, all 31 blocks of it.
    assert.deepEqual(d.set('y', 'y'.repeat(1143)), { evicted: 1 });
    assert.equal(d.llen('L'), 0);
    assert.equal(d.lpop('L'), undefined);
    assert.deepEqual(d.keys(0).sort(), ['x', 'y']);
    assert.equal(d.freeSpace(), (63 - 42) * 64);
    assert.deepEqual(d.check(), []);
  });
});

test('LRU: set a, b, c (full), get a, set d evicts b; then c, then a; evict:false throws ENOSPC instead; an entry larger than the dict always ENOSPC', async () => {
  // 4096 bytes: 64 blocks, 63 for entries; a 1-byte key with 1143 value bytes takes 21.
  await withDict('d-lru3', 4096, async (d) => {
    assert.equal(d.capacity, 63 * 64);
    const v = (c) => c.repeat(1143);
    assert.equal(blocksFor(1143, 1), 21);
    assert.deepEqual(d.set('a', v('a')), { evicted: 0 });
    assert.deepEqual(d.set('b', v('b')), { evicted: 0 });
    assert.deepEqual(d.set('c', v('c')), { evicted: 0 });
    assert.equal(d.freeSpace(), 0);
    assert.equal(d.get('a'), v('a'));

    assert.throws(() => d.set('d', v('d'), { evict: false }), expectCode(ENOSPC, ShmkitError));
    assert.throws(() => d.add('d', v('d'), { evict: false }), expectCode(ENOSPC, ShmkitError));
    assert.deepEqual(d.keys(0).sort(), ['a', 'b', 'c'], 'a failed evict:false set changed the dict');

    assert.deepEqual(d.set('d', v('d')), { evicted: 1 });
    assert.deepEqual(d.keys(0).sort(), ['a', 'c', 'd'], 'the read of a did not protect it; b should have gone');
    assert.deepEqual(d.set('e', v('e')), { evicted: 1 });
    assert.deepEqual(d.keys(0).sort(), ['a', 'd', 'e'], 'c (written before a was read) should have gone');
    assert.deepEqual(d.set('f', v('f')), { evicted: 1 });
    assert.deepEqual(d.keys(0).sort(), ['d', 'e', 'f']);
    // a small entry into a full dict evicts one
    assert.deepEqual(d.set('g', 1), { evicted: 1 });
    assert.deepEqual(d.keys(0).sort(), ['e', 'f', 'g']);

    // Larger than the whole dict: ENOSPC, with or without eviction, nothing evicted.
    assert.throws(() => d.set('huge', 'h'.repeat(63 * 64)), expectCode(ENOSPC, ShmkitError));
    assert.throws(() => d.set('huge', new Uint8Array(5000), { evict: true }), expectCode(ENOSPC, ShmkitError));
    assert.throws(() => d.add('huge', 'h'.repeat(4000)), expectCode(ENOSPC, ShmkitError));
    assert.deepEqual(d.keys(0).sort(), ['e', 'f', 'g']);
    // The largest entry that fits: 63 blocks, evicts everything else.
    const biggest = 24 + 62 * 56 - 1;
    assert.equal(blocksFor(biggest, 1), 63);
    assert.deepEqual(d.set('h', 'h'.repeat(biggest)), { evicted: 3 });
    assert.deepEqual(d.keys(0), ['h']);
    assert.equal(d.get('h'), 'h'.repeat(biggest));
    assert.equal(d.freeSpace(), 0);
    assert.deepEqual(d.check(), []);
  });
});

test('LRU: an incr is a use: counters a, b, c fill the dict, incr a (in place), a set evicts b, not a', async () => {
  // 4096 bytes: 63 blocks for entries; a number under a 1135-byte key takes 21, so three fill it.
  await withDict('d-lru-incr', 4096, async (d) => {
    const k = (c) => c.repeat(1135);
    assert.equal(blocksFor(8, 1135), 21);
    for (const c of ['a', 'b', 'c']) assert.equal(d.incr(k(c), 1, { init: 0 }), 1);
    assert.equal(d.freeSpace(), 0);
    assert.equal(d.incr(k('a'), 1), 2);
    assert.deepEqual(d.set('d', 'd'.repeat(1143)), { evicted: 1 });
    assert.deepEqual(d.keys(0).map((x) => x[0]).sort(), ['a', 'c', 'd'], 'the incr of a did not protect it; b should have gone');
    assert.equal(d.get(k('a')), 2);
    // The same through incrWithTtl, on the oldest of what is left.
    assert.equal(d.incrWithTtl(k('c'), 1).value, 2);
    assert.deepEqual(d.set('e', 'e'.repeat(1143)), { evicted: 1 });
    assert.deepEqual(d.keys(0).map((x) => x[0]).sort(), ['a', 'c', 'e'], 'the incr of c did not protect it; d should have gone');
    assert.deepEqual(d.check(), []);
  });
});

test('LRU: replacing a key with a value that turns out not to be ASCII (written again as UTF-8) keeps the LRU list whole, also when the retry evicts', async () => {
  // The ASCII attempt takes the old entry out of the LRU list early; the UTF-8 retry must find it back in.
  await withDict('d-lru-utf8', 4096, async (d) => {
    const v = (c) => c.repeat(1143); // 21 of the 63 blocks each
    d.set('a', v('a'));
    d.set('b', v('b'));
    assert.deepEqual(d.set('b', `${'b'.repeat(600)}é`), { evicted: 0 }); // 12 blocks, written beside a and the old b
    assert.deepEqual(d.check(), []);
    assert.equal(d.get('b'), `${'b'.repeat(600)}é`);
    assert.deepEqual(d.set('c', v('c')), { evicted: 0 });
    // Least recently used first: a, b, c.
    assert.deepEqual(d.set('d', v('d')), { evicted: 1 });
    assert.deepEqual(d.keys(0).sort(), ['b', 'c', 'd']);
    assert.equal(d.freeSpace(), 9 * 64);
    // 400 characters fit the 9 free blocks as ASCII (8 blocks), but not as UTF-8 (801 bytes, 15 blocks):
    // the retry evicts c, the oldest but b, and b is whole.
    assert.deepEqual(d.set('b', 'é'.repeat(400)), { evicted: 1 });
    assert.deepEqual(d.keys(0).sort(), ['b', 'd']);
    assert.equal(d.get('b'), 'é'.repeat(400));
    assert.deepEqual(d.check(), []);
    assert.deepEqual(d.set('e', v('e')), { evicted: 0 });
    assert.deepEqual(d.set('f', v('f')), { evicted: 1 }); // d, then b, then e: d is the oldest
    assert.deepEqual(d.keys(0).sort(), ['b', 'e', 'f']);
    assert.deepEqual(d.check(), []);
  });
});

test('LRU: entries read since the last write are all kept: set a, b, c (full), get a, get b, set d evicts c (not a)', async () => {
  await withDict('d-lru2', 4096, async (d) => {
    const v = (c) => c.repeat(1143); // 21 blocks each: three fill the dict
    d.set('a', v('a'));
    d.set('b', v('b'));
    d.set('c', v('c'));
    assert.equal(d.get('a'), v('a'));
    assert.equal(d.get('b'), v('b'));
    assert.deepEqual(d.set('d', v('d')), { evicted: 1 });
    assert.deepEqual(d.keys(0).sort(), ['a', 'b', 'd'], 'evicted a read entry while c was never read');
    assert.deepEqual(d.check(), []);
  });
});

test('LRU: fill 512 entries, read a random 100 of the oldest 300, add 150: exactly the 150 oldest unread ones are evicted', async (t) => {
  // 1025 blocks, 1024 for entries; 'key-000' + 64 value bytes = 2 blocks: 512 entries fill it exactly.
  await withDict('d-lru', 1025 * 64, async (d) => {
    const key = (i) => `key-${String(i).padStart(3, '0')}`;
    const val = (i) => `${i}:`.padEnd(64, '.');
    assert.equal(blocksFor(64, 7), 2);
    for (let i = 0; i < 512; i++) assert.deepEqual(d.set(key(i), val(i)), { evicted: 0 }, `set #${i} evicted`);
    assert.equal(d.freeSpace(), 0);
    assert.equal(d.size, 512);

    const order = Array.from({ length: 300 }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const touched = new Set(order.slice(0, 100));
    for (const i of touched) assert.equal(d.get(key(i)), val(i));
    const untouched = Array.from({ length: 512 }, (_, i) => i).filter((i) => !touched.has(i));
    const expectEvicted = new Set(untouched.slice(0, 150));

    let evicted = 0;
    for (let i = 512; i < 662; i++) {
      const r = d.set(key(i), val(i));
      assert.equal(r.evicted, 1, `set #${i} evicted ${r.evicted}, expected 1`);
      evicted += r.evicted;
    }
    assert.equal(evicted, 150);
    assert.equal(d.size, 512);
    const gone = [];
    const wronglyGone = [];
    const wronglyKept = [];
    for (let i = 0; i < 662; i++) {
      const present = d.get(key(i)) !== undefined;
      if (!present) gone.push(i);
      if (!present && !expectEvicted.has(i)) wronglyGone.push(i);
      if (present && expectEvicted.has(i)) wronglyKept.push(i);
    }
    t.diagnostic(`touched (sorted): ${[...touched].sort((a, b) => a - b).join(' ')}`);
    assert.deepEqual(
      { wronglyGone, wronglyKept, touchedGone: wronglyGone.filter((i) => touched.has(i)) },
      { wronglyGone: [], wronglyKept: [], touchedGone: [] },
      `evicted ${gone.length}: ${gone.join(' ')}`,
    );
    assert.deepEqual(d.check(), []);
  });
});

test('typed round trip: every value type, empty/unicode strings, NaN, -0, ±Infinity, int64 limits, empty and 64 KiB bytes, 65535-byte keys', async (t) => {
  await withDict('d-types', 1 << 20, async (d) => {
    const big = randomBytes(65536);
    const cases = [
      ['s-empty', ''],
      ['s-ascii', 'hello'],
      ['s-unicode', 'é ß Ж 日本語 € 🎉😀 \u0000 nul'],
      ['s-long', '日本'.repeat(20000)],
      ['s-ascii-128', 'a'.repeat(127) + '~'],
      ['s-ascii-129', 'b'.repeat(128) + '~'],
      ['s-ascii-long', 'The quick brown fox. '.repeat(500)],
      ['s-controls', '\u0000\u0001\t\n\u007f'],
      ['s-latin1', 'café ÿ \u0080 \u00ff'], // U+0080..U+00FF are 2 UTF-8 bytes, not latin1 bytes
      ['s-mixed-end', `${'a'.repeat(100)}é`],
      ['n-int', 42],
      ['n-frac', -1.5e-7],
      ['n-max', Number.MAX_VALUE],
      ['n-min', Number.MIN_VALUE],
      ['n-inf', Infinity],
      ['n-ninf', -Infinity],
      ['n-safe', Number.MAX_SAFE_INTEGER],
      ['b-zero', 0n],
      ['b-neg', -1n],
      ['b-max', 2n ** 63n - 1n],
      ['b-min', -(2n ** 63n)],
      ['t', true],
      ['f', false],
      ['u-empty', new Uint8Array(0)],
      ['u-3', new Uint8Array([0, 255, 7])],
      ['u-64k', big],
      ['u-view', big.subarray(1000, 1077)], // a view with an offset: only its bytes
      ['one', '1'],
      ['one-n', 1],
      ['one-b', 1n],
      ['one-t', true],
    ];
    for (const [k, v] of cases) d.set(k, v);
    for (const [k, v] of cases) {
      const got = d.get(k);
      if (v instanceof Uint8Array) {
        assert.ok(Buffer.isBuffer(got), `${k}: a Uint8Array came back as ${got?.constructor?.name}`);
        assert.equal(got.length, v.length, k);
        assert.ok(Buffer.from(v).equals(got), `${k}: bytes differ`);
      } else {
        assert.equal(typeof got, typeof v, `${k}: type`);
        assert.equal(got, v, k);
      }
    }
    // Another process reads the same values, types included.
    const procs = [];
    try {
      const p = startPeer(procs, { mode: 'types', name: d.name, keys: cases.map(([k]) => k) }, 20000);
      const seen = await finish(p, 'types child');
      // (Uint8Arrays come back as Buffers.)
      cases.forEach(([k, v], i) => assert.deepEqual(seen[i], describeValue(v instanceof Uint8Array ? Buffer.from(v) : v), `${k} as read by another process`));
    } finally {
      await reap(...procs);
    }
    // NaN stays NaN (a number)
    d.set('nan', NaN);
    assert.ok(Number.isNaN(d.get('nan')));
    // -0: observed (and required here): it comes back as -0, sign bit and all.
    d.set('negzero', -0);
    assert.ok(Object.is(d.get('negzero'), -0), `-0 came back as ${Object.is(d.get('negzero'), 0) ? '+0' : d.get('negzero')}`);
    t.diagnostic('-0 round-trips as -0 (Object.is(get, -0))');
    // compareAndSet compares numbers as numbers: 0 matches a stored -0, NaN matches NaN.
    assert.equal(d.compareAndSet('negzero', 0, 'was -0'), true);
    assert.equal(d.compareAndSet('nan', NaN, 'was NaN'), true);
    assert.equal(d.get('nan'), 'was NaN');
    // types never equal each other in compareAndSet
    assert.equal(d.compareAndSet('one', 1, 'x'), false);
    assert.equal(d.compareAndSet('one-n', 1n, 'x'), false);
    assert.equal(d.compareAndSet('one-n', '1', 'x'), false);
    assert.equal(d.compareAndSet('one-t', 1, 'x'), false);
    assert.equal(d.compareAndSet('u-3', Buffer.from([0, 255, 7]), 'bytes matched'), true);
    assert.equal(d.compareAndSet('u-3', 'bytes matched', 'y'), true);
    assert.equal(d.compareAndSet('absent', undefined, 'created'), true);
    assert.equal(d.compareAndSet('absent', undefined, 'again'), false);
    assert.equal(d.get('absent'), 'created');

    // Keys: ASCII and not, short and long, distinct when their bytes differ.
    const keys = ['é', 'e', 'ключ', '日本語のキー', '🎉', `${'k'.repeat(300)}é`, `${'k'.repeat(300)}e`, 'k\u0000', 'k', ' '];
    keys.forEach((k, i) => d.set(k, i));
    keys.forEach((k, i) => assert.equal(d.get(k), i, `key ${JSON.stringify(k.slice(-5))}`));
    for (const k of keys) assert.ok(d.keys(0).includes(k), `keys() lacks ${JSON.stringify(k.slice(-5))}`);
    // Longest keys: 65535 UTF-8 bytes, ASCII and 3-byte characters.
    const kAscii = 'k'.repeat(65535);
    const kWide = '€'.repeat(21845); // 65535 bytes
    const kAscii2 = `${'k'.repeat(65534)}j`; // same length, differs at the end
    d.set(kAscii, 'ascii');
    d.set(kWide, big);
    d.set(kAscii2, 7n);
    assert.equal(d.get(kAscii), 'ascii');
    assert.ok(d.get(kWide).equals(big));
    assert.equal(d.get(kAscii2), 7n);
    assert.ok(d.keys(0).includes(kWide));
    assert.equal(d.delete(kAscii), true);
    assert.equal(d.get(kAscii), undefined);
    assert.equal(d.get(kAscii2), 7n);
    assert.deepEqual(d.check(), []);
  });
});

test('payload at block edges: keys and values of 0 .. 3 blocks ending exactly at, before and after a block boundary, every value type, read back whole; long values read and written in one pass over the chain', async () => {
  await withDict('d-edges', 1 << 20, async (d) => {
    // The first block holds 24 payload bytes, later ones 56: lengths around 24 + 56k.
    // (Keys get one more character below: every length modulo 4, since long copies go by words when the value's offset modulo 4 allows.)
    const keyLens = [1, 2, 23, 24, 25, 26, 79, 80, 81, 136, 137];
    const valLens = [0, 1, 23, 24, 25, 55, 56, 57, 79, 80, 81, 111, 112, 113, 5000];
    const written = new Map();
    let n = 0;
    for (const kl of keyLens) {
      for (const vl of valLens) {
        const key = `${kl}:${vl}:`.padEnd(kl, 'k').slice(0, kl);
        const odd = new Uint8Array(new ArrayBuffer(vl + 3), 3, vl); // a view at an odd offset
        for (let i = 0; i < vl; i++) odd[i] = (i * 7 + kl) & 0xff;
        // Contents that differ by position and key, so a copy off by a byte cannot pass.
        let text = '';
        for (let i = 0; i < vl; i++) text += String.fromCharCode(33 + ((i * 7 + kl * 3 + vl) % 94));
        const values = [
          text,
          Buffer.from(odd.buffer, odd.byteOffset, vl),
          'é'.repeat(vl >> 1) + (vl & 1 ? 'x' : ''), // vl UTF-8 bytes
        ];
        for (let t = 0; t < values.length; t++) {
          const k = `${key}${t}`;
          d.set(k, values[t]);
          written.set(k, values[t]);
          n++;
        }
      }
      // Fixed-size values before keys of every length.
      d.set(`${kl}`.padEnd(kl, 'n'), -0.5);
      written.set(`${kl}`.padEnd(kl, 'n'), -0.5);
      d.set(`${kl}`.padEnd(kl, 'b'), true);
      written.set(`${kl}`.padEnd(kl, 'b'), true);
    }
    assert.ok(n > 300);
    for (const [k, v] of written) {
      const got = d.get(k);
      if (Buffer.isBuffer(v)) assert.ok(Buffer.isBuffer(got) && got.equals(v), `bytes at '${k}'`);
      else assert.equal(got, v, `value at '${k}'`);
    }
    assert.deepEqual(d.check(), []);
    // A 64 KiB value of each kind, replaced and read many times: this must not take the
    // time of walking the chain from its start for every block (it did: 2.4 ms a read).
    const big = ['z'.repeat(65536), Buffer.alloc(65536, 3), 'ж'.repeat(32768)];
    for (let r = 0; r < 50; r++) for (const v of big) {
      d.set('big', v);
      const got = d.get('big');
      assert.ok(Buffer.isBuffer(v) ? got.equals(v) : got === v);
    }
    assert.deepEqual(d.check(), []);
  });
});

test('memory model: an entry takes 1 + ceil((value + key bytes - 24) / 56) blocks of 64 bytes (1 if <= 24); numbers 8 bytes, booleans 1', async () => {
  await withDict('d-model', 1 << 20, async (d) => {
    const rows = [
      // [key, value, value bytes]
      ['k', 1, 8],
      ['k', 1n, 8],
      ['k', true, 1],
      ['a'.repeat(16), 1.5, 8],
      ['a'.repeat(17), 2, 8],
      ['a'.repeat(23), false, 1],
      ['a'.repeat(24), false, 1],
      ['k', 'x'.repeat(23), 23],
      ['k', 'x'.repeat(24), 24],
      ['k', 'x'.repeat(83), 83],
      ['k', 'x'.repeat(84), 84],
      ['k', '€'.repeat(28), 84],
      ['k', new Uint8Array(143), 143],
      ['k', new Uint8Array(144), 144],
      ['€€', new Uint8Array(1000), 1000],
      ['k', new Uint8Array(65536), 65536],
      ['k', '', 0],
    ];
    for (const [key, value, bytes] of rows) {
      const before = d.freeSpace();
      d.set(key, value);
      const used = before - d.freeSpace();
      const want = blocksFor(bytes, Buffer.byteLength(key)) * 64;
      assert.equal(used, want, `key of ${Buffer.byteLength(key)} bytes, value ${typeof value} of ${bytes} bytes: took ${used} bytes, expected ${want}`);
      assert.equal(d.delete(key), true);
      assert.equal(d.freeSpace(), before, 'delete did not give the blocks back');
    }
    assert.equal(d.freeSpace(), d.capacity);
  });
});

// ---- 2. incr across processes ------------------------------------------------------

test('4 processes x 50 000 incr on 8 shared keys (4 number, 4 bigint counters): totals exact', async (t) => {
  const procs = [];
  await withDict('d-incr4', 65536, async (d) => {
    const keys = [['n0', 'number'], ['b0', 'bigint'], ['n1', 'number'], ['b1', 'bigint'], ['n2', 'number'], ['b2', 'bigint'], ['n3', 'number'], ['b3', 'bigint']];
    const count = 50000;
    try {
      for (let id = 0; id < 4; id++) startPeer(procs, { mode: 'incr', name: d.name, id, count, keys }, 60000);
      await Promise.all(procs.map((p) => p.line(/^ready$/)));
      const t0 = performance.now();
      d.set('go', true);
      const reports = await Promise.all(procs.map((p, i) => finish(p, `incr child ${i}`, 60000)));
      const ms = performance.now() - t0;
      // Expected, computed here from the same rule.
      const want = Object.fromEntries(keys.map(([k, type]) => [k, type === 'bigint' ? 0n : 0]));
      for (let id = 0; id < 4; id++) {
        for (let i = 0; i < count; i++) {
          const [k, type] = keys[(i + id) % keys.length];
          want[k] += type === 'bigint' ? (1n << 40n) + BigInt(i % 5) : 1 + (i % 3);
        }
      }
      for (const [k, type] of keys) {
        const got = d.get(k);
        assert.equal(typeof got, type, `${k} holds a ${typeof got}`);
        assert.equal(got, want[k], `${k}: ${got}, expected ${want[k]} (lost or doubled increments)`);
        assert.equal(reports.reduce((s, r) => s + BigInt(r.sums[k]), 0n), BigInt(want[k]), `${k}: the children's own sums`);
      }
      assert.ok(want.b0 > 2n ** 53n, 'the bigint totals should pass 2^53');
      assert.deepEqual(d.check(), []);
      t.diagnostic(`${4 * count} incr in ${ms.toFixed(0)} ms (${Math.round((4 * count) / ms * 1000)}/s)`);
    } finally {
      await reap(...procs);
    }
  });
});

// ---- 3. random mix across processes -------------------------------------------------

test('4 processes, random set/add/replace/get/getStale/delete/compareAndSet on 1 000 keys for 7 s: every value read is whole and written for its key; a CAS counter is exact', async (t) => {
  const procs = [];
  await withDict('d-mix', 2 << 20, async (d) => {
    try {
      d.set('cas', 0);
      const ms = 7000;
      for (let id = 0; id < 4; id++) startPeer(procs, { mode: 'mix', name: d.name, id, ms, keys: 1000, casKey: 'cas', seed: randomInt(2 ** 31) }, ms + 40000);
      await Promise.all(procs.map((p) => p.line(/^ready$/)));
      d.set('go', true);
      const reports = await Promise.all(procs.map((p, i) => finish(p, `mix child ${i}`, ms + 40000)));
      const sum = (f) => reports.reduce((s, r) => s + r[f], 0);
      t.diagnostic(
        `reads ${sum('reads')} (verified ${sum('verified')}, missing ${sum('missing')}), sets ${sum('sets')}, adds ${sum('adds')}, replaces ${sum('replaces')}, ` +
        `deletes ${sum('deletes')}, CAS ${sum('cas')} (won ${sum('casWon')}), counter +${sum('counter')} (lost races ${sum('counterLost')}), evicted ${sum('evicted')}`,
      );
      assert.equal(sum('evicted'), 0, 'the dict was sized so nothing is evicted (the counter must not go)');
      assert.equal(d.get('cas'), sum('counter'), `CAS counter: ${d.get('cas')}, the children incremented it ${sum('counter')} times`);
      assert.ok(sum('verified') > 10000, `only ${sum('verified')} values were read and checked`);
      assert.ok(sum('casWon') > 1000, 'too few compareAndSet successes to mean anything');
      // Everything left verifies too.
      for (let k = 0; k < 1000; k++) {
        const v = d.getStale(`k${k}`)?.value;
        if (v !== undefined) assert.equal(checkValue(k, v, 4), null, `k${k} at the end`);
      }
      assert.deepEqual(d.check(), []);
    } finally {
      await reap(...procs);
    }
  });
});

// ---- 4. SIGKILL of a writer -------------------------------------------------------

test('a writer (set/delete/incr/lpush/rpop) SIGKILLed at 30 random instants: check() [], every value whole, the dict works, a concurrent reader never stops', async (t) => {
  const procs = [];
  const K = 200;
  const KILLS = 30;
  await withDict('d-kill', 96 * 1024, async (d, name) => {
    const raw = Segment.open(name);
    const lockWord = new Int32Array(raw.buffer, LOCK_WORD_OFF, 1);
    const lockOwner = new Int32Array(raw.buffer, LOCK_OWNER_OFF, 1);
    let reader;
    try {
      reader = startPeer(procs, { mode: 'reader', name, keys: K, writers: KILLS + 1 }, 150000);
      await reader.line(/^ready$/);
      const beats = () => (reader.stdout.match(/^beat \d+$/gm) ?? []).length;
      let heldLock = 0;
      let probe = 0;
      const stats = { values: 0, counters: 0, lists: 0, elements: 0 };
      for (let kill = 1; kill <= KILLS; kill++) {
        const w = startPeer(procs, { mode: 'writer', name, id: kill, keys: K }, 30000);
        await w.line(/^ready$/);
        await sleep(randomInt(5, 120));
        assert.ok(w.alive(), `writer ${kill} died before it was killed\nstdout: ${w.stdout.slice(-2000)}\nstderr: ${w.stderr.slice(-2000)}`);
        w.kill();
        const r = await withTimeout(w.done, STEP_MS, `writer ${kill} to exit`);
        assert.equal(r.signal, 'SIGKILL', `writer ${kill} exited ${r.code} before the kill\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-2000)}`);
        // Died holding the write lock: the kernel marked it OWNER_DIED (unless the reader already took it over).
        if ((Atomics.load(lockWord, 0) & (TID_MASK | OWNER_DIED)) !== 0 || Atomics.load(lockOwner, 0) === w.child.pid) heldLock++;

        // The reader goes on (repairing after the dead writer if it has to).
        assert.ok(reader.alive(), `the reader stopped\nstdout: ${reader.stdout.slice(-2000)}\nstderr: ${reader.stderr.slice(-2000)}`);
        const b = beats();
        await waitUntil(() => beats() >= b + 3 || !reader.alive(), 10000, `reader heartbeats after kill ${kill}`).catch((err) => {
          throw new Error(`${err.message}: the reader hangs\nstderr: ${reader.stderr.slice(-2000)}`);
        });
        assert.ok(reader.alive(), `the reader failed after kill ${kill}\nstdout: ${reader.stdout.slice(-2000)}\nstderr: ${reader.stderr.slice(-2000)}`);

        // Sound, and every value one that was written.
        assert.deepEqual(d.check(), [], `check() after kill ${kill}`);
        const keys = d.keys(0);
        assert.equal(keys.length, d.size, 'size counts entries keys() does not list (nothing here expires)');
        for (let k = 0; k < K; k++) {
          const key = `k${k}`;
          switch (kindOf(k)) {
            case 'v': {
              const v = d.get(key);
              if (v !== undefined) {
                assert.equal(checkValue(k, v, KILLS + 1), null, `${key} after kill ${kill}`);
                assert.equal(d.ttl(key), 0, `${key} has an expiry after kill ${kill} (nothing here sets one)`);
                stats.values++;
              }
              break;
            }
            case 'c': {
              const v = d.get(key);
              if (v !== undefined) {
                assert.ok(typeof v === 'number' && Number.isInteger(v) && v >= 1, `counter ${key} holds ${typeof v} ${v} after kill ${kill}`);
                stats.counters++;
              }
              break;
            }
            default: {
              const n = d.llen(key);
              const els = [];
              for (let i = 0; i < n; i++) {
                const el = d.lpop(key);
                assert.notEqual(el, undefined, `${key}: llen said ${n}, lpop #${i} found nothing (after kill ${kill})`);
                assert.equal(checkElement(k, el, KILLS + 1), null, `${key} element ${i} after kill ${kill}`);
                els.push(el);
              }
              assert.equal(d.lpop(key), undefined, `${key}: more elements than llen said (${n})`);
              assert.equal(d.llen(key), 0);
              for (const el of els) d.rpush(key, el);
              assert.equal(d.llen(key), n);
              if (n > 0) stats.lists++;
              stats.elements += n;
            }
          }
        }
        // It keeps working.
        const p = `probe-${probe++}`;
        const pv = makeString(1, 0, probe, 50);
        d.set(p, pv);
        assert.equal(d.get(p), pv);
        assert.equal(d.delete(p), true);
        assert.deepEqual(d.check(), [], `check() after verifying (kill ${kill})`);
      }
      reader.send('stop\n');
      const rr = await finish(reader, 'reader', 15000);
      t.diagnostic(`${KILLS} kills, ${heldLock} while holding the write lock; checked ${stats.values} values, ${stats.counters} counters, ${stats.lists} lists (${stats.elements} elements); reader: ${JSON.stringify(rr)}`);
      assert.ok(heldLock > 0, 'no kill landed while the writer held the lock: the repair path was never exercised');
      assert.ok(rr.values > 1000, 'the reader checked too few values');
    } finally {
      await reap(...procs);
      raw.close();
    }
  });
});

// ---- 5. fragmentation --------------------------------------------------------------

test('fragmentation: fill to 90 % with 16 B..64 KiB values, then 1 000 000 random replace/delete/add at <= 90 % with evict:false: never ENOSPC, check() []', async (t) => {
  const procs = [];
  await withDict('d-frag', 4 << 20, async (d, name) => {
    try {
      const seed = randomInt(2 ** 31);
      const p = startPeer(procs, { mode: 'frag', name, ops: 1_000_000, seed, fill: 0.9, small: 0.9 }, 60000);
      const t0 = performance.now();
      const r = await finish(p, `frag child (seed ${seed})`, 60000);
      t.diagnostic(`seed ${seed}, ${(performance.now() - t0).toFixed(0)} ms: ${JSON.stringify(r)}`);
      assert.deepEqual(r.problems, []);
      assert.equal(r.replace + r.delete + r.add, 1_000_000);
      assert.ok(r.largest > 60000, 'no value near 64 KiB was written');
      assert.ok(r.maxUsed >= r.limit - 1100, 'the working set never came near 90 %');
      assert.deepEqual(d.check(), []);
      assert.equal(d.size, r.entries);
    } finally {
      await reap(...procs);
    }
  });
});

// ---- 6. bad input ------------------------------------------------------------------

test('bad keys: 65536 bytes -> RangeError ERR_OUT_OF_RANGE, empty -> ERR_INVALID_ARG_VALUE, not a string -> TypeError ERR_INVALID_ARG_TYPE; in every method; nothing stored', async () => {
  await withDict('d-badkey', 1 << 20, async (d) => {
    d.set('x', 1);
    const calls = {
      get: (k) => d.get(k),
      getStale: (k) => d.getStale(k),
      ttl: (k) => d.ttl(k),
      llen: (k) => d.llen(k),
      set: (k) => d.set(k, 1),
      add: (k) => d.add(k, 1),
      replace: (k) => d.replace(k, 1),
      compareAndSet: (k) => d.compareAndSet(k, undefined, 1),
      delete: (k) => d.delete(k),
      incr: (k) => d.incr(k, 1, { init: 0 }),
      expire: (k) => d.expire(k, 10),
      lpush: (k) => d.lpush(k, 1),
      rpush: (k) => d.rpush(k, 1),
      lpop: (k) => d.lpop(k),
      rpop: (k) => d.rpop(k),
    };
    const tooLong = ['k'.repeat(65536), 'é'.repeat(32768), `${'€'.repeat(21845)}a`, '🎉'.repeat(16384)];
    for (const [m, call] of Object.entries(calls)) {
      for (const k of tooLong) assert.throws(() => call(k), expectCode('ERR_OUT_OF_RANGE', RangeError), `${m}(${Buffer.byteLength(k)}-byte key)`);
      assert.throws(() => call(''), expectCode('ERR_INVALID_ARG_VALUE', TypeError), `${m}('')`);
      for (const k of [1, undefined, null, Symbol('k'), {}, ['k'], Buffer.from('k'), () => 'k', 1n, true]) {
        assert.throws(() => call(k), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `${m}(${typeof k})`);
      }
    }
    // The longest key is fine right after a too-long one (no stale scratch state).
    d.set('k'.repeat(65535), 'ok');
    assert.throws(() => d.get('k'.repeat(65536)), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.equal(d.get('k'.repeat(65535)), 'ok');
    assert.equal(d.delete('k'.repeat(65535)), true);
    assert.deepEqual(d.keys(0), ['x']);
    assert.equal(d.size, 1);
    assert.deepEqual(d.check(), []);
  });
});

test('bad values and options: null/undefined/object/array/symbol/function values -> ERR_INVALID_ARG_TYPE; negative/NaN/Infinity ttl -> ERR_OUT_OF_RANGE; nothing stored', async () => {
  await withDict('d-badval', 65536, async (d) => {
    d.set('x', 'keep');
    const bad = [null, undefined, {}, { a: 1 }, [], [1], Symbol('v'), () => 1, new Date(), new Map(), new Float64Array(2), new ArrayBuffer(4), new DataView(new ArrayBuffer(4))];
    for (const v of bad) {
      const what = typeof v === 'symbol' ? 'symbol' : Object.prototype.toString.call(v);
      for (const key of ['x', 'new']) {
        assert.throws(() => d.set(key, v), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `set(${what})`);
        assert.throws(() => d.add(key, v), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `add(${what})`);
        assert.throws(() => d.replace(key, v), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `replace(${what})`);
        assert.throws(() => d.compareAndSet(key, 'keep', v), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `compareAndSet(value ${what})`);
        if (v !== undefined) assert.throws(() => d.compareAndSet(key, v, 1), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `compareAndSet(expected ${what})`);
      }
    }
    for (const v of [2n ** 63n, -(2n ** 63n) - 1n]) {
      assert.throws(() => d.set('x', v), expectCode('ERR_OUT_OF_RANGE', RangeError), `set(${v})`);
      assert.throws(() => d.incr('c', v, { init: 0n }), expectCode('ERR_OUT_OF_RANGE', RangeError), `incr(${v})`);
    }
    for (const ttl of [-1, -0.5, NaN, Infinity, -Infinity]) {
      assert.throws(() => d.set('x', 1, { ttl }), expectCode('ERR_OUT_OF_RANGE', RangeError), `set ttl ${ttl}`);
      assert.throws(() => d.add('y', 1, { ttl }), expectCode('ERR_OUT_OF_RANGE', RangeError), `add ttl ${ttl}`);
      assert.throws(() => d.replace('x', 1, { ttl }), expectCode('ERR_OUT_OF_RANGE', RangeError), `replace ttl ${ttl}`);
      assert.throws(() => d.compareAndSet('x', 'keep', 1, { ttl }), expectCode('ERR_OUT_OF_RANGE', RangeError), `compareAndSet ttl ${ttl}`);
      assert.throws(() => d.incr('c', 1, { init: 0, ttl }), expectCode('ERR_OUT_OF_RANGE', RangeError), `incr ttl ${ttl}`);
      assert.throws(() => d.expire('x', ttl), expectCode('ERR_OUT_OF_RANGE', RangeError), `expire ${ttl}`);
    }
    assert.throws(() => d.set('x', 1, { ttl: '10' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => d.set('x', 1, { evict: 'no' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => d.set('x', 1, 5), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => d.keys(-1), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => d.flushExpired(-1), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.equal(d.get('x'), 'keep');
    assert.equal(d.ttl('x'), 0);
    assert.deepEqual(d.keys(0), ['x']);
    assert.deepEqual(d.check(), []);
  });
});

test('create: memory below 4096 or not a number is refused before anything is created', () => {
  const name = named('d-badmem');
  assert.throws(() => Dict.create(name, { memory: 4095 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => Dict.create(name, { memory: 2 ** 31 + 64 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => Dict.create(name, { memory: 5000.5 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => Dict.create(name, {}), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  assert.throws(() => Dict.create(name, { memory: '4096' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  assert.throws(() => Dict.create(name), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  assert.equal(existsSync(`/dev/shm${name}`), false);
});

test('create/open/openOrCreate/unlink: EEXIST, ENOENT, a second handle shares the data', async () => {
  await withDict('d-open', 65536, async (d, name) => {
    assert.throws(() => Dict.create(name, { memory: 65536 }), expectCode('EEXIST'));
    const d2 = Dict.open(name);
    // The openOrCreate rule: memory is compared as the Dict records it (whole
    // 64-byte blocks), so 65536 + 63 is the same Dict; any other size is refused.
    const d3 = Dict.openOrCreate(name, { memory: 65536 + 63 });
    for (const memory of [8192, 65536 + 64, 1 << 20]) {
      assert.throws(() => Dict.openOrCreate(name, { memory }), (err) => {
        expectCode('ERR_SHMKIT_MISMATCH', ShmkitError)(err);
        assert.match(err.message, new RegExp(`^Dict '${name}' already exists with memory 65536; openOrCreate asked for ${memory} `));
        return true;
      }, `memory ${memory}`);
    }
    try {
      d.set('shared', 'yes');
      assert.equal(d2.get('shared'), 'yes');
      assert.equal(d3.capacity, d.capacity);
      d3.rpush('l', 1);
      assert.equal(d.llen('l'), 1);
    } finally {
      d2.close();
      d3.close();
    }
  });
  const gone = named('d-gone');
  assert.throws(() => Dict.open(gone), expectCode('ENOENT'));
  assert.throws(() => Dict.unlink(gone), expectCode('ENOENT'));
});

test('wrong kinds: a Dict opened as a Queue, a Queue or a Mutex opened as a Dict -> ERR_SHMKIT_BAD_LAYOUT', async () => {
  const qName = named('d-kind-q');
  const mName = named('d-kind-m');
  const sName = named('d-kind-raw');
  const q = Queue.create(qName, { capacity: 65536 });
  const m = Mutex.create(mName);
  const s = Segment.create(sName, { size: 65536 });
  try {
    await withDict('d-kind', 65536, async (_d, name) => {
      assert.throws(() => Queue.open(name), expectCode(BAD_LAYOUT, ShmkitError));
      assert.throws(() => Mutex.open(name), expectCode(BAD_LAYOUT, ShmkitError));
    });
    assert.throws(() => Dict.open(qName), expectCode(BAD_LAYOUT, ShmkitError));
    assert.throws(() => Dict.open(mName), expectCode(BAD_LAYOUT, ShmkitError));
    assert.throws(() => Dict.openOrCreate(qName, { memory: 65536 }), expectCode(BAD_LAYOUT, ShmkitError));
    // raw bytes that are not a shmkit object
    s.bytes.fill(0x5a, 0, 4096);
    assert.throws(() => Dict.open(sName), expectCode(BAD_LAYOUT, ShmkitError));
  } finally {
    q.close();
    m.close();
    s.close();
    unlinkQuietly(qName, mName, sName);
  }
});

test('scribbled header or geometry: ERR_SHMKIT_BAD_LAYOUT on open, no crash', async () => {
  await withDict('d-scribble', 1 << 20, async (d, name) => {
    d.set('k', 'v');
    const seg = Segment.open(name);
    const view = new DataView(seg.buffer);
    const saved = Buffer.from(seg.bytes.subarray(0, 192));
    const restore = () => seg.bytes.set(saved, 0);
    const blocks = view.getInt32(BLOCKS_OFF, true);
    const buckets = view.getInt32(BUCKETS_OFF, true);
    try {
      const cases = [
        ['magic', () => view.setUint32(0, 0xdeadbeef, true)],
        ['version', () => view.setUint16(4, 77, true)],
        ['kind', () => view.setUint16(6, 7, true)],
        ['header length', () => view.setUint32(8, 12, true)],
        ['object bytes', () => view.setBigUint64(16, 1n << 40n, true)],
        ['BLOCKS huge', () => view.setInt32(BLOCKS_OFF, 0x7fffffff, true)],
        ['BLOCKS negative', () => view.setInt32(BLOCKS_OFF, -5, true)],
        ['BLOCKS 0', () => view.setInt32(BLOCKS_OFF, 0, true)],
        ['BLOCKS + 1 (past the end)', () => view.setInt32(BLOCKS_OFF, blocks + 1, true)],
        ['BUCKETS not a power of two', () => view.setInt32(BUCKETS_OFF, buckets - 1, true)],
        ['BUCKETS huge', () => view.setInt32(BUCKETS_OFF, 1 << 30, true)],
        ['BUCKETS 0', () => view.setInt32(BUCKETS_OFF, 0, true)],
        ['BUCKETS negative', () => view.setInt32(BUCKETS_OFF, -(2 ** 31), true)],
        ['SHARDS', () => view.setInt32(SHARDS_OFF, 63, true)],
        ['SHARDS 0', () => view.setInt32(SHARDS_OFF, 0, true)],
      ];
      for (let i = 0; i < 20; i++) {
        const bytes = randomBytes(64);
        cases.push([`random geometry #${i}`, () => seg.bytes.set(bytes, 64)]);
      }
      for (let i = 0; i < 10; i++) {
        const bytes = randomBytes(128);
        cases.push([`random header and geometry #${i}`, () => {
          seg.bytes.set(bytes, 0);
          if (i % 2 === 0) view.setUint32(0, 0x4b4d4853, true); // keep the magic: get past it
        }]);
      }
      for (const [what, scribble] of cases) {
        scribble();
        let opened;
        try {
          opened = Dict.open(name);
        } catch (err) {
          assert.equal(err.code, BAD_LAYOUT, `${what}: ${err.code}: ${err.message}`);
        } finally {
          restore();
        }
        if (opened) {
          opened.close();
          assert.fail(`${what}: the dict opened`);
        }
      }
      // After all that, the original opens and works.
      const again = Dict.open(name);
      assert.equal(again.get('k'), 'v');
      again.close();
    } finally {
      restore();
      seg.close();
    }
  });
});

test('scribbled geometry that still fits the mapping (BLOCKS, BUCKETS lowered): open refuses a geometry that disagrees with the object size', async () => {
  await withDict('d-scribble2', 1 << 20, async (d, name) => {
    d.set('k', 'v');
    const seg = Segment.open(name);
    const view = new DataView(seg.buffer);
    const blocks = view.getInt32(BLOCKS_OFF, true);
    const buckets = view.getInt32(BUCKETS_OFF, true);
    try {
      for (const [what, off, v] of [['BLOCKS - 1', BLOCKS_OFF, blocks - 1], ['BLOCKS / 2', BLOCKS_OFF, blocks >> 1], ['BUCKETS / 2', BUCKETS_OFF, buckets >> 1]]) {
        view.setInt32(off, v, true);
        let opened;
        try {
          opened = Dict.open(name);
        } catch (err) {
          assert.equal(err.code, BAD_LAYOUT, `${what}: ${err.code}: ${err.message}`);
        } finally {
          view.setInt32(BLOCKS_OFF, blocks, true);
          view.setInt32(BUCKETS_OFF, buckets, true);
        }
        if (opened) {
          const problems = (() => {
            try {
              return opened.check();
            } catch (err) {
              return [`check() threw ${err.code}`];
            }
          })();
          opened.close();
          assert.fail(`${what}: the dict opened with a geometry (${what}) that is not the one of its ${statSync(`/dev/shm${name}`).size}-byte segment; check() then says: ${problems.slice(0, 3).join('; ')}`);
        }
      }
    } finally {
      seg.close();
    }
  });
});

test('check() reports damage (so the check() === [] assertions can fail)', async () => {
  await withDict('d-damage', 65536, async (d, name) => {
    for (let i = 0; i < 20; i++) d.set(`k${i}`, 'v'.repeat(i * 10));
    assert.deepEqual(d.check(), []);
    const seg = Segment.open(name);
    try {
      const view = new DataView(seg.buffer);
      const free = view.getInt32(FREE_COUNT_OFF, true);
      view.setInt32(FREE_COUNT_OFF, free - 1, true);
      assert.notDeepEqual(d.check(), [], 'a wrong FREE_COUNT went unnoticed');
      view.setInt32(FREE_COUNT_OFF, free, true);
      assert.deepEqual(d.check(), []);
    } finally {
      seg.close();
    }
  });
});

test('closed handle: every method -> ERR_SHMKIT_CLOSED; close() twice is fine; other handles unaffected', async () => {
  await withDict('d-closed', 65536, async (d, name) => {
    const h = Dict.open(name);
    h.set('k', 1);
    h.close();
    h.close();
    const calls = {
      get: () => h.get('k'),
      getStale: () => h.getStale('k'),
      set: () => h.set('k', 2),
      add: () => h.add('n', 2),
      replace: () => h.replace('k', 2),
      compareAndSet: () => h.compareAndSet('k', 1, 2),
      delete: () => h.delete('k'),
      incr: () => h.incr('k', 1),
      incrWithTtl: () => h.incrWithTtl('k', 1),
      ttl: () => h.ttl('k'),
      expire: () => h.expire('k', 10),
      flushAll: () => h.flushAll(),
      flushExpired: () => h.flushExpired(),
      keys: () => h.keys(),
      lpush: () => h.lpush('l', 1),
      rpush: () => h.rpush('l', 1),
      lpop: () => h.lpop('l'),
      rpop: () => h.rpop('l'),
      llen: () => h.llen('l'),
      size: () => h.size,
      capacity: () => h.capacity,
      capabilities: () => h.capabilities,
      timeout: () => h.timeout,
      freeSpace: () => h.freeSpace(),
      check: () => h.check(),
      repair: () => h.repair(),
      stats: () => h.stats(),
    };
    // Every public method and getter of the prototype is in the table (a new one must be added).
    const own = Object.getOwnPropertyNames(Dict.prototype).filter((p) => p !== 'constructor' && p !== 'close');
    assert.deepEqual(own.filter((p) => !(p in calls)), [], 'methods or getters missing from the closed-handle table');
    for (const [m, call] of Object.entries(calls)) {
      assert.throws(call, (err) => {
        expectCode('ERR_SHMKIT_CLOSED', ShmkitError)(err);
        assert.equal(err.message, `Dict '${name}' is closed`);
        return true;
      }, m);
    }
    assert.equal(h.closed, true);
    assert.equal(h.name, name);
    assert.equal(d.get('k'), 1);
    assert.equal(d.size, 1);
  });
});

// ---- 7. overhead -------------------------------------------------------------------

test('overhead: 16-byte keys and 64-byte values, filled until the first eviction: (capacity - freeSpace) / size - 80 <= 64 bytes', async (t) => {
  await withDict('d-overhead', 1 << 20, async (d, name) => {
    const value = 'v'.repeat(64);
    let i = 0;
    let evicted = 0;
    for (; evicted === 0; i++) {
      assert.ok(i < d.capacity / 80, 'no eviction although more than capacity / 80 entries were stored');
      const key = `key-${String(i).padStart(12, '0')}`;
      assert.equal(Buffer.byteLength(key), 16);
      evicted = d.set(key, value).evicted;
    }
    const used = d.capacity - d.freeSpace();
    const overhead = used / d.size - 80;
    const segBytes = statSync(`/dev/shm${name}`).size;
    t.diagnostic(
      `${d.size} entries after ${i} sets (first eviction: ${evicted}); ${used} of ${d.capacity} bytes used: ${overhead.toFixed(1)} bytes overhead per entry ` +
      `(whole segment: ${(segBytes / d.size - 80).toFixed(1)} bytes per entry, ${segBytes} bytes)`,
    );
    assert.equal(evicted, 1, 'the first set that needed room evicted more than one entry of the same size');
    assert.ok(overhead <= 64, `overhead ${overhead.toFixed(1)} bytes per entry`);
    assert.deepEqual(d.check(), []);
  });
});
