// The bridge on one host (real redis-server, real processes): a stalled
// Redis is reported (ETIMEDOUT naming the server) and closing does not hang
// on it; SIGTERM while Redis is away hands held Queue messages back to the
// local Queue and exits 0; what the command says about bad usage and a
// missing ioredis; examples/bridge runs as shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Queue, Topic } from 'shmkit';
import { RedisTopic, startBridge } from 'shmkit/redis';
import { startRedis } from './fixtures/redis.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { run, startNode, startProcess } from './fixtures/proc.mjs';
import { waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { staleableRemote } from './fixtures/bridge-stale-remote.mjs';

const uniqueName = trackedNames();
const MAIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const NO_IOREDIS = fileURLToPath(new URL('./fixtures/bridge-no-ioredis.cjs', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../dist/examples/bridge.js', import.meta.url));

test('a stalled Redis (SIGSTOP) is reported with ETIMEDOUT naming it, the link recovers after SIGCONT, and close() does not hang on it', async (t) => {
  const redis = await startRedis();
  const client = redis.client({ maxRetriesPerRequest: 1 });
  const name = uniqueName('stall');
  const events = [];
  const bridge = await startBridge({ redis: client, id: 'stall', topics: [{ name, capacity: 65536, remoteName: name.slice(1) }], commandTimeout: 300, retryDelay: 50, onEvent: (e) => events.push(e) });
  t.after(async () => {
    redis.resume();
    await bridge.close();
    Topic.unlink(name);
    await redis.stop();
  });
  const watcher = new RedisTopic(redis.client(), name.slice(1));
  const far = await watcher.subscribe();
  const local = Topic.open(name);
  t.after(() => local.close());

  redis.pause();
  local.publish(Buffer.from('while stalled'));
  await waitUntil(() => events.some((e) => e.type === 'remote-down'), 10000, 'the stall to be reported');
  const down = events.find((e) => e.type === 'remote-down');
  assert.equal(down.error.code, 'ETIMEDOUT', down.message);
  assert.match(down.message, new RegExp(`Redis at 127\\.0\\.0\\.1:${redis.port}`));
  redis.resume();
  // The message held through the stall goes out once Redis answers.
  const got = await far.receive({ timeout: 10000 });
  assert.ok(got.toString('latin1').endsWith('while stalled'));
  await waitUntil(() => events.some((e) => e.type === 'remote-up'), 10000, 'the recovery to be reported');
  assert.ok(bridge.stats().reconnects >= 1);
  assert.ok(bridge.stats().errors >= 1);
  far.close();
  watcher.close();

  // Closing while Redis is stalled: bounded by the command timeout, not hung.
  redis.pause();
  const t0 = Date.now();
  await withTimeout(bridge.close(), 10000, 'close() with Redis stalled');
  assert.ok(Date.now() - t0 < 10000);
  redis.resume();
});

test('SIGTERM while Redis is away: the bridge exits 0 and the Queue messages it held are back in the local Queue', async (t) => {
  const redis = await startRedis();
  const name = uniqueName('held');
  const q = Queue.create(name, { capacity: 65536 });
  t.after(() => {
    q.close();
    Queue.unlink(name);
  });
  await redis.kill(); // away from the start: the bridge retries, holding the first message
  for (let i = 0; i < 10; i++) q.trySend(Buffer.from(`order ${i}`));
  const proc = startProcess(process.execPath, [MAIN, 'bridge', '--redis', redis.url, '--queue-out', name, '--command-timeout', '300'], { timeoutMs: 60000 });
  t.after(() => proc.child.kill('SIGKILL'));
  await proc.line(/ready bridge/, 20000);
  await proc.line(/remote-down queue .* out: .*trySend/, 20000); // it holds the first message, retrying
  proc.child.kill('SIGTERM');
  const r = await proc.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /stopping on SIGTERM/);
  assert.match(r.stdout, /stats \(final\) bridge .*: sent 0/);
  assert.match(r.stdout, /closed queue /);
  const back = [];
  for (let m; (m = q.tryReceive()) !== undefined;) back.push(m.toString());
  // The one the bridge held (peeked) is handed back to the Queue, which
  // delivers it after the others (a peeked message given back by close()).
  assert.deepEqual(back.slice().sort(), Array.from({ length: 10 }, (_, i) => `order ${i}`), 'every message still in the local Queue');
  assert.equal(back.length, 10, 'each once');
  await redis.stop();
});

test('shmkit bridge: bad usage exits 2 with the code on stderr; a missing ioredis exits 1 naming npm install ioredis', async () => {
  const usage = [
    [['bridge', '--topic', '/x'], /ERR_USAGE: --redis URL is required/],
    [['bridge', '--redis', 'http://127.0.0.1:6379', '--topic', '/x'], /ERR_USAGE: --redis takes a redis:\/\/ or rediss:\/\/ URL/],
    [['bridge', '--redis', 'redis://127.0.0.1:6379'], /ERR_USAGE: nothing to carry/],
    [['bridge', '--redis', 'redis://127.0.0.1:6379', '--topic', '/x', '--command-timeout', 'soon'], /commander\.invalidArgument/],
  ];
  for (const [args, re] of usage) {
    const r = await run(process.execPath, [MAIN, ...args], { timeoutMs: 15000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const r = await run(process.execPath, ['-r', NO_IOREDIS, MAIN, 'bridge', '--redis', 'redis://127.0.0.1:6379', '--topic', '/x'], { timeoutMs: 15000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^shmkit: ERR_MODULE_NOT_FOUND: .*npm install ioredis/m);
});

test('startBridge: bad options are refused before anything is opened', async () => {
  const redis = await startRedis();
  const client = redis.client();
  await assert.rejects(startBridge({ redis: {}, topics: ['/x'] }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(startBridge({ redis: client }), { code: 'ERR_INVALID_ARG_VALUE', message: /at least one topic or queue/ });
  await assert.rejects(startBridge({ redis: client, queues: [{ name: uniqueName('q'), direction: 'sideways' }] }), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(startBridge({ redis: client, topics: ['/x'], window: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(startBridge({ redis: client, topics: ['/x'], id: '' }), { code: 'ERR_INVALID_ARG_VALUE' });
  await redis.stop();
});

test('examples/bridge runs as shown: out to Redis, in from Redis, nothing loops', async () => {
  const redis = await startRedis();
  const proc = startNode(EXAMPLE, [], { timeoutMs: 30000, input: null, env: { ...process.env, REDIS_URL: redis.url } });
  const r = await proc.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /on Redis: \d+ bytes, the bridge's frame around "EURUSD 1\.0842 \(from this host\)"/);
  assert.match(r.stdout, /locally: {2}GBPUSD 1\.2710 \(from Redis\)/);
  assert.match(r.stdout, /nothing more locally: true/);
  assert.match(r.stdout, /stats: sent 1, received 1, lag 0/);
  await redis.stop();
});

// The restart and the stale-subscription tests share this: bridges A and B
// on one remote topic, A's messages as B's local subscriber sees them.
async function twoBridges(t, redis, tag, extra = () => ({})) {
  const remoteName = uniqueName(tag).slice(1);
  const names = [uniqueName(`${tag}-a`), uniqueName(`${tag}-b`)];
  const events = { A: [], B: [] };
  const bridges = [];
  for (const [i, id] of ['A', 'B'].entries()) {
    const client = redis.client({ maxRetriesPerRequest: 1, enableOfflineQueue: false });
    bridges.push(await startBridge({
      redis: client, id, commandTimeout: 500, retryDelay: 50,
      topics: [{ name: names[i], capacity: 1 << 20, remoteName }], onEvent: (e) => events[id].push(e), ...extra(client),
    }));
  }
  const [a, b] = names.map((n) => Topic.open(n));
  const atB = b.subscribe();
  t.after(async () => {
    for (const x of bridges) await x.close();
    a.close();
    b.close();
    for (const n of names) Topic.unlink(n);
    await redis.stop();
  });
  // startBridge() returns before a subscription that failed at first (the
  // client still connecting) is made again: until then, what A publishes is
  // not B's to see (a subscription starts from the latest message).
  const subscribed = () => ['A', 'B'].every((id) => events[id].some((e) => e.type === 'started' && e.direction === 'in'));
  await waitUntil(subscribed, 30000, 'both bridges to subscribe on Redis');
  const fromA = [];
  const drain = () => {
    for (let m; (m = atB.tryReceive()) !== undefined;) if (m.toString().startsWith('a')) fromA.push(m.toString());
  };
  let sent = 0;
  const publishA = (n) => {
    for (let i = 0; i < n; i++) a.publish(Buffer.from(`a${sent++}`));
  };
  const statsB = () => bridges[1].stats().topics[names[1]];
  const eventsText = () => JSON.stringify({ A: events.A.map((e) => e.message), B: events.B.map((e) => e.message) });
  /** Both publish now and then (their own messages are the probe) until `done()`, within 60 s. */
  const probeUntil = async (done, what) => {
    for (const deadline = Date.now() + 60000; !done();) {
      assert.ok(Date.now() < deadline, `${what} within 60 s: ${eventsText()}`);
      publishA(1);
      b.publish(Buffer.from('b'));
      drain();
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Ten more from A, all of them at B; returns B's stats after checking every message of A reached B once or was counted as a gap. */
  const finish = async () => {
    publishA(10);
    const total = sent;
    await waitUntil(() => (drain(), fromA.at(-1) === `a${total - 1}`), 30000, "B to get A's last message");
    const s = statsB();
    assert.equal(new Set(fromA).size, fromA.length, 'nothing twice');
    assert.equal(fromA.length + s.gaps, total, `every message of A delivered to B or counted as a gap: ${fromA.length} + ${s.gaps} of ${total}: ${JSON.stringify(s)}`);
    return s;
  };
  return { events, bridges, b, fromA, drain, publishA, sent: () => sent, statsB, eventsText, probeUntil, finish };
}

test('redis-server restarted without its data: the bridges go on with the new history (RedisTopic notices it), every message of A reaching B or counted as a gap', async (t) => {
  const redis = await startRedis(); // no persistence: it comes back empty, its topic numbering restarted
  const { fromA, drain, publishA, sent, statsB, eventsText, probeUntil, finish } = await twoBridges(t, redis, 'empty');
  // A history longer than what is published after the restart: the old
  // subscriptions are past the end of the new numbering, which RedisTopic's
  // subscriber notices (the counter below its place) and goes on from the
  // new history's start.
  publishA(1000);
  await waitUntil(() => (drain(), fromA.length === 1000), 30000, 'B to get the first 1000').catch((err) => {
    throw new Error(`${err.message}: B got ${fromA.length}, ${JSON.stringify(statsB())}, ${eventsText()}`);
  });

  await redis.restart();
  // Both publish now and then until one of A's messages sent after the restart reaches B.
  const first = sent();
  await probeUntil(() => fromA.some((m) => Number(m.slice(1)) >= first), 'a message of A published after the restart reaches B');
  await finish();
});

test("a remote subscription that goes stale (sees nothing more, says nothing): each bridge notices its own messages no longer come back, subscribes again, and counts what it missed as gaps", async (t) => {
  const redis = await startRedis();
  const remotes = [];
  const withRemote = (client) => {
    remotes.push(staleableRemote(client, { commandTimeout: 500 }));
    return { remote: remotes.at(-1) };
  };
  const { events, fromA, drain, publishA, probeUntil, finish } = await twoBridges(t, redis, 'stale', withRemote);
  publishA(100);
  await waitUntil(() => (drain(), fromA.length === 100), 30000, 'B to get the first 100');
  assert.ok(!events.A.concat(events.B).some((e) => e.type === 'resubscribed'), 'no resubscribe while the subscriptions are fine');

  for (const r of remotes) r.staleAll();
  // The check needs idle receives with an own message overdue for 2 polls +
  // commandTimeout (2.5 s here): seconds, not 60, even on a loaded machine.
  const resubscribed = () => events.A.some((e) => e.type === 'resubscribed') && events.B.some((e) => e.type === 'resubscribed');
  await probeUntil(resubscribed, 'both bridges subscribe again');
  const s = await finish();
  assert.ok(s.gaps > 0, `what B missed while its subscription was stale is counted: ${JSON.stringify(s)}`);
  assert.ok(events.B.some((e) => e.type === 'lag' && /never reached Redis or were lost there/.test(e.message)), 'the gap was logged');
});

test('a receive slower than the bridge\'s bound on it (a slow server) is waited for again, not abandoned: the message it brings is delivered, not lost', async (t) => {
  const redis = await startRedis();
  const remotes = [];
  const withRemote = (client) => {
    remotes.push(staleableRemote(client, { commandTimeout: 500 }));
    return { remote: remotes.at(-1) };
  };
  const { events, fromA, drain, publishA, sent, statsB } = await twoBridges(t, redis, 'slow', withRemote);
  publishA(10);
  await waitUntil(() => (drain(), fromA.length === 10), 30000, 'B to get the first 10');
  // B's next receive brings A's message 5 s late: past the bridge's bound on
  // it, 1 s (its wait) + 4 × 500 ms (commandTimeout: the round trips after the wait).
  remotes[1].holdNext(5000);
  publishA(1);
  await waitUntil(() => events.B.some((e) => e.type === 'remote-down' && /did not answer receive/.test(e.message)), 30000, "B's bound on the receive to expire");
  publishA(10);
  const total = sent();
  await waitUntil(() => (drain(), fromA.at(-1) === `a${total - 1}`), 30000, "B to get A's last message");
  const s = statsB();
  assert.deepEqual(fromA, Array.from({ length: total }, (_, i) => `a${i}`), `every message of A once, in order: ${JSON.stringify(s)}`);
  assert.equal(s.gaps, 0, JSON.stringify(s));
});
