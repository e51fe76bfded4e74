// The same job-queue code on this host's shared memory and on Redis: it is
// written once against the async interface (AsyncQueue), and each backend
// hands it queues. On Redis the workers could as well run on other hosts.
//
//   REDIS_URL=redis://127.0.0.1:6379 node dist/examples/redis-queue.js
import { Redis } from 'ioredis';
import { Queue, type AsyncQueue } from 'shmkit';
import { RedisQueue } from 'shmkit/redis';

interface Job {
  id: number; // -1: no more jobs, the worker stops
  text: string;
}

interface Result {
  id: number;
  words: number;
  worker: number;
}

const JOBS = 20;
const WORKERS = 2;

/** Opens the jobs and results queues on one backend (each call: new handles on the same queues). */
type Open = () => { jobs: AsyncQueue<Job>; results: AsyncQueue<Result> };

// ---- the application: knows nothing of where the queues live ----

async function worker(open: Open, worker: number): Promise<void> {
  const { jobs, results } = open();
  for (;;) {
    const job = await jobs.receive({ timeout: 10_000 });
    if (job.id < 0) break;
    const words = job.text.split(/\s+/).filter(Boolean).length;
    await results.send({ id: job.id, words, worker }, { timeout: 10_000 });
  }
  await jobs.close();
  await results.close();
}

async function runJobs(open: Open): Promise<string> {
  const { jobs, results } = open();
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(open, w));
  for (let id = 0; id < JOBS; id++) await jobs.send({ id, text: `job ${id}: count these four words` }, { timeout: 10_000 });
  for (let w = 0; w < WORKERS; w++) await jobs.send({ id: -1, text: '' }, { timeout: 10_000 });
  const done = new Set<number>();
  const byWorker = new Set<number>();
  let words = 0;
  for (let i = 0; i < JOBS; i++) {
    const r = await results.receive({ timeout: 10_000 });
    if (done.has(r.id)) throw new Error(`job ${r.id} done twice`);
    done.add(r.id);
    byWorker.add(r.worker);
    words += r.words;
  }
  await Promise.all(workers);
  await jobs.close();
  await results.close();
  return `${done.size} jobs done once each by ${byWorker.size} of ${WORKERS} workers, ${words} words`;
}

// ---- the two backends ----

async function onSharedMemory(): Promise<void> {
  const base = `/shmkit-redis-queue-${process.pid}`;
  Queue.create<Job>(`${base}-jobs`, { capacity: 64 * 1024, encoding: 'json' }).close();
  Queue.create<Result>(`${base}-results`, { capacity: 64 * 1024, encoding: 'json' }).close();
  try {
    const open: Open = () => ({
      jobs: Queue.open<Job>(`${base}-jobs`, { encoding: 'json' }),
      results: Queue.open<Result>(`${base}-results`, { encoding: 'json' }),
    });
    console.log(`shm: ${await runJobs(open)}`);
  } finally {
    Queue.unlink(`${base}-jobs`);
    Queue.unlink(`${base}-results`);
  }
}

async function onRedis(url: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  const base = `redis-queue-example-${process.pid}`;
  try {
    const open: Open = () => ({
      jobs: new RedisQueue<Job>(redis, `${base}-jobs`, { encoding: 'json' }),
      results: new RedisQueue<Result>(redis, `${base}-results`, { encoding: 'json' }),
    });
    console.log(`redis: ${await runJobs(open)}`);
  } finally {
    // The queues outlive their handles: this example removes its keys.
    for (const q of ['jobs', 'results']) {
      const key = `shmkit:queue:{${base}-${q}}`;
      await redis.del(key, `${key}:bytes`, `${key}:full`, `${key}:space`);
    }
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  await onSharedMemory();
  await onRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
