// `shmkit top [PATTERN] [--interval S] [--iterations N] [--json]`: a live
// table of every named shmkit object and what moves in it: counters as rates
// per second (sent/s, received/s, ...), live gauges as values (a queue's
// length), busiest first. On a terminal it redraws in place and `q` or
// Ctrl-C quits; otherwise (a pipe, a file) it prints one table per interval.
// The figures are each kind's stats(), through the same table and snapshot
// as `shmkit metrics` (src/metrics/), so the two never disagree.
import { familiesOf } from '../metrics/families.js';
import { counterMoves, snapshot, type Snapshot, type SnapshotOptions } from '../metrics/snapshot.js';
import { checkInterval, refresh } from './refresh.js';
import { nameMatches } from './filter.js';
import { JSON_SCHEMA_VERSION, colors, formatSize, printTable } from './output.js';

export interface TopOptions {
  interval?: number;
  iterations?: number;
  json?: boolean;
}

/** One object in one refresh (and the JSON schema's `objects[]`). */
interface TopRow {
  name: string;
  kind: string;
  size: number;
  /** Every figure of its stats() the families table knows, as read now. */
  figures: Record<string, number>;
  /** Counters only: how much each moved since the previous reading (modulo 2^32: they wrap there). */
  deltas: Record<string, number>;
  /** Counters only: deltas per second. */
  rates: Record<string, number>;
}

/** object name → kind, size and figures, from a snapshot. */
function byObject(snap: Snapshot): Map<string, { kind: string; size: number; figures: Record<string, number> }> {
  const objects = new Map<string, { kind: string; size: number; figures: Record<string, number> }>();
  for (const s of snap.samples) {
    let o = objects.get(s.object);
    if (o === undefined) objects.set(s.object, (o = { kind: '', size: 0, figures: {} }));
    if (s.family.kind === '*') o.size = s.value;
    else {
      o.kind = s.family.kind;
      o.figures[s.family.field] = s.value;
    }
  }
  return objects;
}

function rowsOf(before: Snapshot, after: Snapshot, seconds: number): TopRow[] {
  const prev = byObject(before);
  const rows: TopRow[] = [];
  for (const [name, o] of byObject(after)) {
    const was = prev.get(name);
    const deltas: Record<string, number> = {};
    const rates: Record<string, number> = {};
    // An object new since the last reading has no deltas yet.
    if (was !== undefined) {
      for (const [field, m] of Object.entries(counterMoves(o.kind, o.figures, was.figures, seconds))) {
        deltas[field] = m.delta;
        rates[field] = m.perSecond;
      }
    }
    rows.push({ name, kind: o.kind, size: o.size, figures: o.figures, deltas, rates });
  }
  const activity = (r: TopRow) => Object.values(r.rates).reduce((a, b) => a + b, 0);
  return rows.sort((a, b) => activity(b) - activity(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function rate(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v >= 10 ? v.toFixed(0) : v.toFixed(1);
}

/** `sent 1.2k/s  received 1.2k/s  length 12`: counters as rates, live gauges as values. */
function summary(r: TopRow): string {
  const parts: string[] = [];
  for (const family of familiesOf(r.kind)) {
    if (family.config) continue;
    const f = family.field;
    if (family.type === 'counter') {
      if (r.rates[f] !== undefined) parts.push(`${f} ${rate(r.rates[f]!)}/s`);
    } else if (r.figures[f] !== undefined) parts.push(`${f} ${r.figures[f]}`);
  }
  return parts.join('  ');
}

function render(rows: TopRow[], seconds: number, snap: Snapshot, tty: boolean): void {
  const when = new Date().toISOString().replace('T', ' ').replace(/\..*/, '');
  if (tty) process.stdout.write('\x1b[H\x1b[2J');
  process.stdout.write(`${colors.bold('shmkit top')}  ${when}  every ${seconds.toFixed(1)}s  ${rows.length} object(s)` +
    `${snap.skipped ? `, ${snap.skipped} skipped` : ''}${tty ? '  (q quits)' : ''}\n`);
  printTable(['NAME', 'KIND', 'SIZE', 'ACTIVITY'], rows.map((r) => [r.name, r.kind, formatSize(r.size), summary(r)]));
  if (!tty) process.stdout.write('\n');
}

export async function top(pattern: string | undefined, o: TopOptions): Promise<void> {
  const interval = checkInterval(o.interval);
  const options: SnapshotOptions = pattern === undefined ? {} : { match: (n) => nameMatches(n, pattern) };
  const tty = Boolean(process.stdout.isTTY) && !o.json;
  let before = snapshot(options);
  let t0 = performance.now();
  await refresh({ interval, iterations: o.iterations ?? Infinity, keys: tty, waitFirst: true }, () => {
    const after = snapshot(options);
    const t1 = performance.now();
    const seconds = (t1 - t0) / 1000;
    const rows = rowsOf(before, after, seconds);
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ schema: JSON_SCHEMA_VERSION, command: 'top', at: new Date().toISOString(), seconds, skipped: after.skipped, objects: rows })}\n`);
    } else render(rows, seconds, after, tty);
    before = after;
    t0 = t1;
  });
}
