// RedisDict beyond the conformance suite: what only a real Redis shows.
// Keys spread over a Cluster's masters, values shared between processes,
// counters summed exactly from several processes, a stopped server turning
// into ETIMEDOUT naming it, the stored encoding as redis-cli sees it, and the
// example. Each test file starts its own servers (the fixture stops them).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisDict } from 'shmkit/redis';
import { countWrites, startRedis, startRedisCluster } from './fixtures/redis.mjs';
import { reportOf, run, startNode } from './fixtures/proc.mjs';
import { dictConformance } from './fixtures/conformance-dict.mjs';

const PEER = fileURLToPath(new URL('./fixtures/redis-dict-peer.mjs', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../dist/examples/redis-dict.js', import.meta.url));
const FIXTURE = new URL('./fixtures/redis.mjs', import.meta.url).href;

const server = await startRedis();
const cluster = await startRedisCluster();
// The Cluster client would retry the stopped nodes forever: disconnect it first.
after(() => cluster.stop());

let seq = 0;
const uniqueDict = (label) => `${label}-${process.pid}-${++seq}`;

/** Runs `body(dict)` on a fresh RedisDict of `client`, flushing it after. */
async function withDict(client, label, body, options = {}) {
  const dict = new RedisDict(client, uniqueDict(label), { commandTimeout: 10_000, ...options });
  try {
    await body(dict);
  } finally {
    await new RedisDict(client, dict.name, options).flushAll();
  }
}

test('the keys of one Dict land on all three Cluster masters; keys() finds every one', { timeout: 60_000 }, async () => {
  const client = cluster.client();
  await withDict(client, 'spread', async (dict) => {
    const n = 300;
    await Promise.all(Array.from({ length: n }, (_, i) => dict.set(`k${i}`, i)));
    for (const node of cluster.nodes) {
      const direct = node.client();
      let count = 0;
      let cursor = '0';
      do {
        const [next, batch] = await direct.scan(cursor, 'MATCH', `shmkit:${dict.name}:*`, 'COUNT', 1000);
        count += batch.length;
        cursor = next;
      } while (cursor !== '0');
      assert.ok(count > n / 10, `master on port ${node.port} holds ${count} of ${n} keys`);
    }
    const keys = await dict.keys(0);
    assert.equal(keys.length, n);
    assert.deepEqual(new Set(keys), new Set(Array.from({ length: n }, (_, i) => `k${i}`)));
    await dict.flushAll();
    assert.deepEqual(await dict.keys(0), []);
  });
});

test('keys() and flushAll() on a Cluster client that has not loaded its slot map yet', { timeout: 60_000 }, async () => {
  const writer = new RedisDict(cluster.client(), uniqueDict('fresh'));
  await Promise.all(Array.from({ length: 30 }, (_, i) => writer.set(`k${i}`, i)));
  const fresh = new RedisDict(cluster.client(), writer.name); // a new client, still connecting
  assert.equal((await fresh.keys(0)).length, 30);
  const other = new RedisDict(cluster.client(), writer.name);
  await other.flushAll();
  assert.deepEqual(await writer.keys(0), []);
});

test('the scripts survive SCRIPT FLUSH (NOSCRIPT: sent again), on a server and a Cluster', { timeout: 60_000 }, async () => {
  for (const client of [server.client(), cluster.client()]) {
    await withDict(client, 'noscript', async (dict) => {
      assert.equal(await dict.incr('c', 1, { init: 0 }), 1);
      assert.equal(await dict.compareAndSet('c', 1, 2), true);
      assert.equal(await dict.expire('c', 0), true);
      const masters = client.isCluster ? client.nodes('master') : [client];
      for (const m of masters) await m.script('FLUSH');
      assert.equal(await dict.incr('c', 1), 3);
      assert.equal(await dict.compareAndSet('c', 3, 4), true);
      assert.equal(await dict.expire('c', 0), true);
      assert.equal(await dict.get('c'), 4);
    });
  }
});

test('a TTL past what Redis keeps is accepted (capped, never expires in practice)', { timeout: 30_000 }, async () => {
  await withDict(server.client(), 'longttl', async (dict) => {
    await dict.set('k', 1, { ttl: 1e20 });
    assert.ok((await dict.ttl('k')) > 1e15);
    assert.equal(await dict.expire('k', Number.MAX_VALUE), true);
    assert.equal(await dict.incr('n', 1, { init: 0, ttl: 1e300 }), 1);
    assert.ok((await dict.ttl('n')) > 1e15);
  });
});

test('values written by one process are read by another, types exact', { timeout: 60_000 }, async () => {
  const name = uniqueDict('procs');
  const client = server.client();
  try {
    await reportOf(startNode(PEER, ['write', server.url, name], { timeoutMs: 20_000, input: null }), 'writer');
    const dict = new RedisDict(client, name);
    assert.ok(Object.is(await dict.get('neg0'), -0));
    assert.equal(await dict.get('big'), -(2n ** 63n));
    assert.deepEqual([...(await dict.get('bytes'))], [0, 1, 254, 255]);
    await dict.set('fromParent', 'ünïcode from the parent');
    const seen = await reportOf(startNode(PEER, ['read', server.url, name], { timeoutMs: 20_000, input: null }), 'reader');
    assert.deepEqual(seen, {
      num: ['number', String(0.1 + 0.2)], neg0: ['number', '-0'], nan: ['number', 'NaN'], inf: ['number', '-Infinity'],
      big: ['bigint', String(-(2n ** 63n))], yes: ['boolean', 'true'], no: ['boolean', 'false'],
      str: ['string', 'héllo ✓ 日本'], bytes: ['Buffer', '0001feff'], fromParent: ['string', 'ünïcode from the parent'],
      list: [['string', 'a'], ['number', '2']],
    });
  } finally {
    await new RedisDict(client, name).flushAll();
  }
});

test('incr from several processes at once sums exactly (number and bigint), on a server and a Cluster', { timeout: 120_000 }, async () => {
  const targets = [['server', server.url, server.client()], ['cluster', `cluster://127.0.0.1:${cluster.ports[0]}`, cluster.client()]];
  for (const [label, url, client] of targets) {
    const name = uniqueDict(`incr-${label}`);
    const peers = 4;
    const each = 500;
    try {
      const procs = Array.from({ length: peers }, () => startNode(PEER, ['incr', url, name, each], { timeoutMs: 60_000, input: null }));
      const reports = await Promise.all(procs.map((p, i) => reportOf(p, `${label} peer ${i}`)));
      assert.deepEqual(reports, Array(peers).fill({ done: each }));
      const dict = new RedisDict(client, name);
      assert.equal(await dict.get('count'), peers * each, label);
      assert.equal(await dict.get('big'), BigInt(peers * each), label);
    } finally {
      await new RedisDict(client, name).flushAll();
    }
  }
});

test('a stopped server (SIGSTOP): every call rejects ETIMEDOUT naming it, then works again after SIGCONT', { timeout: 60_000 }, async () => {
  const client = server.client({ maxRetriesPerRequest: 1 });
  const commandTimeout = 400;
  const dict = new RedisDict(client, uniqueDict('stopped'), { commandTimeout });
  await dict.set('k', 1);
  server.pause();
  try {
    const calls = {
      get: () => dict.get('k'), set: () => dict.set('k', 2), incr: () => dict.incr('k', 1), ttl: () => dict.ttl('k'),
      compareAndSet: () => dict.compareAndSet('k', 1, 3), lpush: () => dict.lpush('l', 'a'), keys: () => dict.keys(), flushAll: () => dict.flushAll(),
    };
    for (const [op, call] of Object.entries(calls)) {
      const t0 = Date.now();
      await assert.rejects(call(), (err) => {
        assert.equal(err.code, 'ETIMEDOUT', `${op}: ${err.code} ${err.message}`);
        assert.match(err.message, new RegExp(`Redis at 127\\.0\\.0\\.1:${server.port}`), `${op} names the server`);
        return true;
      });
      const took = Date.now() - t0;
      assert.ok(took >= commandTimeout - 50 && took < commandTimeout + 5000, `${op} rejected after ${took} ms`);
    }
    // A per-call timeout bounds that call instead.
    const t0 = Date.now();
    await assert.rejects(dict.delete('k', { timeout: 100 }), { code: 'ETIMEDOUT' });
    assert.ok(Date.now() - t0 < commandTimeout + 5000);
  } finally {
    server.resume();
  }
  assert.equal(await dict.incr('n', 1, { init: 0 }), 1);
  assert.equal(await dict.get('n'), 1);
  await dict.flushAll();
});

test('values as redis-cli sees them: a tag byte, then text (or raw bytes)', { timeout: 30_000 }, async () => {
  const client = server.client();
  await withDict(client, 'cli', async (dict) => {
    await dict.set('s', 'héllo');
    await dict.set('n', -0);
    await dict.set('f', 0.1);
    await dict.set('i', 2n ** 63n - 1n);
    await dict.set('b', true);
    await dict.set('x', Buffer.from('raw'));
    await dict.incr('c', 0.1, { init: 0.2 });
    await dict.rpush('l', 7);
    const cli = async (...args) => (await run('redis-cli', ['-p', server.port, '--no-raw', ...args], { timeoutMs: 10_000 })).stdout.trim();
    const key = (k) => `shmkit:${dict.name}:${k}`;
    assert.equal(await cli('GET', key('s')), '"sh\\xc3\\xa9llo"');
    assert.equal(await cli('GET', key('n')), '"n-0"');
    assert.equal(await cli('GET', key('f')), '"n0.1"');
    assert.equal(await cli('GET', key('i')), '"i9223372036854775807"');
    assert.equal(await cli('GET', key('b')), '"b1"');
    assert.equal(await cli('GET', key('x')), '"xraw"');
    assert.equal(await cli('GET', key('c')), '"n0.30000000000000004"');
    assert.equal(await cli('LRANGE', key('l'), '0', '-1'), '1) "n7"');
    // And the other way: what redis-cli writes in the format, the Dict reads.
    await cli('SET', key('fromCli'), 'n42.5');
    assert.equal(await dict.get('fromCli'), 42.5);
    assert.equal(await dict.incr('fromCli', 0.5), 43);
    await cli('SET', key('foreign'), 'hello');
    await assert.rejects(dict.get('foreign'), { code: 'ERR_SHMKIT_DECODE' });
  });
});

test('keyPrefix and glob characters in names keep Dicts apart', { timeout: 30_000 }, async () => {
  const client = server.client();
  const star = new RedisDict(client, `a*${process.pid}`);
  const plain = new RedisDict(client, `ab${process.pid}`);
  const other = new RedisDict(client, `ab${process.pid}`, { keyPrefix: 'app2:' });
  try {
    await star.set('k', 'star');
    await plain.set('k', 'plain');
    await other.set('k', 'other');
    assert.deepEqual(await star.keys(0), ['k']);
    assert.equal(await star.get('k'), 'star');
    assert.equal(await plain.get('k'), 'plain');
    assert.equal(await other.get('k'), 'other');
    assert.equal(await client.exists(`app2:ab${process.pid}:k`), 1);
    await star.flushAll();
    assert.equal(await plain.get('k'), 'plain');
    assert.equal(await other.get('k'), 'other');
  } finally {
    await star.flushAll();
    await plain.flushAll();
    await other.flushAll();
  }
});

test('a client with its own ioredis keyPrefix: keys() and flushAll() allow for it', { timeout: 30_000 }, async () => {
  const client = server.client({ keyPrefix: 'outer:' });
  const dict = new RedisDict(client, uniqueDict('outer'));
  try {
    await dict.set('a', 1);
    await dict.rpush('l', 'x');
    assert.equal(await server.client().exists(`outer:shmkit:${dict.name}:a`), 1);
    assert.deepEqual((await dict.keys(0)).sort(), ['a', 'l']);
    await dict.flushAll();
    assert.deepEqual(await dict.keys(0), []);
    assert.equal(await server.client().exists(`outer:shmkit:${dict.name}:a`), 0);
  } finally {
    await dict.flushAll();
  }
});

test('constructor checks; close() leaves the client open; capabilities', { timeout: 30_000 }, async () => {
  const client = server.client();
  assert.throws(() => new RedisDict({}, 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new RedisDict(client, ''), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => new RedisDict(client, 'a:b'), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => new RedisDict(client, '{tag}'), { code: 'ERR_INVALID_ARG_VALUE' });
  assert.throws(() => new RedisDict(client, 5), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new RedisDict(client, 'x', { commandTimeout: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new RedisDict(client, 'x', 5), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new RedisDict(client, 'x', { batch: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' });
  const dict = new RedisDict(client, uniqueDict('close'));
  assert.deepEqual({ ...dict.capabilities }, { backend: 'redis', scope: 'hosts', eviction: 'server', ttlPrecision: 1, maxValue: 512 * 1024 * 1024 - 1, consistency: 'atomic' });
  await dict.close();
  assert.equal(dict.closed, true);
  assert.throws(() => dict.capabilities, { code: 'ERR_SHMKIT_CLOSED' });
  await assert.rejects(dict.get('k'), { code: 'ERR_SHMKIT_CLOSED', message: /RedisDict '.*' is closed/ });
  assert.equal(await client.ping(), 'PONG', 'the client is the caller\'s and stays open');
});

test('without redis-server installed the fixture fails naming the package (never a silent skip)', { timeout: 30_000 }, async () => {
  const bin = mkdtempSync(join(tmpdir(), 'shmkit-nobin-'));
  try {
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const script = `import { startRedis } from ${JSON.stringify(FIXTURE)}; await startRedis();`;
    const r = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 20_000, env: { ...process.env, PATH: bin, NODE_TEST_CONTEXT: '' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /redis-server is not installed.*apt-get install redis-server/);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});

test('examples/redis-dict: the same function on a shm Dict and on a RedisDict', { timeout: 60_000 }, async () => {
  const r = await run(process.execPath, [EXAMPLE], { timeoutMs: 30_000, env: { ...process.env, REDIS_URL: server.url } });
  assert.equal(r.code, 0, `exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, 4), [
    'backend shm (host): visits=1 last=/home firstVisit=true ttlSet=true',
    'backend shm (host): visits=2 last=/docs firstVisit=false ttlSet=true',
    'backend redis (hosts): visits=1 last=/home firstVisit=true ttlSet=true',
    'backend redis (hosts): visits=2 last=/docs firstVisit=false ttlSet=true',
  ]);
  assert.equal(lines[4], 'redis keys: first:ada last:ada visits:ada');
  const left = await server.client().keys('shmkit:example-*');
  assert.deepEqual(left, [], 'the example flushes its Dict');
});

// ---- batching: the calls of one tick as one pipeline ------------------------------

// The whole conformance suite once more with every call batched (batch: true, on an auto-pipelining client and on a plain one).
const autoClient = server.client({ enableAutoPipelining: true });
const plainClient = server.client();
let confSeq = 0;
for (const [label, client, options] of [['RedisDict, batch: true, auto-pipelining client', autoClient, { batch: true }], ['RedisDict, batch: true', plainClient, { batch: true }]]) {
  dictConformance(label, () => {
    const n = `conf-batch-${process.pid}-${++confSeq}`;
    const dict = new RedisDict(client, n, { commandTimeout: 10_000, ...options });
    return {
      dict,
      cleanup: async () => {
        await dict.close();
        await new RedisDict(client, n).flushAll();
      },
    };
  });
}

test('batched: the calls of one tick go in one write, their effects in call order', { timeout: 30_000 }, async () => {
  const client = server.client({ enableAutoPipelining: true });
  const writes = await countWrites(client);
  await withDict(client, 'batch-order', async (dict) => {
    const results = await Promise.all([
      dict.set('k', 1), dict.incr('k', 2), dict.get('k'), dict.compareAndSet('k', 3, 'x'), dict.get('k'),
      dict.delete('k'), dict.get('k'), dict.add('k', 5), dict.replace('k', 6), dict.get('k'),
      dict.rpush('l', 'a'), dict.lpush('l', 1), dict.llen('l'), dict.lpop('l'), dict.rpop('l'), dict.rpop('l'),
      dict.set('t', true, { ttl: 60_000 }), dict.ttl('t'), dict.expire('t', 0), dict.ttl('t'), dict.incr('b', 7n, { init: 1n }),
    ]);
    assert.equal(writes.n, 1, 'one write for the whole tick');
    assert.deepEqual(results.slice(0, 10), [{ evicted: 0 }, 3, 3, true, 'x', true, undefined, true, true, 6]);
    assert.deepEqual(results.slice(10, 16), [1, 2, 2, 1, 'a', undefined]);
    assert.ok(results[17] > 59_000 && results[17] <= 60_000, `ttl ${results[17]}`);
    assert.deepEqual(results.slice(18), [true, 0, 8n]);
    // Two handles of one Dict on the client share the batch: their calls keep their order.
    const other = new RedisDict(client, dict.name, { batch: true });
    assert.deepEqual(await Promise.all([dict.set('two', 1), other.incr('two', 1), dict.get('two'), other.delete('two'), dict.get('two')]), [{ evicted: 0 }, 2, 2, true, undefined]);
    assert.equal(writes.n, 2);
    // A command sent on the client directly in the same tick goes after the whole batch (its first call came first).
    const key = `shmkit:${dict.name}:raw`;
    const [, raw, , after] = await Promise.all([dict.set('raw', 'a'), client.get(key), client.set(key, 'sb'), dict.get('raw')]);
    assert.equal(raw, 'sa');
    assert.equal(after, 'a');
    assert.equal(await dict.get('raw'), 'b');
    // keys() and flushAll() send the pending batch first.
    const p = dict.set('late', 1);
    assert.ok((await dict.keys(0)).includes('late'));
    await p;
  }, { batch: true });
});

test('batched: a client not of the shape batching was written against sends each call on its own, and every call works', { timeout: 30_000 }, async () => {
  // Batching relies on ioredis 5's sendCommand(command, stream); a client whose
  // sendCommand takes one argument (as another version might, giving a second
  // one another meaning: here, refusing it) must not batch.
  const client = server.client();
  const own = client.sendCommand;
  client.sendCommand = function sendCommand(command, ...more) {
    if (more[0] !== undefined) throw new Error('this client takes no stream');
    return own.call(this, command);
  };
  const writes = await countWrites(client);
  await withDict(client, 'batch-fallback', async (dict) => {
    const results = await Promise.all([dict.set('k', 1), dict.incr('k', 2), dict.get('k'), dict.delete('k'), dict.get('k')]);
    assert.deepEqual(results, [{ evicted: 0 }, 3, 3, true, undefined]);
    assert.equal(writes.n, 5, 'one write per call: not batched');
  }, { batch: true });
});

test('batched: an error reaches only its own call; the rest of the batch succeeds', { timeout: 30_000 }, async () => {
  const client = server.client({ enableAutoPipelining: true });
  await withDict(client, 'batch-errors', async (dict) => {
    await client.set(`shmkit:${dict.name}:foreign`, 'zzz');
    await dict.rpush('list', 'a');
    await dict.set('s', 'text');
    const calls = [
      dict.get('list'), dict.set('ok', 1), dict.get('foreign'), dict.incr('s', 1), dict.incr('ok', 1n), dict.lpush('s', 'x'),
      dict.get('ok'), dict.set('bad', 1, { ttl: -1 }), dict.delete('ok', { timeout: -5 }), dict.lpop('ok', { timeout: 'x' }), dict.compareAndSet('ok', 1, 2), dict.get('ok'),
    ];
    const settled = await Promise.allSettled(calls);
    const codes = settled.map((r) => (r.status === 'rejected' ? r.reason.code : r.value));
    assert.deepEqual(codes, ['ERR_SHMKIT_WRONG_TYPE', { evicted: 0 }, 'ERR_SHMKIT_DECODE', 'ERR_SHMKIT_NOT_A_NUMBER', 'ERR_SHMKIT_NOT_A_NUMBER', 'ERR_SHMKIT_WRONG_TYPE', 1, 'ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_TYPE', true, 2]);
    assert.equal(await dict.get('bad'), undefined, 'a call whose arguments fail sends nothing');
    assert.match(settled[0].reason.message, new RegExp(`Redis at 127\\.0\\.0\\.1:${server.port} failed RedisDict '${dict.name}': get 'list'`));
    assert.match(settled[3].reason.message, /incr 's'/);
    // NOSCRIPT inside a batch: each script call is sent again as EVAL, alone.
    await client.script('FLUSH');
    assert.deepEqual(await Promise.all([dict.incr('n', 1, { init: 0 }), dict.compareAndSet('n', 1, 5), dict.incr('n', 1), dict.expire('n', 0)]), [1, true, 6, true]);
  }, { batch: true });
});

test('batched: each call keeps its own bound (one timer per batch) and ETIMEDOUT names the server', { timeout: 60_000 }, async () => {
  const client = server.client({ maxRetriesPerRequest: 1 });
  const commandTimeout = 600;
  const dict = new RedisDict(client, uniqueDict('batch-stopped'), { commandTimeout, batch: true });
  await dict.set('k', 1);
  server.pause();
  try {
    const t0 = Date.now();
    const took = {};
    const watch = (label, p) => p.then(
      (v) => { throw new Error(`${label} resolved ${v}`); },
      (err) => { took[label] = Date.now() - t0; return err; },
    );
    const errs = await Promise.all([
      watch('get', dict.get('k')), watch('delete100', dict.delete('k', { timeout: 100 })), watch('incr', dict.incr('k', 1)),
      watch('set300', dict.set('k', 2, { timeout: 300 })), watch('compareAndSet', dict.compareAndSet('k', 1, 3)),
    ]);
    for (const err of errs) {
      assert.equal(err.code, 'ETIMEDOUT', err.message);
      assert.match(err.message, new RegExp(`Redis at 127\\.0\\.0\\.1:${server.port} did not answer RedisDict '.*': \\w+ 'k' within \\d+ ms`));
    }
    assert.match(errs[1].message, /delete 'k' within 100 ms/);
    assert.match(errs[3].message, /set 'k' within 300 ms/);
    assert.ok(took.delete100 >= 90 && took.delete100 < 300, `delete (100 ms) after ${took.delete100} ms`);
    assert.ok(took.set300 >= 290 && took.set300 < commandTimeout, `set (300 ms) after ${took.set300} ms`);
    for (const op of ['get', 'incr', 'compareAndSet']) assert.ok(took[op] >= commandTimeout - 10 && took[op] < commandTimeout + 5000, `${op} after ${took[op]} ms`);
  } finally {
    server.resume();
  }
  assert.equal(await dict.incr('n', 1, { init: 0 }), 1);
  await dict.flushAll();
});

test('batch: a Cluster client sends each call on its own (no cross-slot pipeline)', { timeout: 60_000 }, async () => {
  const client = cluster.client();
  await withDict(client, 'batch-cluster', async (dict) => {
    const n = 50;
    await Promise.all(Array.from({ length: n }, (_, i) => dict.set(`k${i}`, i)));
    assert.deepEqual(await Promise.all(Array.from({ length: n }, (_, i) => dict.get(`k${i}`))), Array.from({ length: n }, (_, i) => i));
  }, { batch: true });
});
