// RedisTopic across processes on a real redis-server: subscribers in other
// processes see every message in one total order, lag is exact across
// processes, and a stopped server costs ETIMEDOUT naming it, not a hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RedisTopic } from 'shmkit/redis';
import { countWrites, startRedis } from './fixtures/redis.mjs';
import { reap, startNode } from './fixtures/proc.mjs';
import { withTimeout } from './fixtures/helpers.mjs';
import { assertEachTimesOut } from './fixtures/conformance-channel.mjs';

const PEER = fileURLToPath(new URL('./fixtures/redis-channel-peer.mjs', import.meta.url));
// This file's own server: its data goes with it, no key clean-up needed.
const server = await startRedis();
const client = server.client();
let counter = 0;
const tname = (label) => `rt-${process.pid}-${++counter}-${label}`;
const gotLines = (out) => out.split('\n').filter((l) => l.startsWith('got ')).map((l) => l.slice(4));

test('2 publisher processes, 2 subscriber processes: each sees all 400 messages in the same order', { timeout: 90_000 }, async () => {
  const name = tname('order');
  const PER = 200;
  const subs = [0, 1].map(() => startNode(PEER, ['subscribe', server.url, name, 'throw', 2 * PER], { timeoutMs: 60_000 }));
  const pubs = [];
  try {
    for (const s of subs) {
      await s.line(/^ready$/, 15_000);
      s.send('go\n');
    }
    pubs.push(...[0, 1].map((i) => startNode(PEER, ['publish', server.url, name, i * PER, PER], { timeoutMs: 60_000 })));
    for (const p of pubs) assert.equal((await withTimeout(p.done, 60_000, 'a publisher')).code, 0);
    const seen = [];
    for (const s of subs) {
      const r = await withTimeout(s.done, 60_000, 'a subscriber');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^missed 0$/m);
      seen.push(gotLines(r.stdout));
    }
    assert.equal(seen[0].length, 2 * PER);
    assert.deepEqual(seen[0], seen[1], 'one total order');
    for (const from of [0, PER]) {
      const mine = seen[0].filter((m) => Number(m.slice(1)) >= from && Number(m.slice(1)) < from + PER);
      assert.deepEqual(mine, Array.from({ length: PER }, (_, k) => `m${from + k}`), 'each publisher in its order');
    }
  } finally {
    await reap(...subs, ...pubs);
  }
});

test('a subscriber process that falls behind learns the exact count (throw and skip)', { timeout: 60_000 }, async () => {
  const name = tname('lag');
  const t = new RedisTopic(client, name, { capacity: 10 });
  const subs = ['throw', 'skip'].map((onLag) => startNode(PEER, ['subscribe', server.url, name, onLag, 10], { timeoutMs: 30_000 }));
  try {
    for (const s of subs) await s.line(/^ready$/, 15_000);
    for (let n = 0; n < 100; n++) await t.publish(`m${n}`);
    for (const s of subs) s.send('go\n');
    const [thrower, skipper] = await Promise.all(subs.map((s) => withTimeout(s.done, 30_000, 'a subscriber')));
    assert.equal(thrower.code, 0, thrower.stderr);
    assert.equal(skipper.code, 0, skipper.stderr);
    const kept = Array.from({ length: 10 }, (_, k) => `m${90 + k}`);
    assert.match(thrower.stdout, /^lagged 90$/m);
    assert.match(thrower.stdout, /^missed 90$/m);
    assert.deepEqual(gotLines(thrower.stdout), kept);
    assert.doesNotMatch(skipper.stdout, /^lagged/m);
    assert.match(skipper.stdout, /^missed 90$/m);
    assert.deepEqual(gotLines(skipper.stdout), kept);
  } finally {
    await reap(...subs);
    t.close();
  }
});

for (const [label, extra] of [['', {}], [', batch: true', { batch: true }]]) test(`redis-server stopped (SIGSTOP)${label}: publish, subscribe, receive reject with ETIMEDOUT naming it; SIGCONT: works again`, { timeout: 60_000 }, async () => {
  const own = await startRedis();
  const c = own.client();
  const t = new RedisTopic(c, tname('stopped'), { commandTimeout: 500, ...extra });
  const engine = new RegExp(`Redis at 127\\.0\\.0\\.1:${own.port}`);
  try {
    const s = await t.subscribe();
    own.pause();
    const calls = {
      publish: () => t.publish('x'),
      subscribe: () => t.subscribe(),
      tryReceive: () => s.tryReceive(),
      receive: () => s.receive({ timeout: 200 }),
      'receive (no timeout)': () => s.receive(),
    };
    await assertEachTimesOut(calls, engine);
    own.resume();
    await t.publish('after');
    const got = [];
    for (;;) {
      const m = await s.receive({ timeout: 2000 });
      got.push(m.toString());
      if (m.toString() === 'after') break;
    }
    assert.deepEqual(got.filter((m) => m !== 'x'), ['after'], 'the late publish of x may land; nothing else');
    await s.close();
  } finally {
    own.resume();
    t.close();
    await own.stop();
  }
});

test('redis-server restarted without persistence: a waiting subscriber goes on with the new history', { timeout: 60_000 }, async () => {
  const own = await startRedis();
  const c = own.client();
  const t = new RedisTopic(c, tname('restart'), { commandTimeout: 2000 });
  try {
    const s = await t.subscribe();
    for (let n = 0; n < 5; n++) await t.publish(`old${n}`);
    for (let n = 0; n < 5; n++) assert.equal((await s.receive({ timeout: 5000 })).toString(), `old${n}`);
    await own.restart(); // the data is gone: the counter starts again at 1
    const waiting = s.receive({ timeout: 20_000 }).catch((err) => err);
    // Publish once the client is back (bounded retries).
    const deadline = performance.now() + 15_000;
    for (;;) {
      try {
        await t.publish('new');
        break;
      } catch (err) {
        if (performance.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    let got = await waiting;
    // The wait may have failed while the server was down (ETIMEDOUT/remote error naming it): wait again.
    if (got instanceof Error) {
      assert.match(got.message, new RegExp(`127\\.0\\.0\\.1:${own.port}`));
      got = await s.receive({ timeout: 10_000 });
    }
    assert.equal(got.toString(), 'new');
    assert.equal(s.missed, 0);
    await s.close();
  } finally {
    t.close();
    await own.stop();
  }
});

test('argument checks and key layout', async () => {
  assert.throws(() => new RedisTopic(client, 'a{b'), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => new RedisTopic(client, 't', { capacity: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new RedisTopic(client, 't', { encoding: 'yaml' }), { code: 'ERR_INVALID_ARG_VALUE' });
  const t = new RedisTopic(client, tname('args'), { capacity: 3 });
  await assert.rejects(t.subscribe({ from: 'middle' }), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(t.subscribe({ onLag: 'ignore' }), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(t.publish({ not: 'bytes' }), { code: 'ERR_INVALID_ARG_TYPE' });
  for (let n = 0; n < 5; n++) await t.publish(`m${n}`);
  assert.deepEqual((await client.keys(`shmkit:topic:{${t.name}}*`)).sort(), [t.key, `${t.key}:seq`]);
  assert.equal(await client.xlen(t.key), 3, 'trimmed to exactly capacity');
  assert.equal(await client.get(`${t.key}:seq`), '5');
  assert.deepEqual((await client.xrange(t.key, '-', '+')).map(([id]) => id), ['3-0', '4-0', '5-0'], 'entry id = sequence number');
  const s = await t.subscribe({ from: 'earliest' });
  assert.equal((await s.tryReceive()).toString(), 'm2');
  t.close();
  assert.equal(s.closed, true, 'closing the topic closes its subscribers');
  await assert.rejects(t.publish('x'), { code: 'ERR_SHMKIT_CLOSED' });
});

test('batch: true: the publishes of one tick go in one write, in call order; a read in the same tick comes after them', { timeout: 30_000 }, async () => {
  const c = server.client();
  const t = new RedisTopic(c, tname('batch-order'), { encoding: 'json', batch: true });
  const other = new RedisTopic(c, t.name, { encoding: 'json', batch: true });
  try {
    await t.publish(-1); // the script cached first (a NOSCRIPT is sent again as EVAL, on its own)
    const s = await t.subscribe();
    const n = 100;
    const writes = await countWrites(c);
    // Two handles of one topic on the client share the batch: their publishes keep their order.
    await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? t : other).publish(i)));
    assert.equal(writes.n, 1, 'one write for the tick');
    const got = [];
    for (let m = await s.tryReceive(); m !== undefined; m = await s.tryReceive()) got.push(m);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
    // Published and read in the same tick, not awaited in between: the read sends the batch first.
    const [, , read] = await Promise.all([t.publish('a'), t.publish('b'), s.tryReceive()]);
    assert.equal(read, 'a');
    assert.equal(await s.tryReceive(), 'b');
    // A subscriber made in the same tick as a publish starts after it.
    const [, late] = await Promise.all([t.publish('c'), t.subscribe()]);
    await t.publish('d');
    assert.equal(await late.tryReceive(), 'd');
    // NOSCRIPT inside a batch: each publish is sent again as EVAL, in order.
    await c.script('FLUSH');
    await Promise.all([t.publish('e'), t.publish('f'), t.publish('g')]);
    assert.deepEqual([await late.tryReceive(), await late.tryReceive(), await late.tryReceive()], ['e', 'f', 'g']);
    // A publish with its own timeout, and a bad one rejecting only itself.
    const settled = await Promise.allSettled([t.publish('h', { timeout: 1000 }), t.publish('i', { timeout: -1 }), t.publish(undefined)]);
    assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'rejected', 'rejected']);
    assert.equal(await late.tryReceive(), 'h');
    await s.close();
    await late.close();
  } finally {
    t.close();
    other.close();
    c.disconnect();
  }
});
