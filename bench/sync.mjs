// bench/sync.mjs - latency and CPU cost of shmkit's Mutex and Notifier, next to C
// references measured in the same run.
//
//   node bench/sync.mjs            full run: 20 000 timed round trips per test (~35 s here)
//   node bench/sync.mjs --quick    3 000 round trips per test (~15 s here)
//   options: --n N  --warmup W (default 2000)  --only 1,2a,2b,3a,3b,idle,4  --deadline-ms MS
//            --json-out FILE (every test's raw result as JSON: bench/ab-channel.mjs --bench sync)
//            --save (the report, its tables and charts into bench/results/: sync.json, sync-*.svg,
//            for BENCHMARKS.md; `npm run bench:sync` passes it)  --results DIR (the same, into DIR)
//   Prints markdown on stdout, progress on stderr; exit status 1 if any test failed.
//
// What runs (each test is its own process group; this process only orchestrates):
//   1   uncontended Mutex lockSync()+unlock() on one thread (ns per pair, median of
//       batches) vs C pthread robust process-shared mutex vs one JS compareExchange+store
//   2a  two processes, two Notifiers, waitSync on both sides, {spin: 0} (always parks)
//       vs C futex ping-pong (FUTEX_WAIT at once, writer always FUTEX_WAKEs)
//   2b  same with the default (adaptive) spin vs C busy-spin ping-pong
//   3a  await notifier.wait(seen) on both sides, default spin vs C busy spin
//   3b  same, the pinger busy-waits 100 us before each ping (outside the sample) so the
//       echo side parks; vs C futex ping-pong with the same 100 us pause
//   idle CPU of an async waiter parked for 1 s (default spin, {spin: 0}, and a plain
//       setTimeout in the same kind of process as the control)
//   4   Unix domain socket ping-pong of a 64-byte message between two Node processes
// Extra rows, for diagnosis, not targets: 3a/3b with a sync pinger ("variant").
//
// Samples: process.hrtime.bigint() before the ping and after the pong, on the pinging side
// only (C: clock_gettime). CPU: getrusage(RUSAGE_SELF) of each process (Node:
// process.resourceUsage()) over its timed part, all threads included (so shmkit's async
// parking thread too), divided by the number of timed round trips; likewise the voluntary
// context switches ("sleeps": how often a thread of the process went to sleep).
// The parked tests (2a, 3b) and the socket test also run pinned (taskset: pinger on CPU 0,
// echo on CPU 1) because unpinned the scheduler sometimes puts both processes on one CPU
// (a hand-off is then a ~5 us context switch) and sometimes not (a ~50 us wake of an idle
// vCPU), which swings a single run by 10x for C and JS alike.
//
// bench/c/sync-ref.c is compiled with `cc -O2 -pthread` into a temp dir on every run.
// Node built-ins only; imports the built package as `shmkit` (dist/ must be built).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  now, parseArgs, emit, loadShmkit, sleep, busyWaitNs, usage, usageSince, pinned, summarize, procStatTicks,
  startWatchdog, runJson, fmtUs, sig, ratio, fmtRatio, verdict, cpuPerRt, sleepsPerRt,
  flagsOf, machineInfo, machineLine, echoFrames, startRun } from './lib/common.mjs';
import { resultsDir, saveResults, commandLine, tablesFromMarkdown } from './lib/results.mjs';

const SELF = fileURLToPath(import.meta.url);
const HERE = path.dirname(SELF);
const args = parseArgs(process.argv.slice(2));

// ------------------------------------------------------------------------------ roles

async function roleMutex() {
  startWatchdog(args['hard-ms'] ?? 60000, 1000, [`/dev/shm${args.name}`]);
  const { Mutex, Notifier } = await loadShmkit();
  const batch = args.batch, batches = args.batches, warm = args.warm;
  const m = Mutex.create(args.name);
  const cas = new Int32Array(new SharedArrayBuffer(64));
  let result;
  try {
    const mutexBatch = (k) => {
      const t0 = now();
      for (let i = 0; i < k; i++) {
        m.lockSync();
        m.unlock();
      }
      return Number(now() - t0) / k;
    };
    const casBatch = (k) => {
      const t0 = now();
      for (let i = 0; i < k; i++) {
        if (Atomics.compareExchange(cas, 0, 0, 1) !== 0) throw new Error('cas');
        Atomics.store(cas, 0, 0);
      }
      return Number(now() - t0) / k;
    };
    const emptyBatch = (k) => { // loop + clock overhead, for reference
      let x = 0;
      const t0 = now();
      for (let i = 0; i < k; i++) x += i;
      const dt = Number(now() - t0);
      if (x === -1) throw new Error('never');
      return dt / k;
    };
    for (let i = 0; i < 5; i++) { mutexBatch(warm / 5); casBatch(warm / 5); emptyBatch(warm / 5); }
    const mu = [], ca = [], em = [];
    for (let b = 0; b < batches; b++) { // interleaved, so both see the same noise
      mu.push(mutexBatch(batch));
      ca.push(casBatch(batch));
      em.push(emptyBatch(batch));
    }
    const med = (a) => { const s = [...a].sort((x, y) => x - y); return { median_ns: s[s.length >> 1], min_ns: s[0], max_ns: s[s.length - 1], batches: a }; };

    // Diagnostic: how long the default spin window really lasts. waitSync(v, {timeout: 0})
    // with nobody notifying spins the handle's full window, then throws ETIMEDOUT; the
    // same call on a {spin: 0} handle costs only the throw. Fresh handles each time (the
    // window halves after every miss). Early calls run before the spin loop is optimised.
    const sab = new SharedArrayBuffer(Notifier.byteLength());
    Notifier.init(sab, 0);
    const timeWait = (h) => {
      const t0 = now();
      try { h.waitSync(h.value, { timeout: 0 }); } catch (e) { if (e.code !== 'ETIMEDOUT') throw e; }
      return Number(now() - t0);
    };
    const medOf = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
    const late = (a) => medOf(a.slice(-100));
    for (let i = 0; i < 5; i++) timeWait(Notifier.attach(sab, 0, { spin: 0 })); // first throws are slow
    const firstSpin = timeWait(Notifier.attach(sab, 0)); // the spin loop's first run
    const spinTimes = [], zeroTimes = [];
    for (let i = 0; i < 300; i++) {
      zeroTimes.push(timeWait(Notifier.attach(sab, 0, { spin: 0 })));
      spinTimes.push(timeWait(Notifier.attach(sab, 0)));
    }
    // clock read cost
    let k = 0; const c0 = now();
    for (let i = 0; i < 200000; i++) k += Number(now() & 1n);
    const clockNs = Number(now() - c0) / 200000;
    result = {
      ok: true, batch, mutex: med(mu), cas: med(ca), empty: med(em),
      spin_first_us: (firstSpin - medOf(zeroTimes.slice(0, 5))) / 1000,
      spin_warm_us: (late(spinTimes) - late(zeroTimes)) / 1000,
      hrtime_ns: clockNs, check: k & 0,
    };
  } finally {
    m.close();
    Mutex.unlink(args.name);
  }
  emit(result);
}

// --spin default | N (µs, the handle's `spin` option)
function spinOpt() { return typeof args.spin === 'number' ? { spin: args.spin } : undefined; }

// Pinging side: creates both Notifiers, spawns the echo process, measures.
async function rolePing() {
  const deadlineMs = args['deadline-ms'];
  startWatchdog(deadlineMs + 8000, 1000, [`/dev/shm${args.ping}`, `/dev/shm${args.pong}`]);
  const { Notifier } = await loadShmkit();
  const n = args.n, warm = args.warm, total = n + warm;
  const pauseNs = BigInt(Math.round((args['pause-us'] ?? 0) * 1000));
  const pingName = args.ping, pongName = args.pong;
  const ping = Notifier.create(pingName, spinOpt());
  const pong = Notifier.create(pongName, spinOpt());
  let echo = null, echoOut = '';
  const result = { ok: false };
  try {
    echo = spawn(...pinned(args['echo-cpu'], process.execPath, [SELF, '--role', 'echo', '--wait', args['echo-wait'], '--spin', String(args.spin),
      '--ping', pingName, '--pong', pongName, '--n', String(n), '--warm', String(warm),
      '--hard-ms', String(deadlineMs + 6000)]), { stdio: ['ignore', 'pipe', 'inherit'] });
    echo.stdout.on('data', (d) => { echoOut += d; });
    const echoExit = new Promise((r) => echo.on('exit', r));
    // ready: the echo has opened both objects and read its starting count
    const t0 = Date.now();
    while (pong.value === 0) {
      if (Date.now() - t0 > 10000 || echo.exitCode !== null) throw new Error('echo process never became ready');
      await sleep(1);
    }
    const samples = new Float64Array(n);
    const deadline = now() + BigInt(deadlineMs) * 1000000n;
    const st = { done: 0, timedOut: false, cpu: 0, vcsw: 0, wallNs: 0n };
    if (args['ping-wait'] === 'sync') pingSync(ping, pong, total, warm, pauseNs, deadline, samples, st);
    else await pingAsync(ping, pong, total, warm, pauseNs, deadline, samples, st);
    if (st.timedOut) echo.kill('SIGKILL');
    const killTimer = setTimeout(() => echo.kill('SIGKILL'), 3000);
    await echoExit;
    clearTimeout(killTimer);
    let echoRes = null;
    try { echoRes = JSON.parse(echoOut.trim().split('\n').pop()); } catch { /* killed */ }
    Object.assign(result, summarize(samples, st.done), {
      ok: !st.timedOut && st.done === n, timed_out: st.timedOut,
      pinger_cpu_us: st.cpu, echo_cpu_us: echoRes?.cpu_us ?? null, wall_us: Number(st.wallNs) / 1000,
      pinger_vcsw: st.vcsw, echo_vcsw: echoRes?.vcsw ?? null,
    });
  } finally {
    if (echo && echo.exitCode === null && echo.signalCode === null) echo.kill('SIGKILL');
    ping.close();
    pong.close();
    for (const nm of [pingName, pongName]) { try { Notifier.unlink(nm); } catch { /* gone */ } }
  }
  emit(result);
}

function pingSync(ping, pong, total, warm, pauseNs, deadline, samples, st) {
  let seen = pong.value, done = 0, c0, w0 = 0n;
  for (let i = 1; i <= total; i++) {
    if (i === warm + 1) { c0 = usage(); w0 = now(); }
    if (pauseNs !== 0n) busyWaitNs(pauseNs);
    const t0 = now();
    ping.notify();
    seen = pong.waitSync(seen);
    const t1 = now();
    if (i > warm) samples[done++] = Number(t1 - t0);
    if (t1 > deadline) { st.timedOut = i < total; break; }
  }
  const u = c0 ? usageSince(c0) : { cpu: 0, vcsw: 0 };
  st.cpu = u.cpu;
  st.vcsw = u.vcsw;
  st.wallNs = w0 ? now() - w0 : 0n;
  st.done = done;
}

async function pingAsync(ping, pong, total, warm, pauseNs, deadline, samples, st) {
  let seen = pong.value, done = 0, c0, w0 = 0n;
  for (let i = 1; i <= total; i++) {
    if (i === warm + 1) { c0 = usage(); w0 = now(); }
    if (pauseNs !== 0n) busyWaitNs(pauseNs);
    const t0 = now();
    ping.notify();
    seen = await pong.wait(seen);
    const t1 = now();
    if (i > warm) samples[done++] = Number(t1 - t0);
    if (t1 > deadline) { st.timedOut = i < total; break; }
  }
  const u = c0 ? usageSince(c0) : { cpu: 0, vcsw: 0 };
  st.cpu = u.cpu;
  st.vcsw = u.vcsw;
  st.wallNs = w0 ? now() - w0 : 0n;
  st.done = done;
}

async function roleEcho() {
  startWatchdog(args['hard-ms']);
  const { Notifier } = await loadShmkit();
  const ping = Notifier.open(args.ping, spinOpt());
  const pong = Notifier.open(args.pong, spinOpt());
  const total = args.n + args.warm, warm = args.warm;
  let seen = ping.value, c0 = usage();
  pong.notify(); // ready
  if (args.wait === 'sync') {
    for (let i = 1; i <= total; i++) {
      seen = ping.waitSync(seen);
      pong.notify();
      if (i === warm) c0 = usage();
    }
  } else {
    for (let i = 1; i <= total; i++) {
      seen = await ping.wait(seen);
      pong.notify();
      if (i === warm) c0 = usage();
    }
  }
  const u = usageSince(c0);
  ping.close();
  pong.close();
  emit({ ok: true, cpu_us: u.cpu, vcsw: u.vcsw });
}

// Idle CPU of an async waiter: the child parks in `await n.wait()` for ~1 s.
async function roleIdleParent() {
  startWatchdog(15000, 1000, [`/dev/shm${args.ping}`, `/dev/shm${args.pong}`]);
  const { Notifier } = await loadShmkit();
  const n = Notifier.create(args.ping), ready = Notifier.create(args.pong);
  let child = null, out = '';
  const result = { ok: false };
  try {
    child = spawn(process.execPath, [SELF, '--role', 'idle-child', '--ping', args.ping, '--pong', args.pong, '--spin', String(args.spin),
      ...(args.control ? ['--control'] : [])],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (d) => { out += d; });
    const exited = new Promise((r) => child.on('exit', r));
    const t0 = Date.now();
    while (ready.value === 0) {
      if (Date.now() - t0 > 10000 || child.exitCode !== null) throw new Error('idle child never became ready');
      await sleep(1);
    }
    await sleep(20); // let it settle into the park
    const k0 = procStatTicks(child.pid);
    await sleep(1000);
    const k1 = procStatTicks(child.pid);
    n.notify();
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(killTimer);
    const r = JSON.parse(out.trim().split('\n').pop());
    Object.assign(result, r, { ok: true, parked_window_ticks: k1 - k0, tick_ms: 10 });
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    n.close();
    ready.close();
    for (const nm of [args.ping, args.pong]) { try { Notifier.unlink(nm); } catch { /* gone */ } }
  }
  emit(result);
}

async function roleIdleChild() {
  startWatchdog(12000, 5000); // slow poll: do not disturb the idle measurement
  const { Notifier } = await loadShmkit();
  const n = Notifier.open(args.ping, spinOpt()), ready = Notifier.open(args.pong);
  // Warm the async path once so the parking thread exists (as in a running service).
  const warmSab = new SharedArrayBuffer(Notifier.byteLength());
  const w = Notifier.init(warmSab, 0, { spin: 0 });
  const p = w.wait(0);
  w.notify();
  await p;
  await sleep(50);
  const seen = n.value;
  const c0 = usage();
  const t0 = now();
  if (args.control) { // the same idle second without shmkit: a plain timer
    ready.notify();
    await sleep(1020);
  } else {
    const waiting = n.wait(seen); // spins (the handle's window), then parks
    ready.notify();
    await waiting;
  }
  const wall = Number(now() - t0) / 1000;
  const u = usageSince(c0);
  n.close();
  ready.close();
  emit({ ok: true, cpu_us: u.cpu, vcsw: u.vcsw, wall_us: wall });
}

// Unix domain socket ping-pong, 64-byte messages.
async function roleUdsPing() {
  const deadlineMs = args['deadline-ms'];
  startWatchdog(deadlineMs + 8000, 1000, [args.sock]);
  const sockPath = args.sock;
  const n = args.n, warm = args.warm, total = n + warm, SIZE = 64;
  try { fs.unlinkSync(sockPath); } catch { /* none */ }
  const server = net.createServer();
  let child = null, childOut = '';
  const result = await new Promise((resolve) => {
    server.on('error', (e) => resolve({ ok: false, error: String(e) }));
    server.listen(sockPath, () => {
      child = spawn(...pinned(args['echo-cpu'], process.execPath, [SELF, '--role', 'uds-echo', '--sock', sockPath, '--n', String(n),
        '--warm', String(warm), '--hard-ms', String(deadlineMs + 6000)]), { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.on('data', (d) => { childOut += d; });
    });
    server.on('connection', (sock) => {
      const msg = Buffer.alloc(SIZE, 0x61);
      const samples = new Float64Array(n);
      const deadline = now() + BigInt(deadlineMs) * 1000000n;
      let i = 1, have = 0, done = 0, t0 = 0n, c0, w0 = 0n, timedOut = false;
      const send = () => {
        if (i === warm + 1) { c0 = usage(); w0 = now(); }
        t0 = now();
        sock.write(msg);
      };
      sock.on('data', (d) => {
        have += d.length;
        if (have < SIZE) return;
        have -= SIZE;
        const t1 = now();
        if (i > warm) samples[done++] = Number(t1 - t0);
        if (i === total || t1 > deadline) {
          timedOut = i < total;
          const u = c0 ? usageSince(c0) : { cpu: 0, vcsw: 0 };
          const wall = w0 ? Number(now() - w0) / 1000 : 0;
          sock.end();
          server.close();
          resolve({ ...summarize(samples, done), ok: !timedOut, timed_out: timedOut, pinger_cpu_us: u.cpu, pinger_vcsw: u.vcsw, wall_us: wall });
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
    const exited = child.exitCode !== null || child.signalCode !== null ? null : new Promise((r) => child.on('exit', r));
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 3000);
    if (exited) await exited;
    clearTimeout(killTimer);
    try {
      const e = JSON.parse(childOut.trim().split('\n').pop());
      result.echo_cpu_us = e.cpu_us;
      result.echo_vcsw = e.vcsw;
    } catch { result.echo_cpu_us = null; result.echo_vcsw = null; }
  }
  try { fs.unlinkSync(sockPath); } catch { /* gone */ }
  emit(result);
}

async function roleUdsEcho() {
  startWatchdog(args['hard-ms']);
  echoFrames(net.connect(args.sock), 64, args.n + args.warm, args.warm);
}

// ------------------------------------------------------------------------------ orchestrator

async function orchestrate() {
  const tStart = Date.now();
  const quick = !!args.quick;
  const N = args.n ?? (quick ? 3000 : 20000);
  const WARM = args.warmup ?? 2000;
  const DEADLINE_MS = args['deadline-ms'] ?? (quick ? 8000 : 20000);
  const BUDGET_MS = quick ? 58000 : 175000;
  const only = args.only ? new Set(String(args.only).split(',')) : null;
  const want = (id) => !only || only.has(id) || only.has(id[0]);
  const saveDir = resultsDir(args); // before the run: a bad --save fails at once
  const { tag, tmp, newName, log, remaining, cleanup } = startRun('sync-bench', BUDGET_MS, tStart);
  const sockPath = path.join(tmp, 'uds.sock');
  const R = {};
  try {
    await loadShmkit(); // fails early if dist/ is not built
    const info = machineInfo();

    // compile the C reference
    const cbin = path.join(tmp, 'sync-ref');
    let cError = null;
    try {
      execFileSync(process.env.CC || 'cc', ['-O2', '-pthread', '-o', cbin, path.join(HERE, 'c', 'sync-ref.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) { cError = `cc failed: ${String(e.stderr || e.message).trim().split('\n')[0]}`; }

    // pinning: pinger on CPU 0, echo on CPU 1 (needs taskset and two usable CPUs)
    let canPin = false;
    try { execFileSync('taskset', ['-c', '0,1', process.execPath, '-e', '0'], { stdio: 'ignore' }); canPin = info.nproc >= 2; } catch { /* no */ }
    const PIN_PING = 0, PIN_ECHO = 1;

    const node = process.execPath;
    const hard = DEADLINE_MS + 12000;
    const run = async (id, label, cmd, argv, limitMs = hard) => {
      if (remaining() < Math.min(limitMs, 15000)) { R[id] = { ok: false, skipped: 'time budget exhausted' }; log(`${id} skipped`); return R[id]; }
      if (argv.includes(cbin) || cmd === cbin) { if (cError) { R[id] = { ok: false, error: cError }; return R[id]; } }
      const r = await runJson(cmd, argv, { limitMs: Math.min(limitMs, remaining()), detached: true });
      R[id] = r;
      log(`${id} ${label}: ${r.ok === false ? `FAILED ${r.error ?? ''} ` : ''}` +
        (r.p50_ns !== undefined ? `p50 ${fmtUs(r.p50_ns)} µs, p99 ${fmtUs(r.p99_ns)} µs, n ${r.n}` : '') +
        (r.median_ns !== undefined ? `${sig(r.median_ns)} ns/pair` : '') + ` (${(r.wall_ms / 1000).toFixed(1)} s)`);
      return r;
    };
    const skipPin = (id) => { R[id] = { ok: true, skipped: 'taskset or a second CPU not available' }; };
    const cLat = (id, mode, pause, pin = false) => {
      if (pin && !canPin) return skipPin(id);
      return run(id, `C ${mode}${pause ? ' pause' : ''}${pin ? ' pinned' : ''}`, cbin,
        ['lat', mode, String(N), String(WARM), String(pause), String(DEADLINE_MS), ...(pin ? [String(PIN_PING), String(PIN_ECHO)] : [])]);
    };
    const jsLat = (id, pingWait, echoWait, spin, pause, pin = false) => {
      if (pin && !canPin) return skipPin(id);
      const argv = [SELF, '--role', 'ping', '--ping-wait', pingWait, '--echo-wait', echoWait, '--spin', String(spin),
        '--pause-us', String(pause), '--n', String(N), '--warm', String(WARM), '--deadline-ms', String(DEADLINE_MS),
        '--ping', newName(`${id}-ping`), '--pong', newName(`${id}-pong`), ...(pin ? ['--echo-cpu', String(PIN_ECHO)] : [])];
      const [c, a] = pin ? pinned(PIN_PING, node, argv) : [node, argv];
      return run(id, `JS ${pingWait}/${echoWait} spin=${spin}${pause ? ' pause' : ''}${pin ? ' pinned' : ''}`, c, a);
    };
    const uds = (id, pin = false) => {
      if (pin && !canPin) return skipPin(id);
      const argv = [SELF, '--role', 'uds-ping', '--sock', sockPath, '--n', String(N), '--warm', String(WARM),
        '--deadline-ms', String(DEADLINE_MS), ...(pin ? ['--echo-cpu', String(PIN_ECHO)] : [])];
      const [c, a] = pin ? pinned(PIN_PING, node, argv) : [node, argv];
      return run(id, `UDS${pin ? ' pinned' : ''}`, c, a);
    };

    log(`n=${N}, warm-up=${WARM}, per-test deadline ${DEADLINE_MS} ms${cError ? `; ${cError}` : ''}${canPin ? '' : '; no pinning'}`);
    const batch = quick ? 200000 : 500000, batches = quick ? 9 : 15;
    if (want('1')) {
      await run('1c', 'C pthread mutex', cbin, ['mutex', String(batch * 4), String(batches), String(batch * 4)], 30000);
      await run('1js', 'JS Mutex', node, [SELF, '--role', 'mutex', '--name', newName('mutex'), '--batch', String(batch),
        '--batches', String(batches), '--warm', String(batch * 2), '--hard-ms', '50000'], 55000);
    }
    if (want('2a')) {
      await cLat('2a-c', 'futex', 0); await jsLat('2a', 'sync', 'sync', 0, 0);
      await cLat('2a-pc', 'futex', 0, true); await jsLat('2a-p', 'sync', 'sync', 0, 0, true);
    }
    if (want('2b')) {
      await cLat('2b-c', 'spin', 0);
      await jsLat('2b', 'sync', 'sync', 'default', 0);
    }
    if (want('3a')) {
      await cLat('3a-c', 'spin', 0);
      await jsLat('3a', 'async', 'async', 'default', 0);
      await jsLat('3a-v', 'sync', 'async', 'default', 0);
    }
    if (want('3b')) {
      await cLat('3b-c', 'futex', 100);
      await jsLat('3b', 'async', 'async', 'default', 100);
      await jsLat('3b-v', 'sync', 'async', 'default', 100);
      await cLat('3b-pc', 'futex', 100, true);
      await jsLat('3b-p', 'async', 'async', 'default', 100, true);
    }
    if (want('idle')) {
      await run('idle', 'async idle 1 s', node, [SELF, '--role', 'idle-parent', '--spin', 'default', '--ping', newName('idle-n'), '--pong', newName('idle-r')], 20000);
      await run('idle0', 'async idle 1 s, spin 0', node, [SELF, '--role', 'idle-parent', '--spin', '0', '--ping', newName('idle0-n'), '--pong', newName('idle0-r')], 20000);
      await run('idlec', 'idle 1 s, plain timer', node, [SELF, '--role', 'idle-parent', '--spin', '0', '--control', '--ping', newName('idlec-n'), '--pong', newName('idlec-r')], 20000);
    }
    if (want('4')) { await uds('4'); await uds('4-p', true); }

    // -------------------------------------------------------------------- report
    const out = [];
    out.push(`# shmkit sync benchmark (${quick ? '--quick' : 'full'} run)`, '');
    out.push(machineLine(info));
    out.push('');
    out.push('> Note: this runs on a small, shared VM. Absolute numbers are noisy (10–30 % between runs is common, ' +
      'more at p99/p99.9), and parked hand-offs are bimodal (see "pinned" below): compare ratios within one run, and run it more than once.');
    out.push('');
    out.push(`Round-trip tests: ${N} timed round trips after ${WARM} warm-up ones; one sample = clock read, ping, wait for the pong, clock read, ` +
      'on the pinging side only (Node process.hrtime.bigint(), C clock_gettime). Percentiles are nearest-rank. ' +
      'CPU/RT = CPU time (user+sys, all threads) of both processes over the timed part per round trip, shown as total (pinger + echo). ' +
      'Sleeps/RT = voluntary context switches (all threads) per round trip, pinger + echo: ~1 per side means that side parked every time. ' +
      'Rows marked "pinned" run the pinger on CPU 0 and the echo on CPU 1 (taskset / sched_setaffinity), so every parked hand-off ' +
      'wakes the other vCPU; unpinned, the scheduler sometimes runs both on one CPU (a hand-off is then a ~5 µs context switch) ' +
      'and sometimes not (~50 µs), for C and JS alike, so an unpinned ratio can swing by up to 10× between runs.');
    out.push('');

    if (want('1')) {
      const c = R['1c'], j = R['1js'];
      const mu = j?.mutex?.median_ns, ca = j?.cas?.median_ns, cc = c?.median_ns;
      out.push(`## 1. Uncontended lock + unlock, one thread (ns per pair; median of ${batches} batches)`, '');
      out.push('| impl | median ns/pair | min | max | shmkit vs this | target | verdict |');
      out.push('|---|---:|---:|---:|---:|---|---|');
      out.push(`| shmkit \`Mutex.lockSync()\` + \`unlock()\` (named, in POSIX shm) | ${sig(mu)} | ${sig(j?.mutex?.min_ns)} | ${sig(j?.mutex?.max_ns)} | — | ≤ 50 ns | ${mu == null ? 'n/a' : mu <= 50 ? 'meets' : '**misses**'} |`);
      out.push(`| C \`pthread_mutex_lock/unlock\` (PROCESS_SHARED, ROBUST, in MAP_SHARED) | ${sig(cc)} | ${sig(c?.min_ns)} | ${sig(c?.max_ns)} | ${fmtRatio(ratio(mu, cc))} | | |`);
      out.push(`| JS \`Atomics.compareExchange\` + \`Atomics.store\` (SharedArrayBuffer) | ${sig(ca)} | ${sig(j?.cas?.min_ns)} | ${sig(j?.cas?.max_ns)} | ${fmtRatio(ratio(mu, ca))} | | |`);
      out.push(`| (empty JS loop, per iteration, for scale) | ${sig(j?.empty?.median_ns)} | | | | | |`);
      const fl = [flagsOf(c), flagsOf(j)].filter(Boolean);
      out.push('');
      out.push(`JS batches: ${batch} pairs each (after ${batch * 2} warm-up pairs); C batches: ${batch * 4} pairs. Loop overhead is included in every row.` +
        (fl.length ? ` Flags: ${fl.join('; ')}` : ''));
      if (j?.spin_warm_us !== undefined) {
        out.push('');
        out.push(`Diagnostics (same process): a fresh handle's spin before parking on a wait nobody answers = ${sig(j.spin_first_us)} µs on the first wait of the process, ` +
          `${sig(j.spin_warm_us)} µs once warm (the window is adaptive: it follows the recent wait time, up to 100 µs by default, and a fresh handle starts near 2 µs); ` +
          `one process.hrtime.bigint() read = ${sig(j.hrtime_ns)} ns (included once in every round-trip sample).`);
      }
      out.push('');
    }

    const latRow = (label, r, ref, target) => {
      if (r?.skipped) return `| ${label} | | | | | | | | | | | skipped: ${r.skipped} |`;
      const rp = ratio(r?.p50_ns, ref?.p50_ns), r99 = ratio(r?.p99_ns, ref?.p99_ns);
      return `| ${label} | ${r?.n ?? '—'} | ${fmtUs(r?.p50_ns)} | ${fmtUs(r?.p99_ns)} | ${fmtUs(r?.p999_ns)} | ${fmtUs(r?.mean_ns)} | ` +
        `${cpuPerRt(r)} | ${sleepsPerRt(r)} | ${ref ? fmtRatio(rp) : ''} | ${ref ? fmtRatio(r99) : ''} | ${target ? verdict(rp, target) : ''} | ${flagsOf(r)} |`;
    };
    const latHead = ['| test | n | p50 µs | p99 µs | p99.9 µs | mean µs | CPU µs/RT (pinger + echo) | sleeps/RT (pinger + echo) | p50 ratio | p99 ratio | target (p50) | notes |',
      '|---|---:|---:|---:|---:|---:|---|---|---:|---:|---|---|'];

    if (want('2a') || want('2b')) {
      out.push('## 2. Hand-off round trip, two processes, two Notifiers, sync `waitSync` on both sides', '');
      out.push(...latHead);
      if (want('2a')) {
        out.push(latRow('2a ref: C futex ping-pong (FUTEX_WAIT at once, always FUTEX_WAKE)', R['2a-c']));
        out.push(latRow('2a shmkit `waitSync`, `{spin: 0}` on every handle', R['2a'], R['2a-c'], 1.2));
        out.push(latRow('2a ref, pinned: C futex ping-pong', R['2a-pc']));
        out.push(latRow('2a shmkit, pinned: `waitSync`, `{spin: 0}`', R['2a-p'], R['2a-pc'], 1.2));
      }
      if (want('2b')) {
        out.push(latRow('2b ref: C busy-spin ping-pong', R['2b-c']));
        out.push(latRow('2b shmkit `waitSync`, default spin, back to back', R['2b'], R['2b-c'], 3));
      }
      out.push('');
      if (want('2a')) out.push('2a: the unpinned pair is a scheduler lottery (same CPU or not) for C and JS alike; the pinned pair compares like with like.', '');
    }
    if (want('3a') || want('3b')) {
      out.push('## 3. Async form: `await notifier.wait(seen)`', '');
      out.push(...latHead);
      if (want('3a')) {
        out.push(latRow('3a ref: C busy-spin ping-pong', R['3a-c']));
        out.push(latRow('3a shmkit `await wait()` on both sides, default spin, back to back', R['3a'], R['3a-c'], 5));
        out.push(latRow('3a variant: echo `await wait()`, pinger `waitSync()`', R['3a-v'], R['3a-c']));
      }
      if (want('3b')) {
        out.push(latRow('3b ref: C futex ping-pong, pinger busy-waits 100 µs before each ping', R['3b-c']));
        out.push(latRow('3b shmkit `await wait()` on both sides, default spin, 100 µs pause before each ping', R['3b'], R['3b-c'], 1.3));
        out.push(latRow('3b variant: echo `await wait()`, pinger `waitSync()`, 100 µs pause', R['3b-v'], R['3b-c']));
        out.push(latRow('3b ref, pinned: C futex, 100 µs pause', R['3b-pc']));
        out.push(latRow('3b shmkit, pinned: `await wait()` both sides, 100 µs pause', R['3b-p'], R['3b-pc'], 1.3));
      }
      out.push('');
      if (want('3b')) out.push('In 3b the unpinned pair is subject to the same placement lottery as 2a; the pinned pair compares like with like. The 100 µs pause is not part of the sample (the clock is read after the pause), for C and JS alike; ' +
        'the CPU column does include it (≈100 µs of pinger CPU per round trip).', '');
    }
    if (want('idle')) {
      out.push('## Idle CPU of a parked async waiter', '');
      out.push('| what | wall ms | CPU µs (whole process, all threads) | sleeps | /proc ticks during the quiet 1 s (10 ms each) | notes |');
      out.push('|---|---:|---:|---:|---:|---|');
      for (const [id, what] of [['idle', '`await n.wait(seen)`, default spin, woken by another process after ~1 s'],
        ['idle0', '`await n.wait(seen)`, `{spin: 0}`, woken by another process after ~1 s'],
        ['idlec', 'control: the same process doing `await` of a 1.02 s `setTimeout` instead (no shmkit wait)']]) {
        const r = R[id];
        out.push(`| ${what} | ${sig(r?.wall_us / 1000)} | ${sig(r?.cpu_us)} | ${r?.vcsw ?? '—'} | ${r?.parked_window_ticks ?? '—'} | ${flagsOf(r)} |`);
      }
      out.push('');
      out.push('The CPU figure runs from just before the call to just after it resolves: the spin window, handing the word to ' +
        'the parking thread, and the wake-up and dispatch. The tick column covers only the quiet second in between ' +
        '(the async machinery was warmed once before, as in a running service).', '');
    }
    if (want('4')) {
      out.push('## 4. Context: Unix domain socket ping-pong, two Node processes, 64-byte message', '');
      out.push(...latHead);
      out.push(latRow('4 Node `net` Unix socket, 64 B each way, echo', R['4']));
      out.push(latRow('4 pinned: same', R['4-p']));
      const f = (a, b) => fmtRatio(ratio(R[a]?.p50_ns, R[b]?.p50_ns));
      out.push('', `p50 relative to the socket: 2a sync parked ${f('2a', '4')} (pinned ${f('2a-p', '4-p')}), ` +
        `3b async parked ${f('3b', '4')} (pinned ${f('3b-p', '4-p')}).`, '');
    }
    if (args['json-out']) fs.writeFileSync(String(args['json-out']), JSON.stringify(R)); // every test's raw result (bench/ab-channel.mjs)
    const left = fs.readdirSync('/dev/shm').filter((f) => f.startsWith(tag));
    out.push(`Run wall time ${((Date.now() - tStart) / 1000).toFixed(1)} s. Cleanup: ${left.length ? `leftover /dev/shm entries (removed now): ${left.join(', ')}` : 'no leftover /dev/shm entries'}.`);
    const report = out.join('\n') + '\n';
    process.stdout.write(report);
    if (saveDir && only) log('results not saved: --only ran a part of the benchmark');
    else if (saveDir) {
      const file = saveResults('sync', { dir: saveDir, quick, command: commandLine('bench:sync', process.argv.slice(2)),
        tables: tablesFromMarkdown(report), charts: syncCharts(R), report });
      log(`results: ${file}`);
    }
    const failed = Object.values(R).some((r) => r.ok === false);
    process.exitCode = failed ? 1 : 0;
  } finally {
    cleanup();
  }
}

// The charts of BENCHMARKS.md, from the same results as the report: shmkit
// next to the C and socket references of this run.
function syncCharts(R) {
  const us = (ns) => (ns == null ? null : ns / 1000);
  const usable = (r) => r && !r.skipped && r.ok !== false;
  // The pinned pair when it ran (like with like), else the unpinned one.
  const pinnedOr = (p, u) => (usable(R[p]) ? R[p] : R[u]);
  const pinnedRan = usable(R['2a-p']);
  const lat = (label, r, reference = false) => ({ label, values: [us(r?.p50_ns), us(r?.p99_ns)], reference });
  return [
    {
      id: 'mutex', title: 'Uncontended lock + unlock, one thread (median of batches)', unit: 'ns per pair', better: 'lower',
      bars: [
        { label: 'shmkit Mutex lockSync + unlock', value: R['1js']?.mutex?.median_ns ?? null },
        { label: 'C pthread mutex (robust, shared)', value: R['1c']?.median_ns ?? null, reference: true },
        { label: 'JS Atomics CAS + store', value: R['1js']?.cas?.median_ns ?? null, reference: true },
      ],
    },
    {
      id: 'parked', kind: 'grouped', title: `Parked hand-off round trip, two processes${pinnedRan ? ' on two pinned CPUs' : ''}`,
      unit: 'µs', better: 'lower', series: ['p50', 'p99'],
      groups: [
        lat('C futex ping-pong', pinnedOr('2a-pc', '2a-c'), true),
        lat('shmkit waitSync, spin 0', pinnedOr('2a-p', '2a')),
        lat('C futex, 100 µs pause', pinnedOr('3b-pc', '3b-c'), true),
        lat('shmkit await wait(), 100 µs pause', pinnedOr('3b-p', '3b')),
        lat('Unix socket (Node net)', pinnedOr('4-p', '4'), true),
      ],
    },
    {
      id: 'spin', kind: 'grouped', title: 'Back-to-back round trip, two processes (waiters spin first)',
      unit: 'µs', better: 'lower', series: ['p50', 'p99'],
      groups: [
        lat('C busy-spin ping-pong', R['2b-c'], true),
        lat('shmkit waitSync, default spin', R['2b']),
        lat('shmkit await wait(), default spin', R['3a']),
        lat('Unix socket (Node net)', R['4'], true),
      ],
    },
  ];
}

// ------------------------------------------------------------------------------ main

const roles = {
  mutex: roleMutex, ping: rolePing, echo: roleEcho, 'idle-parent': roleIdleParent, 'idle-child': roleIdleChild,
  'uds-ping': roleUdsPing, 'uds-echo': roleUdsEcho,
};
if (args.role) {
  const fn = roles[args.role];
  if (!fn) { console.error(`unknown role ${args.role}`); process.exit(2); }
  // stdout is a pipe (synchronous on Linux): exiting right after emit() loses nothing.
  fn().then(() => { if (args.role !== 'uds-echo') process.exit(0); },
    (e) => { emit({ ok: false, error: String(e?.stack ?? e).split('\n').slice(0, 3).join(' ') }); process.exit(1); });
} else {
  orchestrate().catch((e) => { console.error(e); process.exitCode = 1; });
}
