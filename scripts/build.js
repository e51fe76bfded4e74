// `npm run build`: compiles the addon (when its sources changed) and the TypeScript.
// With --if-needed (used by `npm test`) it skips whatever is already up to date;
// with --addon (`npm run build:addon`) it rebuilds the addon even when it is fresh.
//
// The addon is built by prebuildify: an N-API build, stripped, tagged with the
// libc, written to prebuilds/<platform>-<arch>/shmkit.<libc>.node. That file is
// what the package ships (package.json "files") and what node-gyp-build loads,
// here and in an installed package, so the tests run the binary users get.
// A build/Release/shmkit.node (`npx node-gyp rebuild` by hand, or the install
// script on a fresh clone) takes precedence in node-gyp-build; prebuildify's
// `node-gyp rebuild` moves it into prebuilds/, so the two never disagree after
// a build.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const ifNeeded = process.argv.includes('--if-needed');
const forceAddon = process.argv.includes('--addon');

function newest(dir, exts) {
  let t = 0;
  if (!fs.existsSync(dir)) return t;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, exts));
    else if (exts.some((x) => e.name.endsWith(x))) t = Math.max(t, fs.statSync(p).mtimeMs);
  }
  return t;
}
function mtime(p) {
  return fs.existsSync(p) ? fs.statSync(p).mtimeMs : 0;
}
function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
}

const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const nativeSrc = Math.max(newest(path.join(root, 'native'), ['.cc', '.h']), mtime(path.join(root, 'binding.gyp')));
if (forceAddon || newest(prebuilds, ['.node']) < nativeSrc) {
  // One prebuild per platform-arch: drop older ones (another libc tag, an old name).
  fs.rmSync(prebuilds, { recursive: true, force: true });
  run(process.execPath, [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--tag-libc']);
}
const entry = path.join(root, 'dist', 'src', 'index.mjs');
const tsSrc = Math.max(newest(path.join(root, 'src'), ['.ts']), newest(path.join(root, 'examples'), ['.ts']), mtime(path.join(root, 'tsconfig.json')));
if (!ifNeeded || mtime(entry) < tsSrc) {
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']);
  require('./esm-entry.js');
  // The `shmkit` command (package.json "bin"): runnable from the clone too
  // (npm makes it executable when it installs the package).
  fs.chmodSync(path.join(root, 'dist', 'src', 'cli', 'main.js'), 0o755);
}
