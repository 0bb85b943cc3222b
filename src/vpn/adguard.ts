// AdGuard VPN CLI (closed source): run as root inside the namespace, TUN mode, never touching system
// DNS (its resolvectl would reach the host's resolver — PEERS §4), data under a vpnns-owned HOME.
// Its server addresses are unknown in advance, so the kill switch recognises its packets by sender:
// uid 0 with vpnns's client group, which it is launched with (setpriv --regid --clear-groups).
import type { VpnAdguard } from '../config/types.js';
import { VpnnsError, UsageError } from '../errors.js';
import { assertTrustedDirectory, assertTrustedFile } from '../config/trust.js';
import { findTool } from '../sys/tools.js';
import { helperEnv } from '../sandbox/clean-env.js';
import { sleep, fullArgv, type Running } from '../sys/process.js';
import type { VpnContext, VpnProvider, VpnSession, VpnStatus } from './provider.js';
import { CLIENT_GID } from './provider.js';
import { tunnelGone, linkBytes } from './tunnel.js';

export const ADGUARD_STATE_ROOT = '/var/lib/vpnns';

export function adguardHome(ctx: Pick<VpnContext, 'cfg'>): string {
  const vpn = ctx.cfg.vpn as VpnAdguard;
  return vpn.home ?? `${ADGUARD_STATE_ROOT}/${ctx.cfg.namespace}/adguard`;
}

/** `Connected to FRANKFURT in TUN mode, running on tun0` → location and interface. */
export function parseAdguardStatus(text: string): { connected: boolean; location?: string; tunnel?: string; warning?: string } {
  // The CLI colours its output; strip ANSI before matching.
  const plain = text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  const m = /Connected to (.+?) in (TUN|SOCKS) mode(?:, running on (\S+))?/i.exec(plain);
  const warning = /Warning: (.*)/.exec(plain)?.[1]?.trim();
  if (!m) return { connected: false, warning };
  return { connected: true, location: m[1]!.trim(), tunnel: m[3]?.replace(/[.,]$/, ''), warning };
}

async function binary(ctx: VpnContext): Promise<string> {
  const vpn = ctx.cfg.vpn as VpnAdguard;
  const p = await findTool(vpn.binary);
  if (!p) {
    throw new UsageError(
      `${vpn.binary} is not installed; install AdGuard VPN CLI (see https://github.com/AdguardTeam/AdGuardVPNCLI) or set vpn.binary to its path.`,
    );
  }
  // Root runs it: only a program root alone can change (config/trust.ts).
  assertTrustedFile(p, 'vpn.binary', { kind: 'executable', place: '/usr/local/bin' });
  return p;
}

/**
 * adguardvpn-cli runs as root: it gets the helpers' clean environment and its HOME, never the
 * caller's. The only variables passed through are the test emulator's knobs (ADGUARD_EMULATOR_*,
 * see test/adguard-emulator; the real client reads none of them) and, for `vpnns adguard` in a
 * terminal, TERM when it is a plain terminal name.
 */
export function adguardEnv(home: string, from: NodeJS.ProcessEnv = process.env, terminal = false): Record<string, string> {
  const env: Record<string, string> = { ...helperEnv(), HOME: home };
  for (const [k, v] of Object.entries(from)) if (v !== undefined && /^ADGUARD_EMULATOR_[A-Z0-9_]+$/.test(k)) env[k] = v;
  if (terminal && from.TERM && /^[A-Za-z0-9._+-]{1,64}$/.test(from.TERM)) env.TERM = from.TERM;
  return env;
}

/** Runs an adguardvpn-cli subcommand inside the namespace with vpnns's HOME for it. */
export async function adguardCommand(ctx: VpnContext, args: string[], opts: { allowFail?: boolean } = {}) {
  const bin = await binary(ctx);
  assertTrustedDirectory(adguardHome(ctx), 'vpn.home', { place: '/var/lib/vpnns' });
  const argv = fullArgv({ name: 'adguard', netns: ctx.names.ns, gid: CLIENT_GID, argv: [bin, ...args] });
  return ctx.sys.change(argv, { env: adguardEnv(adguardHome(ctx)), allowFail: opts.allowFail, timeoutMs: 30_000 });
}

export const adguardProvider: VpnProvider = {
  tools: () => [],

  async prepare(ctx) {
    await binary(ctx);
    // Root's adguardvpn-cli keeps its login and settings there, and writes into it.
    assertTrustedDirectory(adguardHome(ctx), 'vpn.home', { place: '/var/lib/vpnns' });
    await ctx.sys.mkdir(adguardHome(ctx), 0o700);
    return {
      type: 'adguard',
      clientTraffic: [{ kind: 'gid', gid: CLIENT_GID }],
      tunnel: 'tun*',
      info: { location: (ctx.cfg.vpn as VpnAdguard).location ?? 'last used', home: adguardHome(ctx) },
      warnings: [],
    };
  },

  async start(ctx, prepared) {
    const vpn = ctx.cfg.vpn as VpnAdguard;
    const bin = await binary(ctx);
    const env = adguardEnv(adguardHome(ctx));
    for (const args of [
      ['config', 'set-mode', 'TUN'],
      ['config', 'set-change-system-dns', 'off'],
      ['config', 'set-tun-routing-mode', 'AUTO'],
    ]) {
      const r = await adguardCommand(ctx, args, { allowFail: true });
      if (r.code !== 0) throw new VpnnsError(`\`adguardvpn-cli ${args.join(' ')}\` failed: ${(r.stderr || r.stdout).trim().split('\n').at(-1)}.`);
    }
    const where = vpn.location ? ['-l', vpn.location] : ['-f'];
    let lastLine = '';
    const proc: Running = ctx.sys.start(
      { name: 'vpn', netns: ctx.names.ns, gid: CLIENT_GID, env, argv: [bin, 'connect', ...where, '--no-fork', '-y'] },
      { logFile: `${ctx.logDir}/adguardvpn-cli.log`, onLine: (l) => l.trim() && (lastLine = l.trim()) },
    );
    let exit: { code: number | null } | undefined;
    void proc.exited.then((r) => (exit = r));
    const deadline = Date.now() + vpn.connectTimeout * 1000;
    let tunnel: string | undefined;
    while (Date.now() < deadline && !exit) {
      const st = parseAdguardStatus((await adguardCommand(ctx, ['status'], { allowFail: true })).stdout);
      if (st.connected && st.tunnel) {
        const link = await ctx.sys.query(['ip', '-n', ctx.names.ns, 'link', 'show', st.tunnel], { allowFail: true });
        if (link.code === 0) {
          tunnel = st.tunnel;
          break;
        }
      }
      await sleep(250);
    }
    if (!tunnel) {
      await proc.stop(3000);
      const plain = lastLine.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
      if (/log ?in/i.test(plain)) throw new VpnnsError(`AdGuard VPN is not logged in; run \`vpnns adguard login\` first (${plain}).`);
      if (exit) throw new VpnnsError(`adguardvpn-cli connect exited (code ${exit.code})${plain ? `: ${plain}` : ''}; see ${ctx.logDir}/adguardvpn-cli.log.`);
      throw new VpnnsError(`AdGuard VPN did not connect within ${vpn.connectTimeout} s${plain ? ` (${plain})` : ''}; see ${ctx.logDir}/adguardvpn-cli.log.`);
    }
    const ended = Promise.race([proc.exited.then((r) => `adguardvpn-cli exited (code ${r.code})`), tunnelGone(ctx, tunnel)]);
    const session: VpnSession = {
      process: proc,
      ended,
      tunnel,
      stop: async () => {
        await adguardCommand(ctx, ['disconnect'], { allowFail: true });
        await proc.stop(3000);
      },
    };
    void prepared;
    return session;
  },

  async status(ctx): Promise<VpnStatus> {
    const r = await adguardCommand(ctx, ['status'], { allowFail: true });
    const st = parseAdguardStatus(r.stdout);
    const bytes = st.tunnel ? await linkBytes(ctx, st.tunnel) : {};
    return {
      connected: st.connected,
      tunnel: st.tunnel,
      endpoint: st.location,
      rxBytes: bytes.rx,
      txBytes: bytes.tx,
      detail: st.warning ?? (st.connected ? `AdGuard VPN, ${st.location}` : 'AdGuard VPN disconnected'),
    };
  },
};
