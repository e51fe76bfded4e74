// npm run bench:redis: shmkit/redis against the same Redis commands issued
// directly with ioredis, in the same run, on a redis-server this script starts
// on a free loopback port (Debian's redis-server package).
//
//   node bench/redis.mjs [--quick] [--only dict,channel,two-level,bridge] [--rounds N]
//                        [--save | --results DIR]
//
// Each section is a module in bench/redis/ whose default export is
// `async (ctx) => void`; ctx: { redis (the server: port, url, client()),
// quick, rounds, shmkit, redisLib (shmkit/redis), table(title, columns, rows),
// chart(spec: bench/lib/chart.mjs), note(text), timeIt(fn, { ops, concurrency }) }.
// Sections print their own tables (p50/p99 and the ratio against the
// reference measured in the same run). With --save (`npm run bench:redis`
// passes it) a whole run's tables, notes and charts are also saved in
// bench/results/redis.json and redis-*.svg for BENCHMARKS.md (--results DIR:
// into DIR).
import { machineInfo, machineLine, parseArgs, summarize, fmtRate, fmtUs, fmtRatio, ratio } from './lib/common.mjs';
import { resultsDir, saveResults, commandLine, reportCollector } from './lib/results.mjs';
import { runSections } from './lib/sections.mjs';
import { startRedis } from '../test/fixtures/redis.mjs';

const SECTIONS = ['dict', 'channel', 'two-level', 'bridge'];
const args = parseArgs(process.argv.slice(2));
const quick = Boolean(args.quick);
const rounds = Number(args.rounds ?? (quick ? 1 : 3));
const only = typeof args.only === 'string' ? args.only.split(',') : SECTIONS;

const saveDir = resultsDir(args);
// What the sections print through ctx (table, note) and their charts, kept for bench/results/redis.json.
const out = reportCollector();
const { table, chart, note } = out;

/**
 * Runs `fn(i)` `ops` times with up to `concurrency` calls in flight; returns
 * { rate (ops/s), p50_ns, p99_ns } of each call's latency.
 */
async function timeIt(fn, { ops, concurrency = 1 }) {
  const samples = new Float64Array(ops);
  let next = 0;
  const t0 = process.hrtime.bigint();
  async function lane() {
    while (next < ops) {
      const i = next++;
      const s = process.hrtime.bigint();
      await fn(i);
      samples[i] = Number(process.hrtime.bigint() - s);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  const ns = Number(process.hrtime.bigint() - t0);
  return { rate: ops / (ns / 1e9), ...summarize(samples, ops) };
}

/** One row's cells: rate, p50, p99 (µs), and the ratio of `a` to `ref`. */
export function cells(a, ref) {
  return [fmtRate(a.rate), fmtUs(a.p50_ns), fmtUs(a.p99_ns), ref ? fmtRatio(ratio(a.rate, ref.rate)) : '—'];
}

const shmkit = await import('shmkit');
const redisLib = await import('shmkit/redis');
console.log(machineLine(machineInfo()));
const redis = await startRedis();
const version = (await redis.client().info('server')).match(/redis_version:(\S+)/)?.[1];
out.print(`redis-server ${version} on 127.0.0.1:${redis.port}; ${quick ? 'quick' : 'full'} run, ${rounds} round(s)`);
const ctx = { redis, quick, rounds, shmkit, redisLib, table, chart, note, timeIt, cells };
try {
  await runSections(new URL('./redis/', import.meta.url), SECTIONS, only, ctx);
} finally {
  await redis.stop();
}
if (saveDir && only.length !== SECTIONS.length) console.log('\n(results not saved: --only ran a part of the benchmark)');
else if (saveDir) {
  const { tables, charts, notes, report } = out;
  const file = saveResults('redis', { dir: saveDir, quick, command: commandLine('bench:redis', process.argv.slice(2)), tables, charts, notes, report });
  console.log(`\nresults: ${file}`);
}
process.exit(0);
