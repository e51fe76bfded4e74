// Permission bits of POSIX segments, seen by another user: a child running as
// nobody (uid/gid 65534) opens a segment that root created with mode 0o600,
// then again after chmod(0o644).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Segment } from 'shmkit';
import nodeGypBuild from 'node-gyp-build';
import { uniqueName } from './fixtures/names.mjs';
import { hex } from './fixtures/helpers.mjs';
import { run, runNode } from './fixtures/proc.mjs';

const NOBODY = 65534;
const CHILD = fileURLToPath(new URL('./fixtures/open-segment.mjs', import.meta.url));
const ROOT_DIR = fileURLToPath(new URL('..', import.meta.url));
const COUNT = 16;
const TIMEOUT_MS = 10000;

// The files the unprivileged child must be able to read for `import 'shmkit'`.
const NEEDED = [
  CHILD,
  `${ROOT_DIR}package.json`,
  `${ROOT_DIR}dist/src/index.mjs`,
  `${ROOT_DIR}dist/src/index.js`,
  `${ROOT_DIR}dist/src/segment/segment.js`,
  nodeGypBuild.resolve(ROOT_DIR), // the addon shmkit loads (a prebuild or build/Release)
];

/** Why this test cannot run here, or null. */
async function skipReason() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'needs root: spawning a child as uid 65534 and owning the segment as uid 0';
  }
  // fs.access from this (root) process would always pass: check as nobody.
  const probe = await run(
    process.execPath,
    ['-e', 'const fs = require("fs"); for (const p of process.argv.slice(1)) fs.accessSync(p, fs.constants.R_OK);', ...NEEDED],
    { uid: NOBODY, gid: NOBODY, cwd: '/', timeoutMs: TIMEOUT_MS },
  );
  if (probe.code !== 0) {
    return `uid ${NOBODY} cannot read the files it needs to import shmkit: ${probe.stderr.split('\n').find((l) => /Error/.test(l)) ?? probe.stderr}`;
  }
  return null;
}

/** Runs the child as nobody against `name`; returns its parsed report. */
async function openAsNobody(name) {
  const stdout = await runNode(CHILD, [name, COUNT], { uid: NOBODY, gid: NOBODY, cwd: '/', timeoutMs: TIMEOUT_MS });
  return JSON.parse(stdout.trim());
}

test('another user gets EACCES on a 0o600 segment, and read-only access after chmod(0o644)', async (t) => {
  const reason = await skipReason();
  if (reason !== null) {
    t.skip(reason);
    return;
  }

  const name = uniqueName('perm');
  const seg = Segment.create(name, { size: 4096, mode: 0o600 });
  try {
    const original = Buffer.from('0123456789abcdef', 'latin1');
    assert.equal(original.length, COUNT);
    seg.bytes.set(original, 0);

    const st0 = seg.stat();
    assert.equal(st0.mode, 0o600);
    assert.equal(st0.uid, 0);
    assert.equal(st0.gid, 0);
    assert.equal(st0.size, 4096);

    // Mode 0o600 owned by root: nobody may open it neither way.
    const before = await openAsNobody(name);
    assert.equal(before.uid, NOBODY);
    assert.equal(before.gid, NOBODY);
    assert.ok(!before.groups.includes(0), `child kept root's group: ${before.groups}`);
    assert.deepEqual(before.readWrite, { ok: false, code: 'EACCES', errorName: 'ShmkitError', syscall: 'shm_open' });
    assert.deepEqual(before.readOnly, { ok: false, code: 'EACCES', errorName: 'ShmkitError', syscall: 'shm_open' });

    seg.chmod(0o644);
    const st1 = seg.stat();
    assert.equal(st1.mode, 0o644);
    assert.equal(st1.uid, 0);

    // 0o644: others may read, not write.
    const after = await openAsNobody(name);
    assert.deepEqual(after.readWrite, { ok: false, code: 'EACCES', errorName: 'ShmkitError', syscall: 'shm_open' });
    assert.equal(after.readOnly.ok, true, JSON.stringify(after.readOnly));
    assert.equal(after.readOnly.readOnly, true);
    assert.equal(after.readOnly.size, 4096);
    assert.equal(after.readOnly.read, original.toString('hex'));
    assert.deepEqual(after.readOnly.stat, { size: 4096, mode: 0o644, uid: 0, gid: 0 });
    // The child's JS write went to its private copy (it reads it back, and
    // runNode already asserted it exited 0, not killed by SIGSEGV)...
    assert.equal(after.readOnly.afterWrite, 'ee'.repeat(COUNT));
    // Readable, but root's: refused unless the opener trusts uid 0 (issue 11's squatting rule, both ways).
    assert.deepEqual(after.untrusted, { ok: false, code: 'ERR_SHMKIT_FOREIGN_OWNER' });
    // ...and never reached the shared object.
    assert.equal(hex(seg.bytes.subarray(0, COUNT)), original.toString('hex'));
    const fresh = Segment.open(name, { readOnly: true });
    try {
      assert.equal(hex(fresh.bytes.subarray(0, COUNT)), original.toString('hex'));
    } finally {
      fresh.close();
    }
  } finally {
    seg.close();
    Segment.unlink(name);
  }
  assert.equal(existsSync(`/dev/shm${name}`), false);
});
