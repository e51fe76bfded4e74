// ShmStore under real HTTP load: a node:cluster express app (workers sharing
// one port) limited by express-rate-limit, driven by many concurrent
// requests from one client key. With ShmStore exactly `limit` requests pass,
// whichever workers they reach, and each RateLimit header tells its own
// place in the one sequence; with the default MemoryStore each worker counts
// alone and the app admits more. The same exactness holds with a RedisDict
// on a real redis-server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Dict } from 'shmkit';
import { RedisDict } from 'shmkit/redis';
import { trackedNames } from './fixtures/names.mjs';
import { startNode, reap } from './fixtures/proc.mjs';
import { startRedis } from './fixtures/redis.mjs';
import { unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';

const APP = fileURLToPath(new URL('./fixtures/erl-cluster.mjs', import.meta.url));
const name = trackedNames();

/** Starts the cluster app; resolves with { app, port, pids }. */
async function startApp(store, workers, limit, where) {
  const app = startNode(APP, [store, workers, limit, 60_000, where], { timeoutMs: 60_000 });
  const { port, pids } = JSON.parse(await app.line(/"port"/, 30_000));
  return { app, port, pids };
}

async function stopApp(app) {
  app.send('stop\n');
  try {
    const r = await withTimeout(app.done, 10_000, 'the cluster app to stop');
    assert.equal(r.code, 0, `cluster app exited ${r.code ?? r.signal}\n${r.stderr}`);
  } finally {
    await reap(app);
  }
}

/** One GET on a connection of its own (so the primary spreads them over the workers). */
function get(port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers }));
    });
    req.setTimeout(20_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** `n` requests, at most `concurrency` in flight at once. */
async function drive(port, n, concurrency) {
  const out = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next += 1;
      out.push(await get(port));
    }
  }));
  return out;
}

/** `limit=L, remaining=R, reset=S` (draft-7) as numbers. */
function rateLimitHeader(headers) {
  const m = /^limit=(\d+), remaining=(\d+), reset=(\d+)$/.exec(headers.ratelimit ?? '');
  assert.ok(m, `RateLimit header: ${headers.ratelimit}`);
  return { limit: Number(m[1]), remaining: Number(m[2]), reset: Number(m[3]) };
}

/** The checks every shared store must pass: exactly `limit` admitted, one sequence of remaining counts. */
function assertExact(responses, limit, pids, app) {
  const ok = responses.filter((r) => r.status === 200);
  const limited = responses.filter((r) => r.status === 429);
  assert.equal(ok.length + limited.length, responses.length, `statuses: ${[...new Set(responses.map((r) => r.status))]}`);
  assert.equal(ok.length, limit, 'requests admitted');
  // Every admitted request got its own place in one sequence: remaining limit-1, ..., 1, 0.
  assert.deepEqual(ok.map((r) => rateLimitHeader(r.headers).remaining).sort((a, b) => a - b), Array.from({ length: limit }, (_, i) => i));
  for (const r of responses) {
    const h = rateLimitHeader(r.headers);
    assert.equal(h.limit, limit);
    assert.ok(h.reset >= 1 && h.reset <= 60, `reset ${h.reset}`);
    assert.ok(pids.includes(Number(r.headers['x-worker'])), `x-worker ${r.headers['x-worker']}`);
  }
  for (const r of limited) {
    assert.equal(rateLimitHeader(r.headers).remaining, 0);
    assert.ok(Number(r.headers['retry-after']) >= 1 && Number(r.headers['retry-after']) <= 60, `retry-after ${r.headers['retry-after']}`);
  }
  const admittedBy = new Set(ok.map((r) => r.headers['x-worker']));
  assert.ok(admittedBy.size >= 2, `admitted by ${admittedBy.size} worker(s) only: the test did not spread the load`);
  assert.doesNotMatch(app.stdout, /erlLog/, 'express-rate-limit logged a problem');
}

test('ShmStore: a 4-worker cluster admits exactly `limit` of 160 concurrent requests from one client', async () => {
  const LIMIT = 40;
  const dictName = name('erl-cluster');
  const dict = Dict.create(dictName, { memory: 1 << 20 });
  let started;
  try {
    started = await startApp('shm', 4, LIMIT, dictName);
    const responses = await drive(started.port, 160, 32);
    assertExact(responses, LIMIT, started.pids, started.app);
    // The one counter behind them all: every request counted once.
    assert.equal(dict.get('erl:127.0.0.1'), 160);
    const left = dict.ttl('erl:127.0.0.1');
    assert.ok(left > 0 && left <= 60_000, `ttl ${left}`);
  } finally {
    if (started) await stopApp(started.app);
    dict.close();
    unlinkQuietly(dictName);
  }
});

test('MemoryStore (for comparison): the same cluster admits more than `limit`, each worker counting alone', async (t) => {
  const LIMIT = 40;
  const started = await startApp('memory', 4, LIMIT, '-');
  try {
    const responses = await drive(started.port, 160, 32);
    const ok = responses.filter((r) => r.status === 200);
    t.diagnostic(`MemoryStore admitted ${ok.length} of 160 requests (limit ${LIMIT}, 4 workers)`);
    assert.ok(ok.length > LIMIT, `admitted ${ok.length}`);
    assert.ok(ok.length <= 4 * LIMIT);
  } finally {
    await stopApp(started.app);
  }
});

let redis;
after(async () => redis?.stop());

test('ShmStore over RedisDict: a 2-worker cluster on a real redis-server admits exactly `limit`', async () => {
  redis = await startRedis();
  const LIMIT = 30;
  const started = await startApp('redis', 2, LIMIT, redis.url);
  try {
    const responses = await drive(started.port, 90, 24);
    assertExact(responses, LIMIT, started.pids, started.app);
    const dict = new RedisDict(redis.client(), 'erl-cluster');
    assert.deepEqual(await dict.keys(0), ['erl:127.0.0.1']);
    assert.equal(await dict.get('erl:127.0.0.1'), 90);
    const left = await dict.ttl('erl:127.0.0.1');
    assert.ok(left > 0 && left <= 60_000, `ttl ${left}`);
  } finally {
    await stopApp(started.app);
  }
});
