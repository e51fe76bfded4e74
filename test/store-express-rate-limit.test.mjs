// ShmStore (shmkit/express-rate-limit) in one process, through real express
// servers where express-rate-limit decides: the window and its reset time,
// decrement (skipFailedRequests / skipSuccessfulRequests) that never creates
// a counter, resetKey and resetAll, express-rate-limit's own validation
// checks (silent in normal use), bad options, and the typings. Many workers:
// store-express-rate-limit-cluster.test.mjs; worker death:
// store-express-rate-limit-kill.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { Dict } from 'shmkit';
import { ShmStore } from 'shmkit/express-rate-limit';
import { trackedNames } from './fixtures/names.mjs';
import { run } from './fixtures/proc.mjs';
import { expectCode, sleep, unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';
import { OneStepOnly } from './fixtures/one-step-dict.mjs';

const require = createRequire(import.meta.url);
const name = trackedNames();
const IP = '127.0.0.1'; // the client key express-rate-limit makes for loopback requests

/** A Dict for one test: fn(dict), then closed and unlinked. */
async function withDict(label, fn) {
  const dictName = name(label);
  const dict = Dict.create(dictName, { memory: 1 << 20 });
  try {
    return await fn(dict);
  } finally {
    dict.close();
    unlinkQuietly(dictName);
  }
}

/** Everything express-rate-limit logs (its validation checks report through the logger). */
function captureLogger() {
  const logged = [];
  const entry = (level) => (error, message) => logged.push({ level, code: error?.code, message: message ?? String(error?.message ?? error) });
  return { logged, logger: { warn: entry('warn'), error: entry('error') } };
}

/** Starts `app` on a loopback port; resolves with { url(path), close() }. */
async function listen(app) {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const { port } = server.address();
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

/** GET, returning { status, remaining, reset } from the draft-7 RateLimit header. */
async function hit(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  const m = /remaining=(\d+), reset=(\d+)/.exec(res.headers.get('ratelimit') ?? '');
  return { status: res.status, remaining: m ? Number(m[1]) : undefined, reset: m ? Number(m[2]) : undefined };
}

test('the window: `limit` requests pass, the next is refused, and after windowMs the client starts again; resetTime is the counter\'s TTL', () => withDict('erl-window', async (dict) => {
  const WINDOW = 1500;
  const { logged, logger } = captureLogger();
  const store = new ShmStore({ dict: dict });
  const app = express();
  app.use(rateLimit({ windowMs: WINDOW, limit: 2, standardHeaders: 'draft-7', legacyHeaders: false, store, logger }));
  app.get('/', (req, res) => res.send('ok'));
  const server = await listen(app);
  try {
    const before = Date.now();
    const first = await hit(server.url('/'));
    const afterFirst = Date.now();
    assert.deepEqual([first.status, first.remaining], [200, 1]);
    assert.deepEqual([(await hit(server.url('/'))).status, (await hit(server.url('/'))).status], [200, 429]);

    // The window started with the first request: resetTime is its start + windowMs (to the ms, within the round trip).
    const info = await store.get(IP);
    assert.equal(info.totalHits, 3);
    const reset = info.resetTime.getTime();
    assert.ok(reset >= before + WINDOW - 2 && reset <= afterFirst + WINDOW + 2, `resetTime ${reset - before} ms after the first request was sent (round trip ${afterFirst - before} ms)`);
    assert.equal(dict.get(`erl:${IP}`), 3);

    // After the window the counter is gone and the client starts a new one.
    await sleep(Math.max(0, reset - Date.now()) + 20);
    assert.equal(await store.get(IP), undefined);
    const again = await hit(server.url('/'));
    assert.deepEqual([again.status, again.remaining], [200, 1]);
    const next = await store.get(IP);
    assert.equal(next.totalHits, 1);
    assert.ok(next.resetTime.getTime() > reset + WINDOW - 2, 'a new window');
    assert.deepEqual(logged, []);
  } finally {
    await server.close();
  }
}));

test('increment: the count and its window\'s end come from one step on any Dict; a counter without a TTL gets the window; totalHits is at least 1', () => withDict('erl-race', async (dict) => {
  const store = new ShmStore({ dict: new OneStepOnly(dict) });
  store.init({ windowMs: 60_000 });
  dict.set(`erl:${IP}`, 4, { ttl: 40_000 });
  const r = await store.increment(IP);
  assert.equal(r.totalHits, 5);
  const untilReset = r.resetTime.getTime() - Date.now();
  assert.ok(untilReset > 35_000 && untilReset <= 40_000, `resetTime: the end of the window counted in (${untilReset} ms away)`);
  const first = await store.increment('new-client');
  assert.equal(first.totalHits, 1);
  assert.ok(first.resetTime.getTime() - Date.now() > 55_000, 'a new window lasts windowMs');

  // A counter someone wrote without a TTL would never reset: the increment gives it the window.
  const plain = new ShmStore({ dict: dict });
  plain.init({ windowMs: 30_000 });
  dict.set('erl:forever', 7);
  const f = await plain.increment('forever');
  assert.equal(f.totalHits, 8);
  const left = dict.ttl('erl:forever');
  assert.ok(left > 29_000 && left <= 30_000, `ttl ${left}`);
  assert.ok(Math.abs(f.resetTime.getTime() - (Date.now() + left)) < 1000);

  // A counter that another request's decrement (of a hit counted before a reset) holds at -1
  // for a moment: this hit was counted, so the client has at least 1, as express-rate-limit requires.
  dict.set('erl:between', -1, { ttl: 30_000 });
  assert.equal((await plain.increment('between')).totalHits, 1);
  assert.equal(dict.get('erl:between'), 0);
}));

test('decrement: skipFailedRequests and skipSuccessfulRequests take hits back, never below 0, and never create a counter', () => withDict('erl-decrement', async (dict) => {
  const { logged, logger } = captureLogger();
  // Counts the decrements express-rate-limit makes (they run after the response is finished).
  class CountingStore extends ShmStore {
    decrements = 0;
    async decrement(key) {
      await super.decrement(key);
      this.decrements += 1;
    }
  }
  const failStore = new CountingStore({ dict: dict, prefix: 'fail:' });
  const okStore = new CountingStore({ dict: dict, prefix: 'ok:' });
  const options = { windowMs: 60_000, limit: 2, standardHeaders: 'draft-7', legacyHeaders: false, logger };
  const skipFailed = rateLimit({ ...options, skipFailedRequests: true, store: failStore });
  const skipOk = rateLimit({ ...options, skipSuccessfulRequests: true, store: okStore });
  const app = express();
  app.get('/fail', skipFailed, (req, res) => res.status(500).send('no'));
  app.get('/fail-after-reset', skipFailed, async (req, res) => {
    await skipFailed.resetKey(req.rateLimit.key); // the counter is gone when the decrement comes
    res.status(500).send('no');
  });
  app.get('/good', skipOk, (req, res) => res.send('ok'));
  const server = await listen(app);
  try {
    // Failed requests do not count: ten in a row with limit 2 all reach the route.
    for (let i = 0; i < 10; i++) {
      assert.equal((await hit(server.url('/fail'))).status, 500, `request ${i}`);
      await waitUntil(() => failStore.decrements === i + 1, 5000, `decrement ${i + 1}`);
    }
    assert.equal(dict.get(`fail:${IP}`), 0);
    // Successful ones do not count either.
    for (let i = 0; i < 5; i++) {
      assert.equal((await hit(server.url('/good'))).status, 200);
      await waitUntil(() => okStore.decrements === i + 1, 5000, `decrement ${i + 1}`);
    }
    assert.equal(dict.get(`ok:${IP}`), 0);

    // A decrement that comes after the counter was reset does not bring it back.
    assert.equal((await hit(server.url('/fail-after-reset'))).status, 500);
    await waitUntil(() => failStore.decrements === 11, 5000, 'the decrement after the reset');
    assert.equal(dict.get(`fail:${IP}`), undefined);
    assert.ok(!dict.keys(0).includes(`fail:${IP}`));

    // Directly: no counter, no creation; at 0, stays 0 (the next hit is 1, as express-rate-limit requires).
    const store = new ShmStore({ dict: dict, prefix: 'direct:' });
    await store.decrement('nobody');
    assert.deepEqual(dict.keys(0).filter((k) => k.startsWith('direct:')), []);
    await store.increment('one');
    await store.decrement('one');
    await store.decrement('one');
    assert.equal(dict.get('direct:one'), 0);
    assert.equal((await store.increment('one')).totalHits, 1);
    assert.deepEqual(logged, []);
  } finally {
    await server.close();
  }
}));

test('resetKey forgets one client; resetAll forgets every client of its prefix and nothing else', () => withDict('erl-reset', async (dict) => {
  const { logged, logger } = captureLogger();
  const store = new ShmStore({ dict: dict, prefix: 'a:' });
  const limiter = rateLimit({ windowMs: 60_000, limit: 2, standardHeaders: 'draft-7', legacyHeaders: false, store, logger });
  const app = express();
  app.get('/', limiter, (req, res) => res.send('ok'));
  const server = await listen(app);
  try {
    assert.deepEqual([(await hit(server.url('/'))).status, (await hit(server.url('/'))).status, (await hit(server.url('/'))).status], [200, 200, 429]);
    await limiter.resetKey(IP);
    assert.equal(await limiter.getKey(IP), undefined);
    const r = await hit(server.url('/'));
    assert.deepEqual([r.status, r.remaining], [200, 1]);

    const other = new ShmStore({ dict: dict, prefix: 'b:' });
    other.init({ windowMs: 60_000 });
    await other.increment(IP);
    await store.increment('10.0.0.2');
    dict.set('unrelated', 'kept');
    await store.resetAll();
    assert.deepEqual(dict.keys(0).sort(), [`b:${IP}`, 'unrelated']);
    assert.deepEqual([(await hit(server.url('/'))).status, (await hit(server.url('/'))).status, (await hit(server.url('/'))).status], [200, 200, 429]);
    assert.deepEqual(logged, []);
  } finally {
    await server.close();
  }
}));

test('express-rate-limit\'s validation checks stay silent for stores in normal use, and its double-count check still sees two limiters on one counter', () => withDict('erl-validate', (dict) => withDict('erl-validate-2', async (dict2) => {
  const quiet = captureLogger();
  // Several limiters, each with a store of its own (on one Dict with their own
  // prefixes, or on another Dict), every header draft, a decrementing one.
  const app = express();
  app.use(rateLimit({ windowMs: 60_000, limit: 50, standardHeaders: 'draft-6', store: new ShmStore({ dict: dict }), logger: quiet.logger }));
  app.use(rateLimit({ windowMs: 30_000, limit: 50, standardHeaders: 'draft-7', store: new ShmStore({ dict: dict, prefix: 'route:' }), logger: quiet.logger }));
  app.use(rateLimit({ windowMs: 10_000, limit: 50, standardHeaders: 'draft-8', skipFailedRequests: true, store: new ShmStore({ dict: dict2, prefix: 'u:' }), logger: quiet.logger }));
  app.get('/', (req, res) => res.send('ok'));

  // Two limiters on one Dict with one prefix count into one counter: a real misconfiguration, reported.
  const loud = captureLogger();
  const twice = express();
  twice.use(rateLimit({ windowMs: 60_000, limit: 50, store: new ShmStore({ dict: dict, prefix: 'same:' }), logger: loud.logger }));
  twice.use(rateLimit({ windowMs: 60_000, limit: 50, store: new ShmStore({ dict: dict, prefix: 'same:' }), logger: loud.logger }));
  twice.get('/', (req, res) => res.send('ok'));

  const a = await listen(app);
  const b = await listen(twice);
  try {
    for (let i = 0; i < 5; i++) assert.equal((await hit(a.url('/'))).status, 200);
    assert.equal((await hit(b.url('/'))).status, 200);
    assert.deepEqual(quiet.logged, []);
    assert.deepEqual(loud.logged.map((l) => l.code), ['ERR_ERL_DOUBLE_COUNT']);
    assert.equal(dict.get(`same:${IP}`), 2);
  } finally {
    await a.close();
    await b.close();
  }
})));

test('shutdown closes a Dict the store opened by name, and leaves a handle it was given open', async () => {
  const dictName = name('erl-owned');
  try {
    const owned = new ShmStore({ dict: { name: dictName, memory: 1 << 16 } });
    owned.init({ windowMs: 60_000 });
    assert.equal((await owned.increment('k')).totalHits, 1);
    await owned.shutdown();
    await assert.rejects(owned.increment('k'), expectCode('ERR_SHMKIT_CLOSED'));

    const dict = Dict.open(dictName);
    const given = new ShmStore({ dict });
    await given.shutdown();
    assert.equal(dict.closed, false);
    assert.equal((await given.get('k')).totalHits, 1);
    dict.close();
  } finally {
    unlinkQuietly(dictName);
  }
});

test('bad options: ERR_INVALID_ARG_TYPE before anything is opened; a bad windowMs is refused by init (and logged by express-rate-limit)', () => withDict('erl-options', async (dict) => {
  for (const bad of [undefined, null, 'dict', {}, { dict: 5 }, { dict: {} }, { dict: { name: 5 } }, { dict: dict, prefix: 5 }, { dict: { name: name('erl-never') }, prefix: null }]) {
    assert.throws(() => new ShmStore(bad), expectCode('ERR_INVALID_ARG_TYPE', TypeError), `new ShmStore(${JSON.stringify(bad)})`);
  }
  // (the last one names a Dict: it was checked before anything was created, so nothing is left to unlink)
  const store = new ShmStore({ dict: dict });
  assert.throws(() => store.init({ windowMs: '60000' }), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  assert.throws(() => store.init({}), expectCode('ERR_INVALID_ARG_TYPE', TypeError));
  for (const windowMs of [0, -1, NaN, Infinity]) assert.throws(() => store.init({ windowMs }), expectCode('ERR_OUT_OF_RANGE', RangeError));
  const { logged, logger } = captureLogger();
  rateLimit({ windowMs: -5, store: new ShmStore({ dict: dict }), logger });
  assert.deepEqual(logged.map((l) => l.code), ['ERR_OUT_OF_RANGE']);
}));

test('typings: rateLimit({ store: new ShmStore({ dict }) }) type-checks against express-rate-limit\'s own Store type', async () => {
  const fixture = fileURLToPath(new URL('./fixtures/erl-types.ts', import.meta.url));
  // skipLibCheck: express-rate-limit's declarations import express's, which express 5 does not ship (@types/express)
  const r = await run(process.execPath, [
    require.resolve('typescript/bin/tsc'), '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16',
    '--target', 'es2022', '--lib', 'es2022,esnext.disposable', '--types', 'node', '--skipLibCheck', fixture,
  ], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `tsc reported errors:\n${r.stdout}${r.stderr}`);
});
