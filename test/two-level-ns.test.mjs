// The two-level Dict across two "hosts" (issue 13): two process groups, each
// in its own IPC and mount namespace with a private tmpfs on /dev/shm (as
// containers without --ipc=host), sharing only the network namespace and so
// the same redis-server on loopback. Host A's near copy learns of host B's
// write by invalidation; synced counters of both hosts converge to the exact
// sum, and a limit is overshot by no more than docs/API.md states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startRedis } from './fixtures/redis.mjs';
import { uniqueName } from './fixtures/names.mjs';
import { run } from './fixtures/proc.mjs';
import { makeRemote } from './fixtures/two-level-remote.mjs';
import { startWorker } from './fixtures/two-level-procs.mjs';

const server = await startRedis();

/** Runs a worker as the first process of a new "host": own IPC and mount namespace, private /dev/shm. */
const HOST = ['unshare', '--ipc', '--mount', '--propagation', 'private', '--fork', '--kill-child', 'sh', '-c', 'mount -t tmpfs tmpfs /dev/shm && exec "$0" "$@"'];

async function namespacesAllowed(t) {
  const probe = await run('unshare', ['--ipc', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /dev/shm'], { timeoutMs: 10000 })
    .catch((e) => ({ code: -1, stderr: e.message }));
  if (probe.code !== 0) t.skip(`unshare --ipc --mount with a tmpfs mount is not allowed here: ${probe.stderr.trim()}`);
  return probe.code === 0;
}

/** Starts a host (its names live and die in its private tmpfs). */
function startHost(t, config) {
  const host = startWorker(config, { wrap: HOST });
  t.after(() => host.end());
  return host;
}

test('two hosts: B\'s write reaches A\'s near copy by invalidation, well within nearTtl; neither sees the other\'s /dev/shm', async (t) => {
  if (!(await namespacesAllowed(t))) return;
  const nearA = uniqueName('ns-near-a');
  const nearB = uniqueName('ns-near-b');
  const common = { port: server.port, name: 'ns-inv', nearTtl: 60000 };
  const remote = makeRemote(server.client(), 'ns-inv');
  await remote.set('k', 'v1');
  const a = startHost(t, { ...common, near: nearA });
  const b = startHost(t, { ...common, near: nearB });
  await Promise.all([a.ready, b.ready]);

  assert.equal(await a.ask({ op: 'get', key: 'k' }), 'v1');
  assert.equal(await a.ask({ op: 'get', key: 'k' }), 'v1');
  const cached = await a.ask({ op: 'stats' });
  assert.deepEqual([cached.fetches, cached.nearHits], [1, 1], 'A holds k near');

  await b.ask({ op: 'set', key: 'k', value: 'v2' });
  const seen = await a.ask({ op: 'waitFor', key: 'k', value: 'v2', timeoutMs: 10000 });
  t.diagnostic(`host A saw host B's write after ${seen.elapsedMs} ms (nearTtl 60000 ms)`);
  assert.ok(seen.elapsedMs < 5000, `invalidation took ${seen.elapsedMs} ms`);
  assert.ok(seen.stats.invalidations >= 1, 'by a message from host B');

  const [lsA, lsB] = await Promise.all([a.ask({ op: 'ls' }), b.ask({ op: 'ls' })]);
  const own = (n) => [n.slice(1), `${n.slice(1)}.two-level`].sort();
  assert.deepEqual(lsA, own(nearA), 'host A\'s /dev/shm holds its own near copy only');
  assert.deepEqual(lsB, own(nearB), 'host B\'s /dev/shm holds its own near copy only');
  assert.equal([nearA, nearB].some((n) => existsSync(`/dev/shm${n}`) || existsSync(`/dev/shm${n}.two-level`)), false, 'this host never saw either');
});

test('two hosts, synced counters: the total converges to the exact sum; a limit is overshot within 2 × syncInterval of all hosts\' increments', async (t) => {
  if (!(await namespacesAllowed(t))) return;
  // Above what the stated bound allows past it (about 500 here), so hosts that
  // never synced (each accepting up to LIMIT on its own) would fail the check.
  const LIMIT = 800;
  const SYNC_INTERVAL = 100;
  const common = { port: server.port, name: 'ns-cnt', mode: 'synced-counter', syncInterval: SYNC_INTERVAL };
  const hosts = [startHost(t, { ...common, near: uniqueName('ns-cnt-a') }), startHost(t, { ...common, near: uniqueName('ns-cnt-b') })];
  await Promise.all(hosts.map((h) => h.ready));
  // Two worker processes per host, each an incr every ~2 ms for 2 s, counting what a
  // limiter would accept (the host's view <= LIMIT).
  const loop = { op: 'incrLoop', key: 'rate', limit: LIMIT, durationMs: 2000, everyMs: 2, ttl: 60000 };
  const perHost = await Promise.all(hosts.map((h) => h.ask({ op: 'fanout', count: 2, cmd: loop }, 60000)));

  const total = perHost.flat().reduce((n, w) => n + w.incrs, 0);
  const remote = makeRemote(server.client(), 'ns-cnt');
  assert.equal(await remote.get('rate'), total, 'every increment of both hosts reached Redis exactly once');

  // The stated bound: past the limit, at most the increments all hosts make
  // within 2 × (syncInterval + a push round trip). Measured from the
  // increments' own times, per host, with 50 ms allowed for the round trip
  // and the timer's lateness on this loaded machine.
  const window = 2 * (SYNC_INTERVAL + 50);
  const bound = perHost.reduce((n, workers) => n + busiestWindow(workers.flatMap((w) => w.times), window), 0);
  const accepted = perHost.flat().reduce((n, w) => n + w.accepted, 0);
  t.diagnostic(`${total} increments; accepted ${accepted} against a limit of ${LIMIT}: overshoot ${accepted - LIMIT}, bound ${bound}`);
  assert.ok(total >= 2 * LIMIT && perHost.every((workers) => workers.reduce((n, w) => n + w.incrs, 0) > LIMIT), 'each host alone went past the limit');
  assert.ok(accepted >= LIMIT, 'the limit was reached');
  assert.ok(accepted - LIMIT <= bound, `overshoot ${accepted - LIMIT} > bound ${bound}`);
});

/** The most of `times` (ms) inside any window of `ms`. */
function busiestWindow(times, ms) {
  const sorted = [...times].sort((x, y) => x - y);
  let most = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi] - sorted[lo] >= ms) lo++;
    most = Math.max(most, hi - lo + 1);
  }
  return most;
}
