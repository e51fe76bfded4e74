// Errors → stderr and exit codes: 0 ok, 1 error, 2 bad usage. Every message
// reads `shmkit: <code>: <message>`, the code being the errno name
// (ENOENT, EACCES...), a shmkit code (ERR_SHMKIT_*) or a usage code
// (ERR_USAGE, commander's `commander.*`).

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** An error the command reports and exits with. */
export class CliError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = EXIT_ERROR) {
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
