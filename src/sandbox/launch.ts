// How a program is started inside the namespace as the user, so that nothing the user, the config
// or the caller's environment controls reaches a root process (pure: renders argv and environment).
//
//   ip netns exec NS                       root, clean environment (PATH, LANG only)
//     perl -e SANDBOX_SCRIPT UID GID ...   root, clean: covers the hidden channels (channels.ts)
//       runuser -u USER                    root, clean: drops privileges, sets HOME/USER/LOGNAME
//         perl -e ENV_SCRIPT fd:3          the USER: reads the program's environment, execs CMD
//           CMD                            the USER, with the caller's and the app's environment
//
// The program's environment travels on file descriptor 3 (NUL-separated KEY=VALUE), or in a 0600
// file the user owns (systemd units), never on argv (which every local user can read) and never in
// a root helper's environment: LD_PRELOAD, LD_LIBRARY_PATH, NODE_OPTIONS, GCONV_PATH and the like
// would make `ip`, `mount` or `runuser` load the user's code as root. Each helper execs the next
// (runuser forks once, for PAM, and forwards signals), so signals, the terminal and the exit code
// reach CMD as before.
//
// Both scripts are fixed text, never built from input; their arguments are data.
import type { Hide } from './channels.js';

import { helperEnv } from './clean-env.js';

export { helperEnv };

export const PERL = '/usr/bin/perl';
export const RUNUSER = '/usr/sbin/runuser';
export const IP = '/usr/sbin/ip';

/**
 * The covering of the hidden channels, one text in SANDBOX_SCRIPT and ENTER_SCRIPT (composed here,
 * so ENTER_SCRIPT still loads no Perl module): reads the `KIND:PATH` arguments up to `--`, shifts
 * the `--`, binds the kept paths back, then enters a Landlock domain of the launch's own. Each
 * script defines before it `fail($message)`, `cover_at($kind, $sock, $at)` and
 * `bind_at($from, $to)`, the mounts themselves (mount(8), or mount(2) in ENTER_SCRIPT), true when
 * they worked; `$uid` and `$gid` are the user's.
 */
const COVER_CHANNELS = String.raw`my ($O_PATH, $O_NOFOLLOW, $O_DIRECTORY, $O_RDONLY) = (0x200000, 0x20000, 0x10000, 0);
my @keep;
sub cover { my ($kind, $p) = @_;
  if ($kind eq 'keep') { my $kh; sysopen($kh, $p, $O_PATH | $O_NOFOLLOW) or return; my @ks = stat($kh) or return; push(@keep, [$p, $kh, -d _ ? 1 : 0]) if $ks[4] == $uid && (-S _ || -d _); return }
  my $sock = $kind eq 'socket' || $kind eq 'ownsocket';
  my $fh; sysopen($fh, $p, $O_PATH | $O_NOFOLLOW | ($sock ? 0 : $O_DIRECTORY)) or return;
  my @st = stat($fh) or return;
  if ($sock) { return unless -S _ && ($kind eq 'socket' || $st[4] == $uid) } elsif ($kind eq 'own') { return unless $st[4] == $uid } else { return unless $st[4] == 0 || $st[4] == $uid }
  unless (cover_at($kind, $sock, "/proc/$$/fd/" . fileno($fh))) { print STDERR "vpnns: cannot hide $p in the sandbox; set sandbox options to allow it, or check that mount works\n"; exit 126 }
}
# A star in any component matches names in that directory (~/.ssh/*/* too).
sub expand { my ($p) = @_;
  return ($p) unless $p =~ m{^(.*)/([^/]*\*[^/]*)\z};
  my ($d, $pat) = ($1, quotemeta($2)); $pat =~ s/\\\*/.*/g;
  my @out;
  for my $dd (expand($d)) { my $dh; opendir($dh, $dd) or next; push(@out, map { "$dd/$_" } grep { $_ ne '.' && $_ ne '..' && /\A$pat\z/s } readdir($dh)); closedir($dh) }
  return @out;
}
while (@ARGV && $ARGV[0] ne '--') {
  my ($kind, $p) = split(/:/, shift(@ARGV), 2);
  if ($kind eq 'mkdir') {
    if (mkdir($p, 0700)) { my $d; if (sysopen($d, $p, $O_RDONLY | $O_NOFOLLOW | $O_DIRECTORY)) { chown($uid, $gid, $d); close($d) } }
    $kind = 'own';
  }
  cover($kind, $_) for expand($p);
}
shift(@ARGV);
# Each kept path back in its place in the fresh directory (no program of the user's runs in this mount namespace yet).
for my $k (@keep) { my ($p, $src, $isdir) = @$k;
  my @parts = split(m{/}, $p); my $at = '';
  for my $i (1 .. $#parts - 1) { $at .= "/$parts[$i]"; next if -d $at && ! -l $at; mkdir($at, 0700) && chown($uid, $gid, $at) or fail("cannot make $at in the sandbox: $!") }
  if ($isdir) { mkdir($p, 0700) or fail("cannot make $p in the sandbox: $!") } else { my $t; sysopen($t, $p, 0x1 | 0x40 | 0x80 | $O_NOFOLLOW, 0600) or fail("cannot make $p in the sandbox: $!"); close($t) }
  my $dst; sysopen($dst, $p, $O_PATH | $O_NOFOLLOW) or fail("cannot open $p in the sandbox: $!");
  bind_at("/proc/$$/fd/" . fileno($src), "/proc/$$/fd/" . fileno($dst)) or fail("cannot keep $p in the sandbox: $!");
}
# Landlock scope (Linux 6.12+, ABI 6): a domain of this launch's own, entered while still root (no
# no_new_privs, so sudo inside keeps working). Nothing in it may ptrace, read /proc/PID/root,
# environ or mem of, take fds from, or signal a process outside it: the user's own processes
# outside have the same uid, and /proc/PID/root of one is the host's file system, every covered
# socket included. No file access is restricted. The numbers are the same on every architecture.
my $llabi = syscall(444, 0, 0, 1);
if ($llabi >= 6) {
  my $llattr = pack('QQQ', 0, 0, 2);
  my $llfd = syscall(444, $llattr, 24, 0);
  $llfd >= 0 or fail("cannot make a Landlock ruleset: $!");
  syscall(446, $llfd + 0, 0) == 0 or fail("cannot enter a Landlock domain: $!");
  { my $llfh; close($llfh) if open($llfh, '<&=', $llfd) }
}
`;

/** Sets the environment read from `$fh` (NUL-separated KEY=VALUE) and closes it: ENV_SCRIPT's and ENTER_SCRIPT's last step. */
const READ_ENV = String.raw`{ local $/ = "\0"; while (my $r = <$fh>) { chomp($r); my ($k, $v) = split(/=/, $r, 2); $ENV{$k} = $v if defined($v) && length($k) } }
close($fh);
`;

/** Closes every descriptor above 2: ENV_SCRIPT's and ENTER_SCRIPT's step before the exec. */
const CLOSE_FDS = String.raw`# Nothing but stdin, stdout and stderr reaches the program: a descriptor the caller left open (a
# socket of a program outside, a file) would be a channel no cover sees. close_range (Linux 5.9+,
# the same number everywhere), else one by one.
if (syscall(436, 3, 0xffffffff, 0) != 0) { require POSIX; my $fdd; if (opendir($fdd, '/proc/self/fd')) { my @fds = grep { /\A\d+\z/ && $_ > 2 } readdir($fdd); closedir($fdd); POSIX::close($_) for @fds } }
`;

/** Execs the rest of argv (each script's end). */
const EXEC_REST = String.raw`exec { $ARGV[0] } @ARGV or do { print STDERR "vpnns: cannot run $ARGV[0]: $!\n"; exit 127 };
`;

/**
 * Runs as root in the new mount namespace: covers each hidden path, then execs the rest of argv.
 * Each path is opened with O_PATH|O_NOFOLLOW and the mount goes onto /proc/PID/fd/N, so a symlink
 * swapped in between the check and the mount cannot point the tmpfs elsewhere; a directory is
 * covered only if root or the user owns it, a socket path only if it is a socket. Missing paths
 * are nothing to hide. `own:` (and `mkdir:`, which makes it first) covers only a directory the
 * user owns, with a tmpfs that is theirs: nothing they could not already write there; `ownsocket:`
 * only a socket the user owns.
 * A mount that fails stops the launch (exit 126): never run half-hidden.
 */
export const SANDBOX_SCRIPT = String.raw`use strict; use warnings;
my ($uid, $gid) = (shift(@ARGV), shift(@ARGV));
die "vpnns: bad uid/gid\n" unless $uid =~ /\A\d+\z/ && $gid =~ /\A\d+\z/;
sub fail { print STDERR "vpnns: $_[0]\n"; exit 126 }
sub cover_at { my ($kind, $sock, $at) = @_;
  my @how = $sock ? ('--bind', '/dev/null', $at)
    : $kind eq 'own' ? ('-t', 'tmpfs', '-o', "nosuid,nodev,noexec,mode=0700,uid=$uid,gid=$gid,size=16m", 'vpnns-private', $at)
    : ('-t', 'tmpfs', '-o', 'ro,nosuid,nodev,noexec,mode=0755,size=4k', 'vpnns-hidden', $at);
  return system('/usr/bin/mount', '--no-canonicalize', @how) == 0;
}
sub bind_at { my ($from, $to) = @_; return system('/usr/bin/mount', '--no-canonicalize', '--bind', $from, $to) == 0 }
${COVER_CHANNELS}${EXEC_REST}`;

/** Runs as the user: sets the environment read from `fd:N` or a file, then execs the rest of argv. */
export const ENV_SCRIPT = String.raw`use strict; use warnings;
my $from = shift(@ARGV); shift(@ARGV) if @ARGV && $ARGV[0] eq '--';
my $fh;
if ($from =~ /\Afd:(\d+)\z/) { open($fh, '<&=', $1) or do { print STDERR "vpnns: no environment on fd $1: $!\n"; exit 126 } }
else { open($fh, '<', $from) or do { print STDERR "vpnns: cannot read the environment file $from: $!\n"; exit 126 } }
${READ_ENV}${CLOSE_FDS}${EXEC_REST}`;

export interface LaunchUser {
  name: string;
  uid: number;
  gid: number;
}

export interface LaunchInput {
  /** Network namespace to enter; none: already inside (a systemd unit). */
  ns?: string;
  /** Drop to this user (root: no drop). */
  user: LaunchUser;
  hide: readonly Hide[];
  cmd: readonly string[];
  /** Where ENV_SCRIPT reads the program's environment: the default `fd:3`, or a file's path. */
  envFrom?: string;
}

/** Variables runuser sets for the user itself: the caller's values never win over them. */
export const SET_BY_RUNUSER = ['HOME', 'USER', 'LOGNAME'];

/** The argv of a launch: every element a fixed string or data, never a shell command. */
export function launchArgv(o: LaunchInput): string[] {
  let argv = [PERL, '-e', ENV_SCRIPT, '--', o.envFrom ?? 'fd:3', '--', ...o.cmd];
  if (o.user.uid !== 0) argv = [RUNUSER, '-u', o.user.name, '--', ...argv];
  if (o.hide.length || o.user.uid !== 0) argv = [PERL, '-e', SANDBOX_SCRIPT, '--', String(o.user.uid), String(o.user.gid), ...hideArgs(o.hide), '--', ...argv];
  if (o.ns) argv = [IP, 'netns', 'exec', o.ns, ...argv];
  return argv;
}

export function hideArgs(hide: readonly Hide[]): string[] {
  return hide.map((h) => `${h.kind === 'keep' ? 'keep' : h.kind === 'socket' ? (h.private ? 'ownsocket' : 'socket') : h.create ? 'mkdir' : h.private ? 'own' : 'dir'}:${h.path}`);
}

/**
 * The program's environment: `base` (the caller's) without the variables of hidden channels, then
 * `extra` (the app's). For a non-root user, HOME/USER/LOGNAME are runuser's.
 */
export function programEnv(base: Readonly<Record<string, string | undefined>>, extra: Readonly<Record<string, string>>, unset: readonly string[], user: LaunchUser): Record<string, string> {
  const drop = new Set([...unset, ...(user.uid !== 0 ? SET_BY_RUNUSER : [])]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !drop.has(k)) out[k] = v;
  for (const [k, v] of Object.entries(extra)) if (!(user.uid !== 0 && SET_BY_RUNUSER.includes(k))) out[k] = v;
  return out;
}

/** NUL-separated KEY=VALUE, what ENV_SCRIPT reads (a value can hold anything but NUL). */
export function encodeEnv(env: Readonly<Record<string, string>>): Buffer {
  return Buffer.from(Object.entries(env).filter(([k, v]) => k && !k.includes('=') && !k.includes('\0') && !v.includes('\0')).map(([k, v]) => `${k}=${v}\0`).join(''));
}

/**
 * System call numbers ENTER_SCRIPT needs, per architecture (Perl has no setns, unshare, mount or
 * setgroups of its own). An architecture not listed launches through the chain of launchArgv.
 */
export const ENTER_SYSCALLS: Partial<Record<NodeJS.Architecture, readonly number[]>> = {
  //     setns unshare mount umount2 setgroups setresgid setresuid
  x64: [308, 272, 165, 166, 116, 119, 117],
  arm64: [268, 97, 40, 39, 159, 149, 147],
};

/**
 * One root process instead of `ip netns exec` + SANDBOX_SCRIPT + runuser + ENV_SCRIPT (each a
 * process start; runuser with PAM alone costs more than the rest): it does what each of them does,
 * in the same order, with system calls.
 *   1. ip netns exec: setns into /run/netns/NS, a private mount namespace whose / is a slave (no
 *      mount of ours reaches the host), /sys mounted again for NS, each file of /etc/netns/NS bound
 *      over its /etc twin (a failed bind is reported and skipped, as ip does).
 *   2. SANDBOX_SCRIPT: each hidden channel covered, the same checks, mount(2) instead of mount(8);
 *      a cover that fails stops the launch (exit 126): never run half-hidden.
 *   3. runuser -u USER: the user's groups (every group that lists the user, plus their own),
 *      setresgid, setresuid, checked; HOME, USER, LOGNAME and SHELL from the user's passwd entry.
 *      No PAM session: runuser's stack here (keyinit, limits, unix) opens nothing the program uses.
 *   4. ENV_SCRIPT: only now, as the user, the program's environment is read from fd 3 and set.
 * The process started with the helpers' clean environment (PATH, LANG), so nothing of the caller's
 * reaches it while it is root. Fixed text; its arguments are data: the syscall numbers, NS, the
 * user's name, uid and gid, the paths to hide, `--`, the program and its arguments.
 */
export const ENTER_SCRIPT = String.raw`# No module loaded (not even strict or warnings: loading warnings.pm doubles perl's start); written strict-clean.
my ($SETNS, $UNSHARE, $MOUNT, $UMOUNT2, $SETGROUPS, $SETRESGID, $SETRESUID) = map { $_ + 0 } splice(@ARGV, 0, 7);
my ($ns, $name, $uid, $gid) = splice(@ARGV, 0, 4);
sub fail { print STDERR "vpnns: $_[0]\n"; exit 126 }
# Perl passes a string argument of syscall as a pointer it may write through: copies, never literals; 0 is NULL.
sub mnt { my ($src, $to, $type, $flags, $data) = @_; return syscall($MOUNT, $src, $to, $type, $flags + 0, $data) }
fail("bad namespace name") unless defined($ns) && $ns =~ /\A[A-Za-z0-9][A-Za-z0-9_.-]*\z/;
fail("bad uid/gid") unless defined($gid) && $uid =~ /\A\d+\z/ && $gid =~ /\A\d+\z/;
my @pw;
if ($uid != 0) { @pw = getpwnam($name); fail("user $name does not exist") unless @pw && $pw[2] == $uid && $pw[3] == $gid }
open(my $nsfh, '<', "/run/netns/$ns") or fail("cannot open network namespace $ns: $!");
syscall($SETNS, fileno($nsfh), 0x40000000) == 0 or fail("cannot enter network namespace $ns: $!");
close($nsfh);
syscall($UNSHARE, 0x20000) == 0 or fail("cannot make a mount namespace: $!");
mnt(0, '/', 0, 0x80000 | 0x4000, 0) == 0 or fail("cannot make / a slave mount: $!");
my $ro = 0;
if (open(my $mf, '<', '/proc/self/mounts')) { while (my $l = <$mf>) { my @f = split(' ', $l); $ro = ($f[3] =~ /(?:\A|,)ro(?:,|\z)/) ? 1 : 0 if @f > 3 && $f[1] eq '/sys' } close($mf) }
my $sys = '/sys';
syscall($UMOUNT2, $sys, 2);
mnt($ns, '/sys', 'sysfs', $ro, 0) == 0 or fail("cannot mount /sys for $ns: $!");
my $etc = "/etc/netns/$ns";
if (opendir(my $dh, $etc)) {
  for my $e (sort grep { $_ ne '.' && $_ ne '..' } readdir($dh)) {
    mnt("$etc/$e", "/etc/$e", 'none', 0x1000, 0) == 0 or print STDERR "Bind $etc/$e -> /etc/$e failed: $!\n";
  }
  closedir($dh);
}
sub cover_at { my ($kind, $sock, $at) = @_;
  my $r = $sock ? mnt('/dev/null', $at, 0, 0x1000, 0)
    : $kind eq 'own' ? mnt('vpnns-private', $at, 'tmpfs', 2 | 4 | 8, "mode=0700,uid=$uid,gid=$gid,size=16m")
    : mnt('vpnns-hidden', $at, 'tmpfs', 1 | 2 | 4 | 8, 'mode=0755,size=4k');
  return $r == 0;
}
sub bind_at { my ($from, $to) = @_; return mnt($from, $to, 0, 0x1000, 0) == 0 }
${COVER_CHANNELS}if ($uid != 0) {
  my %g = ($gid => 1);
  while (my @gr = getgrent()) { $g{$gr[2]} = 1 if grep { $_ eq $name } split(' ', $gr[3] // '') }
  endgrent();
  my @groups = sort { $a <=> $b } keys %g;
  my $list = pack('L*', @groups);
  syscall($SETGROUPS, scalar(@groups) + 0, $list) == 0 or fail("cannot set the groups of $name: $!");
  syscall($SETRESGID, $gid + 0, $gid + 0, $gid + 0) == 0 or fail("cannot set the group of $name: $!");
  syscall($SETRESUID, $uid + 0, $uid + 0, $uid + 0) == 0 or fail("cannot become $name: $!");
  fail("still privileged after the drop to $name") unless $< == $uid && $> == $uid && (split(' ', $())[0] == $gid && (split(' ', $)))[0] == $gid;
  @ENV{'HOME', 'USER', 'LOGNAME'} = ($pw[7], $pw[0], $pw[0]);
  $ENV{SHELL} = $pw[8] if defined($pw[8]) && length($pw[8]);
}
my $fh;
open($fh, '<&=', 3) or do { print STDERR "vpnns: no environment on fd 3: $!\n"; exit 126 };
${READ_ENV}${CLOSE_FDS}${EXEC_REST}`;

/**
 * The argv of a launch into namespace `ns` through ENTER_SCRIPT (one process before the program),
 * or undefined on an architecture whose system call numbers are not known here (launchArgv then).
 */
export function enterArgv(o: LaunchInput & { ns: string }, arch: NodeJS.Architecture = process.arch): string[] | undefined {
  const nr = ENTER_SYSCALLS[arch];
  if (!nr || o.envFrom !== undefined) return undefined;
  return [PERL, '-e', ENTER_SCRIPT, '--', ...nr.map(String), o.ns, o.user.name, String(o.user.uid), String(o.user.gid), ...hideArgs(o.hide), '--', ...o.cmd];
}
