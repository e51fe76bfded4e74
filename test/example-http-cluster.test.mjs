// examples/http-cluster as a user runs it: the compiled server started with
// two HTTP workers on a free port, driven by real HTTP (http.request and
// autocannon), then stopped with SIGTERM. Once on this host's shared memory,
// once with BACKEND=redis against a real redis-server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import autocannon from 'autocannon';
import { Dict } from 'shmkit';
import { uniqueName } from './fixtures/names.mjs';
import { sleep, unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { startRedis } from './fixtures/redis.mjs';
import { request, startHttpCluster } from './fixtures/http-cluster-server.mjs';

/** Points of the per-client rate limit in these tests (per 60 s). */
const LIMIT = 20;
/** Primes below 200 000: what the job worker must answer for n = 200 000. */
const PRIMES_BELOW_200K = 17984;

/**
 * A client of one server that counts every request it makes, so /stats can
 * be checked against it. Requests carry a fresh x-client-id unless told
 * otherwise, so only the rate-limit checks meet the limit.
 */
function client(port) {
  let made = 0;
  let fresh = 0;
  return {
    get made() { return made; },
    count(n) { made += n; },
    async send(options = {}) {
      made += 1;
      return request(port, { ...options, headers: { 'x-client-id': `fresh-${++fresh}`, ...options.headers } });
    },
  };
}

const shmLeft = (prefix) => readdirSync('/dev/shm').filter((n) => n.startsWith(prefix));

/** For finally blocks: a server that failed a check is killed, and what it left removed. */
async function killServer(server, prefix) {
  server.proc.kill();
  await server.proc.done.catch(() => {});
  unlinkQuietly(...shmLeft(prefix).map((n) => `/${n}`));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if (err.code === 'ESRCH') return false;
    throw err;
  }
}

/** SIGTERM: the server stops its workers, removes its objects and exits 0; none of its processes is left. */
async function stopServer(server, prefix) {
  server.proc.child.kill('SIGTERM');
  const r = await withTimeout(server.proc.done, 20_000, 'the server to stop');
  assert.equal(r.code, 0, `the server exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stdout, /^http-cluster: stopped \(SIGTERM\)$/m);
  assert.deepEqual(shmLeft(prefix), [], 'objects of the server left in /dev/shm');
  const pids = [server.pids.primary, ...server.pids.http, server.pids.jobs];
  assert.deepEqual(pids.filter(alive), [], 'processes of the server still alive');
}

/** Requests `path` until a worker other than `not` answers (bounded); returns that response. */
async function fromOtherWorker(c, not, options) {
  for (let i = 0; i < 20; i++) {
    const r = await c.send(options);
    if (r.headers['x-worker'] !== not) return r;
  }
  throw new Error(`20 requests for ${options.path} all landed on worker ${not}`);
}

/**
 * The rate limit is one count per client whichever worker a request lands
 * on: LIMIT + 5 requests in a row, alternating workers, LIMIT admitted.
 */
async function checkLimitSequential(c, id) {
  const statuses = [];
  const workers = new Set();
  for (let i = 0; i < LIMIT + 5; i++) {
    const r = await c.send({ path: '/', headers: { 'x-client-id': id } });
    statuses.push(r.status);
    workers.add(r.headers['x-worker']);
    if (r.status === 429) {
      const retry = Number(r.headers['retry-after']);
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${r.headers['retry-after']}`);
    }
  }
  assert.equal(workers.size, 2, 'the requests landed on both workers');
  assert.deepEqual(statuses, [...Array(LIMIT).fill(200), ...Array(5).fill(429)]);
}

/** A session made by /login on one worker is read by /me on the other; /logout ends it everywhere. */
async function checkSessions(c) {
  const login = await c.send({ method: 'POST', path: '/login', body: { user: 'alice' } });
  assert.equal(login.status, 200, login.text);
  const cookie = /^sid=[\w-]+/.exec(login.headers['set-cookie']?.[0] ?? '')?.[0];
  assert.ok(cookie, `a sid cookie: ${login.headers['set-cookie']}`);
  const me = await fromOtherWorker(c, login.headers['x-worker'], { path: '/me', headers: { cookie } });
  assert.equal(me.status, 200, me.text);
  assert.equal(me.json.user, 'alice');
  assert.equal(me.json.loginWorker, login.headers['x-worker']);
  assert.equal((await c.send({ path: '/me' })).status, 401, 'no cookie, no session');
  assert.equal((await c.send({ method: 'POST', path: '/logout', headers: { cookie } })).json.ended, true);
  assert.equal((await c.send({ path: '/me', headers: { cookie } })).status, 401, 'the session is gone after /logout');
}

/** A job posted to any worker is done by the job worker, and its result read back through any worker. */
async function checkJob(c, jobWorkerPid) {
  const posted = await c.send({ method: 'POST', path: '/jobs', body: { n: 200_000 } });
  assert.equal(posted.status, 202, posted.text);
  assert.equal(posted.json.status, 'queued');
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await c.send({ path: `/jobs/${posted.json.id}` });
    assert.equal(r.status, 200, r.text);
    if (r.json.status === 'done') {
      assert.equal(r.json.primes, PRIMES_BELOW_200K);
      assert.equal(r.json.doneBy, jobWorkerPid, 'the job worker did the job');
      return;
    }
    assert.ok(Date.now() < deadline, `job ${posted.json.id} not done within 15 s: ${r.text}`);
    await sleep(50);
  }
}

/** /stats counts every request the server got (this one included), split over the `workers` that served them. */
async function checkStats(c, workers = 2) {
  const stats = await c.send({ path: '/stats' });
  assert.equal(stats.status, 200, stats.text);
  assert.equal(stats.json.requests, c.made, `/stats: ${stats.text}`);
  const perWorker = Object.values(stats.json.workers);
  assert.equal(perWorker.length, workers, `/stats: ${stats.text}`);
  assert.ok(perWorker.every((n) => n > 0));
  assert.equal(perWorker.reduce((a, b) => a + b, 0), c.made);
  return stats.json;
}

/**
 * A worker SIGKILLed while the server runs is replaced by a new one, and
 * nothing shared is lost with it: a session made before is read by the new
 * worker. The new worker's pid joins `server.pids.http` (for stopServer).
 */
async function checkWorkerReplaced(c, server) {
  const login = await c.send({ method: 'POST', path: '/login', body: { user: 'bob' } });
  const cookie = /^sid=[\w-]+/.exec(login.headers['set-cookie']?.[0] ?? '')?.[0];
  const [victim] = server.pids.http;
  process.kill(victim, 'SIGKILL');
  // Requests only once the primary knows (a connection handed to the dead worker would hang).
  const replaced = new RegExp(`\\(pid ${victim}\\) exited \\(SIGKILL\\); starting another`);
  await waitUntil(() => replaced.test(server.proc.stderr), 15_000, 'the primary to replace the killed worker');
  const deadline = Date.now() + 15_000;
  for (;;) {
    // Until the new worker listens, the survivor takes every connection.
    const r = await c.send({ path: '/me', headers: { cookie } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.user, 'bob');
    const pid = Number(r.headers['x-worker-pid']);
    if (!server.pids.http.includes(pid)) {
      server.pids.http.push(pid);
      return;
    }
    assert.ok(Date.now() < deadline, 'no new worker answered within 15 s');
    await sleep(20);
  }
}

test('http-cluster on shared memory: exact rate limit, shared cache, sessions, counter and jobs across 2 workers, a killed worker replaced; SIGTERM cleans up', async () => {
  const prefix = uniqueName('http').slice(1);
  const server = await startHttpCluster({ WORKERS: '2', APP_PREFIX: prefix, RATE_POINTS: String(LIMIT), DICT_MEMORY: String(1 << 20) });
  try {
    const { port } = server;
    const c = client(port);
    assert.deepEqual(shmLeft(prefix).sort(), ['app', 'cache', 'jobs', 'limits'].map((s) => `${prefix}-${s}`));

    // The rate limit under concurrent load: 4 connections (spread over both
    // workers by the cluster) send 3 × LIMIT requests for one client.
    const burst = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 4, amount: 3 * LIMIT, headers: { 'x-client-id': 'burst' } });
    c.count(burst.requests.sent);
    assert.equal(burst.requests.sent, 3 * LIMIT);
    assert.equal(burst.errors + burst.timeouts, 0);
    assert.equal(burst['2xx'], LIMIT, 'admitted: exactly the limit');
    assert.equal(burst.statusCodeStats['429']?.count, 2 * LIMIT, 'the rest: 429');
    await checkLimitSequential(c, 'one-by-one');

    // The cache: computed once by one worker, then a hit on the other.
    const first = await c.send({ path: '/item/7' });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers['x-cache'], 'miss');
    const again = await fromOtherWorker(c, first.headers['x-worker'], { path: '/item/7' });
    assert.equal(again.headers['x-cache'], 'hit', 'the other worker serves what the first computed');
    assert.equal(again.text, first.text);
    assert.equal(again.json.computedBy, first.headers['x-worker']);
    const cache = Dict.open(`/${prefix}-cache`);
    try {
      const keys = cache.keys(0).filter((k) => k.includes('item:7'));
      assert.equal(keys.length, 1, `Keyv's entry in the cache Dict: ${cache.keys(0)}`);
      assert.ok(String(cache.get(keys[0])).includes(first.json.digest), 'the entry holds the response');
    } finally {
      cache.close();
    }

    await checkSessions(c);
    await checkJob(c, server.pids.jobs);
    const stats = await checkStats(c);
    assert.deepEqual(stats.cache, { hits: 1, misses: 1 });
    await checkWorkerReplaced(c, server);
    await checkStats(c, 3);
    await stopServer(server, prefix);
  } finally {
    await killServer(server, prefix);
  }
});

test('http-cluster with BACKEND=redis: the same app on RedisDict and RedisQueue, nothing in shared memory', async () => {
  const redis = await startRedis();
  const prefix = uniqueName('http').slice(1);
  const server = await startHttpCluster({ WORKERS: '2', APP_PREFIX: prefix, RATE_POINTS: String(LIMIT), BACKEND: 'redis', REDIS_URL: redis.url });
  try {
    const c = client(server.port);
    await checkLimitSequential(c, 'one-by-one');
    const first = await c.send({ path: '/item/7' });
    assert.equal(first.headers['x-cache'], 'miss');
    const again = await fromOtherWorker(c, first.headers['x-worker'], { path: '/item/7' });
    assert.equal(again.headers['x-cache'], 'hit', 'the other worker serves what the first computed');
    await checkSessions(c);
    await checkJob(c, server.pids.jobs);
    await checkStats(c);
    assert.deepEqual(shmLeft(prefix), [], 'BACKEND=redis puts nothing in /dev/shm');
    const keys = await redis.client().keys(`*${prefix}*`);
    for (const kind of ['app', 'limits', 'cache', 'jobs']) {
      assert.ok(keys.some((k) => k.includes(`${prefix}-${kind}`)), `a Redis key of ${prefix}-${kind}: ${keys}`);
    }
    await stopServer(server, prefix);
  } finally {
    await killServer(server, prefix);
  }
});
