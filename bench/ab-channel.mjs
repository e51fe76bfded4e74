// bench/ab-channel.mjs - A/B of shmkit builds on sections 2 and 3 of bench/channel.mjs
// (one-way throughput 1 + 1, and 3 + 3 processes), or with --bench dict on section 1 of
// bench/dict.mjs (get/set/incr in one process), or with --bench sync on bench/sync.mjs
// (tests 1, 2a, 2b, 3a, 3b: uncontended Mutex, Notifier hand-offs), alternating the
// builds in one run. Sync rows are rates, so that higher is better everywhere:
// pairs/s = 1e9 / median ns per lock+unlock (test 1), round trips/s = 1e9 / p50 ns.
//
//   node bench/ab-channel.mjs --a DIR --b DIR [--rounds 3] [--quick] [--only 2,3] [--bench channel|dict|sync]
//   node bench/ab-channel.mjs --builds NAME=DIR,NAME=DIR[,...] --paired [--rounds 9] [--quick] [--only 2,3] [--rows ID,...] [--max-others 0.3]
//
//   DIR: a package root holding dist/src/index.mjs and its built addon (e.g. a worktree of
//   an older commit after `npm run build`). The benchmark script is always this checkout's;
//   only the library under it changes.
//
//   Default mode: each round runs the whole selection once per build (order A B, then
//   B A, ...); the table gives each row's median per build and B / A of the medians.
//
//   --paired: on this 2-vCPU VM the host moves vCPUs around, and a row's rate can jump
//   between two levels for seconds at a time (its own C reference row too), so medians
//   of whole-section runs taken tens of seconds apart compare different machines. Paired
//   mode runs ONE ROW at a time for every build back to back (channel: `--rows ID`; the
//   order of the builds rotates every round), so the builds of a round meet the same
//   placement, and it reports for each build against the first (and each against the one
//   before it) the median over rounds of the per-round ratio, with its spread (the rounds'
//   lowest and highest ratios). A round in which another process used more than
//   --max-others CPUs' worth of time (default 0.3; channel and dict report it per run)
//   during either build's run is left out of that pair's ratios and counted.
//   Rows of the C ring and the Unix socket run the same code
//   for every build: their ratios are the run's noise floor. sync runs one test (with its C
//   reference) at a time; dict's section 1 is one process for all its rows, so there a
//   round runs it once per build, back to back.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './lib/common.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const USAGE = 'usage: node bench/ab-channel.mjs (--a DIR --b DIR | --builds NAME=DIR,NAME=DIR,...) [--paired] [--rounds N] [--quick] ' +
  '[--only 2,3] [--rows ID,...] [--max-others CPUS] [--bench channel|dict|sync]';

/** The builds, in order: the first is the baseline of every "÷ first" ratio. */
function buildsOf() {
  if (args.builds) {
    const list = String(args.builds).split(',').map((spec) => {
      const eq = spec.indexOf('=');
      return eq > 0 ? { name: spec.slice(0, eq), dir: path.resolve(spec.slice(eq + 1)) } : null;
    });
    if (list.length >= 2 && list.every(Boolean)) return list;
  } else if (args.a && args.b) {
    return [{ name: 'A', dir: path.resolve(String(args.a)) }, { name: 'B', dir: path.resolve(String(args.b)) }];
  }
  console.error(USAGE);
  process.exit(2);
}
const builds = buildsOf();
for (const b of builds) {
  if (!fs.existsSync(path.join(b.dir, 'dist/src/index.mjs'))) { console.error(`${b.name}: no dist/src/index.mjs under ${b.dir}`); process.exit(2); }
}
const rounds = Number(args.rounds ?? 3);
const bench = String(args.bench ?? 'channel');
if (bench !== 'channel' && bench !== 'dict' && bench !== 'sync') {
  console.error('--bench is channel, dict or sync');
  process.exit(2);
}
const only = String(args.only ?? ({ dict: '1', sync: '1,2a,2b,3a,3b' }[bench] ?? '2,3'));
const paired = Boolean(args.paired);

/** Row ids of channel.mjs sections 2 and 3 (as its --rows takes them), in its order. */
function channelRows() {
  const sections = only.split(',');
  const rows = [];
  if (sections.includes('2')) {
    for (const sz of ['64', '64k']) for (const api of ['c', 'copy', 'into', 'many', 'zc', 'zch', 'uds']) rows.push(`2-${sz}-${api}`);
  }
  if (sections.includes('3')) rows.push('3-sync', '3-async', '3-many', '3-sync11');
  return rows;
}

// bench/dict.mjs's result of a test: { get: {ops_per_s, ...}, set: ..., 'map-get': ... } -> rows like channel.mjs's.
function dictRows(r) {
  const rows = {};
  for (const [test, result] of Object.entries(r)) {
    for (const [op, v] of Object.entries(result ?? {})) {
      if (typeof v?.ops_per_s === 'number') rows[`${test}:${op}`] = { msgs_per_s: v.ops_per_s, others_cpus: result.others_cpus };
    }
  }
  return rows;
}

// bench/sync.mjs's result: { '1js': { mutex: { median_ns }, cas: ... }, '1c': { median_ns }, '2a': { p50_ns }, ... }
// -> rates (higher is better, like the other benches' rows).
function syncRows(r) {
  const rows = {};
  const rate = (ns) => (typeof ns === 'number' && ns > 0 ? { msgs_per_s: 1e9 / ns } : undefined);
  for (const [test, result] of Object.entries(r)) {
    if (result?.ok === false || result?.skipped) continue;
    if (test === '1js') {
      if (rate(result.mutex?.median_ns)) rows['1:mutex lock+unlock'] = rate(result.mutex.median_ns);
      if (rate(result.cas?.median_ns)) rows['1:cas-c'] = rate(result.cas.median_ns); // a plain CAS + store: a reference
    } else if (test === '1c') {
      if (rate(result.median_ns)) rows['1:pthread-c'] = rate(result.median_ns);
    } else if (rate(result?.p50_ns)) {
      rows[/^4(-p)?$/.test(test) ? `${test}-uds` : test] = rate(result.p50_ns); // C rows end in -c / -pc, the socket's in -uds: references
    }
  }
  return rows;
}

/** One run of the benchmark on one build: `unit` is a channel row id or a sync test (paired mode), or null (the whole selection). */
function runOnce(dir, out, unit) {
  const select = !unit ? ['--only', only] : bench === 'sync' ? ['--only', unit] : ['--only', only, '--rows', unit];
  const argv = [path.join(HERE, `${bench}.mjs`), ...select, '--json-out', out, ...(args.quick ? ['--quick'] : [])];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { env: { ...process.env, SHMKIT_BENCH_DIST: path.join(dir, 'dist/src/index.mjs') }, maxBuffer: 1 << 24 },
      (err, stdout, stderr) => {
        let r = null;
        try { r = JSON.parse(fs.readFileSync(out, 'utf8')); } catch { /* the run failed */ }
        if (r && bench === 'dict') r = dictRows(r);
        if (r && bench === 'sync') r = syncRows(r);
        if (!r) process.stderr.write(`run failed (${dir}): ${err?.message ?? ''}\n${String(stderr).slice(-2000)}\n`);
        resolve(r ?? {});
      });
  });
}

// samples[build][row][round] = msgs/s (undefined where that run failed);
// others[build][row][round] = CPUs' worth of time other processes used during it (when the bench reports it)
const samples = Object.fromEntries(builds.map((b) => [b.name, {}]));
const others = Object.fromEntries(builds.map((b) => [b.name, {}]));
// A round whose runs met other work on the machine (a build, a test suite) is left out
// of the paired ratios: more than this many CPUs' worth of others' time during a run.
const MAX_OTHERS = Number(args['max-others'] ?? 0.3);
// Paired mode runs channel rows one at a time, and sync tests one at a time (each with its C reference).
const units = !paired || bench === 'dict' ? [null] : bench === 'sync' ? only.split(',') : args.rows ? String(args.rows).split(',') : channelRows();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-channel-'));
for (let i = 0; i < rounds; i++) {
  for (const unit of units) {
    // Rotate the order every round, so that no build is always first after a pause.
    const order = builds.map((_, k) => builds[(k + i) % builds.length]);
    if (!paired && i % 2 === 1) order.reverse();
    for (const b of order) {
      process.stderr.write(`round ${i + 1}/${rounds}${unit ? ` ${unit}` : ''}: ${b.name} (${b.dir})\n`);
      const r = await runOnce(b.dir, path.join(tmp, `${b.name}-${i}.json`), unit);
      for (const [id, row] of Object.entries(r)) {
        if (typeof row?.msgs_per_s !== 'number' || id.endsWith('-wrap')) continue;
        ((samples[b.name][id] ??= [])[i] = row.msgs_per_s);
        if (typeof row.others_cpus === 'number') ((others[b.name][id] ??= [])[i] = row.others_cpus);
        if (Array.isArray(row.consumer_received)) {
          const total = row.consumer_received.reduce((a, c) => a + c, 0);
          ((samples[b.name][`${id} min consumer share`] ??= [])[i] = total > 0 ? Math.min(...row.consumer_received) / total : 0);
        }
      }
    }
  }
}
fs.rmSync(tmp, { recursive: true, force: true });

const baseOf = (id) => (id.endsWith(' min consumer share') ? id.slice(0, -' min consumer share'.length) : id);
const median = (xs) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[s.length >> 1] : NaN; };
const fmt = (v, share) => (Number.isFinite(v) ? (share ? `${(v * 100).toFixed(1)} %` : v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : `${(v / 1e3).toFixed(0)} k`) : '—');
const ids = [...new Set(builds.flatMap((b) => Object.keys(samples[b.name])))];
const isRef = (id) => /-(c|pc|uds)$|:map-/.test(id);
const unit = { dict: 'ops/s', sync: 'pairs or round trips per second' }[bench] ?? 'msgs/s';
const lines = [...builds.map((b) => `${b.name} = ${b.dir}`)];

if (!paired) {
  const [A, B] = builds;
  lines.push(`${rounds} rounds each, alternating; medians (${unit})`, '',
    `| row | ${A.name} | ${B.name} | ${B.name} / ${A.name} | ${A.name} samples | ${B.name} samples |`, '|---|---|---|---|---|---|');
  for (const id of ids) {
    const share = id.endsWith('share');
    const a = median(samples[A.name][id] ?? []), b = median(samples[B.name][id] ?? []);
    lines.push(`| ${id}${isRef(id) ? ' (reference)' : ''} | ${fmt(a, share)} | ${fmt(b, share)} | ${Number.isFinite(a / b) ? (b / a).toFixed(2) : '—'} | ` +
      `${(samples[A.name][id] ?? []).map((v) => fmt(v, share)).join(' ')} | ${(samples[B.name][id] ?? []).map((v) => fmt(v, share)).join(' ')} |`);
  }
} else {
  // Per-round ratio of build x to build y, over the rounds where both ran on a quiet machine.
  const quiet = (b, id, i) => !((others[b.name][baseOf(id)] ?? [])[i] > MAX_OTHERS);
  const ratios = (id, x, y) => {
    const xs = samples[x.name][id] ?? [], ys = samples[y.name][id] ?? [];
    const out = [];
    let ran = 0;
    for (let i = 0; i < rounds; i++) {
      if (!(Number.isFinite(xs[i]) && Number.isFinite(ys[i]) && ys[i] > 0)) continue;
      ran++;
      if (quiet(x, id, i) && quiet(y, id, i)) out.push(xs[i] / ys[i]);
    }
    out.ran = ran;
    return out;
  };
  const cell = (rs) => (rs.length
    ? `${median(rs).toFixed(2)} (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}${rs.length < rs.ran ? `; ${rs.length} of ${rs.ran}` : ''})`
    : rs.ran ? `— (0 of ${rs.ran} quiet)` : '—');
  const pairs = [];
  for (let k = 1; k < builds.length; k++) {
    pairs.push([builds[k], builds[k - 1]]);
    if (k > 1) pairs.push([builds[k], builds[0]]);
  }
  lines.push(`${rounds} rounds; each round runs ${units[0] ? `one ${bench === 'sync' ? 'test' : 'row'} at a time, every build back to back` : 'the selection once per build, back to back'} ` +
    `(order rotating). Per build: the median ${unit}. Per pair: the median over rounds of that round's ratio, with the lowest and highest in brackets; ` +
    `rounds in which another process used more than ${MAX_OTHERS} CPU during either run are left out (shown as "k of n" when any were).`, '',
  `| row | ${builds.map((b) => b.name).join(' | ')} | ${pairs.map(([x, y]) => `${x.name} / ${y.name}`).join(' | ')} |`,
  `|---|${builds.map(() => '---:').join('|')}|${pairs.map(() => '---:').join('|')}|`);
  for (const id of ids) {
    const share = id.endsWith('share');
    lines.push(`| ${id}${isRef(id) ? ' (reference)' : ''} | ${builds.map((b) => fmt(median(samples[b.name][id] ?? []), share)).join(' | ')} | ` +
      `${pairs.map(([x, y]) => cell(ratios(id, x, y))).join(' | ')} |`);
  }
  lines.push('', `Every round (${unit}; * = others used more than ${MAX_OTHERS} CPU during that run):`, '');
  for (const id of ids) {
    const share = id.endsWith('share');
    const round = (b, v, i) => `${fmt(v, share)}${quiet(b, id, i) ? '' : '*'}`;
    lines.push(`- ${id}: ${builds.map((b) => `${b.name} ${(samples[b.name][id] ?? []).map((v, i) => round(b, v, i)).join(' ')}`).join('; ')}`);
  }
}
process.stdout.write(lines.join('\n') + '\n');
