// System V shared memory from start to finish, the way a C program would do it:
// ftok turns a file into a key, shmget creates the segment, shmat attaches it,
// a forked child opens the same key and answers, shmctl(IPC_STAT) shows the
// kernel's view, and IPC_RMID + shmdt clean up so `ipcs -m` shows nothing left.
// The segment is removed even when something fails (or on Ctrl-C).
//
//   npm run build && node dist/examples/sysv.js
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SysVSegment, type SysVAttachment, type SysVSegmentStat } from 'shmkit';

const SIZE = 4096;
const PROJECT_ID = 0x45; // ftok's project id (1..255) both sides agree on; 0x45 is "E"
const CHILD_TIMEOUT_MS = 10_000;

const hex = (key: number): string => `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
const when = (seconds: number): string => (seconds === 0 ? 'never' : new Date(seconds * 1000).toISOString());

function readText(att: SysVAttachment): string {
  const end = att.bytes.indexOf(0);
  return Buffer.from(att.bytes.subarray(0, end < 0 ? att.bytes.length : end)).toString('utf8');
}

function writeText(att: SysVAttachment, text: string): void {
  att.bytes.fill(0);
  Buffer.from(text, 'utf8').copy(att.bytes);
}

function printStat(title: string, st: SysVSegmentStat): void {
  console.log(`${title}`);
  const rows: [string, string][] = [
    ['key', hex(st.key)],
    ['shmid', String(st.id)],
    ['size', `${st.size} bytes`],
    ['mode', st.mode.toString(8).padStart(3, '0')],
    ['owner', `uid ${st.uid}, gid ${st.gid}`],
    ['creator', `uid ${st.cuid}, gid ${st.cgid}, pid ${st.cpid}`],
    ['last shmat/shmdt', `pid ${st.lpid}`],
    ['attachments', String(st.attachments)],
    ['last attach', when(st.atime)],
    ['last detach', when(st.dtime)],
    ['last change', when(st.ctime)],
    ['removed', st.removed ? 'yes (destroyed at the last detach)' : 'no'],
  ];
  for (const [name, value] of rows) console.log(`    ${name.padEnd(17)} ${value}`);
}

/** The child: opens the parent's segment by key, reads the greeting, answers. */
function child(key: number): void {
  const seg = SysVSegment.get(key); // no `create`: open the existing segment
  const att = seg.attach();
  try {
    console.log(`child  (pid ${process.pid}) shmget(${hex(key)}) -> shmid ${seg.id}; attachments now: ${seg.stat().attachments}`);
    console.log(`child  (pid ${process.pid}) read:  "${readText(att)}"`);
    writeText(att, `Hello back from the child (pid ${process.pid})!`);
  } finally {
    att.detach(); // shmdt
  }
}

let worker: ChildProcess | undefined; // the running child, killed by cleanup

/** Forks this file as the child and waits (bounded) for it to succeed. */
function runChild(key: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = fork(__filename, ['child', String(key)], { stdio: 'inherit' });
    worker = proc;
    const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    proc.on('error', (err) => (clearTimeout(timer), reject(err)));
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`child exited with ${signal ?? `code ${code}`}`));
    });
  });
}

async function parent(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shmkit-sysv-example-'));
  let seg: SysVSegment | undefined;
  let att: SysVAttachment | undefined;

  // Runs on success, on error and on Ctrl-C: nothing may be left behind.
  const cleanup = (): void => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    if (seg) {
      try {
        seg.remove(); // IPC_RMID (a no-op error if it is gone already)
      } catch (err) {
        if ((err as { code?: string }).code !== 'EINVAL') console.error('cleanup: remove failed:', err);
      }
      seg = undefined;
    }
    att?.detach(); // idempotent
    att = undefined;
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    console.error(`\n${sig}: cleaning up`);
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // 1. ftok: the same file and project id give every process the same key.
    const file = join(dir, 'key-file');
    writeFileSync(file, '');
    const key = SysVSegment.ftok(file, PROJECT_ID);
    console.log(`ftok("${file}", ${PROJECT_ID}) = ${hex(key)}`);

    // 2. shmget(IPC_CREAT | IPC_EXCL): a new segment, or EEXIST.
    try {
      seg = SysVSegment.get(key, { size: SIZE, create: true, exclusive: true, mode: 0o600 });
    } catch (err) {
      if ((err as { code?: string }).code === 'EEXIST') {
        throw new Error(`key ${hex(key)} is already in use (see ipcs -m); not touching someone else's segment`);
      }
      throw err;
    }
    const id = seg.id;
    console.log(`shmget(${hex(key)}, ${SIZE}, IPC_CREAT|IPC_EXCL|0600) -> shmid ${id}`);

    // 3. shmat, and write through the attachment.
    att = seg.attach();
    console.log(`shmat(${id}) -> ${att.bytes.length} bytes attached`);
    writeText(att, 'Hello from the parent!');
    console.log(`parent (pid ${process.pid}) wrote: "${readText(att)}"`);

    // 4. A child process attaches by key, reads and writes.
    await runChild(key);
    console.log(`parent (pid ${process.pid}) read:  "${readText(att)}"`);

    // 5. shmctl(IPC_STAT): what `ipcs -m -i <id>` shows.
    printStat(`shmctl(${id}, IPC_STAT):`, seg.stat());

    // 6. shmctl(IPC_RMID): marked for destruction; it lives while attached.
    seg.remove();
    const removed = seg.stat();
    console.log(
      `shmctl(${id}, IPC_RMID): removed=${removed.removed}, attachments=${removed.attachments}, ` +
        `key now ${hex(removed.key)} (no new process can find it)`,
    );

    // 7. shmdt: the last detach destroys it.
    const view = att.bytes;
    att.detach();
    console.log(`shmdt: detached; a view kept from before now reads "${Buffer.from(view.subarray(0, 5)).toString('hex')}" (zeros, never a crash)`);
    const left = SysVSegment.list().some((s) => s.id === id);
    console.log(left ? `shmid ${id} is STILL listed by ipcs -m` : `shmid ${id} is gone from ipcs -m`);
    if (left) throw new Error(`shmid ${id} survived its removal`);
  } finally {
    cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

if (process.argv[2] === 'child') {
  try {
    child(Number(process.argv[3]));
  } catch (err) {
    console.error('child failed:', err);
    process.exitCode = 1;
  }
} else {
  parent().catch((err) => {
    console.error('example failed:', err instanceof Error ? err.message : err);
    process.exitCode = 1;
  });
}
