// A real multi-process HTTP server whose workers share their state through
// shmkit instead of Redis or the cluster primary: a per-client rate limit
// (RateLimiterShm), a response cache (Keyv over KeyvShm), sessions and
// counters (a Dict), and a job Queue consumed by a separate job worker that
// writes results back into the Dict. It runs until SIGINT or SIGTERM, then
// stops its workers, removes the objects it created and exits 0.
//
//   npm run build && node dist/examples/http-cluster/main.js
//   curl -i http://127.0.0.1:3000/item/42
//
// Configuration (environment): PORT (3000; 0 = any free port), HOST
// (127.0.0.1), WORKERS (CPUs), APP_PREFIX (http-cluster: the objects are
// /http-cluster-app, -limits, -cache, -jobs), BACKEND=shm|redis with
// REDIS_URL, RATE_LIMITER=shm|redis|cluster|memory|none, CACHE=shm|redis|lru,
// RATE_POINTS (100) per RATE_DURATION (60 s), CACHE_TTL (60000 ms), LRU_MAX,
// ITEM_WORK (SHA-256 rounds per /item), SESSION_TTL (ms), DICT_MEMORY
// (bytes per Dict). See config.ts and the README's "Real servers".
//
// Processes: the primary forks WORKERS HTTP workers (worker.ts) and one job
// worker (job-worker.ts), all cluster workers of this same file; the role is
// in HTTP_CLUSTER_ROLE.
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { RateLimiterClusterMaster } from 'rate-limiter-flexible';
import { readConfig, type Config } from './config.js';
import { runJobWorker } from './job-worker.js';
import { createObjects, objectNames, removeObjects } from './stores.js';
import { runHttpWorker } from './worker.js';

/** Bound on the start of every worker (opening the stores, connecting to Redis, listening). */
const START_MS = 30_000;
/** Bound on a worker's graceful stop; it is SIGKILLed after that. */
const STOP_MS = 10_000;
/** Pause before a worker that died is replaced. */
const RESTART_DELAY_MS = 500;

type Role = 'http' | 'jobs';

async function runPrimary(config: Config): Promise<void> {
  if (config.backend === 'shm') createObjects(config);
  // RATE_LIMITER=cluster: the counters live in this process; workers ask over IPC.
  if (config.rateLimiter === 'cluster') new RateLimiterClusterMaster();
  const roles = new Map<Worker, Role>();
  let stopping = false;

  /** Forks one worker; resolves with the port once it listens (http) or says it is ready (jobs). */
  const fork = (role: Role): Promise<number> => {
    const worker = cluster.fork({ HTTP_CLUSTER_ROLE: role });
    roles.set(worker, role);
    return new Promise<number>((resolve, reject) => {
      const failed = (code: number | null, signal: string | null) => reject(new Error(`${role} worker ${worker.id} exited (${code ?? signal}) while starting`));
      worker.once('exit', failed);
      const started = (port: number) => {
        worker.off('exit', failed);
        resolve(port);
      };
      if (role === 'http') worker.once('listening', (address: AddressInfo) => started(address.port));
      else worker.on('message', (m: { ready?: boolean }) => { if (m?.ready) started(0); });
    });
  };

  // Stops every worker (SIGKILL after STOP_MS), then removes the objects; once, whoever asks first.
  let stopped: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => stopped ??= (async () => {
    stopping = true;
    const workers = [...roles.keys()].filter((w) => !w.isDead());
    // A worker whose channel is closed already stops on 'disconnect'; with a callback, a
    // failed send (EPIPE from a worker exiting right now) is reported there, not thrown.
    for (const w of workers) if (w.isConnected()) w.send({ cmd: 'stop' }, () => {});
    await Promise.all(workers.map(async (w) => {
      const timer = setTimeout(() => w.process.kill('SIGKILL'), STOP_MS);
      if (!w.isDead()) await once(w, 'exit');
      clearTimeout(timer);
    }));
    if (config.backend === 'shm') removeObjects(Object.values(objectNames(config)));
    console.log(`http-cluster: stopped (${why})`);
  })();

  // Signals are taken from the start: a ^C while the workers start stops them too.
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      // A second ^C: do not wait for the workers.
      for (const w of roles.keys()) w.process.kill('SIGKILL');
      return;
    }
    stop(signal).then(() => process.exit(0), (err: unknown) => {
      console.error(`http-cluster: stopping: ${(err as Error).stack}`);
      process.exit(1);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // A worker that dies while the server runs is replaced (one that dies while starting fails the start).
  let running = false;
  cluster.on('exit', (worker, code, signal) => {
    const role = roles.get(worker);
    roles.delete(worker);
    if (!running || stopping || role === undefined) return;
    console.error(`http-cluster: ${role} worker ${worker.id} (pid ${worker.process.pid}) exited (${code ?? signal}); starting another`);
    // After a pause: a worker that cannot start (Redis down) is retried at a calm pace, not in a tight loop.
    setTimeout(() => {
      if (!stopping) fork(role).catch((err: unknown) => console.error(`http-cluster: ${(err as Error).message}`));
    }, RESTART_DELAY_MS);
  });

  let ports: number[];
  try {
    ports = await Promise.race([
      Promise.all([...Array.from({ length: config.workers }, () => fork('http')), fork('jobs')]),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the workers did not start within ${START_MS} ms`)), START_MS).unref()),
    ]);
  } catch (err) {
    if (stopping) return; // a signal came: onSignal finishes
    console.error(`http-cluster: ${(err as Error).message}`);
    await stop('start failed');
    process.exit(1);
  }
  if (stopping) return;
  running = true;

  const pids = (role: Role) => [...roles].filter(([w, r]) => r === role && !w.isDead()).map(([w]) => w.process.pid).join(' ');
  // One line a script can parse: the port, then the processes.
  console.log(`http-cluster: listening on http://${config.host}:${ports[0]} ` +
    `(backend ${config.backend}, rate limiter ${config.rateLimiter}, cache ${config.cache}, prefix ${config.prefix}; ` +
    `primary ${process.pid}, http workers ${pids('http')}, job worker ${pids('jobs')})`);
}

function main(): void {
  let config: Config;
  try {
    config = readConfig();
  } catch (err) {
    console.error(`http-cluster: ${(err as Error).message}`);
    process.exit(2);
  }
  const run = cluster.isPrimary ? runPrimary : process.env.HTTP_CLUSTER_ROLE === 'jobs' ? runJobWorker : runHttpWorker;
  run(config).catch((err: unknown) => {
    // The primary's failures are about the start (objects that exist, bad settings): the message says it all.
    const text = cluster.isPrimary ? (err as Error).message : (err as Error).stack;
    console.error(`http-cluster${cluster.isPrimary ? '' : ` ${process.env.HTTP_CLUSTER_ROLE} worker ${cluster.worker?.id}`}: ${text ?? err}`);
    process.exit(1);
  });
}

main();
