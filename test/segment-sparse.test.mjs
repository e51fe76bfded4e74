// Pages the kernel cannot back: Segment.faults counts the ones the fault
// guard replaced (a shrunk object; a foreign sparse object on a full tmpfs),
// and the `reserve` open option reserves a foreign object's pages up front so
// a full tmpfs is ENOSPC at open instead of writes no one else sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, truncateSync } from 'node:fs';
import { Mutex, Segment, SharedArray } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { expectCode, unlinkQuietly } from './fixtures/helpers.mjs';
import { run } from './fixtures/proc.mjs';

const CHILD = new URL('./fixtures/sparse-child.mjs', import.meta.url).pathname;
const uniqueName = trackedNames();

test('faults: 0 for reserved pages; a page lost to a shrink counts in the mapping that touched it only', () => {
  const name = uniqueName('shrink');
  const a = Segment.create(name, { size: 8192 });
  const b = Segment.open(name);
  try {
    a.bytes[4096] = 1;
    assert.equal(a.faults, 0);
    truncateSync(`/dev/shm${name}`, 4096); // as another process would
    assert.equal(a.bytes[4096], 0, 'the guard gave a zero page');
    a.bytes[4096] = 2; // private now: no second fault
    assert.equal(a.bytes[4096], 2);
    assert.equal(a.faults, 1);
    assert.equal(b.faults, 0, 'b never touched the page');
    assert.equal(b.bytes[0], 0);
    assert.equal(b.faults, 0, 'a page still backed does not count');
  } finally {
    a.close();
    b.close();
    unlinkQuietly(name);
  }
  assert.throws(() => a.faults, expectCode('ERR_SHMKIT_CLOSED'));
});

test('faults on every handle kind: anonymous and fromFd segments, named and embedded objects', () => {
  const anon = Segment.anonymous({ size: 4096 });
  const copy = Segment.fromFd(anon.fd, { reserve: true });
  const name = uniqueName('mutex');
  const m = Mutex.create(name);
  const embedded = Mutex.init(new SharedArrayBuffer(Mutex.byteLength()), 0);
  try {
    assert.equal(anon.faults, 0);
    assert.equal(copy.faults, 0);
    assert.equal(m.faults, 0);
    assert.equal(embedded.faults, 0);
  } finally {
    copy.close();
    anon.close();
    m.close();
    embedded.close();
    Mutex.unlink(name);
  }
  assert.throws(() => m.faults, expectCode('ERR_SHMKIT_CLOSED'));
  assert.throws(() => embedded.faults, expectCode('ERR_SHMKIT_CLOSED'));
});

test('reserve: true opens an existing segment with room to spare', () => {
  const name = uniqueName('reserve');
  const arrayName = uniqueName('array');
  const handles = [];
  try {
    handles.push(Segment.create(name, { size: 16384 }));
    const again = Segment.open(name, { reserve: true });
    handles.push(again);
    const other = Segment.openOrCreate(name, { size: 16384, reserve: true });
    handles.push(other);
    again.bytes[9000] = 5;
    assert.equal(other.bytes[9000], 5);
    assert.equal(again.faults, 0);
    handles.push(SharedArray.openOrCreate(arrayName, { type: Int32Array, length: 4, reserve: true }));
    const same = SharedArray.open(arrayName, { reserve: true });
    handles.push(same);
    assert.equal(same.faults, 0);
  } finally {
    for (const h of handles) h.close();
    unlinkQuietly(name, arrayName);
  }
});

test('reserve: bad values are refused before anything is opened or created', () => {
  const name = uniqueName('args');
  for (const reserve of [1, 'yes', null, {}]) {
    assert.throws(() => Segment.open(name, { reserve }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => Segment.openOrCreate(name, { size: 4096, reserve }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => Mutex.open(name, { reserve }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => Mutex.openOrCreate(name, { reserve }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => SharedArray.openOrCreate(name, { type: Uint8Array, length: 1, reserve }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  }
  // Reserving writes to the object: not through a read-only open.
  assert.throws(() => Segment.open(name, { readOnly: true, reserve: true }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
  assert.throws(() => Segment.openOrCreate(name, { size: 4096, readOnly: true, reserve: true }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
  assert.throws(() => Segment.fromFd(0, { readOnly: true, reserve: true }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
  assert.equal(existsSync(`/dev/shm${name}`), false, 'nothing was created');
  // false and undefined are the default
  const seg = Segment.openOrCreate(name, { size: 4096, reserve: false });
  try {
    const again = Segment.open(name, { readOnly: true, reserve: undefined });
    assert.equal(again.readOnly, true);
    again.close();
  } finally {
    seg.close();
    unlinkQuietly(name);
  }
});

// A private 1 MiB tmpfs on /dev/shm, in new IPC and mount namespaces: the
// child fills it without touching the machine's /dev/shm, and dies with it.
test('a foreign sparse object on a full tmpfs: writes counted in faults and seen by no one else; reserve: true is ENOSPC at open', async (t) => {
  const names = [uniqueName('sparse'), uniqueName('sparse-array'), uniqueName('filler')];
  const r = await run('unshare', [
    '--ipc', '--mount', '--propagation', 'private',
    'sh', '-c', 'mount -t tmpfs -o size=1m,mode=1777 tmpfs /dev/shm && exec "$@"', 'sh',
    process.execPath, CHILD, ...names,
  ], { timeoutMs: 30000 });
  if (r.code !== 0 && /unshare: |mount: .*(permission|denied|not permitted)/i.test(r.stderr)) {
    t.skip(`no private namespaces here: ${r.stderr.trim().split('\n')[0]}`);
    return;
  }
  assert.equal(r.code, 0, `child exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(report.tmpfsBytes, 1024 * 1024, 'ran on the private tmpfs');

  // (a) The write could not reach the object: the writer sees it, counted;
  // another mapping and the object itself do not (the behaviour `faults`
  // exists to report).
  const full = report.full;
  const message = 'written on a full tmpfs';
  assert.equal(full.seenByA, message);
  assert.ok(full.faultsA > 0, `faults counts the lost page (got ${full.faultsA})`);
  assert.equal(full.faultsA, 1);
  assert.equal(full.seenByB, '\0'.repeat(message.length), 'a second mapping does not see the write');
  assert.equal(full.inObject, '\0'.repeat(message.length), 'nor does the object');
  assert.equal(full.faultsB, 1, "the second mapping's read of the unbacked page is counted too");
  assert.equal(full.arraySees, 42);
  assert.equal(full.arrayFaults, 1, 'a named object reports its mapping\'s faults');

  // (b) reserve: true refuses it at open, naming the object and the syscall.
  for (const [what, e] of Object.entries(report.reserveFull)) {
    assert.equal(e.code, 'ENOSPC', `${what}: ${e.message}`);
    assert.equal(e.syscall, 'posix_fallocate', what);
    assert.equal(e.path, what === 'sharedArray' ? names[1] : names[0], what);
    assert.match(e.message, /posix_fallocate '\/shmkit-test-/, what);
  }

  // (c) With room again, reserve succeeds and writes are shared.
  const reserved = report.reserved;
  assert.equal(reserved.seenByOther, 'written after reserving');
  assert.equal(reserved.inObject, 'written after reserving');
  assert.equal(reserved.faultsR, 0);
  assert.equal(reserved.faultsS, 0);
  assert.equal(reserved.arrayFaults, 0);
  assert.equal(reserved.arrayInObject, 7);
  assert.equal(reserved.faultsAStill, 1, "each mapping keeps its own count");
  assert.equal(report.closedFaults, 'ERR_SHMKIT_CLOSED');
});
