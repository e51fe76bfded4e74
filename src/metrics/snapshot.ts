// One reading of every named shmkit object's stats(), for the exporters.
// It uses the public API only: each object is opened (never joined as a
// producer, consumer or lock holder), its stats() read, and closed again.
import {
  Barrier, Condition, Dict, Mutex, Notifier, Queue, RwLock, Segment, Semaphore, SharedArray, Topic,
  type KindName, type SegmentInfo,
} from '../index.js';
import { SIZE_FAMILY, familiesOf, type Family } from './families.js';

/** One value of one family for one object. */
export interface Sample {
  readonly family: Family;
  /** The object's name (`/jobs`). */
  readonly object: string;
  readonly value: number;
}

/** What a snapshot reads. */
export interface SnapshotOptions {
  /** Only objects whose name (with its leading slash) this accepts. */
  match?: (name: string) => boolean;
  /**
   * Owners besides this process's effective uid whose objects are read
   * (`'any'`: every owner). Objects of other owners are counted in
   * `skipped`, not read: the same rule as `open` (docs/LIFETIMES.md).
   */
  trustOwners?: readonly number[] | 'any';
}

/** A snapshot: the samples, how many objects were read, and how many were not (another owner, gone meanwhile, unreadable). */
export interface Snapshot {
  readonly samples: Sample[];
  readonly objects: number;
  readonly skipped: number;
}

interface Handle {
  close(): void;
}

type Opener = (name: string, options: { trustOwners: readonly number[] | 'any' }) => Handle & { stats(): object };

// How to open each kind (what `open` takes is the same for all: a name and trustOwners).
const OPENERS: Readonly<Record<KindName, Opener>> = {
  Mutex: (n, o) => Mutex.open(n, o),
  RwLock: (n, o) => RwLock.open(n, o),
  Semaphore: (n, o) => Semaphore.open(n, o),
  Condition: (n, o) => Condition.open(n, o),
  Barrier: (n, o) => Barrier.open(n, o),
  Notifier: (n, o) => Notifier.open(n, o),
  Queue: (n, o) => Queue.open(n, o),
  Topic: (n, o) => Topic.open(n, o),
  Dict: (n, o) => Dict.open(n, o),
  SharedArray: (n, o) => SharedArray.open(n, o),
};

/**
 * Opens the named shmkit object of `kind` for reading its stats() (never
 * joining it), or returns undefined for a kind name shmkit does not know.
 */
export function openObject(kind: string, name: string, trustOwners: readonly number[] | 'any'): (Handle & { stats(): object }) | undefined {
  const open = (OPENERS as Readonly<Record<string, Opener>>)[kind];
  return open === undefined ? undefined : open(name, { trustOwners });
}

/**
 * How much each counter of `kind`'s stats() moved between two readings
 * (modulo 2^32: the counters wrap there) and its rate over `seconds`.
 * Counters missing from either reading are left out.
 */
export function counterMoves(kind: string, now: Readonly<Record<string, unknown>>, then: Readonly<Record<string, unknown>>, seconds: number): Record<string, { delta: number; perSecond: number }> {
  const out: Record<string, { delta: number; perSecond: number }> = {};
  for (const family of familiesOf(kind)) {
    if (family.type !== 'counter') continue;
    const a = now[family.field];
    const b = then[family.field];
    if (typeof a !== 'number' || typeof b !== 'number') continue;
    const delta = (a - b) >>> 0;
    out[family.field] = { delta, perSecond: seconds > 0 ? delta / seconds : 0 };
  }
  return out;
}

function trusted(info: SegmentInfo, trust: SnapshotOptions['trustOwners'], euid: number): boolean {
  return info.uid === euid || trust === 'any' || (trust?.includes(info.uid) ?? false);
}

/** Reads every named shmkit object's figures now. */
export function snapshot(options: SnapshotOptions = {}): Snapshot {
  const euid = process.geteuid?.() ?? 0;
  const samples: Sample[] = [];
  let objects = 0;
  let skipped = 0;
  for (const info of Segment.list()) {
    if (options.match !== undefined && !options.match(info.name)) continue;
    const kind = info.shmkit?.kind;
    if (kind === undefined || kind === 'unknown') {
      if (info.shmkit === undefined) skipped++; // not readable: it may be a shmkit object
      continue;
    }
    if (!trusted(info, options.trustOwners, euid)) {
      skipped++;
      continue;
    }
    let figures: Record<string, unknown>;
    try {
      // The owner was checked above; open checks it again on the descriptor.
      const handle = OPENERS[kind](info.name, { trustOwners: options.trustOwners ?? [] });
      try {
        figures = handle.stats() as Record<string, unknown>;
      } finally {
        handle.close();
      }
    } catch {
      skipped++; // removed meanwhile, half-created, or refused: the next scrape sees it as it is then
      continue;
    }
    objects++;
    samples.push({ family: SIZE_FAMILY, object: info.name, value: info.size });
    for (const family of familiesOf(kind)) {
      const v = figures[family.field];
      if (typeof v === 'number' && Number.isFinite(v)) samples.push({ family, object: info.name, value: v });
      else if (typeof v === 'boolean') samples.push({ family, object: info.name, value: v ? 1 : 0 });
    }
  }
  return { samples, objects, skipped };
}
