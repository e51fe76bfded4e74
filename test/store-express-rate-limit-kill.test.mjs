// ShmStore under worker death: processes calling store.increment() in a
// tight loop on one client key are SIGKILLed at random moments and replaced.
// Each records its acknowledged increments (calls that returned) and whether
// a call was in flight. Afterwards the counter holds exactly the acknowledged
// increments plus k, 0 <= k <= the kills that hit a call in flight: a killed
// call counted once or not at all, nothing acknowledged was lost, and a
// worker started after the kills runs to its end (nobody hangs on the lock
// a victim held).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Dict, SharedArray } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { startNode, runNode, killedOk, reap } from './fixtures/proc.mjs';
import { sleep, unlinkQuietly, waitUntil } from './fixtures/helpers.mjs';

const PEER = fileURLToPath(new URL('./fixtures/erl-incr-peer.mjs', import.meta.url));
const name = trackedNames();

test('ShmStore: SIGKILLed incrementing workers lose nothing, count nothing twice, and leave nobody hanging', async (t) => {
  const MEMORY = 1 << 20;
  const SLOTS = 64;
  const LANES = 3;
  const RUN_MS = 4000;
  const KEY = 'client-1';
  const dictName = name('erl-kill');
  const arrayName = name('erl-kill-acks');
  const dict = Dict.create(dictName, { memory: MEMORY });
  const acks = SharedArray.create(arrayName, { type: Int32Array, length: 2 * SLOTS });
  const cells = acks.array;
  const live = new Set();
  let slots = 0;
  let kills = 0;
  let inFlightKills = 0;

  // One lane: start a worker, let it count for a random while, SIGKILL it, again.
  async function lane(deadline) {
    while (Date.now() < deadline && slots < SLOTS - 1) {
      const slot = slots++;
      const peer = startNode(PEER, [dictName, MEMORY, arrayName, slot, KEY], { timeoutMs: 30_000 });
      live.add(peer);
      await waitUntil(() => Atomics.load(cells, 2 * slot) > 0 || peer.exited, 15_000, `worker ${slot} to count`);
      await sleep(10 + Math.random() * 150);
      peer.child.kill('SIGKILL');
      await killedOk(peer, `worker ${slot}`);
      live.delete(peer);
      kills += 1;
      if (Atomics.load(cells, 2 * slot + 1) === 1) inFlightKills += 1;
    }
  }

  try {
    const deadline = Date.now() + RUN_MS;
    await Promise.all(Array.from({ length: LANES }, () => lane(deadline)));
    // After the kills a new worker must get through 2000 calls (a victim's lock is repaired, not waited for).
    const last = slots++;
    await runNode(PEER, [dictName, MEMORY, arrayName, last, KEY, 2000], { timeoutMs: 20_000 });
    assert.equal(Atomics.load(cells, 2 * last), 2000);

    let acked = 0;
    for (let s = 0; s < slots; s++) acked += Atomics.load(cells, 2 * s);
    const total = dict.get(`erl:${KEY}`);
    const k = total - acked;
    t.diagnostic(`${kills} kills, ${inFlightKills} in flight; stored ${total} = acknowledged ${acked} + ${k}`);
    assert.ok(kills >= 2 * LANES, `only ${kills} kills`);
    assert.ok(k >= 0, `lost ${-k} acknowledged increments (stored ${total}, acknowledged ${acked})`);
    assert.ok(k <= inFlightKills, `stored ${total} = acknowledged ${acked} + ${k}, but only ${inFlightKills} of ${kills} kills hit a call in flight`);
    assert.ok(dict.ttl(`erl:${KEY}`) > 0, 'the window has its TTL');
    assert.deepEqual(dict.check(), []);
  } finally {
    await reap(...live);
    dict.close();
    acks.close();
    unlinkQuietly(dictName, arrayName);
  }
});
