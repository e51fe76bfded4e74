// shmkit/rate-limiter-flexible: RateLimiterShm over a shared-memory Dict.
// 1. Parity: one script of calls (consume within and over points, penalty,
//    reward, block, set, get, delete, blockDuration, execEvenly, keyPrefix,
//    customDuration, expiry, duration 0) gives RateLimiterMemory's results
//    (fixtures/rlf-parity.mjs). The store base's own options work.
// 2. The dict option: a handle stays the caller's, `{ name, memory }` is the
//    limiter's (closed by close()); anything else is ERR_INVALID_ARG_TYPE
//    before anything is opened. Dict errors reach the insuranceLimiter.
// 3. Exact across processes: 4 `cluster` workers, then 4 `fork`ed children,
//    each consuming from 4 loops at once on one key, 1 600 attempts for
//    1 000 points: exactly 1 000 admitted (and a RateLimiterMemory per
//    process admits all 1 600).
// 4. Worker death: 8 rounds of 2 workers consuming in a tight loop, each
//    SIGKILLed at a random moment while the other consumes (16 kills): the stored count is at least what
//    the workers saw acknowledged and at most that plus the kills that hit
//    a call in flight; then the limiter still answers, from this process and
//    from a new worker.
// 5. Typings: fixtures/rlf-types.ts compiles, and what must not, does not.
// The Redis-backed Dicts: store-rate-limiter-flexible-redis.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { Dict, SharedArray } from 'shmkit';
import { RateLimiterShm } from 'shmkit/rate-limiter-flexible';
import { processShmNames, trackedNames } from './fixtures/names.mjs';
import { STEP_MS, expectCode, sleep, withTimeout } from './fixtures/helpers.mjs';
import { killedOk, reap, run, runNode, startNode } from './fixtures/proc.mjs';
import { checkParity } from './fixtures/rlf-parity.mjs';
import { OneStepOnly } from './fixtures/one-step-dict.mjs';

const names = trackedNames();
const WORKER = fileURLToPath(new URL('./fixtures/rlf-worker.mjs', import.meta.url));
const SET = fileURLToPath(new URL('./fixtures/rlf-set.mjs', import.meta.url));

/** A fresh Dict of 1 MiB for `body`, closed and unlinked after it. */
async function withDict(label, body) {
  const name = names(label);
  const dict = Dict.create(name, { memory: 1 << 20 });
  try {
    return await body(dict, name);
  } finally {
    dict.close();
    Dict.unlink(name);
  }
}

/** The RateLimiterRes a consume resolved or rejected with (a store error is thrown). */
async function settle(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof RateLimiterRes) return err;
    throw err;
  }
}

// ---- 1. parity ---------------------------------------------------------------

test('parity with RateLimiterMemory: the same script of calls gives the same results', async (t) => {
  await withDict('parity', async (dict) => {
    const compared = await checkParity((options) => new RateLimiterShm({ dict, ...options }));
    t.diagnostic(`${compared} steps compared`);
    // keyPrefix '' stores keys as given (a number as its text); others as prefix:key.
    assert.equal(dict.get('plain'), 1);
    assert.equal(dict.get('42'), 3);
    assert.equal(dict.get('A:a'), 7);
  });
});

test('the store base\'s options: inMemoryBlockOnConsumed rejects without asking the Dict; blockOnConsumed blocks in the Dict', async () => {
  await withDict('base-opts', async (dict) => {
    const limiter = new RateLimiterShm({ dict, points: 2, duration: 60, keyPrefix: 'm', inMemoryBlockOnConsumed: 3, inMemoryBlockDuration: 30 });
    await limiter.consume('k', 2);
    const over = await settle(limiter.consume('k'));
    assert.equal(over.consumedPoints, 3);
    const blocked = await settle(limiter.consume('k'));
    assert.ok(blocked.msBeforeNext > 29000 && blocked.msBeforeNext <= 30000, `in-memory block of 30 s: ${blocked.msBeforeNext}`);
    assert.equal(dict.get('m:k'), 3, 'a consume blocked in memory touched the Dict');

    const onConsumed = new RateLimiterShm({ dict, points: 2, duration: 60, keyPrefix: 'b', blockDuration: 30, blockOnConsumed: 4 });
    for (const expected of [1, 2, 3]) assert.equal((await settle(onConsumed.consume('k'))).consumedPoints, expected);
    assert.ok(dict.ttl('b:k') > 50000, 'blocked before blockOnConsumed');
    const crossed = await settle(onConsumed.consume('k'));
    assert.equal(crossed.consumedPoints, 4);
    const ttl = dict.ttl('b:k');
    assert.ok(ttl > 25000 && ttl <= 30000, `blockOnConsumed reached: the key should be blocked for 30 s, ttl ${ttl}`);
  });
});

// ---- 2. the dict option ----------------------------------------------------

test('dict option: a bad one is ERR_INVALID_ARG_TYPE before anything is opened', () => {
  const before = processShmNames();
  const limits = { points: 1, duration: 1 };
  const partial = { get() {}, set() {}, incr() {} }; // no delete, ttl, keys
  for (const dict of [undefined, null, 'name', 42, {}, { name: 7 }, partial, []]) {
    assert.throws(() => new RateLimiterShm({ ...limits, dict }), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `dict: ${String(dict)}`);
  }
  assert.throws(() => new RateLimiterShm({ ...limits }), /options\.dict/);
  for (const options of [null, 'x', 5]) {
    assert.throws(() => new RateLimiterShm(options), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `options: ${String(options)}`);
  }
  // The library's own checks come first for its own options, and open nothing either.
  assert.throws(() => new RateLimiterShm({ dict: { name: names('never') }, duration: 1 }), /points must be set/);
  assert.deepEqual(processShmNames(), before, 'a refused limiter created a Dict');
});

test('dict option: a handle stays the caller\'s; { name, memory } is opened and closed by the limiter', async () => {
  await withDict('given', async (dict) => {
    const limiter = new RateLimiterShm({ dict, points: 5, duration: 60 });
    assert.equal((await limiter.consume('k')).consumedPoints, 1);
    await limiter.close();
    await limiter.close();
    assert.equal(dict.get('rlflx:k'), 1, 'close() closed a Dict it was given');
  });

  const name = names('owned');
  try {
    const limiter = new RateLimiterShm({ dict: { name, memory: 1 << 20 }, points: 5, duration: 60 });
    const other = Dict.open(name);
    try {
      assert.equal((await limiter.consume('k', 2)).consumedPoints, 2);
      assert.equal(other.get('rlflx:k'), 2, 'the limiter did not count in the named Dict');
      await limiter.close();
      await assert.rejects(limiter.consume('k'), expectCode('ERR_SHMKIT_CLOSED'));
      assert.equal(other.get('rlflx:k'), 2, 'close() must not remove the Dict');
    } finally {
      other.close();
    }
  } finally {
    Dict.unlink(name);
  }
});

test('a Dict that fails (here: closed) hands every call to the insuranceLimiter', async () => {
  const name = names('insured');
  try {
    const insured = new RateLimiterShm({ dict: { name, memory: 1 << 20 }, points: 5, duration: 60, insuranceLimiter: new RateLimiterMemory({ points: 1, duration: 60 }) });
    await insured.close();
    assert.equal((await insured.consume('k')).remainingPoints, 0, 'the insuranceLimiter (1 point) answers');
    const refused = await settle(insured.consume('k'));
    assert.ok(refused instanceof RateLimiterRes && refused.consumedPoints === 2);
    assert.equal((await insured.get('k')).consumedPoints, 2);
    assert.equal(await insured.delete('k'), true);
    assert.equal((await insured.block('k', 10)).consumedPoints, 2);
  } finally {
    Dict.unlink(name);
  }
});

test('over an AsyncDict, consume, penalty and reward take the count and its window\'s end from one step (incrWithTtl)', () => withDict('one-step', async (dict) => {
  const limiter = new RateLimiterShm({ dict: new OneStepOnly(dict), keyPrefix: 'rl', points: 3, duration: 60 });
  dict.set('rl:k', 1, { ttl: 40_000 });
  const r = await limiter.consume('k');
  assert.equal(r.consumedPoints, 2);
  assert.equal(r.remainingPoints, 1);
  assert.ok(r.msBeforeNext > 35_000 && r.msBeforeNext <= 40_000, `msBeforeNext: the window counted in (${r.msBeforeNext})`);
  assert.equal((await limiter.penalty('k', 1)).consumedPoints, 3);
  assert.equal((await limiter.reward('k', 2)).consumedPoints, 1);
  const over = await settle(limiter.consume('k', 5));
  assert.ok(over instanceof RateLimiterRes && over.consumedPoints === 6 && over.msBeforeNext > 35_000);
  const fresh = await limiter.consume('new');
  assert.equal(fresh.consumedPoints, 1);
  assert.equal(fresh.msBeforeNext, 60_000, 'a window it starts lasts duration');
}));

// ---- 3. exact across processes -------------------------------------------------

const POINTS = 1000;
const WORKERS = 4;
const ATTEMPTS = 400; // per worker: 1 600 in all for 1 000 points

for (const how of ['cluster', 'fork']) {
  test(`exact across ${WORKERS} ${how} workers: ${WORKERS * ATTEMPTS} attempts on one key, exactly ${POINTS} admitted; a RateLimiterMemory per process admits them all`, async (t) => {
    await withDict(`exact-${how}`, async (dict, name) => {
      const config = { mode: 'exact', backend: 'shm', dict: name, key: 'k', points: POINTS, attempts: ATTEMPTS, lanes: 4, memoryToo: true };
      const out = await runNode(SET, [how, WORKERS, JSON.stringify(config), 40000], { timeoutMs: 60000 });
      const reports = JSON.parse(out.trim().split('\n').pop());
      assert.equal(reports.length, WORKERS);
      const admitted = reports.reduce((s, r) => s + r.admitted, 0);
      const memoryAdmitted = reports.reduce((s, r) => s + r.memoryAdmitted, 0);
      t.diagnostic(`admitted per worker ${reports.map((r) => r.admitted).join(', ')}; per-process RateLimiterMemory: ${memoryAdmitted}`);
      assert.equal(admitted, POINTS, 'RateLimiterShm admitted a different number of consumes than points');
      assert.equal(dict.get('rl:k'), WORKERS * ATTEMPTS, 'every attempt is counted once');
      assert.ok(memoryAdmitted > POINTS, 'a per-process store should admit more than points (N times the limit)');
    });
  });
}

// ---- 4. worker death ---------------------------------------------------------

const KILLS = 16;
const KILLERS = 2;

test(`workers consuming in a tight loop SIGKILLed ${KILLS} times: stored = acknowledged + k, 0 <= k <= kills that hit a call in flight; the limiter works after`, { timeout: 120000 }, async (t) => {
  await withDict('kill', async (dict, name) => {
    const slotsName = names('kill-slots');
    const slotsArray = SharedArray.create(slotsName, { type: Int32Array, length: 2 * (KILLS + KILLERS) });
    const slots = slotsArray.array;
    const limits = { key: 'k', points: 5000, duration: 600, keyPrefix: 'rl' };
    const limiter = new RateLimiterShm({ dict, points: limits.points, duration: limits.duration, keyPrefix: limits.keyPrefix });
    const started = [];
    let nextSlot = 0;
    const start = async () => {
      const slot = nextSlot++;
      const p = startNode(WORKER, [JSON.stringify({ mode: 'kill', backend: 'shm', dict: name, slots: slotsName, slot, ...limits })], { timeoutMs: 90000 });
      p.slot = slot;
      started.push(p);
      await p.line(/^ready$/, 15000);
      return p;
    };
    let acknowledged = 0;
    let inFlightKills = 0;
    const kill = async (p) => {
      assert.ok(p.alive(), `worker ${p.slot} died before it was killed\nstderr: ${p.stderr}`);
      p.kill();
      await killedOk(p, `worker ${p.slot}`);
      acknowledged += Atomics.load(slots, 2 * p.slot);
      inFlightKills += Atomics.load(slots, 2 * p.slot + 1);
    };
    try {
      // Rounds: the workers start together (a start-up beside two tight loops on
      // two CPUs takes seconds), run, and are killed one after the other at
      // random moments, the others still consuming.
      for (let round = 0; round < KILLS / KILLERS; round++) {
        const workers = await Promise.all(Array.from({ length: KILLERS }, start));
        if (Math.random() < 0.5) workers.reverse();
        for (const w of workers) {
          await sleep(randomInt(1, 30));
          await kill(w);
        }
      }

      const stored = (await withTimeout(limiter.get('k'), STEP_MS, 'get after the kills')).consumedPoints;
      t.diagnostic(`${KILLS} kills, ${inFlightKills} with a call in flight; acknowledged ${acknowledged}, stored ${stored} (k = ${stored - acknowledged})`);
      assert.ok(stored >= acknowledged, `lost: ${acknowledged} consumes acknowledged, the Dict holds ${stored}`);
      assert.ok(stored <= acknowledged + inFlightKills, `counted twice: ${acknowledged} acknowledged + ${inFlightKills} in flight, the Dict holds ${stored}`);

      // The limiter still answers, here and in a new process (every wait bounded).
      const after = await withTimeout(settle(limiter.consume('k')), STEP_MS, 'a consume after the kills');
      assert.equal(after.consumedPoints, stored + 1);
      const out = await runNode(WORKER, [JSON.stringify({ mode: 'count', backend: 'shm', dict: name, attempts: 200, ...limits })], { timeoutMs: 20000 });
      assert.equal(JSON.parse(out.trim().split('\n').pop()).acknowledged, 200);
      assert.equal((await limiter.get('k')).consumedPoints, stored + 201);
      assert.deepEqual(dict.check(), [], 'the Dict is sound after the kills');
    } finally {
      await reap(...started);
      await limiter.close();
      slotsArray.close();
      SharedArray.unlink(slotsName);
    }
  });
});

// ---- typings -----------------------------------------------------------------

test('typings: fixtures/rlf-types.ts compiles (strict, node16) and each @ts-expect-error is an error', { timeout: 120000 }, async () => {
  const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const r = await run(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'ES2022', '--lib', 'ES2022,ESNext.Disposable',
    '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', '--skipLibCheck', fileURLToPath(new URL('./fixtures/rlf-types.ts', import.meta.url))],
  { timeoutMs: 100000, cwd: fileURLToPath(new URL('..', import.meta.url)) });
  assert.equal(r.code, 0, r.stdout + r.stderr);
});
