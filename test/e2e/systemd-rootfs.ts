// A real systemd for tests: a Debian rootfs made by debootstrap (cached as a tarball outside the
// repository, rebuilt when the package list changes) booted with systemd-nspawn, whose network is
// a namespace of the test world. Commands run inside with `nsenter -t <container init> -a`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, runOk, type RunOptions, type RunResult } from '../../src/world/run.js';

export const SUITE = 'bookworm';
/** What vpnns needs inside (systemd to boot; the tools vpnns drives; curl to test). */
export const ROOTFS_PACKAGES = [
  'systemd', 'systemd-sysv', 'dbus', 'iproute2', 'nftables', 'procps', 'wireguard-tools', 'wireguard-go',
  'dante-server', 'tinyproxy', 'socat', 'curl',
];
export const CACHE_DIR = process.env.VPNNS_TEST_CACHE ?? '/var/cache/vpnns-test';

export function rootfsTarball(): string {
  const key = createHash('sha256').update(`${SUITE} minbase ${ROOTFS_PACKAGES.join(',')}`).digest('hex').slice(0, 12);
  return join(CACHE_DIR, `rootfs-${SUITE}-${key}.tar`);
}

/** The Debian mirror apt uses on this machine (deb822 or one-line sources), else deb.debian.org. */
export function aptMirror(): string {
  const files = ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f))];
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    // deb822 stanzas: the URIs line of a stanza whose suites include the release itself.
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uri && suites.includes(SUITE) && /\/debian\/?$/.test(uri)) return uri.replace(/\/$/, '');
    }
    const line = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+/debian)/?\\s+${SUITE}\\s`, 'm').exec(text);
    if (line) return line[1]!;
  }
  return 'http://deb.debian.org/debian';
}

function listDir(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

export type RootfsResult = { tarball: string; built: boolean } | { skip: string };

/**
 * The cached tarball, built first if missing. Skips only when the mirror cannot be reached at all;
 * any other debootstrap failure is an error.
 */
export async function ensureRootfs(log: (l: string) => void): Promise<RootfsResult> {
  const tarball = rootfsTarball();
  if (existsSync(tarball)) return { tarball, built: false };
  const mirror = aptMirror();
  const probe = await run(['curl', '-sSf', '--max-time', '15', '-o', '/dev/null', `${mirror}/dists/${SUITE}/Release`], { timeoutMs: 30_000 });
  if (probe.code !== 0) return { skip: `the Debian mirror ${mirror} is unreachable (${probe.stderr.trim()}); debootstrap cannot build the test rootfs` };
  mkdirSync(CACHE_DIR, { recursive: true });
  const dir = join(CACHE_DIR, `build-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  log(`building the ${SUITE} rootfs with debootstrap from ${mirror} (about 2 minutes, once)`);
  try {
    await runOk(['debootstrap', '--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, SUITE, dir, mirror], { timeoutMs: 15 * 60_000 });
    // The packages' own daemons would start at boot in the container's network (the world's host).
    for (const unit of ['danted.service', 'tinyproxy.service']) {
      rmSync(join(dir, 'etc/systemd/system', unit), { force: true });
      symlinkSync('/dev/null', join(dir, 'etc/systemd/system', unit));
    }
    rmSync(join(dir, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(join(dir, 'var/cache/apt/archives/partial'), { recursive: true });
    await runOk(['tar', '-C', dir, '-cf', `${tarball}.tmp`, '.'], { timeoutMs: 5 * 60_000 });
    renameSync(`${tarball}.tmp`, tarball);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${tarball}.tmp`, { force: true });
  }
  return { tarball, built: true };
}

export async function extractRootfs(tarball: string, dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await runOk(['tar', '-C', dir, '-xf', tarball], { timeoutMs: 5 * 60_000 });
}

export interface BootOptions {
  root: string;
  /** The network namespace the container uses as its own (e.g. the world's host namespace). */
  netnsPath: string;
  /** Host paths bind-mounted read-only at the same place inside. */
  bindRo: string[];
  logFile: string;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class Container {
  private constructor(
    private readonly nspawn: ChildProcess,
    /** PID (in our namespace) of the container's systemd. */
    readonly leader: number,
    readonly opts: BootOptions,
  ) {}

  /** Boots and waits until systemd inside reports running (or degraded). */
  static async boot(opts: BootOptions): Promise<Container> {
    const out = openSync(opts.logFile, 'a');
    const argv = [
      '--register=no', '--keep-unit', '--quiet', '-D', opts.root, '--boot',
      // Own network = the given namespace; --capability=all lets vpnns create namespaces inside.
      `--network-namespace-path=${opts.netnsPath}`, '--capability=all',
      '--resolv-conf=off', '--timezone=off', '--console=read-only',
      ...opts.bindRo.map((p) => `--bind-ro=${p}`),
    ];
    // /proc/sys stays read-only unless nspawn made the network itself; vpnns sets sysctls in the
    // namespaces it makes (disable_ipv6) and in the container's (ip_forward).
    const env = { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' };
    const child = spawn('systemd-nspawn', argv, { stdio: ['ignore', out, out], env });
    closeSync(out);
    KILL_ON_EXIT.add(child);
    let leader: number | undefined;
    const deadline = Date.now() + 30_000;
    while (!leader) {
      if (child.exitCode !== null) throw new Error(`systemd-nspawn exited (${child.exitCode}); see ${opts.logFile}`);
      if (Date.now() > deadline) throw new Error(`the container did not start; see ${opts.logFile}`);
      leader = childOf(child.pid!, 'systemd');
      if (!leader) await sleep(100);
    }
    const c = new Container(child, leader, opts);
    LEADERS.set(child, leader);
    for (;;) {
      const r = await c.exec(['systemctl', 'is-system-running'], { timeoutMs: 10_000 });
      const state = r.stdout.trim();
      if (state === 'running' || state === 'degraded') break;
      if (Date.now() > deadline) throw new Error(`systemd in the container is "${state}" after 30 s; see ${opts.logFile}`);
      await sleep(200);
    }
    return c;
  }

  exec(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(['nsenter', '-t', String(this.leader), '-a', '--', '/usr/bin/env', '-i', `PATH=${PATH}`, 'LANG=C.UTF-8', ...argv], { timeoutMs: 120_000, ...opts });
  }

  async execOk(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0) throw new Error(`in the container: ${argv.join(' ')} exited ${r.code}\n${r.stdout}${r.stderr}`);
    return r;
  }

  get running(): boolean {
    return this.nspawn.exitCode === null && this.nspawn.signalCode === null;
  }

  /** A clean shutdown (units stop, ExecStop= runs); SIGKILL after `graceMs`. */
  async stop(graceMs = 60_000): Promise<void> {
    if (!this.running) return;
    const exited = new Promise<void>((r) => this.nspawn.once('exit', () => r()));
    // SIGTERM to nspawn makes it ask the container's systemd to power off.
    this.nspawn.kill('SIGTERM');
    const timer = setTimeout(() => killHard(this.nspawn), graceMs);
    await exited;
    clearTimeout(timer);
    KILL_ON_EXIT.delete(this.nspawn);
  }
}

function childOf(pid: number, comm: string): number | undefined {
  for (const task of listDir(`/proc/${pid}/task`)) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const c of children.trim().split(/\s+/).filter(Boolean)) {
      try {
        if (readFileSync(`/proc/${c}/comm`, 'utf8').trim() === comm) return Number(c);
      } catch {
        /* exited */
      }
    }
  }
  return undefined;
}

const KILL_ON_EXIT = new Set<ChildProcess>();
const LEADERS = new Map<ChildProcess, number>();

/** Killing the container's init ends its PID namespace, and with it every process inside. */
function killHard(nspawn: ChildProcess): void {
  const leader = LEADERS.get(nspawn);
  for (const pid of [leader, nspawn.pid]) {
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

process.on('exit', () => {
  for (const c of KILL_ON_EXIT) killHard(c);
});
