// Any other client: a start command that creates `interface` inside the namespace and stays in the
// foreground. It runs as root with vpnns's client group (it is the user's own program: vpnns cannot
// make it set a mark), and its packets pass the kill switch by uid 0 and that group, AND the exact
// endpoint when given.
import type { VpnCommand } from '../config/types.js';
import { VpnnsError } from '../errors.js';
import { startProcess, sleep, type Running } from '../sys/process.js';
import { parseEndpointSpec, resolveEndpoints, formatHostPort } from './endpoint.js';
import type { VpnProvider, VpnSession, VpnStatus } from './provider.js';
import { CLIENT_GID } from './provider.js';
import { tunnelGone, linkBytes } from './tunnel.js';

export const commandProvider: VpnProvider = {
  tools: () => [],

  async prepare(ctx) {
    const vpn = ctx.cfg.vpn as VpnCommand;
    const specs = (vpn.endpoints ?? []).map((e, i) => parseEndpointSpec(e, `vpn.endpoints[${i}]`));
    const endpoints = specs.length ? await resolveEndpoints(specs, { resolveWith: vpn.resolveWith, ipv6: ctx.cfg.network.ipv6 }) : [];
    return {
      type: 'command',
      clientTraffic: endpoints.length
        ? endpoints.map((e) => ({ kind: 'endpoint' as const, ip: e.ip, port: e.port, proto: e.proto, sender: { gid: CLIENT_GID } }))
        : [{ kind: 'gid' as const, gid: CLIENT_GID }],
      dns: vpn.dns,
      tunnel: vpn.interface,
      info: { endpoints: endpoints.map((e) => `${formatHostPort(e.ip, e.port)}/${e.proto}`), command: vpn.start.join(' ') },
      warnings: [],
    };
  },

  async start(ctx, prepared) {
    const vpn = ctx.cfg.vpn as VpnCommand;
    const proc: Running = startProcess(
      { name: 'vpn', netns: ctx.names.ns, gid: CLIENT_GID, argv: vpn.start },
      { logFile: `${ctx.logDir}/vpn-command.log` },
    );
    let exit: { code: number | null } | undefined;
    void proc.exited.then((r) => (exit = r));
    const deadline = Date.now() + vpn.connectTimeout * 1000;
    const up = async () => {
      const r = await ctx.sys.query(['ip', '-n', ctx.names.ns, '-json', 'link', 'show', vpn.interface], { allowFail: true });
      return r.code === 0 && !(JSON.parse(r.stdout) as Array<{ flags?: string[] }>)[0]?.flags?.includes('NO-CARRIER');
    };
    while (Date.now() < deadline) {
      if (await up()) break;
      // A client that daemonizes exits 0 and leaves its interface behind; that is fine.
      if (exit && exit.code !== 0) break;
      await sleep(100);
    }
    if (!(await up())) {
      await proc.stop(2000);
      if (vpn.stop) await ctx.sys.change(['ip', 'netns', 'exec', ctx.names.ns, ...vpn.stop], { allowFail: true });
      throw new VpnnsError(
        exit
          ? `the VPN command exited (code ${exit.code}) without creating ${vpn.interface}; see ${ctx.logDir}/vpn-command.log.`
          : `the VPN command did not create ${vpn.interface} within ${vpn.connectTimeout} s; check vpn.interface and the command.`,
      );
    }
    const gone = tunnelGone(ctx, vpn.interface);
    const session: VpnSession = {
      process: proc,
      ended: exit ? gone : Promise.race([gone, proc.exited.then((r) => (r.code === 0 ? gone : `the VPN command exited (code ${r.code})`))]),
      tunnel: vpn.interface,
      stop: async () => {
        if (vpn.stop) await ctx.sys.change(['ip', 'netns', 'exec', ctx.names.ns, ...vpn.stop], { allowFail: true, timeoutMs: 15_000 });
        await proc.stop(3000);
      },
    };
    return session;
  },

  async status(ctx, prepared): Promise<VpnStatus> {
    const dev = prepared.tunnel;
    const r = await ctx.sys.query(['ip', '-n', ctx.names.ns, 'link', 'show', dev], { allowFail: true });
    const bytes = await linkBytes(ctx, dev);
    return { connected: r.code === 0, tunnel: dev, rxBytes: bytes.rx, txBytes: bytes.tx, detail: 'command' };
  },
};
