// Errors → stderr and exit codes: 0 ok, 1 error, 2 bad usage. Every message
// reads `shmkit: <code>: <message>`, the code being the errno name
// (ENOENT, EACCES...), a shmkit code (ERR_SHMKIT_*: every one, the
// command's own included, is in the library's ShmkitErrorCode and API.md's
// table) or a usage code (ERR_USAGE, commander's `commander.*`), which only
// the command prints: no function of the library fails with bad usage.
import type { ShmkitErrorCode } from '../index.js';

/** The codes a CliError carries: the library's, the usage code, and Node's for a missing optional peer. */
export type CliErrorCode = ShmkitErrorCode | 'ERR_USAGE' | 'ERR_MODULE_NOT_FOUND';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** An error the command reports and exits with. */
export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;
  constructor(code: CliErrorCode, message: string, exitCode = EXIT_ERROR) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A usage error (exit 2). */
export function usageError(message: string): CliError {
  return new CliError('ERR_USAGE', message, EXIT_USAGE);
}

/** Writes `shmkit: <code>: <message>` for any thrown value. */
export function reportError(err: unknown): void {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : 'ERR_SHMKIT_CLI';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  process.stderr.write(`shmkit: ${code}: ${message}\n`);
}

/** The exit code for a thrown value: CliError's own, else 1. */
export function exitCodeOf(err: unknown): number {
  return err instanceof CliError ? err.exitCode : EXIT_ERROR;
}
