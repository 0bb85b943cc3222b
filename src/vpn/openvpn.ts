// OpenVPN 2.6 inside the namespace. It gets a copy of the user's config with numeric remotes (names
// were resolved on the host), our tun name, only options known to be safe (ovpn.ts), every file the
// config names read by vpnns and written inline (so OpenVPN opens no path of the user's), and an
// `up` script that only records what the server pushed (DNS is not applied on Linux without one —
// FACTS). It runs with as little privilege as keeps it working: see OPENVPN_ARGV_PREFIX.
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import type { VpnOpenvpn } from '../config/types.js';
import { ConfigError } from '../config/errors.js';
import { VpnnsError, UsageError } from '../errors.js';
import { findTool, requireTools } from '../sys/tools.js';
import { sleep, type Running } from '../sys/process.js';
import { readText } from '../sys/system.js';
import { ovpnFileBody, parseOvpn, parseOvpnAuth, renderOvpnForNamespace, type OvpnConfig } from './ovpn.js';
import { VpnConfigError } from './errors.js';
import { readReferencedFile } from './referenced-files.js';
import { formatHostPort } from '../config/net-utils.js';
import { resolveEndpoints } from './endpoint.js';
import { readUserFile } from './files.js';
import { assertTrustedOvpnPaths } from './ovpn-files.js';
import type { VpnProvider, VpnSession, VpnStatus } from './provider.js';
import { CLIENT_MARK } from './provider.js';
import { tunnelGone } from './tunnel.js';

const UP_SCRIPT = fileURLToPath(new URL('../../../libexec/vpnns-openvpn-up', import.meta.url));

interface OvpnInfo {
  endpoints: string[];
  [k: string]: unknown;
}

/**
 * OpenVPN starts as root with only the capabilities it needs (the bounding set), then drops to
 * nobody/nogroup itself once the tunnel is open (`user`/`group` in the rendered config), keeping
 * CAP_NET_ADMIN (OpenVPN 2.6 with libcap-ng does that for its netlink code), so its restarts can
 * still reopen the tun, set routes and mark packets. NET_ADMIN: tun, addresses, routes, SO_MARK;
 * SETUID/SETGID: the drop; SETPCAP: libcap-ng clears the bounding set while dropping. Without
 * DAC_OVERRIDE even the root part reads only files root owns (its config) and writes only its own.
 */
export const OPENVPN_ARGV_PREFIX = ['/usr/bin/setpriv', '--bounding-set=-all,+net_admin,+setuid,+setgid,+setpcap', '--inh-caps=-all', '--no-new-privs', '--'];
export const OPENVPN_RUN_AS = { user: 'nobody', group: 'nogroup' };

/** The contents of every file the config names, by line, read and checked (see referenced-files.ts). */
async function readOvpnFiles(parsed: OvpnConfig, configFile: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const ref of parsed.files) {
    const r = await readReferencedFile(ref.resolved, { configFile, block: ref.block });
    if ('problem' in r) throw new VpnConfigError(`"${ref.option}" names ${ref.path}, which ${r.problem}`, { file: configFile, line: ref.line });
    out.set(ref.line, ovpnFileBody(parsed, ref, r.bytes));
  }
  return out;
}

/** DNS servers from the up script's record of `foreign_option_N=dhcp-option DNS x`. */
export function pushedDns(envText: string): string[] {
  const out: string[] = [];
  for (const line of envText.split('\n')) {
    const m = /^foreign_option_\d+=dhcp-option\s+DNS6?\s+(\S+)/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

export const openvpnProvider: VpnProvider = {
  tools: () => ['openvpn'],

  async prepare(ctx) {
    const vpn = ctx.cfg.vpn as VpnOpenvpn;
    await requireTools(['openvpn']);
    const { text, warnings } = await readUserFile(vpn.config, 'vpn.config');
    const parsed = parseOvpn(text, vpn.config);
    // Run as root, every file the .ovpn names must be root's alone too (config/trust.ts); vpnns
    // then reads them itself (readOvpnFiles) and OpenVPN opens no path of the user's.
    assertTrustedOvpnPaths(parsed, vpn.config, dirname(vpn.config));
    let auth: { username: string; password: string } | undefined;
    if (vpn.auth) {
      const file = await readUserFile(vpn.auth, 'vpn.auth');
      warnings.push(...file.warnings);
      const parsedAuth = parseOvpnAuth(file.text);
      if (typeof parsedAuth === 'string') throw new ConfigError({ path: 'vpn.auth', detail: `${vpn.auth}: ${parsedAuth}` });
      auth = parsedAuth;
    } else if (parsed.authUserPass && !parsed.authUserPass.inline) {
      throw new UsageError(`${vpn.config} asks for a username and password (auth-user-pass); put them in a file (user on line 1, password on line 2, chmod 600) and set vpn.auth to its path.`);
    }
    const files = await readOvpnFiles(parsed, vpn.config);
    const remotes = await resolveEndpoints(parsed.remotes, { resolveWith: vpn.resolveWith, ipv6: ctx.cfg.network.ipv6 });
    const rendered = renderOvpnForNamespace(parsed, {
      remotes,
      dev: ctx.names.tunnel,
      ...(auth ? { auth } : {}),
      files,
      upScript: UP_SCRIPT,
      runAs: OPENVPN_RUN_AS,
    });
    for (const d of rendered.dropped) {
      const where = d.connection !== undefined ? ` (in the <connection> of line ${d.connection})` : '';
      warnings.push(`${vpn.config}:${d.line}: ignoring "${d.option}"${where}: ${d.why}.`);
    }
    await ctx.sys.writeFile(`${ctx.dir}/openvpn.conf`, rendered.text, { mode: 0o600, secret: true });
    const info: OvpnInfo = { endpoints: remotes.map((r) => `${formatHostPort({ host: r.ip, port: r.port })}/${r.proto}`) };
    return {
      type: 'openvpn',
      clientTraffic: remotes.map((r) => ({ kind: 'endpoint' as const, ip: r.ip, port: r.port, proto: r.proto, sender: { mark: CLIENT_MARK } })),
      dns: parsed.dns.length ? parsed.dns : undefined,
      tunnel: ctx.names.tunnel,
      info,
      warnings,
    };
  },

  async start(ctx, prepared) {
    const info = prepared.info as OvpnInfo;
    const vpn = ctx.cfg.vpn as VpnOpenvpn;
    const { ns, tunnel } = ctx.names;
    const envFile = `${ctx.dir}/openvpn.env`;
    await ctx.sys.remove(envFile);
    if (!ctx.freshNamespace) await ctx.sys.change(['ip', '-n', ns, 'link', 'del', tunnel], { allowFail: true });
    const bin = (await findTool('openvpn'))!;
    let completed = false;
    let failure: string | undefined;
    let lastError = '';
    const proc: Running = ctx.sys.start(
      {
        name: 'vpn',
        netns: ns,
        // The config names no file of the user's (all inline), so no --cd: nothing is relative.
        // --mark after --config, so it wins over any mark in the file: the kill switch lets out only
        // marked packets to the remotes (decimal: OpenVPN reads "0x..." as 0 — FACTS).
        argv: [...OPENVPN_ARGV_PREFIX, bin, '--config', `${ctx.dir}/openvpn.conf`, '--setenv', 'VPNNS_OPENVPN_ENV', envFile, '--mark', String(CLIENT_MARK)],
      },
      {
        logFile: `${ctx.logDir}/openvpn.log`,
        onLine: (line) => {
          if (line.includes('Initialization Sequence Completed')) completed = true;
          else if (line.includes('AUTH_FAILED')) failure = 'the VPN server rejected the username or password (AUTH_FAILED); check the file in vpn.auth';
          else if (/TLS Error|VERIFY ERROR|Cannot load|Options error|error:|Exiting due to fatal error|\[E[A-Z]+\]/i.test(line)) lastError = line.replace(/^\S+ \S+ /, '').trim();
        },
      },
    );
    const timeoutMs = vpn.connectTimeout * 1000;
    const deadline = Date.now() + timeoutMs;
    const exited = proc.exited.then((r) => r);
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void exited.then((r) => (exit = r));
    // Its log line says when it is connected: looked at often, so the session starts at once.
    while (!completed && !failure && !exit && Date.now() < deadline) await sleep(5);
    if (!completed) {
      const exitedByItself = exit;
      await proc.stop(2000);
      exit = exitedByItself;
      await ctx.sys.change(['ip', '-n', ns, 'link', 'del', tunnel], { allowFail: true });
      if (failure) throw new VpnnsError(`${failure}.`);
      const why = lastError ? `: ${lastError}` : '';
      if (exit) throw new VpnnsError(`OpenVPN exited before connecting (code ${exit.code})${why}; see ${ctx.logDir}/openvpn.log.`);
      throw new VpnnsError(
        `OpenVPN did not connect to ${info.endpoints.join(', ')} within ${timeoutMs / 1000} s${why}; check the server address and port, and the certificates in ${vpn.config}.`,
      );
    }
    const dns = pushedDns((await readText(envFile)) ?? '');
    const ended = Promise.race([
      exited.then((r) => `openvpn exited (${r.signal ?? `code ${r.code}`})`),
      // OpenVPN neither exits nor recovers when its tun disappears; it busy-loops (FACTS).
      tunnelGone(ctx, tunnel),
    ]);
    const session: VpnSession = {
      process: proc,
      ended,
      tunnel,
      dns: dns.length ? dns : undefined,
      stop: async () => {
        await proc.stop(3000);
        await ctx.sys.change(['ip', '-n', ns, 'link', 'del', tunnel], { allowFail: true });
      },
    };
    return session;
  },

  async status(ctx, prepared): Promise<VpnStatus> {
    const info = prepared.info as OvpnInfo;
    const link = await ctx.sys.query(['ip', '-n', ctx.names.ns, '-json', '-s', 'link', 'show', ctx.names.tunnel], { allowFail: true });
    if (link.code !== 0) return { connected: false, tunnel: ctx.names.tunnel, endpoint: info.endpoints[0], detail: `${ctx.names.tunnel} is not there` };
    const stats = (JSON.parse(link.stdout) as Array<{ stats64?: { rx?: { bytes: number }; tx?: { bytes: number } } }>)[0]?.stats64;
    return { connected: true, tunnel: ctx.names.tunnel, endpoint: info.endpoints[0], rxBytes: stats?.rx?.bytes, txBytes: stats?.tx?.bytes, detail: 'openvpn' };
  },
};
