// bench/ab-channel.mjs - A/B of two shmkit builds on sections 2 and 3 of bench/channel.mjs
// (one-way throughput 1 + 1, and 3 + 3 processes), or with --bench dict on section 1 of
// bench/dict.mjs (get/set/incr in one process), or with --bench sync on bench/sync.mjs
// (tests 1, 2a, 2b, 3a, 3b: uncontended Mutex, Notifier hand-offs), alternating the
// builds in one run. Sync rows are rates, so that higher is better everywhere:
// pairs/s = 1e9 / median ns per lock+unlock (test 1), round trips/s = 1e9 / p50 ns.
//
//   node bench/ab-channel.mjs --a DIR --b DIR [--rounds 3] [--quick] [--only 2,3] [--bench channel|dict|sync]
//   DIR: a package root holding dist/src/index.mjs and build/Release/shmkit.node (e.g. a
//   copy of this checkout's dist/ and build/ made before a change). Each round runs
//   channel.mjs once per build (order A B, then B A, ...); the table gives each row's
//   median msgs/s per build and B / A. Rows of the C ring and the Unix socket are
//   references (the same code both times): their ratio shows the run's noise.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from './lib/common.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
if (!args.a || !args.b) {
  console.error('usage: node bench/ab-channel.mjs --a DIR --b DIR [--rounds N] [--quick] [--only 2,3] [--bench channel|dict|sync]');
  process.exit(2);
}
const builds = { A: path.resolve(String(args.a)), B: path.resolve(String(args.b)) };
const rounds = Number(args.rounds ?? 3);
const bench = String(args.bench ?? 'channel');
if (bench !== 'channel' && bench !== 'dict' && bench !== 'sync') {
  console.error('--bench is channel, dict or sync');
  process.exit(2);
}
const only = String(args.only ?? ({ dict: '1', sync: '1,2a,2b,3a,3b' }[bench] ?? '2,3'));

// bench/dict.mjs's result of a test: { get: {ops_per_s, ...}, set: ..., 'map-get': ... } -> rows like channel.mjs's.
function dictRows(r) {
  const rows = {};
  for (const [test, result] of Object.entries(r)) {
    for (const [op, v] of Object.entries(result ?? {})) if (typeof v?.ops_per_s === 'number') rows[`${test}:${op}`] = { msgs_per_s: v.ops_per_s };
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

function runOnce(dir, out) {
  const argv = [path.join(HERE, `${bench}.mjs`), '--only', only, '--json-out', out, ...(args.quick ? ['--quick'] : [])];
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

const samples = { A: {}, B: {} };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ab-channel-'));
for (let i = 0; i < rounds; i++) {
  for (const which of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
    process.stderr.write(`round ${i + 1}/${rounds}: ${which} (${builds[which]})\n`);
    const r = await runOnce(builds[which], path.join(tmp, `${which}-${i}.json`));
    for (const [id, row] of Object.entries(r)) {
      if (typeof row?.msgs_per_s !== 'number' || id.endsWith('-wrap')) continue;
      (samples[which][id] ??= []).push(row.msgs_per_s);
      if (Array.isArray(row.consumer_received)) {
        const total = row.consumer_received.reduce((a, b) => a + b, 0);
        (samples[which][`${id} min consumer share`] ??= []).push(total > 0 ? Math.min(...row.consumer_received) / total : 0);
      }
    }
  }
}
fs.rmSync(tmp, { recursive: true, force: true });

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[s.length >> 1] : NaN; };
const fmt = (v, share) => (Number.isFinite(v) ? (share ? `${(v * 100).toFixed(1)} %` : v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : `${(v / 1e3).toFixed(0)} k`) : '—');
const ids = [...new Set([...Object.keys(samples.A), ...Object.keys(samples.B)])];
const unit = { dict: 'ops/s', sync: 'pairs or round trips per second' }[bench] ?? 'msgs/s';
const lines = [`A = ${builds.A}`, `B = ${builds.B}`, `${rounds} rounds each, alternating; medians (${unit})`, '',
  '| row | A | B | B / A | A samples | B samples |', '|---|---|---|---|---|---|'];
for (const id of ids) {
  const share = id.endsWith('share');
  const a = median(samples.A[id] ?? []), b = median(samples.B[id] ?? []);
  const ref = /-(c|pc|uds)$|:map-/.test(id) ? ' (reference)' : '';
  lines.push(`| ${id}${ref} | ${fmt(a, share)} | ${fmt(b, share)} | ${Number.isFinite(a / b) ? (b / a).toFixed(2) : '—'} | ` +
    `${(samples.A[id] ?? []).map((v) => fmt(v, share)).join(' ')} | ${(samples.B[id] ?? []).map((v) => fmt(v, share)).join(' ')} |`);
}
process.stdout.write(lines.join('\n') + '\n');
