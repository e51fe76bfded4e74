// Measuring helpers shared by bench:redis's dict and channel sections (not
// a section itself). This VM is shared and noisy (other processes come and
// go by the second), so the sides of a comparison are measured in
// alternating chunks, never one whole run after the other: drift then hits
// them alike.
import { mulberry32, summarize } from '../lib/common.mjs';

/** Timing of one side: every call's latency, the time spent in its chunks and this process's CPU in them. */
export class Side {
  constructor(capacity) {
    this.samples = new Float64Array(capacity);
    this.n = 0;
    this.ns = 0;
    this.ops = 0;
    this.cpuUs = 0;
  }

  /** { rate (ops/s), p50_ns, p99_ns, cpu (µs of client CPU per op) }. */
  result() {
    return { rate: this.ops / (this.ns / 1e9), cpu: this.cpuUs / this.ops, ...summarize(this.samples, this.n) };
  }
}

/** `batches` waves of `size` calls of `fn` issued in one go and awaited together; each call's latency is its wave's. */
export function waves(side, fn, batches, size) {
  const pending = new Array(size);
  const wave = () => {
    for (let i = 0; i < size; i++) pending[i] = fn();
    return Promise.all(pending);
  };
  return batched(side, wave, batches, size);
}

/** `batches` runs of `batch()` (`size` commands: a hand-made pipeline exec'd, or a wave of calls), each awaited; each command's latency is its batch's. */
export async function batched(side, batch, batches, size) {
  const u = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) {
    const s = process.hrtime.bigint();
    await batch();
    const took = Number(process.hrtime.bigint() - s);
    for (let i = 0; i < size; i++) side.samples[side.n++] = took;
  }
  side.ns += Number(process.hrtime.bigint() - t0);
  const d = process.cpuUsage(u);
  side.cpuUs += d.user + d.system;
  side.ops += batches * size;
}

/**
 * Runs `chunks` rounds of every side (each an `async () => void` measuring
 * one chunk), in a fresh random order each round (seeded: every run the
 * same). Not a rotation: a rotation keeps each side right after the same
 * other side, so one side would always pay for the garbage (the GC pauses)
 * of the side before it; the auto-pipelined RedisDict, which makes the
 * most, sat right before `batch: true` in every round.
 */
export async function interleave(sides, chunks) {
  const random = mulberry32(0x5eed);
  const order = sides.map((_, i) => i);
  for (let k = 0; k < chunks; k++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const i of order) await sides[i]();
  }
}
