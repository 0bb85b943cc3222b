// Keeps the namespace's resolv.conf and nsswitch.conf in front of every process inside.
//
// `ip netns exec` (and systemd's BindReadOnlyPaths=) bind-mount /etc/netns/<ns>/resolv.conf over
// /etc/resolv.conf in each process's private mount namespace. When the host then replaces its
// resolv.conf by rename — NetworkManager, systemd-resolved, resolvconf and dhclient all do, on every
// network change — the kernel silently detaches that bind mount in every other mount namespace, and
// a long-running program inside (code-server, danted) starts reading the host's resolvers. The guard
// notices (a watch on the host file's directory, and a sweep every health interval) and binds the
// files back in each affected mount namespace.
import { readlink } from 'node:fs/promises';
import { existsSync, realpathSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { System } from '../sys/system.js';
import type { Names } from '../plan/names.js';
import { DNS_FILES } from './dns-files.js';

/**
 * Runs inside one process's mount namespace: for each file of ours that /etc does not show, make
 * propagation one-way (never back to the host) and bind it again. Fixed text; the namespace name
 * comes in as $1.
 */
export const REBIND_SCRIPT = `ns=$1; fixed=
for f in ${DNS_FILES.join(' ')}; do
  src=/etc/netns/$ns/$f
  [ -e "$src" ] || continue
  [ "$(stat -L -c %d:%i "/etc/$f" 2>/dev/null)" = "$(stat -L -c %d:%i "$src")" ] && continue
  mount --make-rslave / 2>/dev/null
  mount --bind "$src" "/etc/$f" && fixed="$fixed $f"
done
echo $fixed`;

export interface Rebound {
  pid: number;
  files: string[];
}

async function mountNs(pid: number | 'self'): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
}

/**
 * One pass: every mount namespace in use inside the network namespace (one process each) that is
 * neither ours nor init's gets its DNS files back if it lost them. Processes that share the host's
 * mount namespace are never touched: a bind there would cover the host's own resolv.conf.
 */
export async function guardDnsFiles(sys: System, names: Pick<Names, 'ns'>): Promise<Rebound[]> {
  const pids = (await sys.query(['ip', 'netns', 'pids', names.ns], { allowFail: true })).stdout.split(/\s+/).filter(Boolean).map(Number);
  const skip = new Set([await mountNs('self'), await mountNs(1)]);
  const seen = new Set<string>();
  const out: Rebound[] = [];
  for (const pid of pids) {
    const mnt = await mountNs(pid);
    if (!mnt || skip.has(mnt) || seen.has(mnt)) continue;
    seen.add(mnt);
    const r = await sys.query(['nsenter', '-t', String(pid), '-m', '--', '/bin/sh', '-c', REBIND_SCRIPT, 'sh', names.ns], { allowFail: true, timeoutMs: 5000 });
    const files = r.stdout.trim().split(/\s+/).filter(Boolean);
    if (files.length) out.push({ pid, files });
  }
  return out;
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
