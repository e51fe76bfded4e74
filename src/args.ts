// Argument checks shared by every public entry point. They run before the
// addon is called, so bad input never reaches a syscall or touches memory.
import { invalidArgType, invalidArgValue, outOfRange } from './errors.js';

/** Largest size shmkit accepts: exact in a double, and far past any tmpfs. */
export const MAX_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * `value instanceof ctor` that never throws: a revoked Proxy (or one whose
 * getPrototypeOf trap throws) is simply not an instance.
 */
export function isInstance<T>(value: unknown, ctor: Function & { prototype: T }): value is T {
  try {
    return value instanceof ctor;
  } catch {
    return false;
  }
}

export function checkObject<T extends object>(name: string, value: unknown): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object') throw invalidArgType(name, 'of type object', value);
  return value as T;
}

export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} and <= ${max}`, value);
  return value;
}

export function checkSize(name: string, value: unknown): number {
  if (value === undefined) throw invalidArgType(name, 'of type number', value);
  return checkInteger(name, value, 1, MAX_SIZE);
}

export function checkMode(value: unknown, fallback = 0o600): number {
  if (value === undefined) return fallback;
  return checkInteger('mode', value, 0, 0o777);
}

export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.length === 0) throw invalidArgValue(name, 'must not be empty', value);
  return value;
}

/** A timeout in ms; `undefined` or `Infinity` means wait forever (-1 natively). */
export function checkTimeout(value: unknown, name = 'timeout'): number {
  if (value === undefined || value === Infinity) return -1;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!(value >= 0)) throw outOfRange(name, '>= 0 (milliseconds; Infinity waits forever)', value);
  return Math.ceil(value);
}

export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!isInstance(value, AbortSignal)) throw invalidArgType('signal', 'an instance of AbortSignal', value);
  return value;
}
