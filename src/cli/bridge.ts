// `shmkit bridge --redis URL [--topic NAME]... [--queue-out NAME]...
// [--queue-in NAME]...`: runs startBridge() (shmkit/redis) in this process
// until SIGTERM or SIGINT, logging its events as they come and its counters
// every --stats-interval seconds and at the end. ioredis is loaded here, at
// run time: it is an optional peer dependency, and a missing one is an
// error naming `npm install ioredis`, not a crash at load.
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { startBridge, type Bridge, type BridgeEvent, type BridgeStats } from '../redis/index.js';
import { CliError, EXIT_ERROR, usageError } from './errors.js';
import { JSON_SCHEMA_VERSION } from './output.js';

export interface BridgeCliOptions {
  redis?: string;
  id?: string;
  topic?: string[];
  queueOut?: string[];
  queueIn?: string[];
  capacity?: number;
  remoteTopicCapacity?: number;
  remoteQueueCapacity?: number;
  claimAfter?: number;
  commandTimeout?: number;
  keyPrefix?: string;
  window?: number;
  statsInterval?: number;
  json?: boolean;
}

type RedisConstructor = new (url: string, options: RedisOptions) => RedisClient;

function loadIoredis(): RedisConstructor {
  try {
    const m = require('ioredis') as RedisConstructor & { default?: RedisConstructor };
    return m.default ?? m;
  } catch (err) {
    if ((err as { code?: string }).code === 'MODULE_NOT_FOUND') {
      throw new CliError('ERR_MODULE_NOT_FOUND', 'shmkit bridge needs ioredis (an optional peer dependency of shmkit): npm install ioredis', EXIT_ERROR);
    }
    throw err;
  }
}

/** One line for people: `2026-12-02T04:20:01.123Z <text>`. */
function logLine(text: string): void {
  process.stdout.write(`${new Date().toISOString()} ${text}\n`);
}

function jsonLine(doc: object): void {
  process.stdout.write(`${JSON.stringify({ schema: JSON_SCHEMA_VERSION, command: 'bridge', at: new Date().toISOString(), ...doc })}\n`);
}

function printEvent(e: BridgeEvent, json: boolean): void {
  if (json) {
    jsonLine({ event: { type: e.type, link: e.link, direction: e.direction, count: e.count, message: e.message, error: e.error ? { code: (e.error as { code?: string }).code, message: e.error.message } : undefined } });
  } else {
    logLine(`${e.type} ${e.message}`);
  }
}

function printStats(s: BridgeStats, json: boolean, final: boolean): void {
  if (json) {
    jsonLine({ stats: s, final });
    return;
  }
  logLine(`stats${final ? ' (final)' : ''} bridge ${s.id}: sent ${s.sent}, received ${s.received}, lag ${s.lag}, errors ${s.errors}, reconnects ${s.reconnects}`);
  for (const [name, t] of Object.entries(s.topics)) {
    process.stdout.write(`  topic ${name}: sent ${t.sent}, received ${t.received}, own skipped ${t.ownSkipped}, duplicates ${t.duplicates}, lag local ${t.lagLocal}, lag remote ${t.lagRemote}, gaps ${t.gaps}, dropped ${t.dropped}\n`);
  }
  for (const [name, q] of Object.entries(s.queues)) process.stdout.write(`  queue ${name} ${q.direction}: moved ${q.moved}, release failed ${q.releaseFailed}, retried ${q.retried}\n`);
}

/** Waits for the client's first `ready`, at most `ms` (a Redis that is down now is the bridge's to retry). */
function firstReady(client: RedisClient, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    client.once('ready', done);
  });
}

export async function bridge(o: BridgeCliOptions): Promise<number> {
  if (o.redis === undefined) throw usageError('--redis URL is required (e.g. redis://127.0.0.1:6379)');
  if (!/^rediss?:\/\//.test(o.redis)) throw usageError(`--redis takes a redis:// or rediss:// URL, not '${o.redis}'`);
  const topics = o.topic ?? [];
  const queues = [...(o.queueOut ?? []).map((name) => ({ name, direction: 'out' as const })), ...(o.queueIn ?? []).map((name) => ({ name, direction: 'in' as const }))];
  if (topics.length === 0 && queues.length === 0) throw usageError('nothing to carry: give at least one --topic, --queue-out or --queue-in');
  const json = o.json === true;
  const Redis = loadIoredis();
  const commandTimeout = o.commandTimeout ?? 5000;
  // No offline queue: while Redis is away a call fails at once and the
  // bridge reports and retries it, instead of piling calls up in memory.
  const client = new Redis(o.redis, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(100 * times, 1000),
    connectTimeout: commandTimeout,
  });
  client.on('error', () => {}); // connection errors surface as the bridge's remote-down events
  await firstReady(client, commandTimeout);

  let b: Bridge;
  try {
    b = await startBridge({
      redis: client,
      id: o.id,
      topics: topics.map((name) => ({ name, capacity: o.capacity })),
      queues: queues.map((q) => ({ ...q, capacity: o.capacity })),
      remoteTopicCapacity: o.remoteTopicCapacity,
      remoteQueueCapacity: o.remoteQueueCapacity,
      claimAfter: o.claimAfter,
      commandTimeout,
      keyPrefix: o.keyPrefix,
      window: o.window,
      onEvent: (e) => printEvent(e, json),
    });
  } catch (err) {
    client.disconnect();
    throw err;
  }
  const names = [...topics.map((t) => `topic ${t}`), ...queues.map((q) => `queue ${q.name} ${q.direction}`)].join(', ');
  if (json) jsonLine({ ready: { id: b.id, pid: process.pid, topics, queues } });
  else logLine(`ready bridge ${b.id} (pid ${process.pid}): ${names}`);

  const interval = o.statsInterval ?? 0;
  const ticker = interval > 0 ? setInterval(() => printStats(b.stats(), json, false), interval * 1000) : undefined;
  // SIGTERM or SIGINT: stop taking work, finish or hand back what is held,
  // close every handle, print the final counters, exit 0.
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  if (ticker !== undefined) clearInterval(ticker);
  if (json) jsonLine({ stopping: { signal } });
  else logLine(`stopping on ${signal}`);
  // A second signal while closing: give up on finishing (exit 1).
  const force = (): void => process.exit(EXIT_ERROR);
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  await b.close();
  printStats(b.stats(), json, true);
  await client.quit().catch(() => client.disconnect());
  return 0;
}
