// A cheaper bounded() for calls made one at a time.
//
// bounded() (remote.ts) arms a setTimeout per round trip and clears it when
// the reply comes. Node keeps one timer list per duration and drops the list
// when its last timer is cleared, so a caller that awaits each call before
// the next makes Node build the list again and re-arm libuv's timer every
// time: about 2-4 µs of CPU per call on the 2-vCPU VMs we measure on (7 µs
// for the whole timer), against a 30-60 µs round trip. One idle, unref'd
// interval of the same duration keeps the list alive, so bounded()'s
// setTimeout and clearTimeout become a list append and remove. It never
// keeps the process alive and fires a no-op once per duration.

/** Longest delay Node's timers take (ms). */
const MAX_TIMER = 2 ** 31 - 1;

/** Durations (ms) whose timer list is kept. */
const kept = new Set<number>();

function idle(): void {
  // Nothing: the interval exists only to keep its duration's timer list.
}

/** Keeps Node's timer list for `ms` alive (once per duration, for the life of the process). */
export function keepTimerList(ms: number): void {
  // Node's timers take at most 2^31 - 1 ms (longer ones fire after 1 ms): nothing to keep there.
  if (kept.has(ms) || !(ms >= 1 && ms <= MAX_TIMER)) return;
  kept.add(ms);
  setInterval(idle, ms).unref();
}
