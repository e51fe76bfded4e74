// `shmkit metrics [PATTERN] [--listen HOST:PORT] [--trust-owners LIST]`: the
// figures of every named shmkit object in the Prometheus text format, once on
// stdout, or served at http://HOST:PORT/metrics for scrapers and for
// processes that are not Node (the same text `shmkit/prometheus` gives
// prom-client, from the same table: src/metrics/families.ts).
import { createServer } from 'node:http';
import { CONTENT_TYPE, render } from '../metrics/exposition.js';
import { snapshot, type SnapshotOptions } from '../metrics/snapshot.js';
import { usageError } from './errors.js';
import { nameMatches } from './filter.js';

export interface MetricsOptions {
  listen?: string;
  trustOwners?: string;
}

function snapshotOptions(pattern: string | undefined, o: MetricsOptions): SnapshotOptions {
  const options: SnapshotOptions = {};
  if (pattern !== undefined) options.match = (name) => nameMatches(name, pattern);
  if (o.trustOwners !== undefined) {
    if (o.trustOwners === 'any') options.trustOwners = 'any';
    else {
      const uids = o.trustOwners.split(',').map((u) => Number(u.trim()));
      if (uids.some((u) => !Number.isSafeInteger(u) || u < 0)) throw usageError(`--trust-owners takes 'any' or uids separated by commas, not '${o.trustOwners}'`);
      options.trustOwners = uids;
    }
  }
  return options;
}

/** HOST:PORT, [IPv6]:PORT or PORT (loopback). */
function address(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen) ?? /^()()(\d+)$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--listen takes HOST:PORT (e.g. 127.0.0.1:9464), not '${listen}'`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export async function metrics(pattern: string | undefined, o: MetricsOptions): Promise<void> {
  const options = snapshotOptions(pattern, o);
  if (o.listen === undefined) {
    process.stdout.write(render(snapshot(options)));
    return;
  }
  const { host, port } = address(o.listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('shmkit metrics: see /metrics\n');
      return;
    }
    let body: string;
    try {
      body = render(snapshot(options));
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const shown = typeof bound === 'object' && bound !== null ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : o.listen;
  process.stdout.write(`serving http://${shown}/metrics\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
