// Dict statistics (issue 12): dict.stats() against exactly known traffic.
//
// 1. Two processes do known numbers of gets (hits and misses), sets, deletes:
//    the totals are exact after they exit, and their reader slots are free.
// 2. Evictions on a small Dict equal the sum of what set() reported.
// 3. Expirations: flushExpired, a set over an expired key, a delete of one.
// 4. A process SIGKILLed with counts in its slot: the counts stay summed,
//    the slot stays taken until a later process takes it over (the others
//    are made to look owned by a live process, the test's own pid) and adds
//    to it.
// 5. More handles than slots: 65 handles in this process, the last counts
//    into OVERFLOW; then a child counting with every slot owned by a live
//    pid: totals exact; closing frees every slot.
// 6. Worker threads reading at once, each through its own handle (so its
//    own slot: plain stores from two threads into one slot would lose
//    counts): exact totals.
// 7. A handle that never reads claims no slot; one dropped without close()
//    gives its slot back when collected; check() reports and repair()
//    clears an OWNER that is not a pid, keeping its counts; the gauges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Dict, Mutex } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { withNewDict } from './fixtures/dict-fixture.mjs';
import { STEP_MS, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { killedOk, reap, reportOf, startNode, startProcess } from './fixtures/proc.mjs';

const PEER = fileURLToPath(new URL('./fixtures/dict-stats-peer.mjs', import.meta.url));
const GC_PEER = fileURLToPath(new URL('./fixtures/dict-stats-gc.mjs', import.meta.url));

// docs/LAYOUT.md, Dict (kind 9, version 3): the read counters.
const STATS_OFF = 4416; // 65 lines of 64 bytes: OVERFLOW, then reader slot i at line 1 + i
const LINES = 65;
const OWNER = 0; // Int32 index within a line
const HITS = 1;
const MISSES = 2;
const SLOT_LINES = Array.from({ length: 64 }, (_, i) => 1 + i);

const named = trackedNames();

/** Int32 view of a Dict's 65 read-counter lines (line l's field f at l * 16 + f). */
const lines = (d) => new Int32Array(d.buffer, d.byteOffset + STATS_OFF, LINES * 16);
const owners = (d) => SLOT_LINES.map((l) => lines(d)[l * 16 + OWNER]);

const withDict = (label, memory, fn) => withNewDict(named(label), memory, fn);

/** What a dict-stats-peer with `plan` counts (see the fixture). */
function expected(plan) {
  const n = plan.handles ?? 1;
  return {
    sets: n * (plan.keys + 1),
    hits: n * (plan.keys * plan.getsPerKey + plan.stale),
    misses: n * plan.misses,
    deletes: n * plan.deletes,
  };
}

const counters = (s) => ({ gets: s.gets, hits: s.hits, misses: s.misses, sets: s.sets, deletes: s.deletes, evictions: s.evictions, expirations: s.expirations });

test('two processes with known traffic: exact totals after they exit; their slots are free again', async () => {
  await withDict('dstats-two', 1 << 20, async (d, name) => {
    assert.deepEqual(counters(d.stats()), { gets: 0, hits: 0, misses: 0, sets: 0, deletes: 0, evictions: 0, expirations: 0 });
    const a = { tag: 'a', keys: 50, getsPerKey: 7, misses: 13, stale: 3, deletes: 11 };
    const b = { tag: 'b', keys: 31, getsPerKey: 5, misses: 29, stale: 0, deletes: 30 };
    const pa = startNode(PEER, [name, JSON.stringify(a)]);
    const pb = startNode(PEER, [name, JSON.stringify(b)]);
    try {
      const [ra, rb] = [await reportOf(pa, 'peer a'), await reportOf(pb, 'peer b')];
      assert.equal(ra.lines.length, 1, 'one slot per reading handle');
      assert.equal(rb.lines.length, 1); // the same slot when one closed before the other read: it passes on with its counts
    } finally {
      await reap(pa, pb);
    }
    const ea = expected(a);
    const eb = expected(b);
    const hits = ea.hits + eb.hits;
    const misses = ea.misses + eb.misses;
    const s = d.stats();
    assert.deepEqual(counters(s), {
      gets: hits + misses, hits, misses, sets: ea.sets + eb.sets, deletes: ea.deletes + eb.deletes, evictions: 0, expirations: 0,
    });
    assert.equal(s.entries, a.keys - a.deletes + b.keys - b.deletes);
    assert.equal(s.entries, d.size);
    assert.deepEqual(owners(d).filter((o) => o !== 0), [], 'close() gave every slot back');
    // A fresh object each call, plain data.
    assert.notEqual(d.stats(), d.stats());
    assert.deepEqual(Object.keys(s).sort(), ['capacity', 'deletes', 'entries', 'evictions', 'expirations', 'freeSpace', 'gets', 'hits', 'lockHolder', 'misses', 'sets']);
  });
});

test('evictions on a small Dict: the sum of what set() reported', async () => {
  await withDict('dstats-evict', 4096, async (d) => {
    let evicted = 0;
    for (let i = 0; i < 200; i++) evicted += d.set(`key-${i}`, 'x'.repeat(40)).evicted;
    const s = d.stats();
    assert.ok(evicted > 100, `evicted ${evicted}`);
    assert.equal(s.evictions, evicted);
    assert.equal(s.sets, 200);
    assert.equal(s.entries, 200 - evicted);
    assert.equal(s.expirations, 0);
    assert.equal(s.deletes, 0);
  });
});

test('expirations: flushExpired, a set over an expired key and a delete of one count; an expired get is a miss', async () => {
  await withDict('dstats-expire', 65536, async (d) => {
    for (const k of ['e1', 'e2', 'e3', 'e4', 'e5']) d.set(k, k, { ttl: 60000 });
    d.set('keep', 1);
    for (const k of ['e1', 'e2', 'e3', 'e4', 'e5']) assert.equal(d.expire(k, 1), true);
    await waitUntil(() => ['e1', 'e2', 'e3', 'e4', 'e5'].every((k) => d.ttl(k) === undefined), STEP_MS, 'the keys to expire');
    assert.equal(d.get('e1'), undefined); // a miss: readers reclaim nothing
    assert.equal(d.stats().expirations, 0);
    d.set('e1', 'again'); // replaces the expired entry: reclaimed now
    assert.equal(d.delete('e2'), false); // removes an expired entry: an expiration, not a delete
    assert.equal(d.flushExpired(), 3); // e3, e4, e5
    const s = d.stats();
    assert.equal(s.expirations, 5);
    assert.equal(s.deletes, 0);
    assert.equal(s.sets, 7);
    assert.equal(s.misses, 1);
    assert.equal(s.hits, 0);
    assert.equal(s.entries, 2);
  });
});

test('a process SIGKILLed with counts in its slot: the counts stay, and a later process takes the slot over and adds to it', async () => {
  await withDict('dstats-kill', 1 << 20, async (d, name) => {
    const plan = { tag: 'k', keys: 20, getsPerKey: 9, misses: 17, stale: 0, deletes: 0, hold: true };
    const victim = startNode(PEER, [name, JSON.stringify(plan)]);
    let line;
    let pid;
    try {
      ({ lines: [line], pid } = JSON.parse(await victim.line(/^\{/)));
      await victim.line(/^ready$/);
      assert.equal(d.stats().hits, 180);
      victim.kill();
      await killedOk(victim, 'the victim');
    } finally {
      await reap(victim);
    }
    const raw = lines(d);
    assert.equal(raw[line * 16 + OWNER], pid, 'a killed owner never gave its slot back');
    let s = d.stats();
    assert.equal(s.hits, 180, 'the dead process\'s hits are still summed');
    assert.equal(s.misses, 17);
    // Every other slot looks owned by a live process (this one): the only slot a newcomer may take is the dead one.
    for (const l of SLOT_LINES) if (l !== line) raw[l * 16 + OWNER] = process.pid;
    const later = { tag: 'l', keys: 10, getsPerKey: 3, misses: 5, stale: 2, deletes: 0, hold: true };
    const heir = startNode(PEER, [name, JSON.stringify(later)]);
    try {
      const report = JSON.parse(await heir.line(/^\{/));
      assert.deepEqual(report.lines, [line], 'the later process took over the dead one\'s slot');
      assert.equal(raw[line * 16 + HITS], 180 + 32, 'and added to its counts');
      assert.equal(raw[line * 16 + MISSES], 17 + 5);
      s = d.stats();
      assert.equal(s.hits, 212);
      assert.equal(s.misses, 22);
      assert.equal(s.gets, 234);
    } finally {
      await reap(heir);
      for (const l of SLOT_LINES) if (raw[l * 16 + OWNER] === process.pid) raw[l * 16 + OWNER] = 0;
    }
  });
});

test('more handles than slots: the 65th counts into OVERFLOW, totals stay exact, close() frees every slot', async () => {
  await withDict('dstats-many', 65536, async (d, name) => {
    d.set('k', 1);
    const hs = Array.from({ length: 65 }, () => Dict.open(name));
    try {
      hs.forEach((h, i) => {
        for (let j = 0; j <= i; j++) assert.equal(h.get('k'), 1);
        assert.equal(h.get('missing'), undefined);
      });
      const raw = lines(d);
      assert.deepEqual(owners(d), SLOT_LINES.map(() => process.pid), 'each handle of a process takes its own slot');
      assert.equal(raw[0 * 16 + OWNER], 0, 'OVERFLOW has no owner');
      assert.equal(raw[0 * 16 + HITS], 65, 'the 65th handle counted into OVERFLOW');
      assert.equal(raw[0 * 16 + MISSES], 1);
      const s = d.stats();
      assert.equal(s.hits, (65 * 66) / 2);
      assert.equal(s.misses, 65);
      assert.equal(s.gets, (65 * 66) / 2 + 65);
    } finally {
      for (const h of hs) h.close();
    }
    assert.deepEqual(owners(d).filter((o) => o !== 0), [], 'no slot leaked');
    // A child that finds every slot owned by a live process (this one) counts into OVERFLOW too.
    const raw = lines(d);
    for (const l of SLOT_LINES) raw[l * 16 + OWNER] = process.pid;
    try {
      const before = d.stats();
      const plan = { tag: 'o', keys: 12, getsPerKey: 4, misses: 6, stale: 1, deletes: 2, handles: 2 };
      const p = startNode(PEER, [name, JSON.stringify(plan)]);
      try {
        assert.deepEqual((await reportOf(p, 'the overflow peer')).lines, [], 'no slot: it owns nothing');
      } finally {
        await reap(p);
      }
      const e = expected(plan);
      const s = d.stats();
      assert.equal(s.hits - before.hits, e.hits);
      assert.equal(s.misses - before.misses, e.misses);
      assert.equal(s.sets - before.sets, e.sets);
      assert.equal(s.deletes - before.deletes, e.deletes);
      assert.equal(raw[0 * 16 + HITS], 65 + e.hits);
    } finally {
      for (const l of SLOT_LINES) raw[l * 16 + OWNER] = 0;
    }
  });
});

test('slots: none for a handle that never reads; given back by the collection of a dropped handle; a garbage OWNER is a check() problem that repair() clears', async () => {
  await withDict('dstats-slots', 65536, async (d, name) => {
    const w = Dict.open(name);
    w.set('k', 'v');
    w.delete('nope');
    w.stats();
    assert.deepEqual(owners(d).filter((o) => o !== 0), [], 'writes and stats() claim no slot');
    w.get('k');
    assert.deepEqual(owners(d).filter((o) => o !== 0), [process.pid], 'the first read claims one');
    w.get('k');
    assert.equal(owners(d).filter((o) => o !== 0).length, 1, 'and only one');
    w.close();
    assert.deepEqual(owners(d).filter((o) => o !== 0), [], 'close() gives it back');

    const gc = startProcess(process.execPath, ['--expose-gc', GC_PEER, name]);
    try {
      const r = await reportOf(gc, 'the gc peer');
      assert.equal(r.before.length, 1, 'the dropped handle had claimed a slot');
      assert.deepEqual(r.after, [], 'and its collection gave it back');
    } finally {
      await reap(gc);
    }

    // Garbage in two OWNER words (a stray write): counts kept, check() names the slots, repair() clears them.
    const raw = lines(d);
    const hitsBefore = d.stats().hits;
    raw[3 * 16 + OWNER] = -5;
    raw[3 * 16 + HITS] += 7;
    raw[9 * 16 + OWNER] = 0x7fffffff;
    raw[0 * 16 + OWNER] = 1;
    assert.equal(d.stats().hits, hitsBefore + 7);
    assert.deepEqual(d.check(), [
      "read counters: OVERFLOW's OWNER word is 1, not 0",
      "read counters: slot 2's OWNER is -5, not a pid",
      "read counters: slot 8's OWNER is 2147483647, not a pid",
    ]);
    const report = d.repair();
    assert.equal(report.found.length, 3);
    assert.ok(report.repaired.some((l) => /slot 2's OWNER -5 cleared/.test(l)), report.repaired.join('\n'));
    assert.deepEqual(report.remaining, []);
    assert.deepEqual(d.check(), []);
    assert.equal(d.stats().hits, hitsBefore + 7, 'repair keeps the counts');
    assert.equal(d.get('k'), 'v');
  });
});

test('gauges: entries, capacity, freeSpace and the write lock holder', async () => {
  await withDict('dstats-gauges', 65536, async (d, name) => {
    d.set('a', 1);
    d.set('b', 'two');
    let s = d.stats();
    assert.equal(s.entries, 2);
    assert.equal(s.capacity, d.capacity);
    assert.equal(s.freeSpace, d.freeSpace());
    assert.equal(s.lockHolder, null);
    // The write lock is a Mutex at byte 192 (docs/LAYOUT.md): hold it through another handle.
    const m = Mutex.attach(d.buffer, d.byteOffset + 192);
    m.lockSync();
    try {
      s = d.stats();
      assert.equal(s.lockHolder, process.pid);
    } finally {
      m.unlock();
      m.close();
    }
    assert.equal(d.stats().lockHolder, null);
    void name;
  });
});

test('a layout version 2 Dict (before the read counters) is refused with ERR_SHMKIT_BAD_LAYOUT', async () => {
  await withDict('dstats-v2', 65536, async (d, name) => {
    const version = new Uint16Array(d.buffer, d.byteOffset + 4, 1); // common header: VERSION u16 at 4
    assert.equal(version[0], 3);
    version[0] = 2;
    try {
      assert.throws(() => Dict.open(name), (err) => err.code === 'ERR_SHMKIT_BAD_LAYOUT' && /layout version 2; this shmkit reads version 3/.test(err.message));
    } finally {
      version[0] = 3;
    }
    Dict.open(name).close();
  });
});

const READER = `
const { workerData, parentPort } = require('node:worker_threads');
const { Dict } = require('shmkit');
const d = Dict.open(workerData.name);
d.get('k0'); // claims its slot
const go = new Int32Array(workerData.go);
parentPort.postMessage('ready');
Atomics.wait(go, 0, 0, 10000); // every thread starts at once
for (let i = 1; i < workerData.n; i++) {
  if (d.get('k' + (i % 10)) !== i % 10) throw new Error('bad read');
  if (i % 5 === 0 && d.get('missing') !== undefined) throw new Error('found a missing key');
}
d.close();
parentPort.postMessage('done');
`;

test('worker threads and the main thread reading at once, a handle each: exact totals, every slot given back', async () => {
  await withDict('dstats-threads', 65536, async (d, name) => {
    for (let i = 0; i < 10; i++) d.set(`k${i}`, i);
    const n = 200000;
    const go = new Int32Array(new SharedArrayBuffer(4));
    const workers = [1, 2, 3].map(() => new Worker(READER, { eval: true, workerData: { name, n, go: go.buffer } }));
    const said = (w, what) => new Promise((resolve, reject) => {
      const onMessage = (m) => {
        if (m === what) {
          w.off('message', onMessage);
          resolve();
        }
      };
      w.on('message', onMessage);
      w.once('error', reject);
    });
    const ready = workers.map((w) => said(w, 'ready'));
    const done = workers.map((w) => said(w, 'done'));
    try {
      const own = Dict.open(name);
      own.get('k0');
      await withTimeout(Promise.all(ready), 30_000, 'the reading workers to start');
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      for (let i = 1; i < n; i++) if (own.get(`k${i % 10}`) !== i % 10) assert.fail(`read ${i}`);
      own.close();
      await withTimeout(Promise.all(done), 60_000, 'the reading workers');
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
    const s = d.stats();
    assert.equal(s.hits, 4 * n);
    assert.equal(s.misses, 3 * (n / 5 - 1)); // i % 5 === 0 for i in 1 .. n - 1
    assert.deepEqual(owners(d).filter((o) => o !== 0), [], 'every handle closed: every slot free');
  });
});
