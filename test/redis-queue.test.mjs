// RedisQueue across processes on a real redis-server: exactly-once delivery
// with several producers and consumers, redelivery of a message a killed
// consumer held, a stopped server (ETIMEDOUT naming it), and the example.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RedisQueue } from 'shmkit/redis';
import { startRedis } from './fixtures/redis.mjs';
import { reap, startNode, killedOk, runNode } from './fixtures/proc.mjs';
import { withTimeout } from './fixtures/helpers.mjs';

const PEER = fileURLToPath(new URL('./fixtures/redis-channel-peer.mjs', import.meta.url));
const server = await startRedis();
const client = server.client();
let counter = 0;
const qname = (label) => `rq-${process.pid}-${++counter}-${label}`;
// The server is this file's own (its data goes with it): no key clean-up needed.
const track = (q) => q;

const linesOf = (out, word) => out.split('\n').filter((l) => l.startsWith(`${word} `)).map((l) => Number(l.slice(word.length + 1)));

test('3 producer and 3 consumer processes: every message delivered exactly once', { timeout: 90_000 }, async () => {
  const name = qname('mpmc');
  const q = track(new RedisQueue(client, name, { encoding: 'json' }));
  const PER = 300;
  const consumers = [0, 1, 2].map(() => startNode(PEER, ['consume', server.url, name, 2000], { timeoutMs: 60_000 }));
  const producers = [0, 1, 2].map((i) => startNode(PEER, ['produce', server.url, name, i * PER, PER], { timeoutMs: 60_000 }));
  try {
    for (const p of producers) {
      const r = await withTimeout(p.done, 60_000, 'a producer');
      assert.equal(r.code, 0, r.stderr);
    }
    for (let i = 0; i < consumers.length; i++) await q.send('stop', { timeout: 5000 });
    const got = [];
    for (const c of consumers) {
      const r = await withTimeout(c.done, 60_000, 'a consumer');
      assert.equal(r.code, 0, r.stderr);
      got.push(...linesOf(r.stdout, 'got'));
    }
    got.sort((x, y) => x - y);
    assert.deepEqual(got, Array.from({ length: 3 * PER }, (_, n) => n), 'each message once');
    assert.equal(await q.tryReceive(), undefined);
    assert.equal(Number(await client.get(`${q.key}:bytes`)), 0, 'the byte count is back to 0');
  } finally {
    await reap(...consumers, ...producers);
    await q.close();
  }
});

test('a consumer SIGKILLed holding a peeked message: another consumer gets it within the bound', { timeout: 60_000 }, async () => {
  const name = qname('peek');
  const claimAfter = 300;
  const q = track(new RedisQueue(client, name, { encoding: 'json', claimAfter }));
  await q.send({ n: 41 });
  await q.send({ n: 42 });
  const holder = startNode(PEER, ['peek', server.url, name, claimAfter], { timeoutMs: 30_000 });
  try {
    await holder.line(/^held 41$/, 15_000);
    // While the holder lives, its peek is its own (it renews the claim).
    await new Promise((r) => setTimeout(r, claimAfter * 3));
    assert.deepEqual(await q.tryReceive(), { n: 42 }, 'the next message, not the held one');
    assert.equal(await q.tryReceive(), undefined, 'the held message is not handed out while its holder lives');
    holder.kill();
    await killedOk(holder, 'the holder');
    const killedAt = performance.now();
    const m = await q.receive({ timeout: q.capabilities.redeliveryBound + 15_000 });
    const took = performance.now() - killedAt;
    assert.deepEqual(m, { n: 41 });
    // Generous slack: a noisy 2-core VM.
    assert.ok(took < q.capabilities.redeliveryBound + 10_000, `redelivered after ${took} ms (bound ${q.capabilities.redeliveryBound})`);
    assert.equal(await q.tryReceive(), undefined, 'delivered once more, not twice');
  } finally {
    await reap(holder);
    await q.close();
  }
});

test('a peek still held at close() goes to the next consumer at once', { timeout: 30_000 }, async () => {
  const name = qname('give-back');
  const a = track(new RedisQueue(client, name, { claimAfter: 60_000 }));
  const b = new RedisQueue(client, name, { claimAfter: 60_000 });
  await a.send('x');
  assert.equal(Buffer.from(await a.tryPeek()).toString(), 'x');
  await a.close();
  assert.equal((await b.receive({ timeout: 5000 })).toString(), 'x');
  await b.close();
});

test('redis-server stopped (SIGSTOP): every call rejects with ETIMEDOUT naming it; SIGCONT: works again', { timeout: 60_000 }, async () => {
  const own = await startRedis();
  const c = own.client();
  const q = new RedisQueue(c, qname('stopped'), { commandTimeout: 500, claimAfter: 1000 });
  const engine = new RegExp(`Redis at 127\\.0\\.0\\.1:${own.port}`);
  try {
    await q.send('before');
    own.pause();
    const calls = {
      trySend: () => q.trySend('x'),
      send: () => q.send('x', { timeout: 5000 }),
      tryReceive: () => q.tryReceive(),
      receive: () => q.receive({ timeout: 200 }),
      tryPeek: () => q.tryPeek(),
    };
    for (const [what, call] of Object.entries(calls)) {
      const t0 = performance.now();
      await assert.rejects(withTimeout(call(), 15_000, what), (err) => {
        assert.equal(err.code, 'ETIMEDOUT', `${what}: ${err.message}`);
        assert.match(err.message, engine, what);
        return true;
      });
      assert.ok(performance.now() - t0 < 10_000, `${what} gave up in time`);
    }
    own.resume();
    // Everything sent reached Redis once (calls that timed out may run late: never lost, at most delivered).
    const seen = [];
    for (;;) {
      const m = await q.receive({ timeout: 2000 }).catch((err) => (err.code === 'ETIMEDOUT' ? undefined : Promise.reject(err)));
      if (m === undefined) break;
      seen.push(m.toString());
    }
    assert.ok(seen.includes('before'), `'before' is still there: ${seen}`);
    assert.equal(await q.trySend('after'), true);
    assert.equal((await q.receive({ timeout: 5000 })).toString(), 'after');
  } finally {
    own.resume();
    await q.close();
    await own.stop();
  }
});

test('examples/redis-queue: the same job-queue code on a shm Queue and on a RedisQueue', { timeout: 60_000 }, async () => {
  const script = fileURLToPath(new URL('../dist/examples/redis-queue.js', import.meta.url));
  const out = await runNode(script, [], { timeoutMs: 45_000, env: { ...process.env, REDIS_URL: server.url } });
  assert.match(out, /^shm: 20 jobs done once each by [12] of 2 workers, 120 words$/m);
  assert.match(out, /^redis: 20 jobs done once each by [12] of 2 workers, 120 words$/m);
});
