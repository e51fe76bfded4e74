// Writes the ESM entries (dist/src/index.mjs, dist/src/<entry>/index.mjs) as a thin re-export of the
// CommonJS build, so `import` and `require` share one module instance (one
// set of classes: instanceof works across both).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = path.join(__dirname, '..', 'dist', 'src');
const names = Object.keys(require(path.join(dir, 'index.js'))).filter((n) => n !== '__esModule' && n !== 'default');
const lines = [
  "import cjs from './index.js';",
  `export const { ${names.join(', ')} } = cjs;`,
  'export default cjs;',
  '',
];
fs.writeFileSync(path.join(dir, 'index.mjs'), lines.join('\n'));
fs.writeFileSync(path.join(dir, 'index.d.mts'), "export * from './index.js';\n");

// The other entry points (package.json "exports"), the same way.
for (const entry of ['prometheus', 'redis', 'stores/rate-limiter-flexible', 'stores/keyv', 'stores/express-rate-limit']) {
  const edir = path.join(dir, entry);
  const enames = Object.keys(require(path.join(edir, 'index.js'))).filter((n) => n !== '__esModule' && n !== 'default');
  fs.writeFileSync(path.join(edir, 'index.mjs'), ["import cjs from './index.js';", `export const { ${enames.join(', ')} } = cjs;`, 'export default cjs;', ''].join('\n'));
  fs.writeFileSync(path.join(edir, 'index.d.mts'), "export * from './index.js';\n");
}
