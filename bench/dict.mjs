// bench/dict.mjs - throughput and latency of shmkit's Dict, next to a plain JS Map and Redis
// (redis-server + ioredis), all measured in the same run.
//
//   node bench/dict.mjs            full run (~90 s here; budget 130 s)
//   node bench/dict.mjs --quick    shorter windows, fewer repetitions (~25 s here; budget 36 s)
//   options: --only 1,2,3,4,5,6  --keys N (default 100000)  --redis-server PATH
//            --json-out FILE (every test's raw result as JSON: bench/ab-channel.mjs --bench dict)
//            --save (the report, its tables and charts into bench/results/: dict.json, dict-*.svg,
//            for BENCHMARKS.md; `npm run bench:dict` passes it)  --results DIR (the same, into DIR)
//   Prints markdown on stdout, progress on stderr; exit status 1 if any test failed or a
//   value check failed (a skipped Redis section is not a failure).
//
// What runs (each test is its own process group; this process only orchestrates):
//   1   one process, N preloaded entries of a 16-byte key and a 64-byte string value, plus
//       N counters (16-byte key, a number): d.get / d.set / d.incr(key, 1) in timed batches
//       of 1000 ops over the keys in a shuffled order, interleaved round by round with the
//       same operations on a plain JS Map holding the same strings (map.get; map.set;
//       map.set(k, map.get(k) + 1)). A diagnostic row does the gets over a hot set of
//       1000 keys (cache-resident), to tell memory latency from per-call cost.
//   2   the same Dict read by one process, then by two processes at once (same keys, each
//       reader its own shuffle), alternated: aggregate get ops/s and the ratio, pinned
//       (reader i on CPU i: the verdict) and unpinned; each reader reports its CPU share.
//   3   redis-server started here on a free loopback port (--save '' --appendonly no), as a
//       child of the test process (one process group: killed with it, and by its watchdog
//       if this process dies), client ioredis: GET / SET / INCRBY awaited one by one and in
//       pipelines of 100, next to shmkit doing the same operations in the same process
//       (plain calls, and with an `await` on every result). An awaited loopback round trip
//       depends on where client and server run (same vCPU: two context switches; two vCPUs:
//       a wake-up of the other one, ~4x slower on this VM), so the Redis rows run in three
//       placements (free, both on CPU 0, client 0 + server 1; `taskset -a -p`) and shmkit is
//       compared with the fastest, i.e. Redis's best case.
//   4   memory per entry (from test 1, and Redis's used_memory from test 3).
//   5   get against the working-set size: a Dict (and a Map) holding 1 000, 10 000, 100 000
//       (full run: and 1 000 000) entries, next to the machine's cost of one random dependent
//       64-byte read over that much shared memory (the memory floor), measured in the same process.
//   6   large values: set/get of one key holding 1, 16 and 64 KiB (ASCII string, bytes,
//       non-ASCII string) next to one Buffer#copy of as many bytes.
//
// Timing: process.hrtime.bigint() around each batch (back to back, so nothing between
// batches escapes the clock); per-op latency = batch time / batch size; p50/p99 are
// nearest-rank over those per-batch means; ops/s = all ops / all batch time. Every test
// checks what it read (lengths, counters' sums after the run).
//
// Safety: unique shm names per run (/shmkit-bench-<pid>-<random>-*), unlinked by whoever
// created them, by each process's watchdog, and by this process on exit/signal; every test
// process has a watchdog thread that SIGKILLs it (the Redis test: its whole process group,
// redis-server included) at its hard limit or when its parent is gone; this process SIGKILLs
// each test's process group when it ends or overruns, and ends the whole run shortly after
// its budget. Stale names of dead runs are swept. Never run by `npm test`.
//
// Node built-ins, plus ioredis (a devDependency) for test 3; imports the built package as
// `shmkit` (dist/ must be built: `node scripts/build.js`).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  now, parseArgs, emit, loadShmkit, sleep, usage, usageSince, pinned, summarize, startWatchdog, runJson, sig, ratio, fmtRatio,
  machineInfo, machineLine, startRun, cpuSnap, othersCpu, stealCpu, fmtRate, fmtCpus, mulberry32 } from './lib/common.mjs';
import { resultsDir, saveResults, commandLine, tablesFromMarkdown } from './lib/results.mjs';

const SELF = fileURLToPath(import.meta.url);
const args = parseArgs(process.argv.slice(2));

const KEY_BYTES = 16;
const VAL_BYTES = 64;
const NVALS = 64; // distinct values, used in turn by set
const BATCH = 1000; // ops per timed batch (in-process)
const REDIS_BATCH = 100; // awaited Redis ops per timed batch; also the pipeline size
const HOT = 1000; // keys in the hot-set diagnostic of test 1
const SKIP_REDIS = 'install redis-server (apt-get install redis-server)';

// ------------------------------------------------------------------------------ data

// Flat one-byte strings (so no test pays for flattening a cons string).
const flat = (s) => Buffer.from(s, 'latin1').toString('latin1');


// Fisher-Yates, in place, with a seeded generator (the same order in every process).
function shuffle(a, rnd) {
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); const t = a[i]; a[i] = a[j]; a[j] = t; }
  return a;
}

// The same data in every process: `keys` (16 B, string values), `ckeys` (16 B, counters),
// `vals` (64 distinct 64 B strings), and the order in which the tests visit the keys
// (`order`, `corder`: the same strings, shuffled with `seed`).
function dataset(n, seed = 1) {
  const keys = new Array(n), ckeys = new Array(n), vals = new Array(NVALS);
  for (let i = 0; i < n; i++) {
    keys[i] = flat(`key:${String(i).padStart(KEY_BYTES - 4, '0')}`);
    ckeys[i] = flat(`cnt:${String(i).padStart(KEY_BYTES - 4, '0')}`);
  }
  for (let j = 0; j < NVALS; j++) vals[j] = flat(`value ${j} `.padEnd(VAL_BYTES, String.fromCharCode(97 + (j % 26))));
  const perm = shuffle(Array.from({ length: n }, (_, i) => i), mulberry32(seed));
  return { keys, ckeys, vals, order: perm.map((i) => keys[i]), corder: perm.map((i) => ckeys[i]) };
}

// Budget: N string entries (2 blocks each) + N counters (1 block each), twice over (a set
// writes the new entry before it frees the old one; nothing must be evicted).
const dictMemory = (n) => Math.max(1 << 22, n * 64 * 3 * 2);

function preloadDict(d, ds, counters = true) {
  const { keys, ckeys, vals } = ds;
  for (let i = 0; i < keys.length; i++) d.set(keys[i], vals[i % NVALS]);
  if (counters) for (let i = 0; i < ckeys.length; i++) d.set(ckeys[i], 0);
}

// Checks after a run: every string value is one of `vals`; the counters add up to `incrs`.
function checkStore(get, ds, incrs) {
  const ok = new Set(ds.vals);
  let badVals = 0, sum = 0;
  for (const k of ds.keys) if (!ok.has(get(k))) badVals++;
  if (incrs !== undefined) for (const k of ds.ckeys) sum += Number(get(k));
  const errs = [];
  if (badVals) errs.push(`${badVals} keys with a wrong value`);
  if (incrs !== undefined && sum !== incrs) errs.push(`counters add up to ${sum}, expected ${incrs}`);
  return errs;
}

// ------------------------------------------------------------------------------ timing

function newAcc() { return { samples: [], ops: 0, ns: 0 }; }

// Runs fn(batch) back to back for `ms`, recording ns/op of each batch.
function timeBatches(fn, batch, ms, acc) {
  const end = now() + BigInt(Math.round(ms * 1e6));
  let t = now();
  do {
    fn(batch);
    const t1 = now();
    const dt = Number(t1 - t);
    acc.samples.push(dt / batch);
    acc.ops += batch;
    acc.ns += dt;
    t = t1;
  } while (t < end);
  return acc;
}

async function timeBatchesAsync(fn, batch, ms, acc) {
  const end = now() + BigInt(Math.round(ms * 1e6));
  let t = now();
  do {
    await fn(batch);
    const t1 = now();
    const dt = Number(t1 - t);
    acc.samples.push(dt / batch);
    acc.ops += batch;
    acc.ns += dt;
    t = t1;
  } while (t < end);
  return acc;
}

function accResult(acc, batch, withSamples = false) {
  const s = summarize(Float64Array.from(acc.samples), acc.samples.length);
  return {
    ops: acc.ops, ns: acc.ns, ops_per_s: acc.ns > 0 ? (acc.ops / acc.ns) * 1e9 : NaN, batches: acc.samples.length, batch,
    p50_ns: s.p50_ns, p99_ns: s.p99_ns, max_ns: s.max_ns, ...(withSamples ? { samples: acc.samples.map((x) => Math.round(x * 10) / 10) } : {}),
  };
}

// The watchdog of a process group leader: like startWatchdog, but SIGKILLs the whole group
// (this process and whatever it started, redis-server included).
function startGroupWatchdog(hardMs, pollMs = 500, files = []) {
  const code = `
    const { workerData: d } = require('node:worker_threads');
    const fs = require('node:fs');
    const die = () => {
      for (const f of d.files) { try { fs.rmSync(f, { force: true }); } catch {} }
      try { process.kill(0, 'SIGKILL'); } catch {}
      process.kill(process.pid, 'SIGKILL');
    };
    setTimeout(die, d.hardMs);
    setInterval(() => {
      let pp = -1;
      try { const s = fs.readFileSync('/proc/self/stat', 'utf8'); pp = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]); } catch {}
      if (pp !== d.ppid) die();
    }, d.pollMs);`;
  const w = new Worker(code, { eval: true, workerData: { hardMs, ppid: process.ppid, pollMs, files } });
  w.unref();
  return w;
}

// ------------------------------------------------------------------------------ 1: one process, Dict vs Map

async function roleSingle() {
  startWatchdog(args['hard-ms'], 1000, [`/dev/shm${args.name}`]);
  const { Dict } = await loadShmkit();
  const n = args.keys, rounds = args.rounds, win = args['window-ms'], warm = args['warm-ms'];
  const ds = dataset(n, 1);
  const { keys, ckeys, vals, order, corder } = ds;
  const d = Dict.create(args.name, { memory: dictMemory(n) });
  const result = { ok: false };
  try {
    // Memory: after the string entries alone, then with the counters.
    for (let i = 0; i < n; i++) d.set(keys[i], vals[i % NVALS]);
    const mem = { capacity: d.capacity, strings_used: d.capacity - d.freeSpace(), strings_size: d.size };
    for (let i = 0; i < n; i++) d.set(ckeys[i], 0);
    mem.all_used = d.capacity - d.freeSpace();
    mem.all_size = d.size;
    mem.segment_bytes = fs.statSync(`/dev/shm${args.name}`).size;
    const m = new Map();
    for (let i = 0; i < n; i++) m.set(keys[i], vals[i % NVALS]);
    for (let i = 0; i < n; i++) m.set(ckeys[i], 0);

    let pos = 0, hpos = 0, vi = 0, sink = 0, dIncrs = 0, mIncrs = 0;
    const hot = Math.min(HOT, n);
    const ops = {
      'dict-get': (k) => {
        let p = pos;
        for (let i = 0; i < k; i++) { sink += d.get(order[p]).length; if (++p === n) p = 0; }
        pos = p;
      },
      'map-get': (k) => {
        let p = pos;
        for (let i = 0; i < k; i++) { sink += m.get(order[p]).length; if (++p === n) p = 0; }
        pos = p;
      },
      // Diagnostic: the same get over a hot set of HOT keys (cache-resident): what is left
      // when the memory latency of a large table is taken out.
      'dict-get-hot': (k) => {
        let p = hpos;
        for (let i = 0; i < k; i++) { sink += d.get(order[p]).length; if (++p === hot) p = 0; }
        hpos = p;
      },
      'map-get-hot': (k) => {
        let p = hpos;
        for (let i = 0; i < k; i++) { sink += m.get(order[p]).length; if (++p === hot) p = 0; }
        hpos = p;
      },
      'dict-set': (k) => {
        let p = pos, v = vi;
        for (let i = 0; i < k; i++) { d.set(order[p], vals[v]); if (++p === n) p = 0; if (++v === NVALS) v = 0; }
        pos = p; vi = v;
      },
      'map-set': (k) => {
        let p = pos, v = vi;
        for (let i = 0; i < k; i++) { m.set(order[p], vals[v]); if (++p === n) p = 0; if (++v === NVALS) v = 0; }
        pos = p; vi = v;
      },
      'dict-incr': (k) => {
        let p = pos;
        for (let i = 0; i < k; i++) { sink += d.incr(corder[p], 1); if (++p === n) p = 0; }
        pos = p; dIncrs += k;
      },
      'map-incr': (k) => {
        let p = pos;
        for (let i = 0; i < k; i++) { const key = corder[p]; m.set(key, m.get(key) + 1); if (++p === n) p = 0; }
        pos = p; mIncrs += k;
      },
    };
    const names = Object.keys(ops);
    for (const op of names) timeBatches(ops[op], BATCH, warm, newAcc());
    const acc = Object.fromEntries(names.map((op) => [op, newAcc()]));
    for (let r = 0; r < rounds; r++) for (const op of names) timeBatches(ops[op], BATCH, win, acc[op]);

    const errs = [...checkStore((k) => d.get(k), ds, dIncrs).map((e) => `Dict: ${e}`), ...checkStore((k) => m.get(k), ds, mIncrs).map((e) => `Map: ${e}`)];
    if (d.size !== 2 * n) errs.push(`Dict size ${d.size}, expected ${2 * n}`);
    Object.assign(result, { ok: errs.length === 0, ...(errs.length ? { error: errs.join('; ') } : {}), mem, sink: sink % 1000 });
    for (const op of names) result[op] = accResult(acc[op], BATCH);
  } finally {
    d.close();
    try { Dict.unlink(args.name); } catch { /* gone */ }
  }
  emit(result);
}

// ------------------------------------------------------------------------------ 2: readers in parallel

// Control words in a small segment: [0] readers ready, [1] go (generation).
async function roleReaders() {
  startWatchdog(args['hard-ms'], 1000, [`/dev/shm${args.name}`, `/dev/shm${args.ctl}`]);
  const { Dict, Segment } = await loadShmkit();
  const n = args.keys, reps = args.reps, win = args['window-ms'], warm = args['warm-ms'];
  const ds = dataset(n, 1);
  const d = Dict.create(args.name, { memory: dictMemory(n) });
  const ctl = Segment.create(args.ctl, { size: 4096 });
  const c = new Int32Array(ctl.buffer, 0, 16);
  const result = { ok: false, runs: [] };
  try {
    preloadDict(d, ds, false);
    // Pinned: reader i on CPU i (taskset), so two readers get two CPUs; free: wherever the
    // scheduler puts them (here it sometimes leaves both on one vCPU for the whole window).
    const ncpu = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
    let canPin = false;
    if (ncpu >= 2) { try { execFileSync('taskset', ['-c', '0,1', process.execPath, '-e', '0'], { stdio: 'ignore' }); canPin = true; } catch { /* no */ } }
    result.pinned = canPin;
    const configs = [];
    for (let r = 0; r < reps; r++) configs.push(...(canPin ? [[1, true], [2, true]] : []), [1, false], [2, false]);
    let gen = 0;
    for (const [k, pin] of configs) {
      gen++;
      Atomics.store(c, 0, 0);
      // From before the spawn to after the reap: a reader's whole CPU time lands in this
      // process's cutime when it is reaped, so the window must cover its whole life.
      const s0 = cpuSnap();
      const kids = [];
      for (let i = 0; i < k; i++) {
        const argv = [SELF, '--role', 'reader', '--name', args.name, '--ctl', args.ctl, '--gen', String(gen),
          '--keys', String(n), '--seed', String(gen * 10 + i + 2), '--window-ms', String(win), '--warm-ms', String(warm),
          '--hard-ms', String(win + warm + 20000)];
        kids.push(runJson(...pinned(pin ? i % ncpu : null, process.execPath, argv), { limitMs: win + warm + 25000 }));
      }
      const t0 = Date.now();
      let readyOk = true;
      while (Atomics.load(c, 0) < k) {
        if (Date.now() - t0 > 20000) { readyOk = false; break; }
        await sleep(1);
      }
      Atomics.store(c, 1, readyOk ? gen : -1);
      const rs = await Promise.all(kids);
      const s1 = cpuSnap();
      const others = othersCpu(s0, s1), steal = stealCpu(s0, s1);
      const bad = rs.find((x) => x.ok === false);
      if (!readyOk || bad) throw new Error(`readers (${k}): ${!readyOk ? 'never became ready' : bad.error}${bad?.stderr ? ` (${bad.stderr})` : ''}`);
      const all = rs.flatMap((x) => x.samples);
      const s = summarize(Float64Array.from(all), all.length);
      result.runs.push({ readers: k, pinned: pin, aggregate_ops_per_s: rs.reduce((a, x) => a + x.ops_per_s, 0), per_reader: rs.map((x) => x.ops_per_s), cpu_share: rs.map((x) => x.cpu_share), vcsw_per_s: rs.map((x) => x.vcsw_per_s), last_cpu: rs.map((x) => x.cpu),
        p50_ns: s.p50_ns, p99_ns: s.p99_ns, batches: all.length, others_cpus: others, steal_cpus: steal });
    }
    result.ok = true;
  } finally {
    d.close();
    ctl.close();
    try { Dict.unlink(args.name); } catch { /* gone */ }
    try { Segment.unlink(args.ctl); } catch { /* gone */ }
  }
  emit(result);
}

function lastCpu() { // the CPU this process last ran on (/proc/self/stat field 39)
  try { return Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[36]); } catch { return null; }
}

async function roleReader() {
  startWatchdog(args['hard-ms'], 500);
  const { Dict, Segment } = await loadShmkit();
  const n = args.keys, gen = args.gen;
  const d = Dict.open(args.name);
  const ctl = Segment.open(args.ctl);
  const c = new Int32Array(ctl.buffer, 0, 16);
  const park = new Int32Array(new SharedArrayBuffer(4));
  const { order } = dataset(n, args.seed);
  let pos = 0, sink = 0;
  const get = (k) => {
    let p = pos;
    for (let i = 0; i < k; i++) { sink += d.get(order[p]).length; if (++p === n) p = 0; }
    pos = p;
  };
  try {
    timeBatches(get, BATCH, args['warm-ms'], newAcc());
    Atomics.add(c, 0, 1);
    // Cross-process Atomics.notify does not exist: poll the go word every 0.2 ms.
    for (;;) {
      const g = Atomics.load(c, 1);
      if (g === gen) break;
      if (g === -1) throw new Error('aborted by the parent');
      Atomics.wait(park, 0, 0, 0.2);
    }
    const u0 = usage(), w0 = now();
    const acc = timeBatches(get, BATCH, args['window-ms'], newAcc());
    const u1 = usageSince(u0), wallNs = Number(now() - w0);
    const cpuShare = (u1.cpu * 1000) / wallNs; // of one CPU, all threads
    if (sink < (acc.ops + BATCH) * VAL_BYTES) throw new Error('values shorter than expected'); // (and keeps sink alive)
    emit({ ok: true, cpu_share: cpuShare, vcsw_per_s: (u1.vcsw * 1e9) / wallNs, cpu: lastCpu(), ...accResult(acc, BATCH, true) });
  } finally {
    d.close();
    ctl.close();
  }
}

// ------------------------------------------------------------------------------ 5: get against working-set size
// For each size N: a Dict holding only N string entries, a Map holding the same, and the
// machine's floor for that much memory: a chain of dependent reads of random 64-byte lines
// over a shared-memory segment as large as the entries' blocks (each read's address comes
// from the one before, as a lookup's does). Interleaved round by round.
async function roleSizes() {
  startWatchdog(args['hard-ms'], 1000, [`/dev/shm${args.name}`, `/dev/shm${args.name}-floor`]);
  const { Dict, Segment } = await loadShmkit();
  const sizes = String(args.sizes).split(',').map(Number);
  const rounds = args.rounds, win = args['window-ms'], warm = args['warm-ms'];
  const result = { ok: true, sizes: [] };
  const errs = [];
  for (const n of sizes) {
    const ds = dataset(n, 1);
    const { keys, vals, order } = ds;
    const d = Dict.create(args.name, { memory: dictMemory(n) });
    const lines = n * 2; // a 16 B key + 64 B value entry is 2 blocks
    const seg = Segment.create(`${args.name}-floor`, { size: lines * 64 });
    try {
      for (let i = 0; i < n; i++) d.set(keys[i], vals[i % NVALS]);
      const m = new Map();
      for (let i = 0; i < n; i++) m.set(keys[i], vals[i % NVALS]);
      // One random cycle through all lines: line perm[i] holds the index of line perm[i+1].
      const w = new Int32Array(seg.buffer);
      const perm = shuffle(Int32Array.from({ length: lines }, (_, i) => i), mulberry32(7));
      for (let i = 0; i < lines; i++) w[perm[i] * 16] = perm[(i + 1) % lines];
      const fresh = order.map(flat); // new strings, allocated in the visiting order
      let pos = 0, x = perm[0], sink = 0;
      const ops = {
        'dict-get': (k) => {
          let p = pos;
          for (let i = 0; i < k; i++) { sink += d.get(order[p]).length; if (++p === n) p = 0; }
          pos = p;
        },
        'map-get': (k) => {
          let p = pos;
          for (let i = 0; i < k; i++) { sink += m.get(order[p]).length; if (++p === n) p = 0; }
          pos = p;
        },
        // Diagnostic: the shuffled order, but with key strings made in that order (as a server's
        // keys, built per request, would be): the key string's read is no longer a random one.
        'dict-get-fresh': (k) => {
          let p = pos;
          for (let i = 0; i < k; i++) { sink += d.get(fresh[p]).length; if (++p === n) p = 0; }
          pos = p;
        },
        // Diagnostic: the keys in the order they were created and inserted, so consecutive
        // gets read neighbouring key strings and neighbouring entries (the prefetcher's case).
        'dict-get-inorder': (k) => {
          let p = pos;
          for (let i = 0; i < k; i++) { sink += d.get(keys[p]).length; if (++p === n) p = 0; }
          pos = p;
        },
        floor: (k) => {
          let y = x;
          for (let i = 0; i < k; i++) y = w[y * 16];
          x = y;
        },
      };
      const names = Object.keys(ops);
      for (const op of names) timeBatches(ops[op], BATCH, warm, newAcc());
      const acc = Object.fromEntries(names.map((op) => [op, newAcc()]));
      for (let r = 0; r < rounds; r++) for (const op of names) timeBatches(ops[op], BATCH, win, acc[op]);
      const bad = checkStore((k) => d.get(k), ds, undefined);
      if (bad.length) errs.push(`${n} keys: Dict: ${bad.join('; ')}`);
      const row = { n, segment_bytes: fs.statSync(`/dev/shm${args.name}`).size, floor_bytes: lines * 64, sink: (sink + x) % 1000 };
      for (const op of names) row[op] = accResult(acc[op], BATCH);
      result.sizes.push(row);
    } finally {
      d.close();
      seg.close();
      try { Dict.unlink(args.name); } catch { /* gone */ }
      try { Segment.unlink(`${args.name}-floor`); } catch { /* gone */ }
    }
  }
  if (errs.length) Object.assign(result, { ok: false, error: errs.join('; ') });
  emit(result);
}

// ------------------------------------------------------------------------------ 6: large values
// set and get of one key holding 1 KiB .. 64 KiB values (ASCII string, bytes, non-ASCII
// string), next to what the same bytes cost to copy once in plain JS (Buffer#copy into a
// reused buffer: the memory floor of a read) in the same process.
async function roleLarge() {
  startWatchdog(args['hard-ms'], 1000, [`/dev/shm${args.name}`]);
  const { Dict } = await loadShmkit();
  const sizes = [1024, 16384, 65536];
  const win = args['window-ms'];
  const d = Dict.create(args.name, { memory: 1 << 22 });
  const result = { ok: true, rows: [] };
  try {
    for (const len of sizes) {
      const kinds = [
        ['ASCII string', 'a'.repeat(len)],
        ['bytes (Uint8Array)', Buffer.alloc(len, 7)],
        ['non-ASCII string (2-byte UTF-8 chars)', 'é'.repeat(len / 2)],
      ];
      const src = Buffer.alloc(len, 1), dst = Buffer.alloc(len);
      const floor = timeBatches((k) => { for (let i = 0; i < k; i++) src.copy(dst); }, 10, win, newAcc());
      for (const [label, v] of kinds) {
        d.set('v', v);
        const isBuf = Buffer.isBuffer(v);
        let bad = 0;
        const set = timeBatches((k) => { for (let i = 0; i < k; i++) d.set('v', v); }, 10, win, newAcc());
        const get = timeBatches((k) => {
          for (let i = 0; i < k; i++) { const got = d.get('v'); if ((isBuf ? got.length : got.length) !== v.length) bad++; }
        }, 10, win, newAcc());
        if (bad) Object.assign(result, { ok: false, error: `${label} ${len}: ${bad} reads of the wrong length` });
        result.rows.push({ len, label, set: accResult(set, 10), get: accResult(get, 10), copy: accResult(floor, 10) });
      }
    }
  } finally {
    d.close();
    try { Dict.unlink(args.name); } catch { /* gone */ }
  }
  emit(result);
}

// ------------------------------------------------------------------------------ 3: Redis

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// Starts redis-server on a free loopback port; resolves { server, port } once it accepts
// connections, or throws with the tail of its output.
async function startRedis(bin, dir) {
  let lastErr = null;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const server = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'notice', '--databases', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ok = await new Promise((resolve) => {
      let out = '';
      const t = setTimeout(() => { lastErr = `redis-server not ready after 10 s: ${out.trim().split('\n').slice(-3).join(' | ')}`; resolve(false); }, 10000);
      const onData = (b) => {
        out += b;
        if (/Ready to accept connections/.test(out)) { clearTimeout(t); resolve(true); }
      };
      server.stdout.on('data', onData);
      server.stderr.on('data', onData);
      server.once('error', (e) => { clearTimeout(t); lastErr = String(e); resolve(false); });
      server.once('exit', (code, sg) => { clearTimeout(t); lastErr = `redis-server exited (${code ?? sg}): ${out.trim().split('\n').slice(-3).join(' | ')}`; resolve(false); });
    });
    if (ok) {
      server.stdout.removeAllListeners('data');
      server.stderr.removeAllListeners('data');
      server.stdout.resume();
      server.stderr.resume();
      return { server, port };
    }
    await stopRedis(server);
  }
  throw new Error(lastErr ?? 'redis-server did not start');
}

async function stopRedis(server) {
  if (!server || server.pid === undefined || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  try { server.kill('SIGTERM'); } catch { /* gone */ }
  const t = setTimeout(() => { try { server.kill('SIGKILL'); } catch { /* gone */ } }, 2000);
  await exited;
  clearTimeout(t);
}

async function roleRedis() {
  startGroupWatchdog(args['hard-ms'], 500, [`/dev/shm${args.name}`]);
  let Redis;
  try {
    Redis = (await import('ioredis')).default;
  } catch {
    emit({ ok: true, skipped: 'ioredis not installed (npm install: it is a devDependency)' });
    return;
  }
  const { Dict } = await loadShmkit();
  const n = args.keys, rounds = args.rounds, warm = args['warm-ms'];
  const winR = args['redis-ms'], winP = args['pipe-ms'], winS = args['shm-ms'];
  const ds = dataset(n, 1);
  const { keys, ckeys, vals, order, corder } = ds;
  const dir = args.dir;
  fs.mkdirSync(dir, { recursive: true });
  let server = null, client = null, d = null;
  const result = { ok: false };
  try {
    const started = await startRedis(args['redis-server'], dir);
    server = started.server;
    result.port = started.port;
    client = new Redis({ host: '127.0.0.1', port: result.port, lazyConnect: true, maxRetriesPerRequest: 1, enableAutoPipelining: false });
    client.on('error', () => { /* surfaced by the awaited command */ });
    await client.connect();
    result.redis_version = (await client.info('server')).match(/redis_version:(\S+)/)?.[1];
    const usedMemory = async () => Number((await client.info('memory')).match(/used_memory:(\d+)/)[1]);

    // Preload (pipelined), measuring Redis's own memory for the string entries.
    const mem0 = await usedMemory();
    for (let i = 0; i < n; i += 1000) {
      const p = client.pipeline();
      for (let j = i; j < Math.min(n, i + 1000); j++) p.set(keys[j], vals[j % NVALS]);
      await p.exec();
    }
    result.mem = { used_before: mem0, used_after: await usedMemory(), keys: await client.dbsize() };
    for (let i = 0; i < n; i += 1000) {
      const p = client.pipeline();
      for (let j = i; j < Math.min(n, i + 1000); j++) p.set(ckeys[j], '0');
      await p.exec();
    }

    d = Dict.create(args.name, { memory: dictMemory(n) });
    preloadDict(d, ds);

    let pos = 0, vi = 0, sink = 0, rIncrs = 0, dIncrs = 0;
    const step = () => { const p = pos; if (++pos === n) pos = 0; return p; };
    const nextVal = () => { const v = vals[vi]; if (++vi === NVALS) vi = 0; return v; };
    const exec = async (p) => {
      for (const [err, v] of await p.exec()) { if (err) throw err; sink += typeof v === 'string' ? v.length : Number(v); }
    };
    const asyncOps = {
      'redis-get': async (k) => { for (let i = 0; i < k; i++) sink += (await client.get(order[step()])).length; },
      'redis-set': async (k) => { for (let i = 0; i < k; i++) await client.set(order[step()], nextVal()); },
      'redis-incr': async (k) => { for (let i = 0; i < k; i++) sink += await client.incrby(corder[step()], 1); rIncrs += k; },
      'pipe-get': async (k) => { const p = client.pipeline(); for (let i = 0; i < k; i++) p.get(order[step()]); await exec(p); },
      'pipe-set': async (k) => { const p = client.pipeline(); for (let i = 0; i < k; i++) p.set(order[step()], nextVal()); await exec(p); },
      'pipe-incr': async (k) => { const p = client.pipeline(); for (let i = 0; i < k; i++) p.incrby(corder[step()], 1); await exec(p); rIncrs += k; },
      'await-get': async (k) => { for (let i = 0; i < k; i++) sink += (await d.get(order[step()])).length; },
      'await-set': async (k) => { for (let i = 0; i < k; i++) await d.set(order[step()], nextVal()); },
      'await-incr': async (k) => { for (let i = 0; i < k; i++) sink += await d.incr(corder[step()], 1); dIncrs += k; },
    };
    const syncOps = {
      'shm-get': (k) => {
        let p = pos;
        for (let i = 0; i < k; i++) { sink += d.get(order[p]).length; if (++p === n) p = 0; }
        pos = p;
      },
      'shm-set': (k) => {
        let p = pos, v = vi;
        for (let i = 0; i < k; i++) { d.set(order[p], vals[v]); if (++p === n) p = 0; if (++v === NVALS) v = 0; }
        pos = p; vi = v;
      },
      'shm-incr': (k) => {
        let p = pos;
        for (let i = 0; i < k; i++) { sink += d.incr(corder[p], 1); if (++p === n) p = 0; }
        pos = p; dIncrs += k;
      },
    };
    // Placements of client (this process, all its threads) and server: where the scheduler
    // likes ('free'), both on CPU 0 ('same': a round trip is two context switches), client
    // on CPU 0 and server on CPU 1 ('split': every awaited round trip wakes the other vCPU).
    const ncpu = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
    let placements = ['free'];
    if (ncpu >= 2) {
      try { execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }); placements = ['free', 'same', 'split']; } catch { /* no taskset */ }
    }
    result.placements = placements;
    const place = (pl) => {
      if (placements.length === 1) return;
      const all = `0-${ncpu - 1}`;
      const [cli, srv] = pl === 'same' ? ['0', '0'] : pl === 'split' ? ['0', '1'] : [all, all];
      execFileSync('taskset', ['-a', '-p', '-c', cli, String(process.pid)], { stdio: 'ignore' });
      execFileSync('taskset', ['-a', '-p', '-c', srv, String(server.pid)], { stdio: 'ignore' });
    };
    const OPS = ['get', 'set', 'incr'];
    const redisPlan = OPS.flatMap((op) => [[`redis-${op}`, REDIS_BATCH, winR], [`pipe-${op}`, REDIS_BATCH, winP]]);
    const shmPlan = OPS.flatMap((op) => [[`shm-${op}`, BATCH, winS], [`await-${op}`, BATCH, winS]]);
    const run = async (id, batch, ms, acc) => (syncOps[id] ? timeBatches(syncOps[id], batch, ms, acc) : timeBatchesAsync(asyncOps[id], batch, ms, acc));
    for (const [id, batch] of [...redisPlan, ...shmPlan]) await run(id, batch, warm, newAcc());
    const acc = {};
    for (const [id] of shmPlan) acc[id] = newAcc();
    for (const pl of placements) for (const [id] of redisPlan) acc[`${id}@${pl}`] = newAcc();
    for (let r = 0; r < rounds; r++) {
      for (const pl of placements) {
        place(pl);
        for (const [id, batch, ms] of redisPlan) await run(id, batch, ms, acc[`${id}@${pl}`]);
      }
      place('free');
      for (const [id, batch, ms] of shmPlan) await run(id, batch, ms, acc[id]);
    }
    for (const [id, batch] of shmPlan) result[id] = accResult(acc[id], batch);
    for (const pl of placements) for (const [id, batch] of redisPlan) result[`${id}@${pl}`] = accResult(acc[`${id}@${pl}`], batch);

    // Checks: Redis's values and counters, and the Dict's.
    const rv = new Map();
    for (let i = 0; i < n; i += 1000) {
      const ks = keys.slice(i, i + 1000), cs = ckeys.slice(i, i + 1000);
      const [a, b] = await Promise.all([client.mget(...ks), client.mget(...cs)]);
      ks.forEach((k, j) => rv.set(k, a[j]));
      cs.forEach((k, j) => rv.set(k, b[j]));
    }
    const errs = [...checkStore((k) => rv.get(k), ds, rIncrs).map((e) => `Redis: ${e}`), ...checkStore((k) => d.get(k), ds, dIncrs).map((e) => `Dict: ${e}`)];
    Object.assign(result, { ok: errs.length === 0, ...(errs.length ? { error: errs.join('; ') } : {}), sink: sink % 1000 });
  } finally {
    if (client) { try { await client.quit(); } catch { client.disconnect(); } }
    await stopRedis(server);
    if (d) { d.close(); try { Dict.unlink(args.name); } catch { /* gone */ } }
  }
  emit(result);
}

// ------------------------------------------------------------------------------ orchestrator

const fmtNs = (x) => (x == null || Number.isNaN(x) ? '—' : sig(x));
function notesOf(r) {
  if (!r) return 'not run';
  if (r.skipped) return `skipped: ${r.skipped}`;
  const f = [];
  if (r.ok === false) f.push('**FAILED**');
  if (r.error) f.push(`${r.error}${r.stderr ? ` (${r.stderr})` : ''}`);
  if (r.others_cpus > 0.25) f.push(`busy machine: others used ${fmtCpus(r.others_cpus)} CPU`);
  if (r.steal_cpus > 0.05) f.push(`the hypervisor took (steal) ${fmtCpus(r.steal_cpus)} CPU`);
  return f.join('; ');
}
// Verdict cell: the target itself is in its own column.
const meets = (x, ok) => (x == null || Number.isNaN(x) ? 'n/a' : ok(x) ? 'meets' : '**misses**');
function median(xs) { const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : NaN; }

function findRedisServer() {
  if (typeof args['redis-server'] === 'string') return fs.existsSync(args['redis-server']) ? args['redis-server'] : null;
  const dirs = [...(process.env.PATH || '').split(':'), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, 'redis-server');
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return null;
}

async function orchestrate() {
  const tStart = Date.now();
  const quick = !!args.quick;
  const N = args.keys ?? 100000;
  const BUDGET_MS = quick ? 36000 : 130000;
  const only = args.only ? String(args.only).split(',') : null;
  const want = (id) => !only || only.includes(id);
  const saveDir = resultsDir(args); // before the run: a bad --save fails at once
  // Windows (ms). 1: rounds × window per op, interleaved; 2: reps × (1 reader, 2 readers);
  // 3: rounds × (Redis awaited, Redis pipelined, shmkit, shmkit awaited) per op.
  const P = quick
    ? { warm: 150, r1: 3, w1: 150, reps: 1, w2: 600, warm2: 300, r3: 1, redis: 400, pipe: 200, shm: 150, warm3: 100, sizes: [1000, 10000, 100000], r5: 2, w5: 100, warm5: 100, w6: 100 }
    : { warm: 300, r1: 5, w1: 400, reps: 3, w2: 1200, warm2: 400, r3: 3, redis: 500, pipe: 300, shm: 200, warm3: 250, sizes: [1000, 10000, 100000, 1000000], r5: 3, w5: 300, warm5: 200, w6: 250 };
  const { tag, tmp, newName, log, remaining, cleanup } = startRun('dict-bench', BUDGET_MS, tStart);
  const R = {};
  try {
    await loadShmkit(); // fails early if dist/ is not built
    const info = machineInfo();
    const node = process.execPath;
    const run = async (id, label, argv, limitMs) => {
      if (remaining() < 3000) { R[id] = { ok: false, skipped: 'time budget exhausted' }; log(`${id} skipped (budget)`); return R[id]; }
      const s0 = cpuSnap();
      const r = await runJson(node, [SELF, ...argv, '--hard-ms', String(limitMs - 2000)], { limitMs: Math.min(limitMs, remaining() + 5000), detached: true });
      const s1 = cpuSnap();
      r.others_cpus = othersCpu(s0, s1);
      r.steal_cpus = stealCpu(s0, s1);
      R[id] = r;
      log(`${id} ${label}: ${r.skipped ? `skipped: ${r.skipped}` : r.ok === false ? `FAILED ${r.error ?? ''}${r.stderr ? ` (${r.stderr})` : ''}` : 'ok'} ` +
        `(${(r.wall_ms / 1000).toFixed(1)} s, others ${fmtCpus(r.others_cpus)} CPU)`);
      return r;
    };

    log(`${quick ? '--quick' : 'full'} run: ${N} keys of ${KEY_BYTES} B, values of ${VAL_BYTES} B`);
    const n1 = want('1') || want('4');
    if (n1) {
      await run('1', 'one process, Dict and Map', ['--role', 'single', '--name', newName('single'), '--keys', String(N),
        '--rounds', String(P.r1), '--window-ms', String(P.w1), '--warm-ms', String(P.warm)], 6 * (P.r1 * P.w1 + P.warm) + 30000);
    }
    if (want('2')) {
      await run('2', 'one reader vs two readers', ['--role', 'readers', '--name', newName('readers'), '--ctl', newName('readers-ctl'),
        '--keys', String(N), '--reps', String(P.reps), '--window-ms', String(P.w2), '--warm-ms', String(P.warm2)], 4 * P.reps * (P.w2 + P.warm2 + 3000) + 20000);
    }
    let redisBin = null;
    if (want('3')) {
      redisBin = findRedisServer();
      if (!redisBin) {
        R['3'] = { ok: true, skipped: SKIP_REDIS };
        log(`3 skipped: ${SKIP_REDIS}`);
      } else {
        const perRound = 3 * 3 * (P.redis + P.pipe) + 3 * 2 * P.shm; // 3 ops × 3 placements
        await run('3', `Redis (${redisBin}) vs shmkit`, ['--role', 'redis', '--name', newName('redis'), '--keys', String(N), '--dir', path.join(tmp, 'redis'),
          '--redis-server', redisBin, '--rounds', String(P.r3), '--redis-ms', String(P.redis), '--pipe-ms', String(P.pipe), '--shm-ms', String(P.shm),
          '--warm-ms', String(P.warm3)], P.r3 * perRound + 12 * P.warm3 + 40000);
      }
    }

    if (want('6')) {
      await run('6', 'large values', ['--role', 'large', '--name', newName('large'), '--window-ms', String(P.w6)], 9 * 3 * P.w6 + 20000);
    }
    if (want('5')) {
      await run('5', 'get against working-set size', ['--role', 'sizes', '--name', newName('sizes'), '--sizes', P.sizes.join(','),
        '--rounds', String(P.r5), '--window-ms', String(P.w5), '--warm-ms', String(P.warm5)], P.sizes.length * (3 * (P.r5 * P.w5 + P.warm5) + 8000) + 20000);
    }

    // -------------------------------------------------------------------- report
    const out = [];
    out.push(`# shmkit dict benchmark: Dict (${quick ? '--quick' : 'full'} run)`, '');
    out.push(machineLine(info));
    out.push('');
    out.push('> Note: this runs on a small, shared VM. Absolute numbers are noisy (10–30 % between runs is common, more at p99), ' +
      'and a neighbour on the host can take a vCPU away for a while (see the "others" column): compare ratios within one run, and run it more than once.');
    out.push('');
    out.push(`Data: ${N} string entries (${KEY_BYTES}-byte ASCII keys, ${VAL_BYTES}-byte ASCII string values, ${NVALS} distinct values used in turn by set) ` +
      `and ${N} counters (${KEY_BYTES}-byte keys, numbers), preloaded; a Dict of \`memory: ${dictMemory(N)}\` (no eviction happens). ` +
      'Every test visits the keys in a fixed shuffled order (the same for every implementation). ' +
      `Timing: \`process.hrtime.bigint()\` around batches run back to back (${BATCH} ops per batch in-process; ${REDIS_BATCH} for awaited Redis ops, ` +
      `and one pipeline of ${REDIS_BATCH} per batch); p50/p99 are nearest-rank over the per-op means of the batches; ops/s = all ops ÷ all batch time. ` +
      '"others" = CPUs\' worth of time that processes other than this benchmark used during the test (2.00 would be the whole machine here).');
    out.push('');

    const r1 = R['1'];
    const rowOf = (r) => `${fmtRate(r?.ops_per_s)} | ${fmtNs(r?.p50_ns)} | ${fmtNs(r?.p99_ns)}`;
    if (want('1')) {
      out.push('## 1. One process: shmkit `Dict` vs a plain JS `Map`', '');
      out.push(`${P.r1} rounds; in each, every operation below runs for ${P.w1} ms in turn (after ${P.warm} ms of warm-up each). ` +
        'Dict: `d.get(k)` (a new string each time), `d.set(k, v)`, `d.incr(k, 1)` on a counter. Map: `map.get(k)`, `map.set(k, v)`, ' +
        '`map.set(k, map.get(k) + 1)`, on a Map holding the same strings. After the run, every value and the counters\' sums are checked. ' +
        `The diagnostic row cycles over the first ${Math.min(HOT, N)} keys of the shuffle only (the table's lines stay in cache): the gap to the get row is memory latency, what remains is the per-call cost.`);
      out.push('');
      out.push('| op | shmkit ops/s | p50 ns/op | p99 ns/op | target | verdict | Map ops/s | Map p50 ns/op | Map p99 ns/op | shmkit ÷ Map | batches (shmkit) |');
      out.push('|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|');
      for (const [op, target, label] of [['get', 3e6, 'get'], ['set', 1e6, 'set'], ['incr', 2e6, 'incr'], ['get-hot', null, `get, hot set of ${Math.min(HOT, N)} keys (diagnostic)`]]) {
        const s = r1?.[`dict-${op}`], m = r1?.[`map-${op}`];
        out.push(`| ${label} | ${rowOf(s)} | ${target ? `≥ ${fmtRate(target)} ops/s` : ''} | ${target ? meets(s?.ops_per_s, (x) => x >= target) : ''} | ` +
          `${rowOf(m)} | ${fmtRatio(ratio(s?.ops_per_s, m?.ops_per_s))} | ${s?.batches ?? '—'} |`);
      }
      out.push('', `Test process: others ${fmtCpus(r1?.others_cpus)} CPU${notesOf(r1) ? `; ${notesOf(r1)}` : ''}.`, '');
    }

    if (want('2')) {
      const r2 = R['2'];
      out.push('## 2. Two processes reading at once (same keys)', '');
      const runs = r2?.runs ?? [];
      const pins = r2?.pinned === false ? [false] : [true, false];
      out.push(`One process creates the Dict and preloads the ${N} string entries; then one reader process runs, then two at once, ` +
        `in two placements: **pinned** (reader i on CPU i, with \`taskset\`) and **free** (wherever the scheduler puts them), ${P.reps === 1 ? 'once each' : `${P.reps} times each, alternately`}. ` +
        `Each reader opens the Dict, warms up for ${P.warm2} ms, waits for the common start, and does \`d.get(k)\` for ${P.w2} ms over its own shuffle of the keys. ` +
        'Aggregate = the sum of the readers\' ops/s; p50/p99 over all readers\' batches of the median run; the row value is the median over the repetitions (each listed). ' +
        '"CPU per reader" = CPU time ÷ wall time of each reader over its window (1.00: it had a whole CPU). ' +
        '"others / steal" per run = CPUs\' worth of time used by other processes of this VM from the readers\' start to their exit / stolen by the hypervisor (/proc/stat steal; 0 where the hypervisor does not report it). ' +
        'The verdict is on the pinned pair: unpinned, the scheduler may keep both readers on one vCPU (CPU per reader ≈ 0.5, e.g. while something else holds the other one), which says nothing about the Dict.');
      out.push('');
      out.push('| readers | placement | aggregate get ops/s | each run: aggregate (others / steal) | per reader ops/s (median run) | CPU per reader (median run) | p50 ns/op | p99 ns/op | ÷ 1 reader | target | verdict |');
      out.push('|---|---|---:|---|---|---|---:|---:|---:|---|---|');
      const of = (k, pin) => runs.filter((x) => x.readers === k && x.pinned === pin);
      const agg = (k, pin) => median(of(k, pin).map((x) => x.aggregate_ops_per_s));
      const medRun = (k, pin) => { const m = agg(k, pin); return of(k, pin).find((x) => x.aggregate_ops_per_s === m); };
      for (const pin of pins) {
        const rr = ratio(agg(2, pin), agg(1, pin));
        for (const k of [1, 2]) {
          const mr = medRun(k, pin);
          const busy = k === 2 && pin && of(2, pin).some((x) => x.others_cpus > 0.1 || x.steal_cpus > 0.05) ? ' (machine busy during a run: see "others / steal")' : '';
          const verdict = k === 2 && pin ? `${meets(rr, (x) => x >= 1.6)}${busy}` : k === 2 ? '(not judged)' : '';
          out.push(`| ${k} | ${pin ? 'pinned' : 'free'} | ${fmtRate(agg(k, pin))} | ` +
            `${of(k, pin).map((x) => `${fmtRate(x.aggregate_ops_per_s)} (${fmtCpus(x.others_cpus)} / ${fmtCpus(x.steal_cpus)})`).join(', ') || '—'} | ` +
            `${mr?.per_reader.map(fmtRate).join(' + ') ?? '—'} | ${mr?.cpu_share?.map((x) => x.toFixed(2)).join(' + ') ?? '—'} | ${fmtNs(mr?.p50_ns)} | ${fmtNs(mr?.p99_ns)} | ` +
            `${k === 2 ? fmtRatio(rr) : ''} | ${k === 2 ? '≥ 1.6×' : ''} | ${verdict} |`);
        }
      }
      const pairs = (pin) => {
        const one = of(1, pin), two = of(2, pin);
        return two.map((x, i) => fmtRatio(ratio(x.aggregate_ops_per_s, one[i]?.aggregate_ops_per_s))).join(', ');
      };
      if (P.reps > 1) out.push('', `Ratio of each pair (two readers ÷ the one-reader run just before): ${pins.map((pin) => `${pin ? 'pinned' : 'free'} ${pairs(pin)}`).join('; ')}.`);
      out.push('', `Test processes: others ${fmtCpus(r2?.others_cpus)} CPU${notesOf(r2) ? `; ${notesOf(r2)}` : ''}. ` +
        `This machine has ${info.nproc} vCPUs: two readers and nothing else is the best case.` +
        (r2?.pinned === false ? ' (Pinned runs skipped: taskset or a second CPU is not available.)' : ''), '');
    }

    const r3 = R['3'];
    if (want('3')) {
      out.push('## 3. Against Redis (redis-server on loopback, client ioredis, same process as shmkit)', '');
      if (r3?.skipped) {
        out.push('| op | client | ops/s | p50 µs/op | p99 µs/op | shmkit ÷ this | target | verdict | notes |');
        out.push('|---|---|---:|---:|---:|---:|---|---|---|');
        out.push(`| GET / SET / INCRBY | Redis | | | | | | | skipped: ${r3.skipped} |`, '');
      } else {
        const pls = r3?.placements ?? ['free'];
        out.push(`redis-server ${r3?.redis_version ?? '?'} started by the test on 127.0.0.1:${r3?.port ?? '?'} with \`--save '' --appendonly no\` ` +
          '(a child of the test process, stopped at its end), ioredis without auto-pipelining. One test process holds the client and the Dict. ' +
          'Redis: `await redis.get(k)`, `await redis.set(k, v)`, `await redis.incrby(k, 1)` one at a time; pipelined: `redis.pipeline()` with 100 of them, `await p.exec()`. ' +
          'shmkit: `d.get(k)`, `d.set(k, v)`, `d.incr(k, 1)` on the same data in the same order, as plain calls and with an `await` on each result. ' +
          `${P.r3} round${P.r3 > 1 ? 's' : ''}; in each, for every placement, every Redis row runs (awaited ${P.redis} ms, pipelined ${P.pipe} ms), ` +
          `then the shmkit rows (${P.shm} ms each). Redis's values and counters are checked after the run.`);
        out.push('');
        out.push('An awaited round trip over loopback depends on where the two processes run, so the Redis rows run in three placements (set with `taskset -a -p`, all threads): ' +
          '**free** = wherever the scheduler puts them (it changes between runs); **same CPU** = client and server both on CPU 0 (a round trip is two context switches); ' +
          '**split** = client on CPU 0, server on CPU 1 (each round trip wakes the other vCPU, which on this VM is the slow case). ' +
          'The ratio and the verdict use the **fastest** placement of each Redis row, i.e. Redis\'s best case.' +
          (pls.length === 1 ? ' (Only "free" ran: taskset or a second CPU is not available.)' : ''));
        out.push('');
        out.push('Cells: ops/s (p50 / p99 µs per op).');
        out.push('');
        out.push('| op | client | batch | free | same CPU | split | shmkit (plain calls) ÷ fastest | shmkit (`await` each) ÷ fastest | target | verdict |');
        out.push('|---|---|---:|---:|---:|---:|---:|---:|---|---|');
        const us = (x) => (x == null || Number.isNaN(x) ? '—' : sig(x / 1000));
        const cell = (r) => (r ? `${fmtRate(r.ops_per_s)} (${us(r.p50_ns)} / ${us(r.p99_ns)})` : '—');
        for (const op of ['get', 'set', 'incr']) {
          const cmd = op === 'incr' ? 'INCRBY' : op.toUpperCase();
          const shm = r3?.[`shm-${op}`], aw = r3?.[`await-${op}`];
          for (const [kind, label, target, ok] of [['redis', `Redis \`${cmd}\`, awaited one by one`, '≥ 30×', (x) => x >= 30],
            ['pipe', `Redis \`${cmd}\`, pipelined ×${REDIS_BATCH}`, '> 1× (ahead)', (x) => x > 1]]) {
            const rs = ['free', 'same', 'split'].map((pl) => r3?.[`${kind}-${op}@${pl}`]);
            const best = Math.max(...rs.map((r) => r?.ops_per_s ?? NaN).filter((x) => !Number.isNaN(x)));
            const rt = ratio(shm?.ops_per_s, best), ra = ratio(aw?.ops_per_s, best);
            out.push(`| ${op.toUpperCase()} | ${label} | ${REDIS_BATCH} | ${rs.map(cell).join(' | ')} | ${fmtRatio(rt)} | ${fmtRatio(ra)} | ${target} | ${meets(rt, ok)} |`);
          }
          out.push(`| ${op.toUpperCase()} | shmkit, plain calls | ${BATCH} | ${cell(shm)} | | | | | | |`);
          out.push(`| ${op.toUpperCase()} | shmkit, \`await\` on each result | ${BATCH} | ${cell(aw)} | | | | | | |`);
        }
        out.push('', `Test process: others ${fmtCpus(r3?.others_cpus)} CPU${notesOf(r3) ? `; ${notesOf(r3)}` : ''}. ` +
          'With pipelining, the split placement lets client and server work in parallel on two vCPUs; shmkit always runs on one.', '');
      }
    }

    if (want('4')) {
      out.push('## 4. Memory per entry', '');
      out.push('| store | entries | bytes used | bytes per entry | key + value bytes | overhead per entry | target | verdict |');
      out.push('|---|---:|---:|---:|---:|---:|---|---|');
      const mem = r1?.mem;
      if (mem) {
        const per = mem.strings_used / mem.strings_size, ov = per - (KEY_BYTES + VAL_BYTES);
        out.push(`| shmkit Dict, ${KEY_BYTES} B keys + ${VAL_BYTES} B strings: (capacity − freeSpace()) ÷ size | ${mem.strings_size} | ${mem.strings_used} | ${sig(per)} | ${KEY_BYTES + VAL_BYTES} | ${sig(ov)} | ≤ 64 B | ${meets(ov, (x) => x <= 64)} |`);
        const cn = mem.all_size - mem.strings_size, cu = mem.all_used - mem.strings_used;
        out.push(`| shmkit Dict, ${KEY_BYTES} B keys + numbers (8 B) | ${cn} | ${cu} | ${sig(cu / cn)} | ${KEY_BYTES + 8} | ${sig(cu / cn - KEY_BYTES - 8)} | | |`);
      } else {
        out.push(`| shmkit Dict | | | | | | ≤ 64 B | n/a (${notesOf(r1) || 'test 1 not run'}) |`);
      }
      if (r3?.mem) {
        const m = r3.mem, per = (m.used_after - m.used_before) / N;
        out.push(`| Redis ${r3.redis_version ?? ''} (for comparison): \`used_memory\` after − before loading the string entries ÷ ${N} | ${N} | ${m.used_after - m.used_before} | ${sig(per)} | ${KEY_BYTES + VAL_BYTES} | ${sig(per - KEY_BYTES - VAL_BYTES)} | | |`);
      } else if (r3?.skipped) {
        out.push(`| Redis | | | | | | | skipped: ${r3.skipped} |`);
      }
      if (mem) {
        const blocks = mem.capacity / 64 + 1, index = mem.segment_bytes - mem.capacity;
        out.push('', `Outside \`capacity\` the segment also holds a fixed index: ${mem.segment_bytes} bytes in all for a capacity of ${mem.capacity}, ` +
          `i.e. ${sig(index / blocks)} bytes per 64-byte block (hash buckets, header, locks, shard words), or ${sig((index / blocks) * (mem.strings_used / 64 / mem.strings_size))} ` +
          'more per string entry above, reserved whether the blocks are used or not.' +
          (r3?.mem ? ' Redis\'s figure is its allocator\'s count (jemalloc size classes, dict entries, object headers).' : ''));
      }
      out.push('');
    }

    if (want('5')) {
      const r5 = R['5'];
      out.push('## 5. `get` against the working-set size', '');
      out.push(`For each size, a Dict holding only that many string entries (${KEY_BYTES} B keys, ${VAL_BYTES} B values) and a Map holding the same, ` +
        `\`get\` over all keys in a shuffled order; ${P.r5} rounds of ${P.w5} ms per row, interleaved. ` +
        '"Memory floor" is measured in the same process: dependent reads of random 64-byte lines (each address read from the line before, as a lookup\'s is) ' +
        'over a shared-memory segment as large as the entries\' blocks. It is what one cache miss costs at that size on this machine: ' +
        'a get follows at least two such reads in a row (the bucket, then the entry; a 64-byte value ends in the entry\'s second block), after the key string itself. ' +
        'The last two columns are diagnostics. "Key strings made in visit order": the same shuffled visits, but each key is a string made in that order ' +
        '(as keys built per request are), so reading the key is no longer a random memory read; the entries still are. ' +
        '"Insertion order": the keys in the order they were created and inserted (neighbouring key strings, neighbouring entries: the hardware prefetcher\'s case). ' +
        'The gaps between the three are what random memory reads cost a lookup.');
      out.push('');
      out.push('| keys | Dict segment | get ops/s | p50 ns/op | p99 ns/op | target ≥ 3.00 M | Map ops/s | Map p50 ns/op | get ÷ Map | memory floor ns/line (p50) | get p50 ÷ floor | get, key strings made in visit order: ops/s (p50 ns) | get in insertion order: ops/s (p50 ns) |');
      out.push('|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|');
      for (const row of r5?.sizes ?? []) {
        const g = row['dict-get'], m = row['map-get'], f = row.floor;
        out.push(`| ${row.n} | ${(row.segment_bytes / 2 ** 20).toFixed(1)} MiB | ${rowOf(g)} | ${meets(g?.ops_per_s, (x) => x >= 3e6)} | ` +
          `${fmtRate(m?.ops_per_s)} | ${fmtNs(m?.p50_ns)} | ${fmtRatio(ratio(g?.ops_per_s, m?.ops_per_s))} | ${fmtNs(f?.p50_ns)} | ${fmtRatio(ratio(g?.p50_ns, f?.p50_ns))} | ` +
          `${fmtRate(row['dict-get-fresh']?.ops_per_s)} (${fmtNs(row['dict-get-fresh']?.p50_ns)}) | ` +
          `${fmtRate(row['dict-get-inorder']?.ops_per_s)} (${fmtNs(row['dict-get-inorder']?.p50_ns)}) |`);
      }
      out.push('', `Test process: others ${fmtCpus(r5?.others_cpus)} CPU${notesOf(r5) ? `; ${notesOf(r5)}` : ''}.`, '');
    }

    if (want('6')) {
      const r6 = R['6'];
      out.push('## 6. Large values', '');
      out.push(`One key, its value replaced (\`d.set\`) and read (\`d.get\`) for ${P.w6} ms each, in batches of 10. ` +
        'Reference, same process: copying the same number of bytes once with `Buffer#copy` into a reused buffer (a read cannot copy less). ' +
        'A value spans 1 + ⌈(bytes + key − 24) / 56⌉ blocks of 64 bytes.');
      out.push('');
      out.push('| value | bytes | set µs (p50 / p99) | get µs (p50 / p99) | set MB/s | get MB/s | Buffer#copy µs (p50) | get ÷ copy |');
      out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
      const us = (x) => (x == null || Number.isNaN(x) ? '—' : sig(x / 1000));
      for (const row of r6?.rows ?? []) {
        const mbs = (r) => (r?.ops_per_s ? sig((r.ops_per_s * row.len) / 1e6) : '—');
        out.push(`| ${row.label} | ${row.len} | ${us(row.set?.p50_ns)} / ${us(row.set?.p99_ns)} | ${us(row.get?.p50_ns)} / ${us(row.get?.p99_ns)} | ` +
          `${mbs(row.set)} | ${mbs(row.get)} | ${us(row.copy?.p50_ns)} | ${fmtRatio(ratio(row.get?.p50_ns, row.copy?.p50_ns))} |`);
      }
      out.push('', `Test process: others ${fmtCpus(r6?.others_cpus)} CPU${notesOf(r6) ? `; ${notesOf(r6)}` : ''}.`, '');
    }

    const left = fs.readdirSync('/dev/shm').filter((f) => f.startsWith(tag));
    out.push(`Run wall time ${((Date.now() - tStart) / 1000).toFixed(1)} s. Cleanup: ${left.length ? `leftover /dev/shm entries (removed now): ${left.join(', ')}` : 'no leftover /dev/shm entries'}.`);
    const report = out.join('\n') + '\n';
    process.stdout.write(report);
    if (args['json-out']) fs.writeFileSync(String(args['json-out']), JSON.stringify(R));
    if (saveDir && only) log('results not saved: --only ran a part of the benchmark');
    else if (saveDir) {
      const file = saveResults('dict', { dir: saveDir, quick, command: commandLine('bench:dict', process.argv.slice(2)),
        tables: tablesFromMarkdown(report), charts: dictCharts(R, N), report });
      log(`results: ${file}`);
    }
    const failed = Object.values(R).some((r) => r.ok === false);
    process.exitCode = failed ? 1 : 0;
  } finally {
    cleanup();
  }
}

// The charts of BENCHMARKS.md, from the same results as the report: the
// Dict next to a JS Map, Redis and the memory floor measured in this run.
function dictCharts(R, n) {
  const r1 = R['1'], r3 = R['3'], r5 = R['5'];
  const OPS = [['get', 'get'], ['set', 'set'], ['incr', 'incr']];
  const ops = (r, prefix) => OPS.map(([op]) => r?.[`${prefix}-${op}`]?.ops_per_s ?? null);
  // Redis's best placement of each op (the report's verdict uses the same).
  const best = (kind) => OPS.map(([op]) => {
    const v = ['free', 'same', 'split'].map((pl) => r3?.[`${kind}-${op}@${pl}`]?.ops_per_s).filter((x) => x > 0);
    return v.length ? Math.max(...v) : null;
  });
  const charts = [
    {
      id: 'vs-map', kind: 'grouped', title: 'One process: shmkit Dict vs a plain JS Map (same strings, same order)',
      unit: 'ops/s', better: 'higher', series: OPS.map(([, l]) => l),
      groups: [{ label: 'shmkit Dict', values: ops(r1, 'dict') }, { label: 'JS Map (one process only)', values: ops(r1, 'map'), reference: true }],
    },
  ];
  if (r3 && !r3.skipped) {
    charts.push({
      id: 'vs-redis', kind: 'grouped', title: 'Against Redis on loopback (ioredis), same process, same keys',
      unit: 'ops/s', better: 'higher', series: OPS.map(([, l]) => l),
      groups: [
        { label: 'shmkit Dict, plain calls', values: ops(r3, 'shm') },
        { label: 'shmkit Dict, await on each', values: ops(r3, 'await') },
        { label: 'Redis, pipelined ×100', values: best('pipe'), reference: true },
        { label: 'Redis, awaited one by one', values: best('redis'), reference: true },
      ],
      caption: 'Redis: the fastest of three placements of client and server (free, same CPU, two CPUs).',
    });
  }
  const sizes = r5?.sizes ?? [];
  if (sizes.length) {
    const col = (f) => sizes.map((row) => f(row) ?? null);
    charts.push({
      id: 'working-set', kind: 'grouped', title: 'get against the number of entries (p50 per op)',
      unit: 'ns', better: 'lower', series: sizes.map((row) => `${row.n.toLocaleString('en-US')} keys`),
      groups: [
        { label: 'shmkit Dict get', values: col((row) => row['dict-get']?.p50_ns) },
        { label: 'JS Map get', values: col((row) => row['map-get']?.p50_ns), reference: true },
        { label: 'one random 64 B memory read', values: col((row) => row.floor?.p50_ns), reference: true },
      ],
      caption: 'A get follows at least two random reads (bucket, entry) after reading its key string.',
    });
  }
  const mem = r1?.mem;
  if (mem) {
    charts.push({
      id: 'memory', title: `Memory per entry: ${KEY_BYTES}-byte key, ${VAL_BYTES}-byte string value`, unit: 'bytes', better: 'lower',
      bars: [
        { label: 'shmkit Dict', value: mem.strings_used / mem.strings_size },
        ...(r3?.mem ? [{ label: 'Redis (used_memory)', value: (r3.mem.used_after - r3.mem.used_before) / n, reference: true }] : []),
        { label: 'the key and value bytes alone', value: KEY_BYTES + VAL_BYTES, reference: true },
      ],
    });
  }
  return charts;
}

// ------------------------------------------------------------------------------ main

const roles = { single: roleSingle, readers: roleReaders, reader: roleReader, redis: roleRedis, sizes: roleSizes, large: roleLarge };
if (args.role) {
  const fn = roles[args.role];
  if (!fn) { console.error(`unknown role ${args.role}`); process.exit(2); }
  fn().then(() => process.exit(0),
    (e) => { emit({ ok: false, error: String(e?.stack ?? e).split('\n').slice(0, 3).join(' ') }); process.exit(1); });
} else {
  orchestrate().catch((e) => { console.error(e); process.exitCode = 1; });
}
