// Queue encodings: every encode failure carries ERR_SHMKIT_ENCODE (the
// encoder's error as `cause`) and writes nothing; a message that does not
// decode throws ERR_SHMKIT_DECODE for that one message, which is consumed,
// and the queue goes on (default and shared mode, every receive path).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from 'shmkit';
import { makeQueue as makeQueueNamed } from './fixtures/queue-handle.mjs';
import { trackedNames } from './fixtures/names.mjs';

const named = trackedNames();

test('json: a BigInt, a cycle are ERR_SHMKIT_ENCODE with the cause, name in the message, nothing written; v8: a function too', () => {
  const h = makeQueueNamed(named, 'enc', { capacity: 4096, encoding: 'json' });
  const v8 = Queue.open(h.name, { encoding: 'v8' });
  try {
    const cycle = {};
    cycle.self = cycle;
    for (const [what, bad] of [['BigInt', { n: 1n }], ['cycle', cycle]]) {
      for (const send of [(m) => h.q.trySend(m), (m) => h.q.sendSync(m), (m) => h.q.trySendMany(['ok', m])]) {
        assert.throws(() => send(bad), (err) => {
          assert.equal(err.code, 'ERR_SHMKIT_ENCODE', what);
          assert.ok(err.cause instanceof TypeError, `${what}: cause is the encoder's TypeError`);
          assert.match(err.message, new RegExp(`Queue '${h.name}'`));
          return true;
        });
      }
      assert.equal(h.q.length, 0, `${what}: nothing written`);
    }
    assert.throws(() => v8.trySend({ f() {} }), (err) => err.code === 'ERR_SHMKIT_ENCODE' && err.cause instanceof Error);
    assert.equal(h.q.length, 0);
  } finally {
    v8.close();
    h.dispose();
  }
});

test('json: async send() of a BigInt rejects ERR_SHMKIT_ENCODE', async () => {
  const h = makeQueueNamed(named, 'enc-async', { capacity: 4096, encoding: 'json' });
  try {
    await assert.rejects(h.q.send(10n), (err) => err.code === 'ERR_SHMKIT_ENCODE');
    assert.equal(h.q.length, 0);
  } finally {
    h.dispose();
  }
});

for (const shared of [false, true]) {
  const mode = shared ? '{ shared: true }' : 'default mode';
  test(`a message that does not decode: ERR_SHMKIT_DECODE for it alone, consumed; the queue goes on (${mode})`, async () => {
    const h = makeQueueNamed(named, 'dec', { capacity: 4096 });
    const json = Queue.open(h.name, { encoding: 'json', shared });
    const isDecode = (err) => {
      assert.equal(err.code, 'ERR_SHMKIT_DECODE');
      assert.ok(err.cause instanceof SyntaxError);
      assert.match(err.message, new RegExp(`Queue '${h.name}'`));
      return true;
    };
    try {
      const bad = 'not json {';
      // tryReceive, receiveSync, await receive: throw once, then the next message.
      for (const receive of [() => json.tryReceive(), () => json.receiveSync({ timeout: 1000 }), () => json.receive({ timeout: 1000 })]) {
        h.q.trySend(bad);
        h.q.trySend('{"ok":1}');
        await assert.rejects(async () => receive(), isDecode);
        assert.deepEqual(await receive(), { ok: 1 });
        assert.equal(json.length, 0);
      }
      // tryReceiveMany: the bad one ends the batch; the next call throws for it; then the rest.
      for (const m of ['1', '2', bad, '3', '4']) h.q.trySend(m);
      assert.deepEqual(json.tryReceiveMany(10), [1, 2]);
      assert.throws(() => json.tryReceiveMany(10), isDecode);
      assert.deepEqual(json.tryReceiveMany(10), [3, 4]);
      assert.equal(json.length, 0);
      assert.equal(json.tryReceive(), undefined);
      assert.equal(json.lastTryResult, 'empty');
      const s = json.stats();
      assert.equal(s.sent, s.received);
      assert.equal(s.bytesUsed, 0);
    } finally {
      json.close();
      h.dispose();
    }
  });
}
