// Keyv's own compliance suite (@keyv/test-suite, a vitest suite) against
// KeyvShm: vitest runs test/keyv/compliance.vitest.mjs in a child process;
// this file creates what it uses (two shared-memory Dicts, a redis-server),
// checks vitest's JSON report test by test, and that nothing of it is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Dict } from 'shmkit';
import { TwoLevelDict } from 'shmkit/redis';
import { startRedis } from './fixtures/redis.mjs';
import { RUN_PREFIX, trackedNames } from './fixtures/names.mjs';
import { run } from './fixtures/proc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
const CONFIG = join(ROOT, 'test', 'keyv', 'vitest.config.mjs');
const names = trackedNames();

// Tests of each part of @keyv/test-suite 2.1.2 (counted in its source):
// keyvTestSuite = api 22 + values 13 + namespace 3; keyvIteratorTests 4.
const SUITE = 22 + 13 + 3;
const ITERATOR = 4;
/** Passed tests expected per describe() of compliance.vitest.mjs. */
const EXPECTED = {
  'shm Dict, Keyv serializing': SUITE + ITERATOR,
  'shm Dict, Keyv raw (serialize: undefined)': SUITE,
  RedisDict: SUITE + ITERATOR,
  'TwoLevelDict (near shm Dict, RedisDict remote)': SUITE + ITERATOR,
};

test('@keyv/test-suite passes on KeyvShm over a shm Dict (serialized and raw), a RedisDict and a TwoLevelDict', { timeout: 120_000 }, async (t) => {
  const redis = await startRedis();
  const dictName = names('keyv-suite');
  const nearName = names('keyv-suite-near');
  Dict.create(dictName, { memory: 1 << 20 }).close();
  Dict.create(nearName, { memory: 1 << 20 }).close();
  const tmp = mkdtempSync(join(tmpdir(), 'shmkit-keyv-suite-'));
  const ours = () => readdirSync('/dev/shm').filter((n) => n.startsWith(RUN_PREFIX));
  const before = new Set(ours());
  try {
    const report = join(tmp, 'report.json');
    const r = await run(process.execPath, [VITEST, 'run', '--config', CONFIG, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], {
      cwd: ROOT,
      timeoutMs: 90_000,
      env: { ...process.env, KEYV_SUITE_DICT: dictName, KEYV_SUITE_NEAR: nearName, KEYV_SUITE_REDIS: redis.url, KEYV_SUITE_TMP: tmp, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    assert.equal(r.code, 0, `vitest exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    const json = JSON.parse(readFileSync(report, 'utf8'));
    const results = json.testResults.flatMap((file) => file.assertionResults);
    const failed = results.filter((a) => a.status !== 'passed').map((a) => `${a.fullName}: ${a.status} ${a.failureMessages?.join(' ') ?? ''}`);
    assert.deepEqual(failed, [], 'every test of the suite passes (none skipped)');
    const passed = {};
    for (const a of results) passed[a.ancestorTitles[0]] = (passed[a.ancestorTitles[0]] ?? 0) + 1;
    assert.deepEqual(passed, EXPECTED, 'passed tests per store');
    const total = Object.values(EXPECTED).reduce((a, b) => a + b, 0);
    assert.equal(json.numPassedTests, total);
    assert.equal(json.numTotalTests, total);
    t.diagnostic(`${json.numPassedTests} of ${json.numTotalTests} passed`);
  } finally {
    Dict.unlink(dictName);
    TwoLevelDict.unlink(nearName); // the near Dict and its `.two-level` array
    rmSync(tmp, { recursive: true, force: true });
    await redis.stop();
  }
  assert.equal(existsSync(`/dev/shm${nearName}.two-level`), false, 'the near Dict\'s .two-level array is gone');
  assert.deepEqual(ours().filter((n) => !before.has(n)), [], 'the vitest run left no shm names of this run behind');
});
