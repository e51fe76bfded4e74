// The Topic typings, checked at compile time: fixtures/topic-types.ts is
// compiled with the project's own tsc (--noEmit, strict) against the
// published declarations (dist/src/*.d.ts, as `import 'shmkit'` resolves
// them). It fails if a type regresses (a message type, an overload on
// `encoding`) or if an internal (the publisher lock, attempt(), the
// Subscriber constructor) becomes reachable again: those lines carry
// `@ts-expect-error`, which is itself an error once the line compiles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { run } from './fixtures/proc.mjs';

const require = createRequire(import.meta.url);
const TSC = require.resolve('typescript/bin/tsc');
const FIXTURE = fileURLToPath(new URL('./fixtures/topic-types.ts', import.meta.url));

test('Topic<T> / Subscriber<T> typings: typed by encoding, caller-chosen types, internals hidden', async () => {
  const r = await run(process.execPath, [
    TSC, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022',
    '--lib', 'es2022,esnext.disposable', '--types', 'node', FIXTURE,
  ], { timeoutMs: 170000 });
  assert.equal(r.code, 0, `tsc reported errors:\n${r.stdout}${r.stderr}`);
});
