// Runs last (npm test runs files one at a time, in name order): nothing this
// run's tests created may remain in /dev/shm or System V shared memory.
// Only this run's objects count (names.mjs): another `npm test` running on
// the same machine at the same time has its own names, keys and processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { RUN_ID, RUN_PREFIX, RUN_KEY_BASE, RUN_KEY_COUNT, RUN_TRACKED, runProcesses } from './fixtures/names.mjs';

/** Rows of /proc/sysvipc/shm as { key, shmid, cpid, nattch, ctime } (key unsigned). */
function sysvSegments() {
  const [head, ...rows] = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n');
  const columns = head.trim().split(/\s+/);
  const at = (name) => {
    const i = columns.indexOf(name);
    assert.ok(i >= 0, `/proc/sysvipc/shm has no ${name} column: ${head}`);
    return i;
  };
  const [key, shmid, cpid, nattch, ctime] = ['key', 'shmid', 'cpid', 'nattch', 'ctime'].map(at);
  return rows.map((r) => {
    const f = r.trim().split(/\s+/).map(Number);
    return { key: f[key] >>> 0, shmid: f[shmid], cpid: f[cpid], nattch: f[nattch], ctime: f[ctime] };
  });
}

test(`no POSIX segment of this run (${RUN_ID}) is left in /dev/shm`, () => {
  const left = readdirSync('/dev/shm').filter((n) => n.startsWith(RUN_PREFIX));
  assert.deepEqual(left, []);
});

test(`no System V segment with a key of this run is left (ipcs -m)`, () => {
  const left = sysvSegments().filter((s) => s.key >= RUN_KEY_BASE && s.key < RUN_KEY_BASE + RUN_KEY_COUNT);
  assert.deepEqual(left, []);
});

test('no private System V segment made by a process of this run is left', (t) => {
  if (!RUN_TRACKED) {
    t.skip('run through scripts/run-tests.js (npm test) to know which processes are this run');
    return;
  }
  const now = Math.ceil(Date.now() / 1000);
  const procs = runProcesses();
  t.diagnostic(`${procs.length} processes recorded in run ${RUN_ID}`);
  const ours = (s) => procs.some((p) => p.pid === s.cpid && s.ctime >= p.start && s.ctime <= (p.end ?? now));
  const left = sysvSegments().filter((s) => s.key === 0 && ours(s));
  assert.deepEqual(left, []);
});
