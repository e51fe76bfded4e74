// Segment.list(): every POSIX shared memory object in /dev/shm, read with
// plain file calls (no mapping), and whether it carries a shmkit header.
import { closeSync, openSync, readSync, readdirSync, lstatSync, constants as fsConstants } from 'node:fs';
import { HEADER_LENGTH, readHeader, type KindName } from '../layout/header.js';

/** Where Linux keeps POSIX shared memory objects. */
export const SHM_DIR = '/dev/shm';

/** One row of `Segment.list()`. */
export interface SegmentInfo {
  /** The POSIX name, with its leading slash. */
  name: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Last modification time. */
  mtime: Date;
  /**
   * The shmkit object it holds (`{ kind, version }`), `null` for raw data or
   * another program's object, `undefined` when it could not be read (no read
   * permission).
   */
  shmkit: { kind: KindName | 'unknown'; version: number } | null | undefined;
}

export function listSegments(): SegmentInfo[] {
  const out: SegmentInfo[] = [];
  for (const entry of readdirSync(SHM_DIR).sort()) {
    const path = `${SHM_DIR}/${entry}`;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      continue; // unlinked while we looked
    }
    if (!st.isFile()) continue;
    out.push({
      name: `/${entry}`,
      size: st.size,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: st.mtime,
      shmkit: probe(path, st.size),
    });
  }
  return out;
}

function probe(path: string, size: number): SegmentInfo['shmkit'] {
  if (size < HEADER_LENGTH) return null;
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const head = new Uint8Array(HEADER_LENGTH);
    if (readSync(fd, head, 0, HEADER_LENGTH, 0) < HEADER_LENGTH) return null;
    const info = readHeader(head);
    return info === null ? null : { kind: info.kind, version: info.version };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
