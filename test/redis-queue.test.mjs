// RedisQueue across processes on a real redis-server: exactly-once delivery
// with several producers and consumers, redelivery of a message a killed
// consumer held, a stopped server (ETIMEDOUT naming it), and the example.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RedisQueue } from 'shmkit/redis';
import { countWrites, startRedis } from './fixtures/redis.mjs';
import { reap, startNode, killedOk, runNode } from './fixtures/proc.mjs';
import { withTimeout } from './fixtures/helpers.mjs';
import { assertEachTimesOut } from './fixtures/conformance-channel.mjs';

const PEER = fileURLToPath(new URL('./fixtures/redis-channel-peer.mjs', import.meta.url));
const server = await startRedis();
const client = server.client();
let counter = 0;
const qname = (label) => `rq-${process.pid}-${++counter}-${label}`;
// The server is this file's own (its data goes with it): no key clean-up needed.

const linesOf = (out, word) => out.split('\n').filter((l) => l.startsWith(`${word} `)).map((l) => Number(l.slice(word.length + 1)));

test('3 producer and 3 consumer processes: every message delivered exactly once', { timeout: 90_000 }, async () => {
  const name = qname('mpmc');
  const q = new RedisQueue(client, name, { encoding: 'json' });
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
  const q = new RedisQueue(client, name, { encoding: 'json', claimAfter });
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

test('a holder frozen (SIGSTOP) past claimAfter loses its peek, and does not take it back when it thaws', { timeout: 60_000 }, async () => {
  const name = qname('frozen');
  const claimAfter = 300;
  const q = new RedisQueue(client, name, { encoding: 'json', claimAfter });
  await q.send({ n: 7 });
  const holder = startNode(PEER, ['peek', server.url, name, claimAfter], { timeoutMs: 30_000 });
  try {
    await holder.line(/^held 7$/, 15_000);
    holder.child.kill('SIGSTOP');
    // Claimed once idle past claimAfter; polled (tryPeek claims too), bounded.
    let held;
    const deadline = performance.now() + q.redeliveryBound + 10_000;
    while ((held = await q.tryPeek()) === undefined) {
      assert.ok(performance.now() < deadline, 'the frozen holder\'s message was not claimed in time');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(JSON.parse(Buffer.from(held).toString()), { n: 7 });
    holder.child.kill('SIGCONT');
    // The thawed holder's renewals run every claimAfter / 3: sampled for
    // claimAfter * 4, the entry must stay the claimer's every time.
    const until = performance.now() + claimAfter * 4;
    while (performance.now() < until) {
      const pending = await client.xpending(q.key, 'shmkit', '-', '+', 10);
      assert.equal(pending.length, 1);
      assert.doesNotMatch(pending[0][1], new RegExp(`:${holder.child.pid}:`), 'still the claimer\'s, not taken back');
      await new Promise((r) => setTimeout(r, 10));
    }
    await q.release();
    assert.equal(await q.tryReceive(), undefined);
  } finally {
    holder.child.kill('SIGCONT');
    await reap(holder);
    await q.close();
  }
});

test('a peek still held at close() goes to the next consumer at once', { timeout: 30_000 }, async () => {
  const name = qname('give-back');
  const a = new RedisQueue(client, name, { claimAfter: 60_000 });
  const b = new RedisQueue(client, name, { claimAfter: 60_000 });
  await a.send('x');
  assert.equal(Buffer.from(await a.tryPeek()).toString(), 'x');
  await a.close();
  assert.equal((await b.receive({ timeout: 5000 })).toString(), 'x');
  await b.close();
});

for (const [label, extra] of [['', {}], [', batch: true', { batch: true }]]) test(`redis-server stopped (SIGSTOP)${label}: every call rejects with ETIMEDOUT naming it; SIGCONT: works again`, { timeout: 60_000 }, async () => {
  const own = await startRedis();
  const c = own.client();
  const q = new RedisQueue(c, qname('stopped'), { commandTimeout: 500, claimAfter: 1000, ...extra });
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
    await assertEachTimesOut(calls, engine);
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

test('argument checks: exact codes before anything reaches Redis', async () => {
  assert.throws(() => new RedisQueue({}, 'q'), { code: 'ERR_INVALID_ARG_TYPE' });
  for (const bad of ['', 'a{b', 'a}b', 'a\nb', 7]) assert.throws(() => new RedisQueue(client, bad), { code: 'ERR_INVALID_ARG_VALUE' }, String(bad));
  assert.throws(() => new RedisQueue(client, 'q', { capacity: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new RedisQueue(client, 'q', { capacity: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new RedisQueue(client, 'q', { claimAfter: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new RedisQueue(client, 'q', { encoding: 'xml' }), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => new RedisQueue(client, 'q', { commandTimeout: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  const q = new RedisQueue(client, qname('args'), { capacity: 100 });
  await assert.rejects(q.receive({ timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(q.send('x', { signal: 'no' }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(q.trySend(Buffer.alloc(101)), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(q.release(), { code: 'ERR_INVALID_STATE' });
  assert.equal(await q.trySend('x'), true);
  await q.tryPeek();
  await assert.rejects(q.tryPeek(), { code: 'ERR_INVALID_STATE' });
  await q.release();
  assert.deepEqual(await client.keys(`shmkit:queue:{${q.name}}*`).then((k) => k.sort()), [q.key, `${q.key}:bytes`], 'the key layout docs/API.md states');
  await q.close();
});

test('typings: RedisQueue<T> and RedisTopic<T> by encoding, as the shm Queue', { timeout: 150_000 }, async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { execFile } = await import('node:child_process');
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-redis-types-'));
  const file = join(dir, 'check.ts');
  writeFileSync(file, `
import type { Redis } from '${root}node_modules/ioredis/built/index.js';
import { RedisQueue, RedisTopic } from '${root}src/redis/index.js';
import type { AsyncQueue, AsyncTopic, JsonValue } from '${root}src/index.js';
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
const ok = <T extends true>(_?: T): void => {};
interface Job { id: number }
export async function check(redis: Redis): Promise<void> {
  const bytes = new RedisQueue(redis, 'b');
  ok<Equal<typeof bytes, RedisQueue<Buffer>>>();
  ok<Equal<Awaited<ReturnType<typeof bytes.receive>>, Buffer>>();
  await bytes.send('text'); await bytes.send(new Uint8Array(2));
  // @ts-expect-error a bytes queue does not take objects
  await bytes.send({ id: 1 });
  const json = new RedisQueue(redis, 'j', { encoding: 'json' });
  ok<Equal<Awaited<ReturnType<typeof json.receive>>, JsonValue>>();
  const jobs = new RedisQueue<Job>(redis, 'j', { encoding: 'json' });
  ok<Equal<Awaited<ReturnType<typeof jobs.receive>>, Job>>();
  // @ts-expect-error a Job queue takes Jobs
  await jobs.send('text');
  const v8 = new RedisQueue(redis, 'v', { encoding: 'v8' });
  ok<Equal<Awaited<ReturnType<typeof v8.receive>>, unknown>>();
  const asQueue: AsyncQueue<Job> = jobs;
  const topic = new RedisTopic<Job>(redis, 't', { encoding: 'json' });
  const asTopic: AsyncTopic<Job> = topic;
  const sub = await topic.subscribe();
  ok<Equal<Awaited<ReturnType<typeof sub.receive>>, Job>>();
  void asQueue; void asTopic;
}
`);
  try {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const r = await new Promise((resolve) => {
      execFile(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'ES2022', '--lib', 'ES2022,ESNext.Disposable',
        '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', '--typeRoots', join(root, 'node_modules/@types'), '--skipLibCheck', file],
      { cwd: root, timeout: 140_000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, out: stdout + stderr }));
    });
    assert.equal(r.code, 0, r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('redis-server restarted without persistence: the queue (group included) is made again on use', { timeout: 60_000 }, async () => {
  const own = await startRedis();
  const c = own.client();
  const q = new RedisQueue(c, qname('restart'), { commandTimeout: 2000, claimAfter: 500 });
  try {
    await q.send('old');
    assert.equal((await q.receive({ timeout: 5000 })).toString(), 'old');
    await own.restart();
    const deadline = performance.now() + 15_000;
    for (;;) {
      try {
        assert.equal(await q.trySend('new'), true);
        break;
      } catch (err) {
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${own.port}`), 'a failure names the server');
        if (performance.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal((await q.receive({ timeout: 5000 })).toString(), 'new');
    assert.equal(Number(await c.get(`${q.key}:bytes`)), 0);
  } finally {
    await q.close();
    await own.stop();
  }
});

for (const [label, extra] of [['', {}], [', batch: true', { batch: true }]]) test(`scripts flushed (SCRIPT FLUSH) with 300 sends in flight${label}: EVAL fallback, each message exactly once`, { timeout: 60_000 }, async () => {
  const auto = server.client({ enableAutoPipelining: true });
  const q = new RedisQueue(auto, qname('noscript'), { encoding: 'json', ...extra });
  try {
    await q.send({ n: -1 });
    assert.deepEqual(await q.receive({ timeout: 5000 }), { n: -1 });
    await client.script('FLUSH');
    await Promise.all(Array.from({ length: 300 }, (_, n) => q.send({ n }, { timeout: 10_000 })));
    await client.script('FLUSH');
    const got = await Promise.all(Array.from({ length: 300 }, () => q.receive({ timeout: 10_000 })));
    assert.deepEqual(got.map((m) => m.n).sort((a, b) => a - b), Array.from({ length: 300 }, (_, n) => n));
    assert.equal(await q.tryReceive(), undefined);
  } finally {
    await q.close();
    auto.disconnect();
  }
});

test('abort during a long receive/send ends it promptly (not only at the end of the timeout)', { timeout: 30_000 }, async () => {
  const q = new RedisQueue(client, qname('abort'), { capacity: 10, claimAfter: 2000 });
  try {
    for (const [what, start] of [
      ['receive', (signal) => q.receive({ signal, timeout: 20_000 })],
      ['send', async (signal) => {
        await q.trySend('0123456789');
        return q.send('x', { signal, timeout: 20_000 });
      }],
    ]) {
      const ac = new AbortController();
      const waiting = start(ac.signal);
      await new Promise((r) => setTimeout(r, 1500)); // past the first block slice (1 s)
      const t0 = performance.now();
      ac.abort();
      await assert.rejects(waiting, { name: 'AbortError' }, what);
      assert.ok(performance.now() - t0 < 5000, `${what} ended ${performance.now() - t0} ms after the abort`);
    }
  } finally {
    await q.close();
  }
});

test("a client with its own ioredis keyPrefix: every key (scripts' and blocking reads') carries it", { timeout: 30_000 }, async () => {
  const { RedisTopic } = await import('shmkit/redis');
  const prefixed = server.client({ keyPrefix: 'app1:' });
  const name = qname('prefix');
  const q = new RedisQueue(prefixed, name, { capacity: 20, claimAfter: 500 });
  const t = new RedisTopic(prefixed, name, { capacity: 5 });
  try {
    const waiting = q.receive({ timeout: 10_000 }); // blocks (XREADGROUP) on a duplicate of the prefixed client
    await new Promise((r) => setTimeout(r, 50));
    await q.send('one');
    assert.equal((await waiting).toString(), 'one');
    const s = await t.subscribe();
    const next = s.receive({ timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    await t.publish('news');
    assert.equal((await next).toString(), 'news');
    const keys = (await client.keys(`*{${name}}*`)).sort();
    assert.deepEqual(keys, [`app1:shmkit:queue:{${name}}`, `app1:shmkit:queue:{${name}}:bytes`, `app1:shmkit:topic:{${name}}`, `app1:shmkit:topic:{${name}}:seq`]);
    await s.close();
  } finally {
    await q.close();
    t.close();
    prefixed.disconnect();
  }
});

test('batch: true: the sends of one tick go in one write, in call order; a tick of tryReceive is one write of takes, then one of acks', { timeout: 30_000 }, async () => {
  const c = server.client();
  const q = new RedisQueue(c, qname('batch-order'), { encoding: 'json', batch: true });
  const other = new RedisQueue(c, q.name, { encoding: 'json', batch: true });
  try {
    // The scripts cached first (a NOSCRIPT is sent again as EVAL, on its own).
    await q.send(-1);
    assert.equal(await q.receive({ timeout: 5000 }), -1);
    const writes = await countWrites(c);
    const n = 100;
    // Two handles of one queue on the client share the batch: their sends keep their order.
    const sent = await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? q : other).trySend(i)));
    assert.deepEqual(sent, Array(n).fill(true));
    assert.equal(writes.n, 1, 'one write for the tick of sends');
    const got = await Promise.all(Array.from({ length: n + 1 }, () => q.tryReceive()));
    assert.equal(writes.n, 3, 'one write of takes, one of acks');
    assert.deepEqual(got, [...Array.from({ length: n }, (_, i) => i), undefined], 'FIFO, then nothing');
    assert.equal(await c.get(`${q.key}:bytes`), '0', 'every taken message acknowledged and its bytes given back');
    // A full queue answers false to its own call only.
    const small = new RedisQueue(c, qname('batch-full'), { capacity: 4, batch: true });
    assert.deepEqual(await Promise.all([small.trySend('ab'), small.trySend('cde'), small.trySend('cd')]), [true, false, true]);
    assert.deepEqual(await Promise.all([small.tryReceive(), small.tryReceive(), small.tryReceive()]).then((m) => m.map(String)), ['ab', 'cd', 'undefined']);
    await small.close();
    // A bad argument rejects its own call and sends nothing; the rest of the tick goes.
    const settled = await Promise.allSettled([q.trySend(1), q.trySend(undefined), q.trySend(2)]);
    assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual([await q.receive({ timeout: 5000 }), await q.receive({ timeout: 5000 }), await q.tryReceive()], [1, 2, undefined]);
  } finally {
    await q.close();
    await other.close();
    c.disconnect();
  }
});

test('batch: true on a stopped server (SIGSTOP): each call of one batch keeps its own bound, one timer for the batch', { timeout: 60_000 }, async () => {
  const own = await startRedis();
  const c = own.client();
  const q = new RedisQueue(c, qname('batch-bound'), { commandTimeout: 400, batch: true });
  const slow = new RedisQueue(c, q.name, { commandTimeout: 900, batch: true });
  try {
    await q.send('before');
    own.pause();
    const t0 = performance.now();
    const took = (p) => p.then((v) => { throw new Error(`resolved ${v}`); }, (err) => ({ err, ms: performance.now() - t0 }));
    const [a, b, r] = await Promise.all([took(q.trySend('x')), took(slow.trySend('y')), took(q.tryReceive())]);
    for (const { err } of [a, b, r]) {
      assert.equal(err.code, 'ETIMEDOUT', err.message);
      assert.match(err.message, new RegExp(`Redis at 127\\.0\\.0\\.1:${own.port} did not answer EVALSHA (send|take) \\(RedisQueue\\.(trySend|tryReceive)\\) within (400|900) ms`));
    }
    assert.ok(a.ms >= 390 && a.ms < 900, `trySend (400 ms) after ${a.ms} ms`);
    assert.ok(r.ms >= 390 && r.ms < 900, `tryReceive (400 ms) after ${r.ms} ms`);
    assert.ok(b.ms >= 890 && b.ms < 5000, `trySend (900 ms) after ${b.ms} ms`);
  } finally {
    own.resume();
    await q.close();
    await slow.close();
    await own.stop();
  }
});

test('batch: true across a reconnection: calls made while the client is down go out once it is back, in order', { timeout: 60_000 }, async () => {
  const own = await startRedis();
  const c = own.client();
  const q = new RedisQueue(c, qname('batch-reconnect'), { encoding: 'json', commandTimeout: 15_000, batch: true });
  try {
    await q.send(-1);
    assert.equal(await q.receive({ timeout: 5000 }), -1);
    await own.kill();
    while (c.status === 'ready') await new Promise((r) => setTimeout(r, 10));
    // Queued by ioredis while it reconnects, written when it is back (the restarted server has no scripts: EVAL, in order).
    const sends = Promise.all(Array.from({ length: 50 }, (_, i) => q.trySend(i)));
    await own.restart();
    assert.deepEqual(await sends, Array(50).fill(true));
    const got = await Promise.all(Array.from({ length: 51 }, () => q.tryReceive()));
    assert.deepEqual(got, [...Array.from({ length: 50 }, (_, i) => i), undefined]);
  } finally {
    await q.close();
    await own.stop();
  }
});

test('batch: true: an acknowledgement that times out still hands the message over (as without batching)', { timeout: 60_000 }, async () => {
  const own = await startRedis();
  const c = own.client();
  const q = new RedisQueue(c, qname('batch-ack-timeout'), { encoding: 'json', commandTimeout: 500, batch: true });
  try {
    await q.send('warm');
    assert.equal(await q.receive({ timeout: 5000 }), 'warm');
    await q.send('m');
    // The server stops right before the acknowledgement goes out (the write after the take's).
    const stream = c.stream;
    const write = stream.write.bind(stream);
    let writes = 0;
    stream.write = (...args) => {
      if (++writes === 2) own.pause();
      return write(...args);
    };
    const t0 = performance.now();
    assert.equal(await q.tryReceive(), 'm');
    assert.ok(performance.now() - t0 >= 450, 'after the acknowledgement\'s bound');
    assert.equal(writes, 2, 'the take, then the acknowledgement');
  } finally {
    own.resume();
    await q.close();
    await own.stop();
  }
});
