// bench/channel.mjs - latency and throughput of shmkit's Queue between processes, next to
// C references and Node transports measured in the same run.
//
//   node bench/channel.mjs            full run (~2 min here; hard budget 4 min)
//   node bench/channel.mjs --quick    shorter windows and fewer round trips (< 90 s)
//   options: --n N (timed round trips)  --warmup W  --only 1,2,3 or ids (1a,1b,1c,1x,2,3...)
//            --rows ID,... (sections 2 and 3: only these rows, by exact id, e.g. 2-64-copy,3-sync;
//            bench/ab-channel.mjs --paired runs one row at a time with it)
//            --deadline-ms MS (per latency test)  --json-out FILE (every row's raw result as JSON)
//            --save (the report, its tables and charts into bench/results/: channel.json, channel-*.svg,
//            for BENCHMARKS.md; `npm run bench:channel` passes it)  --results DIR (the same, into DIR)
//   Prints markdown on stdout, progress on stderr; exit status 1 if any test failed, hit
//   its deadline or failed a message check.
//
// What runs (each test is its own process group; this process only orchestrates):
//   1   round trip of a 64-byte message, pinger process <-> echo process, two Queues
//       (ping, pong). The pinger stamps a sequence number into a 64 B Buffer and
//       trySend()s it (copy in); the echo takes it (copy out, a new Buffer) and
//       trySend()s that Buffer back; the pinger takes the reply and checks the number.
//       1a  both sides spin on tryReceive()           vs C busy-spin ping-pong
//       1b  receiveSync() / await receive(), default  vs C busy spin, a Unix socket, and the
//           Notifier's async round trip (await wait() both sides: the wait core, no queue)
//       1c  the same with a 100 µs busy-wait before each ping (outside the sample), so
//           receivers park; sync and async            vs C futex ping-pong, same pause
//           (also pinned to two CPUs, and a Unix socket with the same pause)
//       1x  context: Unix socket, TCP 127.0.0.1 (noDelay), child_process IPC process.send
//   2   one-way throughput, one producer process -> one consumer process, 64 B and
//       64 KiB messages, 1 MiB of ring: trySend/tryReceive, trySendMany/tryReceiveMany,
//       tryReserve/commit + tryPeek/release (two variants), vs a C SPSC ring (1 MiB of slots,
//       copy in + copy out, like ipc-baseline's B4/B8) and a Unix domain socket.
//   3   three producer processes and three consumer processes on one Queue, 64 B:
//       aggregate msgs/s (sync, async, batched), and the same harness with 1 + 1.
//
// Every receiver checks a sequence number in every message. Round-trip samples:
// process.hrtime.bigint() before the ping and after the reply has been taken (C:
// clock_gettime), pinging side only. CPU: getrusage(RUSAGE_SELF) of each process (Node:
// process.resourceUsage()), all threads, over its timed part.
// Each test row also shows a "placement probe" (p50 of a short C busy-spin ping-pong, at
// most 10 000 round trips or 150 ms, run just before and just after the test: on a VM the
// host moves vCPUs around and cache-to-cache latency moves with it) and the CPU other
// processes of the machine used during the test (/proc/stat busy time minus this
// benchmark's own processes).
// The "wrap check" row pushes one Queue's positions past 2^31 (negative as int32), where an
// old build stopped accepting messages; every other run stays below that.
//
// Safety: unique shm names per run (/shmkit-bench-<pid>-<random>-*), unlinked by whoever
// created them, by each process's watchdog, and by this process on exit/signal; every test
// process has a watchdog thread that SIGKILLs it at its hard limit or when its parent is
// gone; this process SIGKILLs each test's process group when it ends or overruns, and
// itself ends the whole run shortly after its budget. Stale names of dead runs are swept.
//
// bench/c/channel-ref.c is compiled with `cc -O2` into a temp dir on every run.
// Node built-ins only; imports the built package as `shmkit` (dist/ must be built), or
// the build whose dist/src/index.mjs SHMKIT_BENCH_DIST names (every process of the run
// inherits it: bench/ab-channel.mjs runs this file on two builds, alternately).
import { spawn, fork, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  now, parseArgs, emit, loadShmkit, sleep, busyWaitNs, usage, usageSince, pinned, summarize,
  startWatchdog, runJson, fmtUs, sig, ratio, fmtRatio, cpuPerRt, sleepsPerRt,
  machineInfo, machineLine, echoFrames, startRun, cpuSnap, othersCpu, fmtRate, fmtCpus } from './lib/common.mjs';
import { resultsDir, saveResults, commandLine, tablesFromMarkdown } from './lib/results.mjs';

// The package under test: `shmkit`, or another build's entry (SHMKIT_BENCH_DIST). A
// build from before the renames (0.1) gets trySendMany/tryReceiveMany/tryReserve/tryPeek
// as aliases of its sendMany/receiveMany/reserve/peek, on the prototype (call sites stay
// monomorphic).
async function loadLib() {
  const entry = process.env.SHMKIT_BENCH_DIST;
  const lib = entry ? await import(pathToFileURL(path.resolve(entry)).href) : await loadShmkit();
  const P = lib.Queue.prototype;
  if (!('trySendMany' in P)) Object.assign(P, { trySendMany: P.sendMany, tryReceiveMany: P.receiveMany });
  if (!('tryReserve' in P)) Object.assign(P, { tryReserve: P.reserve, tryPeek: P.peek });
  return lib;
}

const SELF = fileURLToPath(import.meta.url);
const HERE = path.dirname(SELF);
const args = parseArgs(process.argv.slice(2));

const RT_BYTES = 64; // round-trip message
const RING_CAPACITY = 1 << 20; // data bytes of the throughput Queues (the C ring: 1 MiB of slots)
const FILL = 0x5a;
const ENDED = 'ERR_SHMKIT_QUEUE_ENDED';

// ------------------------------------------------------------------------------ helpers

// Sequence numbers: u32 little-endian in the first 4 bytes of every message (byte by
// byte, so it works the same on a Buffer, a Uint8Array view and at any alignment).
function wr32(b, v, off = 0) { b[off] = v; b[off + 1] = v >>> 8; b[off + 2] = v >>> 16; b[off + 3] = v >>> 24; }
function rd32(b, off = 0) { return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0; }

function lastJson(text) {
  const line = String(text).trim().split('\n').filter((l) => l.startsWith('{')).pop();
  try { return line ? JSON.parse(line) : null; } catch { return null; }
}

// Waits for a child's exit (at most `ms`), then SIGKILLs it.
async function reap(child, ms = 3000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, ms);
  await exited;
  clearTimeout(t);
}

// Length-prefixed frames (u32le: bit 31 = control frame, low 31 bits = payload length).
// onFrame(payload, ctrl) gets every payload as one contiguous Buffer; a frame split
// across reads is copied once (the same scheme as ipc-baseline's lib/common.js).
class Framer {
  constructor(onFrame) { this.onFrame = onFrame; this.parts = []; this.have = 0; this.need = -1; }
  push(chunk) {
    if (this.have === 0) { this.scan(chunk); return; }
    this.parts.push(chunk);
    this.have += chunk.length;
    if (this.need < 0) {
      if (this.have < 4) return;
      const head = Buffer.concat(this.parts, this.have);
      this.parts = [head];
      this.need = 4 + (head.readUInt32LE(0) & 0x7fffffff);
    }
    if (this.have < this.need) return;
    const buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.have);
    this.parts = [];
    this.have = 0;
    this.need = -1;
    this.scan(buf);
  }
  scan(buf) {
    let off = 0;
    const len = buf.length;
    while (len - off >= 4) {
      const h = buf.readUInt32LE(off);
      const end = off + 4 + (h & 0x7fffffff);
      if (end > len) break;
      this.onFrame(buf.subarray(off + 4, end), h >>> 31);
      off = end;
    }
    if (off < len) {
      const rest = buf.subarray(off);
      this.parts = [rest];
      this.have = rest.length;
      this.need = rest.length >= 4 ? 4 + (rest.readUInt32LE(0) & 0x7fffffff) : -1;
    }
  }
}

// Receiver-side rate: counts from the first message; the window starts `warmMs` later and
// ends at the last clock read taken at a message (the clock is read every `every` messages),
// so a stall at the end (waiting to notice the end of the stream) is not counted.
class Meter {
  constructor(warmMs, every, warmMsgs = Infinity) {
    this.warmNs = BigInt(Math.round(warmMs * 1e6));
    this.warmMsgs = warmMsgs; // or after this many messages, whichever comes first
    this.mask = every - 1; // every: a power of two
    this.count = 0;
    this.tFirst = 0n;
    this.tMark = 0n;
    this.markCount = 0;
    this.tLast = 0n;
    this.lastCount = 0;
    this.cpu0 = null;
  }
  #clock() {
    const t = now();
    this.tLast = t;
    this.lastCount = this.count;
    if (this.tMark === 0n && (t - this.tFirst >= this.warmNs || this.count >= this.warmMsgs)) { this.tMark = t; this.markCount = this.count; }
  }
  first() { this.tFirst = now(); this.cpu0 = usage(); }
  tick() { if ((this.count & this.mask) === 0) this.#clock(); } // after count was increased
  addBatch(k) { // k messages at once
    if (this.count === 0) this.first();
    const before = this.count;
    this.count += k;
    if ((before & ~this.mask) !== (this.count & ~this.mask)) this.#clock();
  }
  finish(size) {
    const cpu = this.cpu0 ? usageSince(this.cpu0).cpu : null;
    if (this.tMark === 0n || this.tLast <= this.tMark) {
      return { ok: false, error: 'never left warm-up', received_total: this.count, consumer_cpu_us: cpu };
    }
    const secs = Number(this.tLast - this.tMark) / 1e9, msgs = this.lastCount - this.markCount;
    return { msg_bytes: size, msgs, seconds: secs, msgs_per_s: msgs / secs, MB_per_s: msgs * size / secs / 1e6, received_total: this.count, consumer_cpu_us: cpu };
  }
}

// ------------------------------------------------------------------------------ 1: round trip over two Queues

// --spin N: the handles' spin option (µs); absent: the default.
function spinOpt() { return typeof args.spin === 'number' ? { spin: args.spin } : undefined; }

async function roleLatPing() {
  const deadlineMs = args['deadline-ms'];
  startWatchdog(deadlineMs + 8000, 1000, [`/dev/shm${args.ping}`, `/dev/shm${args.pong}`]);
  const { Queue } = await loadLib();
  const mode = args.mode; // spin | sync | async
  const n = args.n, warm = args.warm, total = n + warm;
  const pauseNs = BigInt(Math.round((args['pause-us'] ?? 0) * 1000));
  const ping = Queue.create(args.ping, { capacity: 4096, ...spinOpt() });
  const pong = Queue.create(args.pong, { capacity: 4096, ...spinOpt() });
  let echo = null, echoOut = '', finished = false;
  const result = { ok: false };
  try {
    echo = spawn(...pinned(args['echo-cpu'], process.execPath, [SELF, '--role', 'lat-echo', '--mode', mode, ...(spinOpt() ? ['--spin', String(args.spin)] : []),
      '--ping', args.ping, '--pong', args.pong, '--n', String(n), '--warm', String(warm), '--hard-ms', String(deadlineMs + 6000)]),
    { stdio: ['ignore', 'pipe', 'inherit'] });
    echo.stdout.on('data', (d) => { echoOut += d; });
    // An async pinger must not wait forever for an echo that died: end the pong queue.
    echo.on('exit', () => { if (!finished) { try { pong.end(); } catch { /* closed */ } } });
    const t0 = Date.now();
    for (;;) { // ready: the echo sends one message first
      const m = pong.tryReceive();
      if (m !== undefined) break;
      if (Date.now() - t0 > 10000 || echo.exitCode !== null) throw new Error('echo process never became ready');
      await sleep(1);
    }
    const msg = Buffer.alloc(RT_BYTES, 0x61);
    const samples = new Float64Array(n);
    const deadline = now() + BigInt(deadlineMs) * 1000000n;
    let done = 0, bad = 0, timedOut = false, c0 = null, w0 = 0n;
    if (mode === 'async') {
      for (let i = 1; i <= total; i++) {
        if (i === warm + 1) { c0 = usage(); w0 = now(); }
        if (pauseNs !== 0n) busyWaitNs(pauseNs);
        wr32(msg, i);
        const t0 = now();
        if (!ping.trySend(msg)) throw new Error('ping queue full');
        const r = await pong.receive();
        const t1 = now();
        if (r.length !== RT_BYTES || rd32(r) !== i) bad++;
        if (i > warm) samples[done++] = Number(t1 - t0);
        if (t1 > deadline) { timedOut = i < total; break; }
      }
    } else if (mode === 'sync') {
      for (let i = 1; i <= total; i++) {
        if (i === warm + 1) { c0 = usage(); w0 = now(); }
        if (pauseNs !== 0n) busyWaitNs(pauseNs);
        wr32(msg, i);
        const t0 = now();
        if (!ping.trySend(msg)) throw new Error('ping queue full');
        const r = pong.receiveSync();
        const t1 = now();
        if (r.length !== RT_BYTES || rd32(r) !== i) bad++;
        if (i > warm) samples[done++] = Number(t1 - t0);
        if (t1 > deadline) { timedOut = i < total; break; }
      }
    } else {
      outer: for (let i = 1; i <= total; i++) {
        if (i === warm + 1) { c0 = usage(); w0 = now(); }
        if (pauseNs !== 0n) busyWaitNs(pauseNs);
        wr32(msg, i);
        const t0 = now();
        if (!ping.trySend(msg)) throw new Error('ping queue full');
        let r, polls = 0;
        while ((r = pong.tryReceive()) === undefined) {
          if ((++polls & 4095) === 0 && now() > deadline) { timedOut = true; break outer; }
        }
        const t1 = now();
        if (r.length !== RT_BYTES || rd32(r) !== i) bad++;
        if (i > warm) samples[done++] = Number(t1 - t0);
        if (t1 > deadline) { timedOut = i < total; break; }
      }
    }
    const u = c0 ? usageSince(c0) : { cpu: 0, vcsw: 0 };
    const wallUs = w0 ? Number(now() - w0) / 1000 : 0;
    finished = true;
    ping.end(); // the echo stops
    await reap(echo);
    const e = lastJson(echoOut);
    Object.assign(result, summarize(samples, done), {
      ok: !timedOut && done === n && bad === 0 && e?.ok === true, timed_out: timedOut, bad,
      pinger_cpu_us: u.cpu, echo_cpu_us: e?.cpu_us ?? null, pinger_vcsw: u.vcsw, echo_vcsw: e?.vcsw ?? null, wall_us: wallUs,
      ...(bad ? { error: `${bad} replies with a wrong sequence number` } : e?.ok === false ? { error: `echo: ${e.error}` } : {}),
    });
  } finally {
    finished = true;
    if (echo && echo.exitCode === null && echo.signalCode === null) echo.kill('SIGKILL');
    ping.close();
    pong.close();
    for (const nm of [args.ping, args.pong]) { try { Queue.unlink(nm); } catch { /* gone */ } }
  }
  emit(result);
}

// The JS floor: the C reference's protocol (one 64-byte line each way: a
// sequence word, the payload copied in and out) in plain JavaScript on a
// shared segment, no queue. What any JS API over shared memory starts from.
async function roleRawPing() {
  const deadlineMs = args['deadline-ms'];
  startWatchdog(deadlineMs + 8000, 1000, [`/dev/shm${args.ping}`]);
  const { Segment } = await loadLib();
  const n = args.n, warm = args.warm, total = n + warm;
  const seg = Segment.create(args.ping, { size: 4096 });
  const i32 = new Int32Array(seg.buffer, 0, 64), u8 = new Uint8Array(seg.buffer);
  let echo = null, echoOut = '';
  const result = { ok: false };
  try {
    echo = spawn(process.execPath, [SELF, '--role', 'raw-echo', '--ping', args.ping, '--n', String(n), '--warm', String(warm),
      '--hard-ms', String(deadlineMs + 6000)], { stdio: ['ignore', 'pipe', 'inherit'] });
    echo.stdout.on('data', (d) => { echoOut += d; });
    const t0 = Date.now();
    while (Atomics.load(i32, 32) === 0) { // ready flag
      if (Date.now() - t0 > 10000 || echo.exitCode !== null) throw new Error('echo process never became ready');
      await sleep(1);
    }
    const msg = Buffer.alloc(RT_BYTES - 8, 0x61), back = Buffer.alloc(RT_BYTES - 8);
    const samples = new Float64Array(n);
    const deadline = now() + BigInt(deadlineMs) * 1000000n;
    let done = 0, bad = 0, timedOut = false, c0 = null, w0 = 0n;
    outer: for (let i = 1; i <= total; i++) {
      if (i === warm + 1) { c0 = usage(); w0 = now(); }
      wr32(msg, i);
      const t0 = now();
      u8.set(msg, 8);
      Atomics.store(i32, 0, i);
      let polls = 0;
      while (Atomics.load(i32, 16) !== i) {
        if ((++polls & 4095) === 0 && now() > deadline) { timedOut = true; break outer; }
      }
      back.set(u8.subarray(72, 64 + RT_BYTES));
      const t1 = now();
      if (rd32(back) !== i) bad++;
      if (i > warm) samples[done++] = Number(t1 - t0);
    }
    const u = c0 ? usageSince(c0) : { cpu: 0, vcsw: 0 };
    const wallUs = w0 ? Number(now() - w0) / 1000 : 0;
    Atomics.store(i32, 0, -1); // stop
    await reap(echo);
    const e = lastJson(echoOut);
    Object.assign(result, summarize(samples, done), {
      ok: !timedOut && done === n && bad === 0 && e?.ok === true, timed_out: timedOut, bad,
      pinger_cpu_us: u.cpu, echo_cpu_us: e?.cpu_us ?? null, pinger_vcsw: u.vcsw, echo_vcsw: e?.vcsw ?? null, wall_us: wallUs,
    });
  } finally {
    if (echo && echo.exitCode === null && echo.signalCode === null) echo.kill('SIGKILL');
    seg.close();
    try { Segment.unlink(args.ping); } catch { /* gone */ }
  }
  emit(result);
}

async function roleRawEcho() {
  startWatchdog(args['hard-ms']);
  const { Segment } = await loadLib();
  const seg = Segment.open(args.ping);
  const i32 = new Int32Array(seg.buffer, 0, 64), u8 = new Uint8Array(seg.buffer);
  const total = args.n + args.warm, warm = args.warm;
  const tmp = Buffer.alloc(RT_BYTES - 8);
  let c0 = usage(), u = null;
  Atomics.store(i32, 32, 1); // ready
  for (let i = 1; i <= total; i++) {
    let v;
    while ((v = Atomics.load(i32, 0)) !== i) if (v === -1) break;
    if (v === -1) break;
    tmp.set(u8.subarray(8, RT_BYTES));
    u8.set(tmp, 72);
    Atomics.store(i32, 16, i);
    if (i === warm) c0 = usage();
    else if (i === total) u = usageSince(c0);
  }
  seg.close();
  emit({ ok: u !== null, cpu_us: u?.cpu ?? null, vcsw: u?.vcsw ?? null });
}

async function roleLatEcho() {
  startWatchdog(args['hard-ms']);
  const { Queue } = await loadLib();
  const ping = Queue.open(args.ping, spinOpt()), pong = Queue.open(args.pong, spinOpt());
  const total = args.n + args.warm, warm = args.warm, mode = args.mode;
  let count = 0, c0 = usage(), u = null;
  pong.trySend(Buffer.from([1])); // ready
  const reply = (m) => {
    if (!pong.trySend(m)) throw new Error('pong queue full');
    count++;
    if (count === warm) c0 = usage();
    else if (count === total) u = usageSince(c0);
  };
  if (mode === 'async') {
    for (;;) {
      let m;
      try { m = await ping.receive(); } catch (e) { if (e.code === ENDED) break; throw e; }
      reply(m);
    }
  } else if (mode === 'sync') {
    for (;;) {
      let m;
      try { m = ping.receiveSync(); } catch (e) { if (e.code === ENDED) break; throw e; }
      reply(m);
    }
  } else {
    let polls = 0, endSeen = false;
    for (;;) {
      const m = ping.tryReceive();
      if (m === undefined) {
        if (endSeen) break;
        if ((++polls & 1023) === 0) endSeen = ping.ended;
        continue;
      }
      reply(m);
    }
  }
  ping.close();
  pong.close();
  emit({ ok: u !== null, cpu_us: u?.cpu ?? null, vcsw: u?.vcsw ?? null, echoed: count, ...(u ? {} : { error: `echoed ${count} of ${total}` }) });
}

// ------------------------------------------------------------------------------ 1x: sockets and process.send

// Socket round trip, 64 raw bytes each way (u32 sequence number first), echo process.
async function roleSockPing() {
  const deadlineMs = args['deadline-ms'];
  const tcp = args.transport === 'tcp';
  startWatchdog(deadlineMs + 8000, 1000, tcp ? [] : [args.sock]);
  const n = args.n, warm = args.warm, total = n + warm, SIZE = RT_BYTES;
  const pauseNs = BigInt(Math.round((args['pause-us'] ?? 0) * 1000));
  if (!tcp) { try { fs.unlinkSync(args.sock); } catch { /* none */ } }
  const server = net.createServer();
  let child = null, childOut = '';
  const result = await new Promise((resolve) => {
    server.on('error', (e) => resolve({ ok: false, error: String(e) }));
    const onListening = () => {
      const addr = tcp ? String(server.address().port) : args.sock;
      child = spawn(...pinned(args['echo-cpu'], process.execPath, [SELF, '--role', 'sock-echo', '--transport', tcp ? 'tcp' : 'unix',
        '--addr', addr, '--n', String(n), '--warm', String(warm), '--hard-ms', String(deadlineMs + 6000)]), { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.on('data', (d) => { childOut += d; });
      child.on('exit', () => resolve({ ok: false, error: 'echo exited early' }));
    };
    if (tcp) server.listen(0, '127.0.0.1', onListening);
    else server.listen(args.sock, onListening);
    server.on('connection', (sock) => {
      if (tcp) sock.setNoDelay(true);
      const msg = Buffer.alloc(SIZE, 0x61);
      const samples = new Float64Array(n);
      const deadline = now() + BigInt(deadlineMs) * 1000000n;
      const chunks = [];
      let i = 1, have = 0, done = 0, bad = 0, t0 = 0n, c0 = null, w0 = 0n;
      const send = () => {
        if (i === warm + 1) { c0 = usage(); w0 = now(); }
        if (pauseNs !== 0n) busyWaitNs(pauseNs);
        const b = Buffer.from(msg); // a fresh Buffer: write() may keep a reference
        wr32(b, i);
        t0 = now();
        sock.write(b);
      };
      sock.on('data', (d) => {
        chunks.push(d);
        have += d.length;
        if (have < SIZE) return;
        const t1 = now();
        const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        chunks.length = 0;
        if (buf.length !== SIZE || rd32(buf) !== i) bad++;
        have = 0;
        if (i > warm) samples[done++] = Number(t1 - t0);
        if (i === total || t1 > deadline) {
          const timedOut = i < total;
          const u = c0 ? usageSince(c0) : { cpu: 0, vcsw: 0 };
          const wall = w0 ? Number(now() - w0) / 1000 : 0;
          sock.end();
          server.close();
          resolve({ ...summarize(samples, done), ok: !timedOut && bad === 0, timed_out: timedOut, bad, pinger_cpu_us: u.cpu, pinger_vcsw: u.vcsw, wall_us: wall });
          return;
        }
        i++;
        send();
      });
      sock.on('error', () => {});
      send();
    });
  });
  if (child) {
    await reap(child);
    const e = lastJson(childOut);
    result.echo_cpu_us = e?.cpu_us ?? null;
    result.echo_vcsw = e?.vcsw ?? null;
  }
  if (!tcp) { try { fs.unlinkSync(args.sock); } catch { /* gone */ } }
  emit(result);
}

async function roleSockEcho() {
  startWatchdog(args['hard-ms']);
  const tcp = args.transport === 'tcp';
  const sock = tcp ? net.connect(Number(args.addr), '127.0.0.1') : net.connect(String(args.addr));
  if (tcp) sock.on('connect', () => sock.setNoDelay(true));
  echoFrames(sock, RT_BYTES, args.n + args.warm, args.warm);
}

// child_process IPC: fork(), process.send() of a 64-character string (default JSON
// serialization); the first 8 characters carry the sequence number in hex.
async function roleIpcPing() {
  const deadlineMs = args['deadline-ms'];
  startWatchdog(deadlineMs + 8000);
  const n = args.n, warm = args.warm, total = n + warm;
  const tail = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX'.padEnd(RT_BYTES - 8, '-');
  const child = fork(SELF, ['--role', 'ipc-echo', '--n', String(n), '--warm', String(warm), '--hard-ms', String(deadlineMs + 6000)],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let childOut = '';
  child.stdout.on('data', (d) => { childOut += d; });
  const result = await new Promise((resolve) => {
    const samples = new Float64Array(n);
    const deadline = now() + BigInt(deadlineMs) * 1000000n;
    let i = 1, done = 0, bad = 0, t0 = 0n, c0 = null, w0 = 0n;
    const send = () => {
      if (i === warm + 1) { c0 = usage(); w0 = now(); }
      const s = i.toString(16).padStart(8, '0') + tail;
      t0 = now();
      child.send(s);
    };
    child.on('exit', () => resolve({ ok: false, error: 'echo exited early' }));
    child.on('message', (m) => {
      const t1 = now();
      if (m === 'ready') { send(); return; }
      if (typeof m !== 'string' || m.length !== RT_BYTES || parseInt(m.slice(0, 8), 16) !== i) bad++;
      if (i > warm) samples[done++] = Number(t1 - t0);
      if (i === total || t1 > deadline) {
        const timedOut = i < total;
        const u = c0 ? usageSince(c0) : { cpu: 0, vcsw: 0 };
        const wall = w0 ? Number(now() - w0) / 1000 : 0;
        resolve({ ...summarize(samples, done), ok: !timedOut && bad === 0, timed_out: timedOut, bad, pinger_cpu_us: u.cpu, pinger_vcsw: u.vcsw, wall_us: wall });
        return;
      }
      i++;
      send();
    });
  });
  child.disconnect?.();
  await reap(child);
  const e = lastJson(childOut);
  result.echo_cpu_us = e?.cpu_us ?? null;
  result.echo_vcsw = e?.vcsw ?? null;
  emit(result);
}

async function roleIpcEcho() {
  startWatchdog(args['hard-ms']);
  const total = args.n + args.warm, warm = args.warm;
  let count = 0, c0 = usage();
  process.on('message', (m) => {
    process.send(m);
    count++;
    if (count === warm) c0 = usage();
    if (count === total) { const u = usageSince(c0); emit({ ok: true, cpu_us: u.cpu, vcsw: u.vcsw }); }
  });
  process.on('disconnect', () => process.exit(0));
  process.send('ready');
}

// ------------------------------------------------------------------------------ 2: one-way throughput

// Consumer = this process (creates the Queue, measures); producer = a child process.
async function roleTputCons() {
  const warmMs = args['warm-ms'], measureMs = args['measure-ms'];
  const hardMs = warmMs + measureMs + 15000;
  startWatchdog(hardMs, 1000, [`/dev/shm${args.name}`]);
  const { Queue } = await loadLib();
  const api = args.api, size = args.size, recvBatch = args['recv-batch'];
  const q = Queue.create(args.name, { capacity: RING_CAPACITY });
  let prod = null, prodOut = '', result;
  try {
    prod = spawn(process.execPath, [SELF, '--role', 'tput-prod', '--api', api, '--size', String(size), '--batch', String(args.batch),
      ...(args['max-msgs'] ? ['--max-msgs', String(args['max-msgs'])] : []),
      '--name', args.name, '--duration-ms', String(warmMs + measureMs), '--hard-ms', String(hardMs - 2000)], { stdio: ['ignore', 'pipe', 'inherit'] });
    prod.stdout.on('data', (d) => { prodOut += d; });
    const meter = new Meter(warmMs, size >= 4096 ? 1 : 256, args['warm-msgs'] ?? Infinity);
    const hard = now() + BigInt(warmMs + measureMs + 8000) * 1000000n;
    const checkTail = api === 'zc'; // the producer filled the whole message
    let expected = 0, bad = 0, polls = 0, endSeen = false, hitHard = false;
    // The loop bodies are written out per API so that each one stays simple for the JIT.
    if (api === 'copy') {
      for (;;) {
        const m = q.tryReceive();
        if (m === undefined) {
          if (endSeen) break;
          if ((++polls & 1023) === 0) { endSeen = q.ended; if (now() > hard) { hitHard = true; break; } }
          continue;
        }
        if (m.length !== size || rd32(m) !== expected) bad++;
        expected = (expected + 1) >>> 0;
        if (++meter.count === 1) meter.first();
        else meter.tick();
      }
    } else if (api === 'into') { // tryReceiveInto: one caller-owned buffer, no allocation
      const target = Buffer.alloc(size);
      for (;;) {
        const len = q.tryReceiveInto(target);
        if (len < 0) {
          if (endSeen) break;
          if ((++polls & 1023) === 0) { endSeen = q.ended; if (now() > hard) { hitHard = true; break; } }
          continue;
        }
        if (len !== size || rd32(target) !== expected) bad++;
        expected = (expected + 1) >>> 0;
        if (++meter.count === 1) meter.first();
        else meter.tick();
      }
    } else if (api === 'many') {
      for (;;) {
        const arr = q.tryReceiveMany(recvBatch);
        const k = arr.length;
        if (k === 0) {
          if (endSeen) break;
          if ((++polls & 1023) === 0) { endSeen = q.ended; if (now() > hard) { hitHard = true; break; } }
          continue;
        }
        for (let j = 0; j < k; j++) {
          const m = arr[j];
          if (m.length !== size || rd32(m) !== expected) bad++;
          expected = (expected + 1) >>> 0;
        }
        meter.addBatch(k);
      }
    } else { // zc, zch: tryPeek() a view into the ring, read a few bytes, release()
      for (;;) {
        const v = q.tryPeek();
        if (v === undefined) {
          if (endSeen) break;
          if ((++polls & 1023) === 0) { endSeen = q.ended; if (now() > hard) { hitHard = true; break; } }
          continue;
        }
        if (v.length !== size || rd32(v) !== expected || (checkTail && v[size - 1] !== FILL)) bad++;
        q.release();
        expected = (expected + 1) >>> 0;
        if (++meter.count === 1) meter.first();
        else meter.tick();
      }
    }
    result = meter.finish(size);
    await reap(prod, 5000);
    const p = lastJson(prodOut);
    Object.assign(result, {
      sent: p?.sent ?? null, producer_cpu_us: p?.cpu_us ?? null, bad, hit_hard_limit: hitHard,
    });
    const problems = [];
    if (bad) problems.push(`${bad} messages with a wrong sequence number or content`);
    if (!p || p.ok === false) problems.push(`producer: ${p?.error ?? 'no result'}`);
    else if (p.sent !== meter.count) problems.push(`received ${meter.count} of ${p.sent} sent`);
    if (hitHard) problems.push('hit the hard limit');
    if (result.ok === false) problems.push(result.error);
    result.ok = problems.length === 0;
    if (problems.length) result.error = problems.join('; ');
  } finally {
    if (prod && prod.exitCode === null && prod.signalCode === null) prod.kill('SIGKILL');
    q.close();
    try { Queue.unlink(args.name); } catch { /* gone */ }
  }
  emit(result);
}

async function roleTputProd() {
  startWatchdog(args['hard-ms']);
  const { Queue } = await loadLib();
  const q = Queue.open(args.name);
  const api = args.api, size = args.size, batch = args.batch;
  const maxMsgs = args['max-msgs'] ?? 2 ** 31; // stop after this many messages even if time is left
  const tEnd = now() + BigInt(args['duration-ms']) * 1000000n;
  const hard = tEnd + 5000000000n;
  const msg = Buffer.alloc(size, FILL);
  let seq = 0, polls = 0, stuck = false, wedged = false, emptySince = 0n;
  // Called every 1024 failed attempts to send. A send that keeps failing while the Queue
  // is empty is not back-pressure: the Queue refuses messages it has room for (see the notes
  // in the report), so give up after 20 ms of that instead of waiting for the hard limit.
  const giveUp = () => {
    const t = now();
    if (t > hard) { stuck = true; return true; }
    if (q.bytesUsed !== 0) { emptySince = 0n; return false; }
    if (emptySince === 0n) emptySince = t;
    else if (t - emptySince > 20000000n) { wedged = true; return true; }
    return false;
  };
  const c0 = usage();
  if (api === 'copy' || api === 'into') {
    for (;;) {
      if (seq >= maxMsgs || ((seq & 63) === 0 && now() >= tEnd)) break;
      wr32(msg, seq);
      while (!q.trySend(msg)) {
        if ((++polls & 1023) === 0 && giveUp()) break;
      }
      if (stuck || wedged) break;
      seq = (seq + 1) >>> 0;
    }
  } else if (api === 'many') {
    const bufs = Array.from({ length: batch }, () => Buffer.alloc(size, FILL));
    for (;;) {
      if (seq >= maxMsgs || now() >= tEnd) break;
      const b = Math.min(batch, maxMsgs - seq);
      for (let j = 0; j < b; j++) wr32(bufs[j], (seq + j) >>> 0);
      let pending = b === batch ? bufs : bufs.slice(0, b);
      for (;;) {
        const k = q.trySendMany(pending);
        if (k === pending.length) break;
        if (k > 0) { pending = pending.slice(k); seq = (seq + k) >>> 0; }
        else if ((++polls & 1023) === 0 && giveUp()) break;
      }
      if (stuck || wedged) break;
      seq = (seq + pending.length) >>> 0;
    }
  } else { // zc: fill the whole reservation (copy in); zch: write only the sequence number
    const fill = api === 'zc';
    for (;;) {
      if (seq >= maxMsgs || ((seq & 63) === 0 && now() >= tEnd)) break;
      let v;
      while ((v = q.tryReserve(size)) === undefined) {
        if ((++polls & 1023) === 0 && giveUp()) break;
      }
      if (stuck || wedged) break;
      if (fill) v.set(msg);
      wr32(v, seq);
      q.commit();
      seq = (seq + 1) >>> 0;
    }
  }
  const u = usageSince(c0);
  q.end();
  const st = q.stats();
  q.close();
  emit({
    ok: !stuck && !wedged, sent: seq, cpu_us: u.cpu, wedged,
    ...(stuck ? { error: 'queue stayed full for 5 s' } : {}),
    ...(wedged ? { error: `WEDGED: the empty Queue refused every new message after ${st.sent} messages (≈ 2^31 bytes of ring positions: positions >= 2^31 are negative int32s, which look like the -1 "no room" sentinel)` } : {}),
  });
}

// One process, one Queue: tryReserve/commit + tryPeek/release of 64 KiB messages (4-byte
// sequence number only) until the ring's byte positions have passed 2^31; every message
// must go through. Takes well under a second.
async function roleWrapCheck() {
  startWatchdog(20000, 1000, [`/dev/shm${args.name}`]);
  const { Queue } = await loadLib();
  const q = Queue.create(args.name, { capacity: RING_CAPACITY });
  const size = 65536, total = args.count;
  const perLap = Math.floor(RING_CAPACITY / (size + 8));
  let delivered = 0, bad = 0, failedAt = null, trySendAfter = null, what = '';
  try {
    for (let i = 0; i < total; i++) {
      const v = q.tryReserve(size);
      if (v === undefined) { failedAt = i; what = 'tryReserve() returned undefined on an empty Queue'; break; }
      wr32(v, i);
      q.commit();
      const m = q.tryPeek();
      if (m === undefined) { failedAt = i; what = 'tryPeek() returned undefined after a commit()'; break; }
      if (rd32(m) !== i) bad++;
      q.release();
      delivered++;
    }
    if (failedAt !== null) trySendAfter = q.trySend(Buffer.alloc(64)); // the simplest send, on the same empty Queue
  } finally {
    q.close();
    try { Queue.unlink(args.name); } catch { /* gone */ }
  }
  emit({
    ok: failedAt === null && bad === 0, count: total, delivered, bad, failed_at: failedAt, laps_at_failure: failedAt === null ? null : failedAt / perLap,
    try_send_after: trySendAfter,
    ...(failedAt !== null ? { error: `${what} after ${failedAt} messages (${failedAt / perLap} laps of the 1 MiB ring = ${failedAt / perLap * RING_CAPACITY} bytes of positions); trySend() of 64 B then returned ${trySendAfter}` } : {}),
  });
}

// Unix domain socket one-way: the child writes frames as fast as write()/'drain' allow.
async function roleSockTputCons() {
  const warmMs = args['warm-ms'], measureMs = args['measure-ms'];
  const hardMs = warmMs + measureMs + 15000;
  startWatchdog(hardMs, 1000, [args.sock]);
  const size = args.size;
  try { fs.unlinkSync(args.sock); } catch { /* none */ }
  const server = net.createServer();
  let child = null, childOut = '';
  const result = await new Promise((resolve) => {
    server.on('error', (e) => resolve({ ok: false, error: String(e) }));
    server.listen(args.sock, () => {
      child = spawn(process.execPath, [SELF, '--role', 'sock-tput-prod', '--sock', args.sock, '--size', String(size),
        '--duration-ms', String(warmMs + measureMs), '--hard-ms', String(hardMs - 2000)], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.on('data', (d) => { childOut += d; });
    });
    server.on('connection', (sock) => {
      const meter = new Meter(warmMs, size >= 4096 ? 1 : 256);
      let expected = 0, bad = 0, finished = false;
      const framer = new Framer((p, ctrl) => {
        if (ctrl) { // END: f64 count of frames the producer wrote
          finished = true;
          const sent = p.readDoubleLE(0);
          const r = meter.finish(size);
          const problems = [];
          if (bad) problems.push(`${bad} frames with a wrong sequence number or size`);
          if (sent !== meter.count) problems.push(`received ${meter.count} of ${sent} sent`);
          if (r.ok === false) problems.push(r.error);
          Object.assign(r, { ok: problems.length === 0, sent, bad, ...(problems.length ? { error: problems.join('; ') } : {}) });
          sock.destroy();
          server.close();
          resolve(r);
          return;
        }
        if (p.length !== size || rd32(p) !== expected) bad++;
        expected = (expected + 1) >>> 0;
        if (++meter.count === 1) meter.first();
        else meter.tick();
      });
      sock.on('data', (d) => { if (!finished) framer.push(d); });
      sock.on('error', () => {});
    });
  });
  if (child) {
    await reap(child);
    const p = lastJson(childOut);
    result.producer_cpu_us = p?.cpu_us ?? null;
  }
  try { fs.unlinkSync(args.sock); } catch { /* gone */ }
  emit(result);
}

async function roleSockTputProd() {
  startWatchdog(args['hard-ms']);
  const size = args.size;
  const sock = net.connect(String(args.sock));
  sock.on('error', () => process.exit(0));
  sock.on('close', () => process.exit(0));
  sock.on('connect', () => {
    const tEnd = now() + BigInt(args['duration-ms']) * 1000000n;
    const small = size <= 4096;
    const template = Buffer.alloc(4 + size, FILL);
    template.writeUInt32LE(size, 0);
    const rest = template.subarray(8); // 64 KiB: constant tail of the frame, never modified
    let sent = 0;
    const c0 = usage();
    // write() may keep a reference to the Buffer until it is flushed: every frame's
    // stamped part is a fresh Buffer. 64 B: one 68-byte Buffer per frame; 64 KiB: an
    // 8-byte header (length + sequence number) and the constant tail, two write()s.
    const pump = () => {
      for (;;) {
        if ((sent & 63) === 0 && now() >= tEnd) {
          const e = Buffer.alloc(12);
          e.writeUInt32LE((8 | 0x80000000) >>> 0, 0);
          e.writeDoubleLE(sent, 4);
          sock.write(e, () => { const u = usageSince(c0); emit({ ok: true, sent, cpu_us: u.cpu }); });
          return;
        }
        let ok;
        if (small) {
          const f = Buffer.allocUnsafe(4 + size);
          template.copy(f);
          wr32(f, sent, 4);
          ok = sock.write(f);
        } else {
          const h = Buffer.allocUnsafe(8);
          template.copy(h, 0, 0, 8);
          wr32(h, sent, 4);
          sock.write(h);
          ok = sock.write(rest);
        }
        sent++;
        if (!ok) { sock.once('drain', pump); return; }
      }
    };
    pump();
  });
}

// ------------------------------------------------------------------------------ 3: several producers and consumers

const CTL_READY = 0, CTL_GO = 1, CTL_STOP = 2;

async function roleMpmc() {
  const warmMs = args['warm-ms'], measureMs = args['measure-ms'];
  const hardMs = warmMs + measureMs + 30000;
  startWatchdog(hardMs, 1000, [`/dev/shm${args.name}`, `/dev/shm${args.ctl}`]);
  const { Queue, Segment } = await loadLib();
  const np = args.np, nc = args.nc, api = args.api;
  const q = Queue.create(args.name, { capacity: RING_CAPACITY });
  const seg = Segment.create(args.ctl, { size: 4096 });
  const ctl = new Int32Array(seg.buffer, 0, 16);
  const kids = [];
  const result = { ok: false };
  try {
    const start = (role, id) => {
      const c = spawn(process.execPath, [SELF, '--role', role, '--api', api, '--id', String(id), '--np', String(np), '--name', args.name,
        '--ctl', args.ctl, '--hard-ms', String(hardMs - 3000)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const k = { role, id, c, out: '' };
      c.stdout.on('data', (d) => { k.out += d; });
      kids.push(k);
    };
    for (let i = 0; i < np; i++) start('mpmc-prod', i);
    for (let i = 0; i < nc; i++) start('mpmc-cons', i);
    const t0 = Date.now();
    while (Atomics.load(ctl, CTL_READY) < np + nc) {
      if (Date.now() - t0 > 20000 || kids.some((k) => k.c.exitCode !== null)) throw new Error('children never became ready');
      await sleep(2);
    }
    Atomics.store(ctl, CTL_GO, 1);
    await sleep(warmMs);
    const r0 = q.stats().received, w0 = now();
    await sleep(measureMs);
    const r1 = q.stats().received, w1 = now();
    Atomics.store(ctl, CTL_STOP, 1);
    const prods = kids.filter((k) => k.role === 'mpmc-prod'), cons = kids.filter((k) => k.role === 'mpmc-cons');
    await Promise.all(prods.map((k) => reap(k.c, 5000)));
    q.end();
    await Promise.all(cons.map((k) => reap(k.c, 5000)));
    const P = prods.map((k) => lastJson(k.out)), C = cons.map((k) => lastJson(k.out));
    const problems = [];
    P.forEach((p, i) => { if (!p || p.ok === false) problems.push(`producer ${i}: ${p?.error ?? 'no result'}`); });
    C.forEach((c, i) => { if (!c || c.ok === false) problems.push(`consumer ${i}: ${c?.error ?? 'no result'}`); });
    let totalSent = 0, totalRecv = 0, cpu = 0;
    if (problems.length === 0) {
      for (let i = 0; i < np; i++) {
        const sent = P[i].sent;
        totalSent += sent;
        let cnt = 0, sum = 0;
        for (const c of C) { cnt += c.count[i]; sum += c.sum[i]; }
        if (cnt !== sent || sum !== sent * (sent - 1) / 2) problems.push(`producer ${i}: sent ${sent}, consumers got ${cnt} (sequence sum ${sum === sent * (sent - 1) / 2 ? 'ok' : 'wrong'})`);
      }
      for (const c of C) { totalRecv += c.received; if (c.bad) problems.push(`a consumer saw ${c.bad} out-of-order messages`); }
      cpu = [...P, ...C].reduce((a, x) => a + x.cpu_us, 0);
    }
    const secs = Number(w1 - w0) / 1e9, msgs = (r1 - r0) >>> 0;
    Object.assign(result, {
      ok: problems.length === 0, np, nc, msgs, seconds: secs, msgs_per_s: msgs / secs, MB_per_s: msgs * RT_BYTES / secs / 1e6,
      sent_total: totalSent, received_total: totalRecv, cpu_us_total: cpu,
      producer_sent: P.map((p) => p?.sent ?? null), consumer_received: C.map((c) => c?.received ?? null),
      ...(problems.length ? { error: problems.join('; ') } : {}),
    });
  } finally {
    for (const k of kids) { if (k.c.exitCode === null && k.c.signalCode === null) k.c.kill('SIGKILL'); }
    q.close();
    seg.close();
    for (const nm of [args.name, args.ctl]) { try { Segment.unlink(nm); } catch { /* gone */ } }
  }
  emit(result);
}

async function mpmcJoin(Segment) {
  const seg = Segment.open(args.ctl);
  const ctl = new Int32Array(seg.buffer, 0, 16);
  Atomics.add(ctl, CTL_READY, 1);
  const t0 = Date.now();
  while (Atomics.load(ctl, CTL_GO) === 0) {
    if (Date.now() - t0 > 25000) throw new Error('never got the go');
    await sleep(1);
  }
  return ctl;
}

// Message: u32 sequence number (per producer), u32 producer id, then filler (64 B).
async function roleMpmcProd() {
  startWatchdog(args['hard-ms']);
  const { Queue, Segment } = await loadLib();
  const q = Queue.open(args.name);
  const id = args.id, api = args.api, BATCH = 64;
  const ctl = await mpmcJoin(Segment);
  let seq = 0;
  const c0 = usage();
  if (api === 'sync' || api === 'async') {
    const msg = Buffer.alloc(RT_BYTES, FILL);
    wr32(msg, id, 4);
    if (api === 'sync') {
      while (Atomics.load(ctl, CTL_STOP) === 0) { wr32(msg, seq); q.sendSync(msg); seq++; }
    } else {
      while (Atomics.load(ctl, CTL_STOP) === 0) { wr32(msg, seq); await q.send(msg); seq++; }
    }
  } else { // many: offer 64 per trySendMany(); when not all fit, sendSync() the next one (waits)
    const bufs = Array.from({ length: BATCH }, () => { const b = Buffer.alloc(RT_BYTES, FILL); wr32(b, id, 4); return b; });
    while (Atomics.load(ctl, CTL_STOP) === 0) {
      for (let j = 0; j < BATCH; j++) wr32(bufs[j], seq + j);
      let pending = bufs;
      for (;;) {
        const k = q.trySendMany(pending);
        if (k === pending.length) break;
        q.sendSync(pending[k]);
        if (k + 1 === pending.length) break;
        pending = pending.slice(k + 1);
      }
      seq += BATCH;
    }
  }
  const u = usageSince(c0);
  q.close();
  emit({ ok: true, sent: seq, cpu_us: u.cpu });
}

async function roleMpmcCons() {
  startWatchdog(args['hard-ms']);
  const { Queue, Segment } = await loadLib();
  const q = Queue.open(args.name);
  const np = args.np, api = args.api;
  await mpmcJoin(Segment);
  const last = new Array(np).fill(-1), count = new Array(np).fill(0), sum = new Array(np).fill(0);
  let received = 0, bad = 0;
  const take = (m) => {
    const s = rd32(m), p = rd32(m, 4);
    if (m.length !== RT_BYTES || p >= np || s <= last[p]) { bad++; return; }
    last[p] = s;
    count[p]++;
    sum[p] += s;
    received++;
  };
  const c0 = usage();
  try {
    if (api === 'sync') {
      for (;;) take(q.receiveSync());
    } else if (api === 'async') {
      for (;;) take(await q.receive());
    } else { // many: take up to 64 that are there; when none, receiveSync() one (waits)
      for (;;) {
        const arr = q.tryReceiveMany(64);
        if (arr.length === 0) take(q.receiveSync());
        else for (let j = 0; j < arr.length; j++) take(arr[j]);
      }
    }
  } catch (e) {
    if (e.code !== ENDED) throw e;
  }
  const u = usageSince(c0);
  q.close();
  emit({ ok: true, received, bad, count, sum, cpu_us: u.cpu });
}

// ------------------------------------------------------------------------------ orchestrator

function probeCell(r) {
  const f = (p) => (p == null ? '—' : p === Infinity ? 'stalled' : fmtUs(p));
  return r?.probe_before == null && r?.probe_after == null ? '—' : `${f(r.probe_before)} → ${f(r.probe_after)}`;
}
function notesOf(r) {
  if (!r) return 'not run';
  if (r.skipped) return `skipped: ${r.skipped}`;
  const f = [];
  if (r.ok === false) f.push('**FAILED**');
  if (r.error) f.push(`${r.error}${r.stderr ? ` (${r.stderr})` : ''}`);
  if (r.timed_out) f.push(`hit deadline: n=${r.n}`);
  if (r.others_cpus > 0.25) f.push(`busy machine: others used ${fmtCpus(r.others_cpus)} CPU`);
  return f.join('; ');
}

async function orchestrate() {
  const tStart = Date.now();
  const quick = !!args.quick;
  const N = args.n ?? (quick ? 3000 : 20000);
  const WARM = args.warmup ?? (quick ? 1000 : 2000);
  const DEADLINE_MS = args['deadline-ms'] ?? (quick ? 6000 : 15000);
  const T_WARM = quick ? 300 : 500, T_MEAS = quick ? 1000 : 2000; // one-way throughput windows
  const M_WARM = quick ? 500 : 1000, M_MEAS = quick ? 1000 : 2000; // 3 + 3 windows
  const BUDGET_MS = quick ? 80000 : 225000;
  const PROBE_N = 10000;
  const only = args.only ? String(args.only).split(',') : null;
  const want = (id) => !only || only.some((o) => id === o || id.startsWith(o));
  const wantSec = (sec) => !only || only.some((o) => o.startsWith(sec) || sec.startsWith(o)); // a section with anything selected
  // --rows: exact row ids of sections 2 and 3 (a prefix would not do: '2-64-c' starts '2-64-copy')
  const rows = args.rows ? new Set(String(args.rows).split(',')) : null;
  const wantRow = (id) => (rows ? rows.has(id) : want(id.slice(0, id.indexOf('-'))) || want(id));
  const saveDir = resultsDir(args); // before the run: a bad --save fails at once
  const { tag, tmp, newName, log, remaining, cleanup } = startRun('channel-bench', BUDGET_MS, tStart);
  const R = {};
  try {
    await loadLib(); // fails early if dist/ is not built
    const info = machineInfo();

    const cbin = path.join(tmp, 'channel-ref');
    let cError = null;
    try {
      execFileSync(process.env.CC || 'cc', ['-O2', '-o', cbin, path.join(HERE, 'c', 'channel-ref.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) { cError = `cc failed: ${String(e.stderr || e.message).trim().split('\n')[0]}`; }

    let canPin = false;
    try { execFileSync('taskset', ['-c', '0,1', process.execPath, '-e', '0'], { stdio: 'ignore' }); canPin = info.nproc >= 2; } catch { /* no */ }
    const PIN_PING = 0, PIN_ECHO = 1;
    const node = process.execPath;

    const probe = async () => {
      if (cError) return null;
      // at most ~150 ms of round trips (fewer samples when they are slow)
      const r = await runJson(cbin, ['lat', 'spin', String(PROBE_N), '200', '0', '150', newName('probe')], { limitMs: 5000, detached: true });
      return r.n > 0 ? r.p50_ns : r.timed_out ? Infinity : null; // Infinity: not even the 200 warm-up round trips in 150 ms
    };
    // Runs one test (its own process group) between two probes.
    const run = async (id, label, cmd, argv, limitMs, { needsC = false } = {}) => {
      if (remaining() < Math.min(limitMs, 12000)) { R[id] = { ok: false, skipped: 'time budget exhausted' }; log(`${id} skipped (budget)`); return R[id]; }
      if (needsC && cError) { R[id] = { ok: false, error: cError }; return R[id]; }
      const pb = await probe();
      const s0 = cpuSnap();
      const r = await runJson(cmd, argv, { limitMs: Math.min(limitMs, remaining()), detached: true });
      const s1 = cpuSnap();
      r.probe_before = pb;
      r.probe_after = await probe();
      r.others_cpus = othersCpu(s0, s1);
      R[id] = r;
      log(`${id} ${label}: ${r.ok === false ? `FAILED ${r.error ?? ''} ` : ''}` +
        (r.p50_ns !== undefined ? `p50 ${fmtUs(r.p50_ns)} µs, p99 ${fmtUs(r.p99_ns)} µs, n ${r.n}` : '') +
        (r.msgs_per_s !== undefined ? `${fmtRate(r.msgs_per_s)} msgs/s, ${sig(r.MB_per_s)} MB/s` : '') +
        ` (${(r.wall_ms / 1000).toFixed(1)} s, others ${fmtCpus(r.others_cpus)} CPU)`);
      return r;
    };
    const latLimit = DEADLINE_MS + 15000;
    const skipPin = (id) => { R[id] = { ok: true, skipped: 'taskset or a second CPU not available' }; };
    const cLat = (id, mode, pause, pin = false) => {
      if (pin && !canPin) return skipPin(id);
      return run(id, `C ${mode}${pause ? ' pause' : ''}${pin ? ' pinned' : ''}`, cbin,
        ['lat', mode, String(N), String(WARM), String(pause), String(DEADLINE_MS), newName(id), ...(pin ? [String(PIN_PING), String(PIN_ECHO)] : [])],
        latLimit, { needsC: true });
    };
    const jsLat = (id, mode, pause, pin = false) => {
      if (pin && !canPin) return skipPin(id);
      const argv = [SELF, '--role', 'lat-ping', '--mode', mode, '--pause-us', String(pause), '--n', String(N), '--warm', String(WARM),
        '--deadline-ms', String(DEADLINE_MS), '--ping', newName(`${id}-ping`), '--pong', newName(`${id}-pong`),
        ...(pin ? ['--echo-cpu', String(PIN_ECHO)] : [])];
      const [c, a] = pin ? pinned(PIN_PING, node, argv) : [node, argv];
      return run(id, `Queue ${mode}${pause ? ' pause' : ''}${pin ? ' pinned' : ''}`, c, a, latLimit);
    };
    const sockLat = (id, transport, pause = 0, pin = false) => {
      if (pin && !canPin) return skipPin(id);
      const argv = [SELF, '--role', 'sock-ping', '--transport', transport, '--sock', path.join(tmp, `${id}.sock`), '--pause-us', String(pause),
        '--n', String(N), '--warm', String(WARM), '--deadline-ms', String(DEADLINE_MS), ...(pin ? ['--echo-cpu', String(PIN_ECHO)] : [])];
      const [c, a] = pin ? pinned(PIN_PING, node, argv) : [node, argv];
      return run(id, `${transport}${pause ? ' pause' : ''}${pin ? ' pinned' : ''}`, c, a, latLimit);
    };

    log(`${quick ? '--quick' : 'full'} run: n=${N}, warm-up=${WARM}, latency deadline ${DEADLINE_MS} ms, throughput ${T_WARM}+${T_MEAS} ms, ` +
      `3+3 ${M_WARM}+${M_MEAS} ms${cError ? `; ${cError}` : ''}${canPin ? '' : '; no pinning'}`);

    // ---- 1. round trips
    if (want('1a') || want('1b')) await cLat('1a-c', 'spin', 0);
    if (want('1a')) {
      await run('1a-raw', 'raw JS one line', node, [SELF, '--role', 'raw-ping', '--n', String(N), '--warm', String(WARM),
        '--deadline-ms', String(DEADLINE_MS), '--ping', newName('1a-raw')], latLimit);
      await jsLat('1a', 'spin', 0);
    }
    if (want('1b') || want('1c') || want('1x')) await sockLat('1x-uds', 'unix');
    if (want('1b')) {
      await jsLat('1b-s', 'sync', 0);
      await jsLat('1b-a', 'async', 0);
      // The reference: the Notifier's async round trip (await wait() on both
      // sides, default spin, no payload), measured by bench/sync.mjs's own
      // ping-pong roles: the wait core without a queue.
      const argv = [path.join(HERE, 'sync.mjs'), '--role', 'ping', '--ping-wait', 'async', '--echo-wait', 'async', '--spin', 'default',
        '--pause-us', '0', '--n', String(N), '--warm', String(WARM), '--deadline-ms', String(DEADLINE_MS),
        '--ping', newName('1b-n-ping'), '--pong', newName('1b-n-pong')];
      await run('1b-n', 'Notifier async', node, argv, latLimit);
    }
    if (want('1c')) {
      await cLat('1c-c', 'futex', 100);
      await jsLat('1c-s', 'sync', 100);
      await jsLat('1c-a', 'async', 100);
      await sockLat('1c-u', 'unix', 100);
      await cLat('1c-pc', 'futex', 100, true);
      await jsLat('1c-ps', 'sync', 100, true);
      await jsLat('1c-pa', 'async', 100, true);
      await sockLat('1c-pu', 'unix', 100, true);
    }
    if (want('1x')) {
      await sockLat('1x-tcp', 'tcp');
      await run('1x-ipc', 'process.send', node, [SELF, '--role', 'ipc-ping', '--n', String(N), '--warm', String(WARM), '--deadline-ms', String(DEADLINE_MS)], latLimit);
    }

    // ---- 2. one-way throughput
    const tLimit = T_WARM + T_MEAS + 20000;
    if (want('2') && !rows) await run('2-wrap', 'wrap check', node, [SELF, '--role', 'wrap-check', '--count', '34000', '--name', newName('2-wrap')], 25000);
    const SIZES = [64, 65536];
    const APIS = ['copy', 'into', 'many', 'zc', 'zch'];
    for (const size of SIZES) {
      const sz = size === 64 ? '64' : '64k';
      if (wantRow(`2-${sz}-c`)) await run(`2-${sz}-c`, `C ring ${size} B`, cbin, ['ring', String(size), String(T_WARM), String(T_MEAS), newName(`2-${sz}-c`)], tLimit, { needsC: true });
      for (const api of APIS) {
        if (wantRow(`2-${sz}-${api}`)) await run(`2-${sz}-${api}`, `Queue ${api} ${size} B`, node, [SELF, '--role', 'tput-cons', '--api', api, '--size', String(size),
          '--batch', '64', '--recv-batch', '64', '--name', newName(`2-${sz}-${api}`), '--warm-ms', String(T_WARM), '--measure-ms', String(T_MEAS)], tLimit);
      }
      if (wantRow(`2-${sz}-uds`)) await run(`2-${sz}-uds`, `Unix socket ${size} B`, node, [SELF, '--role', 'sock-tput-cons', '--size', String(size), '--sock', path.join(tmp, `2-${sz}.sock`),
        '--warm-ms', String(T_WARM), '--measure-ms', String(T_MEAS)], tLimit);
    }

    // ---- 3. several producers and consumers
    const mLimit = M_WARM + M_MEAS + 40000;
    const MPMC = [
      ['3-sync', 'sync', 3, 3], ['3-async', 'async', 3, 3], ['3-many', 'many', 3, 3], ['3-sync11', 'sync', 1, 1],
    ];
    for (const [id, api, np, nc] of MPMC) {
      if (rows ? !rows.has(id) : !want(id)) continue;
      await run(id, `${np}+${nc} ${api}`, node, [SELF, '--role', 'mpmc', '--api', api, '--np', String(np), '--nc', String(nc),
        '--name', newName(`${id}-q`), '--ctl', newName(`${id}-ctl`), '--warm-ms', String(M_WARM), '--measure-ms', String(M_MEAS)], mLimit);
    }

    // -------------------------------------------------------------------- report
    const out = [];
    out.push(`# shmkit channel benchmark: Queue (${quick ? '--quick' : 'full'} run)`, '');
    out.push(machineLine(info));
    out.push('');
    out.push('> Note: this runs on a small, shared VM. Absolute numbers are noisy (10–30 % between runs is common, ' +
      'more at p99/p99.9), parked hand-offs are bimodal (see "pinned" below), and the host moves vCPUs around: compare ratios within one run, ' +
      'look at the probe and "others" columns before trusting a row, and run it more than once.');
    out.push('');
    out.push('Columns common to all tables: **probe** = p50 of a C busy-spin ping-pong over one cache line (10 000 round trips or 150 ms, whichever comes first) run just before → just after the test ' +
      '(cache-to-cache latency of wherever the two vCPUs sit at the moment; ~0.1 µs is the good case here; "stalled": not even its 200 warm-up round trips got through in 150 ms, i.e. the two processes did not run at the same time); ' +
      '**others** = CPUs\' worth of time that processes other than this benchmark used during the test (/proc/stat busy time minus this process tree; 2.00 would be the whole machine here).');
    out.push('');

    const latHead = ['| test | n | p50 µs | p99 µs | p99.9 µs | mean µs | p50 ÷ ref | p99 ÷ ref | p50 ÷ Unix socket | CPU µs/RT (pinger + echo) | sleeps/RT (pinger + echo) | probe µs | others | notes |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---:|---|'];
    const latRow = (label, r, ref, sock) => {
      if (r?.skipped) return `| ${label} | | | | | | | | | | | | | skipped: ${r.skipped} |`;
      return `| ${label} | ${r?.n ?? '—'} | ${fmtUs(r?.p50_ns)} | ${fmtUs(r?.p99_ns)} | ${fmtUs(r?.p999_ns)} | ${fmtUs(r?.mean_ns)} | ` +
        `${ref ? fmtRatio(ratio(r?.p50_ns, ref?.p50_ns)) : ''} | ${ref ? fmtRatio(ratio(r?.p99_ns, ref?.p99_ns)) : ''} | ${sock ? fmtRatio(ratio(r?.p50_ns, sock?.p50_ns)) : ''} | ` +
        `${cpuPerRt(r)} | ${sleepsPerRt(r)} | ${probeCell(r)} | ${fmtCpus(r?.others_cpus)} | ${notesOf(r)} |`;
    };
    if (wantSec('1')) {
      out.push('## 1. Round trip of a 64-byte message between two processes over two Queues', '');
      out.push(`${N} timed round trips after ${WARM} warm-up ones. Queue rows: the pinger writes a sequence number into a 64 B Buffer and ` +
        '`ping.trySend(buf)` (copy into the ring); the echo takes it (`tryReceive`/`receiveSync`/`receive`: copy out into a new Buffer) and ' +
        '`pong.trySend()`s that Buffer; the pinger takes the reply the same way and checks the sequence number. Both sides use the same receive call. ' +
        'C rows (bench/c/channel-ref.c): one 64-byte cache line each way (4 B seq, 4 B len, 56 B payload), written in place, copied out by the echo and ' +
        'into the reply line, copied out and checked by the pinger. One sample = clock read, ping, wait for and take the reply, clock read, on the pinging side ' +
        '(Node `process.hrtime.bigint()`, C `clock_gettime`). Percentiles are nearest-rank. "ref" is the C row at the top of each group. ' +
        'CPU/RT = CPU time (user+sys, all threads, so shmkit\'s async parking thread too) of both processes over the timed part per round trip; ' +
        'sleeps/RT = voluntary context switches per round trip (~1 per side means that side parked every time). The Unix socket rows (Node `net`, ' +
        '64 raw bytes each way, the echo writes back what it read) are in 1x.');
      out.push('');
      out.push(...latHead);
      if (want('1a') || want('1b')) out.push(latRow('1a/1b ref: C busy-spin ping-pong, one cache line', R['1a-c']));
      if (want('1a')) {
        out.push(latRow('1a JS floor: the C row\'s protocol in plain JS (Atomics on one shared 64 B line each way, no queue)', R['1a-raw'], R['1a-c'], R['1x-uds']));
        out.push(latRow('1a shmkit: `tryReceive()` in a loop on both sides', R['1a'], R['1a-c'], R['1x-uds']));
      }
      if (want('1b')) {
        out.push(latRow('1b shmkit: `receiveSync()` (default spin), back to back', R['1b-s'], R['1a-c'], R['1x-uds']));
        out.push(latRow('1b shmkit: `await receive()` (default spin), back to back', R['1b-a'], R['1a-c'], R['1x-uds']));
        out.push(latRow('1b reference: Notifier `await wait()` (default spin), back to back, no payload', R['1b-n'], R['1a-c'], R['1x-uds']));
      }
      if (want('1c')) {
        out.push(latRow('1c ref: C futex ping-pong (FUTEX_WAIT at once, always FUTEX_WAKE), 100 µs pause', R['1c-c']));
        out.push(latRow('1c shmkit: `receiveSync()`, 100 µs pause before each ping', R['1c-s'], R['1c-c'], R['1c-u']));
        out.push(latRow('1c shmkit: `await receive()`, 100 µs pause', R['1c-a'], R['1c-c'], R['1c-u']));
        out.push(latRow('1c Unix socket, 100 µs pause', R['1c-u'], R['1c-c']));
        out.push(latRow('1c ref, pinned: C futex, 100 µs pause', R['1c-pc']));
        out.push(latRow('1c shmkit, pinned: `receiveSync()`, 100 µs pause', R['1c-ps'], R['1c-pc'], R['1c-pu']));
        out.push(latRow('1c shmkit, pinned: `await receive()`, 100 µs pause', R['1c-pa'], R['1c-pc'], R['1c-pu']));
        out.push(latRow('1c Unix socket, pinned, 100 µs pause', R['1c-pu'], R['1c-pc']));
      }
      if (want('1b') || want('1c') || want('1x')) out.push(latRow('1x Node Unix domain socket (`net`), back to back', R['1x-uds'], R['1a-c']));
      if (want('1x')) {
        out.push(latRow('1x Node TCP 127.0.0.1, `setNoDelay(true)`, back to back', R['1x-tcp'], R['1a-c'], R['1x-uds']));
        out.push(latRow('1x child_process IPC, `process.send()` of a 64-char string (JSON)', R['1x-ipc'], R['1a-c'], R['1x-uds']));
      }
      out.push('');
      if (want('1c')) {
        out.push('1c: the pinger busy-waits 100 µs before each ping (not part of the sample, for every row alike) so the receiving side has gone to sleep; ' +
          'the CPU column includes the pause (≈100 µs of pinger CPU per round trip). "pinned" rows run the pinger on CPU 0 and the echo on CPU 1 ' +
          '(taskset / sched_setaffinity), so every parked hand-off wakes the other vCPU; unpinned, the scheduler sometimes runs both on one CPU ' +
          '(a hand-off is then a context switch) and sometimes not, for C and JS alike, so unpinned parked ratios swing between runs.', '');
      }
    }

    if (want('2')) {
      out.push('## 2. One-way throughput, one producer process → one consumer process', '');
      out.push(`The producer sends for ${T_WARM} + ${T_MEAS} ms as fast as it can, then ends the stream (Queue: \`end()\`; socket and C: an end marker or flag); ` +
        `the **consumer** measures: messages taken from ${T_WARM} ms after the first one until the end. Every message carries a sequence number that the consumer checks; ` +
        'the count received must equal the count sent. Queue and C ring: 1 MiB of ring (Queue records add 8 B of header, so a Queue holds 14 563 × 64 B or 15 × 64 KiB; ' +
        'the C ring 16 384 × 64 B or 16 × 64 KiB). MB = 10^6 bytes of payload. ' +
        'CPU µs/msg = CPU time (user+sys, all threads) of the producer over its sending loop + of the consumer from its first message to the end, divided by the messages received; ' +
        'the shm rows busy-poll on both sides, so there it mostly says how long the run took.');
      out.push('');
      out.push('What each side does, per message:');
      out.push('- **C ring** (bench/c/channel-ref.c, like ipc-baseline B4/B8): producer writes the sequence number into a private buffer and `memcpy`s the whole message into the slot, publishes the tail; consumer `memcpy`s the slot out into a private buffer, checks the number, publishes the head. Both busy-poll; one message per publish.');
      out.push('- **`trySend` / `tryReceive`**: producer writes the sequence number into one prebuilt Buffer and calls `trySend(buf)` (copy into the ring), retrying while it returns false; consumer calls `tryReceive()` (a new Buffer, copied out of the ring) in a loop and checks the number.');
      out.push('- **`trySendMany` / `tryReceiveMany`**: producer stamps 64 prebuilt Buffers and offers them to `trySendMany(bufs)` (copies as many as fit, one publish), offering the rest again until all are in; consumer calls `tryReceiveMany(64)` (new Buffers, copied out, one head update) and checks each.');
      out.push('- **zero-copy, fill**: producer `tryReserve(size)`, copies the message into the reserved view (`view.set`) and writes the sequence number, `commit()`; consumer `tryPeek()`, reads the sequence number, the length and the last byte from the view in the ring (no copy), `release()`.');
      out.push('- **zero-copy, header only**: as above, but the producer writes only the 4-byte sequence number into the reservation (the rest of the message is whatever the ring held: an application building its message in place), and the consumer checks only the number and the length. ' +
        'So in both zero-copy rows the consumer touches only a few bytes of each message, and in this one the producer too: their MB/s count the message size, not bytes moved (at 64 KiB they can exceed memory bandwidth); they measure the per-message cost of the ring itself.');
      out.push('- **Unix socket** (Node `net`, default highWaterMark, `write()`/`\'drain\'` flow control): producer writes frames of a 4-byte length + payload with the sequence number stamped (64 B: a fresh 68-byte Buffer per frame; 64 KiB: a fresh 8-byte header Buffer and the constant rest, two `write()`s); consumer reassembles each frame into one contiguous Buffer (one copy when split across reads) and checks the number.');
      out.push('');
      out.push('| size | implementation | msgs/s | MB/s | ÷ C ring | ÷ Unix socket | CPU µs/msg (producer + consumer) | messages in window | window s | probe µs | others | notes |');
      out.push('|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|---|');
      const cpuMsg = (r) => {
        if (!r || !r.received_total || r.producer_cpu_us == null || r.consumer_cpu_us == null) return '—';
        const p = r.producer_cpu_us / r.received_total, c = r.consumer_cpu_us / r.received_total;
        return `${sig(p + c)} (${sig(p)} + ${sig(c)})`;
      };
      const tRow = (size, label, r, ref, sock) => `| ${size} | ${label} | ${fmtRate(r?.msgs_per_s)} | ${sig(r?.MB_per_s)} | ` +
        `${ref ? fmtRatio(ratio(r?.msgs_per_s, ref?.msgs_per_s)) : ''} | ${sock ? fmtRatio(ratio(r?.msgs_per_s, sock?.msgs_per_s)) : ''} | ${cpuMsg(r)} | ` +
        `${r?.msgs ?? '—'} | ${r?.seconds != null ? sig(r.seconds) : '—'} | ${probeCell(r)} | ${fmtCpus(r?.others_cpus)} | ${notesOf(r)} |`;
      for (const size of SIZES) {
        const sz = size === 64 ? '64' : '64k', lab = size === 64 ? '64 B' : '64 KiB';
        const ref = R[`2-${sz}-c`], sock = R[`2-${sz}-uds`];
        out.push(tRow(lab, 'C SPSC ring (copy in + copy out)', ref, null, sock));
        out.push(tRow(lab, 'shmkit `trySend` / `tryReceive`', R[`2-${sz}-copy`], ref, sock));
        out.push(tRow(lab, 'shmkit `trySend` / `tryReceiveInto` (one reused buffer)', R[`2-${sz}-into`], ref, sock));
        out.push(tRow(lab, 'shmkit `trySendMany` / `tryReceiveMany`, batch 64', R[`2-${sz}-many`], ref, sock));
        out.push(tRow(lab, 'shmkit zero-copy, fill: `tryReserve`+copy+`commit` / `tryPeek`+`release`', R[`2-${sz}-zc`], ref, sock));
        out.push(tRow(lab, 'shmkit zero-copy, header only: `tryReserve`+`commit` / `tryPeek`+`release`', R[`2-${sz}-zch`], ref, sock));
        out.push(tRow(lab, 'Node Unix domain socket', sock, ref, null));
      }
      out.push('');
      const w = R['2-wrap'];
      out.push(`**Wrap check** (one process, \`--role wrap-check\`): 34 000 messages of 64 KiB through one Queue with \`tryReserve\`+\`commit\` / \`tryPeek\`+\`release\`, ` +
        `so that the ring's byte positions pass 2^31: ${!w ? 'not run' : w.skipped ? `skipped: ${w.skipped}` : w.ok ? 'PASS (all delivered)' : `**FAILED**: ${w.error ?? 'no result'}${w.stderr ? ` (${w.stderr})` : ''}`}.`, '');
    }

    const mpmcIds = MPMC.map((m) => m[0]).filter(want);
    if (mpmcIds.length) {
      out.push('## 3. Several producer and consumer processes on one Queue, 64 B', '');
      out.push(`Each producer sends 64-byte messages carrying (its own sequence number, its id); each consumer checks that every producer's numbers arrive in increasing order. ` +
        `All start together; the parent samples the Queue's shared \`received\` counter ${M_WARM} ms after the start and again ${M_MEAS} ms later (aggregate msgs/s = the difference ÷ time). ` +
        'Then the producers stop, the parent calls `end()`, the consumers drain, and for every producer the messages counted by all consumers together must equal the messages it sent ' +
        '(and the sum of the sequence numbers must match). Producer/consumer share = the fewest and most messages one process handled over the whole run, as a % of the total (33 % each would be even). ' +
        'CPU µs/msg = CPU time of all producer and consumer processes over their whole loops ÷ messages. Default spin (adaptive up to 100 µs) everywhere. ' +
        `This machine has ${info.nproc} CPUs, so six processes share them.`);
      out.push('');
      out.push('| test | processes | aggregate msgs/s | MB/s | ÷ same API 1 + 1 | producer share min–max | consumer share min–max | CPU µs/msg (all processes) | probe µs | others | notes |');
      out.push('|---|---|---:|---:|---:|---|---|---:|---|---:|---|');
      const share = (arr) => {
        if (!arr || arr.some((x) => x == null)) return '—';
        const tot = arr.reduce((a, b) => a + b, 0);
        if (!tot) return '—';
        return `${sig(100 * Math.min(...arr) / tot, 2)}–${sig(100 * Math.max(...arr) / tot, 2)} %`;
      };
      const labels = {
        '3-sync': '`sendSync` / `receiveSync`, one message per call',
        '3-async': '`await send` / `await receive`, one message per call',
        '3-many': '`trySendMany` (64; when not all fit, `sendSync` the next) / `tryReceiveMany(64)` (when empty, `receiveSync`)',
        '3-sync11': '`sendSync` / `receiveSync`, one producer and one consumer (same harness)',
      };
      for (const id of mpmcIds) {
        const r = R[id];
        const ref = id === '3-sync' ? R['3-sync11'] : null;
        out.push(`| ${labels[id]} | ${r?.np ?? '?'} + ${r?.nc ?? '?'} | ${fmtRate(r?.msgs_per_s)} | ${sig(r?.MB_per_s)} | ${ref ? fmtRatio(ratio(r?.msgs_per_s, ref?.msgs_per_s)) : ''} | ` +
          `${share(r?.producer_sent)} | ${share(r?.consumer_received)} | ${r?.cpu_us_total && r?.received_total ? sig(r.cpu_us_total / r.received_total) : '—'} | ` +
          `${probeCell(r)} | ${fmtCpus(r?.others_cpus)} | ${notesOf(r)} |`);
      }
      out.push('');
    }

    const left = fs.readdirSync('/dev/shm').filter((f) => f.startsWith(tag));
    for (const f of left) { try { fs.rmSync(`/dev/shm/${f}`, { force: true }); } catch { /* ignore */ } }
    const failed = Object.entries(R).filter(([, r]) => r.ok === false).map(([id]) => id);
    out.push(`Run wall time ${((Date.now() - tStart) / 1000).toFixed(1)} s. ` +
      `${failed.length ? `**Failed or flagged: ${failed.join(', ')}.**` : 'All tests completed and every message check passed.'} ` +
      `Cleanup: ${left.length ? `leftover /dev/shm entries (removed now): ${left.join(', ')}` : 'no leftover /dev/shm entries'}.`);
    const report = out.join('\n') + '\n';
    process.stdout.write(report);
    if (args['json-out']) fs.writeFileSync(String(args['json-out']), JSON.stringify(R)); // every row's raw result (bench/ab-channel.mjs)
    if (saveDir && only) log('results not saved: --only ran a part of the benchmark');
    else if (saveDir) {
      const file = saveResults('channel', { dir: saveDir, quick, command: commandLine('bench:channel', process.argv.slice(2)),
        tables: tablesFromMarkdown(report), charts: channelCharts(R), report });
      log(`results: ${file}`);
    }
    process.exitCode = failed.length ? 1 : 0;
  } finally {
    cleanup();
  }
}

// The charts of BENCHMARKS.md, from the same results as the report: the
// Queue next to the C, socket, TCP and process.send references of this run.
const ZERO_COPY = 'Zero-copy: the producer copies the message into the ring, the consumer reads a few bytes of it in place (no copy out).';
function channelCharts(R) {
  const us = (ns) => (ns == null ? null : ns / 1000);
  const usable = (r) => r && !r.skipped && r.ok !== false;
  const lat = (label, r, reference = false) => ({ label, values: [us(r?.p50_ns), us(r?.p99_ns)], reference });
  const pinnedRan = usable(R['1c-ps']);
  const pinnedOr = (p, u) => (pinnedRan ? R[p] : R[u]);
  const tput = (sz, field) => [
    { label: 'C SPSC ring (copy in + out)', value: R[`2-${sz}-c`]?.[field] ?? null, reference: true },
    { label: 'shmkit trySend / tryReceive', value: R[`2-${sz}-copy`]?.[field] ?? null },
    { label: 'shmkit trySendMany / tryReceiveMany', value: R[`2-${sz}-many`]?.[field] ?? null },
    { label: 'shmkit zero-copy (reserve / peek)', value: R[`2-${sz}-zc`]?.[field] ?? null },
    { label: 'Unix socket (Node net)', value: R[`2-${sz}-uds`]?.[field] ?? null, reference: true },
  ];
  return [
    {
      id: 'round-trip', kind: 'grouped', title: 'Round trip of a 64-byte message between two processes, back to back',
      unit: 'µs', better: 'lower', series: ['p50', 'p99'],
      groups: [
        lat('C busy-spin, one cache line', R['1a-c'], true),
        lat('shmkit Queue tryReceive() loop', R['1a']),
        lat('shmkit Queue receiveSync()', R['1b-s']),
        lat('shmkit Queue await receive()', R['1b-a']),
        lat('Unix socket (Node net)', R['1x-uds'], true),
        lat('TCP 127.0.0.1 (noDelay)', R['1x-tcp'], true),
        lat('process.send (child_process IPC)', R['1x-ipc'], true),
      ],
    },
    {
      id: 'round-trip-parked', kind: 'grouped',
      title: `Round trip when the receiver has gone to sleep (100 µs pause)${pinnedRan ? ', two pinned CPUs' : ''}`,
      unit: 'µs', better: 'lower', series: ['p50', 'p99'],
      groups: [
        lat('C futex ping-pong', pinnedOr('1c-pc', '1c-c'), true),
        lat('shmkit Queue receiveSync()', pinnedOr('1c-ps', '1c-s')),
        lat('shmkit Queue await receive()', pinnedOr('1c-pa', '1c-a')),
        lat('Unix socket (Node net)', pinnedOr('1c-pu', '1c-u'), true),
      ],
    },
    { id: 'throughput-64', title: 'One-way throughput, 64-byte messages, one producer → one consumer', unit: 'msgs/s', better: 'higher',
      bars: tput('64', 'msgs_per_s'), caption: ZERO_COPY },
    { id: 'throughput-64k', title: 'One-way throughput, 64 KiB messages, one producer → one consumer', unit: 'MB/s', better: 'higher',
      bars: tput('64k', 'MB_per_s'), caption: ZERO_COPY },
  ];
}

// ------------------------------------------------------------------------------ main

const roles = {
  'lat-ping': roleLatPing, 'lat-echo': roleLatEcho, 'raw-ping': roleRawPing, 'raw-echo': roleRawEcho, 'sock-ping': roleSockPing, 'sock-echo': roleSockEcho,
  'ipc-ping': roleIpcPing, 'ipc-echo': roleIpcEcho, 'tput-cons': roleTputCons, 'tput-prod': roleTputProd,
  'sock-tput-cons': roleSockTputCons, 'wrap-check': roleWrapCheck, 'sock-tput-prod': roleSockTputProd, mpmc: roleMpmc, 'mpmc-prod': roleMpmcProd, 'mpmc-cons': roleMpmcCons,
};
if (args.role) {
  const fn = roles[args.role];
  if (!fn) { console.error(`unknown role ${args.role}`); process.exit(2); }
  const stay = new Set(['sock-echo', 'ipc-echo', 'sock-tput-prod']); // end on their own when the peer goes
  fn().then(() => { if (!stay.has(args.role)) process.exit(0); },
    (e) => { emit({ ok: false, error: String(e?.stack ?? e).split('\n').slice(0, 3).join(' ') }); process.exit(1); });
} else {
  orchestrate().catch((e) => { console.error(e); process.exitCode = 1; });
}
