/**
 * `shmkit/prometheus`: shmkit's objects in a service's existing `/metrics`
 * endpoint, through `prom-client` (an optional peer dependency: install it
 * next to shmkit).
 *
 * ```ts
 * import { register } from 'prom-client';
 * import { registerShmkitMetrics } from 'shmkit/prometheus';
 * registerShmkitMetrics(); // every named shmkit object of this user, on prom-client's default registry
 * ```
 */
import type { Counter, Gauge, Registry } from 'prom-client';
import { FAMILIES, type Family } from '../metrics/families.js';
import { snapshot, type Snapshot, type SnapshotOptions } from '../metrics/snapshot.js';

/** Options of {@link registerShmkitMetrics}. */
export interface ShmkitMetricsOptions extends SnapshotOptions {
  /** The registry to add the metrics to (default: prom-client's global `register`). */
  registry?: Registry;
}

/** What {@link registerShmkitMetrics} returns. */
export interface ShmkitMetrics {
  /** Removes every metric it registered from the registry. */
  unregister(): void;
}

type PromClient = typeof import('prom-client');

function promClient(): PromClient {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('prom-client') as PromClient;
  } catch (err) {
    const e = new Error(`shmkit/prometheus needs prom-client (an optional peer dependency): npm install prom-client (${(err as Error).message})`) as Error & { code?: string };
    e.code = (err as { code?: string }).code ?? 'MODULE_NOT_FOUND';
    throw e;
  }
}

/** How long one reading serves the metrics of one scrape (prom-client collects them one after another). */
const READING_MS = 250;

/**
 * Registers one metric per figure of every kind's `stats()` (docs/CLI.md
 * lists them: `shmkit_queue_sent_total{name="/jobs"}`, ...), plus
 * `shmkit_object_size_bytes`, `shmkit_objects` and `shmkit_objects_skipped`.
 * Each scrape opens every named shmkit object (of this process's user, and
 * of `trustOwners`), reads its counters and closes it: nothing joins a queue
 * or takes a lock. Counters wrap at 2^32 (a reset to Prometheus).
 */
export function registerShmkitMetrics(options: ShmkitMetricsOptions = {}): ShmkitMetrics {
  const prom = promClient();
  const registry = options.registry ?? prom.register;
  const { match, trustOwners } = options;
  let last: { at: number; snap: Snapshot } | null = null;
  const reading = (): Snapshot => {
    const now = performance.now();
    if (last === null || now - last.at > READING_MS) last = { at: now, snap: snapshot({ ...(match ? { match } : {}), ...(trustOwners ? { trustOwners } : {}) }) };
    return last.snap;
  };
  const names: string[] = [];
  const add = (family: Family, fill: (metric: Gauge<'name'> | Counter<'name'>, snap: Snapshot) => void): void => {
    const config = {
      name: family.name,
      help: family.help,
      labelNames: ['name'] as const,
      registers: [registry],
      collect(this: Gauge<'name'> | Counter<'name'>) {
        this.reset();
        fill(this, reading());
      },
    };
    if (family.type === 'counter') new prom.Counter(config as ConstructorParameters<typeof prom.Counter<'name'>>[0]);
    else new prom.Gauge(config as ConstructorParameters<typeof prom.Gauge<'name'>>[0]);
    names.push(family.name);
  };
  for (const family of FAMILIES) {
    add(family, (metric, snap) => {
      for (const s of snap.samples) {
        if (s.family !== family) continue;
        if ('set' in metric) metric.set({ name: s.object }, s.value);
        else metric.inc({ name: s.object }, s.value);
      }
    });
  }
  const totals = (name: string, help: string, value: (snap: Snapshot) => number): void => {
    new prom.Gauge({ name, help, registers: [registry], collect() { this.set(value(reading())); } });
    names.push(name);
  };
  totals('shmkit_objects', 'Named shmkit objects read in this scrape.', (s) => s.objects);
  totals('shmkit_objects_skipped', 'Named objects not read: another owner not trusted, unreadable, or gone meanwhile.', (s) => s.skipped);
  return {
    unregister() {
      for (const name of names) registry.removeSingleMetric(name);
      names.length = 0;
    },
  };
}
