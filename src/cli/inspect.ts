// `shmkit inspect NAME [--offset N] [--length N] [--json]`: what the public
// API can read about one object without joining it as a producer or
// consumer and without taking a lock: Queue stats(), Topic counters, Dict
// fill, lock holders and values, SharedArray type and length; for a raw
// segment (or with --offset/--length) a hex dump of a range.
import { existsSync } from 'node:fs';
import { Barrier, Dict, Mutex, Notifier, Queue, RwLock, Segment, Semaphore, SharedArray, Topic, readHeader } from '../index.js';
import { CliError } from './errors.js';
import { listObjects, type ObjectRow } from './objects.js';
import { colors, formatAge, formatMode, formatSize, printJson } from './output.js';
import { formatUsers } from './ls.js';

export interface InspectOptions {
  offset?: number;
  length?: number;
  json?: boolean;
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

/** The figures of a shmkit object of `kind`, read through its public handle. */
function details(kind: string, name: string): Record<string, unknown> {
  switch (kind) {
    case 'Mutex':
      return readClose(Mutex.open(name, OPEN), (m) => {
        const holder = m.holder;
        return { locked: m.locked, holder: holder && { ...holder, alive: threadAlive(holder.pid, holder.tid) } };
      });
    case 'RwLock':
      return readClose(RwLock.open(name, OPEN), (l) => ({ ...l.state }));
    case 'Semaphore':
      return readClose(Semaphore.open(name, OPEN), (s) => ({ value: s.value }));
    case 'Barrier':
      return readClose(Barrier.open(name, OPEN), (b) => ({ parties: b.parties }));
    case 'Notifier':
      return readClose(Notifier.open(name, OPEN), (n) => ({ value: n.value }));
    case 'Queue':
      return readClose(Queue.open(name, OPEN), (q) => ({ ...q.stats() }));
    case 'Topic':
      return readClose(Topic.open(name, OPEN), (t) => ({ capacity: t.capacity, maxMessage: t.maxMessage, published: t.published }));
    case 'Dict':
      return readClose(Dict.open(name, OPEN), (d) => ({ entries: d.size, capacity: d.capacity, freeSpace: d.freeSpace(), used: d.capacity - d.freeSpace() }));
    case 'SharedArray':
      return readClose(SharedArray.open(name, OPEN), (a) => ({ type: a.type, length: a.length }));
    default:
      return {}; // Condition: nothing to read without waiting on it
  }
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

export function inspect(given: string, options: InspectOptions): void {
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
  if (options.json) {
    const { bytes: _bytes, ...dumpJson } = d ?? { bytes: null };
    void _bytes;
    printJson('inspect', {
      object: row,
      header: header && { kind: header.kind, version: header.version, objectBytes: header.objectBytes, creatorPid: header.creatorPid },
      details: figures,
      dump: d ? dumpJson : null,
    });
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
    field(k, v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (d) {
    process.stdout.write(`${colors.bold('bytes')} ${d.offset}..${d.offset + d.length} of ${row.size}\n`);
    for (const line of hexLines(d.bytes, d.offset)) process.stdout.write(`${line}\n`);
  }
}
