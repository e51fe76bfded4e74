// `shmkit rm NAME... [--force]`: removes POSIX objects by name, refusing one
// that a live process maps or holds open unless --force.
import { lstatSync } from 'node:fs';
import { Segment } from '../index.js';
import { CliError } from './errors.js';
import { hiddenCandidates, scanUsers, devKey, type ObjectUser } from './users.js';
import { note } from './output.js';
import { hiddenNote } from './ls.js';

export interface RmOptions {
  force?: boolean;
}

/** `pid command (maps it, holds it open)`, joined. */
export function describeUsers(users: readonly ObjectUser[]): string {
  return users
    .map((u) => `pid ${u.pid} (${u.command}, ${u.how.map((h) => (h === 'map' ? 'maps it' : 'holds it open')).join(' and ')})`)
    .join(', ');
}

/** Removes each name; reports each failure on stderr and throws once at the end (exit 1) if any failed. */
export function rm(names: string[], options: RmOptions): void {
  const scan = scanUsers();
  let failed = 0;
  const fail = (code: string, message: string) => {
    failed += 1;
    process.stderr.write(`shmkit: ${code}: ${message}\n`);
  };
  for (const given of names) {
    const name = given.startsWith('/') ? given : `/${given}`;
    if (name.length < 2 || name.slice(1).includes('/')) {
      fail('EINVAL', `'${given}' is not a POSIX shared memory name`);
      continue;
    }
    let st;
    try {
      st = lstatSync(`/dev/shm${name}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'ERR_SHMKIT_CLI';
      fail(code, code === 'ENOENT' ? `'${name}': no such object in /dev/shm` : `'${name}': ${(err as Error).message}`);
      continue;
    }
    const users = scan.posix.get(devKey(st.dev, st.ino)) ?? [];
    if (users.length && !options.force) {
      fail('ERR_SHMKIT_IN_USE', `'${name}' is in use by ${describeUsers(users)}; not removed (--force removes it anyway)`);
      continue;
    }
    const unknown = hiddenCandidates(scan.hidden, st.uid, st.mode);
    if (unknown.length && !users.length) note(`'${name}': ${hiddenNote(scan.hidden.length)} (one of them may use it)`);
    try {
      Segment.unlink(name);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      fail(e.code ?? 'ERR_SHMKIT_CLI', e.message ?? String(err));
      continue;
    }
    process.stdout.write(`removed ${name}${users.length ? ` (still mapped by ${describeUsers(users)})` : ''}\n`);
  }
  if (failed) throw new CliError('ERR_SHMKIT_RM', `${failed} of ${names.length} not removed`);
}
