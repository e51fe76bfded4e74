// The refresh loop of `top` and `inspect --watch`: a look every `interval`
// seconds until `iterations` looks, SIGINT/SIGTERM, or (on a terminal, whose
// keys are read raw) `q` or Ctrl-C.
import { usageError } from './errors.js';

export interface RefreshOptions {
  /** Seconds between looks (>= 0.05). */
  interval: number;
  /** Looks at most (Infinity: until stopped). */
  iterations: number;
  /** Read keys from a terminal stdin: `q` and Ctrl-C stop. */
  keys: boolean;
  /** Wait an interval before the first look too (top compares with a reading taken at the start). */
  waitFirst: boolean;
}

/** Checks an --interval value (seconds). */
export function checkInterval(interval: number | undefined): number {
  const s = interval ?? 1;
  if (!Number.isFinite(s) || s < 0.05) throw usageError(`--interval takes seconds >= 0.05, not ${interval}`);
  return s;
}

/** Calls `look(i)` for i = 0, 1, ... on the schedule `o` gives; resolves once stopped. */
export async function refresh(o: RefreshOptions, look: (i: number) => void): Promise<void> {
  let stop = (): void => {};
  const stopped = new Promise<boolean>((resolve) => { stop = () => resolve(false); });
  const onSignal = (): void => stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const keys = o.keys && Boolean(process.stdin.isTTY);
  const onKey = (b: Buffer): void => {
    if (b.includes(0x71) || b.includes(0x03)) stop(); // 'q', Ctrl-C (raw mode: no SIGINT)
  };
  if (keys) {
    process.stdin.setRawMode(true);
    process.stdin.on('data', onKey);
    process.stdin.resume();
  }
  try {
    for (let i = 0; i < o.iterations; i++) {
      if (i > 0 || o.waitFirst) {
        let timer: NodeJS.Timeout | undefined;
        const tick = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), o.interval * 1000); });
        const go = await Promise.race([tick, stopped]);
        clearTimeout(timer);
        if (!go) break;
      }
      look(i);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (keys) {
      process.stdin.off('data', onKey);
      process.stdin.setRawMode(false);
      process.stdin.pause();
    }
  }
}
