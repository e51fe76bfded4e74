// `shmkit gc [PATTERN] [--dry-run] [--min-age S] [--raw] [--json]`: removes
// the shared memory objects that nobody uses any more: POSIX objects in
// /dev/shm and, with --raw, System V segments.
//
// A POSIX object goes when all of these hold:
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
//
// A System V segment goes only with --raw (shmkit's objects are POSIX), and
// when all of these hold:
//   - the kernel counts no attachment (nattch 0). That count covers every
//     process, also those /proc hides from us, so it replaces the hidden-
//     process rule above; a mapping in /proc/*/maps keeps it too;
//   - it is not already marked for removal (IPC_RMID asked before);
//   - this process may remove it (its owner, its creator, or root): another
//     user's segment is kept, with the reason, instead of failing the run;
//   - its age (since the latest of ctime, atime, dtime) is at least --min-age.
// Just before IPC_RMID it is looked at again (sysv.ts removeIfUnchanged): one
// attached or detached since the scan is kept.
import { Segment } from '../index.js';
import { listObjects, type ObjectRow } from './objects.js';
import { nameMatches } from './filter.js';
import { CliError } from './errors.js';
import { colors, formatAge, note, printJson, printTable } from './output.js';
import { hiddenNote, formatUsers } from './ls.js';
import { mayRemove, removeIfUnchanged } from './sysv.js';

export interface GcOptions {
  dryRun?: boolean;
  minAge: number;
  raw?: boolean;
  json?: boolean;
}

/** What gc does with an object (JSON `objects[].action`). */
export type GcAction = 'remove' | 'removed' | 'keep' | 'failed';

/** Why gc keeps or removes an object (JSON `objects[].reason`). */
export type GcReason = 'unused' | 'in-use' | 'maybe-in-use' | 'too-young' | 'raw' | 'removing' | 'not-owner';

/** One row of gc's output (JSON `objects[]`). */
export interface GcRow {
  type: ObjectRow['type'];
  name: string;
  kind: string | null;
  size: number;
  ageSeconds: number;
  action: GcAction;
  /**
   * Why: `unused` (goes), `in-use`, `maybe-in-use`, `too-young`, `raw`;
   * System V only: `removing` (IPC_RMID already asked), `not-owner`.
   */
  reason: GcReason;
  /** People-readable detail of the reason. */
  detail: string;
  users: ObjectRow['users'];
  /** When `action` is `failed`: the error's code and message. */
  error?: { code: string; message: string };
}

function baseOf(row: ObjectRow) {
  return { type: row.type, name: row.name, kind: row.kind, size: row.size, ageSeconds: row.ageSeconds ?? 0, users: row.users };
}

function decidePosix(row: ObjectRow, options: GcOptions): GcRow {
  const base = baseOf(row);
  const age = base.ageSeconds;
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

function decideSysv(row: ObjectRow, options: GcOptions): GcRow {
  const base = baseOf(row);
  const age = base.ageSeconds;
  const attached = row.attachments ?? 0;
  if (!options.raw) return { ...base, action: 'keep', reason: 'raw', detail: 'a System V segment (--raw to include)' };
  if (row.removed) return { ...base, action: 'keep', reason: 'removing', detail: 'already marked for removal: the kernel destroys it at its last detach' };
  if (attached > 0 || row.users.length) {
    const who = row.users.length ? formatUsers(row.users) : 'processes not readable here';
    return { ...base, action: 'keep', reason: 'in-use', detail: `attached ${attached} time(s) (nattch), by ${who}` };
  }
  if (!mayRemove({ uid: row.uid, cuid: row.cuid ?? -1 })) {
    return { ...base, action: 'keep', reason: 'not-owner', detail: `owned by ${row.owner}: only its owner, its creator or root may remove it` };
  }
  if (age < options.minAge) return { ...base, action: 'keep', reason: 'too-young', detail: `age ${formatAge(age)} < --min-age ${options.minAge}s` };
  return { ...base, action: 'remove', reason: 'unused', detail: `not attached (nattch 0); age ${formatAge(age)}` };
}

/** Removes the object of a row gc decided to remove; false when a System V segment changed since the scan (then kept). */
function removeObject(source: ObjectRow): boolean {
  if (source.type === 'posix') {
    Segment.unlink(source.name);
    return true;
  }
  // A System V row's `changed` is its lastActivity(), whole seconds.
  return removeIfUnchanged({ id: source.id!, key: source.key!, activity: Date.parse(source.changed!) / 1000 });
}

export function gc(pattern: string | undefined, options: GcOptions): void {
  const { objects, scan } = listObjects();
  // memfds are not collected: the kernel frees one with its last user.
  const sources = objects.filter((o) => o.type !== 'memfd' && (pattern === undefined || nameMatches(o.name, pattern)));
  const rows = sources.map((o) => (o.type === 'posix' ? decidePosix(o, options) : decideSysv(o, options)));
  let failed = 0;
  if (!options.dryRun) {
    for (const [i, row] of rows.entries()) {
      if (row.action !== 'remove') continue;
      try {
        if (removeObject(sources[i]!)) row.action = 'removed';
        else Object.assign(row, { action: 'keep', reason: 'in-use', detail: 'attached or detached since the scan' });
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
      printTable(['NAME', 'KIND', 'AGE', 'ACTION', 'WHY'], shown.map((r) => [r.name, r.kind ?? (r.type === 'sysv' ? 'sysv' : '?'), formatAge(r.ageSeconds), label(r.action), r.error ? `${r.error.code}: ${r.error.message}` : r.detail]));
    } else {
      process.stdout.write('nothing to collect\n');
    }
    if (scan.hidden.length) note(hiddenNote(scan.hidden.length));
  }
  if (failed) throw new CliError('ERR_SHMKIT_GC', `${failed} object(s) could not be removed`);
}
