// Where a benchmark leaves its numbers for BENCHMARKS.md: one JSON file per
// benchmark, bench/results/<bench>.json (the tables it printed, its report,
// the charts drawn from its measurements), and one SVG per chart,
// bench/results/<bench>-<chart id>.svg, written by the run that measured them.
// scripts/benchmarks-md.mjs (`npm run bench:doc`) turns them into BENCHMARKS.md.
//
//   const dir = resultsDir(args);          // before the run: null, or where to save
//   ...
//   if (dir) saveResults('server', {
//     dir, quick, command: commandLine('bench:server', process.argv.slice(2)),
//     tables: [{ title, columns: ['variant', 'req/s', ...], rows: [['shm', '12 345', ...]] }],
//     charts: [{ id: 'rate-limit-rps', title, unit: 'req/s', better: 'higher',
//                bars: [{ label: 'RateLimiterShm', value: 12345 }, { label: 'RateLimiterRedis', value: 8000, reference: true }] }],
//     notes: ['...'], report: '...the markdown the run printed...',
//   });
//
// The rule: a run saves only when asked, with `--save` (into bench/results/
// of this checkout: the npm scripts bench:sync, bench:channel, bench:dict,
// bench:redis and bench:server pass it) or `--results DIR`. `shmkit bench`
// runs the same scripts from an installed package and passes neither, so it
// never writes into the package; `--save` there is refused (use --results).
// Chart specs: bench/lib/chart.mjs.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, machineLine } from './common.mjs';
import { renderChart } from './chart.mjs';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/**
 * Where this run's results go, from its parsed arguments: `--results DIR`,
 * or `--save` for bench/results/ beside the scripts; null when neither was
 * given. Throws for `--save` in an installed copy (under node_modules/).
 */
export function resultsDir(args, scriptsDir = RESULTS_DIR) {
  if (typeof args.results === 'string') return path.resolve(args.results);
  if (args.results === true) throw new Error('--results needs a directory');
  if (!args.save) return null;
  if (scriptsDir.split(path.sep).includes('node_modules')) {
    throw new Error(`--save writes into ${scriptsDir}, inside an installed package: use --results DIR instead`);
  }
  return scriptsDir;
}

/**
 * The command that reproduces a run: the npm script and the arguments given,
 * less the ones that only say where to save.
 */
export function commandLine(npmScript, argv) {
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--save') continue;
    if (argv[i] === '--results') { if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) i++; continue; }
    rest.push(argv[i]);
  }
  return `npm run ${npmScript}${rest.length ? ` -- ${rest.join(' ')}` : ''}`;
}

/** The file name of a chart's SVG. */
export function chartFile(bench, chart) {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(chart.id ?? '')) throw new Error(`chart id ${JSON.stringify(chart.id)}: lowercase letters, digits and '-' only`);
  return `${bench}-${chart.id}.svg`;
}

/**
 * Writes <dir>/<bench>.json and one SVG per chart, and removes the SVGs that
 * the previous results of this bench listed and this run no longer draws.
 * Returns the JSON file's path.
 */
export function saveResults(bench, { dir = RESULTS_DIR, command, quick, tables = [], charts = [], notes = [], report }) {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${bench}.json`);
  const files = charts.map((c) => chartFile(bench, c));
  if (new Set(files).size !== files.length) throw new Error(`${bench}: two charts with the same id`);
  let previous = [];
  try { previous = (JSON.parse(fs.readFileSync(file, 'utf8')).charts ?? []).map((c) => c.file).filter(Boolean); } catch { /* none yet */ }
  charts.forEach((c, i) => fs.writeFileSync(path.join(dir, files[i]), renderChart(c)));
  for (const f of previous) {
    if (!files.includes(f) && path.basename(f) === f) fs.rmSync(path.join(dir, f), { force: true });
  }
  const doc = {
    bench, command, quick: Boolean(quick), date: new Date().toISOString(), machine: machineLine(machineInfo()),
    tables, charts: charts.map((c, i) => ({ ...c, file: files[i] })), notes, ...(report === undefined ? {} : { report }),
  };
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}

/**
 * The printing side of a driver whose sections report through a ctx
 * (bench/server.mjs, bench/redis.mjs): `table()` and `note()` print as
 * Markdown and keep what they printed, in order (`report`), `chart()` keeps a
 * chart spec; all of it goes to saveResults().
 */
export function reportCollector(log = console.log) {
  const tables = [];
  const charts = [];
  const notes = [];
  const lines = [];
  const print = (text) => { lines.push(text); log(text); };
  return {
    tables, charts, notes, print,
    /** Prints a Markdown table. */
    table(title, columns, rows) {
      tables.push({ title, columns, rows });
      print(`\n### ${title}\n`);
      print(`| ${columns.join(' | ')} |`);
      print(`|${columns.map(() => '---').join('|')}|`);
      for (const r of rows) print(`| ${r.join(' | ')} |`);
    },
    /** Keeps a chart spec (bench/lib/chart.mjs) for the saved results. */
    chart(spec) { charts.push(spec); },
    /** Prints a paragraph. */
    note(text) { notes.push(text); print(`\n${text}`); },
    /** Everything printed so far. */
    get report() { return `${lines.join('\n')}\n`; },
  };
}

/**
 * The Markdown tables in a printed report: [{ title, columns, rows }], each
 * titled by the heading (## or ###) above it. Cells are kept as printed.
 */
export function tablesFromMarkdown(text) {
  const tables = [];
  let title = '';
  const lines = String(text).split('\n');
  const cellsOf = (line) => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
  for (let i = 0; i < lines.length; i++) {
    const h = /^#{2,3}\s+(.*)$/.exec(lines[i]);
    if (h) { title = h[1].trim(); continue; }
    if (!lines[i].startsWith('|') || !/^\|[\s:|-]+\|\s*$/.test(lines[i + 1] ?? '')) continue;
    const table = { title, columns: cellsOf(lines[i]), rows: [] };
    for (i += 2; i < lines.length && lines[i].startsWith('|'); i++) table.rows.push(cellsOf(lines[i]));
    i--;
    tables.push(table);
  }
  return tables;
}
