// System V segments as the command names, ages and removes them (through
// the public SysVSegment API: /proc/sysvipc/shm, IPC_STAT, IPC_RMID).
//
// Names: `sysv:0x<key, 8 hex digits>`, or `sysv:private:<shmid>` for a
// segment without a key (IPC_PRIVATE, and every segment already marked for
// removal: the kernel drops the key of a segment at IPC_RMID).
//
// Age: a segment records no write times, only its last change (ctime:
// creation, IPC_SET), last attach (atime) and last detach (dtime). The age
// counts from the latest of the three, so a segment a process attached or
// left a moment ago is young, whenever it was made.
import { SysVSegment, type SysVSegmentStat } from '../index.js';

const IPC_PRIVATE = 0;

/** The command's name of a segment (`sysv:0x0000abcd`, `sysv:private:42`). */
export function sysvName(key: number, id: number): string {
  const k = key >>> 0;
  return k === IPC_PRIVATE ? `sysv:private:${id}` : `sysv:0x${k.toString(16).padStart(8, '0')}`;
}

/** What a `sysv:` name selects, or undefined when `name` is not one. */
export type SysVSelector = { key: number } | { id: number };

/** Parses `sysv:0x<hex>` (a key, 1 to 8 hex digits) or `sysv:private:<shmid>`. */
export function parseSysvName(name: string): SysVSelector | undefined {
  const byKey = /^sysv:0x([0-9a-f]{1,8})$/i.exec(name);
  if (byKey) {
    const key = parseInt(byKey[1]!, 16);
    return key === IPC_PRIVATE ? undefined : { key };
  }
  const byId = /^sysv:private:(\d{1,10})$/.exec(name);
  return byId && Number(byId[1]) <= 2 ** 31 - 1 ? { id: Number(byId[1]) } : undefined;
}

/** Seconds since the epoch of a segment's latest ctime, atime or dtime (see above). */
export function lastActivity(s: Pick<SysVSegmentStat, 'ctime' | 'atime' | 'dtime'>): number {
  return Math.max(s.ctime, s.atime, s.dtime);
}

/**
 * Whether this process may remove a segment (IPC_RMID): its owner or its
 * creator may, and root (CAP_SYS_ADMIN, which root is assumed to have).
 */
export function mayRemove(s: Pick<SysVSegmentStat, 'uid' | 'cuid'>): boolean {
  const euid = process.geteuid?.() ?? -1;
  return euid === 0 || euid === s.uid || euid === s.cuid;
}

/** The segment `selector` names now, from SysVSegment.list(), or undefined. */
export function findSysv(selector: SysVSelector): ReturnType<typeof SysVSegment.list>[number] | undefined {
  return SysVSegment.list().find((s) => ('key' in selector ? s.key >>> 0 === selector.key && !s.removed : s.id === selector.id));
}

/** What gc saw of a segment when it decided to remove it. */
export interface SeenSegment {
  id: number;
  key: number;
  /** lastActivity() at the scan. */
  activity: number;
}

/**
 * IPC_RMID on a segment gc found unused, unless it changed since the scan:
 * attached meanwhile (nattch, atime or dtime moved) or gone and its shmid
 * reused by another segment (another key or ctime). Narrows the scan-to-
 * removal race to the moment between this stat and the removal. Returns
 * whether it was removed; a failure (EPERM, EINVAL: gone) throws.
 */
export function removeIfUnchanged(seen: SeenSegment): boolean {
  const seg = SysVSegment.fromId(seen.id);
  const now = seg.stat();
  if (now.key >>> 0 !== seen.key >>> 0 || now.removed || now.attachments > 0 || lastActivity(now) !== seen.activity) return false;
  seg.remove();
  return true;
}
