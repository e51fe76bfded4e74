// The examples are part of the documentation: they must run as shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { runNode } from './fixtures/proc.mjs';

const dist = new URL('../dist/examples/', import.meta.url).pathname;

test('examples/fork-share: the child sees the greeting and the parent sees the reply', async () => {
  const out = await runNode(`${dist}fork-share.js`, [], { timeoutMs: 20000 });
  assert.match(out, /child {2}\(pid \d+\) read: {2}"Hello, shared memory!"/);
  assert.match(out, /parent \(pid \d+\) read: {2}"Modified by child process!"/);
  assert.deepEqual(readdirSync('/dev/shm').filter((n) => n.startsWith('shmkit-fork-share-')), []);
});

test('examples/sysv: runs the whole System V life cycle', async () => {
  const out = await runNode(`${dist}sysv.js`, [], { timeoutMs: 20000 });
  assert.match(out, /child {2}\(pid \d+\) read: {2}"Hello from the parent!"/);
  assert.match(out, /parent \(pid \d+\) read: {2}"Hello back from the child \(pid \d+\)!"/);
  const id = /shmid (\d+) is gone from ipcs -m/.exec(out)?.[1];
  assert.ok(id, 'the example reports the segment gone');
  assert.ok(!readFileSync('/proc/sysvipc/shm', 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[1] === id));
});

test('examples/job-queue: 30 jobs, each done once, by several workers, counted under the Mutex', async () => {
  const out = await runNode(`${dist}job-queue.js`, [], { timeoutMs: 30000 });
  const m = /^30 jobs done by (\d+) workers \(([\d + ]+)\), 270 words counted$/m.exec(out);
  assert.ok(m, out);
  assert.equal(m[2].split(' + ').map(Number).reduce((a, b) => a + b, 0), 30);
  assert.match(out, /^shared counter under the Mutex: 30$/m);
  assert.deepEqual(readdirSync('/dev/shm').filter((n) => n.startsWith('shmkit-job-queue-')), []);
});

test('examples/cluster-rate-limit: two cluster workers share one rate limit through a Dict', async () => {
  const out = await runNode(`${dist}cluster-rate-limit.js`, [], { timeoutMs: 30000 });
  const m = /^30 requests served by 2 workers \((\d+) \+ (\d+)\): 20 allowed, 10 rate-limited/m.exec(out);
  assert.ok(m, out);
  assert.equal(Number(m[1]) + Number(m[2]), 30);
  assert.ok(Number(m[1]) > 0 && Number(m[2]) > 0, 'both workers served requests');
  assert.match(out, /^the client's count in the Dict: 30$/m);
  assert.deepEqual(readdirSync('/dev/shm').filter((n) => n.startsWith('shmkit-cluster-rate-limit-')), []);
});
