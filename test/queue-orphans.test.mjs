// Queue layout v3: ORPHANS is a prompt to look for ORPHAN stamps, not a
// count, so a process that dies between making (or taking) an orphan and
// touching ORPHANS can leave nothing stuck:
// 1. ORPHANS changed with no orphan anywhere (a bump whose orphan was taken
//    meanwhile, or garbage): a consumer searches once, then waits parked
//    as on any empty queue (it must not take "ORPHANS moved" as data
//    forever and spin), and still gets the next message.
// 2. An ORPHAN stamp behind CLAIM whose maker died before bumping ORPHANS:
//    a waiting consumer finds it within its periodic check (250 ms slices).
// Both states are made by hand in the ring (docs/LAYOUT.md offsets): the
// deaths they stand for land between two instructions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Segment } from 'shmkit';
import { makeQueue } from './fixtures/queue-handle.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { run } from './fixtures/proc.mjs';
import { CLAIM_OFF, META_OFF, ORPHAN, ORPHANS_OFF } from './fixtures/queue-layout.mjs';

// docs/LAYOUT.md offsets: fixtures/queue-layout.mjs.
const named = trackedNames();

function raw(name) {
  const seg = Segment.open(name);
  return { seg, i32: new Int32Array(seg.buffer) };
}

// The waits run in a child process: a consumer that spins on "ORPHANS
// moved" never gets back to its own timeout, so only a process-level limit
// can end it (the child is SIGKILLed at 20 s and the test fails, instead of
// hanging the suite).
const WAITER = `
import { Queue } from 'shmkit';
const q = Queue.open(process.argv[1]);
const cells = new Int32Array(q.buffer, q.byteOffset, 128);
const out = {};
for (const form of ['sync', 'async']) {
  Atomics.add(cells, ${ORPHANS_OFF} / 4, 12345); // moved, with no orphan anywhere
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let code = null;
  try {
    if (form === 'sync') q.receiveSync({ timeout: 400 });
    else await q.receive({ timeout: 400 });
  } catch (err) {
    code = err.code;
  }
  const cpu = process.cpuUsage(cpu0);
  out[form] = { code, wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}
q.close();
process.stdout.write(JSON.stringify(out));
`;

test('ORPHANS moved with no orphan in the ring: a receive searches once, then parks (no spinning), and gets the next message', { timeout: 60000 }, async () => {
  const h = makeQueue(named, 'orph-none', { capacity: 4096 });
  try {
    const r = await run(process.execPath, ['--input-type=module', '-e', WAITER, h.name], { timeoutMs: 20000 });
    assert.equal(r.code, 0, `the waiting child did not finish (a busy loop ignores its timeout): ${r.code ?? r.signal}\n${r.stderr}`);
    const out = JSON.parse(r.stdout);
    for (const form of ['sync', 'async']) {
      const { code, wallMs, cpuMs } = out[form];
      assert.equal(code, 'ETIMEDOUT', `${form}: the empty queue's receive ended with ${code}`);
      // Parked: a few ms of CPU. Spinning on "ORPHANS moved" would burn about all of the wall time.
      assert.ok(cpuMs < wallMs / 4, `${form}: receive used ${cpuMs.toFixed(0)} ms of CPU in ${wallMs.toFixed(0)} ms waiting on an empty queue`);
    }
    assert.ok(h.q.trySend('after'));
    assert.equal(h.q.receiveSync({ timeout: 2000 }).toString(), 'after');
  } finally {
    h.dispose();
  }
});

test('an ORPHAN behind CLAIM that nobody announced (its maker died before bumping ORPHANS) is received by a waiting consumer within a second', { timeout: 30000 }, async () => {
  const h = makeQueue(named, 'orph-lost', { capacity: 4096 });
  const r = raw(h.name);
  try {
    assert.ok(h.q.trySend('lost and found'));
    // As if a consumer had taken it (CLAIM past it) and died, and its
    // clean-up had made it an ORPHAN but died before the ORPHANS bump.
    const stamp = Atomics.load(r.i32, META_OFF / 4);
    assert.equal(stamp & 63, 1, 'the message is a MESSAGE at cell 0');
    Atomics.store(r.i32, META_OFF / 4, (stamp & ~63) | ORPHAN);
    Atomics.store(r.i32, CLAIM_OFF / 4, 64);
    assert.equal(h.q.tryReceive(), undefined, 'found without any prompt: the test would not show the periodic check');
    const t0 = performance.now();
    const got = await h.q.receive({ timeout: 5000 });
    const took = performance.now() - t0;
    assert.equal(got.toString(), 'lost and found');
    assert.ok(took < 1000, `found after ${took.toFixed(0)} ms`);
    assert.equal(h.q.tryReceive(), undefined);
    assert.equal(h.q.length, 0);
  } finally {
    r.seg.close();
    h.dispose();
  }
});
