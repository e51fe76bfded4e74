// `npm run build`: compiles the addon (when missing) and the TypeScript.
// With --if-needed (used by `npm test`) it skips whatever is already up to date.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const ifNeeded = process.argv.includes('--if-needed');

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

const addon = path.join(root, 'build', 'Release', 'shmkit.node');
const nativeSrc = Math.max(newest(path.join(root, 'native'), ['.cc', '.h']), mtime(path.join(root, 'binding.gyp')));
// `npm install` has just run node-gyp; rebuild only when the sources moved on.
if (mtime(addon) < nativeSrc) run(process.execPath, [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild']);
const entry = path.join(root, 'dist', 'src', 'index.mjs');
const tsSrc = Math.max(newest(path.join(root, 'src'), ['.ts']), newest(path.join(root, 'examples'), ['.ts']), mtime(path.join(root, 'tsconfig.json')));
if (!ifNeeded || mtime(entry) < tsSrc) {
  run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json']);
  require('./esm-entry.js');
}
