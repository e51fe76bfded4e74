// A segment larger than one typed array may be (Node 20: 2^32 bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statfsSync, readFileSync } from 'node:fs';
import { Segment } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { runNode } from './fixtures/proc.mjs';

const PEER = new URL('./fixtures/segment-peer.mjs', import.meta.url).pathname;
const SIZE = 5 * 2 ** 30;

// Whether the machine has room is a machine-wide question: these figures only
// decide whether to run (5 GiB of tmpfs with no swap would otherwise call the
// OOM killer on someone), the test asserts nothing on them.
function roomReason() {
  const fs = statfsSync('/dev/shm');
  const free = fs.bavail * fs.bsize;
  const available = Number(/MemAvailable:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))[1]) * 1024;
  if (free < SIZE * 1.1) return `/dev/shm has ${(free / 2 ** 30).toFixed(1)} GiB free, needs 5.5`;
  if (available < SIZE * 1.2) return `only ${(available / 2 ** 30).toFixed(1)} GiB of memory available, needs 6`;
  return null;
}

test('a 5 GiB segment: last byte written here, read and rewritten by another process', async (t) => {
  const reason = roomReason();
  if (reason) return t.skip(reason);
  const name = uniqueName('5gib');
  let seg;
  try {
    seg = Segment.create(name, { size: SIZE });
  } catch (err) {
    // Another process (a parallel test run) may have taken the room since the check.
    const now = err.code === 'ENOSPC' || err.code === 'ENOMEM' ? roomReason() : null;
    if (now) return t.skip(`${err.code} at create: ${now}`);
    throw err;
  }
  try {
    assert.equal(seg.size, SIZE);
    assert.equal(seg.buffer.byteLength, SIZE);
    // One typed array cannot span it in Node 20: .bytes says so clearly.
    assert.throws(() => seg.bytes, { code: 'ERR_OUT_OF_RANGE', name: 'RangeError' });
    const tail = new Uint8Array(seg.buffer, SIZE - 16, 16);
    tail[15] = 0xab;
    const seen = await runNode(PEER, ['last-byte', name, 0xcd], { timeoutMs: 60000 });
    assert.equal(Number(seen), 0xab);
    assert.equal(tail[15], 0xcd);
  } finally {
    seg.close();
    Segment.unlink(name);
  }
});
