// shmkit/keyv (KeyvShm) beyond Keyv's compliance suite (store-keyv-suite.test.mjs):
// its options, what it stores in the Dict, clear() of one namespace, a full
// Dict, disconnect(), its typings; one cache shared by processes using Keyv,
// cacheable and cache-manager; and processes SIGKILLed in the middle of
// their cache calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deserialize } from 'node:v8';
import Keyv from 'keyv';
import { Dict } from 'shmkit';
import { KeyvShm } from 'shmkit/keyv';
import { trackedNames, uniqueName } from './fixtures/names.mjs';
import { expectCode, sleep, withTimeout } from './fixtures/helpers.mjs';
import { killedOk, reap, reportOf, run, runNode, startNode } from './fixtures/proc.mjs';

const PEER = fileURLToPath(new URL('./fixtures/keyv-peer.mjs', import.meta.url));
const CHURN = fileURLToPath(new URL('./fixtures/keyv-churn.mjs', import.meta.url));
const names = trackedNames();

/** A fresh Dict of this file, closed and unlinked after the test. */
function freshDict(t, label, memory = 1 << 20) {
  const name = names(label);
  const dict = Dict.create(name, { memory });
  t.after(() => {
    dict.close();
    Dict.unlink(name);
  });
  return dict;
}

test('bad options throw ERR_INVALID_ARG_TYPE before anything is opened', (t) => {
  const dict = freshDict(t, 'keyv-args');
  const missing = uniqueName('keyv-never');
  const bad = [undefined, null, 5, 'dict', {}, { dict: null }, { dict: 5 }, { dict: 'name' }, { dict: { name: 5 } }, { dict: { get() {} } },
    { dict, namespace: 5 }, { dict, namespace: null }, { dict: { name: missing }, namespace: {} }];
  for (const options of bad) {
    assert.throws(() => new KeyvShm(options), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `new KeyvShm(${String(options && JSON.stringify(options))})`);
  }
  assert.equal(existsSync(`/dev/shm${missing}`), false, 'a bad namespace is refused before the Dict is created');
  assert.throws(() => new KeyvShm({ dict, namespace: 5 }), /^TypeError: The "KeyvShm: options\.namespace" argument must be a string or undefined\. Received type number$/);
  assert.throws(() => new KeyvShm({ dict: 5 }), /"KeyvShm: options\.dict" argument must be a shmkit Dict, an AsyncDict \(RedisDict, TwoLevelDict\) or \{ name, memory \}/);
});

test('strings are stored as Dict strings, other values as v8 bytes; ttl is the Dict ttl; a negative ttl deletes', async (t) => {
  const dict = freshDict(t, 'keyv-values');
  const store = new KeyvShm({ dict });
  await store.set('text', 'héllo');
  assert.equal(dict.get('text'), 'héllo');
  assert.equal(await store.get('text'), 'héllo');
  const object = { d: new Date(0), b: Buffer.from([0, 1, 255]), m: new Map([[1, 2n]]), n: null };
  await store.set('obj', object);
  assert.ok(Buffer.isBuffer(dict.get('obj')));
  assert.deepEqual(deserialize(dict.get('obj')), object);
  assert.deepEqual(await store.get('obj'), object);
  for (const v of [0, -0, NaN, 12.5, true, 7n, null, Buffer.from('x'), [1, 'a']]) {
    await store.set('v', v);
    assert.deepEqual(await store.get('v'), v, `round trip of ${String(v)}`);
  }
  await assert.rejects(store.set('f', () => 1), /could not be cloned/);
  await assert.rejects(store.set('t', 'x', '10'), expectCode('ERR_INVALID_ARG_TYPE', TypeError));

  // Through Keyv: its JSON string as is; raw, its { value, expires } object.
  const keyv = new Keyv({ store: new KeyvShm({ dict }), namespace: 'n' });
  await keyv.set('a', { x: 1 }, 5000);
  const stored = JSON.parse(dict.get('n:a'));
  assert.deepEqual(stored.value, { x: 1 });
  const left = dict.ttl('n:a');
  assert.ok(left > 0 && left <= 5000, `Dict ttl ${left} ms for a Keyv ttl of 5000 ms`);
  await keyv.set('forever', 1);
  assert.equal(dict.ttl('n:forever'), 0);
  const rawKeyv = new Keyv({ store: new KeyvShm({ dict }), namespace: 'r', serialize: undefined, deserialize: undefined });
  await rawKeyv.set('a', { when: new Date(5) });
  assert.deepEqual(deserialize(dict.get('r:a')), { value: { when: new Date(5) }, expires: undefined });
  assert.deepEqual(await rawKeyv.get('a'), { when: new Date(5) });

  await store.set('gone', 'soon', -1);
  assert.equal(dict.get('gone'), undefined);
  await store.set('text', 'again', -1);
  assert.equal(dict.get('text'), undefined, 'a negative ttl deletes what was there');
  await store.set('short', 'x', 30);
  assert.equal(await store.has('short'), true);
  await sleep(60);
  assert.equal(dict.get('short'), undefined, 'the Dict expired it');
  assert.equal(await store.has('short'), false);
});

test('clear() removes its namespace only (not a namespace that merely starts alike); without a namespace, every key', async (t) => {
  const dict = freshDict(t, 'keyv-clear');
  const a = new Keyv({ store: new KeyvShm({ dict }), namespace: 'a' });
  const ab = new Keyv({ store: new KeyvShm({ dict }), namespace: 'ab' });
  for (let i = 0; i < 50; i++) {
    await a.set(`k${i}`, i);
    await ab.set(`k${i}`, -i);
  }
  dict.set('plain', 'not keyv');
  await a.clear();
  assert.deepEqual(dict.keys(0).filter((k) => k.startsWith('a:')), []);
  assert.equal(dict.keys(0).filter((k) => k.startsWith('ab:')).length, 50);
  assert.equal(await ab.get('k7'), -7);
  assert.equal(dict.get('plain'), 'not keyv');
  const all = new KeyvShm({ dict });
  assert.equal(all.namespace, undefined);
  await all.clear();
  assert.deepEqual(dict.keys(0), []);
  const named = new KeyvShm({ dict, namespace: 'mine' });
  assert.equal(named.namespace, 'mine');
  assert.equal(named.opts.dialect, 'shmkit');
});

test('a full Dict evicts its least recently used entries (a cache); a value larger than the Dict is an error event and false', async (t) => {
  const dict = freshDict(t, 'keyv-full', 64 << 10);
  const keyv = new Keyv({ store: new KeyvShm({ dict }) });
  const value = 'v'.repeat(2000);
  for (let i = 0; i < 200; i++) assert.equal(await keyv.set(`k${i}`, value), true);
  assert.equal(await keyv.get('k0'), undefined, 'the oldest entry was evicted');
  assert.equal(await keyv.get('k199'), value);
  assert.ok(dict.stats().evictions > 0);
  const errors = [];
  keyv.on('error', (err) => errors.push(err));
  assert.equal(await keyv.set('huge', 'x'.repeat(100 << 10)), false);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'ENOSPC');
});

test('disconnect() closes a Dict the store opened by name, never one handed in', async (t) => {
  const name = names('keyv-owned');
  t.after(() => Dict.unlink(name));
  const owned = new KeyvShm({ dict: { name, memory: 1 << 16 } });
  await owned.set('k', 'v');
  const mine = Dict.open(name);
  t.after(() => mine.close());
  const handed = new KeyvShm({ dict: mine });
  await owned.disconnect();
  await owned.disconnect(); // idempotent
  await assert.rejects(owned.get('k'), expectCode('ERR_SHMKIT_CLOSED'));
  await handed.disconnect();
  assert.equal(mine.closed, false);
  assert.equal(await handed.get('k'), 'v');
});

test('typings: fixtures/keyv-types.ts compiles (strict, node16): KeyvShm is the store Keyv, cacheable and cache-manager take', { timeout: 60_000 }, async () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const r = await run(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '--noEmit', '--strict', '--target', 'ES2022', '--lib', 'ES2022,ESNext.Disposable',
    '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', '--skipLibCheck', fileURLToPath(new URL('./fixtures/keyv-types.ts', import.meta.url))],
  { timeoutMs: 50_000, cwd: root });
  assert.equal(r.code, 0, r.stdout + r.stderr);
});

// ---- one cache across processes ----

/** A keyv-peer.mjs process: ask(cmd) sends one command and resolves with its answer. */
function peer(lib, name, memory) {
  const p = startNode(PEER, [lib, name, memory], { timeoutMs: 60_000 });
  let next = 0;
  return {
    proc: p,
    async ask(cmd) {
      const id = ++next;
      p.send(`${JSON.stringify({ id, ...cmd })}\n`);
      const answer = JSON.parse(await p.line(new RegExp(`^\\{"id":${id}[,}]`), 10_000));
      if (answer.error) throw new Error(`${lib}: ${cmd.op} failed: ${answer.error} (${answer.code})`);
      return answer;
    },
  };
}

test('one cache across processes: Keyv, cacheable and cache-manager over KeyvShm share values, TTLs and namespaces', { timeout: 60_000 }, async (t) => {
  const memory = 1 << 20;
  const peers = [];
  t.after(() => reap(...peers.map((p) => p.proc))); // before the Dict is unlinked (the peers open it by name)
  const dict = freshDict(t, 'keyv-shared', memory);
  for (const lib of ['keyv', 'cacheable', 'cache-manager']) peers.push({ lib, ...peer(lib, dict.name, memory) });

  // A value set by each library is read by all three.
  for (const from of peers) {
    await from.ask({ op: 'set', ns: 'shared', key: `from-${from.lib}`, value: { by: from.lib, n: [1, 2, 3] } });
  }
  for (const reader of peers) {
    for (const from of peers) {
      const { found, value } = await reader.ask({ op: 'get', ns: 'shared', key: `from-${from.lib}` });
      assert.equal(found, true, `${reader.lib} reads what ${from.lib} set`);
      assert.deepEqual(value, { by: from.lib, n: [1, 2, 3] });
    }
  }
  // A value replaced in one process is the new one in the others.
  await peers[2].ask({ op: 'set', ns: 'shared', key: 'from-keyv', value: 'replaced' });
  assert.equal((await peers[1].ask({ op: 'get', ns: 'shared', key: 'from-keyv' })).value, 'replaced');

  // TTL: set by each library, read by all before it expires, gone for all after.
  const ttl = 2000;
  const setAt = Date.now();
  for (const from of peers) await from.ask({ op: 'set', ns: 'shared', key: `ttl-${from.lib}`, value: from.lib, ttl });
  for (const reader of peers) {
    for (const from of peers) {
      assert.equal((await reader.ask({ op: 'get', ns: 'shared', key: `ttl-${from.lib}` })).value, from.lib);
    }
  }
  for (const from of peers) {
    const left = dict.ttl(`shared:ttl-${from.lib}`);
    assert.ok(left > 0 && left <= ttl, `${from.lib}'s ttl is the Dict's: ${left} ms left`);
  }
  await sleep(setAt + ttl + 50 - Date.now());
  for (const from of peers) assert.equal(dict.ttl(`shared:ttl-${from.lib}`), undefined, 'the Dict expired it (nobody deleted it)');
  for (const reader of peers) {
    for (const from of peers) {
      assert.equal((await reader.ask({ op: 'get', ns: 'shared', key: `ttl-${from.lib}` })).found, false);
    }
  }

  // clear() of one namespace, from each library in turn, leaves the other intact.
  for (const clearer of peers) {
    for (const from of peers) {
      await from.ask({ op: 'set', ns: 'shared', key: `c-${from.lib}`, value: 1 });
      await from.ask({ op: 'set', ns: 'other', key: `c-${from.lib}`, value: 2 });
    }
    await clearer.ask({ op: 'clear', ns: 'shared' });
    for (const reader of peers) {
      for (const from of peers) {
        assert.equal((await reader.ask({ op: 'get', ns: 'shared', key: `c-${from.lib}` })).found, false, `${clearer.lib} cleared 'shared'`);
        assert.equal((await reader.ask({ op: 'get', ns: 'other', key: `c-${from.lib}` })).value, 2, `${clearer.lib}'s clear left 'other'`);
      }
    }
  }
  assert.deepEqual(dict.keys(0).filter((k) => k.startsWith('shared:')), []);

  // A delete in one is seen by the others; then each closes its own handle.
  await peers[0].ask({ op: 'delete', ns: 'other', key: 'c-cacheable' });
  assert.equal((await peers[2].ask({ op: 'get', ns: 'other', key: 'c-cacheable' })).found, false);
  for (const p of peers) {
    await p.ask({ op: 'end' });
    const r = await withTimeout(p.proc.done, 10_000, `${p.lib} peer exit`);
    assert.equal(r.code, 0, r.stderr);
  }
});

// ---- worker death ----

test('processes SIGKILLed mid-call: every value read anywhere was written whole, nobody hangs, the Dict stays usable', { timeout: 90_000 }, async (t) => {
  const memory = 32 << 10; // small: the churn evicts too
  const running = new Set();
  // Reaped before the Dict is unlinked (after hooks run in order): a process
  // starting up would create it again (it opens the Dict by name).
  t.after(() => reap(...running));
  const dict = freshDict(t, 'keyv-kill', memory);
  // Each churn process uses Keyv (JSON and raw) and cache-manager on the same 8 keys per namespace.
  const start = () => {
    const p = startNode(CHURN, [dict.name, memory, 'churn'], { timeoutMs: 60_000 });
    running.add(p);
    return p;
  };
  for (let i = 0; i < 4; i++) start();
  // Kill a process that is in its loop, at a random moment, and start another
  // in its place, for 4 s (and at least 8 kills).
  const isReady = (p) => /^ready$/m.test(p.stdout);
  let kills = 0;
  const began = Date.now();
  while (Date.now() < began + 4000 || kills < 8) {
    assert.ok(Date.now() < began + 40_000, `only ${kills} kills in 40 s: the churn processes did not get ready`);
    await sleep(20 + Math.random() * 150);
    for (const p of running) assert.ok(p.alive(), `a churn process died on its own: ${p.stdout.slice(-300)} ${p.stderr}`);
    const ready = [...running].filter(isReady);
    if (ready.length === 0) continue;
    const victim = ready[Math.floor(Math.random() * ready.length)];
    victim.kill();
    await killedOk(victim, 'churn process');
    running.delete(victim);
    kills++;
    start();
  }
  t.diagnostic(`${kills} processes killed`);
  // The survivors (and the replacements) go on, stop, and report.
  const survivors = [...running];
  for (const p of survivors) await p.line(/^ready$/, 20_000);
  for (const p of survivors) p.send('stop\n');
  let found = 0;
  for (const p of survivors) {
    const r = await reportOf(p, 'churn survivor');
    assert.ok(r.ops >= 250, `${r.ops} operations`); // 50 before 'ready', 200 after 'stop'
    found += r.found;
    running.delete(p);
  }
  t.diagnostic(`survivors read ${found} values, all whole; ${dict.stats().evictions} evictions in all`);
  // A fresh process reads every key and writes one more in each namespace.
  const out = await runNode(CHURN, [dict.name, memory, 'verify'], { timeoutMs: 20_000 });
  assert.equal(JSON.parse(out.trim().split('\n').pop()).fresh, true);
  assert.deepEqual(dict.check(), [], 'the Dict is sound');
  assert.equal(dict.stats().lockHolder, null);
});
