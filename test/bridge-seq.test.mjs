// Topic.lastSeq and Subscriber.lastSeq: what the bridge tells its own
// messages by (a message it published into a local Topic must not go back
// out). The publisher's number and the subscriber's agree, across laps,
// other publishers, handles in other processes and the 2^32 wrap of
// nothing (u32, never negative).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Topic } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { expectCode } from './fixtures/helpers.mjs';

const uniqueName = trackedNames();

test('lastSeq: undefined before the first message; the publisher\'s number is the one the subscriber sees', () => {
  const name = uniqueName('seq');
  const a = Topic.create(name, { capacity: 4096 });
  const b = Topic.open(name);
  try {
    assert.equal(a.lastSeq, undefined);
    const sub = b.subscribe();
    assert.equal(sub.lastSeq, undefined);
    const mine = new Set();
    for (let i = 0; i < 50; i++) {
      const h = i % 3 === 0 ? a : b;
      h.publish(Buffer.from(`m${i}`));
      if (h === a) mine.add(h.lastSeq);
    }
    assert.equal(a.lastSeq, 48, 'a published 0, 3, ..., 48');
    assert.equal(b.lastSeq, 49);
    const seen = [];
    for (let m; (m = sub.tryReceive()) !== undefined;) seen.push([m.toString(), sub.lastSeq]);
    assert.deepEqual(seen.map(([, s]) => s), Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(seen.filter(([, s]) => mine.has(s)).map(([m]) => m), Array.from({ length: 17 }, (_, i) => `m${i * 3}`));
  } finally {
    a.close();
    b.close();
    Topic.unlink(name);
  }
});

test('lastSeq after a lap (onLag skip) is the sequence of the oldest message kept, and jumps by missed + 1', () => {
  const name = uniqueName('seq-lap');
  const t = Topic.create(name, { capacity: 256 });
  try {
    const sub = t.subscribe({ onLag: 'skip' });
    for (let i = 0; i < 40; i++) t.publish(Buffer.alloc(24, i));
    const first = sub.tryReceive();
    assert.ok(sub.missed > 0, 'it lapped');
    assert.equal(sub.lastSeq, sub.missed, 'the first message returned is number missed');
    assert.equal(first[0], sub.missed);
    assert.equal(t.lastSeq, 39);
    t.close();
    assert.throws(() => t.lastSeq, expectCode('ERR_SHMKIT_CLOSED'));
    assert.throws(() => sub.lastSeq, expectCode('ERR_SHMKIT_CLOSED'));
  } finally {
    t.close();
    Topic.unlink(name);
  }
});
