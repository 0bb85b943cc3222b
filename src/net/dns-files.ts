// /etc/netns/<ns>/resolv.conf and nsswitch.conf: `ip netns exec` bind-mounts them over the host's,
// so lookups inside use the namespace's resolvers and never the host's systemd-resolved.
import { readdir } from 'node:fs/promises';
import type { Resource } from '../core/resource.js';
import { readText } from '../sys/system.js';
import { readStatus } from '../core/status.js';

export const DEFAULT_DNS = ['1.1.1.1'];

/** The files under /etc/netns/<ns>/ that `ip netns exec` puts over the host's. */
export const DNS_FILES = ['resolv.conf', 'nsswitch.conf'] as const;

export function renderResolvConf(servers: readonly string[], source: string): string {
  const lines = [`# Written by vpnns (${source}); lookups inside the namespace go only here.`];
  // glibc reads at most three nameserver lines.
  for (const s of servers.slice(0, 3)) lines.push(`nameserver ${s}`);
  // Fail fast rather than hang when the tunnel is down: the kill switch rejects at once.
  lines.push('options timeout:2 attempts:2');
  return lines.join('\n') + '\n';
}

/**
 * The host's nsswitch.conf with the `hosts:` line replaced by `files dns`: modules such as
 * `resolve` (systemd-resolved over D-Bus), `mdns` and `myhostname` would answer from outside the
 * namespace or leak names on the LAN.
 */
export function renderNsswitch(hostNsswitch: string | undefined): string {
  const base = hostNsswitch ?? 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n';
  let seen = false;
  const out = base.split('\n').map((line) => {
    if (/^\s*hosts\s*:/.test(line)) {
      seen = true;
      return 'hosts: files dns';
    }
    return line;
  });
  if (!seen) out.splice(out.length - (out.at(-1) === '' ? 1 : 0), 0, 'hosts: files dns');
  const text = out.join('\n');
  return `# Written by vpnns from the host's nsswitch.conf; hosts: only files and dns inside the namespace.\n${text.endsWith('\n') ? text : text + '\n'}`;
}

/** The namespace's resolvers: the config wins, then what the VPN supplied, then a public default. */
export function effectiveDns(cfgDns: readonly string[] | undefined, vpnDns: readonly string[] | undefined): { servers: string[]; source: string } {
  if (cfgDns?.length) return { servers: [...cfgDns], source: 'dns in the config' };
  if (vpnDns?.length) return { servers: [...vpnDns], source: 'DNS supplied by the VPN' };
  return { servers: [...DEFAULT_DNS], source: 'default resolver' };
}

async function desiredResolv(ctx: Parameters<Resource['check']>[0]): Promise<string> {
  // What the running VPN supplied, as the supervisor recorded it; before it runs, what the config file gives.
  const vpnDns = (await readStatus(ctx.names))?.vpnDns ?? (ctx.state.runtime.vpn as { dns?: string[] } | undefined)?.dns;
  const { servers, source } = effectiveDns(ctx.cfg.dns, vpnDns);
  return renderResolvConf(servers, source);
}

export const dnsFilesResource: Resource = {
  id: 'netns-dns-files',
  title: 'namespace resolv.conf and nsswitch.conf',
  async check(ctx) {
    const dir = ctx.names.etcDir;
    return (
      (await ctx.sys.readText(`${dir}/resolv.conf`)) === (await desiredResolv(ctx)) &&
      (await ctx.sys.readText(`${dir}/nsswitch.conf`)) === renderNsswitch(await ctx.sys.readText('/etc/nsswitch.conf'))
    );
  },
  async apply(ctx) {
    const dir = ctx.names.etcDir;
    await ctx.sys.writeFile(`${dir}/resolv.conf`, await desiredResolv(ctx), { inPlace: true });
    await ctx.sys.writeFile(`${dir}/nsswitch.conf`, renderNsswitch(await ctx.sys.readText('/etc/nsswitch.conf')));
  },
  async remove({ sys, names }) {
    // Only the files vpnns wrote (its header): a file someone put there, or rewrote since, stays,
    // and so does the directory with whatever else is in it.
    let removed = false;
    for (const f of DNS_FILES) {
      const path = `${names.etcDir}/${f}`;
      if (!writtenByVpnns(await sys.readText(path))) continue;
      await sys.remove(path);
      removed = true;
    }
    if (!sys.dryRun && (await isEmptyDir(names.etcDir))) await sys.remove(names.etcDir);
    return removed;
  },
  async foreign({ sys, names }) {
    // A file with vpnns's header is a leftover of vpnns's own (a reboot clears /run/vpnns, not
    // /etc/netns): rewriting it takes nothing from anyone.
    for (const f of DNS_FILES) {
      const path = `${names.etcDir}/${f}`;
      const text = await sys.readText(path);
      if (text !== undefined && !writtenByVpnns(text)) return { what: path, fix: 'move it away if nothing needs it' };
    }
    return undefined;
  },
};

const HEADER = '# Written by vpnns';

/** Every file vpnns writes under /etc/netns/<ns>/ starts with this header (renderResolvConf, renderNsswitch). */
export function writtenByVpnns(text: string | undefined): boolean {
  return text !== undefined && text.startsWith(HEADER);
}

async function isEmptyDir(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch {
    return false;
  }
}

/** Rewrite the namespace resolv.conf at run time (the VPN pushed its DNS). */
export async function writeNamespaceResolv(sys: import('../sys/system.js').System, etcDir: string, servers: readonly string[], source: string): Promise<void> {
  await sys.writeFile(`${etcDir}/resolv.conf`, renderResolvConf(servers, source), { inPlace: true });
}
