// npm run bench:server: shmkit's stores and Topic inside real multi-process
// HTTP servers (examples/http-cluster, examples/realtime-feed), driven by
// autocannon on loopback, against the stores servers use today (Redis, the
// cluster master over IPC, per-process memory), all measured in this run. A
// benchmark, not a test: nothing here is asserted on timing.
//
//   node bench/server.mjs [--quick] [--only rate-limit,cache,feed] [--save | --results DIR]
//
// Each section is a module in bench/server/ whose default export is
// `async (ctx) => void`; ctx: { quick, redis (a redis-server this script
// started on a free loopback port: port, url, client()), table(title,
// columns, rows), chart({ id, title, unit, bars: [{ label, value, reference? }] }),
// note(text) }. Sections print their own tables (p50/p99, ratios against the
// references measured in the same run, targets judged). With --save
// (`npm run bench:server` passes it) a whole run's tables, notes and charts
// are also saved in bench/results/server.json and server-<chart id>.svg for
// BENCHMARKS.md (--results DIR: into DIR); bench/lib/chart.mjs describes a
// chart spec (`better: 'higher' | 'lower'` and grouped bars, e.g. p50/p99,
// are there too).
import { machineInfo, machineLine, parseArgs } from './lib/common.mjs';
import { commandLine, reportCollector, resultsDir, saveResults } from './lib/results.mjs';
import { runSections } from './lib/sections.mjs';
import { startRedis } from '../test/fixtures/redis.mjs';

const SECTIONS = ['rate-limit', 'cache', 'feed'];
const args = parseArgs(process.argv.slice(2));
const quick = Boolean(args.quick);
const only = typeof args.only === 'string' ? args.only.split(',') : SECTIONS;
const saveDir = resultsDir(args);

// What the sections print through ctx (table, note) and their charts, kept for bench/results/server.json.
const out = reportCollector();
const { table, chart, note } = out;

console.log(machineLine(machineInfo()));
const redis = await startRedis();
const version = (await redis.client().info('server')).match(/redis_version:(\S+)/)?.[1];
out.print(`redis-server ${version} on 127.0.0.1:${redis.port}; ${quick ? 'quick' : 'full'} run`);
const ctx = { quick, redis, table, chart, note };
try {
  await runSections(new URL('./server/', import.meta.url), SECTIONS, only, ctx);
} finally {
  await redis.stop();
}
if (saveDir && only.length !== SECTIONS.length) console.log('\n(results not saved: --only ran a part of the benchmark)');
else if (saveDir) {
  const { tables, charts, notes, report } = out;
  const file = saveResults('server', { dir: saveDir, quick, command: commandLine('bench:server', process.argv.slice(2)), tables, charts, notes, report });
  console.log(`\nresults: ${file}`);
}
process.exit(0);
