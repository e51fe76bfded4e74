// A worker: serves Server-Sent Events on the port every worker shares
// (node:cluster). Each client gets its own subscription and its own pump,
// which moves ticks from the subscription to the client's socket and never
// further than the socket takes: when `res.write` returns false it stops
// reading until 'drain'. Meanwhile the Topic goes on without it (it never
// waits for a subscriber), so a client that does not read costs its worker
// nothing but a socket buffer: when it reads again, the subscription has
// been lapped, skips to the oldest tick kept, and the client is told how
// many it missed. Other clients, on this worker or another, never wait.
//
// Only one wait per worker is parked on the Topic (the Bell's): a pump
// that has read everything waits for the bell, not on its subscription, so
// a tick wakes the worker once however many clients it serves, and each
// pump then reads its own subscription without waiting (tryReceive).
import http from 'node:http';
import type { AsyncSubscriber } from 'shmkit';
import { statsName, type Config } from './config.js';
import { openFeed } from './feeds.js';
import { StatsBoard, trackProcess, type Row } from './stats.js';
import { decodeTick, missedEvent, symbolOf, tickEvent } from './tick.js';

/** Ticks read from a subscription before they are written to the socket in one piece. */
const BATCH = 256;
/** A comment is sent to a client that had nothing for this long (proxies close silent connections). */
const KEEP_ALIVE_MS = 15_000;

/** Runs this worker until the primary says stop (or goes away). `row`: its row in the stats board. */
export async function runWorker(config: Config, rowIndex: number): Promise<void> {
  // Until it serves anyone, stopping is just exiting.
  let stop = async (): Promise<void> => process.exit(0);
  process.on('message', (m: unknown) => {
    if (isStop(m)) void stop();
  });
  // (A worker whose primary dies exits: node:cluster does that when the IPC channel closes.)
  // ^C reaches every process of the terminal's group: the primary stops the workers in order.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => void stop());

  const feed = await openFeed(config);
  const board = StatsBoard.open(statsName(config));
  const row = board.row(rowIndex);
  row.set('clients', 0); // (a worker started in a dead one's place: its clients are gone)
  row.set('stalled', 0);
  const cpu = trackProcess(row);
  const clients = new Set<Client>();
  const events = new TickEvents();
  const bell = new Bell(await feed.subscribe({ from: 'latest', onLag: 'skip' }));

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET') return plain(res, 405, 'GET only\n');
    if (url.pathname === '/ticks') return void serveTicks(url, res);
    if (url.pathname === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      return void res.end(`${JSON.stringify({ backend: config.backend, worker: process.pid, ...board.read() }, null, 2)}\n`);
    }
    if (url.pathname === '/') return plain(res, 200, 'GET /ticks[?symbols=A,B]  Server-Sent Events: tick, missed\nGET /stats                counters of the ingest and of every worker\n');
    plain(res, 404, 'not found\n');
  });

  async function serveTicks(url: URL, res: http.ServerResponse): Promise<void> {
    const symbols = url.searchParams.get('symbols')?.split(',').filter(Boolean);
    let sub: AsyncSubscriber<Buffer>;
    try {
      // Subscribed before the first byte goes out: a client that has seen
      // the hello event gets every tick published after it.
      sub = await feed.subscribe({ from: 'latest', onLag: 'skip' });
    } catch (err) {
      return plain(res, 503, `cannot subscribe: ${(err as Error).message}\n`);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    const client = new Client(res, sub, symbols?.length ? new Set(symbols) : undefined);
    clients.add(client);
    row.add('connections', 1);
    row.add('clients', 1);
    res.on('close', () => {
      clients.delete(client);
      row.add('clients', -1);
      client.close();
      bell.poke(); // its pump, if waiting, sees it is closed
    });
    client.write(`retry: 1000\nevent: hello\ndata: {"worker":${process.pid},"backend":"${config.backend}"}\n\n`);
    try {
      await pump(client, bell, row, events);
    } catch (err) {
      if (!client.closed) {
        console.error(`realtime-feed worker ${process.pid}: a client's feed failed: ${(err as Error).message}`);
        res.destroy();
      }
    }
  }

  const keepAlive = setInterval(() => {
    const idleSince = Date.now() - KEEP_ALIVE_MS;
    for (const c of clients) if (!c.stalled && c.lastWrite < idleSince) c.write(': keep-alive\n\n');
  }, KEEP_ALIVE_MS);
  keepAlive.unref();

  let stopping = false;
  stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(keepAlive);
    server.close();
    for (const c of clients) c.end();
    server.closeAllConnections();
    bell.close();
    await feed.close();
    cpu.stop();
    row.set('clients', 0);
    row.set('stalled', 0);
    board.close();
    process.exit(0);
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
}

/** What the primary sends a worker to stop it. */
export const STOP = { stop: true } as const;
const isStop = (m: unknown): boolean => typeof m === 'object' && m !== null && (m as { stop?: unknown }).stop === true;

function plain(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
}

/** One SSE client: its response, its subscription, what it asked for. */
class Client {
  closed = false;
  stalled = false;
  lastWrite = Date.now();
  /** Missed ticks already reported to it. */
  reported = 0;

  constructor(
    readonly res: http.ServerResponse,
    readonly sub: AsyncSubscriber<Buffer>,
    readonly symbols: Set<string> | undefined,
  ) {}

  /** Writes `text`; false when the socket is full (wait for drained()). */
  write(text: string): boolean {
    this.lastWrite = Date.now();
    return this.res.write(text);
  }

  /** Resolves when the socket takes writes again, or the client is gone. */
  drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  wants(tick: Buffer): boolean {
    return this.symbols === undefined || this.symbols.has(symbolOf(tick) as string);
  }

  /** Ends the response (the worker stops). */
  end(): void {
    this.res.end();
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.sub.close(); // a receive() waiting rejects: the pump ends
  }
}

/**
 * Moves ticks from the client's subscription to its socket until it goes:
 * takes what is there (up to BATCH), writes it in one piece, waits for
 * 'drain' when the socket is full, and for the bell when there was
 * nothing. A subscription that was lapped (its `missed` went up) is
 * reported with a missed event before the first tick after the gap.
 */
async function pump(client: Client, bell: Bell, row: Row, events: TickEvents): Promise<void> {
  const { sub } = client;
  while (!client.closed) {
    const rung = bell.rung;
    let tick = await sub.tryReceive();
    if (tick === undefined) {
      await bell.after(rung);
      continue;
    }
    let text = '';
    let delivered = 0;
    for (let read = 1; ; read++) {
      const missed = sub.missed;
      if (missed !== client.reported) {
        text += missedEvent(missed - client.reported, missed);
        row.add('missed', missed - client.reported);
        client.reported = missed;
      }
      if (client.wants(tick)) {
        text += events.of(tick);
        delivered++;
      }
      if (read === BATCH || (tick = await sub.tryReceive()) === undefined) break;
    }
    if (text === '' || client.closed) continue;
    row.add('deliveries', delivered);
    if (!client.write(text)) {
      // The socket is full: stop reading from the subscription (the Topic
      // keeps the ticks, up to a lap) until it drains or the client goes.
      client.stalled = true;
      row.add('stalled', 1);
      await client.drained();
      client.stalled = false;
      row.add('stalled', -1);
    }
  }
}

/**
 * Rings once for every batch of ticks published: the one wait of the
 * worker parked on the Topic, through a subscription of its own (which
 * reads and drops the ticks). `after(rung)` resolves once it has rung past
 * `rung` (read before the pump looked at its subscription, so a tick
 * published in between is never slept through), or at poke() and close().
 */
class Bell {
  rung = 0;
  #wake: { promise: Promise<void>; resolve: () => void } | undefined;
  #closed = false;

  constructor(readonly sub: AsyncSubscriber<Buffer>) {
    void this.#ring();
  }

  after(rung: number): Promise<void> | void {
    if (this.rung !== rung || this.#closed) return;
    if (this.#wake === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#wake = { promise, resolve };
    }
    return this.#wake.promise;
  }

  /** Wakes every pump waiting (each looks again). */
  poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.resolve();
  }

  close(): void {
    this.#closed = true;
    void this.sub.close();
    this.poke();
  }

  async #ring(): Promise<void> {
    try {
      while (!this.#closed) {
        await this.sub.receive();
        while ((await this.sub.tryReceive()) !== undefined);
        this.rung++;
        this.poke();
      }
    } catch (err) {
      if (!this.#closed) {
        console.error(`realtime-feed worker ${process.pid}: the bell's subscription failed: ${(err as Error).message}`);
        process.exit(1);
      }
    }
  }
}

/** The event text of a tick, made once for all the clients that read the same tick one after another. */
class TickEvents {
  #bytes: Buffer | undefined;
  #text = '';

  of(bytes: Buffer): string {
    if (this.#bytes !== undefined && bytes.equals(this.#bytes)) return this.#text;
    const tick = decodeTick(bytes);
    this.#bytes = bytes;
    this.#text = tick === undefined ? '' : tickEvent(tick); // (the ingest publishes only ticks)
    return this.#text;
  }
}
