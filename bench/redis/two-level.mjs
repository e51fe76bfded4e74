// bench:redis section "two-level": the two-level Dict against Redis itself,
// in the same run on the same redis-server.
//
// 1. A near-copy hit (TwoLevelDict.get of a cached key: shared memory, no
//    round trip) against a GET issued directly with ioredis, and against
//    RedisDict.get and a two-level miss (read-through: GET and PTTL in one
//    round trip, then the store into shared memory). Target: the hit ≥ 30×
//    the direct GET's rate.
// 2. A zipf-like key mix (10 000 keys, s = 1.0, seeded): hit rate, Redis
//    round trips and commands per request, p50/p99; reads only, then with 1%
//    writes (each write: the SET, then the PUBLISH that invalidates the
//    other hosts, and a miss for this host afterwards).
//
// Runs in one process; default export `async (ctx) => {}` (see bench/redis.mjs).
import { fmtRatio, fmtRate, fmtUs, mulberry32, ratio, zipf } from '../lib/common.mjs';

const VALUE = 'v'.repeat(64);
const KEYS = 10_000;
const ZIPF_S = 1.0;
const TARGET = 30;


/** Calls of each command so far (INFO commandstats). */
async function commandCalls(client) {
  const info = await client.info('commandstats');
  const calls = {};
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2]);
  return calls;
}

function callsBetween(a, b) {
  let n = 0;
  for (const [cmd, calls] of Object.entries(b)) if (cmd !== 'info') n += calls - (a[cmd] ?? 0);
  return n;
}

/** The median (by rate) of `rounds` runs of `run()`. */
async function median(rounds, run) {
  const results = [];
  for (let i = 0; i < rounds; i++) results.push(await run());
  results.sort((x, y) => x.rate - y.rate);
  return results[results.length >> 1];
}

export default async function twoLevel(ctx) {
  const { redisLib, quick, rounds, table, timeIt, cells } = ctx;
  const { TwoLevelDict, RedisDict } = redisLib;
  const client = ctx.redis.client();
  const nearName = `/shmkit-bench-two-level-${process.pid}`;
  const remote = new RedisDict(client, 'bench-two-level');
  const dict = new TwoLevelDict({ near: { name: nearName, memory: 16 << 20 }, remote, redis: client, nearTtl: 60_000 });
  try {
    await dict.ready();
    await remote.flushAll();

    // ---- 1. a near hit against one round trip ------------------------------------
    const ops = quick ? 20_000 : 100_000;
    await client.set('bench:two-level:plain', VALUE);
    await remote.set('hot', VALUE);
    await dict.get('hot'); // cached from here on
    const direct = await median(rounds, () => timeIt(() => client.get('bench:two-level:plain'), { ops: ops / 10 }));
    const redisDict = await median(rounds, () => timeIt(() => remote.get('hot'), { ops: ops / 10 }));
    const hit = await median(rounds, () => timeIt(() => dict.get('hot'), { ops }));
    // A miss each time: a fresh key (absent in Redis: the read-through caches the absence).
    let fresh = 0;
    const miss = await median(rounds, () => timeIt(() => dict.get(`cold:${fresh++}`), { ops: ops / 20 }));
    const r = ratio(hit.rate, direct.rate);
    table(`two-level: a near-copy hit vs one Redis GET (64-byte value; target ≥ ${TARGET}× the direct GET)`, ['read', 'ops/s', 'p50 µs', 'p99 µs', 'vs ioredis GET'], [
      ['ioredis GET (reference)', ...cells(direct, direct)],
      ['RedisDict.get', ...cells(redisDict, direct)],
      ['TwoLevelDict.get, near hit', ...cells(hit, direct)],
      ['TwoLevelDict.get, miss (read-through)', ...cells(miss, direct)],
    ]);
    ctx.note(`near hit / ioredis GET: ${fmtRatio(r)} (${r >= TARGET ? 'meets' : 'MISSES'} the ${TARGET}× target)`);
    ctx.chart({
      id: 'two-level-read', title: 'TwoLevelDict: a read from the near copy vs one Redis GET (64-byte value)', unit: 'ops/s', better: 'higher',
      bars: [
        { label: 'shmkit TwoLevelDict, near hit', value: hit.rate },
        { label: 'shmkit TwoLevelDict, miss', value: miss.rate },
        { label: 'shmkit RedisDict.get', value: redisDict.rate },
        { label: 'ioredis GET', value: direct.rate, reference: true },
      ],
    });

    // ---- 2. a zipf-like mix ---------------------------------------------------------
    const requests = quick ? 30_000 : 200_000;
    const keyOf = (k) => `z:${k}`;
    for (let k = 0; k < KEYS; k += 500) await Promise.all(Array.from({ length: 500 }, (_, i) => remote.set(keyOf(k + i), VALUE)));
    const rows = [];
    for (const writeShare of [0, 0.01]) {
      dict.near.flushAll(); // a cold near copy for each mix (the Dict's own flush: this bench is its only user)
      const random = mulberry32(13);
      const rank = zipf(KEYS, ZIPF_S, random);
      const before = { stats: dict.stats(), calls: await commandCalls(client) };
      const res = await timeIt(() => {
        const key = keyOf(rank());
        return random() < writeShare ? dict.set(key, VALUE) : dict.get(key);
      }, { ops: requests });
      const after = { stats: dict.stats(), calls: await commandCalls(client) };
      const hits = after.stats.nearHits - before.stats.nearHits;
      const reads = hits + after.stats.nearMisses - before.stats.nearMisses;
      const writes = requests - reads;
      // A fetch is one round trip (GET and PTTL leave together); a write two (the write, then PUBLISH).
      const trips = after.stats.fetches - before.stats.fetches + 2 * writes;
      rows.push([
        writeShare === 0 ? 'reads only' : `${writeShare * 100}% writes`,
        `${((100 * hits) / reads).toFixed(1)}%`,
        (trips / requests).toFixed(3),
        (callsBetween(before.calls, after.calls) / requests).toFixed(3),
        fmtRate(res.rate), fmtUs(res.p50_ns), fmtUs(res.p99_ns),
      ]);
    }
    table(`two-level: zipf key mix (${KEYS} keys, s = ${ZIPF_S}, ${requests} requests from a cold near copy, one process)`,
      ['mix', 'near hit rate', 'Redis round trips / request', 'Redis commands / request', 'requests/s', 'p50 µs', 'p99 µs'], rows);
  } finally {
    await dict.close();
    TwoLevelDict.unlink(nearName);
    await remote.flushAll().catch(() => {});
    await remote.close();
  }
}
