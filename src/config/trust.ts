// Root reads only what root alone controls. vpnns runs as root next to programs we do not trust (an
// AI agent writing files as the user), so a config, a VPN file or a program that root reads or runs
// is accepted only when it and every directory above it are owned by root and not writable by
// group or others: then nobody else can change it or swap it for another between our check and
// our use. A sticky directory such as /tmp counts as safe when the entry below it is root's (the
// sticky bit stops others from renaming or deleting it).
//
// The path is walked one component at a time with lstat, following symbolic links by hand, so a
// link counts only when the directory holding it is trusted, and the file is opened at the real
// path it resolved to with O_NOFOLLOW, then fstat-ed and compared with what the walk saw (same
// device and inode): the bytes read are the bytes checked.
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, statfsSync, type Stats } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { SYSTEM_PATH } from './paths.js';

export type TrustKind = 'file' | 'directory' | 'executable';

export interface TrustOptions {
  kind?: TrustKind;
  /**
   * A path that does not exist yet is acceptable when only root could create it (the deepest
   * existing directory is trusted and not a shared sticky one): e.g. a log directory vpnns makes.
   */
  allowMissing?: boolean;
  /** Base for a relative path (default: the working directory). */
  cwd?: string;
  /** The config file that named the path, for the message. */
  file?: string;
  /** A root-owned place to suggest in the fix (default /etc/vpnns). */
  place?: string;
}

/** Why a path is not trusted: `reason` and `fix` join into one sentence. */
export interface Distrust {
  reason: string;
  fix: string;
}

export type TrustVerdict =
  | { trusted: true; real: string; stat: Stats }
  /** Nothing there (yet); `at` is the first missing path (with allowMissing: where root alone can create it). */
  | { trusted: true; missing: true; at: string }
  | ({ trusted: false } & Distrust);

/** Whether the checks apply: only a root process is at risk of running someone else's input. */
export function trustRequired(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

const MAX_LINKS = 40;

/** Looks at `path` (lstat only, opens nothing) and says whether root may rely on it. */
export function checkTrustedPath(path: string, opts: TrustOptions = {}): TrustVerdict {
  const kind = opts.kind ?? 'file';
  const abs = resolve(opts.cwd ?? process.cwd(), path);
  let cur = '/';
  let curStat = lstatSync('/');
  const place = opts.place ?? '/etc/vpnns';
  const rootProblem = directoryProblem('/', curStat, place);
  if (rootProblem) return { trusted: false, ...rootProblem };
  const queue = abs.split('/').filter(Boolean);
  let links = 0;
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      // `cur` was reached by descending from /, so its parent has been checked already.
      cur = parentOf(cur);
      curStat = lstatSync(cur);
      continue;
    }
    const next = cur === '/' ? `/${name}` : `${cur}/${name}`;
    let st: Stats;
    try {
      st = lstatSync(next);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        return { trusted: false, reason: `vpnns cannot look at ${next} (${code ?? String(e)})`, fix: 'make the path readable by root' };
      }
      if (opts.allowMissing && sharedSticky(curStat)) {
        return { trusted: false, reason: `${next} does not exist and anyone could create it in the shared directory ${cur}`, fix: `${kind === 'directory' ? `create it first as root (sudo mkdir -m 755 ${next})` : 'create it first as root'} or choose a path in a root-owned directory` };
      }
      return { trusted: true, missing: true, at: next };
    }
    if (sharedSticky(curStat) && st.uid !== 0) {
      return { trusted: false, reason: `${next} is owned by ${owner(st.uid)} inside the shared directory ${cur}`, fix: `make it root's (sudo chown root: ${next}) or move it to a root-owned directory` };
    }
    if (!st.isSymbolicLink() && st.dev !== curStat.dev) {
      const problem = mountProblem(next);
      if (problem) return { trusted: false, ...problem };
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return { trusted: false, reason: `${abs} has too many symbolic links`, fix: 'point at the file itself' };
      const target = readlinkSync(next);
      queue.unshift(...target.split('/').filter(Boolean));
      if (isAbsolute(target)) {
        cur = '/';
        curStat = lstatSync('/');
      }
      continue;
    }
    if (queue.length > 0) {
      if (!st.isDirectory()) return { trusted: true, missing: true, at: `${next}/${queue.join('/')}` };
      const problem = directoryProblem(next, st, place);
      if (problem) return { trusted: false, ...problem };
      cur = next;
      curStat = st;
      continue;
    }
    cur = next;
    curStat = st;
  }
  const problem = finalProblem(cur, curStat, kind, place);
  return problem ? { trusted: false, ...problem } : { trusted: true, real: cur, stat: curStat };
}

/**
 * Throws a ConfigError (exit 2) unless root may rely on `path`; `what` names where it came from
 * (`vpn.config`, `logDir`, `--config`). Does nothing when vpnns does not run as root. A missing
 * path passes (the caller reports it in its own words) unless it could be created by someone else.
 */
export function assertTrustedFile(path: string, what: string, opts: TrustOptions = {}): void {
  if (!trustRequired()) return;
  const v = checkTrustedPath(path, opts);
  if (!v.trusted) throw untrusted(what, path, v, opts.file);
}

/** The one sentence for an untrusted path. */
export function untrusted(what: string, path: string, d: Distrust, file?: string, hint?: string): ConfigError {
  return new ConfigError({
    file,
    path: what,
    detail: `vpnns runs as root and will not use ${path}: ${d.reason}, so someone other than root could change what root reads or runs; ${d.fix}${hint ? ` (${hint})` : ''}`,
  });
}

/**
 * Reads a file root may rely on, without a window between check and read: walk, open the real path
 * with O_NOFOLLOW, fstat, compare. When not root it is a plain read. Errors other than distrust
 * (ENOENT, EACCES) are thrown as Node errors for the caller to word.
 */
export function readTrustedFile(path: string, what: string, opts: Omit<TrustOptions, 'kind' | 'allowMissing'> & { hint?: string } = {}): string {
  const abs = resolve(opts.cwd ?? process.cwd(), path);
  if (!trustRequired()) return readFileSync(abs, 'utf8');
  const v = checkTrustedPath(abs, { kind: 'file' });
  if (!v.trusted) throw untrusted(what, path, v, opts.file, opts.hint);
  if ('missing' in v) throw Object.assign(new Error(`ENOENT: no such file, open '${abs}'`), { code: 'ENOENT' });
  // Not a file at all is not a question of trust: let the caller say so in its words.
  if (!v.stat.isFile()) throw Object.assign(new Error(`${abs} is not a file`), { code: v.stat.isDirectory() ? 'EISDIR' : 'EINVAL' });
  // O_NONBLOCK: never hang on a FIFO (the inode comparison below refuses anything but what was checked).
  const fd = openSync(v.real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOCTTY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (st.dev !== v.stat.dev || st.ino !== v.stat.ino) {
      throw untrusted(what, path, { reason: `${v.real} changed while vpnns was checking it`, fix: 'try again, and find out what is replacing the file' }, opts.file);
    }
    const problem = finalProblem(v.real, st, 'file', '/etc/vpnns');
    if (problem) throw untrusted(what, path, problem, opts.file, opts.hint);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Same rule, for a directory vpnns keeps files in (logs, a client's HOME); it may not exist yet. */
export function assertTrustedDirectory(path: string, what: string, opts: { file?: string; place?: string } = {}): void {
  assertTrustedFile(path, what, { kind: 'directory', allowMissing: true, ...opts });
}

/** A program root will run: an absolute or relative path is checked as it is; a bare name where root looks for it (SYSTEM_PATH). */
export function assertTrustedProgram(program: string, what: string, opts: { cwd?: string; file?: string; searchPath?: readonly string[] } = {}): void {
  if (!trustRequired()) return;
  if (program.includes('/')) {
    assertTrustedFile(program, what, { kind: 'executable', allowMissing: true, cwd: opts.cwd, file: opts.file, place: '/usr/local/bin' });
    return;
  }
  for (const dir of opts.searchPath ?? SYSTEM_PATH.split(':')) {
    // An empty or relative PATH entry means the working directory: judged like any other.
    const candidate = resolve(opts.cwd ?? process.cwd(), dir || '.', program);
    const v = checkTrustedPath(candidate, { kind: 'executable', place: '/usr/local/bin' });
    if (v.trusted && 'missing' in v) continue;
    if (!v.trusted) throw untrusted(what, program, { reason: `PATH finds it as ${candidate}, where ${v.reason}`, fix: `${v.fix}, or give its absolute path in a root-owned directory` }, opts.file);
    return;
  }
}

function directoryProblem(dir: string, st: Stats, place: string): Distrust | undefined {
  if (!st.isDirectory()) return { reason: `${dir} is not a directory`, fix: 'fix the path' };
  if (st.uid !== 0) return { reason: `the directory ${dir} is owned by ${owner(st.uid)}`, fix: `move it to a directory only root can change, such as ${place}` };
  if (sharedSticky(st)) return undefined;
  const w = writers(st);
  return w ? { reason: `the directory ${dir} is writable by ${w}`, fix: `run: sudo chmod go-w ${dir}` } : undefined;
}

// Only who owns it and who may write it: a directory where a file should be (or the reverse) is not a
// question of trust, and the reader reports it in its own words when it opens the thing.
function finalProblem(path: string, st: Stats, kind: TrustKind, place: string): Distrust | undefined {
  if (kind === 'directory' && st.isDirectory()) {
    // Passing through /tmp is fine; keeping files right in it is not: anyone can create the names first.
    if (sharedSticky(st)) return { reason: `${path} is a directory every user can create files in`, fix: `use a directory of its own made by root, e.g. ${path === '/' ? '' : path}/vpnns` };
    return directoryProblem(path, st, place);
  }
  if (st.uid !== 0) return { reason: `${path} is owned by ${owner(st.uid)}`, fix: `make it root's (sudo chown root: ${path}) in a directory only root can change, such as ${place}` };
  const w = writers(st);
  if (w) return { reason: `${path} is writable by ${w}`, fix: `run: sudo chmod go-w ${path}` };
  return undefined;
}

/**
 * Filesystems whose owners and modes are whatever their server says, and whose server may be an
 * unprivileged user: FUSE (with `user_allow_other` in /etc/fuse.conf a user's mount in /tmp is
 * visible to root and can claim uid 0 for every entry). Keyed by statfs(2)'s f_type.
 */
const USER_SERVED_FILESYSTEMS: ReadonlyMap<number, string> = new Map([[0x65735546, 'FUSE']]);

/** The name of a filesystem type whose ownership root cannot rely on, else undefined. */
export function userServedFilesystem(type: number): string | undefined {
  return USER_SERVED_FILESYSTEMS.get(type);
}

/** Checked where the walk enters another mount (the device changes), so once per mount crossed. */
function mountProblem(path: string): Distrust | undefined {
  let type: number;
  try {
    type = statfsSync(path).type;
  } catch (e) {
    return { reason: `vpnns cannot look at the filesystem of ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, fix: 'make the path readable by root' };
  }
  const fs = userServedFilesystem(type);
  return fs ? { reason: `${path} is on a ${fs} filesystem, whose owners and modes are whatever its server (perhaps a user) says`, fix: 'copy it to a root-owned directory on a local filesystem, such as /etc/vpnns' } : undefined;
}

/** World- or group-writable with the sticky bit and owned by root (/tmp, /var/tmp, /dev/shm). */
function sharedSticky(st: Stats): boolean {
  return st.isDirectory() && st.uid === 0 && (st.mode & 0o1000) !== 0 && (st.mode & 0o022) !== 0;
}

function writers(st: Stats): string | undefined {
  const group = (st.mode & 0o020) !== 0;
  const others = (st.mode & 0o002) !== 0;
  if (group && others) return 'its group and every user';
  if (others) return 'every user';
  if (group) return `its group (gid ${st.gid})`;
  return undefined;
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/** "alice (uid 1000)", from /etc/passwd when it says. */
function owner(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[2] === String(uid) && f[0]) return `${f[0]} (uid ${uid})`;
    }
  } catch {
    /* no passwd: the number alone */
  }
  return `uid ${uid}`;
}
