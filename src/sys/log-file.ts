// Log files root creates in logDir: opened without following a symbolic link (O_NOFOLLOW) and
// refused unless they are plain files with one name, so a link or hard link planted there can
// never make root append to, or hand to another user, a file elsewhere (/etc/shadow).
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, openSync, readFileSync } from 'node:fs';

/** open(2) flags for appending to a log: create it, never through a symbolic link, never block on a FIFO. */
export const LOG_APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** An fd to append to `path`; throws (ELOOP for a link, or `not a plain file`) instead of writing anywhere else. */
export function openLogFile(path: string, mode = 0o640): number {
  const fd = openSync(path, LOG_APPEND_FLAGS, mode);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1) {
      throw Object.assign(new Error(`${path} is not a plain file with one name; remove it and let vpnns create it`), { code: 'EVPNNSLOG' });
    }
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Creates (or keeps) the log and makes it `uid:gid`'s, through the fd, so a link swapped in is never chowned. */
export function createLogFileFor(path: string, uid: number, gid: number, mode = 0o640): void {
  const fd = openLogFile(path, mode);
  try {
    fchownSync(fd, uid, gid);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/** uid of `user` and gid of `group` from /etc/passwd and /etc/group. */
export function idsOf(user: string, group: string): { uid: number; gid: number } {
  const field = (file: string, name: string): number => {
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.split(':')[0] === name);
    const id = Number(line?.split(':')[2]);
    if (line === undefined || !Number.isInteger(id)) throw new Error(`${name} is not in ${file}`);
    return id;
  };
  return { uid: field('/etc/passwd', user), gid: field('/etc/group', group) };
}
