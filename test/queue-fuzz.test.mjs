// The Queue under corruption (issue 11): while two processes use a queue, the
// test writes garbage into it, at random offsets or into a named field (a
// cursor, a counter, a waiter count, a slot's claim words or lock word, a
// stamp, a LEN). Every call in both processes must return, or throw an error
// with a code, within its bound; no process may crash or spin. Seeded and
// reproducible: SHMKIT_FUZZ_SEED=<seed printed> node --test test/queue-fuzz.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Queue, Segment } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { unlinkQuietly } from './fixtures/helpers.mjs';
import { rng as prng } from './fixtures/prng.mjs';

const PEER = fileURLToPath(new URL('./fixtures/queue-fuzz-peer.mjs', import.meta.url));
const uniqueName = trackedNames();
const TRIALS = 100; // of each sort: random and targeted
const TRIAL_MS = 120; // each peer's calls after the corruption starts
const HANG_MS = 10000; // a trial not done by then is a hang
const SLOW_MS = 3000; // a call (bounded by 20 ms, or not waiting) that took this long spun

// docs/LAYOUT.md, Queue (kind 7, version 3), capacity 4096 (64 cells).
const CAPACITY = 4096;
const META = 640 + 2 * 16 * 128;
const metaEntry = (cell) => META + 8 * ((cell % 8) * 8 + Math.floor(cell / 8)); // L = cells / 8 = 8
const FIELDS = [
  ['CAPACITY', () => 64], ['FLAGS', () => 68], ['MAX_MSG', () => 72],
  ['RESERVE', () => 128], ['SENT', () => 192], ['CLAIM', () => 256], ['ORPHANS', () => 260], ['HEAD', () => 264],
  ['RECEIVED', () => 320], ['DATA_SEQ', () => 384], ['DATA_WAITERS', () => 388], ['SPACE_SEQ', () => 392], ['SPACE_WAITERS', () => 396],
  ['AT', (r) => 448 + 8 * Math.floor(r() * 16)], ['CELLS', (r) => 452 + 8 * Math.floor(r() * 16)],
  ['producer slot word', (r) => 640 + 128 * Math.floor(r() * 16) + 64], ['consumer slot word', (r) => 2688 + 128 * Math.floor(r() * 16) + 64],
  ['STAMP', (r) => metaEntry(Math.floor(r() * 64))], ['LEN', (r) => metaEntry(Math.floor(r() * 64)) + 4],
];

function valueFor(r, old) {
  const pick = Math.floor(r() * 10);
  switch (pick) {
    case 0: return 0;
    case 1: return -1;
    case 2: return 0x7fffffff;
    case 3: return -0x80000000;
    case 4: return (old + 64) | 0;
    case 5: return (old - 64) | 0;
    case 6: return (old + CAPACITY) | 0;
    case 7: return (old - CAPACITY) | 0;
    case 8: return (old + 1) | 0;
    default: return (r() * 2 ** 32) | 0;
  }
}

class Peer {
  constructor() {
    this.child = spawn(process.execPath, [PEER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.lines = [];
    this.waiter = null;
    this.stderr = '';
    this.exit = null;
    this.child.stderr.on('data', (d) => { this.stderr += d; });
    createInterface({ input: this.child.stdout }).on('line', (l) => {
      this.lines.push(l);
      this.waiter?.();
    });
    this.child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      this.waiter?.();
    });
  }
  // The next line matching `re`, or null after `ms` or at exit.
  async next(re, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.lines.findIndex((l) => re.test(l));
      if (i >= 0) return this.lines.splice(0, i + 1).pop();
      if (this.exit !== null || Date.now() >= deadline) return null;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => { clearTimeout(t); resolve(); };
      });
      this.waiter = null;
    }
  }
  send(line) {
    this.child.stdin.write(line + '\n');
  }
  kill() {
    if (this.exit === null) this.child.kill('SIGKILL');
  }
}

test(`a queue corrupted while two processes use it (${TRIALS} random and ${TRIALS} targeted writes): every call returns or throws a coded error in time; no crash, no hang`, { timeout: 600000 }, async (t) => {
  const seed = Number(process.env.SHMKIT_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (SHMKIT_FUZZ_SEED=${seed} reproduces this run)`);
  const r = prng(seed);
  let peers = [new Peer(), new Peer()];
  const problems = [];
  const codes = {};
  let calls = 0;
  try {
    for (let trial = 0; trial < 2 * TRIALS; trial++) {
      const targeted = trial >= TRIALS;
      const name = uniqueName(`qfuzz-${trial}`);
      const q = Queue.create(name, { capacity: CAPACITY });
      q.close();
      const seg = Segment.open(name);
      const view = new DataView(seg.buffer);
      let what;
      try {
        for (const [k, p] of peers.entries()) p.send(`trial ${name} ${seed + trial * 2 + k} ${TRIAL_MS}`);
        for (const p of peers) await p.next(/^started$/, HANG_MS);
        // The corruption, while both work.
        const field = targeted ? FIELDS[Math.floor(r() * FIELDS.length)] : null;
        const off = targeted ? field[1](r) : 4 * Math.floor(r() * (seg.size / 4));
        const old = view.getInt32(off, true);
        const value = valueFor(r, old);
        view.setInt32(off, value, true);
        what = `trial ${trial}: ${targeted ? field[0] : 'random'} at ${off}: ${old} -> ${value}`;
        for (const [k, p] of peers.entries()) {
          const line = await p.next(/^done /, HANG_MS);
          if (line === null) {
            problems.push(`${what}: peer ${k} ${p.exit ? `died (${p.exit.code ?? p.exit.signal}): ${p.stderr.trim().split('\n').slice(-2).join(' | ')}` : `hung for ${HANG_MS} ms`}`);
            p.kill();
            peers[k] = new Peer();
            continue;
          }
          const report = JSON.parse(line.slice(5));
          calls += report.calls;
          for (const [c, n] of Object.entries(report.codes)) codes[c] = (codes[c] ?? 0) + n;
          if (report.uncoded.length > 0) problems.push(`${what}: peer ${k}: errors without a code: ${report.uncoded.join('; ')}`);
          if (report.slowest > SLOW_MS) problems.push(`${what}: peer ${k}: ${report.slowestOp} took ${report.slowest} ms`);
        }
      } finally {
        seg.close();
        unlinkQuietly(name);
      }
    }
  } finally {
    for (const p of peers) {
      p.child.stdin.end();
      p.kill();
    }
  }
  t.diagnostic(`${calls} calls; error codes seen: ${JSON.stringify(codes)}`);
  assert.deepEqual(problems, [], `seed ${seed}: ${problems.length} problems`);
});
