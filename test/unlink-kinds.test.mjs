// The unlink rule: X.unlink(name) removes only an X, a half-created X (its
// header written, the magic not yet) or an empty (0-byte) object; another
// kind or raw data is refused with ERR_SHMKIT_BAD_LAYOUT and left in place.
// Segment.unlink removes anything. Every kind, built through the public API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { Barrier, Condition, Dict, Kind, Mutex, Notifier, Queue, RwLock, Segment, Semaphore, SharedArray, Topic } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { expectCode, unlinkQuietly } from './fixtures/helpers.mjs';

const uniqueName = trackedNames();
const exists = (name) => existsSync(`/dev/shm${name}`);
const badLayout = expectCode('ERR_SHMKIT_BAD_LAYOUT');

function makeArray(name) {
  return SharedArray.create(name, { type: Float64Array, length: 8 });
}

// [label, class, kind code, make(name) -> handle]
const KINDS = [
  ['Mutex', Mutex, Kind.Mutex, (name) => Mutex.create(name)],
  ['RwLock', RwLock, Kind.RwLock, (name) => RwLock.create(name)],
  ['Semaphore', Semaphore, Kind.Semaphore, (name) => Semaphore.create(name, { initial: 2 })],
  ['Condition', Condition, Kind.Condition, (name) => Condition.create(name)],
  ['Barrier', Barrier, Kind.Barrier, (name) => Barrier.create(name, { parties: 3 })],
  ['Notifier', Notifier, Kind.Notifier, (name) => Notifier.create(name)],
  ['Queue', Queue, Kind.Queue, (name) => Queue.create(name, { capacity: 4096 })],
  ['Topic', Topic, Kind.Topic, (name) => Topic.create(name, { capacity: 4096 })],
  ['Dict', Dict, Kind.Dict, (name) => Dict.create(name, { memory: 65536 })],
  ['SharedArray', SharedArray, Kind.SharedArray, makeArray],
];

test('X.unlink removes an X and refuses every other kind, which stays (10 x 10 kinds)', () => {
  for (const [holderLabel, , , make] of KINDS) {
    const name = uniqueName(`unlink-${holderLabel}`);
    make(name).close();
    try {
      for (const [label, Class] of KINDS) {
        if (label === holderLabel) continue;
        assert.throws(() => Class.unlink(name), (err) => {
          badLayout(err);
          assert.match(err.message, new RegExp(`${label}\\.unlink\\('${name}'\\): it holds a ${holderLabel}, not a ${label}`));
          return true;
        }, `${label}.unlink of a ${holderLabel}`);
        assert.ok(exists(name), `${label}.unlink removed a ${holderLabel}`);
      }
      const [, Own] = KINDS.find(([label]) => label === holderLabel);
      Own.unlink(name);
      assert.equal(exists(name), false, `${holderLabel}.unlink did not remove its own kind`);
      assert.throws(() => Own.unlink(name), expectCode('ENOENT'), 'a second unlink is ENOENT');
    } finally {
      unlinkQuietly(name);
    }
  }
});

test('Mutex.unlink of a Queue refuses and the Queue still works; Segment.unlink removes it', () => {
  const name = uniqueName('unlink-a-queue');
  const q = Queue.create(name, { capacity: 4096 });
  try {
    assert.throws(() => Mutex.unlink(name), badLayout);
    const again = Queue.open(name);
    assert.equal(again.trySend('still here'), true);
    assert.equal(String(q.tryReceive()), 'still here');
    again.close();
    Segment.unlink(name);
    assert.equal(exists(name), false);
  } finally {
    q.close();
    unlinkQuietly(name);
  }
});

// A creator that died after writing the header but before the magic.
function halfCreated(name, kindCode, size = 128) {
  const seg = Segment.create(name, { size });
  const view = new DataView(seg.buffer);
  view.setUint16(4, 1, true); // version
  view.setUint16(6, kindCode, true); // kind
  view.setUint32(8, 64, true); // header bytes
  view.setBigUint64(16, BigInt(size), true); // object bytes
  view.setUint32(24, 0x7ffffffe, true); // creator pid (no such process)
  seg.close();
}

test('a half-created X (header, no magic) is removable by X.unlink only; open reports the dead creator', () => {
  for (const [label, Class, code] of KINDS) {
    const name = uniqueName(`half-${label}`);
    halfCreated(name, code);
    try {
      const other = KINDS.find(([l]) => l !== label);
      assert.throws(() => other[1].unlink(name), badLayout, `${other[0]}.unlink of a half-created ${label}`);
      assert.ok(exists(name));
      if (Class === Mutex) assert.throws(() => Mutex.open(name), (err) => badLayout(err) && /died before finishing/.test(err.message));
      Class.unlink(name);
      assert.equal(exists(name), false, `${label}.unlink left a half-created ${label}`);
    } finally {
      unlinkQuietly(name);
    }
  }
});

test('an empty (0-byte) object is removable by every X.unlink', () => {
  for (const [label, Class] of KINDS) {
    const name = uniqueName(`empty-${label}`);
    writeFileSync(`/dev/shm${name}`, ''); // what shm_open(O_CREAT) leaves before ftruncate
    try {
      Class.unlink(name);
      assert.equal(exists(name), false, `${label}.unlink left an empty object`);
    } finally {
      unlinkQuietly(name);
    }
  }
});

test('raw data (no header, too short for one, or all zero) is refused by every X.unlink; Segment.unlink removes it', () => {
  const raws = [
    ['random bytes', 4096, (b) => { for (let i = 0; i < b.length; i++) b[i] = (i * 31 + 7) & 255; }],
    ['a short segment', 10, (b) => b.fill(1)],
    ['all zero', 256, () => {}],
    ['a foreign magic with a kind code', 128, (b) => { b.fill(0xab); new DataView(b.buffer).setUint16(6, Kind.Mutex, true); }],
  ];
  for (const [what, size, fill] of raws) {
    const name = uniqueName('raw');
    const seg = Segment.create(name, { size });
    fill(seg.bytes);
    const before = Buffer.from(seg.bytes);
    try {
      for (const [label, Class] of KINDS) {
        assert.throws(() => Class.unlink(name), (err) => badLayout(err) && /Segment\.unlink removes any object/.test(err.message), `${label}.unlink of ${what}`);
      }
      assert.ok(exists(name));
      assert.deepEqual(Buffer.from(seg.bytes), before, 'the refused unlinks changed nothing');
      Segment.unlink(name);
      assert.equal(exists(name), false);
    } finally {
      seg.close();
      unlinkQuietly(name);
    }
  }
});

test('Segment.unlink removes every kind; every unlink of a missing name is ENOENT', () => {
  for (const [label, , , make] of KINDS) {
    const name = uniqueName(`seg-unlink-${label}`);
    try {
      make(name).close();
      Segment.unlink(name);
      assert.equal(exists(name), false, `Segment.unlink left a ${label}`);
    } finally {
      unlinkQuietly(name);
    }
  }
  const missing = uniqueName('missing');
  for (const [label, Class] of KINDS) assert.throws(() => Class.unlink(missing), expectCode('ENOENT'), `${label}.unlink`);
  assert.throws(() => Segment.unlink(missing), expectCode('ENOENT'));
});
