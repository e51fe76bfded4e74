/**
 * Who may own an object this process opens. /dev/shm is world-writable (and
 * System V keys are shared by every user), so any local user can create a
 * well-known name first and wait for a server to open it: an object owned
 * by another uid is refused unless the caller names that owner as trusted.
 * The check runs on the open descriptor (fstat) or the segment id (IPC_STAT),
 * so nothing can be swapped in between the check and the use.
 */
import { invalidArgType, invalidArgValue, ShmkitError } from '../errors.js';

/** Owners (uids) trusted besides this process's effective uid, or `'any'`. */
export type TrustOwners = readonly number[] | 'any';

/** Validates a `trustOwners` option (undefined: trust only ourselves). */
export function checkTrustOwners(value: unknown, name = 'options.trustOwners'): TrustOwners | undefined {
  if (value === undefined || value === 'any') return value;
  if (!Array.isArray(value)) throw invalidArgType(name, "an Array of uids or 'any'", value);
  for (const uid of value as unknown[]) {
    if (typeof uid !== 'number' || !Number.isInteger(uid) || uid < 0 || uid > 0xffffffff) {
      throw invalidArgValue(name, 'must hold uids (integers 0 .. 2^32 - 1)', value);
    }
  }
  return value as readonly number[];
}

/** The effective uid the kernel checks this process's access with. */
export function effectiveUid(): number {
  return process.geteuid?.() ?? 0;
}

/**
 * Throws ERR_SHMKIT_FOREIGN_OWNER if `owner` is neither this process's
 * effective uid nor trusted. `subject` names the object (`Segment '/jobs'`).
 */
export function checkOwner(owner: number, trust: TrustOwners | undefined, subject: string, path: string): void {
  const me = effectiveUid();
  if (owner === me || trust === 'any' || (trust !== undefined && trust.includes(owner))) return;
  throw new ShmkitError(
    'ERR_SHMKIT_FOREIGN_OWNER',
    `${subject} is owned by uid ${owner}, not by this process's uid ${me}: another user may have created the name first. ` +
      `Open it only if you trust that user: pass { trustOwners: [${owner}] }`,
    { path },
  );
}
