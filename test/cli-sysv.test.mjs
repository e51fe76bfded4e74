// `shmkit gc --raw` and `shmkit rm sysv:0x...` on System V segments, against
// real processes: a segment a live child has attached is never collected
// and `rm` refuses it (naming the child); a detached one goes only with
// --raw, and only it. Keys are this run's (names.mjs uniqueKey), and every
// gc run is restricted to this run's key range with a name pattern, so
// other runs' and other programs' segments are never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { SysVSegment } from 'shmkit';
import { RUN_KEY_BASE, uniqueKey } from './fixtures/names.mjs';
import { reap, run, startNode } from './fixtures/proc.mjs';

const MAIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const PEER = fileURLToPath(new URL('./fixtures/cli-peer.mjs', import.meta.url));
/** A glob matching the names of this run's 256 keys (RUN_KEY_BASE is 256-aligned). */
const RUN_KEYS = `sysv:0x${(RUN_KEY_BASE >>> 8).toString(16).padStart(6, '0')}??`;

function cli(args) {
  return run(process.execPath, [MAIN, ...args], { timeoutMs: 20000, env: { ...process.env, NO_COLOR: '1' } });
}

async function cliJson(args) {
  const r = await cli([...args, '--json']);
  assert.equal(r.code, 0, `shmkit ${args.join(' ')} exited ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const nameOf = (key) => `sysv:0x${(key >>> 0).toString(16).padStart(8, '0')}`;

/** A new segment under a key of this run that nobody uses now. */
function createSegment() {
  for (let n = 0; n < 20; n++) {
    const key = uniqueKey();
    if (SysVSegment.list().some((s) => s.key >>> 0 === key)) continue;
    return SysVSegment.get(key, { size: 4096, create: true, exclusive: true });
  }
  throw new Error('no free key in this run\'s range');
}

/** IPC_RMID on each segment still there (finally blocks). */
function removeQuietly(...segments) {
  for (const s of segments) {
    try {
      s?.remove();
    } catch {
      // already removed (EINVAL/EIDRM)
    }
  }
}

/** Whether `ipcs -m` lists `key`. */
async function ipcsHas(key) {
  const r = await run('ipcs', ['-m']);
  assert.equal(r.code, 0, r.stderr);
  return new RegExp(`^0x${(key >>> 0).toString(16).padStart(8, '0')}\\s`, 'm').test(r.stdout);
}

/** A child that attaches the segment (cli-peer.mjs sysv), once it said 'ready'. */
async function attacher(seg) {
  const p = startNode(PEER, ['sysv', seg.id], { timeoutMs: 30000 });
  await p.line(/^ready$/);
  return p;
}

test('gc --raw collects exactly the detached System V segment, never the one a live child has attached; without --raw neither', async () => {
  const detached = createSegment();
  const attached = createSegment();
  let child;
  try {
    detached.attach().detach(); // used once and left: dtime set, nattch 0
    child = await attacher(attached);
    const [gone, kept] = [nameOf(detached.key), nameOf(attached.key)];
    const mine = (doc) => doc.objects.filter((o) => o.name === gone || o.name === kept);

    const noRaw = await cliJson(['gc', RUN_KEYS, '--min-age', '0']);
    assert.deepEqual(mine(noRaw).map((o) => [o.name, o.type, o.action, o.reason]).sort(), [[gone, 'sysv', 'keep', 'raw'], [kept, 'sysv', 'keep', 'raw']].sort());
    assert.ok((await ipcsHas(detached.key)) && (await ipcsHas(attached.key)), 'without --raw nothing goes');

    const young = await cliJson(['gc', RUN_KEYS, '--raw', '--dry-run', '--min-age', '3600']);
    assert.equal(mine(young).find((o) => o.name === gone)?.reason, 'too-young', 'age counts from the last detach');

    const plan = await cliJson(['gc', RUN_KEYS, '--raw', '--dry-run', '--min-age', '0']);
    assert.deepEqual(plan.objects.filter((o) => o.action === 'remove').map((o) => o.name), [gone], 'exactly the detached one would go');
    const keep = plan.objects.find((o) => o.name === kept);
    assert.deepEqual([keep?.action, keep?.reason], ['keep', 'in-use']);
    assert.deepEqual(keep.users.map((u) => u.pid), [child.child.pid]);
    assert.match(keep.detail, /attached 1 time\(s\) \(nattch\)/);
    assert.ok(await ipcsHas(detached.key), '--dry-run removed nothing');
    const text = await cli(['gc', RUN_KEYS, '--raw', '--dry-run', '--min-age', '0']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${gone} +sysv +\\d+s +would remove +not attached \\(nattch 0\\)`, 'm'));
    assert.match(text.stdout, new RegExp(`^${kept} +sysv +\\d+s +keep +attached 1 time\\(s\\) \\(nattch\\), by ${child.child.pid} node$`, 'm'));

    const done = await cliJson(['gc', RUN_KEYS, '--raw', '--min-age', '0']);
    assert.deepEqual(done.objects.filter((o) => o.action === 'removed').map((o) => o.name), [gone]);
    const keys = SysVSegment.list().map((s) => s.key >>> 0);
    assert.ok(!keys.includes(detached.key >>> 0) && !(await ipcsHas(detached.key)), 'the detached one is gone');
    assert.ok(keys.includes(attached.key >>> 0) && (await ipcsHas(attached.key)), 'the attached one stays');
    assert.equal(attached.stat().attachments, 1);
  } finally {
    await reap(child);
    removeQuietly(detached, attached);
  }
});

test('rm sysv:0x... refuses a segment a live child has attached (names it, exit 1), removes it with --force, removes an unused one; a missing one is ENOENT', async () => {
  const used = createSegment();
  const unused = createSegment();
  let child;
  try {
    child = await attacher(used);
    const [usedName, unusedName] = [nameOf(used.key), nameOf(unused.key)];

    const refused = await cli(['rm', usedName]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^shmkit: ERR_SHMKIT_IN_USE: '${usedName}' is in use by pid ${child.child.pid} \\(node, maps it\\) \\(nattch 1\\); not removed`, 'm'));
    assert.match(refused.stderr, /^shmkit: ERR_SHMKIT_RM: 1 of 1 not removed$/m);
    assert.equal(used.stat().removed, false, 'still there, not marked');

    const plain = await cli(['rm', unusedName]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, `removed ${unusedName}\n`);
    assert.ok(!(await ipcsHas(unused.key)));

    const missing = await cli(['rm', unusedName]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`^shmkit: ENOENT: '${unusedName}': no such System V segment`, 'm'));
    const bad = await cli(['rm', 'sysv:nonsense']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^shmkit: EINVAL: 'sysv:nonsense' is not a System V segment name/m);

    const forced = await cli(['rm', '--force', usedName]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, new RegExp(`^removed ${usedName} \\(still attached by pid ${child.child.pid} `, 'm'));
    const after = used.stat();
    assert.deepEqual([after.removed, after.attachments], [true, 1], 'marked; the child keeps its attachment');
  } finally {
    await reap(child);
    removeQuietly(used, unused);
  }
});
