// The job worker: one process that takes jobs off the shared Queue, one at a
// time, and writes each result back into the app's Dict, where any HTTP
// worker reads it for GET /jobs/:id. The HTTP workers never wait for a job.
import type { Config } from './config.js';
import { stopSignal } from './stop.js';
import { openShared, type Job } from './stores.js';

/** How long a job's result is kept. */
const RESULT_TTL = 60 * 60_000;

export async function runJobWorker(config: Config): Promise<void> {
  const stopping = stopSignal();
  const shared = await openShared(config);
  const { app, jobs } = shared;
  process.send?.({ ready: true });

  while (!stopping.aborted) {
    let job: Job;
    try {
      job = await jobs.receive({ signal: stopping });
    } catch (err) {
      if (stopping.aborted) break;
      throw err;
    }
    const started = performance.now();
    const primes = countPrimes(job.n);
    const result = { id: job.id, n: job.n, status: 'done', primes, ms: Math.round(performance.now() - started), doneBy: process.pid };
    await app.set(`job:${job.id}`, JSON.stringify(result), { ttl: RESULT_TTL });
  }
  await shared.close();
  process.exit(0);
}

/** Primes below `n` (a sieve: the CPU work a job stands for). */
function countPrimes(n: number): number {
  const composite = new Uint8Array(n);
  let count = 0;
  for (let i = 2; i < n; i++) {
    if (composite[i]) continue;
    count++;
    for (let j = i * i; j < n; j += i) composite[j] = 1;
  }
  return count;
}
