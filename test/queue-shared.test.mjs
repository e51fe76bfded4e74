// Queue, layout version 3 (docs/LAYOUT.md, "Queue (kind 7, version 3)"): no
// lock anywhere. A record is claimed by one compare-and-swap on its cell's
// STAMP, so no process holds anything while it copies a message, and a
// process stopped, descheduled or SIGKILLed with a claim open blocks nobody
// (a killed one for at most the time it takes someone to notice). Every
// handle works this way: the { shared: true } option of layout version 2 is
// still accepted (a boolean) and changes nothing.
//
// 1. A producer holding a reservation does not stop another producer; its
//    record holds back the ones after it (consumers take in ring order).
// 2. A consumer holding a peeked message does not stop another consumer.
// 3. A producer SIGSTOPped holding a reservation: producers in other
//    processes go on, every trySend succeeds; after SIGCONT and commit
//    everything arrives, its message first.
// 4. A producer SIGKILLed between reserve and commit: the messages after its
//    claim reach a consumer parked in another process within 1 s; its own
//    message never appears.
// 5. A consumer SIGKILLed between peek and release: its message goes to a
//    consumer parked in another process within 1 s; the rest once.
// 6. 2 producers and 2 consumers (mixing sendSync with reserve/commit and
//    receiveSync with peek/release), SIGKILLed at random instants and
//    respawned, 24 times; every message reported sent arrives, intact, in
//    order per producer and consumer, duplicated only where a killed
//    consumer may not have released it; the drained ring is empty.
//
// Children: fixtures/queue-shared-peer.mjs. Messages: fixtures/queue-msg.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Queue, Segment } from 'shmkit';
import { makeQueue as makeQueueNamed } from './fixtures/queue-handle.mjs';
import { trackedNames, uniqueName } from './fixtures/names.mjs';
import { STEP_MS, expectCode, hex, sleep, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { reap, startNode, killedOk } from './fixtures/proc.mjs';
import { checkMessage, makeMessage, parseMessage, sizeOf } from './fixtures/queue-msg.mjs';
import { CELL, DATA_WAITERS_OFF } from './fixtures/queue-layout.mjs';

const PEER = fileURLToPath(new URL('./fixtures/queue-shared-peer.mjs', import.meta.url));
const ENDED = 'ERR_SHMKIT_QUEUE_ENDED';

const named = trackedNames(); // every shm name made here; none may survive the file

// ---- helpers ----------------------------------------------------------------

const makeQueue = (label, options) => makeQueueNamed(named, label, options);

/** Wall-clock milliseconds with sub-ms precision, comparable with the children's stamps. */
const now = () => performance.timeOrigin + performance.now();
/** Bytes a message of `len` bytes takes in the ring: whole 64-byte cells, at least one. */
const recordSize = (len) => Math.max(1, Math.ceil(len / CELL)) * CELL;

/** Resolves once this process's handles have given their slots back (at the end of the turn that used them). */
async function slotsBack(q, what) {
  await waitUntil(() => {
    const s = q.stats();
    return s.producerSlots === 0 && s.consumerSlots === 0;
  }, STEP_MS, what);
}

function startPeer(procs, args, ms = 30000) {
  const p = startNode(PEER, args, { timeoutMs: ms, waitMs: 10000 });
  procs.push(p);
  return p;
}

/** Awaits a child's exit (bounded), requires code 0, returns its stdout lines. */
async function finishPeer(proc, what, ms = 15000) {
  let r;
  try {
    r = await withTimeout(proc.done, ms, `${what} to exit`);
  } catch (err) {
    err.message += `\nstdout (end): ${proc.stdout.slice(-600)}\nstderr: ${proc.stderr}`;
    throw err;
  }
  assert.equal(r.code, 0, `${what} exited ${r.code ?? r.signal}\nstdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** Resolves once a thread is parked on the queue's DATA_SEQ word (a consumer waiting for a message). */
async function parkedConsumer(name, what) {
  const seg = Segment.open(name);
  try {
    const waiters = new Int32Array(seg.buffer, DATA_WAITERS_OFF, 1);
    await waitUntil(() => Atomics.load(waiters, 0) > 0, STEP_MS, what);
  } finally {
    seg.close();
  }
}

/** "got HEX T" lines of a collect child: [{ hex, at }]. */
function receipts(lines) {
  return lines.filter((l) => l.startsWith('got ')).map((l) => {
    const [, h, at] = l.split(' ');
    return { hex: h, at: Number(at) };
  });
}

// ---- 1, 2. no lock across a copy ------------------------------------------------------

test('no lock across a copy (producers): B sends at once while A holds a reservation; nothing is visible until A commits, then A, then B', async (t) => {
  const { name, q, dispose } = makeQueue('qs-pcopy', { capacity: 4096 });
  const procs = [];
  let b;
  let c;
  try {
    const A_SEED = 101;
    const A_LEN = 100;
    const B_SEED = 202;
    const a = startPeer(procs, ['hold-reserve', name, A_SEED, A_LEN]);
    await a.line(/^reserved$/);
    let s = q.stats();
    assert.equal('producerPid' in s, false, 'stats() still reports a producer role');
    assert.equal(s.producerSlots, 1, "A's reservation holds one producer slot");
    assert.equal(s.bytesUsed, recordSize(A_LEN), "A's claim is counted in bytesUsed");

    b = Queue.open(name);
    c = Queue.open(name);
    const bMsgs = [0, 1, 2].map((seq) => makeMessage(B_SEED, seq, sizeOf(B_SEED, seq, 1, 200)));
    const t0 = performance.now();
    assert.equal(b.trySend(bMsgs[0]), true, "B's trySend was turned away while A held its reservation");
    const tryMs = performance.now() - t0;
    b.sendSync(bMsgs[1], { timeout: 2000 }); // ETIMEDOUT if A's reservation blocked it
    await b.send(bMsgs[2], { timeout: 2000 });
    const sendMs = performance.now() - t0;
    t.diagnostic(`B: trySend ${tryMs.toFixed(2)} ms, all three sends ${sendMs.toFixed(1)} ms while A held its reservation`);

    // Consumers take in ring order: A's record is first, nothing to receive yet.
    assert.equal(c.tryReceive(), undefined, "a consumer got a message past A's open reservation");
    // Waiting looks for dead peers every 250 ms: A is alive, its claim must stay.
    assert.throws(() => c.receiveSync({ timeout: 300 }), expectCode('ETIMEDOUT'));
    await assert.rejects(c.receive({ timeout: 200 }), expectCode('ETIMEDOUT'));
    s = q.stats();
    assert.equal(s.producerSlots, 1, "B's slot went back at the end of its turn; A's is still held");
    assert.equal(s.bytesUsed, recordSize(A_LEN) + bMsgs.reduce((n, m) => n + recordSize(m.length), 0));

    a.send('commit\n');
    await a.line(/^committed$/);
    const got = [];
    for (let i = 0; i < 4; i++) got.push(c.receiveSync({ timeout: 2000 }));
    assert.equal(checkMessage(got[0], A_SEED, 0, A_LEN), null, "A's message is not the first");
    for (let i = 0; i < 3; i++) assert.deepEqual(got[i + 1], bMsgs[i], `B's message ${i} is not next`);
    assert.equal(c.tryReceive(), undefined);
    a.child.stdin.end();
    await finishPeer(a, 'A');
    await slotsBack(q, "this process's slots to go back");
    s = q.stats();
    assert.deepEqual(
      { length: s.length, bytesUsed: s.bytesUsed, sent: s.sent, received: s.received, producerSlots: s.producerSlots, consumerSlots: s.consumerSlots },
      { length: 0, bytesUsed: 0, sent: 4, received: 4, producerSlots: 0, consumerSlots: 0 },
    );
  } finally {
    b?.close();
    c?.close();
    await reap(...procs);
    dispose();
  }
});

test('no lock across a copy (consumers): B receives at once while A holds a peeked message; after A releases, the queue is empty and nothing came twice', async () => {
  const { name, q, dispose } = makeQueue('qs-ccopy', { capacity: 4096 });
  const procs = [];
  let b;
  try {
    const msgs = ['one', 'two', 'three'];
    for (const m of msgs) assert.ok(q.trySend(m));
    const a = startPeer(procs, ['hold-peek', name]);
    assert.equal(await a.line(/^peeked /), `peeked ${Buffer.from('one').toString('hex')}`);
    let s = q.stats();
    assert.equal('consumerPid' in s, false, 'stats() still reports a consumer role');
    assert.equal(s.consumerSlots, 1, "A's peek holds one consumer slot");

    b = Queue.open(name);
    const t0 = performance.now();
    assert.equal(b.tryReceive()?.toString(), 'two', "B's tryReceive was turned away while A held a peeked message");
    assert.equal(b.receiveSync({ timeout: 2000 }).toString(), 'three');
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `B needed ${ms.toFixed(0)} ms for two waiting messages`);
    assert.equal(b.tryReceive(), undefined, "A's peeked message was given to B as well");
    // Waiting looks for dead peers every 250 ms: a live peeker's message must stay its own.
    assert.throws(() => b.receiveSync({ timeout: 700 }), expectCode('ETIMEDOUT'));
    // Nothing else is waiting (A's message may or may not be counted as received before its release).
    assert.ok(q.length <= 1, `length ${q.length}`);
    // bytesUsed is RESERVE - CLAIM: A's message was taken, so nothing is counted,
    // though its cell is not free until A releases it.
    assert.equal(q.bytesUsed, 0);

    a.send('release\n');
    await a.line(/^released$/);
    assert.equal(b.tryReceive(), undefined, 'a message came twice');
    a.child.stdin.end();
    await finishPeer(a, 'A');
    await slotsBack(q, "this process's slots to go back");
    s = q.stats();
    assert.deepEqual(
      { length: s.length, bytesUsed: s.bytesUsed, sent: s.sent, received: s.received, consumerSlots: s.consumerSlots },
      { length: 0, bytesUsed: 0, sent: 3, received: 3, consumerSlots: 0 },
    );
  } finally {
    b?.close();
    await reap(...procs);
    dispose();
  }
});

// ---- 3. SIGSTOP with a claim open ----------------------------------------------------

/** The state letter of process `pid` (/proc/PID/stat, third field): 'T' when stopped. */
function procState(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

test('a producer SIGSTOPped holding an open reservation blocks no other producer: every trySend of two producer processes succeeds; after SIGCONT and commit everything arrives, its message first', async (t) => {
  const A_SEED = 606;
  const A_LEN = 200;
  const PER = 400; // 2 x 400 messages of at most 300 bytes (5 cells) + A's 4 cells < 4096 cells: never full
  const SEEDS = [701, 702];
  const { name, q, dispose } = makeQueue('qs-pstop', { capacity: 1 << 18 });
  const procs = [];
  let a;
  try {
    a = startPeer(procs, ['hold-reserve', name, A_SEED, A_LEN]);
    await a.line(/^reserved$/);
    process.kill(a.child.pid, 'SIGSTOP');
    await waitUntil(() => procState(a.child.pid) === 'T', STEP_MS, 'A to be stopped');
    assert.equal(q.stats().producerSlots, 1, "the stopped producer's slot is held (it is alive)");

    // Two producer processes, one trySend per turn each, while A is stopped.
    const producers = SEEDS.map((seed) => startPeer(procs, ['try-producer', name, seed, PER, 300]));
    const reports = [];
    for (const [i, p] of producers.entries()) reports.push(JSON.parse((await finishPeer(p, `producer ${SEEDS[i]}`, 30000)).at(-1)));
    assert.equal(procState(a.child.pid), 'T', 'A ran again before the producers were done');
    const calls = reports.reduce((n, r) => n + r.calls, 0);
    t.diagnostic(`while A was stopped: ${calls} trySend() calls for ${SEEDS.length * PER} messages; false: ${JSON.stringify(reports.map((r) => r.results))}`);
    assert.deepEqual(reports.map((r) => r.results), [{}, {}], 'a trySend() returned false while a stopped producer held a reservation');
    // This process too, through the blocking paths (ETIMEDOUT if A's reservation blocked them).
    const mine = [0, 1].map((seq) => makeMessage(A_SEED + 1, seq, sizeOf(A_SEED + 1, seq, 12, 300)));
    q.sendSync(mine[0], { timeout: 1000 });
    await q.send(mine[1], { timeout: 1000 });
    assert.equal(q.length, SEEDS.length * PER + 2);

    // Consumers take in ring order: nothing past A's record while A is stopped
    // (alive: waiting, which looks for dead peers every 250 ms, must not take its claim).
    assert.equal(q.tryReceive(), undefined, "a consumer got a message past a stopped producer's reservation");
    assert.throws(() => q.receiveSync({ timeout: 600 }), expectCode('ETIMEDOUT'));

    process.kill(a.child.pid, 'SIGCONT');
    a.send('commit\n');
    await a.line(/^committed$/);
    const got = [];
    for (let m; (m = q.tryReceive()) !== undefined;) got.push(m);
    assert.equal(got.length, 1 + SEEDS.length * PER + 2, 'not every message arrived');
    assert.equal(checkMessage(got[0], A_SEED, 0, A_LEN), null, "A's message is not the first");
    const next = new Map();
    const problems = [];
    for (const m of got.slice(1)) {
      const { seed, seq, error } = parseMessage(m, 12, 300);
      const want = next.get(seed) ?? 0;
      if (error || seq !== want) problems.push(error ?? `stream ${seed}: seq ${seq} where ${want} was expected`);
      next.set(seed, seq + 1);
    }
    assert.deepEqual(problems.slice(0, 10), []);
    assert.deepEqual([...next.entries()].sort(), [...SEEDS.map((sd) => [sd, PER]), [A_SEED + 1, 2]].sort());
    a.child.stdin.end();
    await finishPeer(a, 'A');
    await slotsBack(q, "this process's slots to go back");
    const s = q.stats();
    assert.deepEqual([s.length, s.bytesUsed, s.producerSlots, s.consumerSlots], [0, 0, 0, 0]);
  } finally {
    if (a?.alive()) process.kill(a.child.pid, 'SIGCONT'); // a stopped child would only die of SIGKILL
    await reap(...procs);
    dispose();
  }
});

// ---- 4, 5. SIGKILL with a claim open -------------------------------------------------

// When B's messages go in, relative to A's death: 'before' the kill (only the
// parked consumer's periodic look for dead peers can find the dead claim:
// nobody else touches the queue after the kill), right 'after' the kill
// signal (A is usually still dying), or once A was 'reaped' (the consumer
// that B's messages wake finds the dead claim at CLAIM). B itself never meets
// A's claim: it is behind RESERVE, and B claims after it.
test('a producer SIGKILLed between reserve and commit blocks nobody for more than 1 s; its message never appears', async (t) => {
  const K = 20;
  const A_SEED = 303;
  const B_SEED = 404;
  const rounds = [
    { api: 'async', send: 'before' },
    { api: 'sync', send: 'before' },
    { api: 'async', send: 'after' },
    { api: 'sync', send: 'reaped' },
  ];
  for (const { api, send } of rounds) {
    const { name, q, dispose } = makeQueue('qs-pkill', { capacity: 16384 });
    const procs = [];
    let b;
    try {
      const c = startPeer(procs, ['collect', name, api]);
      const a = startPeer(procs, ['hold-reserve', name, A_SEED, 200]);
      await Promise.all([c.line(/^waiting$/), a.line(/^reserved$/)]);
      await parkedConsumer(name, 'the consumer to park');
      b = Queue.open(name);
      const msgs = Array.from({ length: K }, (_, k) => makeMessage(B_SEED, k, sizeOf(B_SEED, k, 1, 300)));
      const sendAll = () => {
        for (const m of msgs) b.sendSync(m, { timeout: 2000 });
      };
      if (send === 'before') {
        sendAll();
        await sleep(300); // the consumer was woken, found A's claim in the way and parked again
        assert.equal(c.stdout.includes('got '), false, "a message went past A's open reservation");
        assert.equal(q.stats().producerSlots, 1);
      }
      const killedAt = now();
      a.kill();
      if (send === 'reaped') await killedOk(a, 'A');
      if (send !== 'before') sendAll();
      b.close();
      b = undefined;
      const got = receipts((await c.output(new RegExp(`^(got .*\\n){${K}}`, 'm'), STEP_MS)).split('\n'));
      const delay = got[0].at - killedAt;
      t.diagnostic(`${api} receive, B sent ${send === 'before' ? 'before the kill' : send === 'after' ? 'right after the kill' : 'after A was reaped'}: ` +
        `first message ${delay.toFixed(1)} ms after the kill`);
      q.end();
      const lines = await finishPeer(c, 'consumer');
      if (send !== 'reaped') await killedOk(a, 'A');
      assert.equal(lines.at(-1), 'ended');
      assert.deepEqual(receipts(lines).map((g) => g.hex), msgs.map(hex), "the consumer did not get exactly B's messages, in order (A's message appeared, or one was lost)");
      assert.ok(delay < 1000, `the first message after the killed producer's claim arrived ${delay.toFixed(0)} ms after the kill`);
      const s = q.stats();
      assert.deepEqual(
        { length: s.length, bytesUsed: s.bytesUsed, producerSlots: s.producerSlots, consumerSlots: s.consumerSlots },
        { length: 0, bytesUsed: 0, producerSlots: 0, consumerSlots: 0 },
      );
    } finally {
      b?.close();
      await reap(...procs);
      dispose();
    }
  }
});

// More messages go in 'never' until the peeked one came again (only the
// parked consumer's periodic look for dead peers can find the dead claim: it
// is behind CLAIM), right 'after' the kill signal, or once A was 'reaped'.
test('a consumer SIGKILLed between peek and release: its message goes to another consumer within 1 s; the others once', async (t) => {
  const SEED = 505;
  const rounds = [
    { api: 'async', send: 'never' },
    { api: 'sync', send: 'never' },
    { api: 'async', send: 'after' },
    { api: 'sync', send: 'reaped' },
  ];
  for (const { api, send } of rounds) {
    const { name, q, dispose } = makeQueue('qs-ckill', { capacity: 16384 });
    const procs = [];
    try {
      const msgs = Array.from({ length: 8 }, (_, k) => makeMessage(SEED, k, sizeOf(SEED, k, 1, 300)));
      const M = msgs[0];
      for (const m of msgs.slice(0, 4)) q.sendSync(m, { timeout: 1000 });
      const a = startPeer(procs, ['hold-peek', name]);
      assert.equal(await a.line(/^peeked /), `peeked ${hex(M)}`);
      // B takes the three after M and parks.
      const c = startPeer(procs, ['collect', name, api]);
      await c.output(/^(got .*\n){3}/m);
      await parkedConsumer(name, 'the consumer to park');
      await sleep(300); // B's repair ran at least once while A was alive: M must stay A's
      assert.equal(c.stdout.split('\n').filter((l) => l.startsWith('got ')).length, 3, "B got A's peeked message while A was alive");
      const killedAt = now();
      a.kill();
      if (send === 'reaped') await killedOk(a, 'A');
      const rest = () => {
        for (const m of msgs.slice(4)) q.sendSync(m, { timeout: 1000 });
      };
      if (send !== 'never') rest();
      const again = receipts([await c.line(new RegExp(`^got ${hex(M)} `), STEP_MS)])[0];
      const delay = again.at - killedAt;
      if (send === 'never') rest();
      q.end();
      const lines = await finishPeer(c, 'consumer');
      if (send !== 'reaped') await killedOk(a, 'A');
      assert.equal(lines.at(-1), 'ended');
      const got = receipts(lines);
      t.diagnostic(`${api} receive, more messages sent ${send === 'never' ? 'only after it' : send === 'after' ? 'right after the kill' : 'after A was reaped'}: ` +
        `the peeked message came again ${delay.toFixed(1)} ms after the kill, as #${got.findIndex((g) => g.hex === hex(M)) + 1} of ${got.length}`);
      assert.deepEqual(got.map((g) => g.hex).sort(), msgs.map(hex).sort(), 'not every message exactly once');
      assert.deepEqual(got.slice(0, 3).map((g) => g.hex), msgs.slice(1, 4).map(hex));
      assert.ok(delay < 1000, `the killed consumer's message was delivered again ${delay.toFixed(0)} ms after the kill`);
      const s = q.stats();
      assert.deepEqual(
        { length: s.length, bytesUsed: s.bytesUsed, consumerSlots: s.consumerSlots },
        { length: 0, bytesUsed: 0, consumerSlots: 0 },
      );
    } finally {
      await reap(...procs);
      dispose();
    }
  }
});

// ---- 6. random SIGKILLs ----------------------------------------------------------

test('2 producers and 2 consumers SIGKILLed 24 times at random and respawned: every message sent arrives intact, in order per consumer, twice only after a killed peek; the drained ring is empty', { timeout: 120000 }, async (t) => {
  const KILLS = 24;
  const MIN = 12;
  const MAX = 400;
  const { name, q, dispose } = makeQueue('qs-chaos', { capacity: 16384 });
  const incs = []; // every incarnation: { role 'P' | 'C', id, proc, killed, ready, progress }
  const current = []; // the live one of each of the 4 places
  let nextId = 1;
  let lastReceiptAt = 0;
  let maxGap = 0; // longest time without a receipt once all four were running (diagnostic)
  let gapsFrom = Infinity;
  const spawn = (role) => {
    const id = nextId++;
    const cfg = role === 'P' ? { id, min: MIN, max: MAX, hold: 0.5 } : { min: MIN, max: MAX, hold: 0.5 };
    const proc = startNode(PEER, [role === 'P' ? 'producer' : 'consumer', name, JSON.stringify(cfg)], { timeoutMs: 100000, waitMs: 20000 });
    const inc = { role, id, proc, killed: false, ready: false, progress: 0 };
    proc.line(/^ready$/).then(() => (inc.ready = true), () => {});
    proc.child.stdout.on('data', (d) => {
      const text = d.toString();
      const n = (text.match(role === 'P' ? /^s /gm : /^[GP] /gm) ?? []).length;
      if (n > 0) {
        inc.progress += n;
        if (role === 'C') {
          const at = performance.now();
          if (lastReceiptAt >= gapsFrom) maxGap = Math.max(maxGap, at - lastReceiptAt);
          lastReceiptAt = at;
        }
      }
    });
    incs.push(inc);
    return inc;
  };
  const crashed = () => incs.filter((i) => !i.killed && i.proc.exited);
  const body = async () => {
    for (const role of ['P', 'P', 'C', 'C']) current.push(spawn(role));
    await waitUntil(() => {
      if (crashed().length) throw new Error(`a child exited on its own:\n${crashed()[0].proc.stderr}`);
      return current.every((i) => i.progress > 0);
    }, 20000, 'every child to send or receive a first message');
    gapsFrom = performance.now(); // measure stalls from here on

    let kills = 0;
    const t0 = performance.now();
    while (kills < KILLS) {
      await sleep(randomInt(50, 301));
      if (crashed().length) throw new Error(`a child exited on its own:\n${crashed()[0].proc.stderr}`);
      if (performance.now() - t0 > 40000) throw new Error(`only ${kills} kills in 40 s: children do not get ready`);
      const ready = current.map((inc, place) => ({ inc, place })).filter(({ inc }) => inc.ready);
      if (ready.length === 0) continue;
      const { inc: victim, place } = ready[randomInt(ready.length)];
      victim.killed = true;
      victim.proc.kill();
      kills++;
      current[place] = spawn(victim.role);
    }
    const loopMs = performance.now() - t0;

    // After the last kill, every live process still makes progress (nothing hangs).
    const base = current.map((i) => i.progress);
    await waitUntil(() => {
      if (crashed().length) throw new Error(`a child exited on its own:\n${crashed()[0].proc.stderr}`);
      return current.every((i, k) => i.progress > base[k] + 5);
    }, 20000, 'every live child to go on after the last kill');

    // Stop the producers, then the consumers, then drain with a fresh consumer.
    for (const i of current.filter((i) => i.role === 'P')) i.proc.send('stop\n');
    for (const i of current.filter((i) => i.role === 'P')) assert.equal((await finishPeer(i.proc, `producer ${i.id}`)).at(-1), 'done');
    for (const i of current.filter((i) => i.role === 'C')) i.proc.send('stop\n');
    for (const i of current.filter((i) => i.role === 'C')) assert.equal((await finishPeer(i.proc, `consumer ${i.id}`)).at(-1), 'done');
    for (const i of incs.filter((i) => i.killed)) await killedOk(i.proc, `${i.role} ${i.id}`);

    const drained = [];
    const d = Queue.open(name);
    try {
      for (;;) {
        let m;
        try {
          m = d.receiveSync({ timeout: 1500 }); // long enough for the 250 ms repairs to clear dead claims
        } catch (err) {
          if (err.code === 'ETIMEDOUT') break;
          throw err;
        }
        const r = parseMessage(m, MIN, MAX);
        drained.push(r.error ? `E ${r.error}` : `G ${r.seed} ${r.seq}`);
        if (drained.length > 100000) throw new Error('the drain does not end');
      }
    } finally {
      d.close();
    }
    await slotsBack(q, "the drain's slots to go back");
    return { kills, loopMs, drained };
  };

  try {
    const t0 = performance.now();
    const { kills, loopMs, drained } = await withTimeout(body(), 90000, 'the kill loop, stop and drain');
    const totalMs = performance.now() - t0;

    // ---- the logs --------------------------------------------------------------
    const problems = [];
    const producers = new Map(); // id -> { sent: last seq reported sent, killed, lastLine }
    const consumers = []; // { id, killed, lines }
    for (const inc of incs) {
      const { stdout } = await inc.proc.done;
      const lines = stdout.split('\n').filter(Boolean);
      if (inc.role === 'P') {
        let sent = -1;
        for (const l of lines) {
          const m = /^(s|r) (\d+)$/.exec(l);
          if (m) {
            const seq = Number(m[2]);
            if (m[1] === 's') {
              if (seq !== sent + 1) problems.push(`producer ${inc.id}: sent ${seq} after ${sent}`);
              sent = seq;
            }
          } else if (l !== 'ready' && l !== 'done') problems.push(`producer ${inc.id}: odd line ${l}`);
        }
        producers.set(inc.id, { sent, killed: inc.killed, lastLine: lines.at(-1) ?? '' });
      } else {
        consumers.push({ id: inc.id, killed: inc.killed, lines });
      }
    }
    consumers.push({ id: 'drain', killed: false, lines: drained });

    const byMessage = new Map(); // "seed seq" -> [{ consumer, maybeUnreleased }]
    let consumerKills = 0;
    let midPeekKills = 0;
    let midReceiveKills = 0; // the victim was inside receiveSync, or had just returned from it
    let outOfOrder = 0;
    let receiptCount = 0;
    for (const c of consumers) {
      const last = c.lines.at(-1) ?? '';
      if (c.killed) {
        consumerKills++;
        if (last === 'W') midReceiveKills++;
        if (last.startsWith('P ')) midPeekKills++;
      }
      const maxSeen = new Map();
      for (const [j, l] of c.lines.entries()) {
        if (l === 'ready' || l === 'done' || l === 'W' || l === 'T') continue;
        const m = /^([GP]) (\d+) (\d+)$/.exec(l);
        if (!m) {
          problems.push(`consumer ${c.id}: ${l.startsWith('E ') ? 'bad message' : 'odd line'} ${l}`);
          continue;
        }
        receiptCount++;
        const seed = Number(m[2]);
        const seq = Number(m[3]);
        const p = producers.get(seed);
        if (!p || seq > p.sent + (p.killed ? 1 : 0)) {
          problems.push(`consumer ${c.id} received (${seed}, ${seq}), which producer ${seed} never sent (last sent: ${p?.sent})`);
          continue;
        }
        const key = `${seed} ${seq}`;
        if (!byMessage.has(key)) byMessage.set(key, []);
        // A message peeked and printed as the very last line of a killed consumer may not have been released.
        byMessage.get(key).push({ consumer: c.id, maybeUnreleased: c.killed && m[1] === 'P' && j === c.lines.length - 1 });
        const prev = maxSeen.get(seed) ?? -1;
        if (seq === prev) problems.push(`consumer ${c.id} received (${seed}, ${seq}) twice in a row`);
        else if (seq < prev) outOfOrder++; // only an orphan of a killed consumer may come late
        else maxSeen.set(seed, seq);
      }
    }

    let sentTotal = 0;
    let producerKills = 0;
    let midReserveKills = 0;
    const missing = [];
    for (const [id, p] of producers) {
      sentTotal += p.sent + 1;
      if (p.killed) {
        producerKills++;
        if (p.lastLine.startsWith('r ')) midReserveKills++;
      }
      for (let seq = 0; seq <= p.sent; seq++) if (!byMessage.has(`${id} ${seq}`)) missing.push(`(${id}, ${seq})`);
    }
    let duplicates = 0;
    for (const [key, list] of byMessage) {
      if (list.length < 2) continue;
      duplicates += list.length - 1;
      const excused = list.filter((r) => r.maybeUnreleased).length;
      if (list.length - 1 > excused) problems.push(`(${key}) received ${list.length} times, by ${list.map((r) => r.consumer).join(', ')}, not explained by a killed peek`);
    }

    const s = q.stats();
    t.diagnostic(`${kills} SIGKILLs in ${loopMs.toFixed(0)} ms (${producerKills} producers, ${midReserveKills} of them between reserve and commit; ` +
      `${consumerKills} consumers, ${midPeekKills} between peek and release, ${midReceiveKills} inside receiveSync); ` +
      `${sentTotal} messages reported sent by ${producers.size} producer incarnations, ${receiptCount} receipts (${drained.length} by the final drain), ` +
      `${duplicates} duplicates, ${outOfOrder} late orphans, ${missing.length} missing; longest gap between receipts ${maxGap.toFixed(0)} ms; ` +
      `stats sent ${s.sent} received ${s.received}; ${totalMs.toFixed(0)} ms in all`);

    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
    // A consumer killed between receiveSync's return and its "G" line took a
    // message nobody logged: at most one per such kill (its last line is "W").
    assert.ok(missing.length <= midReceiveKills, `messages reported sent but never received: ${missing.slice(0, 20).join(' ')} (only ${midReceiveKills} kills could explain a lost log line)`);
    assert.ok(outOfOrder <= consumerKills, `${outOfOrder} messages out of order per producer, more than the ${consumerKills} consumer kills could orphan`);
    assert.ok(kills >= 20);
    assert.ok(producerKills > 0 && consumerKills > 0, `${producerKills} producer and ${consumerKills} consumer kills`);
    assert.ok(sentTotal > 0);
    // Counted before the send returned; a producer killed after its commit but
    // before its "s" line adds at most one more.
    assert.ok(s.sent >= sentTotal && s.sent <= sentTotal + producerKills, `stats().sent ${s.sent} for ${sentTotal} sends reported and ${producerKills} producer kills`);
    assert.deepEqual(
      { length: s.length, bytesUsed: s.bytesUsed, producerSlots: s.producerSlots, consumerSlots: s.consumerSlots },
      { length: 0, bytesUsed: 0, producerSlots: 0, consumerSlots: 0 },
      'after the drain: messages counted as sent but never received (length), or a cursor left behind a dead claim (bytesUsed), or a slot still held',
    );
  } finally {
    await reap(...incs.map((i) => i.proc));
    dispose();
  }
});

test('{ shared } must be a boolean and changes nothing any more: a handle with it, and one without, hold a slot only for the turn that used it', async () => {
  const name = uniqueName('q-shared-opt');
  for (const bad of ['yes', 1, null, {}]) {
    assert.throws(() => Queue.create(name, { capacity: 1024, shared: bad }), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `shared: ${String(bad)}`);
  }
  assert.equal(existsSync(`/dev/shm${name}`), false, 'a refused option created the queue');
  const q = Queue.create(name, { capacity: 16384, shared: true }); // 256 cells: 100 one-cell records and a 64-cell one fit
  try {
    for (const shared of [false, true]) Queue.open(name, { shared }).close();
    assert.throws(() => Queue.open(name, { shared: 'true' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    for (const [label, h] of [['shared: true', q], ['no option', Queue.open(name)]]) {
      try {
        for (let i = 0; i < 100; i++) assert.ok(h.trySend(`m${i}`), `${label}: trySend ${i}`);
        assert.equal(h.trySend('m100'.padEnd(4096, '.')), true, `${label}: a 64-cell message fits too`);
        let s = h.stats();
        assert.equal('producerPid' in s, false);
        assert.equal(s.producerSlots, 1, `${label}: the handle holds its producer slot for the turn`);
        assert.equal(s.bytesUsed, 164 * 64);
        for (let i = 0; i < 100; i++) assert.equal(String(h.tryReceive()), `m${i}`);
        assert.equal(h.tryReceive()?.length, 4096);
        assert.equal(h.tryReceive(), undefined);
        await slotsBack(h, `${label}: the slots to go back at the end of the turn`);
        s = h.stats();
        assert.deepEqual([s.producerSlots, s.consumerSlots, s.length, s.bytesUsed], [0, 0, 0, 0]);
      } finally {
        if (h !== q) h.close();
      }
    }
  } finally {
    q.close();
    Queue.unlink(name);
  }
});
