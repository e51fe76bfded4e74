// `shmkit ls [PATTERN] [--kind K] [--owner U] [--json]`: every shared memory
// object on the machine and who uses it now.
import { listObjects, type ObjectRow } from './objects.js';
import { rowFilter, type FilterOptions } from './filter.js';
import { colors, formatAge, formatMode, formatSize, note, printJson, printTable } from './output.js';
import type { ObjectUser } from './users.js';

export interface LsOptions extends FilterOptions {
  json?: boolean;
}

export function formatUsers(users: readonly ObjectUser[]): string {
  return users.map((u) => `${u.pid} ${u.command}`).join(', ');
}

function kindCell(row: ObjectRow): string {
  if (row.kind === null) return colors.dim(row.type === 'posix' ? '?' : row.type);
  if (row.kind === 'raw') return colors.dim(row.type === 'posix' ? 'raw' : `${row.type} raw`);
  return `${row.kind} v${row.version}`;
}

/** The note printed when /proc hid processes: the listing of users may be incomplete. */
export function hiddenNote(count: number): string {
  const why = process.geteuid?.() === 0 ? 'another namespace or a security module hides them' : 'run as root to see all';
  return `${count} process${count === 1 ? '' : 'es'} not readable: ${why}`;
}

export function ls(pattern: string | undefined, options: LsOptions): void {
  const { objects, scan } = listObjects();
  const rows = objects.filter(rowFilter(pattern, options));
  if (options.json) {
    printJson('ls', { unreadableProcesses: scan.hidden.length, objects: rows });
    return;
  }
  printTable(
    ['NAME', 'KIND', 'SIZE', 'MODE', 'OWNER', 'AGE', 'USERS'],
    rows.map((r) => [
      r.name,
      kindCell(r),
      formatSize(r.size),
      formatMode(r.mode),
      r.owner,
      r.ageSeconds === null ? '-' : formatAge(r.ageSeconds),
      r.users.length ? colors.green(formatUsers(r.users)) : colors.dim('-'),
    ]),
  );
  if (scan.hidden.length) note(hiddenNote(scan.hidden.length));
}
