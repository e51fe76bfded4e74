// Options of every waiting call, parsed once per call with no allocation on
// the paths that do not wait.
import { checkObject, checkSignal, checkTimeout, checkInteger } from '../args.js';

/** Options every waiting call takes. */
export interface WaitOptions {
  /** Give up after this many milliseconds with `code: 'ETIMEDOUT'`. Default: wait forever. */
  timeout?: number;
  /** Abort an async wait; it rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of primitives' handles: how long to spin before parking. */
export interface SpinOptions {
  /**
   * Longest spin, in microseconds, before a wait parks in the kernel. The
   * window adapts: about twice the recent wait time when that is shorter,
   * a token 2 µs when waits take longer (spinning would not pay off).
   * Default 100 (longer than a parked hand-off takes to come back on this
   * kind of VM, so two fast peers that both fell asleep spin again); 0
   * parks at once.
   */
  spin?: number;
}

export interface ParsedWait {
  timeout: number; // FOREVER (-1) or ms
  signal: AbortSignal | undefined;
}

const NO_WAIT_OPTIONS: ParsedWait = Object.freeze({ timeout: -1, signal: undefined });

export function parseWait(options: WaitOptions | undefined): ParsedWait {
  if (options === undefined) return NO_WAIT_OPTIONS;
  const opts = checkObject<WaitOptions>('options', options);
  return { timeout: checkTimeout(opts.timeout), signal: checkSignal(opts.signal) };
}

/** The handle's spin budget; `options` must be an object or undefined. */
export function parseSpin(options: SpinOptions | undefined): number | undefined {
  if (options === undefined) return undefined;
  const spin = checkObject<SpinOptions>('options', options).spin;
  if (spin === undefined) return undefined;
  return checkInteger('options.spin', spin, 0, 1_000_000);
}

/** ObjectSpec.checkOptions for kinds whose handles take SpinOptions. */
export function checkSpinOption(options: unknown): void {
  parseSpin(options as SpinOptions | undefined);
}
