// The examples are part of the documentation: they must run as shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { runNode } from './fixtures/proc.mjs';

const dist = new URL('../dist/examples/', import.meta.url).pathname;

test('examples/fork-share: the child sees the greeting and the parent sees the reply', async () => {
  const out = await runNode(`${dist}fork-share.js`, [], { timeoutMs: 20000 });
  assert.match(out, /child {2}\(pid \d+\) read: {2}"Hello, shared memory!"/);
  assert.match(out, /parent \(pid \d+\) read: {2}"Modified by child process!"/);
  assert.deepEqual(readdirSync('/dev/shm').filter((n) => n.startsWith('shmkit-fork-share-')), []);
});

test('examples/sysv: runs the whole System V life cycle', async (t) => {
  if (!existsSync(`${dist}sysv.js`)) return t.skip('examples/sysv.ts not built');
  const out = await runNode(`${dist}sysv.js`, [], { timeoutMs: 20000 });
  assert.ok(out.length > 0);
});
