// The classic shared-memory hello world, done with a real POSIX shared memory
// object: the parent writes a greeting, a forked child reads it and replaces
// it, and the parent prints what it finds after the child exits.
//
//   npm run build && node dist/examples/fork-share.js
import { fork } from 'node:child_process';
import { Segment } from 'shmkit';

const SIZE = 4096;

function readText(seg: Segment): string {
  const end = seg.bytes.indexOf(0);
  return Buffer.from(seg.bytes.subarray(0, end < 0 ? seg.size : end)).toString('utf8');
}

function writeText(seg: Segment, text: string): void {
  seg.bytes.fill(0);
  Buffer.from(text, 'utf8').copy(seg.bytes);
}

function child(name: string): void {
  const seg = Segment.open(name);
  console.log(`child  (pid ${process.pid}) read:  "${readText(seg)}"`);
  writeText(seg, 'Modified by child process!');
  seg.close();
}

async function parent(): Promise<void> {
  const name = `/shmkit-fork-share-${process.pid}`;
  const seg = Segment.create(name, { size: SIZE });
  try {
    writeText(seg, 'Hello, shared memory!');
    console.log(`parent (pid ${process.pid}) wrote: "${readText(seg)}" into ${name}`);
    const code = await new Promise<number | null>((resolve, reject) => {
      const worker = fork(__filename, ['child', name], { stdio: 'inherit' });
      const timer = setTimeout(() => worker.kill('SIGKILL'), 10_000);
      worker.on('error', reject);
      worker.on('exit', (c) => (clearTimeout(timer), resolve(c)));
    });
    if (code !== 0) throw new Error(`child exited with ${code}`);
    console.log(`parent (pid ${process.pid}) read:  "${readText(seg)}"`);
  } finally {
    seg.unlink(); // nothing is left in /dev/shm (this handle's mapping stays until close)
    seg.close();
  }
}

if (process.argv[2] === 'child') child(process.argv[3] as string);
else parent().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
