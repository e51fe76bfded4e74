// The Prometheus text exposition format (version 0.0.4, what prom-client
// serves and every Prometheus-compatible scraper reads) of a snapshot.
import { FAMILIES } from './families.js';
import type { Snapshot } from './snapshot.js';

/** The Content-Type of what render() returns. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// Label values: backslash, double quote and newline are escaped.
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function number(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

/** Every family with at least one sample, in the table's order, plus the snapshot's own figures. */
export function render(snap: Snapshot): string {
  const lines: string[] = [];
  for (const family of FAMILIES) {
    const rows = snap.samples.filter((s) => s.family === family);
    if (rows.length === 0) continue;
    lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
    for (const s of rows) lines.push(`${family.name}{name="${label(s.object)}"} ${number(s.value)}`);
  }
  lines.push('# HELP shmkit_objects Named shmkit objects read in this scrape.', '# TYPE shmkit_objects gauge', `shmkit_objects ${snap.objects}`);
  lines.push('# HELP shmkit_objects_skipped Named objects not read: another owner not trusted, unreadable, or gone meanwhile.',
    '# TYPE shmkit_objects_skipped gauge', `shmkit_objects_skipped ${snap.skipped}`);
  return lines.join('\n') + '\n';
}
