// A real-time price feed as a network service. The primary process is the
// ingest: it receives price ticks as UDP datagrams and publishes each on a
// shmkit Topic. Worker processes (node:cluster, one shared HTTP port) serve
// them as Server-Sent Events, every client from its own subscription; a
// client that does not keep up is skipped ahead and told how many ticks it
// missed, and never holds up anyone else. Measured as it runs: GET /stats
// (ticks in per second, deliveries, CPU per tick; docs in the README), and
// a summary printed when it stops.
//
//   npm run build && node dist/examples/realtime-feed/main.js
//   curl -N http://127.0.0.1:3000/ticks
//   node dist/examples/realtime-feed/send-ticks.js --count 10000 --rate 1000
//
// Environment: PORT (3000), UDP_PORT (9000; 0 for both: any free port),
// HOST and UDP_HOST (127.0.0.1), WORKERS (the CPUs), FEED_PREFIX
// (/realtime-feed: the names it makes), TICKS_KEPT (16384), BACKEND (shm;
// redis: a RedisTopic on REDIS_URL, across hosts; ipc: the reference,
// ticks forwarded to the workers by process.send). Runs until SIGINT or
// SIGTERM, then stops the workers, removes what it made and exits 0.
import cluster, { type Worker } from 'node:cluster';
import { SharedArray } from 'shmkit';
import { readConfig, statsName, type Config } from './config.js';
import { openSink, type TickSink } from './feeds.js';
import { startIngest, type Ingest } from './ingest.js';
import { INGEST_ROW, StatsBoard, trackProcess, type Stats } from './stats.js';
import { runWorker, STOP } from './worker.js';

/** How long the workers have to stop before they are killed. */
const STOP_MS = 5000;

async function primary(config: Config): Promise<void> {
  const started = Date.now();
  const board = makeBoard(config);
  const ingestRow = board.row(INGEST_ROW);
  const cpu = trackProcess(ingestRow);
  const workers = new Map<number, Worker>(); // by row
  const listening = new Set<Worker>();
  let sink: TickSink | undefined;
  let ingest: Ingest | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let stopping = false;
  const busy: Busy = { seconds: 0, ticks: 0, cpuMicros: 0, peak: 0 };

  // Every worker listens on config.port, a worker started again too: with
  // 0, the cluster picked one free port for the first and shares that
  // listener with every worker that asks for port 0 while one holds it.
  const fork = (row: number): Worker => {
    const worker = cluster.fork({ FEED_ROW: String(row) });
    // A send to a worker that just exited fails (EPIPE); its 'exit' tells the rest.
    worker.on('error', (err) => {
      if (!stopping) console.error(`realtime-feed: worker ${worker.process.pid}: ${err.message}`);
    });
    workers.set(row, worker);
    return worker;
  };

  // The first call stops everything; later ones (a second ^C) change nothing.
  let stopped: Promise<void> | undefined;
  const stop = (code: number): Promise<void> => (stopped ??= stopAll(code));
  async function stopAll(code: number): Promise<void> {
    stopping = true;
    clearInterval(sampler);
    await ingest?.close();
    const exited = [...workers.values()].map((w) => new Promise((resolve) => (w.isDead() ? resolve(null) : w.once('exit', resolve))));
    for (const w of workers.values()) if (w.isConnected()) w.send(STOP);
    let killed = 0;
    const timer = setTimeout(() => {
      for (const w of workers.values()) {
        console.error(`realtime-feed: worker ${w.process.pid} did not stop within ${STOP_MS} ms; killing it`);
        killed += w.process.kill('SIGKILL') ? 1 : 0;
      }
    }, STOP_MS);
    await Promise.all(exited);
    clearTimeout(timer);
    if (killed > 0) code = 1;
    cpu.stop();
    if (sink !== undefined) console.log(summary(board.read(), Date.now() - started, busy, sink));
    await sink?.close();
    board.close();
    SharedArray.unlink(statsName(config));
    process.exit(code);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(0));

  try {
    sink = await openSink(config, () => [...workers.values()]);
    // Each worker says when it listens (or dies first).
    let port = config.port;
    await Promise.all(Array.from({ length: config.workers }, (_, i) => new Promise<void>((resolve, reject) => {
      const w = fork(i + 1);
      w.once('listening', (address) => {
        port = address.port;
        listening.add(w);
        resolve();
      });
      w.once('exit', (code, signal) => reject(new Error(`worker ${i + 1} exited (${signal ?? code}) before it listened`)));
    })));
    ingest = await startIngest(config, sink, ingestRow);
    cluster.on('exit', (w, code, signal) => {
      const row = [...workers].find(([, x]) => x === w)?.[0];
      if (row === undefined) return;
      workers.delete(row);
      if (stopping || (code === 0 && signal === null)) return; // told to stop
      if (!listening.has(w)) {
        console.error('realtime-feed: a worker started again died before it listened; stopping');
        void stop(1);
        return;
      }
      console.error(`realtime-feed: worker ${w.process.pid} died (${signal ?? code}); starting another`);
      const again = fork(row);
      again.once('listening', () => listening.add(again));
    });
    const { address: udpHost, port: udpPort } = ingest.address;
    console.log(`realtime-feed: ${config.workers} workers, ticks via ${sink.where}`);
    console.log(`realtime-feed: ticks in on udp ${udpHost}:${udpPort}`);
    console.log(`realtime-feed: SSE on http://${config.host}:${port}/ticks, counters on http://${config.host}:${port}/stats`);
    console.log(`realtime-feed: ready (pid ${process.pid}); stop with ^C or SIGTERM`);
  } catch (err) {
    if (!stopping) console.error(`realtime-feed: ${(err as Error).message}`); // (else: a worker told to stop before it listened)
    await stop(1);
    return;
  }

  // The last second's rates, for GET /stats (row 0 holds them); and the
  // seconds in which ticks came in, for the summary.
  let last = { at: Date.now(), stats: board.read() };
  sampler = setInterval(() => {
    cpu.update();
    const now = { at: Date.now(), stats: board.read() };
    const seconds = (now.at - last.at) / 1000;
    const ticks = now.stats.total.received - last.stats.total.received;
    const cpuMicros = now.stats.total.cpuMicros - last.stats.total.cpuMicros;
    ingestRow.set('ticksPerSecond', Math.round(ticks / seconds));
    ingestRow.set('deliveriesPerSecond', Math.round((now.stats.total.deliveries - last.stats.total.deliveries) / seconds));
    ingestRow.set('cpuMicrosPerTick', ticks > 0 ? cpuMicros / ticks : 0);
    if (ticks > 0) {
      busy.seconds += seconds;
      busy.ticks += ticks;
      busy.cpuMicros += cpuMicros;
      busy.peak = Math.max(busy.peak, ticks / seconds);
    }
    last = now;
  }, 1000);
}

function makeBoard(config: Config): StatsBoard {
  try {
    return StatsBoard.create(statsName(config), config.workers);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    throw new Error(`${statsName(config)} exists: another feed with FEED_PREFIX=${config.prefix} runs, or one was killed (remove its objects with: npx shmkit rm ${statsName(config)} ${config.prefix}-ticks)`);
  }
}

/** The seconds (as the primary samples them) in which ticks came in. */
interface Busy {
  seconds: number;
  ticks: number;
  /** CPU time of every process of the feed in those seconds. */
  cpuMicros: number;
  /** The most ticks in one second. */
  peak: number;
}

/** What the primary prints when it stops. */
function summary(s: Stats, ms: number, busy: Busy, sink: TickSink): string {
  const workersCpu = s.workers.reduce((sum, w) => sum + w.cpuMicros, 0);
  const perTick = (micros: number, ticks: number): string => (ticks > 0 ? (micros / ticks).toFixed(1) : '-');
  return [
    `realtime-feed: stopped after ${(ms / 1000).toFixed(1)} s`,
    `  ingest:  ${s.ingest.received} datagrams in (${Math.round(busy.seconds > 0 ? busy.ticks / busy.seconds : 0)}/s over the ${busy.seconds.toFixed(0)} s they came in, ` +
      `at most ${Math.round(busy.peak)}/s), ${s.ingest.published} ticks published, ${s.ingest.gaps} missing by sequence, ${s.ingest.rejected} rejected, ${sink.failed} not published`,
    `  workers: ${s.total.deliveries} ticks delivered over ${s.workers.reduce((sum, w) => sum + w.connections, 0)} connections, ${s.total.missed} skipped for slow clients`,
    `  CPU:     ${perTick(busy.cpuMicros, busy.ticks)} µs per tick in, every process, while ticks came in; ` +
      `${(s.total.cpuMicros / 1e6).toFixed(2)} s in all (ingest ${(s.ingest.cpuMicros / 1e6).toFixed(2)}, workers ${(workersCpu / 1e6).toFixed(2)})`,
  ].join('\n');
}

const config = (() => {
  try {
    return readConfig();
  } catch (err) {
    console.error(`realtime-feed: ${(err as Error).message}`);
    process.exit(2);
  }
})();
if (cluster.isPrimary) {
  primary(config).catch((err) => {
    console.error(`realtime-feed: ${(err as Error).message}`);
    process.exit(1);
  });
} else {
  runWorker(config, Number(process.env.FEED_ROW)).catch((err) => {
    console.error(`realtime-feed worker ${process.pid}: ${(err as Error).message}`);
    process.exit(1);
  });
}
