// Queue: a consumer that found nothing to take does not read CLAIM's stamp
// again until SENT or DATA_SEQ moves (QueueConsumer#take: polling that line
// would slow the producer writing it). So everything that makes a message
// takeable without a new publish must move one of them: a reservation
// dropped by close() (its cells become a SKIP), a dead producer's claim
// cleaned up, end(). Each case: a consumer that already looked and found
// the front blocked must get the message behind it on its very next call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'shmkit';
import { makeQueue } from './fixtures/queue-handle.mjs';
import { trackedNames } from './fixtures/names.mjs';

const named = trackedNames();

test('a reservation dropped by close(): the next tryReceive of a consumer that saw it open gets the message behind it', () => {
  const h = makeQueue(named, 'look-drop', { capacity: 4096 });
  const a = Queue.open(h.name);
  const c = Queue.open(h.name);
  try {
    assert.ok(a.tryReserve(10), 'reserve');
    assert.ok(h.q.trySend('after'));
    assert.equal(c.tryReceive(), undefined, 'the open reservation holds back what was sent after it');
    assert.equal(c.lastTryResult, 'empty');
    a.close(); // drops the reservation: a SKIP, and DATA_SEQ moves
    assert.equal(c.tryReceive()?.toString(), 'after');
  } finally {
    c.close();
    if (!a.closed) a.close();
    h.dispose();
  }
});

test('end() with nothing left: the next receive of a consumer that saw an empty queue ends at once', async () => {
  const h = makeQueue(named, 'look-end', { capacity: 4096 });
  const c = Queue.open(h.name);
  try {
    assert.equal(c.tryReceive(), undefined);
    h.q.end();
    await assert.rejects(c.receive({ timeout: 5000 }), { code: 'ERR_SHMKIT_QUEUE_ENDED' });
    assert.throws(() => c.receiveSync({ timeout: 5000 }), { code: 'ERR_SHMKIT_QUEUE_ENDED' });
  } finally {
    c.close();
    h.dispose();
  }
});
