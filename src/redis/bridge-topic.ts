// One Topic carried both ways: the local Topic's messages go out to a Redis
// topic, framed with this bridge's origin and a number (bridge-envelope.ts);
// what other bridges (or anyone) publish there comes in and is published
// into the local Topic.
//
// Nothing loops: a message the bridge published into the local Topic comes
// back to its own local subscriber, which it recognises by sequence number
// (`topic.lastSeq` after publishing, `subscriber.lastSeq` after reading) and
// does not send out again; on Redis it skips frames of its own origin.
// Nothing is lost silently: a local lap, a Redis trim, a numbering gap are
// counted as lag and reported; a frame seen twice is dropped and counted.
import type { AsyncSubscriber, AsyncTopic, Subscriber, Topic } from '../index.js';
import { Framer, unframe } from './bridge-envelope.js';
import { isAbort, Pump, type LinkContext } from './bridge-link.js';

/** Counters of one bridged Topic. */
export interface BridgeTopicStats {
  /** Messages sent from the local Topic to Redis. */
  sent: number;
  /** Messages from Redis published into the local Topic. */
  received: number;
  /** This bridge's own messages seen on Redis and skipped. */
  ownSkipped: number;
  /** Messages seen twice on Redis (a publish retried after its reply was lost) and dropped. */
  duplicates: number;
  /** Local messages lost before the bridge read them (the local ring lapped it, e.g. while Redis was away). */
  lagLocal: number;
  /** Redis messages lost before the bridge read them (trimmed: the subscriber's `missed`). */
  lagRemote: number;
  /** Messages of other bridges never seen here and not trimmed by Redis (gaps in their numbering: lost on the way, or by Redis). */
  gaps: number;
  /** Messages the bridge held and could not carry: too long for the local ring, or still failing to reach Redis at close. */
  dropped: number;
}

/** A publish in flight to Redis. */
interface InFlight {
  readonly frame: Buffer;
  /** When it was sent (Date.now()). */
  readonly at: number;
  /** SENT, or the error. */
  readonly result: Promise<unknown>;
}

/** What a publish in flight resolves with when Redis took it. */
const SENT = Symbol('sent');

/** How long one remote receive waits before the loop looks around (closing), in ms. */
const POLL_MS = 1000;
/**
 * Round trips a remote receive may make after its wait, each bounded by
 * commandTimeout on its own: RedisTopic's reads the reply of its blocked
 * XREAD, then checks for a lost history (GET, at worst a script) and reads
 * again. The bridge's bound on the whole receive leaves room for them, so
 * that a slow server is not called down while the receive is within its
 * own bounds (a stalled one still is, by the bound of the call that hangs).
 */
const RECEIVE_ROUND_TRIPS = 3;

export class TopicLink {
  readonly name: string;
  readonly stats: BridgeTopicStats = { sent: 0, received: 0, ownSkipped: 0, duplicates: 0, lagLocal: 0, lagRemote: 0, gaps: 0, dropped: 0 };
  readonly #local: Topic<Buffer>;
  readonly #remote: AsyncTopic<Buffer>;
  readonly #framer: Framer;
  readonly #window: number;
  readonly #out: Pump;
  readonly #in: Pump;
  readonly #localSub: Subscriber<Buffer>;
  #remoteSub: AsyncSubscriber<Buffer> | undefined;
  /** Sequence numbers of the messages the in-pump published locally, oldest first, from #mineHead on. */
  #mine: number[] = [];
  #mineHead = 0;
  /** The last number seen of each other origin (origin + instance). */
  readonly #lastOf = new Map<string, number>();
  #number = 0;
  /**
   * A publish succeeded since the link started or last failed: only then
   * are several sent at once. While Redis may be away, a window of
   * publishes could fail in part, a later one landing before an earlier one
   * is retried (its number then looks old to receivers and counts as a
   * duplicate); one at a time until Redis answers keeps the order. (The
   * NOSCRIPT-then-EVAL fallback of a restarted server is safe for
   * overlapping calls: LuaScript.run copies each call's arguments.)
   */
  #warm = false;
  /** Publishes on their way to Redis, oldest first. */
  #inflight: InFlight[] = [];
  #remoteMissed = 0;
  /**
   * Messages Redis trimmed (counted in lagRemote) not yet matched to a gap
   * in some origin's numbering: a gap they explain is not counted again.
   */
  #trimmed = 0;
  /** A frame of ours that reached Redis and has not come back yet (see #resubscribe). */
  #echo: { number: number; at: number } | undefined;
  /** The remote receive in progress, kept when the bound on it expired before it ended (see #inLoop). */
  #receiving: Pending<Buffer> | undefined;
  /** When the remote subscription was made (Date.now()). */
  #subscribedAt = 0;
  /** Idle this long with #echo pending: the subscription is stale. */
  readonly #staleMs: number;
  #localMissed = 0;

  constructor(ctx: LinkContext, name: string, local: Topic<Buffer>, remote: AsyncTopic<Buffer>, framer: Framer, window: number) {
    this.name = name;
    this.#local = local;
    this.#remote = remote;
    this.#framer = framer;
    this.#window = window;
    this.#out = new Pump(ctx, `topic ${name}`, 'out');
    this.#staleMs = 2 * POLL_MS + ctx.commandTimeout;
    this.#in = new Pump(ctx, `topic ${name}`, 'in');
    // Before anything is published by the in-pump: every message it
    // publishes comes after this subscriber's starting point.
    this.#localSub = local.subscribe({ onLag: 'skip' });
  }

  /** Subscribes on Redis once (a failure is retried by run()). */
  async subscribeRemote(): Promise<boolean> {
    try {
      this.#remoteSub = await this.#in.remote(this.#remote.subscribe({ onLag: 'skip' }), 'subscribe');
      this.#receiving = undefined; // one of the old subscriber's ends with it
      this.#remoteMissed = 0; // a new subscriber counts from 0
      this.#echo = undefined;
      this.#subscribedAt = Date.now();
      this.#in.up();
      return true;
    } catch (err) {
      await this.#in.down(err);
      return false;
    }
  }

  /** Reports that the link stopped (after its handles are closed). */
  closed(): void {
    this.#out.emit('closed', 'closed');
  }

  /** Both directions, until the bridge closes. */
  async run(): Promise<void> {
    await Promise.all([this.#outLoop(), this.#inLoop()]);
  }

  // ---- out: local Topic → Redis ------------------------------------------------------

  async #outLoop(): Promise<void> {
    const pump = this.#out;
    const sub = this.#localSub;
    const closing = pump.ctx.closing;
    pump.emit('started', `from the local Topic to Redis`);
    while (!pump.closing) {
      let m: Buffer | undefined;
      try {
        m = sub.tryReceive();
        if (m === undefined) {
          if (this.#inflight.length > 0) {
            await this.#settleAll(); // nothing new: finish what is on its way first
            continue;
          }
          m = await sub.receive({ signal: closing });
        }
      } catch (err) {
        if (pump.closing || isAbort(err, closing)) break;
        await pump.localError(err);
        continue;
      }
      const own = this.#isOwn(sub.lastSeq as number);
      this.#countLocalLag(sub);
      if (own) continue;
      await this.#publish(this.#framer.frame(this.#number = (this.#number + 1) >>> 0, m));
    }
    // Closing: what is on its way gets its chance (each try bounded), then is dropped and reported.
    await this.#settleAll(true);
  }

  // Publishes to Redis keeping up to `window` publishes in flight (a sliding
  // window: ioredis keeps their order on its connection), one at a time
  // until the first succeeds after a start or a failure (see #warm).
  async #publish(frame: Buffer): Promise<void> {
    if (!this.#warm) {
      this.#inflight.push({ frame, at: Date.now(), result: this.#send(frame) });
      await this.#settleAll();
      return;
    }
    this.#inflight.push({ frame, at: Date.now(), result: this.#send(frame) });
    if (this.#inflight.length < this.#window) return;
    const head = this.#inflight[0] as InFlight;
    if ((await head.result) === SENT) {
      this.#inflight.shift();
      this.stats.sent++;
      this.#expectEcho(head.frame, head.at);
      this.#out.up();
      return;
    }
    await this.#settleAll();
  }

  /** One publish, bounded; resolves with SENT or the error (never rejects). */
  #send(frame: Buffer): Promise<unknown> {
    return this.#out.remote(this.#remote.publish(frame), 'publish').then(() => SENT, (err: unknown) => err ?? new Error('publish failed'));
  }

  /**
   * Waits for every publish in flight; those that failed are published
   * again one at a time, in order, until they go (or once each, when
   * closing: then what still fails is dropped and reported). A retried
   * frame whose first try did reach Redis arrives twice; receivers drop
   * the second (its number is not new).
   */
  async #settleAll(last = false): Promise<void> {
    const pump = this.#out;
    const remote = this.#remote;
    const batch = this.#inflight;
    this.#inflight = [];
    const results = await Promise.all(batch.map((e) => e.result));
    const failed: Buffer[] = [];
    let firstError: unknown;
    for (let i = 0; i < batch.length; i++) {
      if (results[i] === SENT) {
        this.stats.sent++;
        this.#expectEcho((batch[i] as InFlight).frame, (batch[i] as InFlight).at);
      } else {
        failed.push((batch[i] as InFlight).frame);
        firstError ??= results[i];
      }
    }
    if (failed.length === 0) {
      if (batch.length > 0) {
        this.#warm = true;
        pump.up();
      }
      return;
    }
    this.#warm = false;
    if (!last) await pump.down(firstError);
    while (failed.length > 0) {
      if (pump.closing) last = true;
      try {
        const at = Date.now();
        await pump.remote(remote.publish(failed[0] as Buffer), 'publish');
        this.stats.sent++;
        this.#expectEcho(failed[0] as Buffer, at);
        failed.shift();
        pump.up();
      } catch (err) {
        if (last) break;
        await pump.down(err);
      }
    }
    if (failed.length > 0) {
      this.stats.dropped += failed.length;
      pump.emit('dropped', `${failed.length} message(s) held at close could not be published to Redis`, { count: failed.length });
    }
  }

  // A frame of ours reached Redis: the remote subscription must bring it
  // back, if it was sent after the subscription started (one at a time).
  #expectEcho(frame: Buffer, sentAt: number): void {
    if (this.#echo === undefined && this.#remoteSub !== undefined && sentAt > this.#subscribedAt) {
      this.#echo = { number: this.#framer.numberOf(frame), at: Date.now() };
    }
  }

  /** Whether the message the local subscriber returned last (`seq`) is one the in-pump published. */
  #isOwn(seq: number): boolean {
    const mine = this.#mine;
    let head = this.#mineHead;
    // Ours that the subscriber lapped over: gone, and not lag (never to be sent).
    while (head < mine.length && (((mine[head] as number) - seq) | 0) < 0) {
      head++;
      this.#localMissed++;
    }
    const own = head < mine.length && mine[head] === seq;
    if (own) head++;
    if (head === mine.length) {
      mine.length = 0;
      head = 0;
    } else if (head > 1024) {
      mine.splice(0, head);
      head = 0;
    }
    this.#mineHead = head;
    return own;
  }

  // `missed` grows when the local ring lapped the bridge; own messages lapped are not lag.
  #countLocalLag(sub: Subscriber<Buffer>): void {
    const missed = sub.missed;
    const lost = missed - this.#localMissed;
    if (lost <= 0) return;
    this.#localMissed = missed;
    this.stats.lagLocal += lost;
    this.#out.emit('lag', `the local Topic lapped the bridge: ${lost} message(s) lost before they reached Redis`, { count: lost });
  }

  // ---- in: Redis → local Topic -------------------------------------------------------

  async #inLoop(): Promise<void> {
    const pump = this.#in;
    const closing = pump.ctx.closing;
    let started = false;
    while (!pump.closing) {
      const sub = this.#remoteSub;
      if (sub === undefined) {
        await this.subscribeRemote();
        continue;
      }
      if (!started) {
        started = true;
        pump.emit('started', 'from Redis to the local Topic');
      }
      let m: Buffer;
      // A receive our bound gave up on is still running (a slow server, a
      // stalled event loop): wait for that one again rather than start a
      // second on the same subscriber, whose message nobody would take.
      let receiving: Pending<Buffer> | undefined;
      try {
        receiving = this.#receiving ??= pending(sub.receive({ timeout: POLL_MS, signal: closing }));
        m = await pump.remote(receiving.result, 'receive', POLL_MS + RECEIVE_ROUND_TRIPS * pump.ctx.commandTimeout);
        this.#receiving = undefined;
        pump.up();
      } catch (err) {
        if (receiving === undefined || receiving.settled) this.#receiving = undefined;
        // Closing aborts the wait (bounded() wraps the abort as a remote error).
        if (pump.closing || isAbort(err, closing)) break;
        const code = (err as { code?: string }).code;
        if (code === 'ERR_SHMKIT_LAGGED') {
          this.#countRemoteLag((err as { missed: number }).missed);
          continue;
        }
        if (code === 'ETIMEDOUT' && isIdle(err)) {
          pump.up(); // Redis answered: nothing new
          if (this.#echo !== undefined && Date.now() - this.#echo.at > this.#staleMs) await this.#resubscribe();
          continue;
        }
        // Redis may be going away: publishes go one at a time until one succeeds again.
        this.#warm = false;
        await pump.down(err);
        continue;
      }
      const missed = sub.missed;
      if (missed > this.#remoteMissed) {
        const lost = missed - this.#remoteMissed;
        this.#remoteMissed = missed;
        this.#countRemoteLag(lost);
      }
      await this.#deliver(m);
    }
    if (this.#remoteSub !== undefined) {
      await Promise.resolve(this.#remoteSub.close()).catch(() => {});
    }
  }

  // Idle, and a message of ours that reached Redis a while ago never came
  // back: the subscription looks past the end of the topic (a server that
  // lost its data restarts the numbering). Subscribe again from the latest;
  // what other bridges published meanwhile shows as gaps in their numbering.
  // RedisTopic's subscriber notices a lost history by itself (the counter
  // below its place) and goes on with the new one, so with the default
  // remote this rarely fires: it is for remotes whose subscriptions do not.
  async #resubscribe(): Promise<void> {
    const old = this.#remoteSub;
    this.#remoteSub = undefined;
    this.#echo = undefined;
    this.#trimmed = 0;
    this.#in.ctx.counters.errors++;
    this.#in.emit('resubscribed', `this bridge's own messages no longer come back from Redis (did the server lose the topic?): subscribing again from the latest message; other bridges' numbering gaps will count what was lost`);
    if (old !== undefined) await this.#in.remote(old.close(), 'close').catch(() => {});
    await this.subscribeRemote();
  }

  #countRemoteLag(lost: number): void {
    this.stats.lagRemote += lost;
    this.#trimmed += lost;
    this.#in.emit('lag', `Redis trimmed ${lost} message(s) before the bridge read them`, { count: lost });
  }

  async #deliver(m: Buffer): Promise<void> {
    const f = unframe(m);
    if (f === undefined) return this.#publishLocal(m); // published on Redis by something else than a bridge
    const own = f.source === this.#framer.source;
    if (own && this.#echo !== undefined && ((f.number - this.#echo.number) | 0) >= 0) this.#echo = undefined;
    const last = this.#lastOf.get(f.source);
    if (last !== undefined) {
      const step = (f.number - last) | 0;
      if (step <= 0) {
        if (own) this.stats.ownSkipped++;
        else {
          this.stats.duplicates++;
          this.#in.emit('duplicate', `dropped message ${f.number} of ${f.origin}, seen before`, { count: 1 });
        }
        return;
      }
      if (step > 1) {
        // Numbers skipped: messages Redis trimmed (already counted in
        // lagRemote: not twice), or lost on the way (never reached Redis,
        // or Redis lost them).
        const explained = Math.min(step - 1, this.#trimmed);
        this.#trimmed -= explained;
        const lost = step - 1 - explained;
        if (lost > 0 && !own) {
          this.stats.gaps += lost;
          this.#in.emit('lag', `${lost} message(s) of ${f.origin} never reached Redis or were lost there (numbers ${last + 1}..${f.number - 1})`, { count: lost });
        }
      }
    }
    this.#lastOf.set(f.source, f.number);
    if (own) {
      this.stats.ownSkipped++;
      return;
    }
    return this.#publishLocal(f.payload);
  }

  async #publishLocal(payload: Buffer): Promise<void> {
    const pump = this.#in;
    for (;;) {
      try {
        this.#local.publish(payload);
        this.#mine.push(this.#local.lastSeq as number);
        this.stats.received++;
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_OUT_OF_RANGE' || pump.closing) {
          // Too long for this host's ring (it never will fit), or closing with the lock held by a stopped peer.
          this.stats.dropped++;
          pump.emit('dropped', `a message from Redis could not be published locally: ${(err as Error).message}`, { count: 1 });
          return;
        }
        await pump.localError(err); // another publisher stopped holding the lock: wait, then again
      }
    }
  }
}

/** A call in progress and whether it has ended yet. */
interface Pending<T> {
  readonly result: Promise<T>;
  settled: boolean;
}

function pending<T>(work: Promise<T>): Pending<T> {
  const p: Pending<T> = { result: work, settled: false };
  // Attached before anyone awaits `work`: `settled` is set by the time they see its outcome.
  work.then(() => { p.settled = true; }, () => { p.settled = true; });
  return p;
}

/** True for a receive that waited its `timeout` with nothing published (not a stalled Redis: bounded() says "did not answer"). */
function isIdle(err: unknown): boolean {
  return !/did not answer/.test((err as Error).message ?? '');
}
