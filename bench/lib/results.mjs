// Where a benchmark leaves its numbers for BENCHMARKS.md: one JSON file per
// benchmark in bench/results/<bench>.json (the tables it printed and the
// charts to draw from them), written by the run that measured them.
//
//   saveResults('server', {
//     command: 'npm run bench:server',
//     tables: [{ title, columns: ['variant', 'req/s', ...], rows: [['shm', '12 345', ...]] }],
//     charts: [{ id: 'rate-limit-rps', title, unit: 'req/s',
//                bars: [{ label: 'RateLimiterShm', value: 12345 }, { label: 'RateLimiterRedis', value: 8000, reference: true }] }],
//   });
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, machineLine } from './common.mjs';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** Writes bench/results/<bench>.json; returns its path. */
export function saveResults(bench, { command, tables = [], charts = [], notes = [] }) {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${bench}.json`);
  const doc = { bench, command, date: new Date().toISOString(), machine: machineLine(machineInfo()), tables, charts, notes };
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  return file;
}
