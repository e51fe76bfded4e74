// Runs last (npm test runs files one at a time, in name order): nothing any
// test created may remain in /dev/shm or System V shared memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { TEST_PREFIX, TEST_KEY_BASE } from './fixtures/names.mjs';

test('no POSIX segment of the suite is left in /dev/shm', () => {
  const left = readdirSync('/dev/shm').filter((n) => n.startsWith(TEST_PREFIX));
  assert.deepEqual(left, []);
});

test('no System V segment of the suite is left (ipcs -m)', () => {
  const rows = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n').slice(1);
  const recent = Date.now() / 1000 - 3600;
  const left = rows
    .map((r) => r.trim().split(/\s+/).map(Number))
    // columns: key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime
    .filter(([key, , , , , , nattch, , , , , , , ctime]) =>
      (key >>> 0) >= TEST_KEY_BASE && (key >>> 0) <= TEST_KEY_BASE + 0xffff
        ? true
        : key === 0 && nattch === 0 && ctime >= recent);
  assert.deepEqual(left, []);
});
