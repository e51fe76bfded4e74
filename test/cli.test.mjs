// The `shmkit` command as a user runs it (node dist/src/cli/main.js), against
// real processes: who uses an object (`ls`), `rm` refusing a used object,
// `gc` collecting exactly the leftovers of processes SIGKILLed mid-operation,
// permissions (uid 65534), `doctor`, and bad usage. Every name is this
// process's (names.mjs), and every ls/gc run is restricted to them with a
// name pattern, so a second `npm test` running at the same time is never
// touched.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Dict, Mutex, Queue, Segment, Semaphore, SharedArray } from 'shmkit';
import { PROCESS_PREFIX, trackedNames } from './fixtures/names.mjs';
import { reap, run, startNode } from './fixtures/proc.mjs';
import { STEP_MS, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const PEER = fileURLToPath(new URL('./fixtures/cli-peer.mjs', import.meta.url));
const MINE = `${PROCESS_PREFIX}*`; // a glob that matches this process's names only
const name = trackedNames();
const made = [];
after(() => unlinkQuietly(...made));

/** Runs the command; resolves with { code, stdout, stderr }. */
function cli(args, options = {}) {
  return run(process.execPath, [MAIN, ...args], { timeoutMs: 20000, env: { ...process.env, NO_COLOR: '1' }, ...options });
}

async function cliJson(args) {
  const r = await cli([...args, '--json']);
  assert.equal(r.code, 0, `shmkit ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A child using `obj` in `mode` (cli-peer.mjs), once it said 'ready'. */
async function peer(mode, obj) {
  const p = startNode(PEER, [mode, obj], { timeoutMs: 30000 });
  await p.line(/^ready$/);
  return p;
}

/** SIGKILLs a child and waits for it to be gone (its mappings with it). */
async function killNow(p) {
  p.kill();
  const r = await withTimeout(p.done, STEP_MS, 'killed peer');
  assert.equal(r.signal, 'SIGKILL', `peer exited ${r.code} before it was killed: ${r.stderr}`);
}

function track(n) {
  made.push(n);
  return n;
}

test('--help, and bad usage exits 2 with a coded message on stderr', async () => {
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  for (const c of ['ls', 'rm', 'gc', 'doctor', 'bench']) assert.match(help.stdout, new RegExp(`\\n  ${c} `), `help lists ${c}`);
  const cases = [
    [['bogus'], /^shmkit: commander\.unknownCommand: unknown command 'bogus'/m],
    [['ls', '--bogus'], /^shmkit: commander\.unknownOption: unknown option '--bogus'/m],
    [['rm'], /^shmkit: commander\.missingArgument: .*'name'/m],
    [['gc', '--min-age', 'soon'], /^shmkit: commander\.invalidArgument: /m],
    [['ls', '--owner', 'no-such-user-here'], /^shmkit: ERR_USAGE: --owner: no user named/m],
    [[], /Usage: shmkit/],
  ];
  for (const [args, re] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `shmkit ${args.join(' ')} exits 2 (got ${r.code})\n${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '', 'nothing on stdout');
  }
});

test('ls --json: kind, size, mode, owner of this test\'s objects, and who uses them (the pids that map or hold them)', async () => {
  const raw = track(name('ls-raw'));
  const mutex = track(name('ls-mutex'));
  const queue = track(name('ls-queue'));
  const fdOnly = track(name('ls-fd'));
  Segment.create(raw, { size: 8192, mode: 0o640 }).close();
  const m = Mutex.create(mutex);
  Queue.create(queue, { capacity: 4096 }).close();
  Segment.create(fdOnly, { size: 4096 }).close();
  const mapper = await peer('map', queue);
  const holder = await peer('fd', fdOnly);
  try {
    const doc = await cliJson(['ls', MINE]);
    assert.equal(doc.schema, 1);
    assert.equal(doc.command, 'ls');
    assert.equal(typeof doc.unreadableProcesses, 'number');
    const by = new Map(doc.objects.map((o) => [o.name, o]));
    assert.deepEqual([...by.keys()].sort(), [raw, mutex, queue, fdOnly].sort(), 'exactly this test\'s objects');
    const r = by.get(raw);
    assert.deepEqual({ type: r.type, kind: r.kind, version: r.version, size: r.size, mode: r.mode, uid: r.uid }, { type: 'posix', kind: 'raw', version: null, size: 8192, mode: 0o640, uid: process.getuid() });
    assert.equal(r.owner, process.getuid() === 0 ? 'root' : r.owner);
    assert.deepEqual(r.users, [], 'nobody uses the raw one');
    assert.ok(r.ageSeconds >= 0 && r.ageSeconds < 60 && !Number.isNaN(Date.parse(r.changed)));

    const mx = by.get(mutex);
    assert.equal(mx.kind, 'Mutex');
    assert.equal(typeof mx.version, 'number');
    assert.equal(mx.size, statSync(`/dev/shm${mutex}`).size);
    assert.deepEqual(mx.users.map((u) => u.pid), [process.pid], 'this process maps the Mutex it created');
    assert.deepEqual(mx.users[0].how.sort(), ['fd', 'map']);

    const q = by.get(queue);
    assert.equal(q.kind, 'Queue');
    assert.deepEqual(q.users.map((u) => [u.pid, u.command]), [[mapper.child.pid, 'node']], 'the child that opened the Queue is its user');

    const f = by.get(fdOnly);
    assert.deepEqual(f.users, [{ pid: holder.child.pid, command: 'node', how: ['fd'] }], 'an open descriptor alone counts');

    // filters
    const kinds = await cliJson(['ls', MINE, '--kind', 'queue']);
    assert.deepEqual(kinds.objects.map((o) => o.name), [queue]);
    const rawOnly = await cliJson(['ls', MINE, '--kind', 'raw', '--owner', String(process.getuid())]);
    assert.deepEqual(rawOnly.objects.map((o) => o.name).sort(), [raw, fdOnly].sort());
    // the table for people
    const table = await cli(['ls', MINE]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME +KIND +SIZE +MODE +OWNER +AGE +USERS$/m);
    assert.match(table.stdout, new RegExp(`^${queue} +Queue v\\d+ .* ${mapper.child.pid} node$`, 'm'));
  } finally {
    m.close();
    await reap(mapper, holder);
    unlinkQuietly(raw, mutex, queue, fdOnly);
  }
});

test('rm refuses an object a live process uses (names it, exit 1), removes it with --force, and removes an unused one; a missing name is ENOENT', async () => {
  const used = track(name('rm-used'));
  const unused = track(name('rm-unused'));
  Segment.create(used, { size: 4096 }).close();
  Segment.create(unused, { size: 4096 }).close();
  const p = await peer('map', used);
  try {
    const refused = await cli(['rm', used]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^shmkit: ERR_SHMKIT_IN_USE: '${used}' is in use by pid ${p.child.pid} \\(node, maps it and holds it open\\)`, 'm'));
    assert.ok(existsSync(`/dev/shm${used}`), 'still there');

    const forced = await cli(['rm', '--force', used]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, new RegExp(`^removed ${used} \\(still mapped by pid ${p.child.pid}`, 'm'));
    assert.equal(existsSync(`/dev/shm${used}`), false);

    const plain = await cli(['rm', unused.slice(1)]); // without the leading slash
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(existsSync(`/dev/shm${unused}`), false);

    const missing = await cli(['rm', unused]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^shmkit: ENOENT: /m);
  } finally {
    await reap(p);
    unlinkQuietly(used, unused);
  }
});

test('gc collects exactly the leftovers of processes SIGKILLed mid-operation, never a live one\'s; raw segments only with --raw', async () => {
  const mutex = track(name('gc-mutex'));
  const queue = track(name('gc-queue'));
  const dict = track(name('gc-dict'));
  const live = track(name('gc-live'));
  const raw = track(name('gc-raw'));
  Mutex.create(mutex).close();
  Queue.create(queue, { capacity: 1 << 16 }).close();
  Dict.create(dict, { memory: 1 << 20 }).close();
  Queue.create(live, { capacity: 4096 }).close();
  Segment.create(raw, { size: 4096 }).close();
  const dying = [await peer('mutex', mutex), await peer('queue', queue), await peer('dict', dict)];
  const keeper = await peer('map', live);
  try {
    for (const p of dying) await killNow(p);
    const dead = [mutex, queue, dict].sort();

    const young = await cliJson(['gc', MINE, '--dry-run']); // default --min-age 5: everything here is younger
    assert.deepEqual(young.objects.filter((o) => o.action === 'remove'), [], 'nothing younger than --min-age goes');
    assert.deepEqual(young.objects.filter((o) => o.reason === 'too-young').map((o) => o.name).sort(), dead);

    const plan = await cliJson(['gc', MINE, '--dry-run', '--min-age', '0']);
    assert.deepEqual({ dryRun: plan.dryRun, minAgeSeconds: plan.minAgeSeconds, raw: plan.raw }, { dryRun: true, minAgeSeconds: 0, raw: false });
    assert.deepEqual(plan.objects.filter((o) => o.action === 'remove').map((o) => o.name).sort(), dead, 'exactly the dead ones would go');
    const keep = new Map(plan.objects.filter((o) => o.action === 'keep').map((o) => [o.name, o]));
    assert.equal(keep.get(live)?.reason, 'in-use');
    assert.deepEqual(keep.get(live).users.map((u) => u.pid), [keeper.child.pid]);
    assert.equal(keep.get(raw)?.reason, 'raw');
    for (const n of [...dead, live, raw]) assert.ok(existsSync(`/dev/shm${n}`), `--dry-run removed nothing (${n})`);
    const text = await cli(['gc', MINE, '--dry-run', '--min-age', '0']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${dict} +Dict +\\d+s +would remove +no live process maps it or holds it open`, 'm'));
    assert.match(text.stdout, new RegExp(`^${live} +Queue .* keep +used by ${keeper.child.pid} node$`, 'm'));

    const done = await cliJson(['gc', MINE, '--min-age', '0']);
    assert.deepEqual(done.objects.filter((o) => o.action === 'removed').map((o) => o.name).sort(), dead);
    for (const n of dead) assert.equal(existsSync(`/dev/shm${n}`), false, `${n} removed`);
    assert.ok(existsSync(`/dev/shm${live}`), 'the live one stays');
    assert.ok(existsSync(`/dev/shm${raw}`), 'the raw one stays without --raw');

    const withRaw = await cliJson(['gc', MINE, '--min-age', '0', '--raw']);
    assert.deepEqual(withRaw.objects.filter((o) => o.action === 'removed').map((o) => o.name), [raw]);
    assert.equal(existsSync(`/dev/shm${raw}`), false);
    assert.ok(existsSync(`/dev/shm${live}`), 'the live one stays, --raw or not');
  } finally {
    await reap(...dying, keeper);
    unlinkQuietly(mutex, queue, dict, live, raw);
  }
});

test('without permission (uid 65534) rm of a root-owned 0600 object fails with EACCES/EPERM, exit 1, and removes nothing', { skip: process.getuid() !== 0 && 'needs root to run a child as uid 65534' }, async () => {
  const guarded = track(name('rm-perm'));
  Segment.create(guarded, { size: 4096, mode: 0o600 }).close();
  try {
    const r = await cli(['rm', guarded], { uid: 65534, gid: 65534 });
    assert.equal(r.code, 1, `exit 1 (got ${r.code})\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^shmkit: (EACCES|EPERM): /m);
    assert.ok(existsSync(`/dev/shm${guarded}`), 'not removed');
    const gc = await cli(['gc', MINE, '--min-age', '0', '--raw', '--json'], { uid: 65534, gid: 65534 });
    assert.equal(gc.code, 1, `gc exits 1 when it cannot remove (got ${gc.code})\n${gc.stderr}`);
    const row = JSON.parse(gc.stdout).objects.find((o) => o.name === guarded);
    assert.equal(row.action, 'failed');
    assert.match(row.error.code, /^(EACCES|EPERM)$/);
    assert.ok(existsSync(`/dev/shm${guarded}`), 'not removed by gc either');
  } finally {
    unlinkQuietly(guarded);
  }
});

test('doctor --json has the documented fields', async () => {
  const d = await cliJson(['doctor']);
  assert.equal(d.command, 'doctor');
  assert.deepEqual(Object.keys(d).sort(), ['addon', 'checks', 'command', 'devShm', 'ipcNamespace', 'kernel', 'node', 'schema', 'sysv'].sort());
  assert.equal(d.devShm.path, '/dev/shm');
  for (const k of ['sizeBytes', 'usedBytes', 'availableBytes', 'usePercent']) assert.equal(typeof d.devShm[k], 'number', k);
  // huge=: the option of the mount on top at /dev/shm (the last listed), 'never' when absent
  const shmMount = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1] === '/dev/shm').pop();
  const huge = /(?:^|,)huge=([a-z_]+)/.exec(shmMount.split(' ')[3])?.[1] ?? 'never';
  assert.equal(d.devShm.hugePages, huge);
  const hugeCheck = d.checks.find((c) => c.name === 'dev-shm-huge-pages');
  assert.equal(hugeCheck.status, huge === 'always' || huge === 'within_size' ? 'ok' : 'info');
  assert.ok(hugeCheck.message.includes(`huge=${huge}`), hugeCheck.message);
  for (const k of ['shmmax', 'shmall', 'shmmni', 'segments', 'bytes', 'pagesUsed']) assert.equal(typeof d.sysv[k], 'number', k);
  assert.match(d.ipcNamespace.self, /^ipc:\[\d+\]$/);
  assert.equal(typeof d.kernel.futexWaitv, 'boolean');
  assert.equal(d.kernel.memfdCreate, true);
  assert.equal(d.node.version, process.version);
  // the addon this clone loads: the prebuild, or build/Release when one was compiled here
  assert.ok(d.addon.path.startsWith(ROOT), `the addon is this clone's (${d.addon.path})`);
  assert.equal(d.addon.origin, d.addon.path.includes('/prebuilds/') ? 'prebuilt' : 'compiled', d.addon.path);
  assert.ok(d.checks.length >= 6 && d.checks.every((c) => ['ok', 'warn', 'fail', 'info'].includes(c.status) && typeof c.message === 'string'));
  // the reference process (pid 1, or the lowest readable pid) shares this test's namespace unless the whole run is in its own
  assert.equal(d.ipcNamespace.separate, readlinkSync('/proc/self/ns/ipc') !== d.ipcNamespace.reference.ns);
});

test('doctor inside its own IPC and mount namespace (unshare, a private tmpfs on /dev/shm) reports the separate namespace', async (t) => {
  const probe = await run('unshare', ['--ipc', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /dev/shm'], { timeoutMs: 10000 })
    .catch((e) => ({ code: -1, stderr: e.message }));
  if (probe.code !== 0) {
    t.skip(`unshare --ipc --mount with a tmpfs mount is not allowed here: ${probe.stderr.trim()}`);
    return;
  }
  const script = `mount -t tmpfs tmpfs /dev/shm && exec "$0" "$1" doctor --json`;
  const r = await run('unshare', ['--ipc', '--mount', '--propagation', 'private', 'sh', '-c', script, process.execPath, MAIN], { timeoutMs: 20000 });
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(d.ipcNamespace.separate, true);
  assert.notEqual(d.ipcNamespace.self, d.ipcNamespace.reference.ns);
  const check = d.checks.find((c) => c.name === 'ipc-namespace');
  assert.equal(check.status, 'warn');
  assert.match(check.message, /own IPC namespace.*--ipc=host/);
  assert.equal(d.devShm.usedBytes, 0, 'its /dev/shm is the fresh tmpfs');
  assert.equal(d.devShm.hugePages, 'never', 'a tmpfs mounted without huge=');
  assert.equal(d.checks.find((c) => c.name === 'dev-shm-huge-pages').status, 'info');
  // The same with huge pages: reported, and no hint.
  const hugeScript = `mount -t tmpfs -o huge=within_size tmpfs /dev/shm && exec "$0" "$1" doctor --json`;
  const h = await run('unshare', ['--ipc', '--mount', '--propagation', 'private', 'sh', '-c', hugeScript, process.execPath, MAIN], { timeoutMs: 20000 });
  assert.equal(h.code, 0, h.stderr);
  const dh = JSON.parse(h.stdout);
  assert.equal(dh.devShm.hugePages, 'within_size');
  const hugeCheck = dh.checks.find((c) => c.name === 'dev-shm-huge-pages');
  assert.equal(hugeCheck.status, 'ok');
  assert.match(hugeCheck.message, /huge=within_size/);
});

test('inspect reads each kind through its public API (Queue traffic, a Mutex held by a live child, Dict fill, SharedArray, Semaphore) and dumps raw bytes', async () => {
  const queue = track(name('in-queue'));
  const mutex = track(name('in-mutex'));
  const dict = track(name('in-dict'));
  const array = track(name('in-array'));
  const sem = track(name('in-sem'));
  const raw = track(name('in-raw'));
  const q = Queue.create(queue, { capacity: 4096 });
  for (let i = 0; i < 5; i++) assert.ok(q.trySend(`message ${i}`));
  q.tryReceive();
  q.tryReceive();
  q.close();
  Mutex.create(mutex).close();
  const d = Dict.create(dict, { memory: 1 << 16 });
  for (const k of ['a', 'b', 'c']) d.set(k, 'x'.repeat(100));
  d.close();
  SharedArray.create(array, { type: Float64Array, length: 10 }).close();
  Semaphore.create(sem, { initial: 3 }).close();
  const s = Segment.create(raw, { size: 100 });
  s.bytes.set(Buffer.from('Hello, raw world! 0123456789'), 10);
  s.close();
  const holder = await peer('mutex', mutex);
  try {
    const iq = await cliJson(['inspect', queue]);
    assert.equal(iq.command, 'inspect');
    assert.equal(iq.object.kind, 'Queue');
    assert.equal(iq.header.creatorPid, process.pid);
    assert.deepEqual(
      { sent: iq.details.sent, received: iq.details.received, length: iq.details.length, capacity: iq.details.capacity, ended: iq.details.ended },
      { sent: 5, received: 2, length: 3, capacity: 4096, ended: false },
    );
    assert.equal(iq.dump, null, 'no dump of a shmkit object unless asked');

    const im = await cliJson(['inspect', mutex]);
    assert.equal(im.details.locked, true);
    assert.equal(im.details.holder.pid, holder.child.pid);
    assert.equal(im.details.holder.alive, true);
    assert.deepEqual(im.object.users.map((u) => u.pid), [holder.child.pid]);

    const id = await cliJson(['inspect', dict]);
    assert.equal(id.details.entries, 3);
    assert.ok(id.details.used > 300 && id.details.used + id.details.freeSpace === id.details.capacity, JSON.stringify(id.details));

    const ia = (await cliJson(['inspect', array])).details;
    assert.deepEqual({ type: ia.type, length: ia.length, byteLength: ia.byteLength }, { type: 'Float64Array', length: 10, byteLength: 80 });
    const is = (await cliJson(['inspect', sem])).details;
    assert.deepEqual({ value: is.value, initial: is.initial, acquisitions: is.acquisitions }, { value: 3, initial: 3, acquisitions: 0 });
    assert.ok(im.details.acquisitions >= 1, 'the live child took the Mutex');

    const ir = await cliJson(['inspect', raw, '--offset', '10', '--length', '0x11']);
    assert.equal(ir.object.kind, 'raw');
    assert.deepEqual(ir.dump, { offset: 10, length: 17, hex: Buffer.from('Hello, raw world!').toString('hex') });
    const text = await cli(['inspect', raw, '--offset', '16', '--length', '16']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^00000010  20 72 61 77 20 77 6f 72  6c 64 21 20 30 31 32 33  \| raw world! 0123\|$/m);

    const missing = await cli(['inspect', `${raw}-none`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^shmkit: ENOENT: /m);
    const past = await cli(['inspect', raw, '--offset', '101']);
    assert.equal(past.code, 1);
    assert.match(past.stderr, /^shmkit: ERR_OUT_OF_RANGE: /m);
    const bad = await cli(['inspect', raw, '--length', '-1']);
    assert.equal(bad.code, 2);
  } finally {
    await reap(holder);
    unlinkQuietly(queue, mutex, dict, array, sem, raw);
  }
});

test('colour only on a terminal and never with NO_COLOR; a closed pipe ends the command quietly', async (t) => {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  const piped = await cli(['doctor'], { env });
  assert.equal(piped.code, 0, piped.stderr);
  assert.doesNotMatch(piped.stdout, /\x1b\[/, 'no colour into a pipe');
  // `script` gives the command a terminal (util-linux); skip where it is missing
  const tty = await run('script', ['-qec', `"${process.execPath}" "${MAIN}" doctor`, '/dev/null'], { env, timeoutMs: 20000 }).catch((e) => ({ code: -1, stdout: '', stderr: e.message }));
  if (tty.code !== 0) {
    t.diagnostic(`script(1) not usable here: ${tty.stderr.trim()}`);
  } else {
    assert.match(tty.stdout, /\x1b\[32mok/, 'colour on a terminal');
    const plain = await run('script', ['-qec', `"${process.execPath}" "${MAIN}" doctor`, '/dev/null'], { env: { ...env, NO_COLOR: '1' }, timeoutMs: 20000 });
    assert.equal(plain.code, 0);
    assert.doesNotMatch(plain.stdout, /\x1b\[/, 'no colour with NO_COLOR, even on a terminal');
    assert.match(plain.stdout, /^ok {4}\/dev\/shm/m);
  }
  const head = await run('sh', ['-c', `"${process.execPath}" "${MAIN}" doctor | head -c 1 >/dev/null; echo "exit $?"`], { timeoutMs: 20000 });
  assert.doesNotMatch(head.stderr, /EPIPE|Error/, 'no stack trace when the reader goes away');
});
