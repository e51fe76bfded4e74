// The Topic under corruption (issue 11): while two processes publish,
// subscribe and read, the test writes garbage into the topic, at random
// offsets or into a named field (TAIL, NEXT_SEQ, OLDEST_POS, OLDEST_SEQ, the
// waiter words, the publisher lock's word, a record's SEQ/LEN/SIZE). Every
// call must return, or throw an error with a code, within its bound; no
// process may crash or spin, whether it ends naturally, by process.exit(),
// by SIGKILL, or runs the calls in a worker thread it terminates. After each
// trial, repair() must leave a sound topic that delivers a new message.
// Seeded and reproducible:
// SHMKIT_FUZZ_SEED=<seed printed> node --test test/topic-fuzz.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Segment, Topic } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { fuzz, repairAfterTrial } from './fixtures/fuzz-driver.mjs';
import { unlinkQuietly } from './fixtures/helpers.mjs';

const uniqueName = trackedNames();
const TRIALS = 100; // of each sort: random and targeted

// docs/LAYOUT.md, Topic (kind 8, version 1), capacity 4096.
const CAPACITY = 4096;
const DATA = 640;
const record = (r) => DATA + 8 * Math.floor(r() * (CAPACITY / 8)); // some 8-aligned place: often a record's start
const FIELDS = [
  ['CAPACITY', () => 64], ['MAX_MSG', () => 68],
  ['TAIL', () => 128], ['NEXT_SEQ', () => 132], ['OLDEST_POS', () => 256], ['OLDEST_SEQ', () => 260],
  ['DATA_SEQ', () => 384], ['DATA_WAITERS', () => 388], ['lock word', () => 512 + 64],
  ['record SEQ', (r) => record(r)], ['record LEN', (r) => record(r) + 4], ['record SIZE', (r) => record(r) + 8],
];

test(`a topic corrupted while two processes use it (${TRIALS} random and ${TRIALS} targeted writes): every call returns or throws a coded error in time; no crash, no hang`, { timeout: 600000 }, async (t) => {
  // After each trial: repair() leaves a sound topic whose next message reaches a new subscriber.
  const tally = { repaired: 0, unopenable: 0, locked: 0 };
  const probe = (topic) => {
    const sub = topic.subscribe({ timeout: 200 });
    try {
      topic.publish(Buffer.from('probe'), { timeout: 200 });
      const got = sub.tryReceive();
      return got?.toString() === 'probe' ? [] : [`a message published after the repair was not received (got ${got})`];
    } finally {
      sub.close();
    }
  };
  const { seed, calls, codes, problems, ends } = await fuzz({
    kind: 'topic', name: (trial) => uniqueName(`tfuzz-${trial}`), make: (name) => Topic.create(name, { capacity: CAPACITY }).close(),
    fields: FIELDS, trials: TRIALS, trialMs: 120, capacity: CAPACITY,
    afterTrial: repairAfterTrial((name) => Topic.open(name, { lockTimeout: 200 }), probe, tally),
  });
  t.diagnostic(`seed ${seed} (SHMKIT_FUZZ_SEED=${seed} reproduces this run); ${calls} calls; error codes seen: ${JSON.stringify(codes)}; ` +
    `after the trials: ${JSON.stringify(tally)}; peers ended: ${JSON.stringify(ends)}`);
  assert.deepEqual(problems, [], `seed ${seed}: ${problems.length} problems`);
});

test('a TAIL no walk reaches, over a ring of fillers: tryReceive throws ERR_SHMKIT_CORRUPT instead of spinning', async () => {
  const name = uniqueName('tfuzz-fillers');
  Topic.create(name, { capacity: CAPACITY }).close();
  try {
    // In a child: before the bound, the read looped over the filler for ever.
    const code = `
      import { Segment, Topic } from 'shmkit';
      const topic = Topic.open(${JSON.stringify(name)});
      const sub = topic.subscribe({ from: 'earliest' });
      const seg = Segment.open(${JSON.stringify(name)});
      const v = new DataView(seg.buffer);
      v.setInt32(${DATA} + 4, -1, true); // a filler from data offset 0 to the end
      v.setInt32(256, 0, true);          // OLDEST_POS 0
      v.setInt32(128, 4, true);          // TAIL 4: not a record boundary, never reached
      let out;
      try { out = { got: String(sub.tryReceive()) }; } catch (err) { out = { code: err.code, message: err.message }; }
      console.log(JSON.stringify(out));
      sub.close(); topic.close(); seg.close();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20000, cwd: fileURLToPath(new URL('..', import.meta.url)) });
    assert.equal(r.signal, null, `tryReceive did not return (killed by ${r.signal} after 20 s)`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.code, 'ERR_SHMKIT_CORRUPT', JSON.stringify(out));
    assert.match(out.message, /corrupt TAIL 4/);
  } finally {
    unlinkQuietly(name);
  }
});

test('an OLDEST_POS more than a ring behind TAIL: publish refuses it (ERR_SHMKIT_CORRUPT) instead of dropping laps of records', () => {
  const name = uniqueName('tfuzz-oldest');
  const topic = Topic.create(name, { capacity: CAPACITY, lockTimeout: 1000 });
  const seg = Segment.open(name);
  try {
    for (let i = 0; i < 40; i++) topic.publish(Buffer.alloc(100, i)); // the ring wraps: records all over it
    const v = new DataView(seg.buffer);
    const tail = v.getInt32(128, true);
    v.setInt32(256, (tail - 2 ** 30) | 0, true); // OLDEST_POS a quarter of the position space behind
    assert.throws(() => topic.publish(Buffer.alloc(100)), (err) => {
      assert.equal(err.code, 'ERR_SHMKIT_CORRUPT');
      assert.match(err.message, /corrupt OLDEST_POS/);
      return true;
    });
  } finally {
    seg.close();
    topic.close();
    unlinkQuietly(name);
  }
});
