// The metrics shmkit exports for named objects: one family per figure a
// kind's stats() reports, with its Prometheus name, type and help. One
// table for both exporters (the `shmkit/prometheus` collector and the
// `shmkit metrics` command), so they always agree. Counters are the u32
// words of docs/LAYOUT.md: they wrap at 2^32, which Prometheus takes for a
// counter reset (rate() and increase() handle it).
import type { KindName } from '../index.js';

export type MetricType = 'counter' | 'gauge';

/** One metric family: the figure `field` of `kind`'s stats(). */
export interface Family {
  /** The Prometheus name (counters end in `_total`). */
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** The kind whose stats() has the figure, or `'*'` for every shmkit object. */
  readonly kind: KindName | '*';
  /** The stats() field (a number, or a boolean exported as 0/1); `'*'` families are computed, not read. */
  readonly field: string;
  /** A figure fixed when the object was made (a capacity): `shmkit top` leaves it out. */
  readonly config: boolean;
}

type Row = readonly [kind: KindName, field: string, type: MetricType, help: string, config?: 'config'];

// Keep in step with each kind's stats() (test/metrics.test.mjs checks every
// numeric or boolean stats() field has a row here).
const ROWS: readonly Row[] = [
  ['Queue', 'capacity', 'gauge', 'Data bytes of the queue ring.', 'config'],
  ['Queue', 'maxMessage', 'gauge', 'Largest message the queue accepts, in bytes.', 'config'],
  ['Queue', 'length', 'gauge', 'Messages in the queue now.'],
  ['Queue', 'bytesUsed', 'gauge', 'Bytes of the ring in use now.'],
  ['Queue', 'sent', 'counter', 'Messages sent.'],
  ['Queue', 'received', 'counter', 'Messages received.'],
  ['Queue', 'ended', 'gauge', '1 once the queue was ended.'],
  ['Queue', 'producerSlots', 'gauge', 'Producer claim slots held now.'],
  ['Queue', 'consumerSlots', 'gauge', 'Consumer claim slots held now.'],
];

function snake(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function familyOf([kind, field, type, help, config]: Row): Family {
  const base = `shmkit_${kind.toLowerCase()}_${snake(field)}`;
  return { name: type === 'counter' ? `${base}_total` : base, type, help, kind, field, config: config === 'config' };
}

/** Every object's size, whatever its kind. */
export const SIZE_FAMILY: Family = {
  name: 'shmkit_object_size_bytes', type: 'gauge', help: 'Size of a named shmkit object in /dev/shm, in bytes.', kind: '*', field: '*', config: true,
};

/** Every family, the size family first. */
export const FAMILIES: readonly Family[] = [SIZE_FAMILY, ...ROWS.map(familyOf)];

const BY_KIND = new Map<string, Family[]>();
for (const f of FAMILIES) {
  if (f.kind === '*') continue;
  const list = BY_KIND.get(f.kind) ?? [];
  list.push(f);
  BY_KIND.set(f.kind, list);
}

/** The families read from `kind`'s stats(). */
export function familiesOf(kind: string): readonly Family[] {
  return BY_KIND.get(kind) ?? [];
}
