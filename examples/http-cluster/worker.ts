// An HTTP worker: plain node:http on the port the cluster shares. Every
// request is counted, rate-limited per client and answered from state all
// workers share, so whichever worker a request lands on answers the same.
//
//   GET  /             hello (cheap: what a load test of the limiter hits)
//   GET  /item/:id     an expensive response, cached for CACHE_TTL ms (x-cache: hit | miss)
//   POST /login        {"user": "alice"} → a session cookie (sid)
//   GET  /me           the session's user (401 without one)
//   POST /logout       ends the session
//   POST /jobs         {"n": 200000} → 202 {"id"}: the job worker counts the primes below n
//   GET  /jobs/:id     the job's state, then its result
//   GET  /stats        requests served in all, by worker, cache hits and misses (not rate-limited)
//
// Every answer carries x-worker (the cluster worker id) and x-worker-pid.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from './config.js';
import { stopSignal } from './stop.js';
import { computeItem, openShared, openWorkerStores, type Shared, type WorkerStores } from './stores.js';

/** Largest request body read (JSON of /login and /jobs). */
const MAX_BODY = 4096;
/** Largest `n` of a job (about 2 s of CPU). */
const MAX_JOB_N = 50_000_000;
/** How long a job's state and result are kept. */
const JOB_TTL = 60 * 60_000;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function runHttpWorker(config: Config): Promise<void> {
  const workerId = String(cluster.worker?.id ?? 0);
  const stopRequest = stopSignal();

  const shared = await openShared(config);
  const stores = await openWorkerStores(config, shared);
  const app = new App(config, workerId, shared, stores);
  const server = http.createServer((req, res) => {
    app.handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) console.error(`http-cluster worker ${workerId}: ${req.method} ${req.url}: ${(err as Error).stack}`);
      if (!res.headersSent) send(res, status, { error: (err as Error).message });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  const stop = async (): Promise<void> => {
    // Stop accepting, let requests in flight finish (bounded), then close the handles.
    if (server.listening) {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      await closed;
      clearTimeout(force);
    }
    await stores.close();
    await shared.close();
    process.exit(0);
  };
  const stopOrDie = () => stop().catch((err: unknown) => {
    console.error(`http-cluster worker ${workerId}: stopping: ${(err as Error).stack}`);
    process.exit(1);
  });
  if (stopRequest.aborted) return stopOrDie();
  stopRequest.addEventListener('abort', stopOrDie, { once: true });
  // In a cluster worker the primary owns the socket; PORT=0 picks one port that every worker shares.
  server.listen(config.port, config.host);
}

/** The request handler of one worker, over the shared state. */
class App {
  constructor(
    private readonly config: Config,
    private readonly workerId: string,
    private readonly shared: Shared,
    private readonly stores: WorkerStores,
  ) {}

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    res.setHeader('x-worker', this.workerId);
    res.setHeader('x-worker-pid', String(process.pid));
    const { app } = this.shared;
    // Counted before anything else, so /stats includes the request asking for it.
    await Promise.all([
      app.incr('stats:requests', 1, { init: 0 }),
      app.incr(`stats:worker:${this.workerId}`, 1, { init: 0 }),
    ]);
    const url = new URL(req.url ?? '/', 'http://x');
    const route = `${req.method} ${url.pathname.replace(/^\/(item|jobs)\/[^/]+$/, '/$1/:id')}`;
    if (route === 'GET /stats') return this.stats(res);
    if (!(await this.admit(req, res))) return;
    switch (route) {
      case 'GET /': return send(res, 200, { hello: `from worker ${this.workerId}` });
      case 'GET /item/:id': return this.item(res, url.pathname.slice('/item/'.length));
      case 'POST /login': return this.login(req, res);
      case 'GET /me': return this.me(req, res);
      case 'POST /logout': return this.logout(req, res);
      case 'POST /jobs': return this.postJob(req, res);
      case 'GET /jobs/:id': return this.getJob(res, url.pathname.slice('/jobs/'.length));
      default: throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
    }
  }

  /**
   * The per-client rate limit: RATE_POINTS requests per RATE_DURATION s. The
   * client is its x-client-id header (an API key would do the same job), or
   * else its address. Over the limit: 429 with Retry-After.
   */
  private async admit(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    const { limiter } = this.stores;
    if (limiter === null) return true;
    const header = req.headers['x-client-id'];
    const client = (typeof header === 'string' && header !== '' ? header : req.socket.remoteAddress) ?? 'unknown';
    try {
      const r = await limiter.consume(client);
      res.setHeader('x-ratelimit-remaining', String(r.remainingPoints));
      return true;
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection; // the store failed: a 500
      res.setHeader('retry-after', String(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000))));
      res.setHeader('x-ratelimit-remaining', '0');
      send(res, 429, { error: `rate limit: ${this.config.ratePoints} requests per ${this.config.rateDuration} s` });
      return false;
    }
  }

  /** The expensive response, from the shared cache when another request (on any worker) computed it. */
  private async item(res: http.ServerResponse, id: string): Promise<void> {
    if (!/^[\w.-]{1,64}$/.test(id)) throw new HttpError(400, 'an item id is 1 to 64 letters, digits, _, . or -');
    const { app } = this.shared;
    const { cache } = this.stores;
    const cached = await cache.get(`item:${id}`);
    if (cached !== undefined) {
      await app.incr('stats:cache-hits', 1, { init: 0 });
      res.setHeader('x-cache', 'hit');
      return sendText(res, 200, cached);
    }
    const started = performance.now();
    const digest = computeItem(id, this.config.itemWork);
    const body = JSON.stringify({ id, digest, computedBy: this.workerId, computeMs: Math.round((performance.now() - started) * 100) / 100 });
    await cache.set(`item:${id}`, body, this.config.cacheTtl);
    await app.incr('stats:cache-misses', 1, { init: 0 });
    res.setHeader('x-cache', 'miss');
    sendText(res, 200, body);
  }

  private async login(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { user } = await readJson(req);
    if (typeof user !== 'string' || !/^[\w.@-]{1,64}$/.test(user)) throw new HttpError(400, 'expected {"user": "<1 to 64 letters, digits, _ . @ ->"}');
    const sid = randomBytes(18).toString('base64url');
    const session = { user, since: new Date().toISOString(), loginWorker: this.workerId };
    await this.shared.app.set(`session:${sid}`, JSON.stringify(session), { ttl: this.config.sessionTtl });
    res.setHeader('set-cookie', `sid=${sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(this.config.sessionTtl / 1000)}`);
    send(res, 200, session);
  }

  private async me(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const sid = sessionId(req);
    const session = sid === undefined ? undefined : await this.shared.app.get(`session:${sid}`);
    if (typeof session !== 'string') throw new HttpError(401, 'no session: POST /login first');
    send(res, 200, JSON.parse(session));
  }

  private async logout(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const sid = sessionId(req);
    const ended = sid !== undefined && await this.shared.app.delete(`session:${sid}`);
    res.setHeader('set-cookie', 'sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0');
    send(res, 200, { ended });
  }

  /** Enqueues a job; its state is written first, so the job worker's result always comes after it. */
  private async postJob(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { n } = await readJson(req);
    if (!Number.isSafeInteger(n) || (n as number) < 2 || (n as number) > MAX_JOB_N) throw new HttpError(400, `expected {"n": <integer 2 .. ${MAX_JOB_N}>}`);
    const { app, jobs } = this.shared;
    const id = await app.incr('jobs:next', 1, { init: 0 });
    const state = { id, n, status: 'queued', postedTo: this.workerId };
    await app.set(`job:${id}`, JSON.stringify(state), { ttl: JOB_TTL });
    if (!(await jobs.trySend({ id, n: n as number }))) {
      await app.delete(`job:${id}`);
      throw new HttpError(503, 'the job queue is full: try again later');
    }
    res.setHeader('location', `/jobs/${id}`);
    send(res, 202, state);
  }

  private async getJob(res: http.ServerResponse, id: string): Promise<void> {
    const state = /^\d{1,15}$/.test(id) ? await this.shared.app.get(`job:${id}`) : undefined;
    if (typeof state !== 'string') throw new HttpError(404, `no job ${id}`);
    sendText(res, 200, state);
  }

  /** Counters of every worker, read from the shared Dict. */
  private async stats(res: http.ServerResponse): Promise<void> {
    const { app } = this.shared;
    const workerKeys = (await app.keys(0)).filter((k) => k.startsWith('stats:worker:')).sort();
    const [requests, hits, misses, ...byWorker] = await Promise.all(
      ['stats:requests', 'stats:cache-hits', 'stats:cache-misses', ...workerKeys].map((k) => app.get(k)),
    );
    const c = this.config;
    send(res, 200, {
      requests: requests ?? 0,
      workers: Object.fromEntries(workerKeys.map((k, i) => [k.slice('stats:worker:'.length), byWorker[i] ?? 0])),
      cache: { hits: hits ?? 0, misses: misses ?? 0 },
      config: { backend: c.backend, rateLimiter: c.rateLimiter, cache: c.cache, ratePoints: c.ratePoints, rateDuration: c.rateDuration, prefix: c.prefix },
    });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body));
}

function sendText(res: http.ServerResponse, status: number, json: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

function sessionId(req: http.IncomingMessage): string | undefined {
  return /(?:^|;\s*)sid=([\w-]{1,64})(?:;|$)/.exec(req.headers.cookie ?? '')?.[1];
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > MAX_BODY) throw new HttpError(413, `a body of at most ${MAX_BODY} bytes`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new HttpError(400, 'expected a JSON object');
}
