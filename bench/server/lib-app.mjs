// Shared by bench/server/rate-limit.mjs and cache.mjs: the examples/http-cluster
// server started in several configurations (variants of the same app), and
// autocannon driving them on loopback.
//
// The variants of one section run side by side (an idle server costs no
// CPU) and are measured in interleaved rounds (A B C, C B A, ...), so a
// burst of background load on this shared machine lands on all of them
// rather than on whichever ran at that moment. A variant's requests/s is
// its responses over its measured seconds (to the last response), all
// rounds together; a ratio between two variants is the median of the
// rounds' ratios; p50/p99 are nearest-rank over every response's latency
// (autocannon's own histogram keeps whole milliseconds).
import os from 'node:os';
import autocannon from 'autocannon';
import { procStatTicks, summarize } from '../lib/common.mjs';
import { request, startHttpCluster } from '../../test/fixtures/http-cluster-server.mjs';

/** HTTP workers of every server: the CPUs, as the example's default. */
export const WORKERS = os.availableParallelism();
/** Concurrent connections autocannon keeps open. */
export const CONNECTIONS = 32;

// Servers still running: if this script ends another way than through stopApps (an error, a
// SIGTERM of its own), each gets a SIGTERM and stops as a user's would, removing its objects.
const live = new Set();
let hooked = false;
function terminateLive() {
  for (const server of live) server.proc.child.kill('SIGTERM');
}
function track(server) {
  live.add(server);
  if (hooked) return;
  hooked = true;
  process.once('exit', terminateLive);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      terminateLive();
      process.kill(process.pid, signal);
    });
  }
}

/** Starts one server per variant ({ label, env }), one after another; resolves with [{ ...variant, server }]. */
export async function startApps(variants, env) {
  const apps = [];
  try {
    for (const v of variants) {
      const prefix = `bench-server-${process.pid}-${v.id}`;
      const server = await startHttpCluster({ WORKERS: String(WORKERS), APP_PREFIX: prefix, ...env, ...v.env }, { timeoutMs: 30 * 60_000 });
      track(server);
      apps.push({ ...v, server });
    }
  } catch (err) {
    await stopApps(apps);
    throw err;
  }
  return apps;
}

/** Stops every server with SIGTERM (as a user would) and waits for each; a failed stop is reported, not thrown. */
export async function stopApps(apps) {
  for (const { server } of apps) server.proc.child.kill('SIGTERM');
  for (const { label, server } of apps) {
    const timer = setTimeout(() => server.proc.kill(), 20_000);
    const r = await server.proc.done.catch((err) => ({ code: null, signal: err.message, stderr: '' }));
    clearTimeout(timer);
    live.delete(server);
    if (r.code !== 0) console.error(`(${label}: the server exited ${r.code ?? r.signal}; stderr: ${r.stderr.slice(-500)})`);
  }
}

/** The server's /stats (not rate-limited, counted). */
export async function stats(port) {
  const r = await request(port, { path: '/stats' });
  if (r.status !== 200) throw new Error(`/stats answered ${r.status}: ${r.text}`);
  return r.json;
}

/**
 * One autocannon run against `port`: `seconds` long, or `amount` requests;
 * `setupRequest(req)` may set each request's path and headers. Resolves with
 * { responses, seconds, codes: { status: count }, errors, latencies (ns,
 * Float64Array), n }.
 */
export async function load(port, { seconds, amount, path = '/', headers = {}, setupRequest, connections = CONNECTIONS }) {
  const latencies = new Float64Array(1 << 22);
  let n = 0;
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    ...(amount === undefined ? { duration: seconds } : { amount }),
    requests: [{ method: 'GET', path, headers, ...(setupRequest ? { setupRequest } : {}) }],
  });
  // autocannon notices the end of a run on its 1 s sampling tick: its own duration is rounded up
  // to whole seconds. The rate is counted up to the last response instead.
  const started = performance.now();
  let lastResponse = started;
  instance.on('response', (_client, _status, _bytes, ms) => {
    lastResponse = performance.now();
    if (n < latencies.length) latencies[n++] = ms * 1e6;
  });
  const r = await instance;
  const elapsed = (lastResponse - started) / 1000;
  const codes = Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, { count }]) => [code, Number(count)]));
  return { responses: r.requests.total, seconds: elapsed, codes, errors: r.errors + r.timeouts, latencies, n };
}

/**
 * A warm-up run per app (JIT, connections, a cache), of `seconds` or
 * `amount` requests (`requests(app)`: its setupRequest), before anything is
 * measured.
 */
export async function warm(apps, { seconds, amount, requests }) {
  for (const app of apps) await load(app.server.port, { seconds, amount, setupRequest: requests(app) });
}

/** USER_HZ: the unit of /proc/<pid>/stat's CPU times. */
const TICKS_PER_S = 100;

/** CPU ticks used so far by an app's processes (primary, HTTP workers, job worker) and its `cpuPids` (a redis-server it uses). */
function cpuTicks(app) {
  const { primary, http, jobs } = app.server.pids;
  return [primary, ...http, jobs, ...(app.cpuPids ?? [])].reduce((sum, pid) => sum + (procStatTicks(pid) || 0), 0);
}

/**
 * `rounds` interleaved rounds over `apps`, in alternating order, each of
 * `seconds` or of `amount` requests. `requests(app)` gives each app's
 * setupRequest once (each app may draw the same seeded sequence). Resolves
 * with a Map app → { rate, p50Ms, p99Ms, cpuUsPerRequest, responses,
 * seconds, codes, errors, roundRates }; cpuUsPerRequest is the CPU its
 * processes (and its `cpuPids`) spent per response; roundRates the
 * requests/s of each round (for pairedRatio).
 */
export async function measure(apps, { rounds, seconds, amount, requests }) {
  const setups = new Map(apps.map((app) => [app, requests(app)]));
  const totals = new Map(apps.map((app) => [app, { responses: 0, seconds: 0, ticks: 0, codes: {}, errors: 0, samples: [], roundRates: [] }]));
  for (let round = 0; round < rounds; round++) {
    // A B C, then C B A, ...: no store always goes first (or right after the same other).
    for (const app of round % 2 === 0 ? apps : [...apps].reverse()) {
      const ticks = cpuTicks(app);
      const r = await load(app.server.port, { seconds, amount, setupRequest: setups.get(app) });
      const t = totals.get(app);
      t.ticks += cpuTicks(app) - ticks;
      t.roundRates.push(r.responses / r.seconds);
      t.responses += r.responses;
      t.seconds += r.seconds;
      t.errors += r.errors;
      for (const [code, count] of Object.entries(r.codes)) t.codes[code] = (t.codes[code] ?? 0) + count;
      t.samples.push(r.latencies.subarray(0, r.n));
    }
  }
  const results = new Map();
  for (const [app, t] of totals) {
    const all = new Float64Array(t.samples.reduce((a, s) => a + s.length, 0));
    let at = 0;
    for (const s of t.samples) {
      all.set(s, at);
      at += s.length;
    }
    const q = summarize(all, all.length);
    results.set(app, {
      rate: t.responses / t.seconds, p50Ms: q.p50_ns / 1e6, p99Ms: q.p99_ns / 1e6, cpuUsPerRequest: (t.ticks / TICKS_PER_S) * 1e6 / t.responses,
      responses: t.responses, seconds: t.seconds, codes: t.codes, errors: t.errors, roundRates: t.roundRates,
    });
  }
  return results;
}

/**
 * How `a` compares with `b` when the machine's load moves between rounds:
 * the median over rounds of a's requests/s ÷ b's in the same round (the two
 * ran seconds apart). A total over all rounds lets one busy moment decide.
 */
export function pairedRatio(a, b) {
  const ratios = a.roundRates.map((rate, i) => rate / b.roundRates[i]).sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  return ratios.length % 2 === 1 ? ratios[mid] : (ratios[mid - 1] + ratios[mid]) / 2;
}

/** Milliseconds with 2 significant decimals for the tables. */
export function fmtMs(ms) {
  if (ms == null || Number.isNaN(ms)) return '—';
  return ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}
