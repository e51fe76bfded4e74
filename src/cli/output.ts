// Output shared by the commands: aligned tables for people (colour only on a
// TTY and never with NO_COLOR), JSON for programs, and the small formatters
// (sizes, modes, ages, user names) every listing uses.
import { readFileSync } from 'node:fs';
import pc = require('picocolors');

/** The `schema` field of every JSON document the command prints; bump on an incompatible change. */
export const JSON_SCHEMA_VERSION = 1;

/** Colours for stdout: on only when stdout is a terminal and NO_COLOR is unset (https://no-color.org). */
export const colors = pc.createColors(Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined);

/** Prints `doc` as one JSON document (with `schema` first) and a newline. */
export function printJson(command: string, doc: object): void {
  process.stdout.write(`${JSON.stringify({ schema: JSON_SCHEMA_VERSION, command, ...doc }, null, 2)}\n`);
}

// Visible width of a cell: ANSI colour sequences take no columns.
const ANSI = /\x1b\[[0-9;]*m/g;
function width(cell: string): number {
  return cell.replace(ANSI, '').length;
}

/** An aligned table: a bold header row, then one row per entry; the last column is not padded. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c)))).join('  ').trimEnd();
  process.stdout.write(`${colors.bold(line(header))}\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

/** A note for people, on stderr (so that stdout stays the table or the JSON). */
export function note(text: string): void {
  process.stderr.write(`shmkit: ${text}\n`);
}

/** 1536 → "1.5K" (binary units, as `ls -lh`). */
export function formatSize(bytes: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${v}B` : `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/** 0o600 → "0600". */
export function formatMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** Seconds → "42s", "5m", "3h", "2d". */
export function formatAge(seconds: number): string {
  if (seconds < 120) return `${Math.max(0, Math.floor(seconds))}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

let passwd: Map<number, string> | undefined;

/** The user name of `uid` from /etc/passwd, or undefined. */
export function userName(uid: number): string | undefined {
  if (!passwd) {
    passwd = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id !== undefined && /^\d+$/.test(id) && !passwd.has(Number(id))) passwd.set(Number(id), name);
      }
    } catch {
      // no passwd file (a minimal container): uids only
    }
  }
  return passwd.get(uid);
}

/** `uid` as a name when it has one, else the number (for a filter: either matches). */
export function ownerOf(uid: number): string {
  return userName(uid) ?? String(uid);
}

/** The uid named by `--owner` (a user name or a number), or undefined when unknown. */
export function parseOwner(owner: string): number | undefined {
  if (/^\d+$/.test(owner)) return Number(owner);
  userName(0);
  for (const [uid, name] of passwd ?? []) if (name === owner) return uid;
  return undefined;
}
