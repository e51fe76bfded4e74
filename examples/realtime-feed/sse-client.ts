// A small client of the feed's event stream (plain node:http): parses the
// Server-Sent Events and hands each tick over with the moment its bytes
// arrived, so the caller can measure the latency from the datagram's send.
import http from 'node:http';

export interface TickData {
  symbol: string;
  price: number;
  seq: number;
  /** The sender's process.hrtime.bigint() as a decimal string. */
  sent: string;
}

export interface FeedHandlers {
  /** A tick, and process.hrtime.bigint() when the chunk holding it arrived. */
  tick?(tick: TickData, arrived: bigint): void;
  /** The client was skipped ahead: `missed` ticks now, `total` since it connected. */
  missed?(missed: number, total: number): void;
  /** The stream ended (the server stopped, or the connection broke). */
  end?(error?: Error): void;
}

export interface FeedConnection {
  /** The worker process serving this client (from the hello event). */
  readonly worker: number;
  close(): void;
}

/** Connects to `url` (…/ticks[?symbols=]) and resolves once the server's hello event has arrived. */
export function connectTicks(url: string, on: FeedHandlers, timeoutMs = 10_000): Promise<FeedConnection> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url}: HTTP ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let pending = '';
      let worker = 0;
      const connection: FeedConnection = { get worker() { return worker; }, close: () => req.destroy() };
      res.on('data', (chunk: string) => {
        const arrived = process.hrtime.bigint();
        pending += chunk;
        let at = 0;
        for (let end; (end = pending.indexOf('\n\n', at)) >= 0; at = end + 2) {
          const event = parseEvent(pending.slice(at, end));
          if (event === undefined) continue;
          if (event.type === 'tick') on.tick?.(JSON.parse(event.data) as TickData, arrived);
          else if (event.type === 'missed') {
            const { missed, total } = JSON.parse(event.data) as { missed: number; total: number };
            on.missed?.(missed, total);
          } else if (event.type === 'hello') {
            worker = (JSON.parse(event.data) as { worker: number }).worker;
            clearTimeout(timer);
            resolve(connection);
          }
        }
        pending = pending.slice(at);
      });
      res.on('end', () => {
        if (worker === 0) reject(new Error(`${url}: the stream ended before its hello event`));
        on.end?.();
      });
      res.on('error', (err) => on.end?.(err));
    });
    const timer = setTimeout(() => req.destroy(new Error(`${url}: no hello event within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** One event's type and data (undefined for a comment-only block). Lines found with indexOf: this runs for every tick. */
function parseEvent(block: string): { type: string; data: string } | undefined {
  let type = 'message';
  let data: string | undefined;
  for (let at = 0; at < block.length; ) {
    let end = block.indexOf('\n', at);
    if (end < 0) end = block.length;
    if (block.startsWith('event: ', at)) type = block.slice(at + 7, end);
    else if (block.startsWith('data: ', at)) data = data === undefined ? block.slice(at + 6, end) : `${data}\n${block.slice(at + 6, end)}`;
    at = end + 1;
  }
  return data === undefined ? undefined : { type, data };
}
