// `vpnns list`: every namespace vpnns runs here, one line each; --json for scripts.
import type { Command } from './command.js';
import { listNamespaces, type ListedNamespace } from '../report/list.js';
import { parseHostPort } from '../config/net-utils.js';

function pubText(p: ListedNamespace['published'][number]): string {
  const t = parseHostPort(p.target);
  const port = t.ok ? t.port : p.target;
  return `${p.listen}->${port}${p.via === 'kernel' ? ' (kernel)' : ''}`;
}

export function renderList(list: readonly ListedNamespace[]): string {
  if (!list.length) return 'no namespaces';
  const rows = list.map((n) => [
    n.namespace,
    n.state,
    n.vpn,
    n.egress ?? '-',
    n.apps.map((a) => `${a.name} (${a.state})`).join(', ') || '-',
    n.published.map(pubText).join(', ') || '-',
  ]);
  const head = ['NAMESPACE', 'STATE', 'VPN', 'EGRESS', 'APPS', 'PUBLISHED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** The --json document: stable field names (see usage). */
export function listJson(list: readonly ListedNamespace[]): string {
  return JSON.stringify({ namespaces: list }, null, 2);
}

export const listCommand: Command = {
  name: 'list',
  dryRun: true,
  usage: `vpnns list [--json]

Every namespace vpnns runs on this machine: its state, VPN provider, the VPN's egress address (the
supervisor's last probe), apps and published ports. Works without root: it reads only the
world-readable files under /run/vpnns, which hold no secret and not the host's own address.

STATE: running (VPN connected), starting, vpn-down, failed (the first connection failed),
supervisor-dead, up (no supervisor: nothing to supervise, or systemd runs the parts), down (its
files are left but the namespace is gone: \`sudo vpnns down\` with its config removes them).
--json: {"namespaces": [{"namespace", "state", "vpn", "egress"?, "egressProbedAt"?,
"apps": [{"name", "state"}], "published": [{"listen", "target", "via", "origin"}], "supervisorPid"?}]}
Exit code 0, also when there are none ("no namespaces").`,
  options: { json: {} },
  async run(args, io) {
    const list = await listNamespaces();
    io.out(args.opts.json === true ? listJson(list) : renderList(list));
    return 0;
  },
};
