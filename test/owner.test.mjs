// Ownership: /dev/shm is world-writable, so another local user can create a
// well-known name first (mode 0666) and wait for a server to open it. Every
// kind's open and openOrCreate, and Segment.open, refuse an object whose
// owner is not this process's effective uid (ERR_SHMKIT_FOREIGN_OWNER,
// checked on the open descriptor), unless the caller trusts that owner.
// Also: a FIFO at a name is refused at once (it blocked a read-only open for
// ever), and a symlink at a name is not followed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Barrier, Condition, Dict, Mutex, Notifier, Queue, RwLock, Segment, Semaphore, SharedArray, SysVSegment, Topic } from 'shmkit';
import { trackedNames, uniqueKey } from './fixtures/names.mjs';
import { expectCode, unlinkQuietly } from './fixtures/helpers.mjs';

const uniqueName = trackedNames();
const SQUAT = fileURLToPath(new URL('./fixtures/squat.mjs', import.meta.url));
const NOBODY = 65534;
const isRoot = process.geteuid() === 0;
const foreign = expectCode('ERR_SHMKIT_FOREIGN_OWNER');

// [kind, class, open options that must match what squat.mjs made (for openOrCreate)]
const KINDS = [
  ['Segment', Segment, { size: 4096 }],
  ['Mutex', Mutex, {}],
  ['RwLock', RwLock, {}],
  ['Semaphore', Semaphore, { initial: 2 }],
  ['Condition', Condition, {}],
  ['Barrier', Barrier, { parties: 3 }],
  ['Notifier', Notifier, {}],
  ['Queue', Queue, { capacity: 4096 }],
  ['Topic', Topic, { capacity: 4096 }],
  ['Dict', Dict, { memory: 65536 }],
  ['SharedArray', SharedArray, { type: Float64Array, length: 8 }],
];

// Creates `name` (a System V key for 'SysV') as `kind` in a process running as uid/gid 65534.
function squat(kind, name) {
  const r = spawnSync(process.execPath, [SQUAT, kind, String(name)], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `squatter (${kind}) failed: ${r.stderr}`);
  const seen = JSON.parse(r.stdout);
  assert.deepEqual([seen.uid, seen.owner], [NOBODY, NOBODY], 'the squatter runs as, and owns the object as, uid 65534');
  return seen;
}

test('a name another user created first (mode 0666): open and openOrCreate of every kind refuse it with ERR_SHMKIT_FOREIGN_OWNER; trusting that owner opens it', { skip: !isRoot && 'needs root to run a process as uid 65534' }, () => {
  for (const [kind, Class, geometry] of KINDS) {
    const name = uniqueName(`owner-${kind}`);
    try {
      squat(kind, name);
      const refused = (err) => {
        foreign(err);
        assert.equal(err.path, name);
        assert.match(err.message, new RegExp(`'${name}' is owned by uid ${NOBODY}, not by this process's uid 0`));
        assert.match(err.message, new RegExp(`trustOwners: \\[${NOBODY}\\]`));
        return true;
      };
      assert.throws(() => Class.open(name), refused, `${kind}.open`);
      assert.throws(() => Class.openOrCreate(name, geometry), refused, `${kind}.openOrCreate`);
      assert.throws(() => Class.open(name, { trustOwners: [1, 2, 3] }), refused, `${kind}.open trusting others`);
      // Trusted explicitly (by uid, or any owner): it opens and works.
      for (const trustOwners of [[NOBODY], [7, NOBODY], 'any']) {
        const h = Class.open(name, { trustOwners });
        try {
          if (kind === 'Dict') assert.equal(h.get('limit'), 999999, 'the squatter’s value, read only once trusted');
        } finally {
          h.close();
        }
        Class.openOrCreate(name, { ...geometry, trustOwners }).close();
      }
      // The squatted name can be removed by the kind's own unlink (the kernel decides who may).
      Class.unlink(name);
      assert.equal(existsSync(`/dev/shm${name}`), false, `${kind}.unlink removes a squatted name`);
      // With the name gone, openOrCreate creates our own: owned by us, opened without options.
      Class.openOrCreate(name, geometry).close();
      Class.open(name).close();
    } finally {
      unlinkQuietly(name);
    }
  }
});

test('a System V key another user took first: SysVSegment.get refuses its segment unless that owner is trusted', { skip: !isRoot && 'needs root to run a process as uid 65534' }, () => {
  let key = 0;
  let id = -1;
  for (let n = 0; n < 20 && id < 0; n++) {
    key = uniqueKey();
    if (SysVSegment.list().some((s) => s.key === key)) continue;
    id = squat('SysV', key).id;
  }
  assert.ok(id >= 0, 'no free test key');
  try {
    const label = `key 0x${key.toString(16).padStart(8, '0')}`;
    for (const options of [undefined, { size: 4096 }, { create: true, size: 4096 }, { trustOwners: [0] }]) {
      assert.throws(() => SysVSegment.get(key, options), (err) => {
        foreign(err);
        assert.equal(err.path, label);
        assert.match(err.message, new RegExp(`SysVSegment ${label} is owned by uid ${NOBODY}`));
        return true;
      }, `get(${JSON.stringify(options)})`);
    }
    const seg = SysVSegment.get(key, { trustOwners: [NOBODY] });
    assert.equal(seg.id, id);
    const a = seg.attach();
    a.detach();
    assert.equal(SysVSegment.get(key, { trustOwners: 'any' }).id, id);
  } finally {
    try { SysVSegment.fromId(id).remove(); } catch { /* gone */ }
  }
});

test('trustOwners must be an Array of uids or \'any\'', () => {
  const name = uniqueName('owner-arg');
  Mutex.create(name).close();
  try {
    for (const bad of ['all', 0, {}, [-1], [1.5], ['0'], [2 ** 32]]) {
      assert.throws(() => Mutex.open(name, { trustOwners: bad }), (err) => ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE'].includes(err.code), `trustOwners ${JSON.stringify(bad)}`);
      assert.throws(() => Segment.open(name, { trustOwners: bad }), (err) => ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE'].includes(err.code));
    }
    // Our own objects need no option, and any list works for them.
    Mutex.open(name, { trustOwners: [] }).close();
    Mutex.open(name, { trustOwners: [NOBODY] }).close();
  } finally {
    unlinkQuietly(name);
  }
});

test('a FIFO at a name is refused at once (ENODEV), read-only or not, by Segment.open and every kind; a symlink at a name is not followed', () => {
  const fifo = uniqueName('owner-fifo');
  const mk = spawnSync('mkfifo', [`/dev/shm${fifo}`]);
  assert.equal(mk.status, 0, 'mkfifo');
  try {
    // In a child: before the fix a read-only open blocked for ever, so a hang must fail the test, not stall it.
    const code = `
      import { Segment, Queue, Dict } from 'shmkit';
      const out = [];
      for (const f of [() => Segment.open(${JSON.stringify(fifo)}, { readOnly: true }), () => Segment.open(${JSON.stringify(fifo)}),
                       () => Queue.open(${JSON.stringify(fifo)}), () => Dict.open(${JSON.stringify(fifo)})]) {
        try { f(); out.push('opened'); } catch (err) { out.push(err.code + ': ' + err.message); }
      }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 15000, cwd: fileURLToPath(new URL('..', import.meta.url)) });
    assert.equal(r.signal, null, `the opens did not return (killed by ${r.signal} after 15 s)`);
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    assert.equal(got.length, 4);
    for (const line of got) assert.match(line, /^ENODEV: Segment '.*': not a shared memory object \(a FIFO, socket or device is at that name\)$/);
    assert.ok(existsSync(`/dev/shm${fifo}`), 'the FIFO is left alone');
  } finally {
    try { unlinkSync(`/dev/shm${fifo}`); } catch { /* gone */ }
  }

  const target = uniqueName('owner-target');
  const link = uniqueName('owner-link');
  Segment.create(target, { size: 4096 }).close();
  symlinkSync(`/dev/shm${target}`, `/dev/shm${link}`);
  try {
    assert.throws(() => Segment.open(link), expectCode('ELOOP'), 'a symlink at the name was followed');
    assert.throws(() => Mutex.open(link), expectCode('ELOOP'));
  } finally {
    try { unlinkSync(`/dev/shm${link}`); } catch { /* gone */ }
    unlinkQuietly(target);
  }
});
