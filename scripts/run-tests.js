// `npm test` after the build: runs every test/*.test.mjs through node --test,
// one file at a time, as one run with its own id, so that two runs on one
// machine (two clones, two CI jobs) never take each other's names, keys or
// leftovers for their own (see test/fixtures/names.mjs).
//
//   node scripts/run-tests.js [node --test options] [test files]
//
// Without test files it runs all of them in name order (zz-no-leaks last).
// The exit code is node --test's; a signal that stops this script is passed
// on to node --test, and if node --test dies of a signal, so does this script.
// Processes of the run still alive at the end are killed and fail the run.
'use strict';
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('-'));
if (files.length === 0) {
  const dir = path.join(root, 'test');
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.test.mjs')).sort()) files.push(path.join('test', f));
}
const options = args.filter((a) => a.startsWith('-'));

const run = randomBytes(4).toString('hex');
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), `shmkit-test-run-${run}-`));
const removeRunDir = () => fs.rmSync(runDir, { recursive: true, force: true });

const child = spawn(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-timeout=180000', ...options, ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, SHMKIT_TEST_RUN: run, SHMKIT_TEST_RUN_DIR: runDir } },
);

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const forward = (signal) => child.kill(signal);
for (const s of SIGNALS) process.on(s, forward);

child.on('error', (err) => {
  removeRunDir();
  console.error(`run-tests: could not start node --test: ${err.message}`);
  process.exit(1);
});
/**
 * Processes of this run still alive after node --test ended (children of a
 * test file that node --test killed at its timeout, or that a test forgot to
 * reap): found by the run id in their environment, killed, and listed.
 */
function killStrays() {
  const mark = `\0SHMKIT_TEST_RUN=${run}\0`;
  const strays = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)) {
    if (pid === process.pid) continue;
    try {
      if (!`\0${fs.readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(mark)) continue;
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
      process.kill(pid, 'SIGKILL');
      strays.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return strays;
}

child.on('exit', (code, signal) => {
  removeRunDir();
  const strays = killStrays();
  if (strays.length) {
    console.error(`run-tests: ${strays.length} process(es) of this run outlived node --test and were killed:\n  ${strays.join('\n  ')}`);
    if (code === 0) code = 1;
  }
  if (signal) {
    for (const s of SIGNALS) process.off(s, forward);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code ?? 1);
});
