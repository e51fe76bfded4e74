// The command on another "host" (issue 12): a process group in its own IPC
// and mount namespace with a private tmpfs on /dev/shm, as a container
// without --ipc=host. There, `ls` shows who uses what, `gc --dry-run` lists
// exactly the object whose user died, `gc` removes exactly it and keeps the
// live one, and `doctor` reports the separate namespace; this host's
// /dev/shm never sees any of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run } from './fixtures/proc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const HOST = fileURLToPath(new URL('./fixtures/cli-ns-host.mjs', import.meta.url));

test('on another host (own IPC and mount namespace, private /dev/shm): ls, gc --dry-run, gc and doctor see that host only', async (t) => {
  const probe = await run('unshare', ['--ipc', '--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /dev/shm'], { timeoutMs: 10000 })
    .catch((e) => ({ code: -1, stderr: e.message }));
  if (probe.code !== 0) {
    t.skip(`unshare --ipc --mount with a tmpfs mount is not allowed here: ${probe.stderr.trim()}`);
    return;
  }
  const script = 'mount -t tmpfs tmpfs /dev/shm && exec "$0" "$1" "$2"';
  const r = await run('unshare', ['--ipc', '--mount', '--propagation', 'private', '--fork', '--kill-child', 'sh', '-c', script, process.execPath, HOST, MAIN],
    { cwd: ROOT, timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.deepEqual(out.before, ['ns-dead-mutex', 'ns-live-queue'], 'the private /dev/shm holds only what the test made there');
  const row = (doc, name) => doc.objects.find((o) => o.name === name);
  assert.deepEqual(row(out.ls, '/ns-dead-mutex').users, [], 'nobody uses the dead holder\'s Mutex');
  assert.deepEqual(row(out.ls, '/ns-live-queue').users.map((u) => u.pid), [out.pid], 'the live process uses the Queue');
  assert.equal(row(out.ls, '/ns-live-queue').kind, 'Queue');
  assert.equal(out.dry.dryRun, true);
  const would = out.dry.objects.filter((o) => o.action === 'remove').map((o) => o.name);
  assert.deepEqual(would, ['/ns-dead-mutex'], JSON.stringify(out.dry.objects));
  assert.deepEqual(out.gc.objects.filter((o) => o.action === 'removed').map((o) => o.name), ['/ns-dead-mutex']);
  assert.deepEqual(out.gc.objects.filter((o) => o.action === 'keep').map((o) => [o.name, o.reason]), [['/ns-live-queue', 'in-use']]);
  assert.deepEqual(out.after, ['ns-live-queue'], 'gc removed exactly the leftover');
  assert.equal(out.doctor.ipcNamespace.separate, true);
  assert.equal(existsSync('/dev/shm/ns-dead-mutex') || existsSync('/dev/shm/ns-live-queue'), false, 'this host never saw them');
});
