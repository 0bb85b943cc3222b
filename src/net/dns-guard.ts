// Keeps the namespace's resolv.conf and nsswitch.conf in front of every process inside.
//
// `ip netns exec` (and systemd's BindReadOnlyPaths=) bind-mount /etc/netns/<ns>/resolv.conf over
// /etc/resolv.conf in each process's private mount namespace. When the host then replaces its
// resolv.conf by rename — NetworkManager, systemd-resolved, resolvconf and dhclient all do, on every
// network change — the kernel silently detaches that bind mount in every other mount namespace, and
// a long-running program inside (code-server, danted) starts reading the host's resolvers. The guard
// notices (a watch on the host file's directory, and a sweep every health interval) and binds the
// files back in each affected mount namespace.
//
// The repair runs as root, next to programs we do not trust, so it never runs anything of theirs:
// `nsenter -m PROGRAM` (what this used to do) resolves PROGRAM inside the target's mount namespace,
// where a user who made that namespace (`unshare -Urm`) can bind a script of theirs over /bin/sh.
// Instead a small Perl program from OUR filesystem is started in OUR mount namespace; it takes
// everything it needs there (the target's namespace fd, a detached copy of each of our files made
// with open_tree), and only then calls setns itself and attaches the copies with move_mount. After
// setns it executes nothing and loads nothing: only system calls. A mount namespace that belongs to
// another user namespace than vpnns's own (one a user made with `unshare -U`) is never entered:
// its owner could have rearranged anything in it, and its processes have no more rights than the user.
import { readlink } from 'node:fs/promises';
import { existsSync, realpathSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { System } from '../sys/system.js';
import { findTool } from '../sys/tools.js';
import { identify, stillRunning, type ProcId } from '../sys/proc-identity.js';
import type { Names } from '../core/names.js';
import { ETC_NETNS } from '../core/names.js';
import { DNS_FILES } from './dns-files.js';

/**
 * The system calls whose numbers differ between architectures (open_tree 428 and move_mount 429 are
 * the same everywhere). Only x64 was run; the others are the kernel's tables.
 */
export const SYSCALLS: Partial<Record<NodeJS.Architecture, { setns: number; mount: number }>> = {
  x64: { setns: 308, mount: 165 },
  arm64: { setns: 268, mount: 40 },
  riscv64: { setns: 268, mount: 40 },
  ia32: { setns: 346, mount: 21 },
  arm: { setns: 375, mount: 21 },
  ppc64: { setns: 350, mount: 21 },
  s390x: { setns: 339, mount: 21 },
};

/** Exit codes of REBIND_PERL, named. */
export const REBIND_EXIT = { gone: 3, noUserns: 4, foreignUserns: 5, setnsFailed: 6, slaveFailed: 7 } as const;

/**
 * Fixed text, no input in it; arguments: PID, the inode of the mount namespace we decided to repair,
 * the setns and mount syscall numbers, the directory of our files, the file names. Prints the files
 * it bound again. No module is loaded (not even strict): after setns a `require` would read the
 * target's files.
 */
export const REBIND_PERL = String.raw`
my ($pid, $want, $SETNS, $MOUNT, $dir, @files) = @ARGV;
# Our side first: the target's namespace, checked to be the one that was looked at (a PID reused
# meanwhile names another) ...
open(my $m, '<', "/proc/$pid/ns/mnt") or exit 3;
my @ms = stat($m);
exit 3 unless @ms && $ms[1] == $want;
# ... owned by our user namespace (NS_GET_USERNS), never one a user made ...
my $u = ioctl($m, 0xb701, 0);
exit 4 unless defined $u;
my @owner = stat('/proc/self/fd/' . ($u + 0));
my @ours = stat('/proc/self/ns/user');
exit 5 unless @owner && @ours && $owner[0] == $ours[0] && $owner[1] == $ours[1];
# ... and a detached copy of each of our files (open_tree OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC).
my @src;
for my $f (@files) {
  my $p = "$dir/$f";
  my @s = stat($p) or next;
  my $fd = syscall(428, -100, $p, 1 | 0x80000);
  push @src, [$f, $fd, "$s[0]:$s[1]"] if $fd >= 0;
}
syscall($SETNS + 0, fileno($m), 0x20000) == 0 or exit 6;
# Inside now: system calls only. A file that already is ours is left alone; before the first bind
# the namespace becomes a one-way slave (MS_REC|MS_SLAVE on /), so nothing can reach the host's.
my ($slave, @fixed, $empty, $root) = (0);
($empty, $root) = ('', '/');
for my $s (@src) {
  my ($f, $fd, $id) = @$s;
  my $to = "/etc/$f";
  my @t = stat($to);
  next if @t && "$t[0]:$t[1]" eq $id;
  $slave ||= syscall($MOUNT + 0, 0, $root, 0, 0x40000 | 0x4000, 0) == 0 || exit 7;
  # move_mount MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_SYMLINKS: over what /etc/FILE points to, as
  # ip netns exec's own bind does.
  push @fixed, $f if syscall(429, $fd + 0, $empty, -100, $to, 0x4 | 0x10) == 0;
}
print "@fixed\n";
`;

/** The argv that repairs one mount namespace (pure: no lookups). */
export function rebindArgv(perl: string, arch: NodeJS.Architecture, pid: number, mntIno: number, ns: string): string[] | undefined {
  const nr = SYSCALLS[arch];
  if (!nr || !Number.isInteger(pid) || pid <= 0 || !Number.isInteger(mntIno) || mntIno <= 0) return undefined;
  return [perl, '-e', REBIND_PERL, '--', String(pid), String(mntIno), String(nr.setns), String(nr.mount), `${ETC_NETNS}/${ns}`, ...DNS_FILES];
}

export interface Rebound {
  pid: number;
  files: string[];
}

export interface Skipped {
  pid: number;
  /** One sentence for the log. */
  reason: string;
}

export interface SweepResult {
  rebound: Rebound[];
  /** Mount namespaces left alone, each reported once (not on every sweep). */
  skipped: Skipped[];
}

async function mountNsIno(pid: number | 'self'): Promise<number | undefined> {
  const link = await readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
  const m = link && /^mnt:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}

/** A clean environment: nothing of ours (PERL5OPT, PERL5LIB) may steer the helper either. */
const HELPER_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

export class DnsGuard {
  private readonly reported = new Set<string>();
  /**
   * Mount namespaces owned by another user namespace: that never changes, so they are not asked
   * again (a user could otherwise make a root helper run per namespace they make, every sweep).
   * Each is remembered with the process it was seen in (PID and start time) and trusted only while
   * that very process still holds it: the kernel hands a freed namespace's inode number to the next
   * namespace made, often within the same second, so a number alone could make the guard pass over
   * a new, repairable namespace. Forgotten once gone, so the map cannot grow.
   */
  private readonly foreign = new Map<number, ProcId>();
  private perl: string | undefined | null = null;

  constructor(
    private readonly sys: System,
    private readonly names: Pick<Names, 'ns'>,
    private readonly arch: NodeJS.Architecture = process.arch,
  ) {}

  private once(key: string, pid: number, reason: string, out: Skipped[]): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    out.push({ pid, reason });
  }

  /**
   * One pass: every mount namespace in use inside the network namespace (one process each) that is
   * neither ours nor init's gets its DNS files back if it lost them. Processes that share the host's
   * mount namespace are never touched: a bind there would cover the host's own resolv.conf.
   */
  async sweep(): Promise<SweepResult> {
    const out: SweepResult = { rebound: [], skipped: [] };
    if (this.perl === null) this.perl = await findTool('perl', ['/usr/bin', '/bin']);
    const pids = (await this.sys.query(['ip', 'netns', 'pids', this.names.ns], { allowFail: true })).stdout.split(/\s+/).filter(Boolean).map(Number);
    const skip = new Set([await mountNsIno('self'), await mountNsIno(1)]);
    const seen = new Set<number>();
    for (const pid of pids) {
      const mnt = await mountNsIno(pid);
      if (!mnt || skip.has(mnt) || seen.has(mnt)) continue;
      seen.add(mnt);
      const known = this.foreign.get(mnt);
      if (known && stillRunning(known) && (await mountNsIno(known.pid)) === mnt) continue;
      this.foreign.delete(mnt);
      const argv = this.perl ? rebindArgv(this.perl, this.arch, pid, mnt, this.names.ns) : undefined;
      if (!argv) {
        const why = this.perl ? `this architecture (${this.arch}) is not supported` : 'perl (/usr/bin/perl, Debian package perl-base) is not installed';
        this.once('helper', pid, `the DNS files of processes inside are not repaired: ${why}`, out.skipped);
        continue;
      }
      const r = await this.sys.query(argv, { allowFail: true, timeoutMs: 5000, env: HELPER_ENV });
      if (r.code === REBIND_EXIT.foreignUserns) {
        const id = identify(pid);
        if (id) this.foreign.set(mnt, id);
        this.once(`mnt:${mnt}:${id?.start ?? 0}`, pid, 'its mount namespace belongs to a user namespace other than vpnns\'s (made with unshare -U); vpnns never enters one, so its DNS files are not repaired', out.skipped);
        continue;
      }
      if (r.code !== 0 && r.code !== REBIND_EXIT.gone) {
        this.once(`mnt:${mnt}:${r.code}`, pid, `could not repair its DNS files (exit ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').at(-1)}` : ''})`, out.skipped);
        continue;
      }
      const files = r.stdout.trim().split(/\s+/).filter(Boolean);
      if (files.length) out.rebound.push({ pid, files });
    }
    for (const m of this.foreign.keys()) if (!seen.has(m)) this.foreign.delete(m);
    for (const k of this.reported) if (k.startsWith('mnt:') && !seen.has(Number(k.split(':')[1]))) this.reported.delete(k);
    return out;
  }
}

/** Calls `onChange` soon after the host's resolv.conf or nsswitch.conf is replaced. */
export function watchHostDnsFiles(onChange: () => void): () => void {
  const dirs = new Set<string>();
  for (const f of DNS_FILES) {
    const path = `/etc/${f}`;
    dirs.add('/etc');
    try {
      if (existsSync(path)) dirs.add(dirname(realpathSync(path)));
    } catch {
      /* a dangling symlink: /etc is watched anyway */
    }
  }
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  for (const d of dirs) {
    try {
      const w = watch(d, { persistent: false }, () => {
        clearTimeout(timer);
        timer = setTimeout(onChange, 50);
      });
      w.on('error', () => {});
      watchers.push(w);
    } catch {
      /* the periodic sweep still covers it */
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
