// Black-box interop: a C program (fixtures/mutex-peer.c) that implements the
// Mutex protocol from docs/LAYOUT.md alone shares one shmkit Mutex with Node
// processes: mutual exclusion under three-way contention (plus a no-lock
// control showing the counter really races), header checks, unlock waking a
// parked waiter in the other language, and robust-futex recovery
// (OWNER_DIED) in both directions when a holder is SIGKILLed.
//
// The Mutex object is also opened as a raw Segment to watch its futex WORD
// (offset 64): tests wait for FUTEX_WAITERS there to know a waiter is parked
// before they kill the holder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Mutex, Segment } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';
import { reap, run, startProcess } from './fixtures/proc.mjs';

const C_SRC = fileURLToPath(new URL('./fixtures/mutex-peer.c', import.meta.url));
const NODE_PEER = fileURLToPath(new URL('./fixtures/mutex-c-node-peer.mjs', import.meta.url));

const N = 20000;
const WORD = 64; // LAYOUT.md: Mutex WORD offset
const TID_MASK = 0x3fffffff;
const FUTEX_OWNER_DIED = 0x40000000;
const FUTEX_WAITERS = 0x80000000;
// Every C lock gives up after this; alarm() ends the whole C program at +2 s,
// so it also bounds a whole run: 3 x 20 000 contended hand-offs took over
// 14 s at a load of 17 on 2 CPUs (12 s failed correct runs).
const C_TIMEOUT_S = 60;
const CHILD_KILL_MS = (C_TIMEOUT_S + 4) * 1000; // hard cap on any child's life, past the C alarm

let tmp;
let peerBin;
const created = []; // every shm name made here: none may survive the file
const named = (label) => {
  const name = uniqueName(label);
  created.push(name);
  return name;
};

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'shmkit-mutex-c-'));
  peerBin = join(tmp, 'mutex-peer');
  const r = await run('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', peerBin, C_SRC], { timeoutMs: 30000 });
  assert.equal(r.code, 0, `cc failed:\n${r.stdout}\n${r.stderr}`);
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  assert.deepEqual(created.filter((n) => existsSync(`/dev/shm${n}`)), [], 'shm objects left behind');
});

// ---- helpers ----------------------------------------------------------------

/** A child (see startProcess) whose life is capped at CHILD_KILL_MS, recorded in `children` for reap(). */
function start(children, cmd, args) {
  const proc = startProcess(cmd, args, { timeoutMs: CHILD_KILL_MS, waitMs: 10000 });
  children.push(proc);
  return proc;
}

/** A Mutex plus a raw view of its WORD, all removed by `dispose`. */
function makeMutex() {
  const name = named('mx');
  const mutex = Mutex.create(name);
  let raw;
  try {
    raw = Segment.open(name);
  } catch (err) {
    mutex.close();
    unlinkQuietly(name);
    throw err;
  }
  const view = new DataView(raw.buffer);
  return {
    name,
    mutex,
    word: () => view.getUint32(WORD, true),
    dispose() {
      raw.close();
      mutex.close();
      unlinkQuietly(name);
    },
  };
}

const hexWord = (w) => `0x${w.toString(16)}`;

// ---- tests ------------------------------------------------------------------

test('C, a Node child (lockSync) and this process (await lock) share one Mutex: 3N increments, none lost', async () => {
  const children = [];
  const mx = makeMutex();
  const counterName = named('mx-counter');
  const seg = Segment.create(counterName, { size: 64 });
  try {
    // u32 #0 counter (plain ++), #1 peers ready, #2 start gate.
    const cells = new Uint32Array(seg.buffer, 0, 3);
    const c = start(children, peerBin, ['loop', mx.name, counterName, N, C_TIMEOUT_S]);
    const js = start(children, process.execPath, [NODE_PEER, 'loop', mx.name, counterName, N]);
    await waitUntil(() => {
      if (c.exited || js.exited) throw new Error(`a peer exited early\nC: ${c.stderr}\nnode: ${js.stderr}`);
      return Atomics.load(cells, 1) === 2;
    }, 10000, 'both peers at the start gate');
    Atomics.store(cells, 2, 1);

    let ownerDied = 0;
    for (let i = 0; i < N; i++) {
      if ((await mx.mutex.lock({ timeout: 10000 })).ownerDied) ownerDied++;
      cells[0]++; // plain read-modify-write
      mx.mutex.unlock();
    }
    const [rc, rj] = await Promise.all([c.done, js.done]);
    assert.equal(rc.code, 0, `C peer exited ${rc.code ?? rc.signal}\nstdout: ${rc.stdout}\nstderr: ${rc.stderr}`);
    assert.equal(rj.code, 0, `node peer exited ${rj.code ?? rj.signal}\nstdout: ${rj.stdout}\nstderr: ${rj.stderr}`);
    const m = /^ok waits=(\d+)\n$/.exec(rc.stdout);
    assert.ok(m, `C peer output: ${JSON.stringify(rc.stdout)}`);
    assert.equal(rj.stdout, 'ok\n');
    assert.equal(ownerDied, 0);

    assert.equal(cells[0], 3 * N);
    // The C side really met the others: it had to park on the futex (the
    // FUTEX_WAITERS / FUTEX_WAIT / FUTEX_WAKE path ran across languages).
    assert.ok(Number(m[1]) > 0, 'the C peer never had to wait: no contention was exercised');
    assert.equal(mx.word(), 0, `WORD after everyone unlocked: ${hexWord(mx.word())}`);
  } finally {
    await reap(...children);
    seg.close();
    unlinkQuietly(counterName);
    mx.dispose();
  }
});

test('control: without the lock the same counter loses updates (so the test above can fail)', {
  skip: availableParallelism() < 2 ? 'needs two CPUs to race' : false,
}, async () => {
  const children = [];
  const mx = makeMutex();
  const counterName = named('mx-race');
  const seg = Segment.create(counterName, { size: 64 });
  const RACE_N = 200_000;
  try {
    const cells = new Uint32Array(seg.buffer, 0, 3);
    const a = start(children, peerBin, ['loop', mx.name, counterName, RACE_N, C_TIMEOUT_S, 'nolock']);
    const b = start(children, peerBin, ['loop', mx.name, counterName, RACE_N, C_TIMEOUT_S, 'nolock']);
    await waitUntil(() => Atomics.load(cells, 1) === 2, 10000, 'both racers at the start gate');
    Atomics.store(cells, 2, 1);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.ok(cells[0] < 2 * RACE_N, `no update lost without the lock (${cells[0]})`);
  } finally {
    await reap(...children);
    seg.close();
    unlinkQuietly(counterName);
    mx.dispose();
  }
});

test('C peer refuses an object whose header is not a version-1 Mutex', async () => {
  const mx = makeMutex();
  const names = [];
  try {
    const real = Segment.open(mx.name);
    const header = Buffer.from(real.bytes.subarray(0, 128)); // the real header, copied
    real.close();
    for (const [label, patch] of [
      ['kind 3', (b) => b.writeUInt16LE(3, 6)],
      ['version 2', (b) => b.writeUInt16LE(2, 4)],
      ['bad magic', (b) => b.writeUInt32LE(0x4b4d4854, 0)],
    ]) {
      const name = named('mx-bad');
      names.push(name);
      const seg = Segment.create(name, { size: 128 });
      try {
        const bytes = Buffer.from(header);
        patch(bytes);
        seg.bytes.set(bytes);
      } finally {
        seg.close();
      }
      const r = await run(peerBin, ['once', name, 2], { timeoutMs: 10000 });
      assert.equal(r.code, 4, `${label}: exit ${r.code ?? r.signal}\n${r.stderr}`);
      assert.match(r.stderr, /bad header/);
    }
    // And the real one is accepted (and free).
    const r = await run(peerBin, ['once', mx.name, 2], { timeoutMs: 10000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'waiting\nclean\n');
  } finally {
    unlinkQuietly(...names);
    mx.dispose();
  }
});

test('unlock wakes a parked waiter across languages, both ways', async () => {
  const children = [];
  const mx = makeMutex();
  try {
    // Node holds, C parks, Node's unlock (store 0 + FUTEX_WAKE) wakes C.
    assert.deepEqual(mx.mutex.lockSync({ timeout: 1000 }), { ownerDied: false });
    const waiter = start(children, peerBin, ['once', mx.name, C_TIMEOUT_S]);
    await waiter.output(/^waiting\n/);
    await waitUntil(() => {
      if (waiter.exited) throw new Error(`C waiter exited early\nstdout: ${waiter.stdout}\nstderr: ${waiter.stderr}`);
      return (mx.word() & FUTEX_WAITERS) !== 0;
    }, 5000, 'FUTEX_WAITERS (C parked)');
    assert.equal(mx.word(), (process.pid | FUTEX_WAITERS) >>> 0, `WORD ${hexWord(mx.word())}`);
    const t0 = performance.now();
    mx.mutex.unlock();
    const rw = await waiter.done;
    const woke = performance.now() - t0;
    assert.equal(rw.code, 0, `C waiter exited ${rw.code ?? rw.signal}\nstdout: ${rw.stdout}\nstderr: ${rw.stderr}`);
    assert.equal(rw.stdout, 'waiting\nclean\n');
    assert.ok(woke < 1000, `C took ${woke.toFixed(0)} ms to get the lock Node released`);
    assert.equal(mx.word(), 0, `WORD after C unlocked: ${hexWord(mx.word())}`);

    // C holds, Node parks in lock(), C's unlock wakes it.
    const holder = start(children, peerBin, ['handoff', mx.name, C_TIMEOUT_S]);
    await holder.output(/^held\n$/);
    const outcome = mx.mutex.lock({ timeout: 3000 }).then((r) => ({ r }), (error) => ({ error }));
    await waitUntil(() => (mx.word() & FUTEX_WAITERS) !== 0, 2000, 'FUTEX_WAITERS (Node parked)');
    assert.equal(mx.word(), (holder.child.pid | FUTEX_WAITERS) >>> 0, `WORD ${hexWord(mx.word())}`);
    const t1 = performance.now();
    holder.child.stdin.write('\n');
    const { r, error } = await outcome;
    const elapsed = performance.now() - t1;
    if (error) throw error;
    assert.deepEqual(r, { ownerDied: false });
    // Woken by C's FUTEX_WAKE, not found by a re-check at the timeout.
    assert.ok(elapsed < 1000, `Node took ${elapsed.toFixed(0)} ms to get the lock C released`);
    const rh = await holder.done;
    assert.equal(rh.code, 0, `C holder exited ${rh.code ?? rh.signal}\nstderr: ${rh.stderr}`);
    assert.equal(rh.stdout, 'held\nreleased\n');
    assert.equal(mx.word() & TID_MASK, process.pid);
    mx.mutex.unlock();
    assert.equal(mx.word(), 0);
  } finally {
    await reap(...children);
    mx.dispose();
  }
});

test('C holder SIGKILLed: Node gets ownerDied, both already parked and locking afterwards', async () => {
  const children = [];
  const mx = makeMutex();
  try {
    // Round 1: this process is parked in lock() when the C holder dies.
    const holder = start(children, peerBin, ['hold', mx.name, C_TIMEOUT_S]);
    await holder.output(/^held\n$/);
    // C is single-threaded: its gettid() is its pid.
    assert.equal(mx.word() & TID_MASK, holder.child.pid, `WORD ${hexWord(mx.word())}`);
    await assert.rejects(mx.mutex.lock({ timeout: 50 }), { code: 'ETIMEDOUT' });
    const pending = mx.mutex.lock({ timeout: 2000 });
    const outcome = pending.then((r) => ({ r }), (error) => ({ error }));
    await waitUntil(() => (mx.word() & FUTEX_WAITERS) !== 0, 2000, 'FUTEX_WAITERS (Node parked)');
    const t0 = performance.now();
    holder.child.kill('SIGKILL');
    const { r, error } = await outcome;
    const elapsed = performance.now() - t0;
    if (error) throw error;
    assert.deepEqual(r, { ownerDied: true });
    assert.ok(elapsed < 1000, `ownerDied took ${elapsed.toFixed(0)} ms`);
    assert.equal((await holder.done).signal, 'SIGKILL');
    assert.equal(mx.word() & TID_MASK, process.pid, `WORD after Node took it: ${hexWord(mx.word())}`);
    assert.equal(mx.word() & FUTEX_OWNER_DIED, 0);
    mx.mutex.unlock();
    assert.deepEqual(mx.mutex.lockSync({ timeout: 1000 }), { ownerDied: false });
    mx.mutex.unlock();

    // Round 2: nobody waits when the C holder dies; the next lock learns it.
    const holder2 = start(children, peerBin, ['hold', mx.name, C_TIMEOUT_S]);
    await holder2.output(/^held\n$/);
    holder2.child.kill('SIGKILL');
    assert.equal((await holder2.done).signal, 'SIGKILL');
    assert.equal(mx.word(), FUTEX_OWNER_DIED, `WORD after the kernel's cleanup: ${hexWord(mx.word())}`);
    const t1 = performance.now();
    assert.deepEqual(await mx.mutex.lock({ timeout: 2000 }), { ownerDied: true });
    assert.ok(performance.now() - t1 < 1000);
    mx.mutex.unlock();
    assert.equal(mx.word(), 0);
  } finally {
    await reap(...children);
    mx.dispose();
  }
});

test('Node holder SIGKILLed while the C peer waits: C sees OWNER_DIED and exits 0', async () => {
  const children = [];
  const mx = makeMutex();
  try {
    const holder = start(children, process.execPath, [NODE_PEER, 'hold', mx.name, CHILD_KILL_MS]);
    await holder.output(/^held\n$/);
    assert.equal(mx.word() & TID_MASK, holder.child.pid, `WORD ${hexWord(mx.word())}`);

    const waiter = start(children, peerBin, ['once', mx.name, C_TIMEOUT_S]);
    await waiter.output(/^waiting\n/);
    await waitUntil(() => {
      if (waiter.exited) throw new Error(`C waiter exited early\nstdout: ${waiter.stdout}\nstderr: ${waiter.stderr}`);
      return (mx.word() & FUTEX_WAITERS) !== 0;
    }, 5000, 'FUTEX_WAITERS (C parked)');
    assert.equal(waiter.stdout, 'waiting\n', 'the C waiter got the lock while Node held it');

    holder.child.kill('SIGKILL');
    const [rh, rw] = await Promise.all([holder.done, waiter.done]);
    assert.equal(rh.signal, 'SIGKILL');
    assert.equal(rw.code, 0, `C waiter exited ${rw.code ?? rw.signal}\nstdout: ${rw.stdout}\nstderr: ${rw.stderr}`);
    assert.equal(rw.stdout, 'waiting\nownerdied\n');
    // C unlocked cleanly: free, and no stale OWNER_DIED for the next locker.
    assert.equal(mx.word(), 0, `WORD after C unlocked: ${hexWord(mx.word())}`);
    assert.deepEqual(mx.mutex.lockSync({ timeout: 1000 }), { ownerDied: false });
    mx.mutex.unlock();
  } finally {
    await reap(...children);
    mx.dispose();
  }
});
