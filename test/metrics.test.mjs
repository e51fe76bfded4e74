// Metrics (issue 12): `shmkit/prometheus` registers every named object's
// stats() with a real prom-client registry, and `shmkit metrics --listen`
// serves the same text over HTTP, scraped here with a real client; both are
// checked against known traffic from another process.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Barrier, Condition, Dict, Mutex, Notifier, Queue, RwLock, Semaphore, SharedArray, Topic } from 'shmkit';
import { registerShmkitMetrics } from 'shmkit/prometheus';
import { PROCESS_PREFIX, trackedNames } from './fixtures/names.mjs';
import { reap, run, startProcess } from './fixtures/proc.mjs';
import { STEP_MS, unlinkQuietly, withTimeout } from './fixtures/helpers.mjs';

const require = createRequire(import.meta.url);
const { Registry } = require('prom-client');

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const made = [];
after(() => unlinkQuietly(...made)); // before trackedNames()'s own check for leftovers
const name = trackedNames();
const mine = (n) => n.startsWith(`/${PROCESS_PREFIX}`);

/** `metric{name="..."} value` lines of an exposition, as a Map from `metric name` to the value. */
function parse(text) {
  const values = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_]+)(?:\{name="((?:[^"\\]|\\.)*)"\})? (\S+)$/.exec(line);
    assert.ok(m, `an exposition line: ${JSON.stringify(line)}`);
    values.set(m[2] === undefined ? m[1] : `${m[1]} ${m[2]}`, Number(m[3]));
  }
  return values;
}

/** The TYPE of every family in an exposition. */
function types(text) {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

/** Sends `n` messages of 10 bytes to the Queue `q` from another process. */
async function sendFromChild(q, n) {
  const code = `import { Queue } from 'shmkit';
    const q = Queue.open(${JSON.stringify(q)});
    for (let i = 0; i < ${n}; i++) if (!q.trySend(Buffer.alloc(10, i))) throw new Error('full at ' + i);
    q.close();`;
  const r = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, timeoutMs: 20000 });
  assert.equal(r.code, 0, r.stderr);
}

test('shmkit/prometheus: a real prom-client registry reports a queue\'s traffic from another process, with counter and gauge types', async () => {
  const q = name('metrics-q');
  made.push(q);
  const queue = Queue.create(q, { capacity: 65536 });
  const registry = new Registry();
  const handle = registerShmkitMetrics({ registry, match: mine });
  try {
    await sendFromChild(q, 500);
    for (let i = 0; i < 200; i++) assert.ok(queue.tryReceive() !== undefined);
    const text = await registry.metrics();
    const v = parse(text);
    assert.equal(v.get(`shmkit_queue_sent_total ${q}`), 500);
    assert.equal(v.get(`shmkit_queue_received_total ${q}`), 200);
    assert.equal(v.get(`shmkit_queue_length ${q}`), 300);
    assert.equal(v.get(`shmkit_queue_capacity ${q}`), 65536);
    assert.equal(v.get(`shmkit_object_size_bytes ${q}`), Queue.byteLength({ capacity: 65536 }));
    assert.equal(v.get('shmkit_objects'), 1, 'only this test\'s names matched');
    const t = types(text);
    assert.equal(t.get('shmkit_queue_sent_total'), 'counter');
    assert.equal(t.get('shmkit_queue_length'), 'gauge');
    // A second scrape sees new traffic (counters are read anew, not added up).
    await sendFromChild(q, 7);
    await new Promise((r) => setTimeout(r, 300)); // past the reading's 250 ms reuse
    assert.equal(parse(await registry.metrics()).get(`shmkit_queue_sent_total ${q}`), 507);
  } finally {
    handle.unregister();
    queue.close();
  }
  assert.ok(!(await registry.metrics()).includes('shmkit_'), 'unregister() removed every shmkit metric');
});

test('every number and boolean that a kind\'s stats() reports is exported, under its kind\'s name', async () => {
  const objects = [
    ['Mutex', Mutex.create(name('metrics-mutex'))],
    ['RwLock', RwLock.create(name('metrics-rwlock'))],
    ['Semaphore', Semaphore.create(name('metrics-sem'), { initial: 3 })],
    ['Condition', Condition.create(name('metrics-cond'))],
    ['Barrier', Barrier.create(name('metrics-barrier'), { parties: 2 })],
    ['Notifier', Notifier.create(name('metrics-notifier'))],
    ['Queue', Queue.create(name('metrics-queue'), { capacity: 4096 })],
    ['Topic', Topic.create(name('metrics-topic'), { capacity: 4096 })],
    ['Dict', Dict.create(name('metrics-dict'), { memory: 65536 })],
    ['SharedArray', SharedArray.create(name('metrics-array'), { type: Float64Array, length: 8 })],
  ];
  for (const [, o] of objects) made.push(o.name);
  const registry = new Registry();
  const handle = registerShmkitMetrics({ registry, match: mine });
  try {
    const v = parse(await registry.metrics());
    let checked = 0;
    for (const [kind, o] of objects) {
      assert.ok(v.has(`shmkit_object_size_bytes ${o.name}`), `${kind} ${o.name} is exported`);
      if (typeof o.stats !== 'function') continue;
      for (const [field, value] of Object.entries(o.stats())) {
        if (typeof value !== 'number' && typeof value !== 'boolean') continue;
        const base = `shmkit_${kind.toLowerCase()}_${field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
        const key = [`${base} ${o.name}`, `${base}_total ${o.name}`].find((k) => v.has(k));
        assert.ok(key, `${kind}.stats().${field} is exported as ${base} or ${base}_total`);
        checked++;
      }
    }
    assert.ok(checked >= 9, `${checked} stats() figures checked`);
  } finally {
    handle.unregister();
    for (const [, o] of objects) o.close();
  }
});

test('an object of another owner is skipped (counted) unless trusted', async () => {
  const theirs = name('metrics-theirs');
  made.push(theirs);
  const code = `import { Notifier } from 'shmkit'; Notifier.create(${JSON.stringify(theirs)}, { mode: 0o644 }).close();`;
  const r = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, timeoutMs: 20000, uid: 65534, gid: 65534 });
  assert.equal(r.code, 0, r.stderr);
  const registry = new Registry();
  let handle = registerShmkitMetrics({ registry, match: (n) => n === theirs });
  let v = parse(await registry.metrics());
  assert.equal(v.get('shmkit_objects'), 0);
  assert.equal(v.get('shmkit_objects_skipped'), 1);
  assert.equal(v.get(`shmkit_object_size_bytes ${theirs}`), undefined);
  handle.unregister();
  handle = registerShmkitMetrics({ registry, match: (n) => n === theirs, trustOwners: [65534] });
  v = parse(await registry.metrics());
  assert.equal(v.get('shmkit_objects'), 1);
  assert.ok(v.get(`shmkit_object_size_bytes ${theirs}`) > 0);
  handle.unregister();
});

test('shmkit metrics --listen: a real HTTP scrape gives the same figures as prom-client; other paths 404; SIGTERM stops it', async () => {
  const q = name('metrics-http');
  made.push(q);
  const queue = Queue.create(q, { capacity: 4096 });
  const server = startProcess(process.execPath, [MAIN, 'metrics', `${PROCESS_PREFIX}*`, '--listen', '127.0.0.1:0'], { timeoutMs: 30000 });
  try {
    await sendFromChild(q, 42);
    const [, url] = (await server.line(/^serving (http:\/\/127\.0\.0\.1:\d+\/metrics)$/)).match(/^serving (\S+)$/);
    const res = await fetch(url, { signal: AbortSignal.timeout(STEP_MS) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const v = parse(text);
    assert.equal(v.get(`shmkit_queue_sent_total ${q}`), 42);
    assert.equal(v.get(`shmkit_queue_length ${q}`), 42);
    assert.equal(types(text).get('shmkit_queue_sent_total'), 'counter');
    // prom-client, reading the same object now, agrees on every figure of it.
    const registry = new Registry();
    const handle = registerShmkitMetrics({ registry, match: (n) => n === q });
    const fromProm = parse(await registry.metrics());
    handle.unregister();
    for (const [key, value] of fromProm) if (key.endsWith(` ${q}`)) assert.equal(v.get(key), value, key);
    assert.equal((await fetch(url.replace('/metrics', '/'), { signal: AbortSignal.timeout(STEP_MS) })).status, 404);
    server.child.kill('SIGTERM');
    const end = await withTimeout(server.done, STEP_MS, 'the metrics server to stop');
    assert.equal(end.code, 0, end.stderr);
  } finally {
    await reap(server);
    queue.close();
  }
});

test('shmkit metrics: bad usage exits 2; without --listen it prints the text once', async () => {
  const bad = await run(process.execPath, [MAIN, 'metrics', '--listen', 'nowhere'], { timeoutMs: 20000 });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^shmkit: ERR_USAGE: --listen takes HOST:PORT/);
  const badTrust = await run(process.execPath, [MAIN, 'metrics', '--trust-owners', 'me'], { timeoutMs: 20000 });
  assert.equal(badTrust.code, 2);
  const q = name('metrics-once');
  made.push(q);
  Queue.create(q, { capacity: 4096 }).close();
  const once = await run(process.execPath, [MAIN, 'metrics', q.slice(1)], { timeoutMs: 20000 });
  assert.equal(once.code, 0, once.stderr);
  const v = parse(once.stdout);
  assert.equal(v.get(`shmkit_queue_sent_total ${q}`), 0);
  assert.equal(v.get('shmkit_objects'), 1);
});
