// The two-level Dict on one host (issue 13): shared memory in front of a
// real redis-server, with real worker processes. One fetch per key per host
// however many processes miss at once; invalidation between near copies;
// cached absences; the nearTtl bound when a message is lost; the flush when
// the subscriber comes back; a stalled Redis; a dead lease holder; synced
// counters; the example.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Dict, SharedArray } from 'shmkit';
import { TwoLevelDict } from 'shmkit/redis';
import { startRedis, startRedisCluster } from './fixtures/redis.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { sleep, withTimeout } from './fixtures/helpers.mjs';
import { startProcess } from './fixtures/proc.mjs';
import { makeRemote } from './fixtures/two-level-remote.mjs';
import { startWorker } from './fixtures/two-level-procs.mjs';

const names = trackedNames();
const server = await startRedis();
const metaLeft = [];
after(() => {
  assert.deepEqual(metaLeft.filter((n) => existsSync(`/dev/shm${n}.two-level`)), [], 'meta arrays left behind');
});

/** Polls an async `predicate` every few ms; throws after `ms`. */
async function until(predicate, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(2);
  }
}

/** A near Dict name of this test file (the Dict and its `.two-level` array are checked at the end). */
function nearName(label) {
  const n = names(label);
  metaLeft.push(n);
  return n;
}

/** A TwoLevelDict of this process on its own RedisDict client; closed and unlinked by the caller's cleanup. */
function open(t, near, options = {}) {
  const redis = server.client();
  const remote = makeRemote(redis, options.name ?? 'tl', { commandTimeout: options.commandTimeout ?? 2000 });
  const dict = new TwoLevelDict({ near: { name: near, memory: 1 << 20 }, remote, redis, ...options });
  t.after(async () => {
    await dict.close();
    try { TwoLevelDict.unlink(near); } catch { /* another dict of the test shares it */ }
  });
  return { dict, remote, redis };
}

/** Commands the server received whose arguments mention `key` (PUBLISH/SUBSCRIBE excluded), while `work` runs. */
async function commandsFor(key, work) {
  const monitor = await server.client().monitor();
  const seen = [];
  monitor.on('monitor', (_time, args) => {
    const name = String(args[0]).toLowerCase();
    if (name === 'publish' || name === 'subscribe' || name === 'monitor') return;
    if (args.some((a) => String(a).includes(key))) seen.push(args.map(String).join(' '));
  });
  try {
    await work();
    await new Promise((resolve) => setTimeout(resolve, 100)); // MONITOR lines trail the replies
  } finally {
    monitor.disconnect();
  }
  return seen;
}

test('six worker processes miss the same key at once: Redis serves one fetch for it, and every worker gets the value', async (t) => {
  const near = nearName('sf');
  const barrier = names('sf-barrier');
  const config = { port: server.port, near, name: 'sf', nearTtl: 60000 };
  const { remote } = open(t, near, { name: 'sf' });
  await remote.set('calibrate', 'one');
  await remote.set('hot', 'value-of-hot');
  // What one fetch costs on this RedisDict (GET and TTL, whatever its commands).
  const single = startWorker(config);
  t.after(() => single.end());
  await single.ready;
  const one = await commandsFor('calibrate', async () => assert.equal(await single.ask({ op: 'get', key: 'calibrate' }), 'one'));
  assert.ok(one.length >= 1, 'a cold get reaches Redis');

  const workers = Array.from({ length: 6 }, () => startWorker(config));
  t.after(async () => {
    await Promise.all(workers.map((w) => w.end()));
    try { SharedArray.unlink(barrier); } catch { /* not made */ }
  });
  await Promise.all(workers.map((w) => w.ready));
  let answers;
  const seen = await commandsFor('hot', async () => {
    answers = await Promise.all(workers.map((w) => w.ask({ op: 'barrierGet', barrier, parties: workers.length, key: 'hot' })));
  });
  const { Barrier } = await import('shmkit');
  Barrier.unlink(barrier);
  assert.deepEqual(answers.map((a) => a.value), Array(6).fill('value-of-hot'), 'every worker got the value');
  const verbs = (lines) => lines.map((l) => l.split(' ')[0].toLowerCase());
  assert.deepEqual(verbs(seen), verbs(one), `Redis saw one fetch for the host, as for one cold get; it saw: ${seen.join(' | ')}; stats: ${JSON.stringify(answers.map((a) => a.stats))}`);
  assert.equal(answers.reduce((n, a) => n + a.stats.fetches, 0), 1, 'one worker fetched; the others waited for it');
  t.diagnostic(`one fetch = ${one.join(' | ')}; waits: ${answers.reduce((n, a) => n + a.stats.waits, 0)}`);
});

test('a write on one host reaches another host\'s near copy by invalidation, long before nearTtl', async (t) => {
  const a = open(t, nearName('inv-a'), { name: 'inv', nearTtl: 60000 }).dict;
  const b = open(t, nearName('inv-b'), { name: 'inv', nearTtl: 60000 }).dict;
  await Promise.all([a.ready(), b.ready()]);
  await a.set('k', 'v1');
  // a's message for v1 may still be on its way to b: let it land before b caches.
  await until(() => b.stats().invalidations >= 1, 5000, 'b hears of v1');
  assert.equal(await b.get('k'), 'v1');
  assert.equal(await b.get('k'), 'v1');
  assert.equal(b.stats().fetches, 1, 'the second read is a near hit');
  const start = Date.now();
  await a.set('k', 'v2');
  await until(async () => (await b.get('k')) === 'v2', 5000, 'b sees v2');
  t.diagnostic(`b saw the write after ${Date.now() - start} ms (nearTtl 60000)`);
  assert.ok(b.stats().invalidations >= 1);
  // The writer's own host dropped its copy: its next read is the new value at once.
  assert.equal(await a.get('k'), 'v2');
  await a.delete('k');
  await until(async () => (await b.get('k')) === undefined, 5000, 'b sees the delete');
});

test('absent keys are cached too, and a change no message announced shows within nearTtl', async (t) => {
  const { dict, remote } = open(t, nearName('neg'), { name: 'neg', nearTtl: 400 });
  await dict.ready();
  assert.equal(await dict.get('missing'), undefined);
  assert.equal(await dict.get('missing'), undefined);
  assert.equal(dict.stats().fetches, 1, 'the absence was cached');
  assert.equal(dict.stats().nearHits, 1);
  // Written behind the two-level Dict's back (as if the invalidation were lost).
  await remote.set('missing', 'here now');
  const start = Date.now();
  await until(async () => (await dict.get('missing')) === 'here now', 5000, 'the cached absence expires');
  const waited = Date.now() - start;
  t.diagnostic(`seen after ${waited} ms (nearTtl 400)`);
  assert.ok(waited <= 400 + 1500, `stale for ${waited} ms`);
});

test('a subscriber that drops misses messages; when it is back it flushes the host\'s near copy', async (t) => {
  const { dict: a, redis } = open(t, nearName('drop-a'), { name: 'drop', nearTtl: 60000 });
  const b = open(t, nearName('drop-b'), { name: 'drop', nearTtl: 60000 }).dict;
  await Promise.all([a.ready(), b.ready()]);
  await b.set('k', 'old');
  assert.equal(await a.get('k'), 'old');
  const before = a.stats();
  // Kill every subscriber connection, then write before ioredis reconnects (≥ 50 ms).
  await redis.client('KILL', 'TYPE', 'pubsub');
  await b.set('k', 'new');
  await until(() => a.stats().resubscriptions >= 1, 10000, 'a resubscribes');
  assert.equal(await a.get('k'), 'new', 'the flush dropped the copy the lost message would have');
  t.diagnostic(`invalidations received by a while down: ${a.stats().invalidations - before.invalidations} (the flush covers a lost one)`);
});

// A TwoLevelDict (commandTimeout 300 ms) on a Redis of its own, which the
// test may pause; stopped and unlinked after the test.
async function stallable(t, label, options) {
  const stalled = await startRedis();
  const redis = stalled.client();
  const near = nearName(label);
  const remote = makeRemote(redis, label, { commandTimeout: 300 });
  const dict = new TwoLevelDict({ near: { name: near, memory: 1 << 20 }, remote, redis, commandTimeout: 300, ...options });
  t.after(async () => {
    stalled.resume();
    await dict.close();
    TwoLevelDict.unlink(near);
    await stalled.stop();
  });
  return { stalled, remote, dict };
}

test('Redis stalled: near hits still answer; misses and writes reject with ETIMEDOUT naming the server', async (t) => {
  const { stalled, dict } = await stallable(t, 'stall', { nearTtl: 60000 });
  await dict.ready();
  await dict.set('cached', 'yes');
  assert.equal(await dict.get('cached'), 'yes');
  stalled.pause();
  assert.equal(await withTimeout(dict.get('cached'), 2000, 'near hit'), 'yes', 'a near hit needs no round trip');
  const named = (err) => err.code === 'ETIMEDOUT' && err.message.includes(`127.0.0.1:${stalled.port}`);
  await withTimeout(assert.rejects(dict.get('not-cached'), named), 5000, 'miss');
  await withTimeout(assert.rejects(dict.set('cached', 'no'), named), 5000, 'write');
  await withTimeout(assert.rejects(dict.ttl('cached'), named), 5000, 'ttl');
  // A write that timed out may still land (here it waits in the stopped
  // server's socket): so the copy was dropped all the same.
  await withTimeout(assert.rejects(dict.get('cached'), named), 5000, 'after the failed write the copy is gone');
  stalled.resume();
  assert.equal(await withTimeout(dict.get('cached'), 5000, 'after resume'), 'no', 'the timed-out SET ran when the server resumed');
});

test('Redis stalled, synced counters: incr and incrWithTtl of a key the host has a view of answer from shared memory; the sums arrive after', async (t) => {
  const { stalled, remote, dict } = await stallable(t, 'stall-cnt', { mode: 'synced-counter', syncInterval: 50 });
  await dict.ready();
  assert.equal(await dict.incr('n', 1, { init: 0 }), 1, 'the first incr of the host reads the global value');
  assert.deepEqual(await dict.incrWithTtl('w', 1, { init: 0, ttl: 60_000 }), { value: 1, ttl: 60_000 });
  stalled.pause();
  for (let i = 2; i <= 11; i++) assert.equal(await withTimeout(dict.incr('n', 1, { init: 0 }), 2000, 'local incr'), i);
  const w = await withTimeout(dict.incrWithTtl('w', 1, { init: 0, ttl: 60_000 }), 2000, 'local incrWithTtl');
  assert.equal(w.value, 2);
  assert.ok(w.ttl > 50_000 && w.ttl <= 60_000, `the window's time left, from the deadline the sync read: ${w.ttl}`);
  await withTimeout(assert.rejects(dict.incr('other', 1, { init: 0 }), { code: 'ETIMEDOUT' }), 5000, 'no view: a round trip');
  await new Promise((resolve) => setTimeout(resolve, 400)); // ticks fail meanwhile; the sums stay pending
  assert.ok(dict.stats().pushFailures >= 1);
  stalled.resume();
  await until(async () => (await remote.get('n')) === 11, 10000, 'the pending sum reaches Redis');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await remote.get('n'), 11, 'and no stalled push counted twice');
  // The rejected incr of 'other' timed out, so it may have landed: it is counted, never lost.
  await until(async () => (await remote.get('other')) === 1, 10000, 'the timed-out incr is counted once');
});

test('a lease holder that died: the next process waits out its lease and fetches itself', async (t) => {
  const near = nearName('lease');
  const { dict, remote } = open(t, near, { name: 'lease', commandTimeout: 300 });
  await dict.ready();
  await remote.set('k', 'fetched by the taker');
  // A lease as a killed holder leaves it (two-level-layout.ts: `<epoch base 36>?<key>`).
  const meta = SharedArray.open(`${near}.two-level`);
  const epoch = meta.array[0];
  meta.close();
  dict.near.set(`${epoch.toString(36)}?k`, 'pid-of-the-dead:1:x', { ttl: 500 });
  const start = Date.now();
  assert.equal(await withTimeout(dict.get('k'), 5000, 'takeover'), 'fetched by the taker');
  assert.ok(Date.now() - start >= 400, 'it waited for the lease');
  assert.deepEqual([dict.stats().takeovers, dict.stats().fetches], [1, 1]);
});

test('a lease holder SIGKILLed mid-fetch: the process waiting on it takes the fetch over once the lease expires', async (t) => {
  const stalled = await startRedis();
  const near = nearName('killed');
  const config = { port: stalled.port, near, name: 'killed', commandTimeout: 1500 }; // lease: 2.5 s
  await makeRemote(stalled.client(), 'killed').set('k', 'after the takeover');
  const [holder, waiter] = [startWorker(config), startWorker(config)];
  let nearDict;
  let meta;
  t.after(async () => {
    stalled.resume();
    await Promise.all([holder.end(), waiter.end()]);
    nearDict?.close();
    meta?.close();
    TwoLevelDict.unlink(near);
    await stalled.stop();
  });
  await Promise.all([holder.ready, waiter.ready]);
  nearDict = Dict.open(near);
  meta = SharedArray.open(`${near}.two-level`);
  stalled.pause(); // the holder's GET hangs in the stopped server
  const held = holder.ask({ op: 'get', key: 'k' });
  held.catch(() => {}); // it is killed before it answers
  const lease = `${meta.array[0].toString(36)}?k`;
  await until(() => String(nearDict.get(lease) ?? '').startsWith(`${holder.child.pid}:`), 5000, 'the holder takes the lease');
  const waited = waiter.ask({ op: 'get', key: 'k' }, 20000);
  await sleep(100); // the waiter finds the lease and polls
  holder.child.kill('SIGKILL');
  stalled.resume();
  assert.equal(await waited, 'after the takeover');
  const stats = await waiter.ask({ op: 'stats' });
  assert.deepEqual([stats.takeovers, stats.fetches], [1, 1], 'the waiter fetched once, after taking the lease over');
});

test('synced counters: two processes of a host add locally; Redis gets the exact sum', async (t) => {
  const near = nearName('cnt');
  const config = { port: server.port, near, name: 'cnt', mode: 'synced-counter', syncInterval: 50 };
  const { remote } = open(t, near, { name: 'cnt' });
  const workers = [startWorker(config), startWorker(config)];
  t.after(() => Promise.all(workers.map((w) => w.end())));
  await Promise.all(workers.map((w) => w.ready));
  const runs = await Promise.all(workers.map((w) => w.ask({ op: 'incrLoop', key: 'hits', limit: 1e9, durationMs: 600, everyMs: 1, ttl: 60000 })));
  const total = runs.reduce((n, r) => n + r.incrs, 0);
  await Promise.all(workers.map((w) => w.end()));
  assert.equal(await remote.get('hits'), total, 'every increment reached Redis exactly once');
  t.diagnostic(`${total} increments by two processes (${runs.map((r) => r.incrs).join(' + ')})`);
});

test('options are checked; capabilities say two-level', async (t) => {
  const near = nearName('args');
  const { dict, remote, redis } = open(t, near, { name: 'args' });
  assert.deepEqual({ ...dict.capabilities, maxValue: 0 }, { backend: 'two-level', scope: 'hosts', eviction: remote.capabilities.eviction, ttlPrecision: remote.capabilities.ttlPrecision, maxValue: 0, consistency: 'near-copy' });
  const base = { near: { name: near, memory: 1 << 20 }, remote, redis };
  assert.throws(() => new TwoLevelDict({ ...base, redis: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new TwoLevelDict({ ...base, remote: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new TwoLevelDict({ ...base, nearTtl: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new TwoLevelDict({ ...base, mode: 'fast' }), { code: 'ERR_INVALID_ARG_VALUE' });
  const nameless = { get() {}, set() {}, capabilities: remote.capabilities };
  assert.throws(() => new TwoLevelDict({ ...base, remote: nameless }), { code: 'ERR_INVALID_ARG_VALUE' }, 'no name and the remote has none');
  await dict.close();
  await assert.rejects(dict.get('x'), { code: 'ERR_SHMKIT_CLOSED' });
});

test('on a Redis Cluster: a write through one master reaches another near copy by invalidation', async (t) => {
  const cluster = await startRedisCluster();
  const nears = [nearName('cl-a'), nearName('cl-b')];
  const dicts = nears.map((near) => {
    const redis = cluster.client();
    return new TwoLevelDict({ near: { name: near, memory: 1 << 20 }, remote: makeRemote(redis, 'cl'), redis, nearTtl: 60000 });
  });
  // The dicts (and their subscribers) first, then the servers.
  t.after(async () => {
    await Promise.all(dicts.map((d) => d.close()));
    for (const near of nears) TwoLevelDict.unlink(near);
    await cluster.stop();
  });
  const [a, b] = dicts;
  await withTimeout(Promise.all(dicts.map((d) => d.ready())), 20000, 'cluster subscriptions');
  // Keys on different masters; b caches each, then a writes each.
  const keys = Array.from({ length: 6 }, (_, i) => `key-${i}`);
  for (const k of keys) await a.set(k, 'old');
  await until(() => b.stats().invalidations >= keys.length, 5000, 'b hears of the first writes');
  for (const k of keys) assert.equal(await b.get(k), 'old');
  for (const k of keys) await a.set(k, 'new');
  await until(async () => (await Promise.all(keys.map((k) => b.get(k)))).every((v) => v === 'new'), 5000, 'b sees every new value');
  assert.equal(b.stats().fetches, 2 * keys.length, 'one fetch per key before and after the invalidation');
});

test('a near Dict handed in stays the caller\'s: close() leaves it open', async (t) => {
  const near = nearName('handle');
  const handle = Dict.create(near, { memory: 1 << 20 });
  const redis = server.client();
  const remote = makeRemote(redis, 'handle');
  const dict = new TwoLevelDict({ near: handle, remote, redis });
  t.after(() => {
    handle.close();
    TwoLevelDict.unlink(near);
  });
  await dict.ready();
  await dict.set('k', 'v');
  assert.equal(await dict.get('k'), 'v');
  assert.equal(dict.near, handle);
  await dict.close();
  assert.ok(handle.size >= 1, 'the handle still works after close()');
  assert.throws(() => new TwoLevelDict({ near: Dict.init(new SharedArrayBuffer(Dict.byteLength({ memory: 4096 })), 0, { memory: 4096 }), remote, redis }), { code: 'ERR_INVALID_ARG_VALUE' }, 'an embedded Dict has no name');
});

test('examples/two-level-dict runs against this redis-server', async () => {
  const example = fileURLToPath(new URL('../dist/examples/two-level-dict.js', import.meta.url));
  const proc = startProcess(process.execPath, [example], { env: { ...process.env, REDIS_URL: server.url }, timeoutMs: 30000, input: null });
  const r = await proc.done;
  assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stdout, /host B sees: "dark"/);
});
