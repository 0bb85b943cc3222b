// Cheap looks at a named network namespace without spawning `ip` (vpnns exec's hot path): the
// namespace's file under /run/netns, and the links a process inside it sees in /proc/PID/net/dev.
import { readFileSync, statSync } from 'node:fs';

/** Where `ip netns add` puts a named namespace (iproute2's NETNS_RUN_DIR); `ip netns list` lists this directory. */
export const NETNS_DIR = '/run/netns';

/** The identity (device, inode) of the namespace file, undefined when it is not there. */
function nsIdentity(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** Whether `ip netns list` would list NS (its file exists). */
export function netnsNamed(ns: string): boolean {
  return nsIdentity(`${NETNS_DIR}/${ns}`) !== undefined;
}

/**
 * Whether LINK exists in namespace NS, seen through a process that is in NS: PID's namespace is
 * checked to be NS's own (same nsfs inode) before and after /proc/PID/net/dev is read, so a PID
 * that exited or was reused elsewhere proves nothing. undefined: no PID could tell (ask `ip`).
 */
export function linkInNetns(ns: string, link: string, pids: Iterable<number>): boolean | undefined {
  return linkSeenFrom(`${NETNS_DIR}/${ns}`, link, pids);
}

/** linkInNetns for the namespace whose nsfs file is `nsFile` (tests use /proc/self/ns/net). */
export function linkSeenFrom(nsFile: string, link: string, pids: Iterable<number>): boolean | undefined {
  const want = nsIdentity(nsFile);
  if (want === undefined) return undefined;
  for (const pid of pids) {
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const nsPath = `/proc/${pid}/ns/net`;
    if (nsIdentity(nsPath) !== want) continue;
    let dev: string;
    try {
      dev = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
    } catch {
      continue;
    }
    if (nsIdentity(nsPath) !== want) continue;
    return linksOfNetDev(dev).includes(link);
  }
  return undefined;
}

/** The link names in a /proc/PID/net/dev text: two header lines, then "  NAME: counters..." per link. */
export function linksOfNetDev(text: string): string[] {
  return text.split('\n').slice(2).flatMap((l) => {
    const i = l.indexOf(':');
    return i > 0 ? [l.slice(0, i).trim()] : [];
  });
}
