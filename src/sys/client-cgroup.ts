// The VPN client's own cgroup (v2). A client that re-executes itself through sudo or forks a
// service that changes its group (AdGuard VPN CLI does both) no longer has the group vpnns gave it,
// but it cannot leave its cgroup: children inherit it, and moving a process needs write access to
// root's cgroup.procs files. So the kill switch recognises the client's sockets by cgroup
// (nft `socket cgroupv2`), and `down` ends everything in it, a daemonised service included.
import { readFileSync, statSync } from 'node:fs';
import type { System } from './system.js';
import { sleep } from './process.js';

/** Where nft looks up `socket cgroupv2` paths (it prepends this; nftables' SYSFS_CGROUPSV2_PATH). */
export const NFT_CGROUP_BASE = '/sys/fs/cgroup';

export interface ClientCgroup {
  /** The cgroup directory. */
  dir: string;
  /** The path as nft's `socket cgroupv2` takes it: relative to /sys/fs/cgroup. */
  nftPath: string;
  /** Its depth in the cgroup v2 hierarchy (the root is 0), for `socket cgroupv2 level N`. */
  level: number;
}

/** The cgroup2 mount (unified: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified) and its root, from mountinfo. */
export function cgroup2Mount(mountinfo?: string): { point: string; root: string } | undefined {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post || post.split(' ')[0] !== 'cgroup2') continue;
    const f = pre.split(' ');
    const root = unescape(f[3] ?? '');
    const point = unescape(f[4] ?? '');
    // nft resolves its paths under /sys/fs/cgroup only: another mount point cannot be named in a rule.
    if (point === NFT_CGROUP_BASE || point.startsWith(`${NFT_CGROUP_BASE}/`)) return { point, root };
  }
  return undefined;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/**
 * The client cgroup of namespace NS, or undefined where cgroup v2 is missing (the kill switch then
 * falls back to the group match). NS is a checked namespace name ([a-z0-9-]).
 */
export function clientCgroup(ns: string, mountinfo?: string): ClientCgroup | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(ns)) throw new Error(`refusing ${JSON.stringify(ns)} as a cgroup name`);
  const m = cgroup2Mount(mountinfo);
  if (!m) return undefined;
  const rel = ['vpnns', `${ns}-vpn`];
  const dir = `${m.point}/${rel.join('/')}`;
  const base = m.point.slice(NFT_CGROUP_BASE.length).replace(/^\//, '');
  const rootDepth = m.root === '/' ? 0 : m.root.split('/').filter(Boolean).length;
  return { dir, nftPath: [base, ...rel].filter(Boolean).join('/'), level: rootDepth + rel.length };
}

/** The cgroup's id as nft lists it when it cannot resolve the path (`ip netns exec` hides /sys/fs/cgroup): its inode. */
export function cgroupId(cg: ClientCgroup): number | undefined {
  try {
    return statSync(cg.dir).ino;
  } catch {
    return undefined;
  }
}

export async function ensureClientCgroup(sys: System, cg: ClientCgroup): Promise<void> {
  // Under the VPN unit only the cgroup itself is writable (ProtectControlGroups=): never mkdir what is there.
  try {
    if (statSync(cg.dir).isDirectory()) return;
  } catch {
    /* missing: made below */
  }
  await sys.mkdir(cg.dir, 0o755);
}

/** PIDs in the cgroup (empty when it does not exist). */
export function cgroupPids(cg: ClientCgroup): number[] {
  try {
    return readFileSync(`${cg.dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function cgroupPopulated(cg: ClientCgroup): boolean {
  try {
    return /^populated 1$/m.test(readFileSync(`${cg.dir}/cgroup.events`, 'utf8'));
  } catch {
    return false;
  }
}

/** SIGKILL everything in the cgroup (cgroup.kill, else one by one) and wait until it is empty. */
export async function killCgroup(sys: System, cg: ClientCgroup, waitMs = 5000): Promise<boolean> {
  if (!cgroupPopulated(cg)) return false;
  if (sys.dryRun) {
    sys.actions.push(`write 1 > ${cg.dir}/cgroup.kill`);
    return true;
  }
  // cgroup.kill (Linux 5.14): one write ends every process in it, also one forking meanwhile.
  const r = await sys.change(['/bin/sh', '-c', 'echo 1 > "$1"', 'vpnns-cgroup-kill', `${cg.dir}/cgroup.kill`], { allowFail: true });
  if (r.code !== 0) {
    for (const pid of cgroupPids(cg)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  for (const until = Date.now() + waitMs; cgroupPopulated(cg) && Date.now() < until; ) await sleep(50);
  return true;
}

/** Ends what is left in the cgroup and removes it. */
export async function removeClientCgroup(sys: System, cg: ClientCgroup): Promise<boolean> {
  const killed = await killCgroup(sys, cg);
  let existed = false;
  try {
    statSync(cg.dir);
    existed = true;
  } catch {
    /* never made */
  }
  if (!existed) return killed;
  await sys.change(['rmdir', cg.dir], { allowFail: true });
  // The shared parent goes when it is empty (another namespace's client keeps it).
  await sys.change(['rmdir', cg.dir.slice(0, cg.dir.lastIndexOf('/'))], { allowFail: true });
  return true;
}

/** Sends one UDP datagram to 127.0.0.1:9 (a constant script; node is what runs vpnns, so it is there). */
const PROBE_JS = "const s=require('dgram').createSocket('udp4');s.send(Buffer.from('vpnns'),9,'127.0.0.1',()=>s.close())";
const MAX_PROBE_LEVEL = 16;

/**
 * The cgroup's level as the kernel counts it, which `socket cgroupv2 level N` compares: in a
 * container with its own cgroup namespace the tree vpnns sees starts deeper than the real root, so
 * the depth from the mount is not it. One packet from inside the cgroup, sent in namespace NS
 * through a throwaway table with a counter per level, tells. Undefined when the probe saw nothing.
 */
export async function probeCgroupLevel(sys: System, cg: ClientCgroup, ns: string): Promise<number | undefined> {
  if (sys.dryRun) return undefined;
  const table = 'vpnns_cgroup_probe';
  const rules = Array.from({ length: MAX_PROBE_LEVEL }, (_, i) => `\t\tsocket cgroupv2 level ${i + 1} "${cg.nftPath}" counter comment "level ${i + 1}"\n`).join('');
  const enter = ['nsenter', `--net=/run/netns/${ns}`, '--'];
  const load = await sys.change([...enter, 'nft', '-f', '-'], {
    allowFail: true,
    input: `table inet ${table} {\n\tchain output {\n\t\ttype filter hook output priority -300; policy accept;\n${rules}\t}\n}\n`,
  });
  if (load.code !== 0) return undefined;
  try {
    await sys.query(['ip', '-n', ns, 'link', 'set', 'lo', 'up'], { allowFail: true });
    await sys.query(['/bin/sh', '-c', 'echo $$ > "$1" && shift && exec "$@"', 'vpnns-cgroup', `${cg.dir}/cgroup.procs`, ...enter, process.execPath, '-e', PROBE_JS], {
      allowFail: true,
      timeoutMs: 10_000,
    });
    const listed = await sys.query([...enter, 'nft', 'list', 'table', 'inet', table], { allowFail: true });
    const hit = /level (\d+) "[^"]*" counter packets [1-9]/.exec(listed.stdout) ?? /level (\d+) \S+ counter packets [1-9]/.exec(listed.stdout);
    return hit ? Number(hit[1]) : undefined;
  } finally {
    await sys.change([...enter, 'nft', 'delete', 'table', 'inet', table], { allowFail: true });
  }
}
