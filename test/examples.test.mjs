// The examples are part of the documentation: they must run as shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { startNode } from './fixtures/proc.mjs';

const dist = new URL('../dist/examples/', import.meta.url).pathname;

/**
 * Runs an example to its end (exit code 0) and returns its stdout and pid.
 * The examples name their objects after their own pid, so the checks below
 * look only at this run's names, not at those of an example another test
 * run on the machine is running right now.
 */
async function runExample(file, timeoutMs) {
  const proc = startNode(`${dist}${file}`, [], { timeoutMs, input: null });
  const r = await proc.done;
  assert.equal(r.code, 0, `${file} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return { out: r.stdout, pid: proc.child.pid };
}

/** Entries of /dev/shm that an example with this pid may have made. */
const leftBy = (prefix, pid) => readdirSync('/dev/shm').filter((n) => n === `${prefix}${pid}` || n.startsWith(`${prefix}${pid}-`));

test('examples/fork-share: the child sees the greeting and the parent sees the reply', async () => {
  const { out, pid } = await runExample('fork-share.js', 20000);
  assert.match(out, /child {2}\(pid \d+\) read: {2}"Hello, shared memory!"/);
  assert.match(out, /parent \(pid \d+\) read: {2}"Modified by child process!"/);
  assert.match(out, new RegExp(`into /shmkit-fork-share-${pid}\\b`), 'the example names its segment after its pid');
  assert.deepEqual(leftBy('shmkit-fork-share-', pid), []);
});

test('examples/sysv: runs the whole System V life cycle', async () => {
  const { out } = await runExample('sysv.js', 20000);
  assert.match(out, /child {2}\(pid \d+\) read: {2}"Hello from the parent!"/);
  assert.match(out, /parent \(pid \d+\) read: {2}"Hello back from the child \(pid \d+\)!"/);
  const id = /shmid (\d+) is gone from ipcs -m/.exec(out)?.[1];
  assert.ok(id, 'the example reports the segment gone');
  assert.ok(!readFileSync('/proc/sysvipc/shm', 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[1] === id));
});

test('examples/job-queue: 30 jobs, each done once, by several workers, counted under the Mutex', async () => {
  const { out, pid } = await runExample('job-queue.js', 30000);
  const m = /^30 jobs done by (\d+) workers \(([\d + ]+)\), 270 words counted$/m.exec(out);
  assert.ok(m, out);
  assert.equal(m[2].split(' + ').map(Number).reduce((a, b) => a + b, 0), 30);
  assert.match(out, /^shared counter under the Mutex: 30$/m);
  assert.deepEqual(leftBy('shmkit-job-queue-', pid), []);
});

test('examples/cluster-rate-limit: two cluster workers share one rate limit through a Dict', async () => {
  const { out, pid } = await runExample('cluster-rate-limit.js', 30000);
  const m = /^30 requests served by 2 workers \((\d+) \+ (\d+)\): 20 allowed, 10 rate-limited/m.exec(out);
  assert.ok(m, out);
  assert.equal(Number(m[1]) + Number(m[2]), 30);
  assert.ok(Number(m[1]) > 0 && Number(m[2]) > 0, 'both workers served requests');
  assert.match(out, /^the client's count in the Dict: 30$/m);
  assert.deepEqual(leftBy('shmkit-cluster-rate-limit-', pid), []);
});
