// `shmkit rm NAME... [--force]`: removes POSIX objects and System V segments
// by name, refusing one that a live process uses unless --force.
import { lstatSync } from 'node:fs';
import { Segment, SysVSegment } from '../index.js';
import { CliError } from './errors.js';
import { hiddenCandidates, scanUsers, devKey, type ObjectUser, type UsersScan } from './users.js';
import { note } from './output.js';
import { hiddenNote } from './ls.js';
import { findSysv, parseSysvName, sysvName } from './sysv.js';

export interface RmOptions {
  force?: boolean;
}

/** `pid command (maps it, holds it open)`, joined. */
export function describeUsers(users: readonly ObjectUser[]): string {
  return users
    .map((u) => `pid ${u.pid} (${u.command}, ${u.how.map((h) => (h === 'map' ? 'maps it' : 'holds it open')).join(' and ')})`)
    .join(', ');
}

/** One name's outcome: removed (with who still uses it), or failed with an error code. */
type Outcome = { removed: string; stillUsedBy: string | undefined } | { code: string; message: string };

function failure(err: unknown): Outcome {
  const e = err as { code?: string; message?: string };
  return { code: e.code ?? 'ERR_SHMKIT_CLI', message: e.message ?? String(err) };
}

function inUse(name: string, who: string): Outcome {
  return { code: 'ERR_SHMKIT_IN_USE', message: `'${name}' is in use by ${who}; not removed (--force removes it anyway)` };
}

function rmPosix(given: string, scan: UsersScan, options: RmOptions): Outcome {
  const name = given.startsWith('/') ? given : `/${given}`;
  if (name.length < 2 || name.slice(1).includes('/')) return { code: 'EINVAL', message: `'${given}' is not a POSIX shared memory name` };
  let st;
  try {
    st = lstatSync(`/dev/shm${name}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'ERR_SHMKIT_CLI';
    return { code, message: code === 'ENOENT' ? `'${name}': no such object in /dev/shm` : `'${name}': ${(err as Error).message}` };
  }
  const users = scan.posix.get(devKey(st.dev, st.ino)) ?? [];
  if (users.length && !options.force) return inUse(name, describeUsers(users));
  const unknown = hiddenCandidates(scan.hidden, st.uid, st.mode);
  if (unknown.length && !users.length) note(`'${name}': ${hiddenNote(scan.hidden.length)} (one of them may use it)`);
  try {
    Segment.unlink(name);
  } catch (err) {
    return failure(err);
  }
  return { removed: name, stillUsedBy: users.length ? `still mapped by ${describeUsers(users)}` : undefined };
}

// A System V segment is in use while the kernel counts an attachment
// (nattch): that count covers every process, also those /proc hides from us.
// IPC_RMID on an attached one (--force) only marks it: the kernel destroys it
// at its last detach, and the key is free for a new segment at once.
function rmSysv(given: string, scan: UsersScan, options: RmOptions): Outcome {
  const selector = parseSysvName(given);
  if (!selector) return { code: 'EINVAL', message: `'${given}' is not a System V segment name (sysv:0x<key> or sysv:private:<shmid>)` };
  let found;
  try {
    found = findSysv(selector);
  } catch (err) {
    return failure(err); // no /proc/sysvipc/shm
  }
  if (!found) return { code: 'ENOENT', message: `'${given}': no such System V segment` };
  const name = sysvName(found.key, found.id);
  const users = scan.sysv.get(found.id) ?? [];
  const who = `${users.length ? describeUsers(users) : 'processes not readable here'} (nattch ${found.attachments})`;
  if (found.attachments > 0 && !options.force) return inUse(name, who);
  try {
    SysVSegment.fromId(found.id).remove();
  } catch (err) {
    return failure(err);
  }
  return { removed: name, stillUsedBy: found.attachments > 0 ? `still attached by ${who}: destroyed at its last detach` : undefined };
}

/** Removes each name; reports each failure on stderr and throws once at the end (exit 1) if any failed. */
export function rm(names: string[], options: RmOptions): void {
  const scan = scanUsers();
  let failed = 0;
  for (const given of names) {
    const outcome = given.startsWith('sysv:') ? rmSysv(given, scan, options) : rmPosix(given, scan, options);
    if ('code' in outcome) {
      failed += 1;
      process.stderr.write(`shmkit: ${outcome.code}: ${outcome.message}\n`);
    } else {
      process.stdout.write(`removed ${outcome.removed}${outcome.stillUsedBy ? ` (${outcome.stillUsedBy})` : ''}\n`);
    }
  }
  if (failed) throw new CliError('ERR_SHMKIT_RM', `${failed} of ${names.length} not removed`);
}
