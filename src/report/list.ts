// Every namespace vpnns runs on this machine, from the world-readable files under /run/vpnns
// (summary.json from `up`, status.json from the supervisor, published.json from `publish add`), so
// `vpnns list` works without root and shows as root exactly what it shows to anyone.
//
// Only root can write under /run/vpnns, but the reader is strict anyway: a directory entry counts
// only when its name passes the one namespace-name rule and it is a real directory (never through a
// symlink), each file is opened relative to that directory with O_NOFOLLOW, must be a regular root-
// owned file of bounded size, and every value is checked before it is shown (addresses parsed, states
// from a fixed set, names by their rules): nothing from a file reaches the terminal unchecked.
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { RUN_DIR, isNamespaceName } from '../core/names.js';
import { publication } from '../services/publish.js';
import { ADDED_ORIGIN } from '../services/added-publications.js';
import { formatHostPort, isIP, isIPv4, parseHostPort } from '../config/net-utils.js';
import { asProcId, stillRunning } from '../sys/proc-identity.js';
import { isAlive } from '../sys/process.js';
import type { PublishConfig } from '../config/types.js';

/** Stable values of `state` (documented in `vpnns list --help`). */
export type ListState = 'running' | 'starting' | 'vpn-down' | 'failed' | 'supervisor-dead' | 'up' | 'down';

export interface ListedNamespace {
  namespace: string;
  state: ListState;
  /** The VPN provider (vpn.type), or "unknown" when `up` wrote no summary (an older vpnns). */
  vpn: string;
  /** The VPN's egress address from the supervisor's last probe (never the host's). */
  egress?: string;
  egressProbedAt?: string;
  apps: Array<{ name: string; state: string }>;
  published: Array<{ listen: string; target: string; via: string; origin: string }>;
  supervisorPid?: number;
}

export interface ListOptions {
  runDir?: string;
  netnsDir?: string;
  /** Owner every directory and file must have (root; tests: themselves). */
  trustedUid?: number;
  /** Is the process with this PID (and start time, when recorded) alive? */
  alive?: (pid: number, start: number | undefined) => boolean;
}

const MAX_FILE = 1 << 20;
const VPN_TYPES = new Set(['none', 'wireguard', 'openvpn', 'adguard', 'command']);
const COMPONENT_STATES = new Set(['starting', 'running', 'backoff', 'failed', 'stopped', 'waiting']);
const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
const ORIGIN = /^[A-Za-z0-9_.[\]`-][A-Za-z0-9_.[\] `-]{0,63}$/;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

const defaultAlive = (pid: number, start: number | undefined) => (start === undefined ? isAlive(pid) : stillRunning({ pid, start }));

/** A directory fd-relative read: the file itself must not be a link, nor anything but a small regular file of `uid`'s. */
async function readJsonAt(dirFd: number, name: string, uid: number): Promise<unknown> {
  let fh;
  try {
    fh = await open(`/proc/self/fd/${dirFd}/${name}`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.uid !== uid || st.size > MAX_FILE || (st.mode & 0o022) !== 0) return undefined;
    return JSON.parse(await fh.readFile('utf8')) as unknown;
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}

const obj = (x: unknown): Record<string, unknown> | undefined => (x && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined);

/** "ADDR:PORT" as vpnns formats it, re-formatted from its parsed parts; anything else is dropped. */
function hostPort(x: unknown): string | undefined {
  if (typeof x !== 'string' || x.length > 64) return undefined;
  const hp = parseHostPort(x);
  return hp.ok && isIP(hp.host) ? formatHostPort(hp) : undefined;
}

function publishedFrom(summary: Record<string, unknown> | undefined, added: unknown): ListedNamespace['published'] {
  const out: ListedNamespace['published'] = [];
  const push = (p: unknown) => {
    const o = obj(p);
    const listen = hostPort(o?.listen);
    const target = hostPort(o?.target);
    const via = o?.via === 'kernel' || o?.via === 'forwarder' || o?.via === 'relay' ? o.via : undefined;
    const origin = typeof o?.origin === 'string' && ORIGIN.test(o.origin) ? o.origin : undefined;
    if (listen && target && via && origin) out.push({ listen, target, via, origin });
  };
  if (Array.isArray(summary?.published)) summary.published.forEach(push);
  const nsAddr = typeof summary?.nsAddr === 'string' && isIPv4(summary.nsAddr) ? summary.nsAddr : undefined;
  if (nsAddr && Array.isArray(added)) {
    for (const a of added) {
      try {
        const p = publication(a as PublishConfig, { nsAddr }, ADDED_ORIGIN);
        push({ listen: formatHostPort(p.listen), target: formatHostPort(p.target), via: p.via, origin: p.origin });
      } catch {
        /* not a publication */
      }
    }
  }
  return out;
}

/** One namespace from its files; `netnsUp`: /run/netns/<ns> exists. */
export function describeNamespace(
  ns: string,
  files: { summary?: unknown; status?: unknown; added?: unknown },
  netnsUp: boolean,
  alive: (pid: number, start: number | undefined) => boolean = defaultAlive,
): ListedNamespace {
  const summary = obj(files.summary);
  const status = obj(files.status);
  const vpnType = obj(summary?.vpn)?.type;
  const vpn = typeof vpnType === 'string' && VPN_TYPES.has(vpnType) ? vpnType : 'unknown';
  const components = obj(status?.components) ?? {};
  const compState = (name: string): string | undefined => {
    const s = obj(components[name])?.state;
    return typeof s === 'string' && COMPONENT_STATES.has(s) ? s : undefined;
  };
  const apps = (Array.isArray(summary?.apps) ? summary.apps : [])
    .filter((a): a is string => typeof a === 'string' && APP_NAME.test(a))
    .map((name) => ({ name, state: compState(`app-${name}`) ?? 'stopped' }));
  const out: ListedNamespace = { namespace: ns, state: 'down', vpn, apps, published: publishedFrom(summary, files.added) };

  const id = status ? asProcId(status.pid, status.pidStart) : undefined;
  const pid = typeof status?.pid === 'number' && Number.isInteger(status.pid) && status.pid > 0 ? status.pid : undefined;
  if (pid) out.supervisorPid = pid;
  const d = obj(obj(components.vpn)?.detail);
  if (d && typeof d.egressIp === 'string' && isIP(d.egressIp) && d.probeError === undefined) {
    out.egress = d.egressIp;
    if (typeof d.probedAt === 'string' && ISO_TIME.test(d.probedAt)) out.egressProbedAt = d.probedAt;
  }
  if (!netnsUp) {
    // What the namespace's files said is history now.
    delete out.egress;
    delete out.egressProbedAt;
    out.apps = out.apps.map((a) => ({ ...a, state: 'stopped' }));
    return out;
  }
  if (!pid) {
    out.state = 'up'; // no supervisor: nothing to supervise, or the systemd units run the parts
    return out;
  }
  if (!alive(pid, id?.start)) {
    out.state = typeof status?.fatal === 'string' ? 'failed' : 'supervisor-dead';
    return out;
  }
  if (vpn === 'none') {
    out.state = 'running';
    return out;
  }
  const v = compState('vpn');
  const connected = d?.connected !== false;
  out.state = v === 'running' && connected ? 'running' : v === undefined || v === 'starting' || v === 'waiting' ? 'starting' : 'vpn-down';
  if (out.state !== 'running') {
    // An address measured while the tunnel worked says nothing now.
    delete out.egress;
    delete out.egressProbedAt;
  }
  return out;
}

/** Every namespace under the run directory, by name; entries that are not one are skipped, unread. */
export async function listNamespaces(o: ListOptions = {}): Promise<ListedNamespace[]> {
  const runDir = o.runDir ?? RUN_DIR;
  const netnsDir = o.netnsDir ?? '/run/netns';
  const uid = o.trustedUid ?? 0;
  try {
    const st = await lstat(runDir);
    // Not a directory only its owner (root) may change: nothing in it can be taken as vpnns's.
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return [];
  } catch {
    return [];
  }
  const entries = await readdir(runDir, { withFileTypes: true }).catch(() => []);
  const out: ListedNamespace[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    // d_type: a symlink is never isDirectory(), so none is followed.
    if (!isNamespaceName(e.name) || !e.isDirectory()) continue;
    let dir;
    try {
      dir = await open(`${runDir}/${e.name}`, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch {
      continue;
    }
    try {
      const st = await dir.stat();
      if (st.uid !== uid || (st.mode & 0o022) !== 0) continue;
      const files = {
        summary: await readJsonAt(dir.fd, 'summary.json', uid),
        status: await readJsonAt(dir.fd, 'status.json', uid),
        added: await readJsonAt(dir.fd, 'published.json', uid),
      };
      const netnsUp = await lstat(`${netnsDir}/${e.name}`).then(
        () => true,
        () => false,
      );
      out.push(describeNamespace(e.name, files, netnsUp, o.alive));
    } finally {
      await dir.close();
    }
  }
  return out;
}
