// `shmkit bench [--quick]`: the package's own benchmarks (bench/sync.mjs,
// channel.mjs, dict.mjs), one after the other, with their output as is.
// They import `shmkit` by name, which resolves to this package from inside
// it (self-reference through package.json "exports").
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './errors.js';

/** The package root: dist/src/cli/ is three levels down. */
const ROOT = join(__dirname, '..', '..', '..');
const BENCHES = ['sync.mjs', 'channel.mjs', 'dict.mjs'];

function runOne(script: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit', cwd: ROOT });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

export async function bench(options: { quick?: boolean }): Promise<number> {
  const args = options.quick ? ['--quick'] : [];
  let first = 0;
  for (const name of BENCHES) {
    const script = join(ROOT, 'bench', name);
    if (!existsSync(script)) throw new CliError('ENOENT', `${script} is missing: this copy of shmkit does not ship its benchmarks`);
    process.stderr.write(`shmkit: running bench/${name}${options.quick ? ' --quick' : ''}\n`);
    const code = await runOne(script, args);
    if (code !== 0 && first === 0) first = code;
  }
  return first;
}
