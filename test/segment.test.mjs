// POSIX segments: sharing across processes and threads, lifetime, and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Segment, ShmkitError } from 'shmkit';
import { processShmNames, uniqueName } from './fixtures/names.mjs';
import { unlinkQuietly } from './fixtures/helpers.mjs';
import { runNode } from './fixtures/proc.mjs';

const PEER = new URL('./fixtures/segment-peer.mjs', import.meta.url).pathname;

test('create, open, write both ways between two processes', async () => {
  const name = uniqueName('rw');
  const seg = Segment.create(name, { size: 4096 });
  try {
    assert.equal(seg.size, 4096);
    assert.equal(seg.name, name);
    assert.equal(seg.readOnly, false);
    assert.ok(existsSync(`/dev/shm${name}`), 'visible in /dev/shm');
    assert.ok(seg.bytes.every((b) => b === 0), 'starts zeroed');
    const text = 'from the parent';
    Buffer.from(text).copy(seg.bytes, 0);
    const out = await runNode(PEER, ['rw', name, text.length, 'from the child'], { timeoutMs: 10000 });
    assert.equal(out, text);
    assert.equal(Buffer.from(seg.bytes.subarray(0, 14)).toString(), 'from the child');
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
});

test('Atomics.store in one process is seen by Atomics.load in another', async () => {
  const name = uniqueName('atomics');
  const seg = Segment.create(name, { size: 64 });
  try {
    const cells = new Int32Array(seg.buffer, 0, 4);
    const child = runNode(PEER, ['atomics', name], { timeoutMs: 15000 });
    Atomics.store(cells, 0, 41);
    await child;
    assert.equal(Atomics.load(cells, 1), 42);
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
});

test('a segment posted to a worker thread is the same memory', async () => {
  const name = uniqueName('worker');
  const seg = Segment.create(name, { size: 4096 });
  try {
    const cells = new Int32Array(seg.buffer);
    Atomics.store(cells, 0, 7);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const cells = new Int32Array(workerData);
       Atomics.store(cells, 1, Atomics.load(cells, 0) * 6);
       parentPort.postMessage(workerData.byteLength);`,
      { eval: true, workerData: seg.buffer },
    );
    const length = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('worker timed out')), 10000);
      worker.once('message', (m) => (clearTimeout(timer), resolve(m)));
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.equal(length, 4096);
    assert.equal(Atomics.load(cells, 1), 42);
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
});

test('names are normalised, mode is exact, stat/chmod report truthfully', () => {
  const bare = uniqueName('norm').slice(1);
  const seg = Segment.create(bare, { size: 100, mode: 0o640 });
  try {
    assert.equal(seg.name, `/${bare}`);
    const st = seg.stat();
    assert.deepEqual(st, { size: 100, mode: 0o640, uid: process.getuid(), gid: process.getgid() });
    seg.chmod(0o600);
    assert.equal(seg.stat().mode, 0o600);
    const listed = Segment.list().find((s) => s.name === `/${bare}`);
    assert.ok(listed, 'listed');
    assert.equal(listed.size, 100);
    assert.equal(listed.mode, 0o600);
    assert.equal(listed.shmkit, null, 'raw bytes are not a shmkit object');
    const again = Segment.open(`/${bare}`);
    assert.equal(again.size, 100);
    again.close();
  } finally {
    seg.close();
    unlinkQuietly(bare);
  }
});

test('Segment.list recognises a shmkit header', () => {
  const name = uniqueName('hdr');
  const seg = Segment.create(name, { size: 128 });
  try {
    const view = new DataView(seg.buffer);
    view.setUint16(4, 1, true); // version
    view.setUint16(6, 7, true); // kind: Queue
    view.setUint32(0, 0x4b4d4853, true); // magic last
    const listed = Segment.list().find((s) => s.name === name);
    assert.deepEqual(listed.shmkit, { kind: 'Queue', version: 1 });
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
});

test('openOrCreate creates once, then opens', () => {
  const name = uniqueName('ooc');
  const a = Segment.openOrCreate(name, { size: 256 });
  const b = Segment.openOrCreate(name, { size: 256 });
  try {
    a.bytes[10] = 99;
    assert.equal(b.bytes[10], 99);
  } finally {
    a.close();
    b.close();
    unlinkQuietly(name);
  }
});

test('after close(), old views do not crash and the handle refuses use', () => {
  const name = uniqueName('closed');
  const seg = Segment.create(name, { size: 8192 });
  const peer = Segment.open(name);
  try {
    const bytes = seg.bytes;
    const ints = new Int32Array(seg.buffer);
    bytes[0] = 5;
    seg.close();
    assert.equal(bytes[0], 0, 'stale view reads zeros');
    bytes[1] = 9;
    Atomics.store(ints, 100, 3);
    assert.equal(bytes[1], 9, 'stale view is private memory');
    assert.equal(peer.bytes[1], 0, 'stale writes never reach the segment');
    assert.equal(peer.bytes[0], 5, 'the segment kept its data');
    assert.equal(seg.closed, true);
    for (const use of [() => seg.buffer, () => seg.bytes, () => seg.fd, () => seg.stat(), () => seg.chmod(0o600)]) {
      assert.throws(use, { code: 'ERR_SHMKIT_CLOSED' });
    }
    seg.close(); // idempotent
  } finally {
    peer.close();
    unlinkQuietly(name);
  }
});

test('unlinked memory is freed when the last user closes: close() drops the mapping and the descriptor', () => {
  // The kernel frees an unlinked object when no descriptor and no mapping
  // refers to it. This process is its only user: its own figures (not the
  // machine's Shmem, which every other process moves) show both go at close().
  const name = uniqueName('free');
  const size = 64 << 20;
  const seg = Segment.create(name, { size });
  try {
    seg.unlink();
    assert.ok(!existsSync(`/dev/shm${name}`));
    seg.bytes.fill(1); // still usable after unlink; every page now counts in this process's RssShmem
    const gone = `/dev/shm${name} (deleted)`;
    const before = ownShmemUse(gone);
    assert.equal(before.mappings, 1, 'mapped once while open');
    assert.equal(before.fds, 1, 'one descriptor while open');
    seg.close();
    const after = ownShmemUse(gone);
    assert.deepEqual({ mappings: after.mappings, fds: after.fds }, { mappings: 0, fds: 0 }, 'nothing of this process refers to the object');
    const droppedKb = before.rssShmemKb - after.rssShmemKb;
    assert.ok(droppedKb >= (size >> 10) - 1024, `RssShmem dropped by ${droppedKb} kB, expected about ${size >> 10}`);
  } finally {
    seg.close();
  }
});

/** This process's references to the file `path` (mappings, descriptors) and its RssShmem. */
function ownShmemUse(path) {
  const mappings = readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(` ${path}`)).length;
  let fds = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) fds++;
    } catch {
      // the descriptor readdir itself used, closed already
    }
  }
  const rssShmemKb = Number(/^RssShmem:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
  return { mappings, fds, rssShmemKb };
}

test('a read-only open never writes the shared object and never crashes', () => {
  const name = uniqueName('ro');
  const seg = Segment.create(name, { size: 8192 });
  try {
    seg.bytes[0] = 1;
    const ro = Segment.open(name, { readOnly: true });
    assert.equal(ro.readOnly, true);
    assert.equal(ro.bytes[0], 1);
    seg.bytes[4096] = 2;
    assert.equal(ro.bytes[4096], 2, 'sees updates on pages it never wrote');
    ro.bytes[0] = 99;
    assert.equal(ro.bytes[0], 99, 'the write lands privately');
    assert.equal(seg.bytes[0], 1, 'the shared object is unchanged');
    ro.close();
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
});

test('bad input gets a clear error and changes nothing', () => {
  const name = uniqueName('bad');
  const before = processShmNames(); // this process's names only: other processes come and go in /dev/shm
  const cases = [
    [() => Segment.create(undefined, { size: 1 }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => Segment.create('', { size: 1 }), TypeError, 'ERR_INVALID_ARG_VALUE'],
    [() => Segment.create('/', { size: 1 }), TypeError, 'ERR_INVALID_ARG_VALUE'],
    [() => Segment.create('/a/b', { size: 1 }), TypeError, 'ERR_INVALID_ARG_VALUE'],
    [() => Segment.create('..', { size: 1 }), TypeError, 'ERR_INVALID_ARG_VALUE'],
    [() => Segment.create('x'.repeat(256), { size: 1 }), ShmkitError, 'ENAMETOOLONG'],
    [() => Segment.create(name), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => Segment.create(name, { size: 0 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => Segment.create(name, { size: -4096 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => Segment.create(name, { size: 1.5 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => Segment.create(name, { size: '10' }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => Segment.create(name, { size: 2 ** 60 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => Segment.create(name, { size: 1, mode: 0o1777 }), RangeError, 'ERR_OUT_OF_RANGE'],
    [() => Segment.create(name, { size: 2 ** 50 }), ShmkitError, 'ENOSPC'],
    [() => Segment.open(name), ShmkitError, 'ENOENT'],
    [() => Segment.open(name, { readOnly: 'yes' }), TypeError, 'ERR_INVALID_ARG_TYPE'],
    [() => Segment.unlink(name), ShmkitError, 'ENOENT'],
    [() => Segment.anonymous({ size: 0 }), RangeError, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [fn, type, code] of cases) {
    assert.throws(fn, (err) => {
      assert.ok(err instanceof type, `${fn}: ${err}`);
      assert.equal(err.code, code, `${fn}`);
      assert.ok(err.message.length > 10);
      return true;
    });
  }
  const seg = Segment.create(name, { size: 10 });
  try {
    assert.throws(() => Segment.create(name, { size: 10 }), { code: 'EEXIST', syscall: 'shm_open', path: name });
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
  assert.deepEqual(processShmNames(), before, 'no failed call left anything behind');
});

test('Symbol.dispose closes the segment', () => {
  const name = uniqueName('dispose');
  let seen;
  {
    const seg = Segment.create(name, { size: 16 });
    seen = seg;
    seg[Symbol.dispose]();
  }
  assert.equal(seen.closed, true);
  unlinkQuietly(name);
});

test('Symbol.asyncDispose closes segments, attachments and primitives', async () => {
  const { Mutex, SysVSegment } = await import('shmkit');
  const name = uniqueName('adispose');
  const seg = Segment.create(name, { size: 16 });
  const m = Mutex.init(new SharedArrayBuffer(Mutex.byteLength()), 0);
  const shm = SysVSegment.get('private', { size: 16 });
  const at = shm.attach();
  try {
    await seg[Symbol.asyncDispose]();
    await m[Symbol.asyncDispose]();
    await at[Symbol.asyncDispose]();
    assert.equal(seg.closed, true);
    assert.equal(m.closed, true);
    assert.equal(at.detached, true);
  } finally {
    shm.remove();
    unlinkQuietly(name);
  }
});
