// `npm run bench:doc`: writes BENCHMARKS.md from the benchmarks' own results
// (bench/results/<bench>.json and the SVG charts beside them, written by
// `npm run bench:sync`, `bench:channel`, `bench:dict`, `bench:redis` and
// `bench:server`, which pass --save), plus the fixed prose below: what each
// benchmark measures and why its references are fair. It also draws each
// chart again from the spec saved in the JSON (the same bytes unless
// bench/lib/chart.mjs changed: a change of style needs no new run), and
// refreshes the headline lines between README.md's
// `<!-- benchmarks:start -->` and `<!-- benchmarks:end -->` markers.
//
//   node scripts/benchmarks-md.mjs [--results DIR] [--out FILE] [--readme FILE | --no-readme]
//
// Every number comes from a results file; a benchmark without one gets a
// line saying so. The output depends only on the results files (no date of
// its own), so running it again without new results changes nothing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatValue, isTime, renderChart } from '../bench/lib/chart.mjs';
import { parseArgs } from '../bench/lib/common.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

// ------------------------------------------------------------------ the fixed prose

/** The benchmarks, in the order of the document. */
export const BENCHES = [
  {
    bench: 'sync',
    title: 'Locks and wake-ups: Mutex and Notifier',
    script: 'bench/sync.mjs',
    npm: 'bench:sync',
    what: [
      'How long an uncontended `Mutex` lock + unlock takes on one thread, and how long one process takes to wake another and be woken back ' +
        '(a round trip over two `Notifier`s) when the waiter spins first, when it parks at once (`{ spin: 0 }`), and with the async `await notifier.wait()`; ' +
        'and what an async waiter costs while it is parked (CPU over an idle second).',
      'References, measured in the same run on the same machine: a C robust process-shared `pthread_mutex` in shared memory and one JS ' +
        '`Atomics.compareExchange` (the floor of any JS lock); C ping-pongs over a futex (FUTEX_WAIT at once, always FUTEX_WAKE: what a parked ' +
        'hand-off costs the kernel) and over a busy-spinning cache line (the floor of any hand-off); and a Unix domain socket between two Node ' +
        'processes (what Node programs use today). The C programs (bench/c/sync-ref.c) are compiled with `cc -O2` at the start of each run, and ' +
        'they are timed the same way as the JS rows (a clock read before the ping and after the pong, on the pinging side). The parked pairs ' +
        'also run pinned to two CPUs, so both sides pay the same cross-CPU wake-up: unpinned, the scheduler sometimes runs both processes on one ' +
        'CPU and sometimes not, which moves C and JS alike by up to 10×.',
    ],
  },
  {
    bench: 'channel',
    title: 'Messages between processes: Queue',
    script: 'bench/channel.mjs',
    npm: 'bench:channel',
    what: [
      'The round trip of a 64-byte message between two processes over two `Queue`s (busy-polling `tryReceive()`, `receiveSync()`, ' +
        '`await receive()`, and with a pause before each ping so that the receiver has gone to sleep), one-way throughput from one producer ' +
        'process to one consumer process at 64 B and 64 KiB (copying, batched and zero-copy APIs), and three producers with three consumers ' +
        'on one Queue. Every message carries a sequence number that its receiver checks.',
      'References, measured in the same run: C ping-pongs over one cache line (busy spin) and over a futex (bench/c/channel-ref.c), a C ' +
        'single-producer single-consumer ring of the same 1 MiB that copies each message in and out, and the transports Node programs use ' +
        'between processes: a Unix domain socket and TCP on 127.0.0.1 (`net`, no Nagle delay) and `child_process` IPC (`process.send`). ' +
        'Each socket row does the same work as the Queue row beside it (the echo sends back what it read; the consumer reassembles and checks ' +
        'every frame). Each row also shows a probe of the machine (a short C ping-pong just before and after it) and the CPU that other ' +
        'processes used meanwhile, to tell a disturbed row from a slow one.',
    ],
  },
  {
    bench: 'dict',
    title: 'Shared state: Dict',
    script: 'bench/dict.mjs',
    npm: 'bench:dict',
    what: [
      '`get`, `set` and `incr` on a `Dict` of 100 000 entries (16-byte keys, 64-byte string values) and 100 000 counters, in one process and ' +
        'with two processes reading at once; `get` as the table grows from 1 000 entries (in the CPU\'s cache) to 100 000 (full run: 1 000 000); ' +
        'memory per entry; values of 1 to 64 KiB.',
      'References, measured in the same run: a plain JS `Map` holding the same strings in one process (what a worker uses when it shares ' +
        'nothing: the ceiling for a store in shared memory); Redis on loopback through ioredis (what workers use to share state today), ' +
        'awaited one by one and pipelined by 100, in three placements of client and server, of which the table keeps Redis\'s best; the ' +
        'cost of one random 64-byte read of memory of the same size (a lookup makes at least two); `Buffer#copy` of a large value\'s bytes. ' +
        'Every implementation visits the keys in the same shuffled order, and every value read is checked.',
    ],
  },
  {
    bench: 'redis',
    title: 'Beyond one host: shmkit/redis',
    script: 'bench/redis.mjs',
    npm: 'bench:redis',
    what: [
      '`RedisDict`, `RedisQueue` and `RedisTopic` awaited one call at a time and pipelined; a `TwoLevelDict` read from its near copy in ' +
        'shared memory against a read from Redis, and under a zipf-like key mix; the bridge carrying Topic messages from one host to another ' +
        '(two IPC and mount namespaces on this machine).',
      'References, measured in the same run on the same redis-server (started by the script on a free loopback port): the very commands ' +
        'each class sends (GET, SET, EVALSHA of the same Lua scripts, XADD/XREAD), issued directly with ioredis, awaited one by one or in a ' +
        'hand-made `pipeline()`. The difference is what the class itself costs. The two sides are measured in alternating chunks so that a ' +
        'burst of load on the machine hits both alike.',
    ],
  },
  {
    bench: 'server',
    title: 'Real HTTP servers: rate limiting, caching, a real-time feed',
    script: 'bench/server.mjs',
    npm: 'bench:server',
    what: [
      'The `examples/http-cluster` server (a `cluster` of HTTP workers) driven by autocannon on loopback, in several variants of the same ' +
        'app: rate limiting with `RateLimiterShm` (shmkit/rate-limiter-flexible), caching with `KeyvShm` (shmkit/keyv) under a zipf-like key ' +
        'mix, and the `examples/realtime-feed` service (UDP ticks in, a Topic, Server-Sent Events out) at 1, 2 and 4 worker processes: ' +
        'requests/s, p50/p99 latency, admitted requests against the configured limit, hit ratio, fan-out rate.',
      'References, measured in the same run with the same app, load and machine: the stores servers use today for the same job: ' +
        '`RateLimiterRedis` and `@keyv/redis` on a local redis-server, `RateLimiterCluster` (the cluster master over IPC), and per-process ' +
        'stores (`RateLimiterMemory`, `lru-cache`), which share nothing and so are the no-sharing ceiling (and admit N× the limit with N workers).',
    ],
  },
];

// The headline ratios: shmkit against one reference of the same run, each
// read from a chart of the results (chart id, bar or group label, series).
// `readme`: also quoted in README.md (with every chart of bench:server).
const HEADLINES = [
  { bench: 'channel', chart: 'round-trip', series: 0, what: '64-byte message, round trip between two processes (p50)', of: 'shmkit Queue await receive()',
    vs: ['Unix socket (Node net)', 'TCP 127.0.0.1 (noDelay)', 'process.send (child_process IPC)'], readme: true },
  { bench: 'channel', chart: 'round-trip', series: 0, what: '64-byte message, round trip, busy-polling (p50)', of: 'shmkit Queue tryReceive() loop', vs: ['C busy-spin, one cache line'] },
  { bench: 'channel', chart: 'throughput-64', what: '64-byte messages, one-way throughput', of: 'shmkit trySendMany / tryReceiveMany', vs: ['Unix socket (Node net)', 'C SPSC ring (copy in + out)'], readme: true },
  { bench: 'sync', chart: 'parked', series: 0, what: 'Wake another process and be woken back, parked (p50)', of: 'shmkit waitSync, spin 0', vs: ['C futex ping-pong', 'Unix socket (Node net)'], readme: true },
  { bench: 'sync', chart: 'mutex', what: 'Uncontended lock + unlock', of: 'shmkit Mutex lockSync + unlock', vs: ['C pthread mutex (robust, shared)'] },
  { bench: 'dict', chart: 'vs-redis', series: 0, what: 'Dict `get` with an `await` on each, against Redis `GET`', of: 'shmkit Dict, await on each', vs: ['Redis, awaited one by one', 'Redis, pipelined ×100'], readme: true },
  { bench: 'dict', chart: 'vs-redis', series: 2, what: 'Dict `incr` against Redis `INCRBY`', of: 'shmkit Dict, plain calls', vs: ['Redis, awaited one by one'] },
  { bench: 'dict', chart: 'vs-map', series: 0, what: 'Dict `get` against a per-process JS Map', of: 'shmkit Dict', vs: ['JS Map (one process only)'] },
  { bench: 'redis', chart: 'two-level-read', what: 'TwoLevelDict read from the near copy against one Redis GET', of: 'shmkit TwoLevelDict, near hit', vs: ['ioredis GET'], readme: true },
];

// ------------------------------------------------------------------ reading results

function readResults(dir) {
  const docs = new Map();
  let files = [];
  try { files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort(); } catch { /* no results yet */ }
  for (const f of files) {
    const doc = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    docs.set(doc.bench ?? f.slice(0, -5), doc);
  }
  return docs;
}

// A run that measured nothing (every section of bench:server not written yet) is no result.
function hasResults(doc) {
  return Boolean(doc && (doc.tables?.length ?? 0) + (doc.charts?.length ?? 0) > 0);
}

/** The bars of a chart as { label, value, reference } (one series of a grouped chart). */
function barsOf(chart, series = 0) {
  if (chart.kind === 'grouped') {
    const s = chart.series?.[series];
    const seriesRef = typeof s === 'object' && s !== null && Boolean(s.reference);
    return (chart.groups ?? []).map((g) => ({ label: g.label, value: g.values?.[series] ?? null, reference: Boolean(g.reference) || seriesRef }));
  }
  return (chart.bars ?? []).map((b) => ({ label: b.label, value: b.value ?? null, reference: Boolean(b.reference) }));
}

/** "2 workers" of "Topic (shm), 2 workers"; null when the label has no size after a comma. */
function sizeOf(label) {
  const m = /, (\d+ \w+)$/.exec(label);
  return m ? m[1] : null;
}

function better(chart) {
  if (chart.better === 'higher' || chart.better === 'lower') return chart.better;
  return isTime(chart.unit ?? '') ? 'lower' : 'higher';
}

const usable = (v) => typeof v === 'number' && Number.isFinite(v) && v > 0;

function trim3(x) { return x >= 100 ? String(Math.round(x)) : String(Number(x.toPrecision(2))); }

/** How shmkit compares with a reference: "7.8× faster", "1.1× slower". */
export function comparison(shm, ref, direction) {
  if (!usable(shm) || !usable(ref)) return null;
  const r = direction === 'lower' ? ref / shm : shm / ref;
  return r >= 1 ? `${trim3(r)}× faster` : `${trim3(1 / r)}× slower`;
}

/** The headline rows: for each spec with numbers, { what, bench, shm: text, rows: [{ ref: text, cmp }] }. */
export function headlines(docs, specs = HEADLINES) {
  const out = [];
  const auto = [];
  // bench:server's charts are written by its sections: each shmkit bar against its references. Bars
  // labelled with a size after a comma ("Topic (shm), 2 workers") are compared only with references of
  // the same size (2 workers with 2 workers: a ratio across sizes would say nothing about the store);
  // the README quotes the largest size measured for every reference kind.
  for (const chart of docs.get('server')?.charts ?? []) {
    const bars = barsOf(chart, 0);
    const refs = bars.filter((b) => b.reference);
    const sized = bars.filter((b) => !b.reference && sizeOf(b.label) !== null);
    if (sized.length === 0) {
      const own = bars.find((b) => !b.reference);
      if (own) auto.push({ bench: 'server', chart: chart.id, series: 0, what: chart.title, of: own.label, vs: refs.map((b) => b.label), readme: true });
      continue;
    }
    for (const own of sized) {
      const vs = refs.filter((b) => sizeOf(b.label) === sizeOf(own.label)).map((b) => b.label);
      if (vs.length) auto.push({ bench: 'server', chart: chart.id, series: 0, what: `${chart.title}, ${sizeOf(own.label)}`, of: own.label, vs, readme: false });
    }
    const largest = auto.filter((h) => h.chart === chart.id).at(-1);
    if (largest) largest.readme = true;
  }
  for (const h of [...specs, ...auto]) {
    const chart = docs.get(h.bench)?.charts?.find((c) => c.id === h.chart);
    if (!chart) continue;
    const bars = barsOf(chart, h.series ?? 0);
    const of = bars.find((b) => b.label === h.of);
    if (!of || !usable(of.value)) continue;
    const dir = better(chart);
    const unit = chart.unit ?? '';
    const rows = [];
    for (const label of h.vs) {
      const ref = bars.find((b) => b.label === label);
      const cmp = ref && comparison(of.value, ref.value, dir);
      if (cmp) rows.push({ ref: `${label}: ${formatValue(ref.value, unit)} ${unit}`, cmp });
    }
    if (rows.length) out.push({ what: h.what, bench: h.bench, readme: Boolean(h.readme), shm: `${h.of}: ${formatValue(of.value, unit)} ${unit}`, rows });
  }
  return out;
}

// ------------------------------------------------------------------ writing

function anchorOf(title) {
  return title.toLowerCase().replace(/[^\p{L}\p{N} -]/gu, '').trim().replace(/ /g, '-');
}

/** The report a run printed, as part of this document: no title or machine line, its top headings at level 3. */
function reportBody(report) {
  const lines = String(report).replace(/\s+$/, '').split('\n').filter((line) => !/^# /.test(line) && !/^machine: /.test(line));
  const levels = lines.map((line) => /^(#+) /.exec(line)?.[1].length).filter(Boolean);
  const shift = levels.length ? 3 - Math.min(...levels) : 0;
  const out = [];
  for (const line of lines) {
    const h = /^(#+) /.exec(line);
    out.push(h ? `${'#'.repeat(h[1].length + shift)}${line.slice(h[1].length)}` : line);
  }
  while (out.length && out[0].trim() === '') out.shift();
  return out.join('\n');
}

function tableMd({ title, columns, rows }) {
  const esc = (c) => String(c).replace(/\|/g, '\\|');
  return [`### ${title}`, '', `| ${columns.map(esc).join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`), ''].join('\n');
}

function runLine(doc) {
  const when = doc.date ? doc.date.slice(0, 16).replace('T', ' ') + ' UTC' : 'unknown date';
  return `${doc.quick ? '**A `--quick` run** (shorter windows, fewer samples: indicative only)' : 'A full run'}, ${when}.`;
}

/** BENCHMARKS.md's text, from the results (a Map bench → results document). */
export function benchmarksMd(docs, { imageDir = 'bench/results' } = {}) {
  const out = [];
  const known = BENCHES.map((b) => b.bench);
  const extra = [...docs.keys()].filter((b) => !known.includes(b)).sort()
    .map((b) => ({ bench: b, title: `bench ${b}`, script: `bench/${b}.mjs`, npm: `bench:${b}`, what: [] }));
  const benches = [...BENCHES, ...extra];

  out.push('# Benchmarks', '');
  out.push('<!-- Generated by `npm run bench:doc` (scripts/benchmarks-md.mjs) from bench/results/*.json: edit the script or rerun the benchmarks, not this file. -->', '');
  out.push('Every benchmark of the project, with the numbers and charts its last saved run produced. Each one measures shmkit next to ' +
    'the references a program would otherwise use (C, Unix sockets, TCP, `process.send`, Redis, the cluster master), **in the same run on ' +
    'the same machine**: compare the ratios within a run; absolute numbers belong to the machine named under each section. The charts ' +
    '(bench/results/*.svg) are drawn by the benchmark scripts from their own results: blue bars are shmkit, grey bars the references.', '');
  const quick = benches.filter((b) => docs.get(b.bench)?.quick).map((b) => b.bench);
  if (quick.length) {
    out.push(`> Results from \`--quick\` runs (${quick.join(', ')}): shorter measurement windows and fewer samples than a full run, on a ` +
      'shared machine. Read them as indicative; the commands under "Reproduce" give full runs.', '');
  }

  out.push('## Headline ratios', '');
  const hl = headlines(docs);
  if (hl.length === 0) out.push('No results yet: run the benchmarks (see [Reproduce](#reproduce)).', '');
  else {
    out.push('| measure | shmkit | reference, same run | shmkit is |', '|---|---|---|---|');
    for (const h of hl) {
      const sec = benches.find((b) => b.bench === h.bench);
      h.rows.forEach((r, i) => out.push(`| ${i === 0 ? `${h.what} ([${h.bench}](#${anchorOf(sec.title)}))` : ''} | ${i === 0 ? h.shm : ''} | ${r.ref} | ${r.cmp} |`));
    }
    out.push('');
  }

  out.push('## Reproduce', '');
  out.push('In a clone, after `npm install` (which builds), on a machine doing nothing else. Each command prints its report as Markdown and, ' +
    'because the npm scripts pass `--save`, writes bench/results/<bench>.json and its charts; `npm run bench:doc` then rewrites this file. ' +
    'The Redis benchmarks need `redis-server` installed (Debian: `apt-get install redis-server`); they start their own on a free port.', '');
  out.push('```sh');
  for (const b of benches) out.push(`npm run ${b.npm}`);
  out.push('npm run bench:doc', '```', '');
  out.push('Add `-- --quick` to any of them for a short run. `npx shmkit bench` runs sync, channel and dict from an installed package and never ' +
    'saves (`--results DIR` on a script saves into DIR).', '');

  for (const b of benches) {
    const doc = docs.get(b.bench);
    out.push(`## ${b.title}`, '');
    for (const p of b.what) out.push(p, '');
    if (!hasResults(doc)) {
      out.push(`No results yet: \`npm run ${b.npm}\` writes them (bench/results/${b.bench}.json).`, '');
      continue;
    }
    out.push(`- **Run:** ${runLine(doc)}`);
    out.push(`- **Machine:** ${String(doc.machine ?? 'unknown').replace(/^machine: /, '')}`);
    out.push(`- **Reproduce:** \`${doc.command ?? `npm run ${b.npm}`}\` (script: ${b.script})`, '');
    for (const c of doc.charts ?? []) {
      if (c.file) out.push(`![${c.title}](${path.posix.join(imageDir, c.file)})`, '');
    }
    if (doc.report) {
      out.push(reportBody(doc.report), '');
    } else {
      for (const n of doc.notes ?? []) out.push(n, '');
      for (const t of doc.tables ?? []) out.push(tableMd(t));
    }
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').replace(/\n*$/, '\n');
}

/** The README's headline block (between its markers): a few lines and the link. */
export function readmeBlock(docs) {
  const hl = headlines(docs).filter((h) => h.readme);
  const lines = ['<!-- benchmarks:start (written by `npm run bench:doc`) -->'];
  if (hl.length === 0) lines.push('[BENCHMARKS.md](BENCHMARKS.md) gathers every benchmark, with charts (no results saved yet).');
  else {
    const quick = [...new Set(hl.map((h) => h.bench))].some((b) => docs.get(b)?.quick);
    lines.push(`Headline ratios from [BENCHMARKS.md](BENCHMARKS.md) (every benchmark: method, machine, tables and charts), each against a reference measured in the same run${quick ? ' (some from `--quick` runs: indicative)' : ''}:`, '');
    for (const h of hl) lines.push(`- ${h.what}: ${h.shm.replace(/^[^:]*: /, '')}, ${h.rows.map((r) => `${r.cmp} than ${r.ref.replace(/: .*/, '')}`).join(', ')}.`);
  }
  lines.push('<!-- benchmarks:end -->');
  return lines.join('\n');
}

function replaceBlock(text, block) {
  const re = /<!-- benchmarks:start[^>]*-->[\s\S]*?<!-- benchmarks:end -->/;
  return re.test(text) ? text.replace(re, block) : null;
}

// ------------------------------------------------------------------ main

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2));
  const resultsDir = path.resolve(typeof args.results === 'string' ? args.results : path.join(ROOT, 'bench', 'results'));
  const outFile = path.resolve(typeof args.out === 'string' ? args.out : path.join(ROOT, 'BENCHMARKS.md'));
  const docs = readResults(resultsDir);
  for (const doc of docs.values()) {
    for (const c of doc.charts ?? []) if (c.file && path.basename(c.file) === c.file) fs.writeFileSync(path.join(resultsDir, c.file), renderChart(c));
  }
  const imageDir = path.relative(path.dirname(outFile), resultsDir).split(path.sep).join('/') || '.';
  fs.writeFileSync(outFile, benchmarksMd(docs, { imageDir }));
  console.log(`${outFile}: ${docs.size} result file(s) from ${resultsDir}`);
  if (!args['no-readme']) {
    const readme = path.resolve(typeof args.readme === 'string' ? args.readme : path.join(ROOT, 'README.md'));
    const text = fs.existsSync(readme) ? fs.readFileSync(readme, 'utf8') : '';
    const next = replaceBlock(text, readmeBlock(docs));
    if (next === null) console.log(`${readme}: no <!-- benchmarks:start --> marker, left as is`);
    else if (next !== text) { fs.writeFileSync(readme, next); console.log(`${readme}: headline ratios refreshed`); }
  }
}
