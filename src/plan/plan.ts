// The ordered list of resources for a config. `up` applies it in order, `down` removes in reverse.
import type { Config } from '../config/types.js';
import type { Resource } from '../core/resource.js';
import { namespaceResource } from '../net/namespace.js';
import { nsIpv6Resource, hostForwardingResource } from '../net/sysctl.js';
import { vethResource } from '../net/veth.js';
import { allowRoutesResource } from '../net/allow-routes.js';
import { nmUnmanagedResource } from '../net/network-manager.js';
import { summaryResource } from './summary.js';
import { dnsFilesResource } from '../net/dns-files.js';
import { killSwitchResource } from '../firewall/killswitch.js';
import { hostTableResource } from '../firewall/host-table.js';
import { forwardCompatResource } from '../firewall/forward-compat.js';
import { vpnPrepareResource } from '../vpn/prepare-resource.js';
import { supervisorResource, needsSupervisor } from '../supervisor/resource.js';

export function planResources(cfg: Config): Resource[] {
  const plan: Resource[] = [namespaceResource];
  if (!cfg.network.ipv6) plan.push(nsIpv6Resource);
  if (cfg.vpn.type !== 'none') {
    plan.push(vpnPrepareResource);
    // Loaded before the namespace gets a route out, and before the client starts.
    if (cfg.killSwitch) plan.push(killSwitchResource);
  }
  // Before the veth exists, so a running NetworkManager never takes it (a no-op without NetworkManager).
  plan.push(nmUnmanagedResource, vethResource);
  // After the veth (its routing table points at the host's end); always planned, so removing the
  // last exception from the config removes its rule on the next `up`.
  plan.push(allowRoutesResource);
  plan.push(dnsFilesResource, hostForwardingResource, hostTableResource, forwardCompatResource, summaryResource);
  if (needsSupervisor(cfg)) plan.push(supervisorResource);
  return plan;
}

/** Everything vpnns can ever make, in `up` order: `down` walks it backwards whatever the config. */
export const ALL_RESOURCES: readonly Resource[] = [
  namespaceResource,
  nsIpv6Resource,
  vpnPrepareResource,
  killSwitchResource,
  nmUnmanagedResource,
  vethResource,
  allowRoutesResource,
  dnsFilesResource,
  hostForwardingResource,
  hostTableResource,
  forwardCompatResource,
  summaryResource,
  supervisorResource,
];
