// Parse the client config, resolve the server's name on the host and render the files the client
// runs with — all before the kill switch closes the namespace.
import type { Context, Resource } from '../core/resource.js';
import { providerFor } from './registry.js';
import type { PreparedVpn, VpnContext } from './provider.js';
import { logDirFor } from '../core/log.js';
import { hasSender } from '../firewall/killswitch.js';
import type { ClientTraffic } from '../core/client-traffic.js';
import { clientCgroup, removeClientCgroup } from '../sys/client-cgroup.js';

export function vpnDir(ctx: Pick<Context, 'names'>): string {
  return `${ctx.names.stateDir}/vpn`;
}

export function vpnContext(ctx: Pick<Context, 'sys' | 'cfg' | 'names'>, log: VpnContext['log'] = () => {}): VpnContext {
  return { sys: ctx.sys, cfg: ctx.cfg, names: ctx.names, dir: vpnDir(ctx), logDir: logDirFor(ctx.cfg), log };
}

export const vpnPrepareResource: Resource = {
  id: 'vpn-prepare',
  title: 'VPN client files',
  async check(ctx) {
    // State from before the kill switch matched the client by sender: prepare again (the client's
    // files gain its mark) rather than keep letting anyone inside reach the endpoint.
    const traffic = (ctx.state.runtime.clientTraffic as ClientTraffic[] | undefined) ?? [];
    return ctx.state.runtime.vpn !== undefined && traffic.every(hasSender) && (await ctx.sys.exists(vpnDir(ctx)));
  },
  async apply(ctx) {
    const provider = providerFor(ctx.cfg.vpn);
    await ctx.sys.mkdir(vpnDir(ctx), 0o700);
    const prepared: PreparedVpn = await provider.prepare(vpnContext(ctx));
    for (const w of prepared.warnings) ctx.say(`warning: ${w}`);
    ctx.state.runtime.vpn = prepared;
    ctx.state.runtime.clientTraffic = prepared.clientTraffic;
    ctx.state.runtime.tunnel = prepared.tunnel;
    await ctx.saveState();
  },
  async remove(ctx) {
    // Whatever is left in the client's cgroup (a service the client forked out of the supervisor's
    // reach, through sudo, in its own session) ends here, with the cgroup.
    const cg = clientCgroup(ctx.names.ns);
    const cgRemoved = cg ? await removeClientCgroup(ctx.sys, cg) : false;
    if (!(await ctx.sys.exists(vpnDir(ctx)))) return cgRemoved;
    await ctx.sys.remove(vpnDir(ctx));
    return true;
  },
};
