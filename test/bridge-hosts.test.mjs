// The bridge between two hosts: two process groups, each in its own IPC and
// mount namespace with a private tmpfs on /dev/shm (fixtures/bridge-hosts.mjs),
// each running `shmkit bridge` from dist and a local application process,
// both reaching one redis-server on loopback.
//   - a Topic published on either host reaches the other host's subscribers,
//     each message exactly once, and nothing loops (counted exactly);
//   - a Queue drained on host A feeds host B's Queue with every message, in order;
//   - redis-server killed and restarted (appendonly, same port) mid-stream:
//     the bridges resume, no acknowledged Queue message is lost, and every
//     Topic message is either delivered or counted as lag (never silent);
//   - SIGTERM: exit 0, final counters printed, every link closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './fixtures/redis.mjs';
import { namespacesUnavailable, startHost } from './fixtures/bridge-hosts.mjs';

const N = 400;

/** Messages of `prefix` in `list`, as numbers, in the order seen. */
const numbersOf = (list, prefix) => list.filter((m) => m.startsWith(prefix) && /^\d+$/.test(m.slice(prefix.length))).map((m) => Number(m.slice(prefix.length)));
const range = (n) => Array.from({ length: n }, (_, i) => i);

async function twoHosts(t) {
  const why = namespacesUnavailable();
  if (why !== undefined) {
    t.skip(why);
    return undefined;
  }
  const hosts = [await startHost('A'), await startHost('B')];
  t.after(async () => {
    for (const h of hosts) await h.close();
  });
  return hosts;
}

test('two hosts: a Topic both ways, each message exactly once, no loop; a Queue from A to B, every message; SIGTERM exits 0', async (t) => {
  const hosts = await twoHosts(t);
  if (hosts === undefined) return;
  const [a, b] = hosts;
  const redis = await startRedis();
  await a.call('bridge', { args: ['--redis', redis.url, '--id', 'host-a', '--topic', '/prices', '--queue-out', '/jobs'] });
  await b.call('bridge', { args: ['--redis', redis.url, '--id', 'host-b', '--topic', '/prices', '--queue-in', '/jobs'] });
  await a.call('subscribe', { topic: '/prices' });
  await b.call('subscribe', { topic: '/prices' });

  // Both publish at once (paced a little, so neither local ring laps its bridge).
  await Promise.all([
    a.call('publish', { topic: '/prices', prefix: 'a', n: N, every: 20 }),
    b.call('publish', { topic: '/prices', prefix: 'b', n: N, every: 20 }),
  ]);
  // Each host's subscriber: its own N, the other's N; then nothing more
  // (a loop would bring messages back again and again).
  const gotA = (await a.call('received', { topic: '/prices', want: 2 * N, ms: 30000 })).messages;
  const gotB = (await b.call('received', { topic: '/prices', want: 2 * N, ms: 30000 })).messages;
  await sleep(1000);
  const moreA = (await a.call('received', { topic: '/prices', want: 2 * N + 1, ms: 500 })).messages;
  const moreB = (await b.call('received', { topic: '/prices', want: 2 * N + 1, ms: 500 })).messages;
  assert.equal(moreA.length, 2 * N, `host A got ${moreA.length - 2 * N} message(s) more than published: a loop`);
  assert.equal(moreB.length, 2 * N, `host B got ${moreB.length - 2 * N} message(s) more than published: a loop`);
  assert.deepEqual(numbersOf(gotA, 'a'), range(N), 'A: its own messages once, in order');
  assert.deepEqual(numbersOf(gotA, 'b'), range(N), "A: B's messages once each, in order");
  assert.deepEqual(numbersOf(gotB, 'b'), range(N), 'B: its own messages once, in order');
  assert.deepEqual(numbersOf(gotB, 'a'), range(N), "B: A's messages once each, in order");

  // The Queue: into A's local /jobs, out of B's local /jobs.
  await a.call('send', { queue: '/jobs', prefix: 'job', n: N });
  const jobs = (await b.call('take', { queue: '/jobs', want: N, ms: 30000 })).messages;
  assert.deepEqual(numbersOf(jobs, 'job'), range(N), 'every job, once, in order');

  // Each host's /dev/shm is its own: the same names there, none here.
  assert.deepEqual((await a.call('shm')).names, ['jobs', 'prices']);
  assert.deepEqual((await b.call('shm')).names, ['jobs', 'prices']);
  assert.equal(existsSync('/dev/shm/prices') || existsSync('/dev/shm/jobs'), false, 'this host never saw them');

  const stopA = await a.call('stop', { signal: 'SIGTERM' });
  const stopB = await b.call('stop', { signal: 'SIGTERM' });
  for (const [s, me, them] of [[stopA, 'host-a', 'b'], [stopB, 'host-b', 'a']]) {
    assert.equal(s.code, 0, `${me} exit code (stderr: ${s.stderr})`);
    assert.equal(s.signal, null);
    assert.equal(s.stats.id, me);
    const topic = s.stats.topics['/prices'];
    assert.equal(topic.sent, N, `${me} sent its own messages once (not the ${them} ones it received)`);
    assert.equal(topic.received, N);
    assert.equal(topic.ownSkipped, N, `${me} saw its own messages on Redis and skipped them`);
    assert.equal(topic.duplicates + topic.lagLocal + topic.lagRemote + topic.gaps + topic.dropped, 0, JSON.stringify(topic));
    assert.deepEqual(s.events.filter((e) => e.type === 'closed').map((e) => e.link).sort(), ['queue /jobs', 'topic /prices']);
    assert.equal(s.last.final, true, 'the final counters are the last line');
  }
  assert.equal(stopA.stats.queues['/jobs'].moved, N);
  assert.equal(stopB.stats.queues['/jobs'].moved, N);
  await redis.stop();
});

test('redis-server killed and restarted mid-stream: the bridges resume, no Queue message lost, every Topic message delivered or counted as lag', async (t) => {
  const hosts = await twoHosts(t);
  if (hosts === undefined) return;
  const [a, b] = hosts;
  // appendfsync always: what Redis acknowledged survives the kill.
  const redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  // A small local Topic on A (about 50 messages): it laps A's bridge while Redis is away.
  await a.call('create', { topic: '/ticks', capacity: 4096 });
  const common = ['--command-timeout', '1000'];
  await a.call('bridge', { args: ['--redis', redis.url, '--id', 'host-a', '--topic', '/ticks', '--queue-out', '/orders', ...common] });
  await b.call('bridge', { args: ['--redis', redis.url, '--id', 'host-b', '--topic', '/ticks', '--queue-in', '/orders', ...common] });
  await b.call('subscribe', { topic: '/ticks' });

  const Q = 300;
  const T1 = 200;
  const T2 = 1000;
  await a.call('send', { queue: '/orders', prefix: 'o', n: Q });
  await a.call('publish', { topic: '/ticks', prefix: 't', n: T1, every: 5 });
  await redis.kill();
  // While Redis is away: orders wait in A's Queue; ticks lap A's 4 KiB ring.
  await a.call('send', { queue: '/orders', prefix: 'p', n: Q });
  await a.call('publish', { topic: '/ticks', prefix: 'u', n: T2, every: 10 });
  await sleep(1500);
  await redis.start();
  const orders = (await b.call('take', { queue: '/orders', want: 2 * Q, ms: 60000 })).messages;
  // Let the topic settle: received grows no more.
  const ticks = (await b.call('received', { topic: '/ticks', want: T1 + T2, ms: 5000 })).messages;

  const stopA = await a.call('stop', { signal: 'SIGTERM' });
  const stopB = await b.call('stop', { signal: 'SIGTERM' });
  assert.equal(stopA.code, 0, stopA.stderr);
  assert.equal(stopB.code, 0, stopB.stderr);

  // Queue: every order, at least once. A copy comes only from a try that
  // failed with the connection and was counted: a send A retried, a release B could not make.
  const unique = new Set(orders);
  for (const p of ['o', 'p']) assert.deepEqual(numbersOf([...unique], p).sort((x, y) => x - y), range(Q), `every '${p}' order arrived`);
  const copies = orders.length - unique.size;
  assert.ok(copies <= stopA.stats.queues['/orders'].retried + stopB.stats.queues['/orders'].releaseFailed,
    `copies (${copies}) only where a try failed and was counted: ${JSON.stringify([stopA.stats.queues, stopB.stats.queues])}`);

  // Topic: nothing twice, in order, and what did not arrive is counted.
  const delivered = numbersOf(ticks, 't').length + numbersOf(ticks, 'u').length;
  assert.equal(new Set(ticks).size, ticks.length, 'no tick twice');
  const ta = stopA.stats.topics['/ticks'];
  const tb = stopB.stats.topics['/ticks'];
  assert.ok(ta.lagLocal > 0, `A's ring lapped its bridge while Redis was away, and A counted it: ${JSON.stringify(ta)}`);
  assert.equal(delivered + ta.lagLocal + ta.dropped + tb.lagRemote + tb.gaps + tb.dropped, T1 + T2, `delivered ${delivered}, lag A ${JSON.stringify(ta)}, B ${JSON.stringify(tb)}: every tick delivered or counted`);
  assert.ok(stopA.events.some((e) => e.type === 'lag' && e.link === 'topic /ticks'), 'the lag was logged');

  // The outage was reported, and the recovery.
  for (const s of [stopA, stopB]) {
    assert.ok(s.stats.reconnects >= 1, JSON.stringify(s.stats));
    assert.ok(s.events.some((e) => e.type === 'remote-down' && /Redis at 127\.0\.0\.1/.test(e.message)), 'remote-down names the server');
    assert.ok(s.events.some((e) => e.type === 'remote-up'));
  }
  await redis.stop();
});
