// The objects the command lists: POSIX objects in /dev/shm (through the
// public Segment.list()), System V segments (SysVSegment.list()) and the
// memfd segments live processes hold (found by the /proc scan), each with
// who uses it now.
import { closeSync, lstatSync, openSync, readSync, statSync, constants as fsConstants } from 'node:fs';
import { HEADER_LENGTH, Segment, SysVSegment, readHeader } from '../index.js';
import { devKey, hiddenCandidates, scanUsers, type ObjectUser, type UsersScan } from './users.js';
import { ownerOf } from './output.js';
import { lastActivity, sysvName } from './sysv.js';

/** Where an object lives. */
export type ObjectType = 'posix' | 'sysv' | 'memfd';

/** One row of `shmkit ls` (and the JSON schema's `objects[]`). */
export interface ObjectRow {
  type: ObjectType;
  /**
   * posix: the name with its leading slash (`/jobs`); sysv: `sysv:<key as
   * 0x + 8 hex digits>` (`sysv:private:<id>` for IPC_PRIVATE); memfd:
   * `memfd:<name>:<inode>`.
   */
  name: string;
  /** A shmkit kind name, `unknown` (a shmkit header of a newer kind), `raw` (no shmkit header), or null (not readable). */
  kind: string | null;
  /** The shmkit layout version, or null. */
  version: number | null;
  size: number;
  mode: number;
  uid: number;
  /** The user name of uid, or the uid as a string. */
  owner: string;
  /** ISO time the age counts from: posix, the later of mtime and ctime; sysv, the latest of ctime, atime and dtime; memfd, null. */
  changed: string | null;
  /** Seconds since `changed` (null for memfd). */
  ageSeconds: number | null;
  /** Live processes that map it or hold it open. */
  users: ObjectUser[];
  /** Processes /proc would not let us read that could be using it (their pids). */
  unknownUsers: number[];
  /** System V only: the shmid, the key, and the kernel's attachment count. */
  id?: number;
  key?: number;
  attachments?: number;
  /** System V only: the creator's uid (it may remove the segment, as its owner may). */
  cuid?: number;
  /** System V only: IPC_RMID was asked; the kernel destroys it at its last detach. */
  removed?: boolean;
  /** memfd only: its inode. */
  ino?: number;
}

/** Everything the listing saw, with the scan it came from. */
export interface Listing {
  objects: ObjectRow[];
  scan: UsersScan;
}


/** Reads the first bytes of a file (without following links or blocking). */
function probeFile(path: string): { kind: string | null; version: number | null } {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch {
    return { kind: null, version: null };
  }
  try {
    const head = new Uint8Array(HEADER_LENGTH);
    const n = readSync(fd, head, 0, HEADER_LENGTH, 0);
    const info = n < HEADER_LENGTH ? null : readHeader(head);
    return info === null ? { kind: 'raw', version: null } : { kind: info.kind, version: info.version };
  } catch {
    return { kind: null, version: null };
  } finally {
    closeSync(fd);
  }
}

/** Lists every object, with its users. `now` in ms. */
export function listObjects(now = Date.now()): Listing {
  const scan = scanUsers();
  const objects: ObjectRow[] = [];
  for (const seg of Segment.list()) {
    let st;
    try {
      st = lstatSync(`/dev/shm${seg.name}`);
    } catch {
      continue; // removed while we looked
    }
    const changed = Math.max(st.mtimeMs, st.ctimeMs);
    const kind = seg.shmkit === undefined ? { kind: null, version: null } : seg.shmkit === null ? { kind: 'raw', version: null } : { ...seg.shmkit };
    objects.push({
      type: 'posix',
      name: seg.name,
      ...kind,
      size: seg.size,
      mode: seg.mode,
      uid: seg.uid,
      owner: ownerOf(seg.uid),
      changed: new Date(changed).toISOString(),
      ageSeconds: Math.max(0, Math.round(now - changed) / 1000),
      users: scan.posix.get(devKey(st.dev, st.ino)) ?? [],
      unknownUsers: hiddenCandidates(scan.hidden, seg.uid, seg.mode).map((p) => p.pid),
    });
  }
  let sysv: ReturnType<typeof SysVSegment.list> = [];
  try {
    sysv = SysVSegment.list();
  } catch {
    // no /proc/sysvipc (a kernel without System V IPC)
  }
  for (const s of sysv) {
    const key = s.key >>> 0;
    const changed = lastActivity(s) * 1000;
    objects.push({
      type: 'sysv',
      name: sysvName(key, s.id),
      kind: null,
      version: null,
      size: s.size,
      mode: s.mode,
      uid: s.uid,
      owner: ownerOf(s.uid),
      changed: new Date(changed).toISOString(),
      ageSeconds: Math.max(0, Math.round(now - changed) / 1000),
      users: scan.sysv.get(s.id) ?? [],
      unknownUsers: hiddenCandidates(scan.hidden, s.uid, s.mode).map((p) => p.pid),
      id: s.id,
      key,
      attachments: s.attachments,
      cuid: s.cuid,
      removed: s.removed,
    });
  }
  for (const m of scan.memfds.values()) {
    let size = 0;
    let mode = 0;
    let uid = -1;
    let kind: { kind: string | null; version: number | null } = { kind: null, version: null };
    for (const path of [m.fdPath, m.mapPath]) {
      const target = path === undefined ? undefined : statFollow(path); // the object the descriptor or mapping refers to
      if (target) {
        ({ size, mode, uid } = target);
        kind = probeFile(path!);
        break;
      }
    }
    objects.push({
      type: 'memfd',
      name: `memfd:${m.name}:${m.ino}`,
      ...kind,
      size,
      mode,
      uid,
      owner: uid < 0 ? '?' : ownerOf(uid),
      changed: null,
      ageSeconds: null,
      users: scan.memfd.get(m.ino) ?? [],
      unknownUsers: [],
      ino: m.ino,
    });
  }
  return { objects, scan };
}

function statFollow(path: string): { size: number; mode: number; uid: number } | undefined {
  try {
    const st = statSync(path);
    return { size: st.size, mode: st.mode & 0o7777, uid: st.uid };
  } catch {
    return undefined;
  }
}
