// Barrier: generations across processes, arrival indices, withdrawal on
// timeout, bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Barrier, Condition, Mutex, RwLock, Segment, Semaphore } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { rawCells, unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';
import { children } from './fixtures/proc.mjs';

const PEER = new URL('./fixtures/barrier-peer.mjs', import.meta.url).pathname;

// Data cells shared with barrier-peer.mjs.
const ARRIVALS = 0;
const VIOLATIONS = 1;
const READY = 2;
const DONE = 3;
const MASKS = 16;

// Barrier layout: PARTIES at byte 64, ARRIVAL 68 (tag << 16 | count), GENERATION 72, WAITERS 76.
const PARTIES = 64 / 4;
const ARRIVAL = 68 / 4;
const arrivedOf = (raw) => raw[ARRIVAL] & 0xffff;
const GENERATION = 72 / 4;
const WAITERS = 76 / 4;

/** A named barrier and a data segment. */
function namedSet(label, parties) {
  const names = { b: uniqueName(`${label}-b`), d: uniqueName(`${label}-d`) };
  const barrier = Barrier.create(names.b, { parties });
  const data = Segment.create(names.d, { size: 8192 });
  return {
    names,
    barrier,
    cells: new Int32Array(data.buffer),
    close() {
      barrier.close();
      data.close();
      unlinkQuietly(names.b, names.d);
    },
  };
}

test('3 processes pass 1 000 generations together, with distinct arrival indices', async () => {
  const set = namedSet('bar-gens', 3);
  const kids = children(PEER);
  try {
    const { names, barrier, cells } = set;
    const gens = 1000;
    const t0 = performance.now();
    const outs = await Promise.all(['sync', 'async', 'async'].map((form) => kids.node(['gens', names.b, names.d, form, gens])));
    const ms = performance.now() - t0;
    for (const out of outs) {
      const r = JSON.parse(out);
      assert.ok(r.longestWaitMs < 2000, `a ${r.form} party once waited ${Math.round(r.longestWaitMs)} ms (timeout 5 s)`);
    }
    assert.equal(Atomics.load(cells, VIOLATIONS), 0, 'nobody passed early or saw an index twice');
    assert.equal(Atomics.load(cells, DONE), 3);
    assert.equal(Atomics.load(cells, ARRIVALS), 3 * gens);
    for (let g = 0; g < gens; g++) {
      assert.equal(Atomics.load(cells, MASKS + g), 0b111, `generation ${g}: indices are a permutation of 0..2`);
    }
    const raw = rawCells(barrier);
    assert.equal(raw[GENERATION], gens, 'one generation per round');
    assert.equal(arrivedOf(raw), 0);
    assert.equal(raw[WAITERS], 0);
    assert.ok(ms < 15000, `took ${Math.round(ms)} ms`);
  } finally {
    await kids.kill();
    set.close();
  }
});

test('timed-out waits in 2 of 3 processes withdraw; the next full round works', async () => {
  const set = namedSet('bar-withdraw', 3);
  const kids = children(PEER);
  try {
    const { names, barrier, cells } = set;
    const raw = rawCells(barrier);
    const gen = raw[GENERATION];

    // Both present parties give up.
    const outs = await Promise.all(['sync', 'async'].map((form) => kids.node(['timeout', names.b, names.d, form, 300])));
    for (const out of outs) {
      const r = JSON.parse(out);
      assert.equal(r.code, 'ETIMEDOUT', `got ${out}`);
      assert.ok(r.ms >= 250, `timed out after ${r.ms} ms`);
    }
    assert.equal(arrivedOf(raw), 0, 'both arrivals withdrawn');
    assert.equal(raw[GENERATION], gen, 'the barrier did not trip');
    assert.equal(raw[WAITERS], 0);

    // A full round afterwards.
    const round = await Promise.all(['sync', 'async', 'sync'].map((form) => kids.node(['once', names.b, names.d, form, 5000])));
    assert.deepEqual(round.map((out) => JSON.parse(out).index).sort(), [0, 1, 2]);
    assert.equal(raw[GENERATION], gen + 1);
    assert.equal(arrivedOf(raw), 0);

    // One party waits on while another times out; this process and a third
    // child then complete the round with it.
    Atomics.store(cells, READY, 0);
    const patient = kids.node(['once', names.b, names.d, 'sync', 5000]);
    await waitUntil(() => arrivedOf(raw) === 1 && raw[WAITERS] === 1, 10000, 'the first party to park');
    const quitter = JSON.parse(await kids.node(['timeout', names.b, names.d, 'async', 200]));
    assert.equal(quitter.code, 'ETIMEDOUT');
    assert.equal(arrivedOf(raw), 1, 'only the quitter withdrew');
    const third = kids.node(['once', names.b, names.d, 'async', 5000]);
    const mine = await barrier.wait({ timeout: 5000 });
    const indices = [mine, JSON.parse(await patient).index, JSON.parse(await third).index];
    assert.equal(indices[1], 0, 'the patient party arrived first');
    assert.deepEqual([...indices].sort(), [0, 1, 2]);
    assert.equal(raw[GENERATION], gen + 2);
    assert.equal(arrivedOf(raw), 0);
  } finally {
    await kids.kill();
    set.close();
  }
});

test('in one process: timeouts and aborts withdraw, sync and async', async () => {
  const sab = new SharedArrayBuffer(256);
  const b = Barrier.init(sab, 128, { parties: 2 });
  const raw = rawCells(b);
  assert.equal(b.parties, 2);
  assert.throws(() => b.waitSync({ timeout: 20 }), { code: 'ETIMEDOUT' });
  assert.equal(arrivedOf(raw), 0);
  await assert.rejects(b.wait({ timeout: 20 }), { code: 'ETIMEDOUT' });
  assert.equal(arrivedOf(raw), 0);
  const reason = new Error('stop');
  const ac = new AbortController();
  setTimeout(() => ac.abort(reason), 20);
  await assert.rejects(b.wait({ signal: ac.signal, timeout: 5000 }), (err) => err === reason);
  assert.equal(arrivedOf(raw), 0);
  await assert.rejects(b.wait({ signal: AbortSignal.abort(reason), timeout: 5000 }), (err) => err === reason);
  assert.equal(arrivedOf(raw), 0, 'an already-aborted wait never arrives');
  assert.equal(raw[WAITERS], 0);
  assert.equal(raw[GENERATION], 0);

  // Two async parties of one process still meet.
  const other = Barrier.attach(sab, 128);
  const [x, y] = await Promise.all([b.wait({ timeout: 2000 }), other.wait({ timeout: 2000 })]);
  assert.deepEqual([x, y].sort(), [0, 1]);
  assert.equal(raw[GENERATION], 1);

  // parties 1: never waits.
  const solo = Barrier.init(sab, 0, { parties: 1 });
  assert.equal(solo.waitSync({ timeout: 0 }), 0);
  assert.equal(await solo.wait({ timeout: 0 }), 0);
  assert.equal(rawCells(solo)[GENERATION], 2);
});

// Documented: after a withdrawal a later arrival may reuse an index; the
// generation still needs exactly `parties` present arrivals, and exactly one
// of them (the one that completes it) gets parties - 1.
test('a generation where a middle arrival withdrew completes with the parties present', async () => {
  const sab = new SharedArrayBuffer(128);
  const b = Barrier.init(sab, 0, { parties: 3 });
  const quitter = b.wait({ timeout: 100 }); // index 0, then withdraws
  const stayer = b.wait({ timeout: 5000 }); // index 1
  await assert.rejects(quitter, { code: 'ETIMEDOUT' });
  const late = b.wait({ timeout: 5000 });
  const last = b.wait({ timeout: 5000 });
  const indices = await Promise.all([stayer, late, last]);
  assert.equal(rawCells(b)[GENERATION], 1);
  assert.ok(indices.every((i) => i >= 0 && i <= 2), `indices ${JSON.stringify(indices)}`);
  assert.equal(indices.filter((i) => i === 2).length, 1, `indices ${JSON.stringify(indices)}`);
  assert.equal(arrivedOf(rawCells(b)), 0, 'the next generation starts empty');
});

test('parties must be given and be an integer from 1', () => {
  for (const options of [{ parties: 0 }, { parties: -1 }, { parties: 1.5 }, { parties: 2 ** 30 }]) {
    const name = uniqueName('bar-bad');
    try {
      assert.throws(() => Barrier.create(name, options), (err) => err instanceof RangeError && err.code === 'ERR_OUT_OF_RANGE', JSON.stringify(options));
      assert.throws(() => Segment.open(name), { code: 'ENOENT' }, 'nothing was created');
      assert.throws(() => Barrier.openOrCreate(name, options), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => Barrier.byteLength(options), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => Barrier.init(new SharedArrayBuffer(128), 0, options), { code: 'ERR_OUT_OF_RANGE' });
    } finally {
      unlinkQuietly(name);
    }
  }
  for (const options of [undefined, {}, { parties: '3' }, { parties: null }]) {
    const name = uniqueName('bar-missing');
    try {
      assert.throws(() => Barrier.create(name, options), (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE', JSON.stringify(options));
      assert.throws(() => Segment.open(name), { code: 'ENOENT' }, 'nothing was created');
      assert.throws(() => Barrier.byteLength(options), { code: 'ERR_INVALID_ARG_TYPE' });
      const sab = new SharedArrayBuffer(128);
      assert.throws(() => Barrier.init(sab, 0, options), { code: 'ERR_INVALID_ARG_TYPE' });
      assert.ok(new Uint8Array(sab).every((v) => v === 0), 'init wrote nothing');
    } finally {
      unlinkQuietly(name);
    }
  }
  assert.equal(Barrier.byteLength({ parties: 3 }), 128);

  // A formatted barrier whose parties field was corrupted is refused.
  const sab = new SharedArrayBuffer(128);
  Barrier.init(sab, 0, { parties: 3 }).close();
  new Int32Array(sab)[PARTIES] = 0;
  assert.throws(() => Barrier.attach(sab, 0), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
});

test('misuse: another kind under the name, bad embedded offsets, closed handles', async () => {
  const barName = uniqueName('bar-kind');
  const rwName = uniqueName('bar-is-rwlock');
  const b = Barrier.create(barName, { parties: 2 });
  const rw = RwLock.create(rwName);
  try {
    assert.throws(() => Barrier.open(rwName), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
    assert.throws(() => Barrier.openOrCreate(rwName, { parties: 2 }), { code: 'ERR_SHMKIT_BAD_LAYOUT' });
    for (const Other of [Mutex, Semaphore, Condition, RwLock]) {
      assert.throws(() => Other.open(barName), { code: 'ERR_SHMKIT_BAD_LAYOUT' }, `${Other.name}.open`);
    }
    assert.throws(() => Barrier.openOrCreate(barName, { parties: 5 }), { code: 'ERR_SHMKIT_MISMATCH' }, 'openOrCreate never silently ignores other parties');
  } finally {
    b.close();
    rw.close();
    unlinkQuietly(barName, rwName);
  }

  const sab = new SharedArrayBuffer(1024);
  for (const offset of [4, -8, 1.5, 1024, 1024 - 64, 4096]) {
    assert.throws(() => Barrier.init(sab, offset, { parties: 2 }), { code: 'ERR_OUT_OF_RANGE' }, `init at ${offset}`);
  }
  for (const offset of [4, -8, 1.5, 4096]) {
    assert.throws(() => Barrier.attach(sab, offset), { code: 'ERR_OUT_OF_RANGE' }, `attach at ${offset}`);
  }
  assert.ok(new Uint8Array(sab).every((v) => v === 0), 'failed inits wrote nothing');
  const e = Barrier.init(sab, 512, { parties: 2 });
  e.close();
  e.close();
  assert.throws(() => e.waitSync({ timeout: 10 }), { code: 'ERR_SHMKIT_CLOSED' });
  await assert.rejects(e.wait({ timeout: 10 }), { code: 'ERR_SHMKIT_CLOSED' });
  assert.equal(arrivedOf(rawCells(Barrier.attach(sab, 512))), 0, 'a closed handle never arrives');
});

test('parties of a closed handle throws ERR_SHMKIT_CLOSED', () => {
  const name = uniqueName('bar-closed-parties');
  const b = Barrier.create(name, { parties: 3 });
  try {
    b.close();
    assert.throws(() => b.parties, { code: 'ERR_SHMKIT_CLOSED' });
  } finally {
    unlinkQuietly(name);
  }
});

test('openOrCreate with other parties than the existing Barrier is ERR_SHMKIT_MISMATCH; the same parties open it', () => {
  const name = uniqueName('bar-mismatch');
  const b = Barrier.openOrCreate(name, { parties: 3 });
  try {
    const same = Barrier.openOrCreate(name, { parties: 3, spin: 0 });
    assert.equal(same.parties, 3);
    same.close();
    for (const parties of [1, 2, 4]) {
      assert.throws(() => Barrier.openOrCreate(name, { parties }), (err) => {
        assert.equal(err.code, 'ERR_SHMKIT_MISMATCH');
        assert.equal(err.path, name);
        assert.match(err.message, new RegExp(`^Barrier '${name}' already exists with parties 3; openOrCreate asked for ${parties}`));
        return true;
      });
    }
    assert.equal(b.parties, 3);
    assert.equal(rawCells(b)[PARTIES], 3);
  } finally {
    b.close();
    Barrier.unlink(name);
  }
});
