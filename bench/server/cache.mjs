// bench:server section "cache": examples/http-cluster's response cache (a
// Keyv in front of GET /item/:id, whose response costs ITEM_WORK SHA-256
// rounds to compute) with each store, driven by autocannon on loopback, in
// the same run: KeyvShm (one cache in shared memory for every worker),
// @keyv/redis (the redis-server bench/server.mjs started) and a per-process
// lru-cache (each worker caches alone; 10 000 entries each, so the whole key
// set fits and only the sharing differs).
//
// The key mix: 10 000 items, zipf-like (s = 1.0, seeded with mulberry32):
// every store gets the same sequence of requests, after the same warm-up
// (the same mix, another seed: a cache that has served for a while, with
// the hot items in and the tail still missing). The rate limiter is off
// (RATE_LIMITER=none) so only the cache differs. Measured: requests/s,
// p50/p99, and the hit ratio from the server's own counters (/stats: hits
// and misses of the measured rounds).
import { fmtRate, fmtRatio, mulberry32, sig, zipf } from '../lib/common.mjs';
import { CONNECTIONS, WORKERS, fmtMs, measure, pairedRatio, startApps, stats, stopApps, warm } from './lib-app.mjs';

const KEYS = 10_000;
const ZIPF_S = 1.0;
/** SHA-256 rounds per miss: about a millisecond of CPU. */
const ITEM_WORK = 500;

export default async function cache(ctx) {
  const variants = [
    { id: 'shm', label: 'KeyvShm', env: { CACHE: 'shm' } },
    { id: 'redis', label: '@keyv/redis', env: { CACHE: 'redis', REDIS_URL: ctx.redis.url }, cpuPids: [ctx.redis.pid], reference: true },
    { id: 'lru', label: 'lru-cache (per process)', env: { CACHE: 'lru', LRU_MAX: String(KEYS) }, reference: true },
  ];
  // The same requests for every store (one seeded sequence each), in short interleaved rounds:
  // on a shared machine, load comes and goes within seconds.
  const rounds = ctx.quick ? 2 : 6;
  const perRound = ctx.quick ? 4000 : 6000;
  /** Requests for item ids of the zipf mix, one seeded sequence (the same for every store). */
  const items = (seed) => () => {
    const rank = zipf(KEYS, ZIPF_S, mulberry32(seed));
    return (req) => {
      req.path = `/item/${rank()}`;
      return req;
    };
  };
  // Before measuring, each cache gets the same warm-up from the same mix (another seed): the
  // rounds then see a cache that has been serving for a while, not an empty one.
  const warmAmount = ctx.quick ? 4000 : 12_000;

  const apps = await startApps(variants, { RATE_LIMITER: 'none', ITEM_WORK: String(ITEM_WORK), CACHE_TTL: String(30 * 60_000) });
  let results;
  const hitRatio = new Map();
  try {
    await warm(apps, { amount: warmAmount, requests: items(7) });
    const before = new Map();
    for (const app of apps) before.set(app, (await stats(app.server.port)).cache);
    results = await measure(apps, { rounds, amount: perRound, requests: items(14) });
    for (const app of apps) {
      const after = (await stats(app.server.port)).cache;
      const hits = after.hits - before.get(app).hits;
      const misses = after.misses - before.get(app).misses;
      hitRatio.set(app, { hits, misses, ratio: hits / (hits + misses) });
    }
  } finally {
    await stopApps(apps);
  }

  const shm = apps[0];
  ctx.table(
    `caching: GET /item/:id through examples/http-cluster (${WORKERS} HTTP workers, autocannon ${CONNECTIONS} connections, ` +
      `${KEYS} items zipf s = ${ZIPF_S}, ${ITEM_WORK} SHA-256 rounds per miss; after the same ${warmAmount} warm-up requests, the same ${rounds} × ${perRound} requests per store, interleaved)`,
    ['cache', 'req/s', 'p50 ms', 'p99 ms', 'KeyvShm ÷ this (median of rounds)', 'server CPU µs/req', 'hit ratio', 'misses (computed)'],
    apps.map((app) => {
      const r = results.get(app);
      const h = hitRatio.get(app);
      return [
        app.label, fmtRate(r.rate), fmtMs(r.p50Ms), fmtMs(r.p99Ms),
        app === shm ? '—' : fmtRatio(pairedRatio(results.get(shm), r)),
        sig(r.cpuUsPerRequest),
        `${sig(100 * h.ratio)}%`, `${h.misses}${r.errors ? ` (${r.errors} errors)` : ''}`,
      ];
    }),
  );
  ctx.chart({
    id: 'cache-throughput',
    title: `Caching: HTTP req/s of a cached endpoint through examples/http-cluster by store (${WORKERS} workers, zipf mix, loopback)`,
    unit: 'req/s',
    better: 'higher',
    bars: apps.map((app) => ({ label: app.label, value: Math.round(results.get(app).rate), note: `hits ${sig(100 * hitRatio.get(app).ratio)}%`, ...(app.reference ? { reference: true } : {}) })),
  });
  ctx.note(`Caching: examples/http-cluster as a user runs it (${WORKERS} HTTP workers), started once per store with CACHE=shm|redis|lru and RATE_LIMITER=none; ` +
    `GET /item/:id answers from a Keyv when it can and otherwise computes the response (${ITEM_WORK} SHA-256 rounds, about a millisecond of CPU) and stores it. ` +
    `autocannon in this process, ${CONNECTIONS} keep-alive connections on loopback, item ids drawn from ${KEYS} with a zipf-like law (s = ${ZIPF_S}, seeded mulberry32), ` +
    `every cache first warmed by the same ${warmAmount} requests of the mix (another seed), then every store gets the same sequence of requests, in interleaved rounds (ratios: the median of the rounds' ratios); ` +
    'p50/p99 over every response; "server CPU": the server\'s processes (and redis-server for @keyv/redis) per response; hits and misses are the ' +
    `server's own counters over the measured rounds. KeyvShm: one cache in shared memory for every worker; @keyv/redis: one round trip per get (and per set on a miss) ` +
    `to a local redis-server; lru-cache: one per process (max ${KEYS} entries, so the whole key set fits and only the sharing differs), so each worker computes each item once for itself.`);
}
