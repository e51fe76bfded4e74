// What the bridge does with what it finds on Redis, exactly counted: frames
// of another bridge (built here by hand, as src/redis/bridge-envelope.ts
// documents them) with a gap in their numbering (counted in `gaps`, logged),
// one seen twice (dropped, `duplicates`), a message without a frame
// (delivered as is), and messages Redis trimmed while the bridge was
// stopped (SIGSTOP): counted once, in `lagRemote`, not again as a gap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Topic } from 'shmkit';
import { RedisTopic } from 'shmkit/redis';
import { startRedis } from './fixtures/redis.mjs';
import { trackedNames } from './fixtures/names.mjs';
import { startProcess } from './fixtures/proc.mjs';

const uniqueName = trackedNames();
const MAIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

/** A frame of bridge `origin` (instance: 8 bytes), number `n`, around `payload`. */
function frame(origin, instance, n, payload) {
  const head = Buffer.alloc(4 + 1 + origin.length + 8 + 4);
  head.writeUInt32LE(0x01424b53, 0); // 'S' 'K' 'B' 1
  head[4] = origin.length;
  head.write(origin, 5, 'utf8');
  instance.copy(head, 5 + origin.length);
  head.writeUInt32LE(n, 5 + origin.length + 8);
  return Buffer.concat([head, Buffer.from(payload)]);
}

test('frames from Redis: a numbering gap is counted and logged, a copy dropped, an unframed message delivered, a trim counted once', async (t) => {
  const redis = await startRedis();
  const name = uniqueName('lag');
  const remote = name.slice(1);
  const proc = startProcess(process.execPath, [MAIN, 'bridge', '--redis', redis.url, '--id', 'me', '--topic', name, '--remote-topic-capacity', '10', '--command-timeout', '500', '--json'], { timeoutMs: 60000 });
  t.after(async () => {
    proc.child.kill('SIGKILL');
    Topic.unlink(name);
    await redis.stop();
  });
  await proc.line(/"ready"/, 20000);
  const local = Topic.open(name);
  const sub = local.subscribe();
  const far = new RedisTopic(redis.client(), remote, { capacity: 10 });
  const other = Buffer.from('0123456789abcdef', 'hex');
  const next = async () => (await sub.receive({ timeout: 10000 })).toString();

  for (const n of [1, 2, 5]) await far.publish(frame('other', other, n, `p${n}`));
  await far.publish(frame('other', other, 2, 'p2 again'));
  await far.publish(Buffer.from('plain'));
  assert.deepEqual([await next(), await next(), await next(), await next()], ['p1', 'p2', 'p5', 'plain'], 'the copy of 2 is dropped');

  // Stopped while 30 more are published on a Redis topic that keeps 10: 20 are trimmed before it reads them.
  proc.child.kill('SIGSTOP');
  for (let n = 6; n <= 35; n++) await far.publish(frame('other', other, n, `p${n}`));
  proc.child.kill('SIGCONT');
  // A receive the bridge had waiting in Redis when it was stopped may hold
  // the first of them (Redis answered it at once): then 19 are trimmed.
  const rest = [];
  while (rest.at(-1) !== 'p35') rest.push(await next());
  const early = rest[0] === 'p6' ? 1 : 0;
  assert.deepEqual(rest.slice(early), Array.from({ length: 10 }, (_, i) => `p${26 + i}`));
  assert.equal(sub.tryReceive(), undefined, 'nothing more');
  const trimmed = 20 - early;

  proc.child.kill('SIGTERM');
  const r = await proc.done;
  assert.equal(r.code, 0, r.stderr);
  const docs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const stats = docs.at(-1).stats;
  assert.deepEqual(stats.topics[name], { sent: 0, received: 14 + early, ownSkipped: 0, duplicates: 1, lagLocal: 0, lagRemote: trimmed, gaps: 2, dropped: 0 });
  assert.equal(stats.lag, 2 + trimmed, 'each lost message counted once');
  const lags = docs.filter((d) => d.event?.type === 'lag').map((d) => d.event);
  assert.deepEqual(lags.map((e) => e.count).sort((a, b) => a - b), [2, trimmed]);
  assert.match(lags.find((e) => e.count === 2).message, /2 message\(s\) of other never reached Redis or were lost there \(numbers 3\.\.4\)/);
  assert.match(lags.find((e) => e.count === trimmed).message, new RegExp(`Redis trimmed ${trimmed} message\\(s\\)`));
  assert.equal(docs.filter((d) => d.event?.type === 'duplicate').length, 1);
  sub.close();
  local.close();
  far.close();
});
