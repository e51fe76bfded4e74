// Selecting objects by kind, name pattern and owner (ls, gc).
import type { ObjectRow } from './objects.js';
import { parseOwner } from './output.js';
import { usageError } from './errors.js';

export interface FilterOptions {
  /** A shmkit kind (`Queue`), `raw`, or a type (`posix`, `sysv`, `memfd`); case-insensitive. */
  kind?: string;
  /** A user name or uid. */
  owner?: string;
}

/** A glob (`*`, `?`) as an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/**
 * Whether `name` matches `pattern`: a glob matched against the whole name,
 * with or without the leading slash of a POSIX name (`jobs-*` and `/jobs-*`
 * are the same pattern).
 */
export function nameMatches(name: string, pattern: string): boolean {
  const re = globToRegExp(pattern);
  return re.test(name) || (name.startsWith('/') && re.test(name.slice(1)));
}

/** A predicate for the rows `pattern`, `--kind` and `--owner` select. */
export function rowFilter(pattern: string | undefined, options: FilterOptions): (row: ObjectRow) => boolean {
  let uid: number | undefined;
  if (options.owner !== undefined) {
    uid = parseOwner(options.owner);
    if (uid === undefined) throw usageError(`--owner: no user named '${options.owner}'`);
  }
  const kind = options.kind?.toLowerCase();
  return (row) =>
    (pattern === undefined || nameMatches(row.name, pattern)) &&
    (uid === undefined || row.uid === uid) &&
    (kind === undefined || row.type === kind || (row.kind ?? 'unreadable').toLowerCase() === kind);
}
