// Dict across worker threads of one process: each thread has its own handle
// (and its own robust-list entry for the write lock), and every operation
// stays atomic between them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Dict, Segment } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { withTimeout } from './fixtures/helpers.mjs';

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { Dict } = require('shmkit');
const d = Dict.open(workerData.name);
for (let i = 0; i < workerData.n; i++) {
  d.incr('count', 1, { init: 0 });
  d.incr('big', 2n, { init: 0n });
  d.set('w' + workerData.id, 'v' + i);
  if (d.get('w' + workerData.id) !== 'v' + i) throw new Error('lost my own write at ' + i);
}
d.close();
parentPort.postMessage('done');
`;

test('3 worker threads and the main thread × 20 000 incr on shared keys: totals exact, check() clean', async () => {
  const name = uniqueName('dict-threads');
  const d = Dict.create(name, { memory: 1 << 20 });
  try {
    const n = 20_000;
    const workers = [1, 2, 3].map((id) => new Worker(WORKER, { eval: true, workerData: { name, n, id } }));
    const done = workers.map((w) => new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); }));
    for (let i = 0; i < n; i++) {
      d.incr('count', 1, { init: 0 });
      d.incr('big', 2n, { init: 0n });
    }
    await withTimeout(Promise.all(done), 60_000, 'workers');
    assert.equal(d.get('count'), 4 * n);
    assert.equal(d.get('big'), BigInt(8 * n));
    for (const id of [1, 2, 3]) assert.equal(d.get('w' + id), 'v' + (n - 1));
    assert.deepEqual(d.check(), []);
  } finally {
    d.close();
    Dict.unlink(name);
  }
});

test('a worker terminated in the middle of writing: the next writer repairs, nothing is torn', async (t) => {
  const name = uniqueName('dict-terminate');
  const d = Dict.create(name, { memory: 1 << 18 });
  try {
    const hammer = `
      const { workerData, parentPort } = require('node:worker_threads');
      const { Dict } = require('shmkit');
      const d = Dict.open(workerData.name);
      parentPort.postMessage('ready');
      for (let i = 0; ; i++) d.set('k' + (i % 300), 'value-' + i + '-' + 'x'.repeat(i % 200));
    `;
    // docs/LAYOUT.md: the write lock is a Mutex at 192; its word at +64 (bit 30: OWNER_DIED).
    const raw = Segment.open(name);
    const lockWord = new Int32Array(raw.buffer, 192 + 64, 1);
    let diedHolding = 0;
    let rounds = 0;
    // At least 5 rounds, and more (up to 30) until one ended with the lock
    // held: where the worker is stopped is chance, and a busy machine skews it.
    for (let round = 0; round < 30 && (round < 5 || diedHolding === 0); round++) {
      rounds++;
      const w = new Worker(hammer, { eval: true, workerData: { name } });
      await withTimeout(new Promise((resolve) => w.once('message', resolve)), 10_000, 'worker ready');
      await new Promise((r) => setTimeout(r, 20 + 15 * (round % 5)));
      await withTimeout(w.terminate(), 10_000, 'worker.terminate()');
      if (Atomics.load(lockWord, 0) & 0x40000000) diedHolding++;
      d.set('probe', round); // takes the lock: repairs if the worker died holding it
      assert.equal(d.get('probe'), round);
      assert.deepEqual(d.check(), [], `round ${round}`);
      for (const k of d.keys(0)) {
        const v = d.get(k);
        if (k === 'probe') continue;
        assert.match(v, /^value-(\d+)-x*$/, `key ${k}`);
        const i = Number(v.split('-')[1]);
        assert.equal(v, 'value-' + i + '-' + 'x'.repeat(i % 200), `key ${k} holds a torn value`);
        assert.equal(k, 'k' + (i % 300), `key ${k} holds another key's value`);
      }
    }
    raw.close();
    // The loop spends most of its time inside set(): at least one round must
    // have ended with the lock held, or the repair path was never tested.
    assert.ok(diedHolding >= 1, `no worker died holding the write lock in ${rounds} rounds`);
    t.diagnostic(`the worker died holding the write lock in ${diedHolding} of ${rounds} rounds`);
  } finally {
    d.close();
    Dict.unlink(name);
  }
});
