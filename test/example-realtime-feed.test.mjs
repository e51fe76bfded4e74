// examples/realtime-feed runs as the README shows: the compiled example is
// started with two workers on ports 0, this test sends it ticks over UDP and
// reads its event streams with plain http.get. Every client that reads gets
// every tick, in order, once; a client that stops reading is skipped ahead
// with a missed event whose count is exact, while the others (on its worker
// too) go on; SIGTERM stops it with exit code 0 and nothing left behind.
// The same with BACKEND=redis (a real redis-server) and BACKEND=ipc (the
// benchmark's reference), smaller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { uniqueName } from './fixtures/names.mjs';
import { unlinkQuietly, waitUntil, withTimeout } from './fixtures/helpers.mjs';
import { reap, startNode } from './fixtures/proc.mjs';
import { startRedis } from './fixtures/redis.mjs';
import { FEED_MAIN, connectClient, eventually, startFeed, udpSender } from './fixtures/feed-sse.mjs';

/** Ticks per second the test sends: modest, so UDP on loopback does not drop (drops would be counted, and allowed for). */
const RATE = 5000;

/** Entries of /dev/shm made under `prefix`. */
const leftIn = (prefix) => readdirSync('/dev/shm').filter((n) => n.startsWith(prefix.slice(1)));

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Asserts `seqs` only go up (each tick once, in order). */
function assertInOrder(seqs, who) {
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] <= seqs[i - 1]) assert.fail(`${who}: tick ${seqs[i]} came after ${seqs[i - 1]} (position ${i})`);
  }
}

/** Waits until the ingest has taken every datagram sent (or, if UDP dropped some, until it reports the gaps). */
async function ingested(feed, datagrams) {
  let stats;
  try {
    await eventually(async () => (stats = await feed.stats()).ingest.received === datagrams, 15_000, () => `${datagrams} datagrams in: ${JSON.stringify(stats?.ingest)}`);
  } catch (err) {
    if (!(stats?.ingest.gaps > 0)) throw err; // lost on the way and reported: what was published is what counts
  }
  return stats;
}

/** Stops the feed with SIGTERM: exit code 0, its summary printed, no worker left, nothing of `prefix` in /dev/shm. */
async function stopFeed(feed, prefix, workerPids) {
  feed.proc.child.kill('SIGTERM');
  const r = await withTimeout(feed.proc.done, 15_000, 'the feed to stop');
  assert.equal(r.code, 0, `exit ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stdout, /^realtime-feed: stopped after/m);
  assert.equal(r.stderr, '', 'no process of the feed reported an error');
  assert.deepEqual(leftIn(prefix), [], 'shm objects left behind');
  assert.deepEqual(workerPids.filter(alive), [], 'worker processes left');
  return r;
}

test('realtime-feed: every client that reads gets every tick in order once; one that does not is skipped ahead with an exact missed count; SIGTERM leaves nothing', { timeout: 150_000 }, async (t) => {
  const prefix = uniqueName('feed');
  const feed = await startFeed({ WORKERS: '2', FEED_PREFIX: prefix, TICKS_KEPT: '8192' });
  const clients = [];
  let sender;
  try {
    const kept = Number(/(\d+) ticks kept/.exec(feed.proc.stdout)?.[1]);
    assert.ok(kept >= 8192, feed.proc.stdout);
    // One slow client, and fast ones until one shares its worker (the
    // cluster hands connections out in turn: the first few do).
    const slow = await connectClient(feed.httpPort);
    clients.push(slow);
    const fast = [];
    while (fast.length < 4 || !fast.some((c) => c.worker === slow.worker)) {
      assert.ok(fast.length < 12, `no fast client landed on the slow client's worker ${slow.worker}: ${fast.map((c) => c.worker)}`);
      const c = await connectClient(feed.httpPort);
      fast.push(c);
      clients.push(c);
    }
    assert.equal(new Set(clients.map((c) => c.worker)).size, 2, 'clients on both workers');
    slow.pause();

    sender = await udpSender(feed.udpPort);
    sender.raw(Buffer.from('not a tick'));
    // Until the slow client's socket is full (its worker stops reading its
    // subscription, GET /stats shows it stalled: the kernel's socket
    // buffers, some MiB on loopback, come first), then a lap of the Topic
    // and more, so that its subscription is overwritten.
    const slowWorker = async () => (await feed.stats()).workers.find((w) => w.pid === slow.worker);
    const stallDeadline = Date.now() + 60_000;
    for (let seen = 0; seen < 2; ) {
      assert.ok(Date.now() < stallDeadline, `the slow client never stalled after ${sender.sent} ticks`);
      await sender.send(1000, RATE);
      seen = (await slowWorker()).stalled >= 1 ? seen + 1 : 0;
    }
    t.diagnostic(`the slow client's worker stopped reading for it after ${sender.sent} ticks`);
    await sender.send(kept + 2000, RATE);
    let stats = await ingested(feed, sender.sent + 1);
    assert.equal(stats.ingest.rejected, 1, 'the datagram that is no tick is rejected');
    const published = stats.ingest.published;
    await eventually(() => fast.every((c) => c.seqs.length >= published), 20_000, () => `fast clients got ${fast.map((c) => c.seqs.length)} of ${published}`);
    assert.ok((await slowWorker()).stalled >= 1, 'the slow client is still stalled');

    // The slow client reads again: what its socket held, the missed event, then ticks again.
    slow.resume();
    await sender.send(500, RATE);
    stats = await ingested(feed, sender.sent + 1);
    await eventually(() => fast.every((c) => c.seqs.length >= stats.ingest.published), 20_000, () => `fast clients got ${fast.map((c) => c.seqs.length)} of ${stats.ingest.published}`);
    await eventually(() => slow.seqs.at(-1) === fast[0].seqs.at(-1), 20_000, () => `the slow client's last tick ${slow.seqs.at(-1)}, want ${fast[0].seqs.at(-1)}`);

    // Fast clients: the same ticks, every one published, in order, no missed event.
    const P = fast[0].seqs;
    assertInOrder(P, 'fast client 0');
    assert.equal(P.length, stats.ingest.published, 'every published tick reached the fast clients');
    if (stats.ingest.gaps === 0) assert.equal(P.length, sender.sent, 'UDP dropped nothing: every tick sent');
    for (const [i, c] of fast.entries()) {
      assert.equal(c.missedEvents, 0, `fast client ${i} was never skipped`);
      assert.deepEqual(c.seqs, P, `fast client ${i} (worker ${c.worker}${c.worker === slow.worker ? ', the slow client\'s' : ''}) got every tick in order`);
    }
    // The slow client: a prefix of P, then for each missed event exactly that many of P left out, then P to its end.
    let at = 0;
    let missed = 0;
    for (const [k, item] of slow.items.entries()) {
      if (typeof item === 'number') {
        assert.equal(item, P[at], `slow client's item ${k}: tick ${item}, expected ${P[at]}`);
        at++;
      } else {
        assert.ok(item.missed > 0, `missed event ${JSON.stringify(item)}`);
        at += item.missed;
        missed += item.missed;
        assert.equal(item.total, missed, 'a missed event\'s total counts every one so far');
      }
    }
    t.diagnostic(`${sender.sent} ticks sent, ${P.length} published (${stats.ingest.gaps} lost by UDP); the slow client missed ${missed} in ${slow.missedEvents} event(s)`);
    assert.ok(missed > 0, 'the slow client got a missed event with a count > 0');
    assert.equal(at, P.length, 'ticks again after the missed event, to the last one');
    assert.equal(typeof slow.items.at(-1), 'number');
    assert.equal(stats.total.missed, missed, 'GET /stats counts the same ticks skipped');
    assert.ok(stats.total.deliveries >= fast.length * P.length);

    const workerPids = stats.workers.map((w) => w.pid);
    for (const c of clients) c.close();
    await stopFeed(feed, prefix, workerPids);
  } finally {
    sender?.close();
    for (const c of clients) c.close();
    await reap(feed.proc);
    unlinkQuietly(...leftIn(prefix).map((n) => `/${n}`)); // (after a failure)
  }
});

/** The smaller version: a few clients that read, every tick in order once, clean stop. */
async function smallRun(env, prefix) {
  const feed = await startFeed({ WORKERS: '2', FEED_PREFIX: prefix, ...env });
  const clients = [];
  let sender;
  try {
    for (let i = 0; i < 3; i++) clients.push(await connectClient(feed.httpPort));
    clients.push(await connectClient(feed.httpPort, '/ticks?symbols=GLOBEX'));
    sender = await udpSender(feed.udpPort);
    await sender.send(2000, 1000);
    const stats = await ingested(feed, sender.sent);
    await eventually(() => clients.slice(0, 3).every((c) => c.seqs.length >= stats.ingest.published), 20_000,
      () => `clients got ${clients.map((c) => c.seqs.length)} of ${stats.ingest.published}`);
    const P = clients[0].seqs;
    assertInOrder(P, 'client 0');
    assert.equal(P.length, stats.ingest.published);
    if (stats.ingest.gaps === 0) assert.equal(P.length, sender.sent);
    for (const c of clients.slice(1, 3)) assert.deepEqual(c.seqs, P);
    assert.deepEqual(clients[3].seqs, P.filter((s) => s % 3 === 1), '?symbols=GLOBEX: only its ticks');
    for (const c of clients) assert.equal(c.missedEvents, 0);
    for (const c of clients) c.close();
    return await stopFeed(feed, prefix, stats.workers.map((w) => w.pid));
  } finally {
    sender?.close();
    for (const c of clients) c.close();
    await reap(feed.proc);
    unlinkQuietly(...leftIn(prefix).map((n) => `/${n}`)); // (after a failure)
  }
}

test('realtime-feed with BACKEND=redis: the same feed through a RedisTopic; its keys are gone after SIGTERM', { timeout: 90_000 }, async () => {
  const redis = await startRedis();
  const prefix = uniqueName('feed');
  const r = await smallRun({ BACKEND: 'redis', REDIS_URL: redis.url }, prefix);
  assert.match(r.stdout, /ticks via RedisTopic shmkit:topic:\{/);
  const client = redis.client();
  assert.deepEqual(await client.keys(`*${prefix.slice(1)}*`), [], 'the topic\'s keys are removed');
  await redis.stop();
});

test('realtime-feed with BACKEND=ipc (the benchmark\'s reference): the same feed by process.send', { timeout: 90_000 }, async () => {
  const r = await smallRun({ BACKEND: 'ipc' }, uniqueName('feed'));
  assert.match(r.stdout, /ticks via process\.send/);
});

test('realtime-feed: a SIGKILLed worker is started again and the others go on; a SIGKILLed primary takes its workers with it', { timeout: 90_000 }, async () => {
  const prefix = uniqueName('feed');
  const feed = await startFeed({ WORKERS: '2', FEED_PREFIX: prefix });
  const clients = [];
  let sender;
  try {
    while (new Set(clients.map((c) => c.worker)).size < 2) {
      assert.ok(clients.length < 8, `clients all on one worker: ${clients.map((c) => c.worker)}`);
      clients.push(await connectClient(feed.httpPort));
    }
    const victim = clients[0].worker;
    process.kill(victim, 'SIGKILL');
    await eventually(() => clients.filter((c) => c.worker === victim).every((c) => c.ended), 10_000, 'the killed worker\'s clients to see their streams end');
    let pids;
    await eventually(async () => (pids = (await feed.stats()).workers.map((w) => w.pid)).length === 2 && !pids.includes(victim) && pids.every(alive),
      15_000, () => `a new worker in the dead one's row: ${pids}`);
    assert.match(feed.proc.stderr, new RegExp(`worker ${victim} died \\(SIGKILL\\); starting another`));
    // Clients on the new worker too, then ticks: every live client gets them all.
    const replacement = pids.find((p) => !clients.some((c) => c.worker === p));
    while (!clients.some((c) => c.worker === replacement)) {
      assert.ok(clients.length < 16, `no client reached the new worker ${replacement}`);
      clients.push(await connectClient(feed.httpPort));
    }
    const live = clients.filter((c) => !c.ended);
    sender = await udpSender(feed.udpPort);
    await sender.send(300, 1000);
    const stats = await ingested(feed, sender.sent);
    await eventually(() => live.every((c) => c.seqs.length >= stats.ingest.published), 15_000, () => `clients got ${live.map((c) => c.seqs.length)} of ${stats.ingest.published}`);
    for (const c of live) assert.deepEqual(c.seqs, live[0].seqs);
    assertInOrder(live[0].seqs, 'a live client');
    assert.equal(live[0].seqs.length, stats.ingest.published);

    // The primary SIGKILLed: its workers see the IPC channel close and stop on their own.
    feed.proc.child.kill('SIGKILL');
    await withTimeout(feed.proc.done, 10_000, 'the primary to die');
    await eventually(() => !pids.some(alive), 10_000, () => `workers left: ${pids.filter(alive)}`);
    await eventually(() => live.every((c) => c.ended), 10_000, 'the streams to end');
  } finally {
    sender?.close();
    for (const c of clients) c.close();
    await reap(feed.proc);
    unlinkQuietly(...leftIn(prefix).map((n) => `/${n}`)); // the primary was killed: nobody removed them
  }
});

/** Processes whose environment holds FEED_PREFIX=`prefix` (the feed's primary and workers). */
function feedProcesses(prefix) {
  const mark = `\0FEED_PREFIX=${prefix}\0`;
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((pid) => {
    try {
      return `\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(mark);
    } catch {
      return false; // gone
    }
  });
}

test('realtime-feed: SIGTERM while the workers start still stops with exit code 0 and leaves nothing', { timeout: 60_000 }, async () => {
  const prefix = uniqueName('feed');
  const proc = startNode(FEED_MAIN, [], { timeoutMs: 30_000, env: { ...process.env, PORT: '0', UDP_PORT: '0', WORKERS: '2', FEED_PREFIX: prefix } });
  try {
    // The Topic exists once the primary handles signals and before its workers listen.
    await waitUntil(() => leftIn(prefix).includes(`${prefix.slice(1)}-ticks`) || proc.exited, 20_000, 'the feed to create its Topic');
    proc.child.kill('SIGTERM');
    const r = await withTimeout(proc.done, 15_000, 'the feed to stop');
    assert.equal(r.code, 0, `exit ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, /ready/, 'stopped before it was ready (else this test tests nothing new)');
    assert.equal(r.stderr, '');
    assert.deepEqual(leftIn(prefix), []);
    await eventually(() => feedProcesses(prefix).length === 0, 5000, () => `processes left: ${feedProcesses(prefix)}`);
  } finally {
    await reap(proc);
    unlinkQuietly(...leftIn(prefix).map((n) => `/${n}`));
  }
});
