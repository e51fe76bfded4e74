// The `shmkit` command from the packed package, as a user gets it: `npm
// pack` the repository (built by `npm test`'s build step), install the
// tarball into a fresh directory (its dependencies, commander and
// picocolors among them, from npm's cache when there), then `npx shmkit`
// there. A missing "bin", "files" entry or dependency fails here, not for a
// user.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Segment } from 'shmkit';
import { trackedNames } from './fixtures/names.mjs';
import { run } from './fixtures/proc.mjs';
import { unlinkQuietly } from './fixtures/helpers.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STEP_MS = 40000;
const name = trackedNames();
const dir = mkdtempSync(join(tmpdir(), 'shmkit-cli-package-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function npm(cwd, args, cmd = 'npm') {
  const r = await run(cmd, args, { cwd, timeoutMs: STEP_MS, env: { ...process.env, NO_COLOR: '1' } });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('npx shmkit from the packed tarball: --help, ls --json, doctor --json', { timeout: 120000 }, async () => {
  const packed = JSON.parse(await npm(ROOT, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]));
  const files = packed[0].files.map((f) => f.path);
  for (const f of ['dist/src/cli/main.js', 'bench/sync.mjs', 'bench/channel.mjs', 'bench/dict.mjs', 'bench/lib/common.mjs', 'bench/lib/results.mjs', 'bench/lib/chart.mjs', 'bench/c/sync-ref.c', 'bench/c/channel-ref.c']) {
    assert.ok(files.includes(f), `the tarball ships ${f}`);
  }
  assert.ok(files.some((f) => f.startsWith('prebuilds/') && f.endsWith('.node')), 'the tarball ships the prebuild');

  const app = join(dir, 'app');
  mkdirSync(app);
  await npm(app, ['init', '-y']);
  await npm(app, ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed[0].filename)]);
  const bin = join(app, 'node_modules', '.bin', 'shmkit');
  assert.ok(existsSync(bin), 'npm linked the shmkit command');
  assert.ok(statSync(join(app, 'node_modules', 'shmkit', 'dist', 'src', 'cli', 'main.js')).mode & 0o111, 'main.js is executable');

  const help = await npm(app, ['--no-install', 'shmkit', '--help'], 'npx');
  assert.match(help, /Usage: shmkit/);
  assert.match(help, /\bgc\b/);

  const seg = name('pkg-ls');
  Segment.create(seg, { size: 4096 }).close();
  try {
    const ls = JSON.parse(await npm(app, ['--no-install', 'shmkit', 'ls', seg, '--json'], 'npx'));
    assert.deepEqual(ls.objects.map((o) => [o.name, o.kind, o.size]), [[seg, 'raw', 4096]]);
  } finally {
    unlinkQuietly(seg);
  }

  // `shmkit bench` runs the shipped benchmarks, which import `shmkit` by name:
  // from inside the installed package that resolves to itself ("exports").
  const common = join(app, 'node_modules', 'shmkit', 'bench', 'lib', 'common.mjs');
  const loaded = await run(process.execPath, ['--input-type=module', '-e',
    `const m = await import(${JSON.stringify(common)}); const s = await m.loadShmkit(); console.log(typeof s.Queue)`], { cwd: app, timeoutMs: STEP_MS });
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.equal(loaded.stdout.trim(), 'function');

  // The `shmkit/prometheus` entry point loads by itself (import and require); without
  // its optional peer prom-client, registering says what to install.
  const prom = await run(process.execPath, ['--input-type=module', '-e',
    `import { registerShmkitMetrics } from 'shmkit/prometheus';
     import { createRequire } from 'node:module';
     const cjs = createRequire(process.cwd() + '/')('shmkit/prometheus');
     let message = 'registered';
     try { registerShmkitMetrics(); } catch (err) { message = err.message; }
     console.log(typeof registerShmkitMetrics, typeof cjs.registerShmkitMetrics, message);`], { cwd: app, timeoutMs: STEP_MS });
  assert.equal(prom.code, 0, prom.stderr);
  assert.match(prom.stdout.trim(), /^function function shmkit\/prometheus needs prom-client \(an optional peer dependency\): npm install prom-client/);

  const doctor = JSON.parse(await npm(app, ['--no-install', 'shmkit', 'doctor', '--json'], 'npx'));
  assert.equal(doctor.command, 'doctor');
  assert.equal(doctor.addon.origin, 'prebuilt');
  assert.ok(doctor.addon.path.startsWith(join(app, 'node_modules', 'shmkit', 'prebuilds') + '/'), `the installed package's prebuild: ${doctor.addon.path}`);
});
