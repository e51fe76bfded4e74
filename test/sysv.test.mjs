// System V segments: interop with a C program using shmget/shmat directly,
// agreement with `ipcs -m`, lifetime after IPC_RMID, read-only attachments,
// detach, ftok, IPC_SET and bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SysVSegment, ShmkitError } from 'shmkit';
import { uniqueKey } from './fixtures/names.mjs';
import { expectCode, waitUntil } from './fixtures/helpers.mjs';
import { run } from './fixtures/proc.mjs';

const PEER_SRC = new URL('./fixtures/sysv-peer.c', import.meta.url).pathname;
const PAGE = 4096;
const DATA = 64; // data offset shared with sysv-peer.c; ctl words live below it
const CTL_C = 0; // C's state: 1 attached (and data written), 2 finished
const CTL_GO = 1; // JS's "go on"
const CTL_SEED = 2; // pattern seed JS wrote before "go on"
const PEER_TIMEOUT_MS = 10000;

let tmp; // fresh directory: the compiled peer and ftok files
let peer; // path of the compiled C program
const createdIds = new Set(); // every segment this file made; checked at the end
const usedKeys = new Set();

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shmkit-sysv-test-'));
  peer = path.join(tmp, 'sysv-peer');
  const r = await run('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', peer, PEER_SRC], { timeoutMs: 30000 });
  assert.equal(r.code, 0, `cc failed:\n${r.stdout}\n${r.stderr}`);
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- helpers -----------------------------------------------------------------

/** The same byte pattern as pat() in sysv-peer.c (i counts from DATA). */
const pat = (seed, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff;

function fill(bytes, seed) {
  for (let i = DATA; i < bytes.length; i++) bytes[i] = pat(seed, i - DATA);
}

/** Index of the first data byte that is not pat(seed), or -1. */
function mismatch(bytes, seed) {
  for (let i = DATA; i < bytes.length; i++) if (bytes[i] !== pat(seed, i - DATA)) return i;
  return -1;
}

/** A key from the test range that no segment uses right now. */
function freshKey() {
  for (let n = 0; n < 20; n++) {
    const key = uniqueKey();
    if (!usedKeys.has(key) && !SysVSegment.list().some((s) => s.key === key)) {
      usedKeys.add(key);
      return key;
    }
  }
  throw new Error('no free test key');
}

function create(key, options) {
  const seg = SysVSegment.get(key, { create: true, ...options });
  createdIds.add(seg.id);
  return seg;
}

/** remove() unless it is gone already. */
function removeQuietly(seg) {
  if (!seg) return;
  try {
    seg.remove();
  } catch (err) {
    if (err.code !== 'EINVAL' && err.code !== 'EIDRM') throw err;
  }
}

/** Removes whatever segment `key` names now, if any (a peer may have made it). */
function removeKeyQuietly(key) {
  try {
    const seg = SysVSegment.get(key);
    createdIds.add(seg.id);
    seg.remove();
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
}

function parseOut(stdout) {
  const out = {};
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** Runs the C peer to completion; asserts its exit code; returns its name=value lines. */
async function peerRun(args, exitCode = 0) {
  const r = await run(peer, args.map(String), { timeoutMs: PEER_TIMEOUT_MS });
  assert.equal(r.code, exitCode, `sysv-peer ${args.join(' ')} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return parseOut(r.stdout);
}

/** Starts the C peer in the background; `state.settled` tells whether it has ended. */
function peerStart(args) {
  const state = { settled: false, result: undefined, error: undefined };
  const promise = run(peer, args.map(String), { timeoutMs: PEER_TIMEOUT_MS }).then(
    (r) => ((state.settled = true), (state.result = r), r),
    (e) => {
      state.settled = true;
      state.error = e;
      throw e;
    },
  );
  promise.catch(() => {}); // awaited later; never unhandled
  return { promise, state };
}

/** Awaits a started peer and asserts it exited 0; returns its name=value lines. */
async function peerFinish(child) {
  const r = await child.promise;
  assert.equal(r.code, 0, `sysv-peer exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return parseOut(r.stdout);
}

/** Polls `pred` until true; fails on timeout or if `child` ends first. */
function waitFor(what, pred, { timeoutMs = 5000, child } = {}) {
  return waitUntil(() => {
    if (pred()) return true;
    if (child?.state.settled) {
      const r = child.state.result;
      throw new Error(`sysv-peer ended before ${what}: ${r ? `code ${r.code}\n${r.stdout}\n${r.stderr}` : child.state.error}`);
    }
    return false;
  }, timeoutMs, what);
}

/** `ipcs -m`, parsed: key shmid owner perms bytes nattch status. */
async function ipcs() {
  const r = await run('ipcs', ['-m'], { timeoutMs: 5000 });
  assert.equal(r.code, 0, r.stderr);
  const rows = [];
  for (const line of r.stdout.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (!/^0x[0-9a-f]{8}$/i.test(f[0])) continue;
    rows.push({
      key: parseInt(f[0], 16),
      id: Number(f[1]),
      owner: f[2],
      perms: f[3],
      bytes: Number(f[4]),
      nattch: Number(f[5]),
      status: f.slice(6).join(' '),
    });
  }
  return rows;
}

async function ipcsRow(id) {
  return (await ipcs()).find((r) => r.id === id);
}

const listRow = (id) => SysVSegment.list().find((s) => s.id === id);

/** ipcs -m, list() and stat() all report `nattch` attachments for `seg`. */
async function assertAttachments(seg, nattch, label) {
  assert.equal(seg.stat().attachments, nattch, `stat().attachments ${label}`);
  assert.equal(listRow(seg.id)?.attachments, nattch, `list() attachments ${label}`);
  assert.equal((await ipcsRow(seg.id))?.nattch, nattch, `ipcs -m nattch ${label}`);
}

// ---- JS creates, C attaches ----------------------------------------------------

test('a C program attaches (by key and by id) to a segment JS created; writes go both ways', async () => {
  const key = freshKey();
  const size = 3 * PAGE + 123; // not a page multiple on purpose
  let seg;
  let att;
  try {
    seg = create(key, { size, exclusive: true, mode: 0o600 });
    assert.equal(seg.key, key);
    att = seg.attach();
    assert.equal(att.readOnly, false);
    assert.equal(att.bytes.length, size);
    assert.ok(att.bytes.every((b) => b === 0), 'a new segment is zeroed');
    fill(att.bytes, 11);

    const byKey = await peerRun(['rw', `key:${key}`, 11, 12]);
    assert.equal(byKey.verified, '11', 'C read what JS wrote');
    assert.equal(Number(byKey.size), size);
    assert.equal(Number(byKey.key), key);
    assert.equal(Number(byKey.nattch), 2, 'C saw JS and itself attached');
    assert.equal(byKey.mode, '600');
    assert.equal(mismatch(att.bytes, 12), -1, 'JS sees what C wrote, through its live attachment');

    const byId = await peerRun(['rw', `id:${seg.id}`, 12, 13]);
    assert.equal(byId.verified, '12');
    assert.equal(mismatch(att.bytes, 13), -1);

    const st = seg.stat();
    assert.equal(st.key, key);
    assert.equal(st.id, seg.id);
    assert.equal(st.size, size);
    assert.equal(st.cpid, process.pid, 'JS created it');
    assert.equal(st.lpid, Number(byId.pid), 'the C peer was the last to attach/detach');
    assert.equal(st.attachments, 1);
    assert.equal(st.removed, false);
    assert.ok(st.atime > 0 && st.dtime >= st.atime && st.ctime > 0, JSON.stringify(st));
  } finally {
    removeQuietly(seg);
    att?.detach();
  }
});

test("a 'private' segment is shared with C by id", async () => {
  let seg;
  let att;
  try {
    seg = SysVSegment.get('private', { size: PAGE });
    createdIds.add(seg.id);
    assert.equal(seg.key, 0);
    assert.equal(seg.stat().key, 0);
    att = seg.attach();
    fill(att.bytes, 5);
    const out = await peerRun(['rw', `id:${seg.id}`, 5, 6]);
    assert.equal(Number(out.key), 0);
    assert.equal(mismatch(att.bytes, 6), -1);
    // a second 'private' get is a different segment
    const other = SysVSegment.get('private', { size: PAGE });
    createdIds.add(other.id);
    other.remove();
    assert.notEqual(other.id, seg.id);
  } finally {
    removeQuietly(seg);
    att?.detach();
  }
});

// ---- C creates, JS opens -------------------------------------------------------

test('JS opens by key a segment a C program created and still holds; both see each other', async () => {
  const key = freshKey();
  const size = 2 * PAGE;
  const child = peerStart(['create', key, size, 0o640, 21, 8000]);
  let seg;
  let att;
  try {
    await waitFor('the C peer to create the segment', () => {
      try {
        seg = SysVSegment.get(key);
        return true;
      } catch (err) {
        if (err.code === 'ENOENT') return false;
        throw err;
      }
    }, { child });
    createdIds.add(seg.id);
    assert.equal(seg.key, key);
    att = seg.attach();
    const ctl = new Int32Array(att.buffer, 0, DATA / 4);
    await waitFor('the C peer to write', () => Atomics.load(ctl, CTL_C) === 1, { child });
    assert.equal(mismatch(att.bytes, 21), -1, 'JS reads what C wrote');

    const st = seg.stat();
    assert.equal(st.size, size);
    assert.equal(st.mode, 0o640);
    assert.equal(st.key, key);
    assert.notEqual(st.cpid, process.pid, 'C created it');
    await assertAttachments(seg, 2, 'with C and JS attached');
    const row = await ipcsRow(seg.id);
    assert.equal(row.key, key);
    assert.equal(row.perms, '640');
    assert.equal(row.bytes, size);

    fill(att.bytes, 22);
    Atomics.store(ctl, CTL_SEED, 22);
    Atomics.store(ctl, CTL_GO, 1);
    const out = await peerFinish(child);
    assert.equal(Number(out.id), seg.id);
    assert.equal(Number(out.pid), st.cpid);
    assert.equal(Number(out.held_nattch), 2);
    assert.equal(out.verified, '22', 'C read what JS wrote');
    assert.equal(Atomics.load(ctl, CTL_C), 2);
    await assertAttachments(seg, 1, 'after C detached');
  } finally {
    await child.promise.catch(() => {});
    att?.detach();
    removeQuietly(seg);
    removeKeyQuietly(key);
  }
  assert.throws(() => SysVSegment.get(key), expectCode('ENOENT', ShmkitError));
});

test('a C program creates, writes and exits; JS opens the unattached segment and removes it', async () => {
  const key = freshKey();
  let seg;
  try {
    const made = await peerRun(['create', key, 5000, 0o600, 31, 0]);
    seg = SysVSegment.get(key);
    createdIds.add(seg.id);
    assert.equal(seg.id, Number(made.id));
    const st = seg.stat();
    assert.equal(st.attachments, 0);
    assert.equal(st.size, 5000);
    assert.equal(st.cpid, Number(made.pid));
    assert.equal(st.lpid, Number(made.pid));

    const att = seg.attach();
    try {
      assert.equal(att.bytes.length, 5000);
      assert.equal(mismatch(att.bytes, 31), -1);
      fill(att.bytes, 32);
    } finally {
      att.detach();
    }
    assert.equal((await peerRun(['check', `key:${key}`, 32])).verified, '32', 'data outlives every attachment');
    seg.remove();
    assert.equal(listRow(seg.id), undefined);
    assert.throws(() => SysVSegment.get(key), expectCode('ENOENT', ShmkitError));
  } finally {
    removeQuietly(seg);
    removeKeyQuietly(key);
  }
});

// ---- ipcs -m ---------------------------------------------------------------------

test('ipcs -m and list() show size, perms and nattch as JS and C attach and detach', async () => {
  const key = freshKey();
  let seg;
  const atts = [];
  let child;
  try {
    seg = create(key, { size: 10000, exclusive: true, mode: 0o604 });
    const row = await ipcsRow(seg.id);
    assert.ok(row, 'ipcs -m lists the new segment');
    assert.equal(row.key, key);
    assert.equal(row.bytes, 10000);
    assert.equal(row.perms, '604');
    assert.equal(row.status, '');
    assert.ok(row.owner === os.userInfo().username || row.owner === String(process.getuid()), row.owner);
    await assertAttachments(seg, 0, 'before any attach');

    const info = listRow(seg.id);
    const st = seg.stat();
    assert.deepEqual(
      { key: info.key, id: info.id, size: info.size, mode: info.mode, removed: info.removed },
      { key, id: seg.id, size: 10000, mode: 0o604, removed: false },
    );
    for (const f of ['uid', 'gid', 'cuid', 'cgid', 'cpid', 'lpid', 'atime', 'dtime', 'ctime']) assert.equal(info[f], st[f], f);
    assert.equal(st.uid, process.getuid());

    atts.push(seg.attach());
    await assertAttachments(seg, 1, 'with one JS attachment');
    atts.push(seg.attach({ readOnly: true }));
    await assertAttachments(seg, 2, 'with two JS attachments');

    child = peerStart(['hold', `id:${seg.id}`, 8000]);
    const ctl = new Int32Array(atts[0].buffer, 0, DATA / 4);
    await waitFor('the C peer to attach', () => Atomics.load(ctl, CTL_C) === 1, { child });
    await assertAttachments(seg, 3, 'with two JS attachments and C');
    assert.equal(Atomics.load(new Int32Array(atts[1].buffer), CTL_C), 1, 'the read-only attachment sees C too');

    fill(atts[0].bytes, 41);
    Atomics.store(ctl, CTL_SEED, 41);
    Atomics.store(ctl, CTL_GO, 1);
    const out = await peerFinish(child);
    assert.equal(out.held_nattch, '3');
    assert.equal(out.verified, '41');
    // (checked before spawning ipcs: a fork inherits attachments until exec, which updates lpid)
    assert.equal(seg.stat().lpid, Number(out.pid), 'C detached last');
    await assertAttachments(seg, 2, 'after C detached');

    atts[1].detach();
    await assertAttachments(seg, 1, 'after detaching the read-only attachment');
    atts[0].detach();
    assert.equal(seg.stat().lpid, process.pid, 'JS detached last');
    await assertAttachments(seg, 0, 'after detaching everything');
  } finally {
    await child?.promise.catch(() => {});
    removeQuietly(seg);
    for (const a of atts) a.detach();
  }
});

// ---- remove -----------------------------------------------------------------------

test('remove(): the segment lives until the last detach, then leaves ipcs and list(); stat() throws EINVAL', async () => {
  const key = freshKey();
  let seg;
  let att;
  let child;
  let again;
  try {
    seg = create(key, { size: 2 * PAGE, exclusive: true });
    att = seg.attach();
    const ctl = new Int32Array(att.buffer, 0, DATA / 4);
    child = peerStart(['hold', `id:${seg.id}`, 8000]);
    await waitFor('the C peer to attach', () => Atomics.load(ctl, CTL_C) === 1, { child });

    seg.remove();
    const st = seg.stat();
    assert.equal(st.removed, true);
    assert.equal(st.attachments, 2);
    assert.equal(st.key, 0, 'the kernel makes a removed segment private');
    const row = await ipcsRow(seg.id);
    assert.ok(row, 'still listed while attached');
    assert.equal(row.status, 'dest');
    assert.equal(row.key, 0);
    assert.equal(row.nattch, 2);
    const info = listRow(seg.id);
    assert.equal(info.removed, true);
    assert.equal(info.mode, 0o600, 'the SHM_DEST bit is not part of mode');
    assert.throws(() => SysVSegment.get(key), expectCode('ENOENT', ShmkitError), 'the key is free again');
    again = create(key, { size: 64, exclusive: true });
    assert.notEqual(again.id, seg.id, 'the key now names a brand-new segment');
    again.remove();

    // both sides still share the removed segment
    fill(att.bytes, 51);
    Atomics.store(ctl, CTL_SEED, 51);
    Atomics.store(ctl, CTL_GO, 1);
    const out = await peerFinish(child);
    assert.equal(out.verified, '51');
    assert.equal(out.held_nattch, '2');
    await assertAttachments(seg, 1, 'after C detached from the removed segment');

    att.detach();
    assert.equal(await ipcsRow(seg.id), undefined, 'gone from ipcs -m');
    assert.equal(listRow(seg.id), undefined, 'gone from list()');
    assert.throws(() => seg.stat(), expectCode('EINVAL', ShmkitError));
    assert.throws(() => seg.attach(), expectCode('EINVAL', ShmkitError));
    assert.throws(() => seg.set({ mode: 0o600 }), expectCode('EINVAL', ShmkitError));
    assert.throws(() => seg.remove(), expectCode('EINVAL', ShmkitError));
    assert.throws(() => SysVSegment.fromId(seg.id), expectCode('EINVAL', ShmkitError));
    await peerRun(['check', `id:${seg.id}`, 51], 3); // C cannot find it either
  } finally {
    await child?.promise.catch(() => {});
    removeQuietly(seg);
    removeQuietly(again);
    att?.detach();
  }
});

// ---- read-only attachments --------------------------------------------------------

test('attach({readOnly: true}): reads are live; a stray write stays private and never reaches C', async () => {
  let seg;
  let rw;
  let ro;
  let ro2;
  try {
    seg = SysVSegment.get('private', { size: 3 * PAGE });
    createdIds.add(seg.id);
    rw = seg.attach();
    fill(rw.bytes, 61);
    ro = seg.attach({ readOnly: true });
    assert.equal(ro.readOnly, true);
    assert.equal(ro.bytes.length, 3 * PAGE);
    assert.equal(mismatch(ro.bytes, 61), -1, 'reads work');
    rw.bytes[2 * PAGE + 5] ^= 0xff;
    assert.equal(ro.bytes[2 * PAGE + 5], rw.bytes[2 * PAGE + 5], 'reads are live');
    rw.bytes[2 * PAGE + 5] ^= 0xff;

    const shared = rw.bytes[DATA + 1];
    ro.bytes[DATA + 1] = shared ^ 0xff; // must not crash
    new Int32Array(ro.buffer)[100] = -1; // same page, through another view
    assert.equal(ro.bytes[DATA + 1], shared ^ 0xff, 'the write landed in a private copy');
    assert.equal(rw.bytes[DATA + 1], shared, 'the shared byte is unchanged');
    assert.equal(mismatch(rw.bytes, 61), -1, 'no shared byte changed');
    assert.equal((await peerRun(['check', `id:${seg.id}`, 61])).verified, '61', 'C sees the original bytes');
    ro2 = seg.attach({ readOnly: true });
    assert.equal(mismatch(ro2.bytes, 61), -1, 'a new attachment sees the original bytes');

    // pages the stray write did not touch are still shared
    const saved = rw.bytes[2 * PAGE + 9];
    rw.bytes[2 * PAGE + 9] = saved ^ 0x5a;
    assert.equal(ro.bytes[2 * PAGE + 9], saved ^ 0x5a);
    rw.bytes[2 * PAGE + 9] = saved;
    assert.equal(ro.bytes[2 * PAGE + 9], saved);
  } finally {
    removeQuietly(seg);
    rw?.detach();
    ro?.detach();
    ro2?.detach();
  }
});

test('attach({readOnly: true}) of a one-page segment: a stray write does not crash or reach C', async () => {
  let seg;
  let rw;
  let ro;
  try {
    seg = SysVSegment.get('private', { size: 100 });
    createdIds.add(seg.id);
    rw = seg.attach();
    fill(rw.bytes, 62);
    ro = seg.attach({ readOnly: true });
    ro.bytes.fill(0xee);
    assert.ok(ro.bytes.every((b) => b === 0xee));
    assert.equal(mismatch(rw.bytes, 62), -1);
    assert.equal((await peerRun(['check', `id:${seg.id}`, 62])).verified, '62');
  } finally {
    removeQuietly(seg);
    rw?.detach();
    ro?.detach();
  }
});

// ---- detach ---------------------------------------------------------------------------

test('detach(): old views read zeros and can be written safely; buffer throws ERR_SHMKIT_CLOSED; twice is a no-op', async () => {
  let seg;
  let a;
  let b;
  try {
    seg = SysVSegment.get('private', { size: 2 * PAGE });
    createdIds.add(seg.id);
    a = seg.attach();
    b = seg.attach();
    fill(a.bytes, 71);
    const oldBytes = a.bytes;
    const oldWords = new Int32Array(a.buffer);
    assert.equal(seg.stat().attachments, 2);
    assert.equal(a.detached, false);

    a.detach();
    assert.equal(a.detached, true);
    assert.equal(seg.stat().attachments, 1, 'shmdt happened');
    assert.equal(oldBytes.length, 2 * PAGE, 'old views keep their length');
    assert.ok(oldBytes.every((v) => v === 0), 'old views read zeros');
    assert.ok(oldWords.every((v) => v === 0));
    oldBytes.fill(0x77); // must not crash
    Atomics.store(oldWords, 3, 12345);
    assert.equal(Atomics.load(oldWords, 3), 12345);
    assert.equal(mismatch(b.bytes, 71), -1, 'writes through old views do not reach the segment');
    assert.equal((await peerRun(['check', `id:${seg.id}`, 71])).verified, '71');

    assert.throws(() => a.buffer, expectCode('ERR_SHMKIT_CLOSED', ShmkitError));
    assert.throws(() => a.bytes, expectCode('ERR_SHMKIT_CLOSED', ShmkitError));
    a.detach(); // no-op
    a[Symbol.dispose]();
    assert.equal(seg.stat().attachments, 1, 'a second detach detaches nothing else');
    assert.equal(mismatch(b.bytes, 71), -1);

    b[Symbol.dispose]();
    assert.equal(b.detached, true);
    assert.equal(seg.stat().attachments, 0);
  } finally {
    removeQuietly(seg);
    a?.detach();
    b?.detach();
  }
});

// ---- ftok ------------------------------------------------------------------------------

test('ftok matches C ftok(3) for the same path and id; a missing path is ENOENT', async () => {
  const file = path.join(tmp, 'ftok-a');
  const other = path.join(tmp, 'ftok-b');
  fs.writeFileSync(file, 'a');
  fs.writeFileSync(other, 'b');
  for (const projId of [1, 0x4b, 127, 128, 255]) {
    const js = SysVSegment.ftok(file, projId);
    const c = await peerRun(['ftok', file, projId]);
    assert.equal(js, Number(c.key), `ftok(${file}, ${projId})`);
    assert.equal(js >>> 24, projId, 'the id is the top byte');
    assert.equal(SysVSegment.ftok(file, projId), js, 'stable');
  }
  assert.equal(SysVSegment.ftok(tmp, 7), Number((await peerRun(['ftok', tmp, 7])).key), 'directories work too');
  assert.notEqual(SysVSegment.ftok(other, 1), SysVSegment.ftok(file, 1), 'another inode gives another key');
  assert.notEqual(SysVSegment.ftok(file, 2), SysVSegment.ftok(file, 1));

  const missing = path.join(tmp, 'no-such-file');
  assert.throws(() => SysVSegment.ftok(missing, 1), (err) => {
    expectCode('ENOENT', ShmkitError)(err);
    assert.equal(err.syscall, 'ftok');
    assert.equal(err.path, missing);
    return true;
  });
  await peerRun(['ftok', missing, 1], 3); // C agrees

  assert.throws(() => SysVSegment.ftok(file, 0), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => SysVSegment.ftok(file, 256), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => SysVSegment.ftok(file, -1), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => SysVSegment.ftok(file, 1.5), expectCode('ERR_OUT_OF_RANGE', RangeError));
  assert.throws(() => SysVSegment.ftok(file, '1'), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  assert.throws(() => SysVSegment.ftok(file), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  assert.throws(() => SysVSegment.ftok('', 1), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
  assert.throws(() => SysVSegment.ftok(42, 1), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
});

// ---- IPC_SET ---------------------------------------------------------------------------

test('set({mode: 0o640}) shows in stat(), list(), ipcs -m and to C', async () => {
  const key = freshKey();
  let seg;
  try {
    seg = create(key, { size: PAGE, exclusive: true, mode: 0o600 });
    assert.equal(seg.stat().mode, 0o600);
    assert.equal((await ipcsRow(seg.id)).perms, '600');

    const att = seg.attach();
    fill(att.bytes, 81);
    att.detach();

    seg.set({ mode: 0o640 });
    assert.equal(seg.stat().mode, 0o640);
    assert.equal(listRow(seg.id).mode, 0o640);
    assert.equal((await ipcsRow(seg.id)).perms, '640');
    assert.equal((await peerRun(['check', `key:${key}`, 81])).mode, '640');

    seg.set({ uid: process.getuid(), gid: process.getgid() }); // mode is kept
    const st = seg.stat();
    assert.equal(st.mode, 0o640);
    assert.equal(st.uid, process.getuid());
    assert.equal(st.gid, process.getgid());
    seg.set({ mode: 0 });
    assert.equal((await ipcsRow(seg.id)).perms, '0');
    seg.set({ mode: 0o777 });
    assert.equal((await ipcsRow(seg.id)).perms, '777');

    assert.throws(() => seg.set({ mode: 0o1000 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => seg.set({ mode: -1 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => seg.set({ mode: '640' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => seg.set({ uid: -5 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => seg.set(null), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.equal(seg.stat().mode, 0o777, 'rejected calls changed nothing');
  } finally {
    removeQuietly(seg);
  }
});

// ---- bad input ---------------------------------------------------------------------------

test('bad input throws typed errors before any syscall; kernel refusals carry errno codes', () => {
  const key = freshKey();
  const noneWithKey = () => assert.equal(SysVSegment.list().some((s) => s.key === key), false, 'nothing was created');
  let seg;
  try {
    assert.throws(() => SysVSegment.get('nope'), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => SysVSegment.get(), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => SysVSegment.get(null, { size: 8, create: true }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => SysVSegment.get(1.5), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.get(NaN), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.get(2 ** 32, { size: 8, create: true }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.get(key, null), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => SysVSegment.get(key, 5), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => SysVSegment.get(key, { create: true }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => SysVSegment.get(key, { create: true, size: 0 }), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => SysVSegment.get('private', {}), expectCode('ERR_INVALID_ARG_VALUE', TypeError));
    assert.throws(() => SysVSegment.get(key, { create: true, size: -1 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.get('private', { size: -4096 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.get(key, { create: true, size: 1.5 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.get(key, { create: true, size: '64' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => SysVSegment.get(key, { create: 'yes', size: 64 }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => SysVSegment.get(key, { create: true, exclusive: 1, size: 64 }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => SysVSegment.get(key, { create: true, size: 64, mode: 0o1000 }), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.fromId(-1), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.fromId(1.5), expectCode('ERR_OUT_OF_RANGE', RangeError));
    assert.throws(() => SysVSegment.fromId('1'), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    noneWithKey();

    assert.throws(() => SysVSegment.get(key), (err) => {
      expectCode('ENOENT', ShmkitError)(err);
      assert.equal(err.syscall, 'shmget');
      assert.match(err.message, new RegExp(`0x${key.toString(16)}`));
      return true;
    });
    assert.throws(() => SysVSegment.get(key, { size: 64 }), expectCode('ENOENT', ShmkitError));
    noneWithKey();

    seg = create(key, { size: 100, exclusive: true });
    assert.throws(() => SysVSegment.get(key, { create: true, exclusive: true, size: 100 }), expectCode('EEXIST', ShmkitError));
    assert.equal(SysVSegment.get(key, { create: true, size: 100 }).id, seg.id, 'create without exclusive opens it');
    assert.equal(SysVSegment.get(key).id, seg.id);
    assert.equal(SysVSegment.get(key, { size: 50 }).id, seg.id, 'a smaller size opens it');
    assert.throws(() => SysVSegment.get(key, { size: 1 << 20 }), expectCode('EINVAL', ShmkitError), 'a larger size than the segment');
    const byId = SysVSegment.fromId(seg.id);
    assert.equal(byId.id, seg.id);
    assert.equal(byId.key, key);
    assert.throws(() => seg.attach({ readOnly: 'yes' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.throws(() => seg.attach(null), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
    assert.equal(seg.stat().attachments, 0, 'rejected attaches attached nothing');
    assert.equal(SysVSegment.list().filter((s) => s.key === key).length, 1);
  } finally {
    removeQuietly(seg);
  }
});

test(
  'get(0) without create does not silently create a segment',
  () => {
    let seg;
    try {
      assert.throws(() => {
        seg = SysVSegment.get(0, { size: 64 });
      }, { code: 'ERR_INVALID_ARG_VALUE', message: /IPC_PRIVATE/ });
    } finally {
      if (seg) {
        createdIds.add(seg.id);
        seg.remove();
      }
    }
  },
);

// ---- leaks -----------------------------------------------------------------------------------

test('nothing this file created is left (list() and ipcs -m)', async () => {
  assert.ok(createdIds.size >= 10, `tracked ${createdIds.size} segments`);
  const listed = SysVSegment.list();
  assert.deepEqual(listed.filter((s) => createdIds.has(s.id)), []);
  assert.deepEqual(listed.filter((s) => usedKeys.has(s.key)), []);
  assert.deepEqual((await ipcs()).filter((r) => createdIds.has(r.id) || usedKeys.has(r.key)), []);
});
