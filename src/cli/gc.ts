// `shmkit gc [PATTERN] [--dry-run] [--min-age S] [--raw] [--json]`: removes
// the POSIX objects in /dev/shm that nobody uses any more.
//
// An object goes when all of these hold:
//   - it is a shmkit object (a complete header), or --raw was given;
//   - no live process maps it or holds it open (/proc/*/maps, /proc/*/fd);
//   - no process that /proc hides from us could be using it (root's, its
//     owner's, or anyone's if its mode lets group or others in);
//   - its age (since the later of its mtime and ctime: creation, resize,
//     chmod, chown) is at least --min-age seconds (default 5), so a creator
//     between create and its first use is never collected.
// The remaining race (a process opening an old, unused object in the moment
// between the scan and the unlink) is the same as for `rm`; processes that
// already map it keep their memory either way.
import { Segment } from '../index.js';
import { listObjects, type ObjectRow } from './objects.js';
import { nameMatches } from './filter.js';
import { CliError } from './errors.js';
import { colors, formatAge, note, printJson, printTable } from './output.js';
import { hiddenNote, formatUsers } from './ls.js';

export interface GcOptions {
  dryRun?: boolean;
  minAge: number;
  raw?: boolean;
  json?: boolean;
}

/** What gc does with an object (JSON `objects[].action`). */
export type GcAction = 'remove' | 'removed' | 'keep' | 'failed';

/** One row of gc's output (JSON `objects[]`). */
export interface GcRow {
  name: string;
  kind: string | null;
  size: number;
  ageSeconds: number;
  action: GcAction;
  /** Why: `unused` (goes), `in-use`, `maybe-in-use`, `too-young`, `raw`. */
  reason: 'unused' | 'in-use' | 'maybe-in-use' | 'too-young' | 'raw';
  /** People-readable detail of the reason. */
  detail: string;
  users: ObjectRow['users'];
  /** When `action` is `failed`: the error's code and message. */
  error?: { code: string; message: string };
}

function decide(row: ObjectRow, options: GcOptions): GcRow {
  const age = row.ageSeconds ?? 0;
  const base = { name: row.name, kind: row.kind, size: row.size, ageSeconds: age, users: row.users };
  const isShmkit = row.kind !== null && row.kind !== 'raw';
  if (!isShmkit && !options.raw) {
    return { ...base, action: 'keep', reason: 'raw', detail: row.kind === null ? 'header not readable (--raw to include)' : 'not a shmkit object (--raw to include)' };
  }
  if (row.users.length) return { ...base, action: 'keep', reason: 'in-use', detail: `used by ${formatUsers(row.users)}` };
  if (row.unknownUsers.length) {
    return { ...base, action: 'keep', reason: 'maybe-in-use', detail: `${row.unknownUsers.length} unreadable process(es) could use it: run as root` };
  }
  if (age < options.minAge) return { ...base, action: 'keep', reason: 'too-young', detail: `age ${formatAge(age)} < --min-age ${options.minAge}s` };
  return { ...base, action: 'remove', reason: 'unused', detail: `no live process maps it or holds it open; age ${formatAge(age)}` };
}

export function gc(pattern: string | undefined, options: GcOptions): void {
  const { objects, scan } = listObjects();
  const rows = objects
    .filter((o) => o.type === 'posix' && (pattern === undefined || nameMatches(o.name, pattern)))
    .map((o) => decide(o, options));
  let failed = 0;
  if (!options.dryRun) {
    for (const row of rows) {
      if (row.action !== 'remove') continue;
      try {
        Segment.unlink(row.name);
        row.action = 'removed';
      } catch (err) {
        const e = err as { code?: string; message?: string };
        row.action = 'failed';
        row.error = { code: e.code ?? 'ERR_SHMKIT_CLI', message: e.message ?? String(err) };
        failed += 1;
      }
    }
  }
  if (options.json) {
    printJson('gc', { dryRun: Boolean(options.dryRun), minAgeSeconds: options.minAge, raw: Boolean(options.raw), unreadableProcesses: scan.hidden.length, objects: rows });
  } else {
    // People see what goes (or would) and, with --dry-run, what stays and why.
    const shown = options.dryRun ? rows.filter((r) => r.reason !== 'raw' || options.raw) : rows.filter((r) => r.action !== 'keep');
    const label = (a: GcAction) =>
      a === 'remove' ? colors.yellow('would remove') : a === 'removed' ? colors.green('removed') : a === 'failed' ? colors.red('FAILED') : colors.dim('keep');
    if (shown.length) {
      printTable(['NAME', 'KIND', 'AGE', 'ACTION', 'WHY'], shown.map((r) => [r.name, r.kind ?? '?', formatAge(r.ageSeconds), label(r.action), r.error ? `${r.error.code}: ${r.error.message}` : r.detail]));
    } else {
      process.stdout.write('nothing to collect\n');
    }
    if (scan.hidden.length) note(hiddenNote(scan.hidden.length));
  }
  if (failed) throw new CliError('ERR_SHMKIT_GC', `${failed} object(s) could not be removed`);
}
