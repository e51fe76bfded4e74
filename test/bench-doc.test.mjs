// BENCHMARKS.md's machinery, without running a benchmark: the SVG charts
// (bench/lib/chart.mjs), where results are saved and when (bench/lib/results.mjs:
// never into an installed package), and the generator (scripts/benchmarks-md.mjs:
// numbers only from results files, never invented). Nothing here is timed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart, formatValue } from '../bench/lib/chart.mjs';
import { resultsDir, saveResults, commandLine, tablesFromMarkdown, reportCollector } from '../bench/lib/results.mjs';
import { benchmarksMd, headlines, readmeBlock, comparison, BENCHES } from '../scripts/benchmarks-md.mjs';
import { run } from './fixtures/proc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shmkit-bench-doc-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const BARS = {
  id: 'rt', title: 'Round trip <64 B> & more', unit: 'µs', better: 'lower',
  bars: [
    { label: 'C spin', value: 0.2, reference: true },
    { label: 'shmkit Queue', value: 0.5 },
    { label: 'Unix socket', value: 30, reference: true },
    { label: 'failed row', value: null, reference: true },
  ],
};
const GROUPED = {
  id: 'pair', kind: 'grouped', title: 'Dict vs Redis', unit: 'ops/s', better: 'higher',
  series: ['get', { name: 'ioredis', reference: true }],
  groups: [{ label: 'op a', values: [3e6, 4e4] }, { label: 'op b', values: [2e6, NaN] }],
};

/** The fill colours of the bars (<rect> with a <title>), in order. */
const barFills = (svg) => [...svg.matchAll(/<rect [^>]*fill="(#[0-9a-f]+)"><title>/g)].map((m) => m[1]);

test('a bar chart: deterministic, accessible, shmkit blue and references grey, log scale when values span decades, n/a for a missing value', () => {
  const svg = renderChart(BARS);
  assert.equal(renderChart(structuredClone(BARS)), svg, 'the same spec gives the same bytes');
  assert.match(svg, /^<svg [^>]*role="img" aria-labelledby="rt-title rt-desc"/);
  assert.match(svg, /<title id="rt-title">Round trip &lt;64 B&gt; &amp; more<\/title>/, 'the title, escaped');
  const desc = /<desc id="rt-desc">([^<]*)<\/desc>/.exec(svg)?.[1];
  assert.ok(desc, 'a <desc>');
  for (const s of ['C spin (reference): 0.200', 'shmkit Queue: 0.500', 'Unix socket (reference): 30.0', 'failed row (reference): n/a']) assert.ok(desc.includes(s), `desc has "${s}": ${desc}`);
  const fills = barFills(svg);
  assert.equal(fills.length, 3, 'no bar for the missing value');
  assert.equal(fills[0], fills[2], 'the references share a colour');
  assert.notEqual(fills[0], fills[1], 'shmkit has its own');
  assert.match(svg, /log scale/, '0.2 to 30: a log scale');
  assert.match(svg, />n\/a</);
  assert.doesNotMatch(svg, /NaN|undefined/);
  // Bars grow with their values (log or not).
  const widths = [...svg.matchAll(/<rect [^>]*width="([\d.]+)" height="\d+" fill="#[0-9a-f]+"><title>/g)].map((m) => Number(m[1]));
  assert.ok(widths[0] < widths[1] && widths[1] < widths[2], `bar widths follow the values: ${widths}`);
  const linear = renderChart({ ...BARS, bars: BARS.bars.slice(0, 2) });
  assert.doesNotMatch(linear, /log scale/, '0.2 to 0.5: linear');
});

test('a grouped chart: one bar per series, a reference series grey in every group', () => {
  const svg = renderChart(GROUPED);
  const fills = barFills(svg);
  assert.equal(fills.length, 3, 'two groups × two series, less the NaN');
  assert.equal(fills[0], fills[2], 'the shmkit series keeps its colour');
  assert.notEqual(fills[0], fills[1]);
  assert.match(svg, /higher is better/);
  assert.match(svg, /op a: get 3\.00 M, ioredis \(reference\) 40\.0 k/);
  assert.equal(formatValue(1234, 'µs'), '1234', 'a time stays in its unit');
  assert.equal(formatValue(1234, 'ops/s'), '1.23 k');
});

test('results: saved only when asked, never into an installed package; JSON and one SVG per chart, stale SVGs removed', () => {
  assert.equal(resultsDir({}), null, 'no --save, no --results: nothing is written');
  assert.equal(resultsDir({ results: dir }), dir);
  assert.equal(resultsDir({ save: true }, '/repo/bench/results/'), '/repo/bench/results/');
  assert.throws(() => resultsDir({ save: true }, '/app/node_modules/shmkit/bench/results/'), /inside an installed package: use --results DIR/);
  assert.throws(() => resultsDir({ results: true }), /--results needs a directory/);
  assert.equal(commandLine('bench:sync', ['--save', '--quick']), 'npm run bench:sync -- --quick');
  assert.equal(commandLine('bench:dict', ['--results', '/tmp/x']), 'npm run bench:dict');

  const out = join(dir, 'results');
  const report = '# title\n\n## 1. First\n\ntext\n\n| a | b |\n|---|---:|\n| 1 | 2 |\n| 3 | 4 |\n\n### Second\n| c |\n|---|\n| x |\n';
  const file = saveResults('demo', { dir: out, quick: true, command: 'npm run bench:demo', charts: [BARS, GROUPED], tables: tablesFromMarkdown(report), report });
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  assert.deepEqual(doc.tables, [{ title: '1. First', columns: ['a', 'b'], rows: [['1', '2'], ['3', '4']] }, { title: 'Second', columns: ['c'], rows: [['x']] }]);
  assert.deepEqual(doc.charts.map((c) => c.file), ['demo-rt.svg', 'demo-pair.svg']);
  assert.equal(doc.quick, true);
  assert.match(doc.machine, /^machine: nproc \d+/);
  assert.equal(readFileSync(join(out, 'demo-rt.svg'), 'utf8'), renderChart(BARS));
  saveResults('demo', { dir: out, charts: [BARS] });
  assert.deepEqual(readdirSync(out).sort(), ['demo-rt.svg', 'demo.json'], 'the chart this run no longer draws is gone');
  assert.throws(() => saveResults('demo', { dir: out, charts: [{ ...BARS, id: '../x' }] }), /chart id/);

  // A driver's ctx (bench:server, bench:redis): what it prints is what it keeps, in order.
  const printed = [];
  const c = reportCollector((line) => printed.push(line));
  c.print('redis-server 7');
  c.table('T', ['a', 'b'], [['1', '2']]);
  c.note('a note');
  c.chart(BARS);
  assert.equal(c.report, `${printed.join('\n')}\n`);
  assert.equal(c.report, 'redis-server 7\n\n### T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\na note\n');
  assert.deepEqual([c.tables, c.notes, c.charts], [[{ title: 'T', columns: ['a', 'b'], rows: [['1', '2']] }], ['a note'], [BARS]]);
});

test('the shipped scripts refuse --save from an installed copy before running anything', async () => {
  // bench/ as `npm install shmkit` lays it out: under node_modules/.
  const pkg = join(dir, 'app', 'node_modules', 'shmkit');
  mkdirSync(join(pkg, 'bench'), { recursive: true });
  for (const f of ['lib', 'sync.mjs', 'channel.mjs', 'dict.mjs']) cpSync(join(ROOT, 'bench', f), join(pkg, 'bench', f), { recursive: true });
  for (const f of ['sync.mjs', 'channel.mjs', 'dict.mjs']) {
    const r = await run(process.execPath, [join(pkg, 'bench', f), '--save', '--quick'], { timeoutMs: 20000 });
    assert.notEqual(r.code, 0, `${f} --save failed`);
    assert.match(r.stderr, /inside an installed package: use --results DIR/, f);
    assert.equal(existsSync(join(pkg, 'bench', 'results')), false, `${f} wrote nothing into the package`);
  }
});

test('BENCHMARKS.md: every benchmark, no numbers without results; headlines and charts from the results', () => {
  const empty = benchmarksMd(new Map());
  for (const b of BENCHES) assert.ok(empty.includes(`No results yet: \`npm run ${b.npm}\``), `${b.bench} says it has no results`);
  assert.doesNotMatch(empty, /!\[|\| measure \||\*\*Run:\*\*/, 'no headline table, chart or run');
  assert.ok(empty.includes('## Headline ratios\n\nNo results yet'));
  assert.equal(benchmarksMd(new Map()), empty, 'deterministic');

  const chart = { id: 'round-trip', kind: 'grouped', file: 'channel-round-trip.svg', title: 'RT', unit: 'µs', better: 'lower', series: ['p50', 'p99'],
    groups: [{ label: 'shmkit Queue await receive()', values: [4, 9] }, { label: 'Unix socket (Node net)', values: [32, 80], reference: true },
      { label: 'TCP 127.0.0.1 (noDelay)', values: [null, null], reference: true }] };
  const server = { id: 'rl', file: 'server-rl.svg', title: 'Rate limit', unit: 'req/s', better: 'higher',
    bars: [{ label: 'RateLimiterShm', value: 15000 }, { label: 'RateLimiterRedis', value: 10000, reference: true }] };
  const docs = new Map([
    ['channel', { bench: 'channel', quick: true, date: '2025-01-02T03:04:05.000Z', machine: 'machine: nproc 2, test box', command: 'npm run bench:channel -- --quick',
      charts: [chart], tables: [], report: '# shmkit channel benchmark\n\nmachine: nproc 2\n\n## 1. Round trip\n\n| a |\n|---|\n| 1 |\n\n### 1a. Detail\n' }],
    ['server', { bench: 'server', date: '2025-01-02T03:04:05.000Z', machine: 'machine: nproc 2', command: 'npm run bench:server', charts: [server],
      tables: [{ title: 'Rate limiting', columns: ['store', 'req/s'], rows: [['shm', '15 000']] }], notes: ['a note'] }],
    ['redis', { bench: 'redis', machine: 'machine: nproc 2', command: 'npm run bench:redis', charts: [], tables: [], report: '\n(section dict: not written yet)\n' }],
  ]);
  const md = benchmarksMd(docs);
  assert.ok(md.includes('| 64-byte message, round trip between two processes (p50) ([channel](#messages-between-processes-queue)) | shmkit Queue await receive(): 4.00 µs | Unix socket (Node net): 32.0 µs | 8× faster |'), md);
  assert.doesNotMatch(md, /TCP 127\.0\.0\.1 \(noDelay\): n\/a/, 'no row for a missing reference');
  assert.ok(md.includes('| Rate limit ([server](#real-http-servers-rate-limiting-caching-a-real-time-feed)) | RateLimiterShm: 15.0 k req/s | RateLimiterRedis: 10.0 k req/s | 1.5× faster |'), 'server charts: first shmkit bar against the references');
  assert.ok(md.includes('![RT](bench/results/channel-round-trip.svg)'));
  assert.ok(md.includes('**A `--quick` run**'));
  assert.ok(md.includes('- **Reproduce:** `npm run bench:channel -- --quick`'));
  assert.ok(md.includes('\n### 1. Round trip\n') && md.includes('\n#### 1a. Detail\n'), 'the report, its top headings at level 3');
  assert.doesNotMatch(md, /# shmkit channel benchmark|machine: nproc 2\n/, 'without its title and machine line (the section says them)');
  assert.ok(md.includes('### Rate limiting\n\n| store | req/s |\n|---|---|\n| shm | 15 000 |'), 'tables of a bench without a report');
  assert.ok(md.includes('No results yet: `npm run bench:dict`'));
  assert.ok(md.includes('No results yet: `npm run bench:redis`'), 'a run that measured nothing is no result');
  assert.equal(headlines(docs).length, 2);
  assert.equal(comparison(10, 5, 'higher'), '2× faster');
  assert.equal(comparison(10, 5, 'lower'), '2× slower');
  assert.equal(comparison(null, 5, 'lower'), null);
  const block = readmeBlock(docs);
  assert.match(block, /^<!-- benchmarks:start[^>]*-->\n[\s\S]*\[BENCHMARKS\.md\]\(BENCHMARKS\.md\)[\s\S]*<!-- benchmarks:end -->$/);
  assert.ok(block.includes('- 64-byte message, round trip between two processes (p50): 4.00 µs, 8× faster than Unix socket (Node net).'), block);
});

test('npm run bench:doc writes BENCHMARKS.md and the README block from a results directory, and is idempotent', async () => {
  const results = join(dir, 'doc-results');
  saveResults('sync', { dir: results, command: 'npm run bench:sync', charts: [{ ...BARS, id: 'mutex' }], report: '# t\n\n## 1. A\n\nbody\n' });
  const out = join(dir, 'doc', 'BENCHMARKS.md');
  mkdirSync(join(dir, 'doc'));
  const readme = join(dir, 'doc', 'README.md');
  writeFileSync(readme, 'intro\n<!-- benchmarks:start -->\nold\n<!-- benchmarks:end -->\nrest\n');
  const args = [join(ROOT, 'scripts', 'benchmarks-md.mjs'), '--results', results, '--out', out, '--readme', readme];
  const r = await run(process.execPath, args, { timeoutMs: 20000 });
  assert.equal(r.code, 0, r.stderr);
  const md = readFileSync(out, 'utf8');
  assert.ok(md.includes('![Round trip <64 B> & more](../doc-results/sync-mutex.svg)'), 'image paths relative to the document');
  assert.ok(md.includes('### 1. A'));
  assert.match(readFileSync(readme, 'utf8'), /^intro\n<!-- benchmarks:start \(written by `npm run bench:doc`\) -->\n[\s\S]*<!-- benchmarks:end -->\nrest\n$/);
  const again = await run(process.execPath, args, { timeoutMs: 20000 });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(readFileSync(out, 'utf8'), md, 'the same results give the same document');
});
