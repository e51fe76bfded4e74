// Loads the native addon and gives it a typed interface. Native functions
// throw an Error carrying `errno` and `syscall`; callers pass the failure to
// rethrowNative() with the object's name so users see a ShmkitError.
import * as path from 'node:path';
import { ShmkitError } from './errors.js';

export interface FdStat {
  /** S_ISREG: only regular files (shm objects, memfds) can back a segment. */
  regular: boolean;
  size: number;
  mode: number;
  uid: number;
  gid: number;
}

export interface NativeSysVStat {
  key: number;
  id: number;
  size: number;
  mode: number;
  flags: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  cpid: number;
  lpid: number;
  attachments: number;
  atime: number;
  dtime: number;
  ctime: number;
}

export interface Native {
  mapFd(fd: number, size: number, readOnly: boolean): SharedArrayBuffer;
  release(buffer: SharedArrayBuffer): boolean;
  /** Pages of this mapping the fault guard replaced after SIGBUS (0 once released). */
  faults(buffer: SharedArrayBuffer): number;
  /** posix_fallocate(fd, 0, size), repeated on EINTR. */
  reserve(fd: number, size: number): void;
  shmCreate(name: string, size: number, mode: number): number;
  shmOpen(name: string, readOnly: boolean): number;
  shmUnlink(name: string): void;
  fstat(fd: number): FdStat;
  fchmod(fd: number, mode: number): void;
  fchown(fd: number, uid: number, gid: number): void;
  close(fd: number): void;
  dup(fd: number): number;
  memfdCreate(name: string, size: number): number;
  ftok(path: string, projId: number): number;
  shmget(key: number, size: number, create: boolean, exclusive: boolean, mode: number): number;
  shmat(id: number, readOnly: boolean): SharedArrayBuffer;
  shmStat(id: number): NativeSysVStat;
  shmSet(id: number, uid: number, gid: number, mode: number): void;
  shmRemove(id: number): void;
  sendFd(socketFd: number, fd: number, payload: Uint8Array, timeoutMs: number, cancel: Int32Array): Promise<void>;
  recvFd(socketFd: number, length: number, timeoutMs: number, cancel: Int32Array): Promise<{ fd: number; payload: Buffer }>;
  /** 0 woken, 1 the word did not hold `expected`, 2 timed out. */
  futexWait(buffer: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  futexWake(buffer: SharedArrayBuffer, byteOffset: number, count: number): number;
  gettid(): number;
  addressOf(buffer: SharedArrayBuffer): number;
  robustListInit(futexOffset: number): { buffer: SharedArrayBuffer; address: number };
  asyncWaitInit(dispatch: (id: number, result: number) => void): void;
  asyncWait(buffer: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  asyncCancel(id: number): boolean;
}

// dist/src/binding.js -> the package's root directory.
const PACKAGE_DIR = path.join(__dirname, '..', '..');

/**
 * node-gyp-build picks the addon: a local build (build/Release, what
 * `node-gyp rebuild` makes) first, else the prebuilt binary shipped in
 * prebuilds/<platform>-<arch>/ that matches this Node (N-API) and libc.
 * Neither present (installed with --ignore-scripts on a platform without a
 * prebuild, pnpm's default) or not loadable: say what to run.
 */
function loadNative(): Native {
  try {
    const load = require('node-gyp-build') as (dir: string) => unknown;
    return load(PACKAGE_DIR) as Native;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    const error = new ShmkitError(
      'ERR_SHMKIT_NO_ADDON',
      `shmkit's native addon is missing or cannot be loaded (${reason}). ` +
        `There is no prebuilt binary for ${process.platform}-${process.arch} here, or the install scripts did not run. ` +
        `Build it from source: run \`npm rebuild shmkit\` in your project, or \`npx node-gyp rebuild\` in ${PACKAGE_DIR} ` +
        `(needs python3, make and a C++ compiler such as g++).`,
      { path: PACKAGE_DIR },
    );
    (error as { cause?: unknown }).cause = err;
    throw error;
  }
}

export const native: Native = loadNative();
