// Argument checks shared by RedisQueue and RedisTopic (the ones remote.ts
// does not already have), with exact messages like src/args.ts.
import { ShmkitError, type WaitOptions } from '../index.js';

/** No deadline (`timeout` absent or Infinity). */
export const FOREVER = -1;

/**
 * Checks an object name: it goes inside a Redis Cluster hash tag
 * (`{name}`), so it may not hold braces (which would end the tag) or line
 * breaks.
 */
export function checkChannelName(name: unknown, kind: string): string {
  if (typeof name !== 'string' || name.length === 0 || /[{}\r\n]/.test(name)) {
    throw new ShmkitError('ERR_INVALID_ARG_VALUE', `The "name" argument of ${kind} must be a non-empty string without '{', '}' or line breaks. Received ${String(name)}`);
  }
  return name;
}

/** Checks an integer option in [min, max]; `fallback` when absent. */
export function checkIntOption(what: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ShmkitError('ERR_OUT_OF_RANGE', `The "options.${what}" option must be an integer >= ${min} and <= ${max}. Received ${String(value)}`);
  }
  return value;
}

/** Checks that `options` is an object or undefined. */
export function checkOptionsObject<T extends object>(options: unknown): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new ShmkitError('ERR_INVALID_ARG_TYPE', `The "options" argument must be of type object. Received ${String(options)}`);
  }
  return options as Partial<T>;
}

/** A wait's checked options: `timeout` in ms (FOREVER: none) and the signal. */
export interface ParsedWait {
  timeout: number;
  signal: AbortSignal | undefined;
}

const NO_WAIT: ParsedWait = { timeout: FOREVER, signal: undefined };

/** Checks `{ timeout, signal }` of receive()/send(). */
export function parseWaitOptions(options: WaitOptions | undefined): ParsedWait {
  if (options === undefined) return NO_WAIT;
  const opts = checkOptionsObject<WaitOptions>(options);
  let timeout = FOREVER;
  if (opts.timeout !== undefined && opts.timeout !== Infinity) {
    if (typeof opts.timeout !== 'number' || Number.isNaN(opts.timeout) || opts.timeout < 0) {
      throw new ShmkitError('ERR_OUT_OF_RANGE', `The "options.timeout" option must be a number >= 0 (ms) or Infinity. Received ${String(opts.timeout)}`);
    }
    timeout = opts.timeout;
  }
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ShmkitError('ERR_INVALID_ARG_TYPE', 'The "options.signal" property must be an instance of AbortSignal');
  }
  return { timeout, signal };
}

/** Milliseconds left before `deadline` (performance.now() based); Infinity without one. */
export function msLeft(deadline: number): number {
  return deadline < 0 ? Infinity : Math.max(0, deadline - performance.now());
}

/** The deadline of a wait of `timeout` ms starting now (FOREVER: none). */
export function deadlineOf(timeout: number): number {
  return timeout < 0 ? FOREVER : performance.now() + timeout;
}
