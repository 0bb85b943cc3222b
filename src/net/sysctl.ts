import type { Resource } from '../core/resource.js';
import { RUN_DIR } from '../core/names.js';
import { allStates } from '../core/state.js';
import { readText } from '../sys/system.js';

/** The command, run inside the namespace, that turns IPv6 off there (the three settings; idempotent). */
export function ipv6OffArgv(): string[] {
  return ['sysctl', '-q', '-w', ...['all', 'default', 'lo'].map((k) => `net.ipv6.conf.${k}.disable_ipv6=1`)];
}

/** IPv6 off inside the namespace when the config says so: a v4-only tunnel plus v6 would leak (FACTS). */
export const nsIpv6Resource: Resource = {
  id: 'ns-ipv6',
  title: 'IPv6 disabled inside',
  async check({ sys, names, freshNamespace, ipv6OffAtCreation }) {
    // Made by this run with these settings written by the batch that made it (see namespace.ts): in
    // place, no process to ask.
    if (ipv6OffAtCreation) return true;
    // Made by this run otherwise: at the kernel's defaults, and writing the three values again is
    // the same one process start as reading two (the write is idempotent).
    if (freshNamespace) return false;
    // Both in one `sysctl -n` (one line each, in order).
    const r = await sys.query(['ip', 'netns', 'exec', names.ns, 'sysctl', '-n', 'net.ipv6.conf.all.disable_ipv6', 'net.ipv6.conf.default.disable_ipv6'], { allowFail: true });
    return r.code === 0 && r.stdout.trim().split('\n').map((l) => l.trim()).join(',') === '1,1';
  },
  async apply({ sys, names }) {
    await sys.change(['ip', 'netns', 'exec', names.ns, ...ipv6OffArgv()]);
  },
  async remove() {
    return false; // goes away with the namespace
  },
};

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/**
 * IPv4 forwarding on the host. It is machine-wide (per host namespace), so vpnns records the value it
 * found in a file shared by all vpnns namespaces of that host namespace and restores it only when the
 * last of them goes down.
 */
export const hostForwardingResource: Resource = {
  id: 'host-ip-forward',
  title: 'IPv4 forwarding on the host',
  // Restored from vpnns's own record of the value it found, by whichever namespace goes down last.
  selfTracked: true,
  async check() {
    return (await readText(IP_FORWARD))?.trim() === '1';
  },
  async apply(ctx) {
    const { sys, state } = ctx;
    const before = (await readText(IP_FORWARD))?.trim() ?? '0';
    const record = forwardRecordPath(state.hostNetns);
    if (before !== '1' && !(await readText(record))) {
      await sys.writeFile(record, `${before}\n`, { mode: 0o644 });
    }
    // The file itself (no `sysctl` process): vpnns runs in the host's network namespace.
    await sys.writeFile(IP_FORWARD, '1\n', { kernelSetting: true });
  },
  async remove({ sys, state, names }) {
    const record = forwardRecordPath(state.hostNetns);
    const original = (await readText(record))?.trim();
    if (original === undefined) return false;
    const others = (await allStates()).filter((s) => s.namespace !== names.ns && s.hostNetns === state.hostNetns);
    if (others.length) return false;
    if (!/^[01]$/.test(original)) throw new Error(`refusing ${JSON.stringify(original)} from ${record} as net.ipv4.ip_forward`);
    await sys.writeFile(IP_FORWARD, `${original}\n`, { kernelSetting: true });
    await sys.remove(record);
    return true;
  },
};

/** Where `up` keeps the host's ip_forward as it found it, for the last `down` in that host namespace. */
export function forwardRecordPath(hostNetns: string): string {
  return `${RUN_DIR}/ip_forward.${hostNetns.replace(/[^\w.-]/g, '_')}.orig`;
}
