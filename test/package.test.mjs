// The published package, as a user gets it: `npm pack` the repository (as
// built by `npm test`), install the tarball into a fresh directory with
// install scripts disabled (no compiler runs), then require AND import
// `shmkit` there and use a Segment and a Mutex, and compile against its
// typings. The addon must be the shipped prebuild (no build/ directory in
// the installed package). Then, with the
// prebuilds removed (a platform without one, installed with --ignore-scripts),
// loading must fail with ERR_SHMKIT_NO_ADDON saying what to run.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { uniqueName } from './fixtures/names.mjs';
import { run } from './fixtures/proc.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PREBUILDS = join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`);
const STEP_MS = 30000;
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

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

// One packed and installed copy for the tests below (they run in order).
let dir;
let installed;
before(async () => {
  assert.ok(
    existsSync(PREBUILDS) && readdirSync(PREBUILDS).some((f) => f.endsWith('.node')),
    `no prebuild in ${PREBUILDS}: run \`npm run build\` first`,
  );
  dir = mkdtempSync(join(tmpdir(), 'shmkit-package-'));
}, { timeout: 10000 });
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the tarball ships the prebuild, typings and docs, and no tests, sources, build/ or source maps', { timeout: 60000 }, async () => {
  // The build is already done (npm test builds first): skip prepare/prepack.
  const packed = JSON.parse(await npm(ROOT, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir]));
  const files = packed[0].files.map((f) => f.path);
  assert.ok(files.some((f) => f.startsWith('prebuilds/') && f.endsWith('.node')), 'the tarball ships a prebuild');
  assert.ok(files.includes('dist/src/index.d.ts') && files.includes('dist/src/index.mjs'), 'the typings and the ESM entry ship');
  assert.deepEqual(files.filter((f) => /^(test|build|src|examples|scripts|etc)\/|^bench\/ab-|\.map$|tsbuildinfo/.test(f)), [],
    'no tests, A/B tools, sources, build intermediates or source maps in the tarball');

  writeFileSync(join(dir, 'package.json'), '{ "name": "app", "private": true }\n');
  // The only runtime dependencies (node-gyp-build, node-addon-api) come from
  // npm's cache when they are there; the registry otherwise.
  await npm(dir, ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', join(dir, packed[0].filename)]);
  installed = join(dir, 'node_modules', 'shmkit');
  assert.equal(existsSync(join(installed, 'build')), false, 'nothing was compiled');
});

test('installed with --ignore-scripts, require and import of shmkit run on the shipped prebuild', { timeout: 60000 }, async () => {
  assert.ok(installed, 'the install above failed');
  for (const [how, script, module] of [['require', CJS, false], ['import', ESM, true]]) {
    const r = await node(dir, script, [uniqueName('pkg-seg'), uniqueName('pkg-mutex')], { module });
    assert.equal(r.code, 0, `${how}('shmkit') failed:\n${r.stderr}`);
    const addon = r.stdout.trim();
    assert.ok(addon.startsWith(join(installed, 'prebuilds') + '/'), `${how} loaded the shipped prebuild, not ${addon}`);
  }
});

test('the installed typings resolve for TypeScript users (node16, import and require)', { timeout: 60000 }, async () => {
  assert.ok(installed, 'the install above failed');
  // Resolution through "exports" for import and require; the typings
  // themselves are checked by api-report.test.mjs (skipLibCheck here: speed).
  writeFileSync(join(dir, 'use.mts'), "import { Segment, Mutex, ShmkitError, type ShmkitErrorCode } from 'shmkit';\n" +
    "const seg: Segment = Segment.create('/x', { size: 4096 }); const m: Mutex = Mutex.create('/y');\n" +
    "const code: ShmkitErrorCode = 'ERR_SHMKIT_NO_ADDON'; export { seg, m, code, ShmkitError };\n");
  writeFileSync(join(dir, 'use.cts'), "import shmkit = require('shmkit');\nexport const seg: shmkit.Segment = shmkit.Segment.anonymous({ size: 4096 });\n");
  const tsc = await run(process.execPath, [
    TSC, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'node16', '--moduleResolution', 'node16',
    '--lib', 'ES2022,ESNext.Disposable', '--types', 'node', '--skipLibCheck', '--typeRoots', join(ROOT, 'node_modules', '@types'),
    join(dir, 'use.mts'), join(dir, 'use.cts'),
  ], { cwd: dir, timeoutMs: 55000 });
  assert.equal(tsc.code, 0, `the installed typings do not compile:\n${tsc.stdout}${tsc.stderr}`);
});

test('without a prebuild (another platform, --ignore-scripts) loading throws ERR_SHMKIT_NO_ADDON saying what to run', { timeout: 60000 }, async () => {
  assert.ok(installed, 'the install above failed');
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
