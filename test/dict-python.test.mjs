// Dict interop with a foreign reader: fixtures/py_dict_reader.py is a Python
// reader written from docs/LAYOUT.md alone (common header + "Dict (kind 9,
// version 3)"): FNV-1a, buckets, shard SEQ seqlock, chains checked against
// BLOCKS, payload across blocks, expiry. It maps the segment read-only.
//
// 1. Every value type Node can write, keys of 1 .. 65535 bytes, entries that
//    span blocks (also keys after a fixed-size value), bucket collisions,
//    expiry: Python reads exactly what Node reads, and writes nothing.
// 2. A Node process rewrites 200 self-checking keys (10 .. 2000 chars, 1 .. 40+
//    blocks) and incrs counters for ~3 s while Python reads them round and
//    round: never a torn or foreign value, never a missing key, values
//    change; afterwards Python's reads equal Node's.
// 3. Python refuses what is not a Dict v3, with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Dict, Queue, Segment } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { STEP_MS, unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';
import { reap, run, startProcess } from './fixtures/proc.mjs';

const READER = fileURLToPath(new URL('./fixtures/py_dict_reader.py', import.meta.url));
const VALUE_MODULE = new URL('./fixtures/dict-value.mjs', import.meta.url).href; // crc32
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PY_TIMEOUT_MS = 20000;

const named = trackedNames(); // every shm name made here; none may survive the file

// Skip (not fail) only when there is no usable python3 at all.
let pythonSkip = false;
try {
  const r = await run('python3', ['-c', 'import mmap, zlib, json'], { timeoutMs: PY_TIMEOUT_MS });
  if (r.code !== 0) pythonSkip = `python3 cannot import mmap/zlib/json: ${r.stderr.trim()}`;
} catch (err) {
  pythonSkip = `python3 not runnable: ${err.message}`;
}

/** Runs fn(dict, name) on a new Dict, then closes it and removes it with Dict.unlink (also on failure). */
async function withDict(label, memory, fn) {
  const name = named(label);
  const d = Dict.create(name, { memory });
  try {
    return await fn(d, name);
  } finally {
    try {
      d.close();
    } finally {
      try {
        Dict.unlink(name);
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
    }
  }
}

/**
 * The Python reader on `name`, driven a JSON line at a time: request(cmd)
 * sends one command and resolves with its answer (bounded by `ms`).
 */
async function startReader(name, { timeoutMs = PY_TIMEOUT_MS } = {}) {
  const p = startProcess('python3', [READER, name], { timeoutMs, waitMs: STEP_MS });
  let used = 0;
  const nextLine = async (ms = STEP_MS) => {
    const n = used + 1;
    const all = await p.output(new RegExp(`^(?:[^\\n]*\\n){${n}}`), ms);
    used = n;
    return JSON.parse(all.split('\n')[n - 1]);
  };
  const ready = await nextLine();
  assert.equal(ready.ready, true, `the reader did not start: ${JSON.stringify(ready)}\nstderr: ${p.stderr}`);
  return {
    proc: p,
    ready,
    async request(cmd, ms = STEP_MS) {
      p.send(`${JSON.stringify(cmd)}\n`);
      const answer = await nextLine(ms);
      assert.equal(answer.error, undefined, `python: ${JSON.stringify(answer)}\nstderr: ${p.stderr}`);
      return answer;
    },
    async quit() {
      p.send('{"op":"quit"}\n');
      p.child.stdin.end();
      const r = await p.done;
      assert.equal(r.code, 0, `the reader exited ${r.code ?? r.signal}\nstderr: ${r.stderr}`);
      assert.equal(r.stderr, '', 'the reader wrote to stderr');
    },
  };
}

/** A get answer of the reader as the JS value Dict.get returns (undefined when missing). */
function fromPython(r, what) {
  if (r.missing === true) return undefined;
  switch (r.type) {
    case 'string':
    case 'boolean':
      return r.value;
    case 'number': // NaN and ±Infinity come as text (JSON has no such numbers); -0 as -0.0
      return typeof r.value === 'string' ? Number(r.value) : r.value;
    case 'bigint':
      return BigInt(r.value);
    case 'bytes':
      return Buffer.from(r.value, 'hex');
    default:
      assert.fail(`${what}: python answered ${JSON.stringify(r).slice(0, 200)}`);
  }
}

/** 32-bit FNV-1a of a string's UTF-8 bytes (as the docs define a key's hash). */
function fnv1a(key) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(key, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

const show = (key) => (key.length > 40 ? `${JSON.stringify(key.slice(0, 20))}... (${Buffer.byteLength(key)} bytes)` : JSON.stringify(key));

// ---- 1. every type ----------------------------------------------------------------

test('Python reads what Node wrote: every value type, keys of 1 .. 65535 bytes spanning blocks, bucket collisions, expiry; it writes nothing', { skip: pythonSkip }, async (t) => {
  await withDict('dpy-types', 1 << 20, async (d, name) => {
    const bytes3000 = randomBytes(3000);
    const cases = [
      // strings (after their key in the payload)
      ['ascii', 'hello world'],
      ['utf8', 'héllo wörld – Жук 日本語 € 🎉😀 \u0000 nul'],
      ['empty-str', ''],
      ['long-ascii', Array.from({ length: 5000 }, (_, i) => String.fromCharCode(33 + ((i * 7) % 94))).join('')],
      ['long-utf8', 'aé日🎉'.repeat(750)], // 3000 chars, 7500 bytes
      ['s21', 'x'.repeat(21)], // 3-byte key + 21 = 24 bytes: exactly the first block
      ['s22', 'x'.repeat(22)], // 25 bytes: one byte in a second block
      // numbers (f64)
      ['n-int', 42],
      ['n-frac', -123456.789],
      ['n-zero', 0],
      ['n-negzero', -0],
      ['n-nan', NaN],
      ['n-inf', Infinity],
      ['n-ninf', -Infinity],
      ['n-max', Number.MAX_VALUE],
      ['n-min', Number.MIN_VALUE],
      ['n-safe', Number.MAX_SAFE_INTEGER],
      // bigints (i64)
      ['b-zero', 0n],
      ['b-neg', -1n],
      ['b-max', 2n ** 63n - 1n],
      ['b-min', -(2n ** 63n)],
      ['b-mid', 1234567890123456789n],
      // booleans
      ['t', true],
      ['f', false],
      // bytes
      ['u-empty', new Uint8Array(0)],
      ['u-3', new Uint8Array([0, 255, 7])],
      ['u-3000', bytes3000],
      // keys: 1 byte, 300 bytes, non-ASCII, spanning blocks, before and after fixed-size values
      ['y', 'one-byte key'],
      ['z', bytes3000.subarray(0, 100)],
      ['K'.repeat(300), 'a 300-byte key, then the value'],
      ['ключ-日本-🔑', 'a non-ASCII key'],
      ['число-🔢-'.repeat(10), 3.25], // key after the 8-byte value, spanning blocks
      ['bool-key-'.repeat(33) + '!', true], // 298-byte key after a 1-byte value
      ['big-ключ-'.repeat(20), -(2n ** 62n)],
      ['n'.repeat(16), 7], // 8 + 16 = 24: one block
      ['n'.repeat(17), 8], // 25: two
      ['t'.repeat(23), true], // 1 + 23 = 24: one block
      ['t'.repeat(24), false], // 25: two
      ['日'.repeat(21845), 'the longest key: 65535 UTF-8 bytes'],
    ];
    for (const [k, v] of cases) d.set(k, v);
    // Bucket collisions: three keys in one bucket; two stored (one behind the
    // other in the chain), the third missing (a miss that walks a chain).
    const buckets = 4096; // 1 MiB: 16384 blocks, one bucket per 4
    const byBucket = new Map();
    let coll = null;
    for (let i = 0; coll === null; i++) {
      const key = `coll-${i}`;
      const b = fnv1a(key) & (buckets - 1);
      const same = byBucket.get(b) ?? [];
      same.push(key);
      byBucket.set(b, same);
      if (same.length === 3) coll = same;
    }
    d.set(coll[0], 'first in the bucket');
    d.set(coll[1], 'second in the bucket');
    cases.push([coll[0], 'first in the bucket'], [coll[1], 'second in the bucket']);
    // Expiry: one expired (still in memory: getStale sees it), one live with a ttl.
    d.set('expired', 'gone', { ttl: 1 });
    d.set('ttl-live', 'still here', { ttl: 60000 });
    cases.push(['ttl-live', 'still here']);
    await waitUntil(() => d.ttl('expired') === undefined, STEP_MS, "'expired' to expire");
    assert.equal(d.get('expired'), undefined);
    assert.deepEqual(d.getStale('expired'), { value: 'gone', stale: true }, 'the expired entry is still in memory');
    const missing = ['expired', 'nope', coll[2], 'ascii '];

    // Node's own reads first (they stamp entries), then a snapshot of every byte.
    const node = cases.map(([k]) => d.get(k));
    cases.forEach(([k, v], i) => assert.deepEqual(node[i], v instanceof Uint8Array ? Buffer.from(v) : v, `node get ${show(k)}`));
    // One more write advances CLOCK, so a reader that stamped the entries it
    // reads (2 CLOCK + 1) would now change their STAMP words.
    d.set('clock', 1);
    const seg = Segment.open(name);
    try {
      const before = Buffer.from(seg.bytes);

      const py = await startReader(name);
      const info = await py.request({ op: 'info' });
      assert.equal(info.buckets, buckets);
      // The counters, summed from docs/LAYOUT.md alone, agree with stats().
      const st = d.stats();
      for (const c of ['entries', 'sets', 'deletes', 'evictions', 'expirations', 'hits', 'misses']) assert.equal(info[c], st[c], `python's ${c}`);
      assert.ok(info.hits >= cases.length, 'a hit per node get at least');
      for (const key of coll) assert.equal((await py.request({ op: 'hash', key })).hash, fnv1a(key), `hash of ${key}`);
      const keys = [...cases.map(([k]) => k), ...missing];
      const { results } = await py.request({ op: 'getmany', keys });
      await py.quit();

      const pyTypes = { string: 'string', number: 'number', bigint: 'bigint', boolean: 'boolean', bytes: 'object' };
      cases.forEach(([k], i) => {
        const r = results[i];
        assert.equal(pyTypes[r.type], typeof node[i], `${show(k)}: python says ${r.type}`);
        assert.deepStrictEqual(fromPython(r, show(k)), node[i], `${show(k)}: python read differs from node`);
      });
      missing.forEach((k, i) => assert.deepEqual(results[cases.length + i], { missing: true }, `${show(k)} should read as missing`));
      t.diagnostic(`${cases.length} entries and ${missing.length} misses read alike by python and node`);

      // Read-only: not a byte changed (no LRU stamp, nothing).
      const afterRead = Buffer.from(seg.bytes);
      assert.ok(before.equals(afterRead), 'python changed the segment');
    } finally {
      seg.close();
    }
  });
});

// ---- 2. concurrency ------------------------------------------------------------------

// The writer process: `node --input-type=module -e WRITER` with its config in
// the environment. First it writes every key (counter 0) and prints 'ready',
// then rewrites random keys with the next counter (every 8th step incr-ing a
// counter) until 'stop' on stdin (or maxMs), and prints a JSON report.
//   str key k:   `${key}:${n}:${filler}#${crc32(prefix).toString(16)}`, 10 .. 2000 chars
//   bytes key k: crc32(rest) as u32 LE, then rest = `${key}:${n}:` + filler bytes
const WRITER = `
const cfg = JSON.parse(process.env.DICT_PY_WRITER);
const { Dict } = await import('shmkit');
const { crc32, mix32 } = await import(cfg.valueModule);
const d = Dict.open(cfg.name);
const ASCII = Array.from({ length: 8192 }, (_, i) => String.fromCharCode(33 + (mix32(i) % 94)).replace('#', '+')).join('');
const WIDE = ['é', 'ß', 'Ж', '日', '€', 'a', 'z'];
const UTF8 = Array.from({ length: 8192 }, (_, i) => WIDE[mix32(i + 99) % WIDE.length]).join('');
const counter = cfg.keys.map(() => 0);
function value(k, n) {
  const [key, kind] = cfg.keys[k];
  const chars = 10 + (mix32(n * 7919 + k) % 1991);
  const head = key + ':' + n + ':';
  const from = mix32(n + k * 131) % 4096;
  if (kind === 'bytes') {
    const rest = Buffer.concat([Buffer.from(head), Buffer.from(ASCII.slice(from, from + Math.max(0, chars - head.length)), 'latin1')]);
    const out = Buffer.allocUnsafe(4 + rest.length);
    out.writeUInt32LE(crc32(rest), 0);
    rest.copy(out, 4);
    return out;
  }
  const pool = k % 4 === 1 ? UTF8 : ASCII;
  const prefix = head + pool.slice(from, from + Math.max(0, chars - head.length));
  return prefix + '#' + crc32(Buffer.from(prefix, 'utf8')).toString(16);
}
const NO_EVICT = { evict: false };
for (let k = 0; k < cfg.keys.length; k++) d.set(cfg.keys[k][0], value(k, 0), NO_EVICT);
for (const [key, type] of cfg.counters) d.set(key, type === 'bigint' ? 0n : 0, NO_EVICT);
let stop = false;
process.stdin.on('data', (b) => { if (String(b).includes('stop')) stop = true; });
process.stdout.write('ready\\n');
const end = Date.now() + cfg.maxMs;
let writes = 0;
let incrs = 0;
let step = 0;
while (!stop && Date.now() < end) {
  const slice = Date.now() + 10;
  while (Date.now() < slice) {
    for (let i = 0; i < 16; i++, step++) {
      if ((step & 7) === 7) {
        const [key, type] = cfg.counters[mix32(step) % cfg.counters.length];
        d.incr(key, type === 'bigint' ? 1n : 1);
        incrs++;
      } else {
        const k = mix32(step ^ 0x5bd1e995) % cfg.keys.length;
        d.set(cfg.keys[k][0], value(k, ++counter[k]), NO_EVICT);
        writes++;
      }
    }
  }
  await new Promise((resolve) => setImmediate(resolve));
}
process.stdin.destroy();
d.close();
process.stdout.write(JSON.stringify({ writes, incrs, stopped: stop }) + '\\n');
`;

test('Python reads while a Node process rewrites 200 keys (1 .. 40+ blocks) and incrs counters for 3 s: never a torn or foreign value, nothing missing, values change; then it reads what Node reads', { skip: pythonSkip }, async (t) => {
  const LOOP_MS = 3000;
  await withDict('dpy-conc', 2 << 20, async (d, name) => {
    const keys = Array.from({ length: 200 }, (_, i) => {
      const key = i % 10 === 3 ? `ключ-${i}` : i % 10 === 7 ? `🔑-${i}` : `k${i}`;
      return [key, i % 5 === 4 ? 'bytes' : 'str'];
    });
    const counters = [['ctr-0', 'number'], ['ctr-1', 'number'], ['ctr-2', 'number'], ['ctr-3', 'number'], ['big-0', 'bigint'], ['big-1', 'bigint']];
    const writer = startProcess(process.execPath, ['--input-type=module', '-e', WRITER], {
      cwd: ROOT,
      env: { ...process.env, DICT_PY_WRITER: JSON.stringify({ name, keys, counters, valueModule: VALUE_MODULE, maxMs: 15000 }) },
      timeoutMs: 30000,
      waitMs: 30000,
    });
    let py;
    try {
      await writer.line(/^ready$/);
      py = await startReader(name);
      const watched = [...keys, ...counters.map(([k]) => [k, 'counter'])];
      const loop = await py.request({ op: 'loop', ms: LOOP_MS, keys: watched }, LOOP_MS + 10000);
      writer.send('stop\n');
      const r = await writer.done;
      assert.equal(r.code, 0, `writer exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      const report = JSON.parse(r.stdout.trim().split('\n').pop());
      assert.equal(report.stopped, true, 'the writer ran out of time before stop');
      t.diagnostic(`writer: ${report.writes} sets, ${report.incrs} incrs; python: ${loop.reads} reads in ${loop.rounds} rounds, ${loop.changes} changes seen, ${loop.retries} seqlock retries`);

      assert.deepEqual(loop.failures, [], 'python saw torn or foreign values');
      assert.deepEqual(loop.errors, [], 'python reads failed');
      assert.equal(loop.failureCount, 0);
      assert.equal(loop.missing, 0, 'a key that is always there read as missing');
      assert.ok(report.writes > 2000, `the writer wrote only ${report.writes} values`);
      assert.ok(loop.rounds >= 10, `python read the keys only ${loop.rounds} times`);
      assert.ok(loop.changes >= 500, `python saw only ${loop.changes} changes`);
      for (const [key] of counters) assert.ok(BigInt(loop.lastSeen[key]) > 0n, `python never saw counter ${key} move`);

      // Quiet now: Python reads exactly what Node reads, key by key.
      const all = watched.map(([k]) => k);
      const { results } = await py.request({ op: 'getmany', keys: all });
      await py.quit();
      all.forEach((key, i) => {
        assert.deepStrictEqual(fromPython(results[i], key), d.get(key), `${key}: python and node differ after the writer stopped`);
      });
      const ctr = counters.map(([k]) => d.get(k));
      assert.equal(ctr.reduce((a, v) => a + BigInt(v), 0n), BigInt(report.incrs), 'the counters add up to the incrs');
    } finally {
      await reap(writer, py?.proc);
    }
  });
});

// ---- 3. not a Dict -------------------------------------------------------------------

async function refused(name) {
  const r = await run('python3', [READER, name], { timeoutMs: PY_TIMEOUT_MS });
  assert.equal(r.code, 2, `python should refuse ${name}: exit ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return JSON.parse(r.stdout.trim());
}

test('Python refuses what is not a Dict v3 with a clear error: a Queue, raw segments, a scribbled version or geometry, a missing name', { skip: pythonSkip }, async () => {
  const qName = named('dpy-q');
  const rawName = named('dpy-raw');
  const zeroName = named('dpy-zero');
  const q = Queue.create(qName, { capacity: 65536 });
  const raw = Segment.create(rawName, { size: 65536 });
  const zero = Segment.create(zeroName, { size: 4096 });
  try {
    raw.bytes.fill(0x5a);
    let e = await refused(qName);
    assert.equal(e.code, 'NOT_A_DICT');
    assert.match(e.error, /not a Dict: kind 7 \(Queue\)/);
    e = await refused(rawName);
    assert.equal(e.code, 'NOT_A_DICT');
    assert.match(e.error, /no shmkit header \(magic 0x5a5a5a5a/);
    e = await refused(zeroName);
    assert.equal(e.code, 'NOT_A_DICT');
    assert.match(e.error, /magic 0/);
    e = await refused(named('dpy-none'));
    assert.equal(e.code, 'ENOENT');

    await withDict('dpy-scribble', 65536, async (d, name) => {
      d.set('a', 1);
      const seg = Segment.open(name);
      try {
        const view = new DataView(seg.buffer, seg.byteOffset, 128);
        // A later layout version.
        view.setUint16(4, 4, true);
        e = await refused(name);
        assert.equal(e.code, 'BAD_VERSION');
        assert.match(e.error, /version 4/);
        view.setUint16(4, 3, true);
        // SLOTS other than 64.
        view.setUint32(76, 32, true);
        e = await refused(name);
        assert.equal(e.code, 'BAD_LAYOUT');
        assert.match(e.error, /SLOTS 32/);
        view.setUint32(76, 64, true);
        // BLOCKS that disagree with the object size.
        const blocks = view.getUint32(64, true);
        view.setUint32(64, blocks - 1, true);
        e = await refused(name);
        assert.equal(e.code, 'BAD_LAYOUT');
        assert.match(e.error, /BLOCKS/);
        view.setUint32(64, blocks, true);
        // BUCKETS not a power of two.
        const buckets = view.getUint32(68, true);
        view.setUint32(68, buckets + 1, true);
        e = await refused(name);
        assert.equal(e.code, 'BAD_LAYOUT');
        view.setUint32(68, buckets, true);
      } finally {
        seg.close();
      }
      // Restored: read again.
      const py = await startReader(name);
      try {
        assert.deepEqual(await py.request({ op: 'get', key: 'a' }), { type: 'number', value: 1 });
        await py.quit();
      } finally {
        await reap(py.proc);
      }
    });
  } finally {
    q.close();
    raw.close();
    zero.close();
    unlinkQuietly(qName, rawName, zeroName);
  }
});
