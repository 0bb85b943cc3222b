// Runs vpnns the way a user would — the real CLI, as root — inside the simulated world's "host"
// namespace, and removes everything it made even when a test fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { supervisorPidsOf } from '../../src/supervisor/resource.js';
import { createWorld, type World, type WorldOptions } from '../../src/world/world.js';
import type { RunOptions, RunResult } from '../../src/world/run.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = join(REPO, 'bin', 'vpnns');
export const RUN_DIR = '/run/vpnns';

let unprivCopy: string | undefined;

/**
 * bin/vpnns for an unprivileged user (uid 65534). A checkout in a directory only root may enter
 * (/root, a 0700 CI workspace) is unreadable to it, so it gets a copy of what the CLI needs, in a
 * world-readable temporary directory removed at exit.
 */
export function unprivilegedBin(): string {
  const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', join(REPO, 'dist', 'src', 'cli', 'main.js')]);
  if (probe.status === 0) return BIN;
  if (unprivCopy) return join(unprivCopy, 'bin', 'vpnns');
  const dir = mkdtempSync('/tmp/vpnns-unpriv-');
  for (const part of ['bin', 'dist/src', 'libexec', 'package.json', 'node_modules/yaml']) {
    cpSync(join(REPO, part), join(dir, part), { recursive: true });
  }
  spawnSync('chmod', ['-R', 'a+rX', dir]);
  unprivCopy = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'bin', 'vpnns');
}

export interface Harness {
  world: World;
  /** The VPN namespace vpnns makes (unique per run). */
  ns: string;
  /** Writes a config (merged over the harness defaults) and returns its path. */
  config(extra?: Record<string, unknown>, file?: string): string;
  /** `vpnns ARGS` in the host namespace. */
  vpnns(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** `vpnns ARGS` with TOOL hidden (/dev/null bound over it in a private mount namespace): "not installed". */
  vpnnsWithout(tool: string, args: string[]): Promise<RunResult>;
  /** A command inside the VPN namespace (ip netns exec: its resolv.conf applies). */
  inVpn(argv: string[], opts?: RunOptions): Promise<RunResult>;
  cleanup(): Promise<void>;
}

export async function startHarness(opts: WorldOptions = {}, nsSuffix = 'v'): Promise<Harness> {
  const world = await createWorld(opts);
  const ns = `${world.prefix}-${nsSuffix}`;
  world.adoptNamespace(ns);
  const base = {
    namespace: ns,
    logDir: join(world.dir, 'vpnns-log'),
    // hostDns: the host's measurements resolve with the world's ISP resolver, never this machine's.
    check: { echoUrl: [`http://${world.names.echo}/`], hostDns: [world.addr.ispResolver] },
  };
  let lastConfig = '';
  const h: Harness = {
    world,
    ns,
    config(extra = {}, file = join(world.dir, 'vpnns.yaml')) {
      const merged = { ...base, ...extra };
      writeFileSync(file, stringify(merged), { mode: 0o600 });
      lastConfig = file;
      return file;
    },
    vpnns(args, o = {}) {
      return world.inHost([process.execPath, BIN, ...args], { timeoutMs: 120_000, ...o });
    },
    vpnnsWithout(tool, args) {
      // The tool's name is an argument of the script, never part of it.
      const hide = 'tool=$1; shift; for d in /usr/sbin /sbin /usr/bin /bin /usr/local/sbin /usr/local/bin; do [ -e "$d/$tool" ] && [ ! -L "$d/$tool" ] && mount --bind /dev/null "$d/$tool"; done; exec "$@"';
      return world.inHost(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', hide, 'sh', tool, process.execPath, BIN, ...args], { timeoutMs: 120_000 });
    },
    inVpn(argv, o = {}) {
      return world.inNs(ns, argv, { timeoutMs: 60_000, ...o });
    },
    async cleanup() {
      try {
        if (lastConfig) await h.vpnns(['down', '--config', lastConfig], { timeoutMs: 60_000 });
      } catch {
        /* fall through to the hard cleanup */
      }
      killSupervisors(ns);
      removeRunState(ns, world.ns.host);
      await world.destroy();
      sweepStaleRunState();
    },
  };
  return h;
}

/** Supervisors run detached, outside the world's PID list: find them by their argv. */
export function killSupervisors(ns: string): void {
  for (const pid of supervisorPidsOf(ns)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

/** Network namespace inodes that exist now (named ones and every process's). */
function liveNetnsInodes(): Set<number> {
  const out = new Set<number>();
  const add = (p: string) => {
    try {
      out.add(statSync(p).ino);
    } catch {
      /* gone */
    }
  };
  for (const n of readdirSync('/run/netns', { withFileTypes: true })) add(`/run/netns/${n.name}`);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) add(`/proc/${pid}/ns/net`);
  return out;
}

/**
 * State a crashed test run left in /run/vpnns: records of ip_forward and host locks for host
 * namespaces that no longer exist, and state of test namespaces (prefix vt) that are gone.
 */
export function sweepStaleRunState(): void {
  let entries: string[];
  try {
    entries = readdirSync(RUN_DIR);
  } catch {
    return;
  }
  const live = liveNetnsInodes();
  for (const e of entries) {
    // The host lock of a host namespace that is gone (a SIGKILLed `up` leaves it behind).
    const m = /^(?:ip_forward\.net_(\d+)\.orig|\.host\.net_(\d+)\.lock)$/.exec(e);
    if (m && !live.has(Number(m[1] ?? m[2]))) rmSync(join(RUN_DIR, e), { force: true });
    const t = /^(v[td][0-9a-f]{4}-[a-z0-9-]+?)(\.lock)?$/.exec(e);
    if (t && !existsSync(`/run/netns/${t[1]}`)) rmSync(join(RUN_DIR, e), { recursive: true, force: true });
  }
}

function removeRunState(ns: string, hostNs: string): void {
  rmSync(join(RUN_DIR, ns), { recursive: true, force: true });
  rmSync(join(RUN_DIR, `${ns}.lock`), { force: true });
  try {
    const ino = statSync(`/run/netns/${hostNs}`).ino;
    rmSync(join(RUN_DIR, `ip_forward.net_${ino}.orig`), { force: true });
    rmSync(join(RUN_DIR, `.host.net_${ino}.lock`), { force: true });
  } catch {
    /* the host namespace is gone already; its inode cannot be looked up */
  }
}

/** Everything a vpnns namespace may leave behind, for "down leaves nothing" assertions. */
export async function leftovers(h: Harness): Promise<string[]> {
  const { world, ns } = h;
  const found: string[] = [];
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (netns.split('\n').some((l) => l.split(' ')[0] === ns)) found.push(`namespace ${ns}`);
  const links = (await world.inHost(['ip', '-o', 'link', 'show'])).stdout;
  for (const l of links.split('\n')) if (/: (vh-|vn-|vt-)/.test(l)) found.push(`link ${l.split(': ')[1]}`);
  const tables = (await world.inHost(['nft', 'list', 'tables'])).stdout.trim();
  if (tables.includes('vpnns')) found.push(`nft: ${tables}`);
  const rules = (await world.inHost(['nft', 'list', 'ruleset'])).stdout;
  if (rules.includes(`vpnns:${ns}`)) found.push('tagged rules in other tables');
  for (const p of [`/etc/netns/${ns}`, join(RUN_DIR, ns)]) {
    try {
      statSync(p);
      found.push(p);
    } catch {
      /* gone, good */
    }
  }
  for (const pid of supervisorPidsOf(ns)) found.push(`supervisor pid ${pid}`);
  return found;
}

export function lines(s: string): string[] {
  return s.split('\n').filter(Boolean);
}
