// Interop with Python's multiprocessing.shared_memory.SharedMemory: both sides
// are plain shm_open + mmap of the same /dev/shm object, byte 0 = byte 0.
//
// Python < 3.13 registers every SharedMemory it *attaches* (not only the ones
// it creates) with its resource tracker, which unlinks them when the Python
// process exits and warns "leaked shared_memory objects". The peer script
// (fixtures/py_shm_peer.py) therefore calls
// resource_tracker.unregister(shm._name, 'shared_memory') right after
// attaching; the third test shows what happens without it.
//
// Timing note: the tracker is a separate process that inherits Python's
// stderr. run() resolves on 'close', i.e. once every holder of the stdout and
// stderr pipes is gone, so when it resolves the tracker has finished its
// cleanup and its warnings are in r.stderr. Checks of /dev/shm made after that
// are not racing the tracker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Segment } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { STEP_MS, hex, unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';
import { run } from './fixtures/proc.mjs';

const PEER = fileURLToPath(new URL('./fixtures/py_shm_peer.py', import.meta.url));
const PY_TIMEOUT_MS = 10000;
const TRACKER_WARNING = /resource_tracker|leaked shared_memory/;

const bare = (name) => name.slice(1);
const devShm = (name) => `/dev/shm${name}`;

function peer(args) {
  return run('python3', [PEER, ...args.map(String)], { timeoutMs: PY_TIMEOUT_MS });
}

function parseReport(r) {
  assert.equal(r.code, 0, `python peer exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

// Skip (not fail) only when there is no usable python3 at all.
let pythonSkip = false;
try {
  const r = await run('python3', ['-c', 'import sys, multiprocessing.shared_memory; print("%d.%d" % sys.version_info[:2])'], {
    timeoutMs: PY_TIMEOUT_MS,
  });
  if (r.code !== 0) pythonSkip = `python3 cannot import multiprocessing.shared_memory: ${r.stderr.trim()}`;
} catch (err) {
  pythonSkip = `python3 not runnable: ${err.message}`;
}

test('Python attaches to a segment shmkit created: reads its bytes, writes back', { skip: pythonSkip }, async () => {
  const name = uniqueName('py-attach');
  const size = 1000; // deliberately not a multiple of the page size
  const seg = Segment.create(name, { size });
  try {
    const pattern = Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);
    seg.bytes.set(pattern);
    const fromPython = Buffer.from('python->shmkit ok', 'latin1');
    const at = 500;

    // Python checks all 1000 bytes (exit 3 on mismatch) and reports them too.
    const r = await peer(['attach', bare(name), hex(pattern), at, fromPython.toString('hex')]);
    const info = parseReport(r);
    assert.equal(info.read, hex(pattern));
    // On Linux, SharedMemory.size is fstat's st_size, exactly what was
    // ftruncate'd: 1000, not rounded up to a page. (Page rounding happens on
    // macOS, where fstat reports the rounded size.) Its buffer has that length.
    assert.equal(info.size, seg.size);
    assert.equal(info.size, 1000);
    assert.equal(info.buflen, 1000);
    // The name Python used for register()/unregister() is shmkit's "/name".
    assert.equal(info.private_name, name);
    assert.equal(info.name, bare(name));

    // shmkit's live mapping sees what Python wrote; the rest is untouched.
    assert.equal(hex(seg.bytes.subarray(at, at + fromPython.length)), fromPython.toString('hex'));
    const expected = Buffer.from(pattern);
    fromPython.copy(expected, at);
    assert.equal(hex(seg.bytes), expected.toString('hex'));

    // The tracker was told to forget the segment: no warning, and the object
    // outlives the Python process (and its tracker).
    assert.doesNotMatch(r.stderr, TRACKER_WARNING);
    assert.equal(existsSync(devShm(name)), true, 'the segment was unlinked when Python exited');
    assert.equal(statSync(devShm(name)).size, size);
    // A fresh open by name (not just our old mapping) has Python's bytes.
    const again = Segment.open(name);
    try {
      assert.equal(hex(again.bytes), expected.toString('hex'));
    } finally {
      again.close();
    }
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
  assert.equal(existsSync(devShm(name)), false);
});

test('shmkit attaches to a segment Python created, while Python runs', { skip: pythonSkip }, async () => {
  const name = uniqueName('py-create');
  const size = 5000; // more than one page, not a multiple of it
  const payload = randomBytes(64);
  const reply = randomBytes(32);
  const replyAt = 4096; // in the second page
  // Python: create, unregister from its tracker, write payload at 1, byte 0 := 1;
  // then wait (up to 8 s) for byte 0 == 2 and report bytes [replyAt, +32).
  const pending = peer(['create', bare(name), size, payload.toString('hex'), replyAt, reply.length, 8]);
  const settled = pending.then(
    (r) => ({ r }),
    (error) => ({ error }),
  );
  let seg;
  try {
    // Open only once Python has sized it (between its shm_open and ftruncate
    // the object is empty).
    await waitUntil(() => existsSync(devShm(name)) && statSync(devShm(name)).size === size, STEP_MS, 'python to create the segment');
    seg = Segment.open(name);
    assert.equal(seg.size, size);
    const st = seg.stat();
    assert.equal(st.size, size);
    assert.equal(st.uid, process.getuid());
    assert.equal(st.mode & 0o077, 0, `Python creates with mode 0o600 (minus umask), got ${st.mode.toString(8)}`);

    const bytes = seg.bytes;
    await waitUntil(() => Atomics.load(bytes, 0) === 1, STEP_MS, 'python to write its payload');
    assert.equal(hex(bytes.subarray(1, 1 + payload.length)), payload.toString('hex'));

    bytes.set(reply, replyAt);
    Atomics.store(bytes, 0, 2);

    const { r, error } = await settled;
    if (error) throw error;
    const info = parseReport(r);
    assert.equal(info.reply, reply.toString('hex'), 'Python did not see shmkit\'s write');
    // Python's size is st_size (see the first test): the exact 5000.
    assert.equal(info.size, size);
    assert.equal(info.size, seg.size);
    assert.equal(info.buflen, size);
    assert.equal(info.private_name, name);
    assert.doesNotMatch(r.stderr, TRACKER_WARNING);

    // Python exited without unlinking (its tracker forgot it), so the segment
    // is still there, and removing it is shmkit's job: exactly one unlink.
    assert.equal(existsSync(devShm(name)), true, 'the segment was unlinked when Python exited');
    assert.equal(hex(bytes.subarray(1, 1 + payload.length)), payload.toString('hex'));
    Segment.unlink(name);
    assert.equal(existsSync(devShm(name)), false);
    assert.throws(() => Segment.unlink(name), { name: 'ShmkitError', code: 'ENOENT' });
  } finally {
    seg?.close();
    // Do not leave Python waiting if something above failed early.
    await settled;
    unlinkQuietly(name);
  }
});

test('without unregister, Python < 3.13 unlinks a segment it only attached (why the peer unregisters)', { skip: pythonSkip }, async () => {
  const name = uniqueName('py-tracker');
  const seg = Segment.create(name, { size: 64 });
  try {
    seg.bytes.set([1, 2, 3, 4]);
    const r = await peer(['attach', bare(name), '01020304', 4, '05060708', '--keep-registered']);
    parseReport(r);
    // This documents Python's behaviour; if a Python version stops doing it,
    // this test fails and the workaround can be revisited.
    assert.match(r.stderr, /leaked shared_memory objects/);
    assert.equal(existsSync(devShm(name)), false, 'the tracker did not unlink the attached segment');
    assert.throws(() => Segment.open(name), { name: 'ShmkitError', code: 'ENOENT' });
    // shmkit's mapping survives the unlink and holds both sides' bytes.
    assert.deepEqual([...seg.bytes.subarray(0, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
  assert.equal(existsSync(devShm(name)), false);
});
