// POSIX shared-memory names: `/name`, one path component, at most NAME_MAX
// bytes. A name without the leading slash is accepted and normalised.
import { ShmkitError, invalidArgType, invalidArgValue } from '../errors.js';

/** Longest name component the kernel accepts (NAME_MAX). */
export const NAME_MAX = 255;

// String.prototype.isWellFormed (Node 20) is newer than the ES2022 lib.
type WellFormed = string & { isWellFormed(): boolean };

/** Returns the canonical `/name` form, or throws a precise error. */
export function normalizeName(value: unknown): string {
  if (typeof value !== 'string') throw invalidArgType('name', 'of type string', value);
  // A lone surrogate becomes U+FFFD in UTF-8, so two different strings would
  // name one object: refuse them instead.
  if (!(value as WellFormed).isWellFormed()) throw invalidArgValue('name', 'must be well-formed Unicode (it has a lone surrogate)', value);
  const bare = value.startsWith('/') ? value.slice(1) : value;
  if (bare.length === 0) throw invalidArgValue('name', 'must name an object (it is empty)', value);
  if (bare.includes('/')) throw invalidArgValue('name', 'must not contain "/" after the leading one', value);
  if (bare.includes('\0')) throw invalidArgValue('name', 'must not contain NUL characters', value);
  if (bare === '.' || bare === '..') throw invalidArgValue('name', 'must not be "." or ".."', value);
  if (Buffer.byteLength(bare) > NAME_MAX) {
    // Refused before shm_open is called: no syscall failed, so no errno/syscall.
    throw new ShmkitError('ENAMETOOLONG', `ENAMETOOLONG: name '/${bare.slice(0, 32)}...' is longer than ${NAME_MAX} bytes`, { path: `/${bare}` });
  }
  return `/${bare}`;
}
