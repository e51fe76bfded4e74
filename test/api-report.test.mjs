// The public surface cannot grow (or shrink) by accident: API Extractor reads
// the published typings (dist/src/index.d.ts, internals stripped) and compares
// them with the checked-in report etc/shmkit.api.md. A difference fails here
// with the diff; when the change is intended, `npm run api:update` rewrites
// the report and the diff is reviewed with the change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './fixtures/proc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPORT = 'etc/shmkit.api.md';
const CURRENT = 'dist/api-report/shmkit.api.md'; // api-extractor.json reportTempFolder
// <package>/lib-commonjs/index.js -> <package>/bin/api-extractor (bin/ is not in its exports).
const BIN = join(dirname(createRequire(import.meta.url).resolve('@microsoft/api-extractor')), '..', 'bin', 'api-extractor');

test('the typings match the checked-in API report (etc/shmkit.api.md)', { timeout: 60000 }, async () => {
  assert.ok(existsSync(`${ROOT}dist/src/index.d.ts`), 'no dist/src/index.d.ts: run `npm run build` first');
  rmSync(`${ROOT}${CURRENT}`, { force: true }); // a diff shown below is this run's
  // Check mode (no --local): exits non-zero when the report would change.
  const r = await run(process.execPath, [BIN, 'run', '--config', 'api-extractor.json'], { cwd: ROOT, timeoutMs: 50000 });
  if (r.code === 0) return;
  let diff = '';
  if (existsSync(`${ROOT}${CURRENT}`)) {
    const d = await run('git', ['diff', '--no-index', '--no-color', '--', REPORT, CURRENT], { cwd: ROOT, timeoutMs: 10000 });
    diff = d.stdout;
  }
  // Warnings and errors (e.g. a typing that names a type stripped as internal) fail the check too.
  const output = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  const said = output.split('\n').filter((l) => /warning|error/i.test(l) && !/changed the API signature/.test(l));
  assert.fail(
    `the public API differs from ${REPORT}, or API Extractor failed (it exited ${r.code ?? r.signal}).\n` +
      'If the change is intended, run `npm run api:update` and commit the report; otherwise make the new names ' +
      'internal (/** @internal */) or stop exporting them.\n' +
      (said.length > 0 ? `api-extractor said:\n${said.join('\n')}\n` : '') +
      (diff ? `--- diff (${REPORT} -> this build) ---\n${diff}` : `--- api-extractor's output ---\n${output}`),
  );
});
