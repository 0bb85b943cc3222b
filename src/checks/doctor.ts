// `vpnns doctor`'s evidence: every program this config needs (and the optional app programs), each
// looked up where vpnns and the user would find it, with the one command that installs it.
import { existsSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { findTool, packageFor } from '../sys/tools.js';
import { findProgramSync, profileOf } from '../services/apps.js';
import { CODE_SERVER_VERSION } from '../services/profiles/code-server.js';
import { unsupportedReason } from '../services/profiles/code-server-install.js';
import { KILO_PROGRAMS, KILO_PACKAGE, KILO_VERSION } from '../services/profiles/kilo.js';
import { MEMBER_ENTRY } from '../members/policy.js';

export interface ToolCheck {
  /** What is looked for: a program name, or "kilocode|kilo". */
  tool: string;
  why: string;
  required: boolean;
  path?: string;
  /** One command that installs it. */
  install: string;
}

type Finder = (names: readonly string[], home?: string) => Promise<string | undefined>;

const defaultFinder: Finder = async (names, home) => {
  for (const n of names) {
    const p = (await findTool(n)) ?? findProgramSync([n], home);
    if (p) return p;
  }
  return undefined;
};

const apt = (tool: string) => `apt-get install ${packageFor(tool)}`;

/** The official install line (AdGuardVPNCLI's README, release channel). */
export const ADGUARD_INSTALL = 'curl -fsSL https://raw.githubusercontent.com/AdguardTeam/AdGuardVPNCLI/master/scripts/release/install.sh | sh -s -- -v';

/** The programs `cfg` needs (and the optional app programs), each looked up with `find`. */
export async function doctorChecks(cfg: Config, opts: { find?: Finder; home?: string; kernelWireguard?: boolean } = {}): Promise<ToolCheck[]> {
  const find = opts.find ?? defaultFinder;
  const want: Array<Omit<ToolCheck, 'path'> & { names: readonly string[] }> = [];
  const sys = (tool: string, why: string, required = true) => want.push({ tool, names: [tool], why, required, install: apt(tool) });
  sys('ip', 'namespace, veth, addresses and routes');
  sys('nft', 'NAT on the host and the kill switch');
  sys('runuser', 'programs run as the user inside');
  sys('setpriv', 'the VPN client runs with its own group');
  sys('curl', 'health probes and `vpnns check`');
  // Needed once members are set up (their commands reach root through it), optional before.
  sys('sudo', 'members of group vpnns run exec, kilo, app, status and check without sudo (`vpnns setup --user NAME`)', existsSync(MEMBER_ENTRY));
  const vpn = cfg.vpn;
  if (vpn.type === 'wireguard') {
    sys('wg', 'configures the WireGuard interface');
    const kernel = opts.kernelWireguard ?? existsSync('/sys/module/wireguard');
    if (vpn.implementation === 'userspace' || (vpn.implementation === 'auto' && !kernel)) {
      sys('wireguard-go', 'WireGuard in user space (this kernel has no WireGuard module loaded)');
    }
  }
  if (vpn.type === 'openvpn') sys('openvpn', 'the VPN client');
  if (vpn.type === 'adguard') {
    want.push({ tool: vpn.binary, names: [vpn.binary], why: 'the VPN client', required: true, install: ADGUARD_INSTALL });
  }
  if (vpn.type !== 'none' && cfg.proxies.socks.enabled) sys('danted', 'the SOCKS5 proxy (proxies.socks)');
  if (vpn.type !== 'none' && cfg.proxies.http.enabled) sys('tinyproxy', 'the HTTP proxy (proxies.http)');
  const apps = Object.entries(cfg.apps);
  const codeServerApp = apps.find(([n, a]) => profileOf(n, a) === 'code-server');
  const kiloAppEntry = apps.find(([n, a]) => profileOf(n, a) === 'kilo');
  const csWhy = unsupportedReason();
  want.push({
    tool: codeServerApp?.[1].command?.[0] ?? 'code-server',
    names: [codeServerApp?.[1].command?.[0] ?? 'code-server'],
    why: codeServerApp ? `apps.${codeServerApp[0]} (VS Code in the browser)` : 'optional: VS Code in the browser (apps.code-server)',
    required: codeServerApp !== undefined,
    install: csWhy ? csWhy : `sudo vpnns app install code-server   (code-server ${CODE_SERVER_VERSION} from npm, for Node 20)`,
  });
  want.push({
    tool: kiloAppEntry?.[1].command?.[0] ?? KILO_PROGRAMS.join('|'),
    names: kiloAppEntry?.[1].command?.length ? [kiloAppEntry[1].command[0]!] : KILO_PROGRAMS,
    why: kiloAppEntry ? `apps.${kiloAppEntry[0]}: \`vpnns kilo\`` : 'optional: Kilo CLI for `vpnns kilo`',
    required: kiloAppEntry !== undefined,
    install: `npm install -g ${KILO_PACKAGE}@${KILO_VERSION}   (as the user who runs it, or system-wide)`,
  });
  const out: ToolCheck[] = [];
  for (const w of want) {
    const path = await find(w.names, opts.home);
    out.push({ tool: w.tool, why: w.why, required: w.required, install: w.install, ...(path && { path }) });
  }
  return out;
}
