// `shmkit doctor [--json]`: what can bite on this machine. Each finding is a
// check { name, status: ok | warn | fail | info, message } in `checks`,
// after the raw facts it was made from.
import { existsSync, readFileSync, readdirSync, readlinkSync, statfsSync } from 'node:fs';
import { release } from 'node:os';
import { Segment, SysVSegment } from '../index.js';
import { colors, formatSize, printJson } from './output.js';
import { EXIT_ERROR } from './errors.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';
export interface Check {
  name: string;
  status: CheckStatus;
  message: string;
}

function readNumber(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

function readLink(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/** Kernel release "6.1.0-18-amd64" → [6, 1]. */
function kernelVersion(rel: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** Signs that this process runs in a container (heuristic: marker files, pid 1's cgroup). */
function containerHint(): string | null {
  if (existsSync('/.dockerenv')) return 'docker';
  if (existsSync('/run/.containerenv')) return 'podman';
  try {
    const cg = readFileSync('/proc/1/cgroup', 'utf8');
    const m = /(docker|kubepods|containerd|lxc|libpod)/.exec(cg);
    if (m) return m[1]!;
  } catch {
    // not readable
  }
  return null;
}

/**
 * The `huge=` option of the tmpfs mounted on /dev/shm (the last mount listed
 * there: the one on top): 'never' when absent, null when /proc/self/mounts
 * cannot be read or lists no /dev/shm.
 */
function devShmHugePages(): string | null {
  try {
    const line = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1] === '/dev/shm').pop();
    if (line === undefined) return null;
    const huge = (line.split(' ')[3] ?? '').split(',').find((o) => o.startsWith('huge='));
    return huge === undefined ? 'never' : huge.slice('huge='.length);
  } catch {
    return null;
  }
}

/** The addon file this process has mapped (from /proc/self/maps), after a shmkit call loaded it. */
function addonPath(): string | null {
  try {
    const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => /\/shmkit[^/]*\.node$/.test(l));
    return line ? line.slice(line.indexOf('/')) : null;
  } catch {
    return null;
  }
}

export function doctorReport(): object {
  const checks: Check[] = [];

  // /dev/shm
  let devShm: object;
  try {
    const fs = statfsSync('/dev/shm');
    const size = fs.blocks * fs.bsize;
    const available = fs.bavail * fs.bsize;
    const used = size - fs.bfree * fs.bsize;
    const usePercent = size ? Math.round((used / size) * 1000) / 10 : 0;
    const hugePages = devShmHugePages();
    devShm = { path: '/dev/shm', sizeBytes: size, usedBytes: used, availableBytes: available, usePercent, tmpfs: fs.type === 0x01021994, hugePages };
    checks.push({
      name: 'dev-shm',
      status: size < 256 * 1024 * 1024 || usePercent >= 90 ? 'warn' : 'ok',
      message:
        `/dev/shm: ${formatSize(size)}, ${usePercent}% used, ${formatSize(available)} free` +
        (size < 256 * 1024 * 1024 ? ' (small: Docker gives 64M by default; raise it with --shm-size)' : ''),
    });
    // A tuning hint, not a problem: with 4 KiB pages a large Dict or Queue
    // misses the TLB on most random accesses (with nested paging in a VM, a
    // walk of up to two dozen memory reads). Measured on a 2-vCPU VM: a Dict
    // call made after other work had evicted the caches took 23-31% less
    // time on a /dev/shm mounted with huge=always.
    if (hugePages === 'always' || hugePages === 'within_size') {
      checks.push({ name: 'dev-shm-huge-pages', status: 'ok', message: `/dev/shm: huge pages (huge=${hugePages}): every whole 2 MiB of a segment is backed by a huge page` });
    } else if (hugePages !== null) {
      checks.push({
        name: 'dev-shm-huge-pages',
        status: 'info',
        message: `/dev/shm: 4 KiB pages (huge=${hugePages}): a Dict or Queue of many MiB misses the TLB on most random accesses; ` +
          '`mount -o remount,huge=within_size /dev/shm` (as root; in /etc/fstab to keep it) backs every whole 2 MiB of a segment with a huge page',
      });
    }
  } catch (err) {
    devShm = { path: '/dev/shm', error: (err as NodeJS.ErrnoException).code ?? String(err) };
    checks.push({ name: 'dev-shm', status: 'fail', message: `/dev/shm not usable: ${(err as Error).message}` });
  }

  // System V limits against use
  const pageSize = 4096;
  const shmmax = readNumber('/proc/sys/kernel/shmmax');
  const shmall = readNumber('/proc/sys/kernel/shmall');
  const shmmni = readNumber('/proc/sys/kernel/shmmni');
  let segments = 0;
  let bytes = 0;
  try {
    const list = SysVSegment.list();
    segments = list.length;
    bytes = list.reduce((n, s) => n + s.size, 0);
  } catch {
    // no System V IPC
  }
  const pagesUsed = Math.ceil(bytes / pageSize);
  const sysv = { shmmax, shmall, shmallUnit: 'pages', pageSize, shmmni, segments, bytes, pagesUsed };
  const sysvFull = (shmmni !== null && segments >= shmmni * 0.9) || (shmall !== null && pagesUsed >= shmall * 0.9);
  checks.push({
    name: 'sysv-limits',
    status: sysvFull ? 'warn' : 'ok',
    message: `System V: ${segments} segment(s) of shmmni ${shmmni ?? '?'}, ${pagesUsed} page(s) of shmall ${shmall === null ? '?' : shmall >= 2 ** 53 ? 'unlimited' : shmall}, shmmax ${shmmax === null ? '?' : shmmax >= 2 ** 53 ? 'unlimited' : formatSize(shmmax)} per segment`,
  });

  // IPC namespace
  // Compared with pid 1's, or (when pid 1 is hidden from us) the lowest pid we may read.
  const self = readLink('/proc/self/ns/ipc');
  let reference: { pid: number; ns: string } | null = null;
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b)) {
    if (pid === process.pid) continue;
    const ns = readLink(`/proc/${pid}/ns/ipc`);
    if (ns !== null) {
      reference = { pid, ns };
      break;
    }
  }
  const init = reference?.ns ?? null;
  const container = containerHint();
  const separate = self !== null && init !== null ? self !== init : null;
  const ipcNamespace = { self, reference, separate, container };
  checks.push({
    name: 'ipc-namespace',
    status: separate === true || container !== null ? 'warn' : separate === null ? 'info' : 'ok',
    message:
      separate === true
        ? `this process has its own IPC namespace (${self}; pid ${reference?.pid} has ${init}): System V segments here are not the host's, and if /dev/shm is a separate tmpfs too, neither are POSIX objects. Processes that share memory must share both; with Docker run them with --ipc=host (or --ipc=container:NAME)`
        : separate === null
          ? `cannot compare IPC namespaces (no other process's /proc/PID/ns/ipc is readable${process.geteuid?.() === 0 ? '' : ': run as root'})`
          : container !== null
            ? `this process seems to run in a container (${container}); the processes it sees are the container's, so "same namespace as pid ${reference?.pid}" says nothing about the host: share memory with processes outside it only with --ipc=host`
            : `same IPC namespace as pid ${reference?.pid} (${self})`,
  });

  // Kernel features
  const rel = release();
  const [major, minor] = kernelVersion(rel);
  const futexWaitv = major > 5 || (major === 5 && minor >= 16);
  let memfd = false;
  let memfdError: string | null = null;
  try {
    Segment.anonymous({ size: 4096 }).close(); // memfd_create with sealing, as shmkit uses it
    memfd = true;
  } catch (err) {
    memfdError = (err as Error).message;
  }
  const kernel = { release: rel, futexWaitv, memfdCreate: memfd, memfdSealing: memfd };
  checks.push({ name: 'futex-waitv', status: futexWaitv ? 'ok' : 'warn', message: `futex_waitv: ${futexWaitv ? 'available' : 'missing'} (kernel ${rel}; needs 5.16)` });
  checks.push({ name: 'memfd', status: memfd ? 'ok' : 'fail', message: memfd ? 'memfd_create with sealing: available' : `memfd_create failed: ${memfdError}` });

  // Node and the addon
  const node = { version: process.version, napi: process.versions.napi ?? null, modules: process.versions.modules };
  const [nodeMajor] = process.versions.node.split('.').map(Number);
  checks.push({ name: 'node', status: (nodeMajor ?? 0) >= 20 ? 'ok' : 'fail', message: `Node.js ${process.version} (shmkit needs 20 or newer)` });
  const path = addonPath();
  const origin = path === null ? 'unknown' : path.includes('/prebuilds/') ? 'prebuilt' : /\/build\/(Release|Debug)\//.test(path) ? 'compiled' : 'unknown';
  const addon = { path, origin };
  checks.push({ name: 'addon', status: path === null ? 'warn' : 'ok', message: `addon: ${origin}${path ? ` (${path})` : ''}` });

  return { devShm, sysv, ipcNamespace, kernel, node, addon, checks };
}

export function doctor(options: { json?: boolean }): void {
  const report = doctorReport() as { checks: Check[] };
  if (options.json) {
    printJson('doctor', report);
  } else {
    const mark = { ok: colors.green('ok  '), warn: colors.yellow('warn'), fail: colors.red('FAIL'), info: colors.cyan('info') };
    for (const c of report.checks) process.stdout.write(`${mark[c.status]}  ${c.message}\n`);
  }
  // shmkit cannot work here: exit 1 (warnings are only printed)
  if (report.checks.some((c) => c.status === 'fail')) process.exitCode = EXIT_ERROR;
}
