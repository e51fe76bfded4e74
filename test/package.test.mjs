// The published package, as a user gets it: `npm pack` the repository (as
// built by `npm test`), install the tarball into a fresh directory with
// install scripts disabled (no compiler runs), then require AND import
// `shmkit` there and use a Segment and a Mutex. The addon must be the shipped
// prebuild (no build/ directory in the installed package). Then, with the
// prebuilds removed (a platform without one, installed with --ignore-scripts),
// loading must fail with ERR_SHMKIT_NO_ADDON saying what to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniqueName } from './fixtures/names.mjs';
import { run } from './fixtures/proc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PREBUILDS = join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`);
const STEP_MS = 30000;

/** `npm ...args` in `cwd`; throws with npm's output unless it exits 0. */
async function npm(cwd, args) {
  const r = await run('npm', args, { cwd, timeoutMs: STEP_MS });
  if (r.code !== 0) throw new Error(`npm ${args.join(' ')} exited ${r.code ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `node -e script ...args` (ESM with `module`) in `cwd`: { code, stdout, stderr }. */
function node(cwd, script, args = [], { module = false } = {}) {
  const flags = module ? ['--input-type=module'] : [];
  return run(process.execPath, [...flags, '-e', script, ...args], { cwd, timeoutMs: STEP_MS });
}

// Uses a named Segment and a named Mutex through the installed package and
// prints which addon file it loaded. The same body runs under require and import.
const USE = `
  const [segName, mutexName] = process.argv.slice(1);
  const seg = Segment.create(segName, { size: 4096 });
  seg.bytes[0] = 42;
  const again = Segment.open(segName);
  if (again.bytes[0] !== 42) throw new Error('segment does not share memory');
  again.close();
  seg.close();
  Segment.unlink(segName);
  const mutex = Mutex.create(mutexName);
  mutex.lockSync();
  mutex.unlock();
  mutex.close();
  Mutex.unlink(mutexName);
  console.log(addon);
`;
const CJS = `
  const { Segment, Mutex } = require('shmkit');
  const addon = require('node-gyp-build').resolve(require('path').dirname(require.resolve('shmkit/package.json')));
  ${USE}`;
const ESM = `
  import { Segment, Mutex } from 'shmkit';
  import { createRequire } from 'node:module';
  import { dirname } from 'node:path';
  const require = createRequire(process.cwd() + '/');
  const addon = require('node-gyp-build').resolve(dirname(require.resolve('shmkit/package.json')));
  ${USE}`;

test('the packed tarball installs with --ignore-scripts and runs on the shipped prebuild', { timeout: 60000 }, async (t) => {
  assert.ok(
    existsSync(PREBUILDS) && readdirSync(PREBUILDS).some((f) => f.endsWith('.node')),
    `no prebuild in ${PREBUILDS}: run \`npm run build\` first`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-package-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // The build is already done (npm test builds first): skip prepare/prepack.
  const packed = JSON.parse(await npm(ROOT, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]));
  const files = packed[0].files.map((f) => f.path);
  const tarball = join(dir, packed[0].filename);
  assert.ok(files.some((f) => f.startsWith('prebuilds/') && f.endsWith('.node')), 'the tarball ships a prebuild');
  assert.deepEqual(files.filter((f) => /^(test|bench|build|src|examples|scripts)\/|\.map$|tsbuildinfo/.test(f)), [],
    'no tests, benchmarks, sources, build intermediates or source maps in the tarball');

  writeFileSync(join(dir, 'package.json'), '{ "name": "app", "private": true }\n');
  // The only runtime dependencies (node-gyp-build, node-addon-api) come from
  // npm's cache when they are there; the registry otherwise.
  await npm(dir, ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', tarball]);
  const installed = join(dir, 'node_modules', 'shmkit');
  assert.equal(existsSync(join(installed, 'build')), false, 'nothing was compiled');
  assert.ok(existsSync(join(installed, 'dist', 'src', 'index.d.ts')), 'the typings ship');

  for (const [how, script, module] of [['require', CJS, false], ['import', ESM, true]]) {
    const r = await node(dir, script, [uniqueName('pkg-seg'), uniqueName('pkg-mutex')], { module });
    assert.equal(r.code, 0, `${how}('shmkit') failed:\n${r.stderr}`);
    const addon = r.stdout.trim();
    assert.ok(addon.startsWith(join(installed, 'prebuilds') + '/'), `${how} loaded the shipped prebuild, not ${addon}`);
  }

  // A platform without a prebuild, installed with --ignore-scripts.
  rmSync(join(installed, 'prebuilds'), { recursive: true });
  const r = await node(dir, `
    try { require('shmkit'); console.log('loaded'); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`);
  assert.equal(r.code, 0, r.stderr);
  const error = JSON.parse(r.stdout.trim());
  assert.equal(error.name, 'ShmkitError');
  assert.equal(error.code, 'ERR_SHMKIT_NO_ADDON');
  assert.match(error.message, /npm rebuild shmkit/);
  assert.match(error.message, /node-gyp rebuild/);
  assert.match(error.message, /python3, make/);
  assert.doesNotMatch(error.message, /Cannot find module/);
});
