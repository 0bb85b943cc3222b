import type { Resource } from '../core/resource.js';
import { UsageError } from '../errors.js';
import { hasAddr, linkAddress, linkExists, listAddrs, listRoutes } from './ip.js';
import { vethMac } from './mac.js';

/** The veth pair joining host and namespace, its two addresses, and the namespace's default route. */
export const vethResource: Resource = {
  id: 'veth',
  title: 'veth pair',
  // `ip link add` fails on a host end of that name that appeared since `up` looked, and apply then
  // refuses in foreign's sentence: no look again before it is recorded. (A host link named like the
  // namespace end that appears meanwhile is not in the way of anything vpnns does: that end is made
  // inside the namespace, and `remove` deletes only a host end with vpnns's MAC.)
  madeExclusively: true,
  async check({ sys, names, freshNamespace }) {
    // Its namespace end cannot be in a namespace made by this run.
    if (freshNamespace) return false;
    const host = await listAddrs(sys, undefined, names.vethHost);
    // No host end (a fresh `up`): nothing to look at inside.
    if (!hasAddr(host, names.hostAddr, names.prefix) || !host[0]?.flags?.includes('UP')) return false;
    const inner = await listAddrs(sys, names.ns, names.vethNs);
    if (!hasAddr(inner, names.nsAddr, names.prefix) || !inner[0]?.flags?.includes('UP')) return false;
    const routes = await listRoutes(sys, names.ns);
    return routes.some((r) => r.dst === 'default' && r.gateway === names.hostAddr);
  },
  async apply({ sys, names, freshNamespace }) {
    const { ns, vethHost, vethNs, hostAddr, nsAddr, prefix } = names;
    // One `ip -batch` per side (each process start is time on the way to the first byte); a batch
    // stops at its first failing line and fails the step, as the single commands did.
    const host: string[] = [];
    // A veth dies with its namespace: with the namespace made by this run, no host end of ours can
    // be there, and `ip link add` itself fails on any other of that name (looked at then, below).
    const mac = freshNamespace ? undefined : await linkAddress(sys, vethHost);
    // A host end without vpnns's MAC appeared after `up` looked: someone else's, not to be taken over.
    if (mac !== undefined && mac !== vethMac(ns, 'host')) throw foreignHostEnd(vethHost);
    if (mac === undefined) {
      // Stable MACs: the same after down/up and after a reboot (see mac.ts).
      host.push(`link add ${vethHost} address ${vethMac(ns, 'host')} type veth peer name ${vethNs} address ${vethMac(ns, 'ns')} netns ${ns}`);
    }
    host.push(`addr replace ${hostAddr}/${prefix} dev ${vethHost}`, `link set ${vethHost} up`);
    try {
      await sys.change(['ip', '-batch', '-'], { input: `${host.join('\n')}\n` });
    } catch (e) {
      // The add failed on a host end of someone else's that appeared meanwhile: the same sentence.
      if (mac === undefined && !sys.dryRun) {
        const now = await linkAddress(sys, vethHost);
        if (now !== undefined && now !== vethMac(ns, 'host')) throw foreignHostEnd(vethHost);
      }
      throw e;
    }
    const inner = [`addr replace ${nsAddr}/${prefix} dev ${vethNs}`, `link set ${vethNs} up`, `route replace default via ${hostAddr} dev ${vethNs}`];
    await sys.change(['ip', '-n', ns, '-batch', '-'], { input: `${inner.join('\n')}\n` });
  },
  async remove({ sys, names }) {
    // Deleting one end deletes both; the namespace end also goes with the namespace. A link of this
    // name without vpnns's MAC (see mac.ts) is someone else's, made after ours was gone: left alone.
    if ((await linkAddress(sys, names.vethHost)) !== vethMac(names.ns, 'host')) return false;
    await sys.change(['ip', 'link', 'del', names.vethHost], { allowFail: true });
    return true;
  },
  async foreign({ sys, names, hostLinks }) {
    // Either name on the host side is in the way: the host end would clash, and a host link named
    // like the namespace end is someone's who expects vpnns to leave it alone.
    // Both asked at once (read-only), or read from the links `up` listed; the host end named first
    // when both are there.
    const devs = [names.vethHost, names.vethNs];
    const listed = hostLinks && (await hostLinks);
    const there = listed ? devs.map((dev) => listed.includes(dev)) : await Promise.all(devs.map((dev) => linkExists(sys, dev)));
    const dev = devs.find((_, i) => there[i]);
    return dev === undefined ? undefined : { what: `interface ${dev}`, fix: `remove it with \`ip link del ${dev}\` if nothing needs it` };
  },
};

function foreignHostEnd(vethHost: string): UsageError {
  return new UsageError(`interface ${vethHost} already exists and vpnns did not make it; remove it with \`ip link del ${vethHost}\` if nothing needs it, or choose another \`namespace\` in the config.`);
}
