// A rate limit shared by every worker of a Node `cluster`, with no Redis: the
// workers serve HTTP on one port, and each request counts against its
// client's budget in one Dict that all of them open. Whichever worker a
// request lands on, the count is the same, and it is atomic (`incr`).
// The primary sends 30 requests and prints how they were answered.
//
//   npm run build && node dist/examples/cluster-rate-limit.js
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Dict } from 'shmkit';

const WORKERS = 2;
const LIMIT = 20; // requests per client per window
const WINDOW_MS = 60_000;
const REQUESTS = 30;

function worker(name: string): void {
  const limits = Dict.open(name);
  const server = http.createServer((req, res) => {
    // The window starts with the client's first request: `init` creates the counter with the
    // ttl, later increments keep it (ngx.shared.DICT's incr(key, 1, 0, ttl)).
    const hits = limits.incr(`rate:${req.socket.remoteAddress}`, 1, { init: 0, ttl: WINDOW_MS });
    limits.incr(`served-by:${process.pid}`, 1, { init: 0 });
    res.writeHead(hits > LIMIT ? 429 : 200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(hits > LIMIT ? 'slow down\n' : `hello (${hits}/${LIMIT})\n`);
  });
  // Port 0 in a cluster worker: the primary picks one free port and every worker shares it.
  server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
  process.on('disconnect', () => {
    server.close();
    limits.close();
  });
}

function request(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}

async function primary(): Promise<void> {
  const name = `/shmkit-cluster-rate-limit-${process.pid}`;
  const limits = Dict.create(name, { memory: 1 << 20 });
  const timer = setTimeout(() => {
    console.error('timed out');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
  }, 20_000);
  try {
    cluster.setupPrimary({ args: ['worker', name] });
    const ports = await Promise.all(Array.from({ length: WORKERS }, () => new Promise<number>((resolve, reject) => {
      const w = cluster.fork();
      w.once('message', (m: { port: number }) => resolve(m.port));
      w.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    })));
    const port = ports[0] as number;
    const codes: number[] = [];
    for (let i = 0; i < REQUESTS; i++) codes.push(await request(port));
    const servedBy = limits.keys(0).filter((k) => k.startsWith('served-by:')).map((k) => limits.get(k) as number);
    const allowed = codes.filter((c) => c === 200).length;
    const limited = codes.filter((c) => c === 429).length;
    console.log(`${REQUESTS} requests served by ${servedBy.length} workers (${servedBy.join(' + ')}): ` +
      `${allowed} allowed, ${limited} rate-limited (limit ${LIMIT} per ${WINDOW_MS / 1000} s, one Dict shared by every worker)`);
    console.log(`the client's count in the Dict: ${limits.get('rate:127.0.0.1')}`);
    await Promise.all(Object.values(cluster.workers ?? {}).map((w) => new Promise((resolve) => {
      w?.once('exit', resolve);
      w?.disconnect();
    })));
  } finally {
    clearTimeout(timer);
    limits.close();
    Dict.unlink(name);
  }
}

if (cluster.isPrimary) {
  primary().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  worker(process.argv[3] as string);
}
