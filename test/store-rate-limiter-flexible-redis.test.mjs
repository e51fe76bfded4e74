// shmkit/rate-limiter-flexible over the Redis-backed Dicts of shmkit/redis,
// against a real redis-server (fixtures/redis.mjs):
// 1. Parity with RateLimiterMemory (fixtures/rlf-parity.mjs) over a RedisDict
//    and over a TwoLevelDict (default mode: incr is exact, in Redis).
// 2. Exact across 3 forked processes on each: 450 attempts on one key for
//    300 points, exactly 300 admitted, every attempt counted once.
// 3. The redis-server is SIGKILLed: every call goes to the insuranceLimiter
//    (and without one, rejects with the Dict's error, not a RateLimiterRes);
//    when the server is back, the limiter counts in Redis again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimiterShm } from 'shmkit/rate-limiter-flexible';
import { RedisDict, TwoLevelDict } from 'shmkit/redis';
import { startRedis } from './fixtures/redis.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, sleep, withTimeout } from './fixtures/helpers.mjs';
import { runNode } from './fixtures/proc.mjs';
import { checkParity } from './fixtures/rlf-parity.mjs';

const names = trackedNames();
const SET = fileURLToPath(new URL('./fixtures/rlf-set.mjs', import.meta.url));
const server = await startRedis();

/** A TwoLevelDict (near Dict `near`, remote RedisDict `remote`) for `body`; closed and unlinked after it. */
async function withTwoLevel(near, remoteName, body) {
  const redis = server.client();
  const remote = new RedisDict(redis, remoteName, { commandTimeout: 5000 });
  const dict = new TwoLevelDict({ near: { name: near, memory: 1 << 20 }, remote, redis, commandTimeout: 5000 });
  try {
    return await body(dict, remote);
  } finally {
    await dict.close();
    TwoLevelDict.unlink(near);
    assert.equal(existsSync(`/dev/shm${near}.two-level`), false, 'the two-level array was left behind');
  }
}

// ---- 1. parity ---------------------------------------------------------------

test('parity with RateLimiterMemory over a RedisDict', async (t) => {
  const dict = new RedisDict(server.client(), 'parity', { commandTimeout: 5000 });
  const compared = await checkParity((options) => new RateLimiterShm({ dict, ...options }));
  t.diagnostic(`${compared} steps compared`);
  assert.equal(await dict.get('A:a'), 7);
});

test('parity with RateLimiterMemory over a TwoLevelDict', async (t) => {
  await withTwoLevel(names('parity-near'), 'parity2', async (dict) => {
    const compared = await checkParity((options) => new RateLimiterShm({ dict, ...options }));
    t.diagnostic(`${compared} steps compared`);
  });
});

// ---- 2. exact across processes -------------------------------------------------

const POINTS = 300;
const WORKERS = 3;
const ATTEMPTS = 150;

/** Runs WORKERS forked processes in exact mode with `config`; their reports. */
async function exactSet(config) {
  const full = { mode: 'exact', port: server.port, key: 'k', points: POINTS, attempts: ATTEMPTS, lanes: 4, ...config };
  const out = await runNode(SET, ['fork', WORKERS, JSON.stringify(full), 40000], { timeoutMs: 60000 });
  return JSON.parse(out.trim().split('\n').pop());
}

test(`exact across ${WORKERS} processes over a RedisDict: ${WORKERS * ATTEMPTS} attempts, exactly ${POINTS} admitted`, async (t) => {
  const reports = await exactSet({ backend: 'redis', remote: 'exact-redis' });
  const admitted = reports.reduce((s, r) => s + r.admitted, 0);
  t.diagnostic(`admitted per process ${reports.map((r) => r.admitted).join(', ')}`);
  assert.equal(admitted, POINTS);
  const dict = new RedisDict(server.client(), 'exact-redis');
  assert.equal(await dict.get('rl:k'), WORKERS * ATTEMPTS, 'every attempt is counted once');
});

test(`exact across ${WORKERS} processes over a TwoLevelDict (one host): ${WORKERS * ATTEMPTS} attempts, exactly ${POINTS} admitted`, async (t) => {
  const near = names('exact-near');
  await withTwoLevel(near, 'exact-two', async (dict) => {
    const reports = await exactSet({ backend: 'two-level', dict: near, remote: 'exact-two' });
    const admitted = reports.reduce((s, r) => s + r.admitted, 0);
    t.diagnostic(`admitted per process ${reports.map((r) => r.admitted).join(', ')}`);
    assert.equal(admitted, POINTS);
    assert.equal(await dict.get('rl:k'), WORKERS * ATTEMPTS, 'every attempt is counted once');
  });
});

// ---- 3. the insuranceLimiter ---------------------------------------------------

/** What a call settled with: { ok, value } or { ok: false, error }. */
async function settled(promise) {
  try {
    return { ok: true, value: await withTimeout(promise, STEP_MS, 'a limiter call') };
  } catch (error) {
    return { ok: false, error };
  }
}

test('the redis-server is killed: calls go to the insuranceLimiter (without one they reject with the Dict\'s error); back in Redis once it returns', async () => {
  const own = await startRedis();
  try {
    const client = own.client({ maxRetriesPerRequest: 1 });
    client.on('error', () => {}); // ECONNREFUSED while the server is down: seen through the calls instead
    const dict = new RedisDict(client, 'insured', { commandTimeout: 300 });
    const insurance = new RateLimiterMemory({ points: 2, duration: 60 });
    const limiter = new RateLimiterShm({ dict, points: 5, duration: 60, insuranceLimiter: insurance });
    const bare = new RateLimiterShm({ dict, points: 5, duration: 60 });
    assert.equal((await limiter.consume('k')).remainingPoints, 4, 'Redis counts (5 points)');
    assert.equal((await limiter.consume('k')).remainingPoints, 3);

    await own.kill();
    // The insurance limiter has 2 points and has seen nothing yet.
    const first = await settled(limiter.consume('k'));
    assert.ok(first.ok, `consume with Redis down: ${first.error}`);
    assert.deepEqual([first.value.consumedPoints, first.value.remainingPoints], [1, 1], 'answered by the insuranceLimiter');
    assert.equal((await settled(limiter.consume('k'))).value.remainingPoints, 0);
    const over = await settled(limiter.consume('k'));
    assert.ok(!over.ok && over.error instanceof RateLimiterRes && over.error.consumedPoints === 3, `the insuranceLimiter refuses past its points: ${over.error}`);
    assert.equal((await settled(limiter.penalty('k'))).value.consumedPoints, 4);
    assert.equal((await settled(limiter.reward('k', 2))).value.consumedPoints, 2);
    assert.equal((await settled(limiter.get('k'))).value.consumedPoints, 2);
    assert.equal((await settled(limiter.block('b', 10))).value.consumedPoints, 3, 'block through the insuranceLimiter: its points + 1');
    assert.equal((await settled(limiter.set('s', 1, 10))).value.consumedPoints, 1);
    assert.equal((await settled(limiter.delete('k'))).value, true);

    const failed = await settled(bare.consume('k'));
    assert.ok(!failed.ok && failed.error instanceof Error && !(failed.error instanceof RateLimiterRes), `without an insuranceLimiter a consume rejects with the Dict's error, got ${failed.value ?? failed.error}`);

    // Back: once the client has reconnected, the limiter counts in Redis again
    // (a fresh server, no persistence: from 1).
    await own.start();
    const deadline = Date.now() + 15000;
    while (!(await settled(dict.get('probe'))).ok) {
      if (Date.now() > deadline) throw new Error('the client did not reconnect within 15 s');
      await sleep(50);
    }
    const back = await settled(limiter.consume('again'));
    assert.ok(back.ok && back.value.remainingPoints === 4, `answered by Redis again: ${JSON.stringify(back.value ?? String(back.error))}`);
    assert.equal(await dict.get('rlflx:again'), 1);
  } finally {
    await own.stop();
  }
});
