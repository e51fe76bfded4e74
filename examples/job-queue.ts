// A job queue shared by processes: the parent puts jobs on a Queue, three
// worker processes take them (each job exactly once) and report results on a
// second Queue, a robust Mutex guards a counter they all update in a shared
// segment, and a Barrier lets everyone start together. If a worker is
// killed, its lock and queue slot are freed by the kernel and the others
// carry on.
//
//   npm run build && node dist/examples/job-queue.js
import { fork } from 'node:child_process';
import { Barrier, Mutex, Queue, Segment } from 'shmkit';

interface Job {
  id: number;
  text: string;
}

interface Result {
  id: number;
  words: number;
  worker: number;
}

const WORKERS = 3;
const JOBS = 30;

async function worker(base: string): Promise<void> {
  const jobs = Queue.open<Job>(`${base}-jobs`, { encoding: 'json' }); // typed: receives Job, sends Job
  const results = Queue.open<Result>(`${base}-results`, { encoding: 'json' });
  const lock = Mutex.open(`${base}-lock`);
  const stats = Segment.open(`${base}-stats`);
  const start = Barrier.open(`${base}-start`);
  const done = new Float64Array(stats.buffer, 0, 1);
  await start.wait({ timeout: 10_000 }); // everyone is ready
  for await (const job of jobs) {
    const words = job.text.split(/\s+/).filter(Boolean).length;
    await new Promise((resolve) => setTimeout(resolve, 2)); // the "work"
    await lock.withLock(() => {
      done[0] = (done[0] as number) + 1; // a plain read-modify-write, safe under the lock
    });
    await results.send({ id: job.id, words, worker: process.pid });
  }
  for (const h of [jobs, results, lock, stats, start]) h.close();
}

async function parent(): Promise<void> {
  const base = `/shmkit-job-queue-${process.pid}`;
  const jobs = Queue.create<Job>(`${base}-jobs`, { capacity: 64 * 1024, encoding: 'json' });
  const results = Queue.create<Result>(`${base}-results`, { capacity: 64 * 1024, encoding: 'json' });
  const lock = Mutex.create(`${base}-lock`);
  const stats = Segment.create(`${base}-stats`, { size: 8 });
  const start = Barrier.create(`${base}-start`, { parties: WORKERS + 1 });
  const children = Array.from({ length: WORKERS }, () => fork(__filename, ['worker', base], { stdio: 'inherit' }));
  const timer = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), 20_000);
  try {
    await start.wait({ timeout: 10_000 }); // the workers have opened everything
    for (let id = 0; id < JOBS; id++) await jobs.send({ id, text: `job ${id} has ${'a few words '.repeat(id % 5)}` });
    jobs.end(); // workers finish what is queued, then their loops end
    const byWorker = new Map<number, number>();
    let words = 0;
    for (let i = 0; i < JOBS; i++) {
      const r = await results.receive({ timeout: 10_000 });
      words += r.words;
      byWorker.set(r.worker, (byWorker.get(r.worker) ?? 0) + 1);
    }
    await Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve))));
    const done = new Float64Array(stats.buffer, 0, 1)[0];
    console.log(`${JOBS} jobs done by ${byWorker.size} workers (${[...byWorker.values()].join(' + ')}), ${words} words counted`);
    console.log(`shared counter under the Mutex: ${done}`);
  } finally {
    clearTimeout(timer);
    for (const h of [jobs, results, lock, stats, start]) h.close();
    for (const suffix of ['-jobs', '-results', '-lock', '-stats', '-start']) Segment.unlink(base + suffix);
  }
}

if (process.argv[2] === 'worker') {
  worker(process.argv[3] as string).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  parent().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
