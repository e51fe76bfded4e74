// `shmkit inspect NAME [--offset N] [--length N] [--json]`: what the public
// API can read about one object without joining it as a producer or
// consumer and without taking a lock: every kind's stats() (counters and
// gauges from shared memory; a lock holder with whether its thread lives);
// for a raw segment (or with --offset/--length) a hex dump of a range.
import { existsSync } from 'node:fs';
import { Segment, readHeader } from '../index.js';
import { CliError } from './errors.js';
import { checkInterval, refresh } from './refresh.js';
import { listObjects, type ObjectRow } from './objects.js';
import { JSON_SCHEMA_VERSION, colors, formatAge, formatMode, formatSize, printJson } from './output.js';
import { counterMoves, openObject } from '../metrics/snapshot.js';
import { formatUsers } from './ls.js';

export interface InspectOptions {
  offset?: number;
  length?: number;
  json?: boolean;
  /** Refresh every `interval` seconds until q / Ctrl-C (or `iterations` refreshes), with counters' rates. */
  watch?: boolean;
  interval?: number;
  iterations?: number;
}

/** Bytes dumped when --length is not given. */
const DEFAULT_DUMP = 256;
/** An inspector opens objects it did not create, whoever owns them (it only reads). */
const OPEN = { trustOwners: 'any' as const };

/** Whether thread `tid` of process `pid` exists now (a hint: ids are reused). */
function threadAlive(pid: number, tid: number): boolean {
  return existsSync(`/proc/${pid}/task/${tid}`);
}

/** Closes `handle` after `read` took what it needs from it. */
function readClose<H extends { close(): void }, R>(handle: H, read: (h: H) => R): R {
  try {
    return read(handle);
  } finally {
    handle.close();
  }
}

/** The figures of a shmkit object of `kind`: its stats(), read through its public handle. */
function details(kind: string, name: string): Record<string, unknown> {
  const handle = openObject(kind, name, 'any');
  if (handle === undefined) return {};
  return readClose(handle, (h) => {
    const figures = { ...h.stats() } as Record<string, unknown>;
    // A lock holder's thread, looked up now (a hint: ids are reused).
    const holder = figures.holder as { pid: number; tid: number } | null | undefined;
    if (kind === 'Mutex') figures.locked = holder !== null && holder !== undefined;
    if (holder) figures.holder = { ...holder, alive: threadAlive(holder.pid, holder.tid) };
    if (kind === 'Dict') figures.used = (figures.capacity as number) - (figures.freeSpace as number);
    return figures;
  });
}

/** `offset  hex bytes (16)  |ascii|` lines, as `hexdump -C`. */
function hexLines(bytes: Uint8Array, start: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${(start + i).toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`);
  }
  return lines;
}

function dump(name: string, size: number, options: InspectOptions): { offset: number; length: number; hex: string; bytes: Uint8Array } {
  const offset = options.offset ?? 0;
  if (offset > size) throw new CliError('ERR_OUT_OF_RANGE', `--offset ${offset} is past the end of '${name}' (${size} bytes)`);
  const length = Math.min(options.length ?? DEFAULT_DUMP, size - offset);
  const seg = Segment.open(name, { readOnly: true, ...OPEN });
  try {
    const bytes = seg.bytes.slice(offset, offset + length);
    return { offset, length, hex: Buffer.from(bytes).toString('hex'), bytes };
  } finally {
    seg.close();
  }
}

/** What one look at the object found. */
interface Look {
  row: ObjectRow;
  header: ReturnType<typeof readHeader>;
  figures: Record<string, unknown> | null;
  d: ReturnType<typeof dump> | null;
}

export async function inspect(given: string, options: InspectOptions): Promise<void> {
  if (!options.watch) {
    print(look(given, options), null, options);
    return;
  }
  const tty = Boolean(process.stdout.isTTY) && !options.json;
  let prev: { look: Look; at: number } | null = null;
  await refresh({ interval: checkInterval(options.interval), iterations: options.iterations ?? Infinity, keys: tty, waitFirst: false }, (i) => {
    const now = { look: look(given, options), at: performance.now() };
    if (tty) process.stdout.write('\x1b[H\x1b[2J');
    else if (i > 0 && !options.json) process.stdout.write('\n');
    const seconds = prev === null ? 0 : (now.at - prev.at) / 1000;
    print(now.look, prev && { seconds, rates: counterMoves(now.look.row.kind ?? '', now.look.figures ?? {}, prev.look.figures ?? {}, seconds) }, options);
    prev = now;
  });
}

function look(given: string, options: InspectOptions): Look {
  const name = given.startsWith('/') ? given : `/${given}`;
  const row: ObjectRow | undefined = listObjects().objects.find((o) => o.type === 'posix' && o.name === name);
  if (!row) throw new CliError('ENOENT', `'${name}': no such object in /dev/shm`);
  const isShmkit = row.kind !== null && row.kind !== 'raw' && row.kind !== 'unknown';
  const wantDump = !isShmkit || options.offset !== undefined || options.length !== undefined;
  let header = null;
  if (isShmkit) {
    const seg = Segment.open(name, { readOnly: true, ...OPEN });
    try {
      header = readHeader(seg.bytes);
    } finally {
      seg.close();
    }
  }
  const figures = isShmkit ? details(row.kind as string, name) : null;
  const d = wantDump ? dump(name, row.size, options) : null;
  return { row, header, figures, d };
}

function print(
  { row, header, figures, d }: Look,
  moved: { seconds: number; rates: Record<string, { delta: number; perSecond: number }> } | null,
  options: InspectOptions,
): void {
  if (options.json) {
    const { bytes: _bytes, ...dumpJson } = d ?? { bytes: null };
    void _bytes;
    const doc = {
      object: row,
      header: header && { kind: header.kind, version: header.version, objectBytes: header.objectBytes, creatorPid: header.creatorPid },
      details: figures,
      dump: d ? dumpJson : null,
      ...(options.watch ? { seconds: moved?.seconds ?? null, rates: moved?.rates ?? {} } : {}),
    };
    // --watch: one document per line (a stream); else one pretty document.
    if (options.watch) process.stdout.write(`${JSON.stringify({ schema: JSON_SCHEMA_VERSION, command: 'inspect', ...doc })}\n`);
    else printJson('inspect', doc);
    return;
  }
  const out: string[] = [];
  const field = (k: string, v: string) => out.push(`${colors.bold(k.padEnd(14))} ${v}`);
  field('name', row.name);
  field('kind', row.kind === null ? '? (header not readable)' : row.kind === 'raw' ? 'raw (no shmkit header)' : `${row.kind} v${row.version}`);
  field('size', `${formatSize(row.size)} (${row.size} bytes)`);
  field('mode', formatMode(row.mode));
  field('owner', row.owner);
  field('age', row.ageSeconds === null ? '-' : formatAge(row.ageSeconds));
  field('users', row.users.length ? formatUsers(row.users) : '-');
  if (header) field('creator', `pid ${header.creatorPid} (from the header: a hint, pids are reused)`);
  for (const [k, v] of Object.entries(figures ?? {})) {
    const r = moved?.rates[k];
    const shown = v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v);
    field(k, r === undefined ? shown : `${shown}  (+${r.delta}, ${r.perSecond.toFixed(1)}/s)`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (d) {
    process.stdout.write(`${colors.bold('bytes')} ${d.offset}..${d.offset + d.length} of ${row.size}\n`);
    for (const line of hexLines(d.bytes, d.offset)) process.stdout.write(`${line}\n`);
  }
}
