// The host side: NAT for the namespace's subnet and forwarding rules for its veth, in a table of
// vpnns's own so it never edits anyone else's rules.
import type { Resource } from '../plan/resource.js';
import type { Names } from '../plan/names.js';
import { deleteTable, loadTable, tableExists, q } from './nft.js';

export function renderHostTable(n: Pick<Names, 'hostTable' | 'vethHost' | 'nsAddr' | 'subnet'>): string {
  const veth = q(n.vethHost);
  return `table inet ${n.hostTable} {
	chain forward {
		type filter hook forward priority filter - 5; policy accept;
		iifname ${veth} ip saddr ${n.nsAddr} accept comment "out of the namespace"
		iifname ${veth} drop comment "spoofed source from the namespace"
		oifname ${veth} ct state established,related accept comment "replies into the namespace"
		oifname ${veth} drop comment "nobody but the host itself opens connections into the namespace"
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr ${n.subnet} oifname != ${veth} masquerade
	}
}
`;
}

export const hostTableResource: Resource = {
  id: 'host-nft',
  title: 'host NAT and forwarding (nftables)',
  async check({ sys, names }) {
    // Content drift is repaired by the next `up`, which reloads atomically; presence is what we check.
    return tableExists(sys, 'inet', names.hostTable);
  },
  async apply({ sys, names }) {
    await loadTable(sys, 'inet', names.hostTable, renderHostTable(names));
  },
  async remove({ sys, names }) {
    return deleteTable(sys, 'inet', names.hostTable);
  },
};
