// Queue's typings: test/types/queue.types.ts compiles with `tsc --noEmit`
// (strict), and every `@ts-expect-error` in it is an error. A typing that
// regresses (Queue<T> lost, a factory overload gone, send taking anything)
// fails this test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

function tsc(file) {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'ES2022', '--lib', 'ES2022,ESNext.Disposable',
      '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', '--skipLibCheck', file],
    { cwd: ROOT, timeout: 120000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, out: stdout + stderr }));
  });
}

test('Queue<T> typings: bytes, json (and a caller type), v8; send takes SendableOf<T>; receive returns T', { timeout: 150000 }, async () => {
  const r = await tsc('test/types/queue.types.ts');
  assert.equal(r.code, 0, r.out);
});
