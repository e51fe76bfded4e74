/**
 * Barrier: `parties` processes or threads wait until all have arrived, then
 * all go on; reusable generation after generation. A party that dies leaves
 * the others waiting: give waits a timeout where that can happen.
 */
import { Kind } from '../layout/header.js';
import { checkInteger, checkObject } from '../args.js';
import { invalidArgType, mismatchError, ownError } from '../errors.js';
import { Segment } from '../segment/segment.js';
import { ARRIVAL, BARRIER_LENGTH, BARRIER_MAX_PARTIES, BARRIER_VERSION, COUNT_MASK, GENERATION, PARKED_WAITS, PARTIES, TAG_SHIFT, WAITERS } from './barrier-layout.js';
import { SharedObject } from '../object/shared-object.js';
import { adoptNamed, attachObject, createNamed, initObject, openNamed, openOrCreateNamed, type NamedCreateOptions, type NamedOpenOptions, type ObjectSpec, unlinkNamed } from '../object/named.js';
import { checkSpinOption, parseSpin, parseWait, type SpinOptions, type WaitOptions } from './options.js';
import { SpinBudget, waitForAsync, waitForSync, wake, type WaitWord } from './wait.js';

/** Geometry of a Barrier. */
export interface BarrierOptions {
  /** How many must arrive before all go on (>= 1). */
  parties: number;
}

function checkParties(options: BarrierOptions | undefined): number {
  const opts = checkObject<BarrierOptions>('options', options);
  if (opts.parties === undefined) throw invalidArgType('options.parties', 'of type number', undefined);
  return checkInteger('options.parties', opts.parties, 1, BARRIER_MAX_PARTIES);
}

const SPEC: ObjectSpec<BarrierOptions> = {
  kind: Kind.Barrier,
  version: BARRIER_VERSION,
  what: 'Barrier',
  checkOptions: checkSpinOption,
  byteLength: (options) => (checkParties(options), BARRIER_LENGTH),
  initFields: (buffer, byteOffset, options) => {
    new Int32Array(buffer, byteOffset, BARRIER_LENGTH / 4)[PARTIES] = checkParties(options); // generation 0, tag 0
  },
  checkExisting: (buffer, byteOffset, options, name) => {
    const existing = new Int32Array(buffer, byteOffset, BARRIER_LENGTH / 4)[PARTIES] as number;
    if (options.parties !== undefined && existing !== options.parties) throw mismatchError('Barrier', name, 'parties', existing, options.parties);
  },
};

/**
 * State and counters of a Barrier (a snapshot), from its shared memory.
 * Counters are u32 and wrap at 2^32: take rates from differences modulo
 * 2^32 (`(b - a) >>> 0`). A barrier made by an earlier shmkit build starts
 * parkedWaits at 0.
 */
export interface BarrierStats {
  /** Parties per generation. */
  parties: number;
  /** Parties arrived in the generation under way. */
  arrived: number;
  /** Generations completed (wraps at 2^32). */
  generations: number;
  /** wait()/waitSync() calls that parked. */
  parkedWaits: number;
  /** Threads parked now. */
  waiting: number;
}

/** A reusable cross-process barrier. */
export class Barrier extends SharedObject {
  readonly #cells: Int32Array;
  readonly #word: WaitWord;
  readonly #spin: SpinBudget;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, segment: Segment | null, options?: SpinOptions) {
    super(buffer, byteOffset, segment, 'Barrier');
    this.#cells = new Int32Array(buffer, byteOffset, BARRIER_LENGTH / 4);
    this.#word = { cells: this.#cells, word: GENERATION, waiters: WAITERS, subject: this.subject, parks: PARKED_WAITS };
    this.#spin = new SpinBudget(parseSpin(options));
    const parties = this.#cells[PARTIES] as number;
    if (parties < 1 || parties > BARRIER_MAX_PARTIES) {
      throw ownError('ERR_SHMKIT_BAD_LAYOUT', this.subject, `parties is ${parties} (1 to ${BARRIER_MAX_PARTIES})`, segment?.name ?? undefined);
    }
  }

  /** Bytes an embedded Barrier occupies (128; offsets must be multiples of 8). */
  static byteLength(options?: BarrierOptions): number {
    return SPEC.byteLength(options as BarrierOptions);
  }

  /** Formats a new Barrier at `byteOffset` of `buffer` (a multiple of 8) and returns a handle. */
  static init(buffer: SharedArrayBuffer, byteOffset: number, options: BarrierOptions & SpinOptions): Barrier {
    initObject(SPEC, buffer, byteOffset, options);
    return new Barrier(buffer, byteOffset, null, options);
  }

  /** Uses a Barrier formatted by anyone (another process, C code) at `byteOffset` of `buffer`. */
  static attach(buffer: SharedArrayBuffer, byteOffset: number, options?: SpinOptions): Barrier {
    checkSpinOption(options);
    attachObject(SPEC as ObjectSpec<unknown>, buffer, byteOffset);
    return new Barrier(buffer, byteOffset, null, options);
  }

  /** Creates a named Barrier (`EEXIST` if the name exists). */
  static create(name: string, options: BarrierOptions & NamedCreateOptions & NamedOpenOptions & SpinOptions): Barrier {
    return adoptNamed(createNamed(SPEC, name, options), (seg) => new Barrier(seg.buffer, 0, seg, options), true);
  }

  /** Opens a named Barrier (`ENOENT` if missing, `ERR_SHMKIT_BAD_LAYOUT` if the name holds something else). */
  static open(name: string, options?: SpinOptions & NamedOpenOptions): Barrier {
    checkSpinOption(options);
    return adoptNamed(openNamed(SPEC as ObjectSpec<unknown>, name, options), (seg) => new Barrier(seg.buffer, 0, seg, options));
  }

  /** Opens the named Barrier, creating it if missing; geometry options given must match an existing one (`ERR_SHMKIT_MISMATCH`). */
  static openOrCreate(name: string, options: BarrierOptions & NamedCreateOptions & NamedOpenOptions & SpinOptions): Barrier {
    return adoptNamed(openOrCreateNamed(SPEC, name, options), (seg) => new Barrier(seg.buffer, 0, seg, options));
  }

  /** Removes the name of a Barrier (only a Barrier: another kind is `ERR_SHMKIT_BAD_LAYOUT`; `Segment.unlink` removes anything). */
  static unlink(name: string): void {
    unlinkNamed(SPEC as ObjectSpec<never>, name);
  }

  /** A snapshot of the barrier's state and counters (BarrierStats). */
  stats(): BarrierStats {
    if (this.closed) throw this.closedError();
    const cells = this.#cells;
    const generation = Atomics.load(cells, GENERATION);
    const arrival = Atomics.load(cells, ARRIVAL);
    // Arrivals count for the generation under way only while ARRIVAL's tag is its.
    const current = (arrival >>> TAG_SHIFT) === (generation & COUNT_MASK);
    return {
      parties: cells[PARTIES] as number,
      arrived: current ? arrival & COUNT_MASK : 0,
      generations: generation >>> 0,
      parkedWaits: Atomics.load(cells, PARKED_WAITS) >>> 0,
      waiting: Atomics.load(cells, WAITERS),
    };
  }

  /** How many parties the barrier waits for. */
  get parties(): number {
    if (this.closed) throw this.closedError();
    return this.#cells[PARTIES] as number;
  }

  /**
   * Arrives and blocks until all parties have arrived. Returns this party's
   * arrival index in its generation (0 first, parties - 1 last). A wait that
   * times out withdraws its arrival (unless the barrier tripped meanwhile);
   * after a withdrawal a later arrival may get an index already handed out
   * in that generation.
   */
  waitSync(options?: WaitOptions): number {
    if (this.closed) throw this.closedError();
    const { timeout } = parseWait(options);
    const { gen, index } = this.#arrive();
    if (index === (this.#cells[PARTIES] as number) - 1) return index;
    try {
      waitForSync(this, gen, this.#word, this.#spin, timeout, 'waitSync()');
    } catch (err) {
      if (!this.#withdraw(gen)) return index; // tripped after all
      throw err;
    }
    return index;
  }

  /** The async form of waitSync. */
  async wait(options?: WaitOptions): Promise<number> {
    if (this.closed) throw this.closedError();
    const { timeout, signal } = parseWait(options);
    signal?.throwIfAborted();
    const { gen, index } = this.#arrive();
    if (index === (this.#cells[PARTIES] as number) - 1) return index;
    try {
      const parked = waitForAsync(this, gen, this.#word, this.#spin, timeout, signal, 'wait()');
      if (parked !== undefined) await parked;
    } catch (err) {
      if (!this.#withdraw(gen)) return index;
      throw err;
    }
    return index;
  }

  /** @internal Done once the generation moved on. */
  attempt(gen: number): boolean {
    return Atomics.load(this.#cells, GENERATION) !== gen;
  }

  // Counts this party in the current generation; the last one opens the next.
  #arrive(): { gen: number; index: number } {
    const cells = this.#cells;
    const parties = cells[PARTIES] as number;
    for (;;) {
      const gen = Atomics.load(cells, GENERATION);
      const arrival = Atomics.load(cells, ARRIVAL);
      const tag = arrival >>> TAG_SHIFT;
      const count = arrival & COUNT_MASK;
      if (tag !== (gen & COUNT_MASK)) {
        // The last party of `gen` swapped ARRIVAL but has not moved
        // GENERATION yet (or died right there): finish its work.
        if (tag === ((gen + 1) & COUNT_MASK)) this.#open(gen);
        continue;
      }
      if (count + 1 === parties) {
        const next = ((tag + 1) & COUNT_MASK) << TAG_SHIFT;
        if (Atomics.compareExchange(cells, ARRIVAL, arrival, next) !== arrival) continue;
        this.#open(gen);
        return { gen, index: count };
      }
      if (Atomics.compareExchange(cells, ARRIVAL, arrival, arrival + 1) === arrival) return { gen, index: count };
    }
  }

  // Moves GENERATION past `gen` (once, whoever gets there) and wakes everyone.
  #open(gen: number): void {
    const cells = this.#cells;
    if (Atomics.compareExchange(cells, GENERATION, gen, (gen + 1) | 0) === gen && Atomics.load(cells, WAITERS) !== 0) {
      wake(cells, GENERATION, 0);
    }
  }

  // Takes back an arrival after a failed wait. Returns false if generation
  // `gen` completed meanwhile, in which case this party went through.
  #withdraw(gen: number): boolean {
    const cells = this.#cells;
    for (;;) {
      const arrival = Atomics.load(cells, ARRIVAL);
      if (arrival >>> TAG_SHIFT !== (gen & COUNT_MASK)) {
        this.#open(gen); // completed; make sure GENERATION moved
        return false;
      }
      if ((arrival & COUNT_MASK) === 0) return false; // cannot happen while we count; be safe
      // Same tag in the same CAS: this can only remove an arrival of `gen`.
      if (Atomics.compareExchange(cells, ARRIVAL, arrival, arrival - 1) === arrival) return true;
    }
  }
}
