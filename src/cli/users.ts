// "Who uses it": the live processes that map a shared memory object or hold
// it open, read from the kernel's view of every process (/proc/PID/maps and
// /proc/PID/fd), never from a pid written in an object's header (pids are
// reused, and a container has its own).
//
// What the kernel shows, per kind of object:
//   POSIX (/dev/shm)  maps: `/dev/shm/NAME` (inode = the file's inode);
//                     fd:   a link to `/dev/shm/NAME`
//   System V          maps: `/SYSV<key, 8 hex digits> (deleted)` with the
//                     shmid in the inode column (no fd: shmat has none)
//   memfd             maps: `/memfd:NAME (deleted)`; fd: a link to the same
// An object is matched by inode (and, for /dev/shm, its path), so a name
// unlinked and created again is not confused with the old object that a
// process may still map (`/dev/shm/NAME (deleted)`).
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

/** How a process uses an object. */
export type UseWay = 'map' | 'fd';

/** One process using one object. */
export interface ObjectUser {
  pid: number;
  /** The command name (/proc/PID/comm). */
  command: string;
  /** `map`: it maps the object; `fd`: it holds a descriptor on it. */
  how: UseWay[];
}

/** A process /proc would not let us read (another user's, without root). */
export interface HiddenProcess {
  pid: number;
  /** Its effective uid (from /proc/PID/status, readable by anyone), or -1. */
  uid: number;
}

/** A memfd segment held by a live process. */
export interface MemfdObject {
  /** The name given to memfd_create (without `memfd:`). */
  name: string;
  ino: number;
  /** A path through which it can be read (`/proc/PID/fd/N`), if a process holds a descriptor. */
  fdPath: string | undefined;
  /** Else one through a mapping (`/proc/PID/map_files/START-END`: root only). */
  mapPath: string | undefined;
}

/** The result of one scan of /proc. */
export interface UsersScan {
  /** POSIX objects by `devKey(dev, ino)` of their file. */
  posix: Map<string, ObjectUser[]>;
  /** System V segments by shmid. */
  sysv: Map<number, ObjectUser[]>;
  /** memfd objects by inode. */
  memfd: Map<number, ObjectUser[]>;
  /** Every memfd object seen, by inode. */
  memfds: Map<number, MemfdObject>;
  /** Processes that could not be read. */
  hidden: HiddenProcess[];
}

const SHM_PREFIX = '/dev/shm/';
const SYSV_PREFIX = '/SYSV';
const MEMFD_PREFIX = '/memfd:';
const DELETED = ' (deleted)';

function addUse<K>(table: Map<K, ObjectUser[]>, id: K, pid: number, command: string, how: UseWay): void {
  let users = table.get(id);
  if (!users) table.set(id, (users = []));
  const found = users.find((u) => u.pid === pid);
  if (!found) users.push({ pid, command, how: [how] });
  else if (!found.how.includes(how)) found.how.push(how);
}

function stripDeleted(path: string): string {
  return path.endsWith(DELETED) ? path.slice(0, -DELETED.length) : path;
}

function uidOf(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
    return line ? Number(line.split(/\s+/)[2]) : -1;
  } catch {
    return -1;
  }
}

/**
 * Reads every live process's mappings and descriptors (the calling process
 * left out). A mapping of `/dev/shm/NAME` whose inode is not the one of
 * /dev/shm/NAME now is an object unlinked since: callers match by devKey().
 */
export function scanUsers(): UsersScan {
  const scan: UsersScan = { posix: new Map(), sysv: new Map(), memfd: new Map(), memfds: new Map(), hidden: [] };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let command = '';
    let maps: string;
    let fds: string[];
    try {
      command = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') scan.hidden.push({ pid, uid: uidOf(pid) });
      continue; // ENOENT/ESRCH: it exited while we looked
    }
    readMaps(scan, pid, command, maps);
    readFds(scan, pid, command, fds);
  }
  return scan;
}

/** The key of a file in `UsersScan.posix`: its device and inode (a file in another tmpfs is another object). */
export function devKey(dev: number, ino: number): string {
  return `${dev}:${ino}`;
}

// A maps line: `start-end perms offset major:minor inode   path`; the path may hold spaces.
const MAPS_LINE = /^(\S+)\s+\S+\s+\S+\s+([0-9a-f]+):([0-9a-f]+)\s+(\d+)\s+(.*)$/;

/** st_dev as stat() reports it, from a maps line's major:minor (the kernel's new_encode_dev). */
function encodeDev(major: number, minor: number): number {
  return (minor & 0xff) + major * 0x100 + (minor & ~0xff) * 0x1000;
}

function readMaps(scan: UsersScan, pid: number, command: string, maps: string): void {
  for (const line of maps.split('\n')) {
    const m = MAPS_LINE.exec(line);
    if (!m) continue;
    const [, range, major, minor, inode, path] = m as unknown as [string, string, string, string, string, string];
    const ino = Number(inode);
    if (path.startsWith(SHM_PREFIX)) addUse(scan.posix, devKey(encodeDev(parseInt(major, 16), parseInt(minor, 16)), ino), pid, command, 'map');
    else if (path.startsWith(SYSV_PREFIX)) addUse(scan.sysv, ino, pid, command, 'map');
    else if (path.startsWith(MEMFD_PREFIX)) {
      addUse(scan.memfd, ino, pid, command, 'map');
      if (!scan.memfds.has(ino)) {
        scan.memfds.set(ino, { name: stripDeleted(path).slice(MEMFD_PREFIX.length), ino, fdPath: undefined, mapPath: `/proc/${pid}/map_files/${range}` });
      }
    }
  }
}

function readFds(scan: UsersScan, pid: number, command: string, fds: string[]): void {
  for (const fd of fds) {
    const link = `/proc/${pid}/fd/${fd}`;
    let target: string;
    try {
      target = readlinkSync(link);
    } catch {
      continue; // closed meanwhile
    }
    const posix = target.startsWith(SHM_PREFIX);
    const memfd = target.startsWith(MEMFD_PREFIX);
    if (!posix && !memfd) continue;
    let ino: number;
    let dev: number;
    try {
      ({ ino, dev } = statSync(link)); // the object the descriptor refers to
    } catch {
      continue;
    }
    if (posix) {
      addUse(scan.posix, devKey(dev, ino), pid, command, 'fd');
    } else {
      addUse(scan.memfd, ino, pid, command, 'fd');
      const known = scan.memfds.get(ino);
      if (!known) scan.memfds.set(ino, { name: stripDeleted(target).slice(MEMFD_PREFIX.length), ino, fdPath: link, mapPath: undefined });
      else if (known.fdPath === undefined) known.fdPath = link;
    }
  }
}

/**
 * The hidden processes that could be using an object owned by `uid` with
 * `mode`: those of its owner, and anyone's when the mode lets group or others
 * in. Root's hidden processes are not counted: a non-root caller can never
 * read them, so counting them would block every object, and a root caller
 * meets one only under a security module or across namespaces (the count in
 * `UsersScan.hidden` still says so).
 */
export function hiddenCandidates(hidden: readonly HiddenProcess[], uid: number, mode: number): HiddenProcess[] {
  const open = (mode & 0o066) !== 0;
  return hidden.filter((p) => p.uid > 0 && (open || p.uid === uid));
}
