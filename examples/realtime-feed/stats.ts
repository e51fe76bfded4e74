// The feed's own measurements, in shared memory: a SharedArray of one row
// of counters per process (row 0 the ingest, then one per worker). Each row
// has one writer, its process, which adds to it with plain stores as it
// works (no lock, no message); any process reads every row to answer
// GET /stats, and the primary to print the summary when it stops. A row
// outlives its process: a worker started again in its place goes on
// counting where the dead one stopped.
import { SharedArray } from 'shmkit';

/** The counters of a row, in order. Row 0 also holds the last second's rates, which the primary computes. */
export const FIELDS = [
  'pid', 'cpuMicros', // every process: its pid, CPU time used (user + system, µs)
  'received', 'published', 'gaps', 'rejected', // ingest: datagrams in, ticks published, ticks missing by sequence, datagrams that were no tick
  'clients', 'connections', 'deliveries', 'missed', 'stalled', // workers: SSE clients now, in all, ticks written to them, skipped, clients whose socket is full now
  'ticksPerSecond', 'deliveriesPerSecond', 'cpuMicrosPerTick', // row 0: the last second, all processes together
] as const;
export type Field = (typeof FIELDS)[number];
const ROW_LENGTH = FIELDS.length;
const INDEX = Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<Field, number>;

/** The ingest's row. */
export const INGEST_ROW = 0;

/** One process's counters. */
export class Row {
  readonly #array: Float64Array;
  readonly #base: number;
  constructor(array: Float64Array, row: number) {
    this.#array = array;
    this.#base = row * ROW_LENGTH;
  }
  get(field: Field): number {
    return this.#array[this.#base + INDEX[field]] as number;
  }
  set(field: Field, value: number): void {
    this.#array[this.#base + INDEX[field]] = value;
  }
  add(field: Field, delta: number): void {
    this.#array[this.#base + INDEX[field]] += delta;
  }
  /** The fields named, as a plain object. */
  pick<F extends Field>(fields: readonly F[]): Record<F, number> {
    return Object.fromEntries(fields.map((f) => [f, this.get(f)])) as Record<F, number>;
  }
}

const INGEST_FIELDS = ['pid', 'received', 'published', 'gaps', 'rejected', 'cpuMicros'] as const;
const WORKER_FIELDS = ['pid', 'clients', 'connections', 'deliveries', 'missed', 'stalled', 'cpuMicros'] as const;

/** What GET /stats answers. */
export interface Stats {
  ingest: Record<(typeof INGEST_FIELDS)[number], number>;
  workers: Array<Record<(typeof WORKER_FIELDS)[number], number>>;
  /** Rates over the last whole second. */
  lastSecond: { ticksPerSecond: number; deliveriesPerSecond: number; cpuMicrosPerTick: number };
  /** Since the start, every process together. */
  total: { received: number; deliveries: number; missed: number; clients: number; stalled: number; cpuMicros: number; cpuMicrosPerTick: number };
}

/** The rows of the feed's processes. */
export class StatsBoard {
  readonly #shared: SharedArray<Float64Array>;
  readonly rows: number;

  private constructor(shared: SharedArray<Float64Array>) {
    this.#shared = shared;
    this.rows = shared.length / ROW_LENGTH;
  }

  /** A new board for the ingest and `workers` workers (the primary makes it). */
  static create(name: string, workers: number): StatsBoard {
    return new StatsBoard(SharedArray.create(name, { type: Float64Array, length: (1 + workers) * ROW_LENGTH }));
  }

  static open(name: string): StatsBoard {
    return new StatsBoard(SharedArray.open(name, { type: Float64Array }));
  }

  row(index: number): Row {
    if (!Number.isInteger(index) || index < 0 || index >= this.rows) throw new RangeError(`row ${index}: 0 to ${this.rows - 1}`);
    return new Row(this.#shared.array, index);
  }

  /** Every row, read now. */
  read(): Stats {
    const ingest = this.row(INGEST_ROW);
    const workers = Array.from({ length: this.rows - 1 }, (_, i) => this.row(i + 1).pick(WORKER_FIELDS));
    const sum = (f: (typeof WORKER_FIELDS)[number]): number => workers.reduce((s, w) => s + w[f], 0);
    const received = ingest.get('received');
    const cpuMicros = ingest.get('cpuMicros') + sum('cpuMicros');
    return {
      ingest: ingest.pick(INGEST_FIELDS),
      workers,
      lastSecond: ingest.pick(['ticksPerSecond', 'deliveriesPerSecond', 'cpuMicrosPerTick']),
      total: {
        received,
        deliveries: sum('deliveries'),
        missed: sum('missed'),
        clients: sum('clients'),
        stalled: sum('stalled'),
        cpuMicros,
        cpuMicrosPerTick: received > 0 ? cpuMicros / received : 0,
      },
    };
  }

  close(): void {
    this.#shared.close();
  }
}

/** This process's CPU time so far (user + system), µs. */
export function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/**
 * Keeps `row`'s pid and cpuMicros up to date (every 250 ms, and when
 * `update()` is called). A process put in a dead one's row adds its CPU to
 * what the row holds. `stop()` writes the last value.
 */
export function trackProcess(row: Row): { update(): void; stop(): void } {
  const base = row.get('cpuMicros');
  row.set('pid', process.pid);
  const update = (): void => row.set('cpuMicros', base + cpuMicros());
  const timer = setInterval(update, 250);
  timer.unref();
  return {
    update,
    stop() {
      clearInterval(timer);
      update();
    },
  };
}
