// The robust-list link stored next to a held Mutex's lock word (8 bytes, in
// shared memory) can be overwritten by any process with write access. The
// holder must still unlock, work and end normally: its teardown walk of the
// list (which releases locks still held, as the kernel would) only follows
// links inside mappings it still has, and stops at the first that is not
// (the kernel's own walk at thread exit tolerates such pointers too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { truncateSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Mutex, Segment } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { startNode, reap } from './fixtures/proc.mjs';
import { unlinkQuietly } from './fixtures/helpers.mjs';

const uniqueName = trackedNames();
const PEER = fileURLToPath(new URL('./fixtures/robust-link-peer.mjs', import.meta.url));
const PEER_MAPS = fileURLToPath(new URL('./fixtures/many-mappings-peer.mjs', import.meta.url));
const ROBUST_NEXT = 72; // docs/LAYOUT.md, Mutex: the holder's struct robust_list link

// Pointers a buggy or hostile peer might write: unmapped low memory,
// non-canonical, misaligned, the kernel's half, and a link to itself.
const BAD_LINKS = [
  ['unmapped page', 0x10000n],
  ['non-canonical', 0x4141414141414140n],
  ['misaligned', 0x7f0000000003n],
  ['kernel half', 0xffffffffff600000n],
  ['all ones', 0xffffffffffffffffn],
];

test('a robust-list link overwritten while the Mutex is held: the holder unlocks (or not) and ends (naturally, process.exit, worker.terminate) without a crash; a lock still held is released as owner-died', async () => {
  const failures = [];
  let runs = 0;
  for (const [label, bad] of BAD_LINKS) {
    for (const how of ['unlock', 'hold']) {
      for (const end of ['natural', 'exit', 'worker']) {
        const name = uniqueName(`rlink-${how}-${end}`);
        const m = Mutex.create(name);
        const seg = Segment.open(name);
        const peer = startNode(PEER, [name, how, end], { timeoutMs: 20000 });
        try {
          await peer.line(/^locked$/);
          new DataView(seg.buffer).setBigUint64(ROBUST_NEXT, bad, true);
          peer.send('go\n');
          const r = await peer.done;
          runs++;
          if (r.code !== 0 || r.signal !== null) {
            failures.push(`${label}, ${how}, ${end}: exited ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
            continue;
          }
          // The lock is free (unlocked), or recovered from its dead holder.
          const got = m.tryLock();
          assert.notEqual(got, false, `${label}, ${how}, ${end}: the Mutex stayed locked`);
          assert.equal(got.ownerDied, how === 'hold', `${label}, ${how}, ${end}: ownerDied`);
          m.unlock();
        } finally {
          await reap(peer);
          seg.close();
          m.close();
          unlinkQuietly(name);
        }
      }
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${runs} holders crashed`);
});

test('more than 4 096 live mappings in one process: a segment shrunk by another process still reads zeros in every one of them, no SIGBUS', async () => {
  const COUNT = 4200; // past the fault guard's old fixed table of 4 096
  const name = uniqueName('many-maps');
  const seg = Segment.create(name, { size: 8192 });
  seg.bytes.fill(1);
  const peer = startNode(PEER_MAPS, [name, COUNT], { timeoutMs: 60000, waitMs: 40000 });
  try {
    await peer.line(/^mapped$/);
    truncateSync(`/dev/shm${name}`, 0); // every page of every mapping is gone
    peer.send('go\n');
    const r = await peer.done;
    assert.equal(r.signal, null, `the reader was killed by ${r.signal}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()), { mappings: COUNT, nonZero: 0, faults: COUNT });
  } finally {
    await reap(peer);
    seg.close();
    unlinkQuietly(name);
  }
});
