// bench/lib/common.mjs - helpers shared by the benchmarks in bench/ (sync.mjs, channel.mjs,
// dict.mjs): argument parsing, the loader of the built package, CPU accounting (per process
// and of the whole machine), percentiles, the per-process watchdog, spawning a benchmark
// process (group) and reading its JSON line, number formatting, the orchestrator's run
// (names, temp dir, cleanup, hard limit, log), the sweep of stale shm names and the
// machine-info line.
// Node built-ins only.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

export const now = process.hrtime.bigint;

export function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const k = a.slice(2);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) o[k] = true;
    else { o[k] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v; i++; }
  }
  return o;
}

export function emit(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

export async function loadShmkit() {
  // SHMKIT_BENCH_DIST: another build's dist/src/index.mjs (bench/ab-channel.mjs runs a
  // benchmark on two builds, alternately; every process of the run inherits it).
  const entry = process.env.SHMKIT_BENCH_DIST;
  // dist/ is rebuilt by someone else from time to time: retry a transient failure.
  for (let attempt = 1; ; attempt++) {
    try {
      return await import(entry ? pathToFileURL(path.resolve(entry)).href : 'shmkit');
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(400 * attempt);
    }
  }
}

/** mulberry32: a small seeded PRNG, () => [0, 1), the same sequence for the same seed. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sampler of ranks 0..n-1 with P(rank k) ∝ 1 / (k + 1)^s (a zipf-like key mix), drawing from `random`. */
export function zipf(n, s, random) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = (sum += 1 / (k + 1) ** s);
  for (let k = 0; k < n; k++) cdf[k] /= sum;
  return () => {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export function busyWaitNs(ns) {
  const end = now() + ns;
  while (now() < end);
}

// CPU time (user + system, all threads, µs) and voluntary context switches (how often
// any thread of the process went to sleep), from getrusage(RUSAGE_SELF).
export function usage() {
  const r = process.resourceUsage();
  return { cpu: r.userCPUTime + r.systemCPUTime, vcsw: r.voluntaryContextSwitches };
}
export function usageSince(u0) {
  const u = usage();
  return { cpu: u.cpu - u0.cpu, vcsw: u.vcsw - u0.vcsw };
}

// argv prefix that pins a process to one CPU (taskset execs, so the pid stays the same).
export function pinned(cpu, cmd, argv) {
  return cpu === undefined || cpu === null ? [cmd, argv] : ['taskset', ['-c', String(cpu), cmd, ...argv]];
}

// Nearest-rank percentiles over Float64Array of ns.
export function summarize(samples, n) {
  if (n === 0) return { n: 0 };
  const s = samples.slice(0, n).sort();
  const q = (p) => s[Math.min(n, Math.max(1, Math.ceil(p * n))) - 1];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  return { n, p50_ns: q(0.5), p99_ns: q(0.99), p999_ns: q(0.999), mean_ns: sum / n, min_ns: s[0], max_ns: s[n - 1] };
}

export function procStatTicks(pid) { // utime+stime of the whole process (all threads), clock ticks
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch { return NaN; }
}

// Every benchmark process kills itself when its time is up or when its parent is gone
// (a blocked thread cannot watch for that, so a small worker thread does), removing the
// files it owns first (shm objects live in /dev/shm on Linux).
export function startWatchdog(hardMs, pollMs = 1000, files = []) {
  const ppid = process.ppid;
  const code = `
    const { workerData: d } = require('node:worker_threads');
    const fs = require('node:fs');
    const die = () => {
      for (const f of d.files) { try { fs.rmSync(f, { force: true }); } catch {} }
      process.kill(process.pid, 'SIGKILL');
    };
    setTimeout(die, d.hardMs);
    setInterval(() => {
      let pp = -1;
      try { const s = fs.readFileSync('/proc/self/stat', 'utf8'); pp = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]); } catch {}
      if (pp !== d.ppid) die();
    }, d.pollMs);`;
  const w = new Worker(code, { eval: true, workerData: { hardMs, ppid, pollMs, files } });
  w.unref();
  return w;
}

// Spawns a child and collects the last JSON line of its stdout.
export function runJson(cmd, argv, { limitMs, detached = false, onSpawn } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let out = '', err = '', done = false;
    const c = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached });
    if (detached) liveGroups.add(c.pid);
    onSpawn?.(c);
    const kill = () => {
      try { if (detached) process.kill(-c.pid, 'SIGKILL'); else c.kill('SIGKILL'); } catch { /* gone */ }
    };
    const timer = limitMs ? setTimeout(() => { err += `\n[killed after hard limit ${limitMs} ms]`; kill(); }, limitMs) : null;
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    const finish = (code, signal) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (detached) { kill(); liveGroups.delete(c.pid); } // stragglers of the group
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      let r;
      try { r = line ? JSON.parse(line) : null; } catch { r = null; }
      if (!r) r = { ok: false, error: `no result (exit ${code ?? signal})` };
      if (code !== 0 && r.ok !== false) { r.ok = false; r.error = r.error ?? `exit ${code ?? signal}`; }
      if (err.trim() && r.ok === false) r.stderr = err.trim().split('\n').slice(-6).join(' | ');
      r.wall_ms = Date.now() - t0;
      resolve(r);
    };
    c.on('error', (e) => { err += String(e); finish(-1, null); });
    c.on('close', finish);
  });
}

export const liveGroups = new Set();

export function fmtUs(ns) { return ns == null || Number.isNaN(ns) ? '—' : sig(ns / 1000); }
export function sig(x, d = 3) {
  if (x == null || Number.isNaN(x)) return '—';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 10 ** d) return String(Math.round(x));
  return x.toFixed(Math.max(0, d - 1 - Math.floor(Math.log10(a))));
}
export function ratio(a, b) { return a > 0 && b > 0 ? a / b : NaN; }
export function fmtRatio(r) { return Number.isNaN(r) ? '—' : `${sig(r)}×`; }
export function verdict(r, target) {
  if (Number.isNaN(r)) return 'n/a';
  return r <= target ? `meets (≤ ${target}×)` : `**misses** (target ≤ ${target}×)`;
}
export function cpuPerRt(r) {
  if (!r || !r.n) return '—';
  const p = r.pinger_cpu_us, e = r.echo_cpu_us;
  if (p == null) return '—';
  const tot = e == null ? null : (p + e) / r.n;
  return `${tot == null ? '?' : sig(tot)} (${sig(p / r.n)} + ${e == null ? '?' : sig(e / r.n)})`;
}
export function sleepsPerRt(r) {
  if (!r || !r.n || r.pinger_vcsw == null) return '—';
  const p = r.pinger_vcsw / r.n, e = r.echo_vcsw == null ? null : r.echo_vcsw / r.n;
  return `${e == null ? '?' : sig(p + e, 2)} (${sig(p, 2)} + ${e == null ? '?' : sig(e, 2)})`;
}
export function flagsOf(r) {
  if (!r) return 'not run';
  if (r.skipped) return `skipped: ${r.skipped}`;
  const f = [];
  if (r.error) f.push(`ERROR: ${r.error}${r.stderr ? ` (${r.stderr})` : ''}`);
  if (r.timed_out) f.push(`hit deadline: n=${r.n}`);
  if (r.echo_cpu_us === null && !r.error) f.push('echo CPU missing');
  return f.join('; ');
}

// Leftovers of earlier runs that were SIGKILLed (names carry the orchestrator's pid).
export function sweepStale() {
  const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
  for (const dir of ['/dev/shm', os.tmpdir()]) {
    let list = [];
    try { list = fs.readdirSync(dir); } catch { continue; }
    for (const f of list) {
      const m = /^shmkit-bench-(\d+)-/.exec(f);
      if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) {
        try { fs.rmSync(path.join(dir, f), { recursive: true, force: true }); } catch { /* not ours to remove */ }
      }
    }
  }
}

/**
 * The orchestrator's run: a tag unique to it, shm names (newName) and a temp dir that are
 * removed on exit, on SIGINT/SIGTERM/SIGHUP and at a hard limit shortly after the budget
 * (killing every process group still running), and a log line stamped with the run time.
 */
export function startRun(label, budgetMs, tStart = Date.now()) {
  const tag = `shmkit-bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const names = [];
  sweepStale();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  const cleanup = () => {
    for (const pid of liveGroups) { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }
    liveGroups.clear();
    for (const nm of names) fs.rmSync(`/dev/shm${nm}`, { force: true });
    try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* ignore */ }
  };
  process.on('exit', cleanup);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => { cleanup(); process.exit(130); });
  // Last resort: whatever happens, the run ends (and cleans up) shortly after its budget.
  setTimeout(() => { process.stderr.write(`[${label}] overall hard limit hit: killing everything\n`); cleanup(); process.exit(3); }, budgetMs + 8000).unref();
  return {
    tag,
    tmp,
    cleanup,
    newName: (what) => { const nm = `/${tag}-${what}`; names.push(nm); return nm; },
    log: (line) => process.stderr.write(`[${label} ${((Date.now() - tStart) / 1000).toFixed(1)}s] ${line}\n`),
    remaining: () => budgetMs - (Date.now() - tStart),
  };
}

// CPU time of the whole machine (busy jiffies, and steal: time the hypervisor ran something
// else while a vCPU wanted to run) and of this process tree (self + reaped descendants), to
// tell how much other processes used while a test ran.
const TCK = 100; // USER_HZ on Linux
export function cpuSnap() {
  let busy = NaN, mine = NaN, steal = NaN;
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    busy = f[0] + f[1] + f[2] + f[5] + f[6]; // user nice system irq softirq (not idle, iowait, steal)
    steal = f[7];
  } catch { /* no /proc */ }
  try {
    const st = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
    mine = f[11] + f[12] + f[13] + f[14]; // utime stime cutime cstime
  } catch { /* no /proc */ }
  return { busy, mine, steal, t: Date.now() };
}
/** CPUs (1.0 = one whole CPU) used by other processes between snapshots a and b. */
export function othersCpu(a, b) {
  const secs = (b.t - a.t) / 1000;
  if (!(secs > 0.05)) return NaN;
  return Math.max(0, (b.busy - a.busy) - (b.mine - a.mine)) / TCK / secs;
}
/** CPUs' worth of steal time between a and b. */
export function stealCpu(a, b) {
  const secs = (b.t - a.t) / 1000;
  return secs > 0.05 ? Math.max(0, b.steal - a.steal) / TCK / secs : NaN;
}
export function fmtRate(x) {
  if (x == null || Number.isNaN(x)) return '—';
  if (x >= 1e6) return `${sig(x / 1e6)} M`;
  if (x >= 1e3) return `${sig(x / 1e3)} k`;
  return sig(x);
}
export function fmtCpus(x) { return x == null || Number.isNaN(x) ? '—' : x.toFixed(2); }

export function machineInfo() {
  const rd = (p) => { try { return fs.readFileSync(p, 'utf8').trim(); } catch { return '?'; } };
  const cpuinfo = rd('/proc/cpuinfo');
  const model = (cpuinfo.match(/model name\s*:\s*(.*)/) || [])[1] || os.cpus()[0]?.model || '?';
  const hyper = /\bhypervisor\b/.test(cpuinfo);
  let cc = '?';
  try { cc = execFileSync(process.env.CC || 'cc', ['--version'], { encoding: 'utf8' }).split('\n')[0]; } catch { /* none */ }
  return {
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    kernel: `${os.type()} ${os.release()}`, node: process.version, model, hyper, cc,
    clocksource: rd('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
    cpuidle: rd('/sys/devices/system/cpu/cpuidle/current_driver'),
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
}

// The machine line every benchmark report starts with.
export function machineLine(info) {
  return `machine: nproc ${info.nproc}, kernel ${info.kernel}, node ${info.node}; CPU ${info.model}${info.hyper ? ' (hypervisor: VM)' : ''}; ` +
    `clocksource ${info.clocksource}, cpuidle ${info.cpuidle}; ${info.cc}; load avg ${info.loadavg}; ${new Date().toISOString()}`;
}

/**
 * The echo side of a socket round-trip test: sends every `size`-byte frame
 * back as it arrives (reassembling split reads), measures CPU from frame
 * `warm` on, and reports after `total` frames.
 */
export function echoFrames(sock, size, total, warm) {
  let have = 0, count = 0, c0 = usage();
  const chunks = [];
  sock.on('data', (d) => {
    chunks.push(d);
    have += d.length;
    while (have >= size) {
      const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      chunks.length = 0;
      sock.write(buf.subarray(0, size));
      if (buf.length > size) chunks.push(buf.subarray(size));
      have -= size;
      count++;
      if (count === warm) c0 = usage();
      if (count === total) { const u = usageSince(c0); emit({ ok: true, cpu_us: u.cpu, vcsw: u.vcsw }); }
    }
  });
  sock.on('error', () => process.exit(1));
  sock.on('close', () => process.exit(0));
}
