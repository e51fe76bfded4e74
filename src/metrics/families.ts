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
  ['Mutex', 'acquisitions', 'counter', 'Times the lock was taken.'],
  ['Mutex', 'contended', 'counter', 'Acquisitions that had to wait for another holder.'],
  ['Mutex', 'ownerDied', 'counter', 'Acquisitions after a holder died holding the lock.'],
  ['Mutex', 'waiting', 'gauge', '1 while somebody may be parked on the lock.'],
  ['RwLock', 'reads', 'counter', 'Read locks taken.'],
  ['RwLock', 'writes', 'counter', 'Write locks taken.'],
  ['RwLock', 'contended', 'counter', 'Acquisitions that had to wait.'],
  ['RwLock', 'readers', 'gauge', 'Read locks held now.'],
  ['RwLock', 'writer', 'gauge', '1 while the write lock is held.'],
  ['RwLock', 'writerPid', 'gauge', 'Pid of the write lock holder (0: none).'],
  ['RwLock', 'writersWaiting', 'gauge', 'Writers waiting now.'],
  ['RwLock', 'waiting', 'gauge', 'Processes parked on the lock now.'],
  ['Semaphore', 'value', 'gauge', 'Permits available now.'],
  ['Semaphore', 'initial', 'gauge', 'Permits the semaphore was created with.', 'config'],
  ['Semaphore', 'acquisitions', 'counter', 'Permits taken.'],
  ['Semaphore', 'contended', 'counter', 'Acquisitions that had to wait.'],
  ['Semaphore', 'released', 'counter', 'Permits given back.'],
  ['Semaphore', 'waiting', 'gauge', 'Processes parked on the semaphore now.'],
  ['Condition', 'notifications', 'counter', 'Notifications (notify and notifyAll).'],
  ['Condition', 'broadcasts', 'counter', 'notifyAll() calls.'],
  ['Condition', 'parkedWaits', 'counter', 'Waits that parked.'],
  ['Condition', 'waiting', 'gauge', 'Processes parked on the condition now.'],
  ['Barrier', 'parties', 'gauge', 'Parties the barrier waits for.', 'config'],
  ['Barrier', 'arrived', 'gauge', 'Parties arrived in the current generation.'],
  ['Barrier', 'generations', 'counter', 'Generations completed.'],
  ['Barrier', 'parkedWaits', 'counter', 'Waits that parked.'],
  ['Barrier', 'waiting', 'gauge', 'Processes parked on the barrier now.'],
  ['Notifier', 'notifications', 'counter', 'notify() calls.'],
  ['Notifier', 'parkedWaits', 'counter', 'Waits that parked.'],
  ['Notifier', 'waiting', 'gauge', 'Processes parked on the notifier now.'],
  ['Queue', 'capacity', 'gauge', 'Data bytes of the queue ring.', 'config'],
  ['Queue', 'maxMessage', 'gauge', 'Largest message the queue accepts, in bytes.', 'config'],
  ['Queue', 'length', 'gauge', 'Messages in the queue now.'],
  ['Queue', 'bytesUsed', 'gauge', 'Bytes of the ring in use now.'],
  ['Queue', 'sent', 'counter', 'Messages sent.'],
  ['Queue', 'received', 'counter', 'Messages received.'],
  ['Queue', 'fullWaits', 'counter', 'Sends that had to wait for room.'],
  ['Queue', 'emptyWaits', 'counter', 'Receives that had to wait for a message.'],
  ['Queue', 'orphans', 'counter', 'Messages a dead consumer had taken, handed to the others (a hint).'],
  ['Queue', 'producersDied', 'counter', 'Producers that died holding a claim slot.'],
  ['Queue', 'consumersDied', 'counter', 'Consumers that died holding a claim slot.'],
  ['Queue', 'ended', 'gauge', '1 once the queue was ended.'],
  ['Queue', 'producerSlots', 'gauge', 'Producer claim slots held now.'],
  ['Queue', 'consumerSlots', 'gauge', 'Consumer claim slots held now.'],
  ['Topic', 'capacity', 'gauge', 'Data bytes of the topic ring.', 'config'],
  ['Topic', 'maxMessage', 'gauge', 'Largest message the topic accepts, in bytes.', 'config'],
  ['Topic', 'published', 'counter', 'Messages published.'],
  ['Topic', 'dropped', 'counter', 'Messages overwritten by publishers (gone for subscribers that had not read them).'],
  ['Topic', 'keptMessages', 'gauge', 'Messages the ring holds now.'],
  ['Topic', 'keptBytes', 'gauge', 'Bytes of the ring in use now.'],
  ['Topic', 'laps', 'counter', 'Times the ring wrapped.'],
  ['Topic', 'waiting', 'gauge', 'Subscribers parked for a message now.'],
  ['Topic', 'lockContended', 'counter', 'Publishes that waited for another publisher.'],
  ['Topic', 'publishersDied', 'counter', 'Publishers that died holding the publisher lock.'],
  ['Dict', 'gets', 'counter', 'Reads (get, getStale) that returned.'],
  ['Dict', 'hits', 'counter', 'Reads that found their key.'],
  ['Dict', 'misses', 'counter', 'Reads that did not find their key.'],
  ['Dict', 'sets', 'counter', 'Values stored (set, add, replace, compareAndSet).'],
  ['Dict', 'deletes', 'counter', 'Entries removed by delete().'],
  ['Dict', 'evictions', 'counter', 'Entries evicted to make room.'],
  ['Dict', 'expirations', 'counter', 'Expired entries reclaimed.'],
  ['Dict', 'entries', 'gauge', 'Entries now (expired ones not yet reclaimed included).'],
  ['Dict', 'capacity', 'gauge', 'Bytes of entry memory.', 'config'],
  ['Dict', 'freeSpace', 'gauge', 'Bytes of entry memory free now.'],
  ['Dict', 'lockHolder', 'gauge', 'Pid of the write lock holder (absent when free).'],
  ['SharedArray', 'length', 'gauge', 'Elements of the array.', 'config'],
  ['SharedArray', 'byteLength', 'gauge', 'Bytes of the array.', 'config'],
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
