/**
 * shmkit's errors. Every failure is an `Error` with a stable string `code`:
 * an errno name (`ENOENT`, `EACCES`, ...) for system failures, with `syscall`
 * and the object's name in `path`; `ERR_SHMKIT_*` for shmkit's own; and Node's
 * `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` / `ERR_OUT_OF_RANGE` for bad
 * arguments, thrown before any memory or syscall is touched.
 */
import { constants as osConstants } from 'node:os';

/** Codes of failures that are shmkit's own rather than the kernel's. */
export type ShmkitOwnErrorCode =
  | 'ERR_SHMKIT_CLOSED'
  | 'ERR_SHMKIT_BAD_LAYOUT'
  | 'ERR_SHMKIT_CORRUPT'
  | 'ERR_SHMKIT_MISMATCH'
  | 'ERR_SHMKIT_BAD_MESSAGE'
  | 'ERR_SHMKIT_ENCODE'
  | 'ERR_SHMKIT_DECODE'
  | 'ERR_SHMKIT_FD_LOST'
  | 'ERR_SHMKIT_QUEUE_ENDED'
  | 'ERR_SHMKIT_LAGGED'
  | 'ERR_SHMKIT_WRONG_TYPE'
  | 'ERR_SHMKIT_NOT_A_NUMBER'
  | 'ERR_SHMKIT_NO_ADDON'
  | 'ERR_SHMKIT_FOREIGN_OWNER'
  | 'ERR_SHMKIT_REMOTE' // a remote engine (Redis) failed or refused; the message names it
  // The `shmkit` command's (docs/CLI.md), on its stderr: the library's
  // functions never throw them, but they are the package's codes all the same.
  | 'ERR_SHMKIT_IN_USE' // `rm` refused an object a live process uses
  | 'ERR_SHMKIT_RM' // `rm` could not remove some of the names (after one line per name)
  | 'ERR_SHMKIT_GC' // `gc` could not remove some of the objects it meant to
  | 'ERR_SHMKIT_CLI' // a failure that carried no code of its own
  | 'ERR_INVALID_STATE';

/** Node's codes for bad arguments, thrown before anything is touched. */
export type ArgumentErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE'
  | 'ERR_ILLEGAL_CONSTRUCTOR'; // `new` on a class whose instances only a factory makes (Subscriber)

/**
 * errno names shmkit raises. The kernel's failures carry any errno name
 * (with `syscall` and `errno`); these are the ones shmkit also raises itself
 * (a wait's deadline, unlocking a lock not held, ...).
 */
export type SystemErrorCode =
  | 'ENOENT' | 'EEXIST' | 'EACCES' | 'EPERM' | 'ENOSPC' | 'ENOMEM' | 'ENAMETOOLONG' | 'EINVAL'
  | 'EFBIG' | 'EIDRM' | 'ETIMEDOUT' | 'ECONNRESET' | 'EBADF' | 'ENODEV' | 'EDEADLK' | 'EOVERFLOW'
  | 'ECANCELED' | `E${Uppercase<string>}`;

/** Every `code` an error thrown by shmkit can carry. */
export type ShmkitErrorCode = ShmkitOwnErrorCode | ArgumentErrorCode | SystemErrorCode;

/** The base class of every error shmkit raises for a failed operation. */
export class ShmkitError extends Error {
  /** Stable machine-readable code: an errno name or `ERR_SHMKIT_*`. */
  readonly code: ShmkitErrorCode;
  // `declare`: absent fields stay absent instead of showing as undefined.
  /** The failing syscall, for system errors. */
  declare readonly syscall?: string;
  /** The shared-memory name (or other subject) the operation was about. */
  declare readonly path?: string;
  /** The negative errno, as Node's own system errors carry it. */
  declare readonly errno?: number;

  constructor(code: ShmkitErrorCode, message: string, extra: { syscall?: string; path?: string; errno?: number } = {}) {
    super(message);
    this.name = 'ShmkitError';
    this.code = code;
    const self = this as { syscall?: string; path?: string; errno?: number };
    if (extra.syscall !== undefined) self.syscall = extra.syscall;
    if (extra.path !== undefined) self.path = extra.path;
    if (extra.errno !== undefined) self.errno = extra.errno;
  }
}

// The one errno table: number -> name, taken from Node so it matches the
// platform shmkit runs on.
const ERRNO_NAMES = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, num]) => [num, name]),
);

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such shared memory object',
  EEXIST: 'already exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'not enough room in shared memory',
  ENOMEM: 'out of memory',
  ENAMETOOLONG: 'name too long',
  EINVAL: 'invalid argument',
  EFBIG: 'size too large',
  EIDRM: 'segment was removed',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'peer closed the socket',
  EBADF: 'bad file descriptor',
  ENODEV: 'descriptor cannot be memory-mapped',
};

/** Converts `errno` (positive, as native code reports it) into a ShmkitError. */
export function systemError(errno: number, syscall: string, path?: string): ShmkitError {
  const code = (ERRNO_NAMES.get(errno) ?? `EUNKNOWN${errno}`) as SystemErrorCode;
  const text = ERRNO_TEXT[code] ?? code.toLowerCase();
  const where = path === undefined ? syscall : `${syscall} '${path}'`;
  return new ShmkitError(code, `${code}: ${text}, ${where}`, { syscall, path, errno: -errno });
}

/** The handle was already closed; `what` names the object (`Mutex '/jobs'`). */
export function closedError(what: string): ShmkitError {
  return new ShmkitError('ERR_SHMKIT_CLOSED', `${what} is closed`);
}

/**
 * A failure shmkit detects itself that has an errno name (EPERM for
 * unlocking a lock not held, EDEADLK, EOVERFLOW, ETIMEDOUT, ENODEV, ...). No
 * syscall failed, so it carries neither `errno` nor `syscall`.
 */
export function ownError(code: SystemErrorCode | ShmkitOwnErrorCode, subject: string, detail: string, path?: string): ShmkitError {
  return new ShmkitError(code, `${subject}: ${detail}`, path === undefined ? {} : { path });
}

/**
 * `openOrCreate` found an existing object whose geometry differs from the
 * options given. Objects outlive processes, so a configuration that would
 * silently never take effect is refused: omit the option to accept what
 * exists, or unlink the object to change it.
 */
export function mismatchError(what: string, name: string, option: string, existing: unknown, requested: unknown): ShmkitError {
  return new ShmkitError(
    'ERR_SHMKIT_MISMATCH',
    `${what} '${name}' already exists with ${option} ${String(existing)}; openOrCreate asked for ${String(requested)} (omit ${option} to use the existing object, or unlink it first)`,
    { path: name },
  );
}

/** Rethrows a native failure as a ShmkitError naming `path`; other errors pass through. */
export function rethrowNative(err: unknown, path?: string): never {
  if (err instanceof Error && typeof (err as { errno?: unknown }).errno === 'number') {
    const e = err as Error & { errno: number; syscall: string };
    throw systemError(e.errno, e.syscall, path);
  }
  throw err;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'symbol') return `type symbol (${value.description ?? ''})`;
  if (typeof value === 'bigint') return `type bigint (${value}n)`;
  if (typeof value === 'string') return `type string ('${value.length > 28 ? value.slice(0, 25) + '...' : value}')`;
  if (typeof value === 'function') return 'function';
  if (typeof value === 'object') {
    let ctor: string | undefined;
    try { ctor = (value as object).constructor?.name; } catch { ctor = undefined; }
    return `an instance of ${typeof ctor === 'string' && ctor !== '' ? ctor : 'Object'}`;
  }
  return `type ${typeof value} (${String(value)})`;
}

/** String(value) that never throws (Symbols, objects with a throwing toString). */
function printable(value: unknown): string {
  if (typeof value === 'symbol') return value.toString();
  try { return String(value); } catch { return describe(value); }
}

type NodeStyleError<E extends Error> = E & { code: string };

/** `TypeError` with `code: 'ERR_INVALID_ARG_TYPE'`, as Node's own APIs throw. */
export function invalidArgType(name: string, expected: string, actual: unknown): NodeStyleError<TypeError> {
  const e = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`) as NodeStyleError<TypeError>;
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

/** `TypeError` with `code: 'ERR_INVALID_ARG_VALUE'`: right type, unusable value. */
export function invalidArgValue(name: string, reason: string, actual: unknown): NodeStyleError<TypeError> {
  const e = new TypeError(`The "${name}" argument ${reason}. Received ${describe(actual)}`) as NodeStyleError<TypeError>;
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

/** `RangeError` with `code: 'ERR_OUT_OF_RANGE'`. */
export function outOfRange(name: string, range: string, actual: unknown): NodeStyleError<RangeError> {
  const e = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${printable(actual)}`) as NodeStyleError<RangeError>;
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}
