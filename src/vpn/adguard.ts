// AdGuard VPN CLI (closed source): run as root inside the namespace, TUN mode, never touching system
// DNS (its resolvectl would reach the host's resolver — PEERS §4), data under a vpnns-owned HOME.
// Its server addresses are unknown in advance, so the kill switch recognises its packets by sender:
// by its cgroup (src/vpn/client-cgroup.ts), which it cannot leave when it forks its service through
// sudo or changes its group, and, where cgroup v2 is missing, by uid 0 with vpnns's client group,
// which it is launched with (setpriv --regid --clear-groups).
// `connect --no-fork` may still fork (a service in the background, started through sudo): vpnns
// supervises the tunnel and the cgroup, not only the process it started, and ends the whole cgroup
// when it stops the client, so no service outlives it.
import { ALLOW_TABLE } from '../net/allow-routes.js';
import type { VpnAdguard } from '../config/types.js';
import { VpnnsError, UsageError } from '../errors.js';
import { LIB_DIR } from '../config/paths.js';
import { assertTrustedDirectory, assertTrustedFile } from '../config/trust.js';
import { findTool } from '../sys/tools.js';
import { helperEnv } from '../sandbox/clean-env.js';
import { sleep, fullArgv, type Running } from '../sys/process.js';
import { unlinkFileSync } from '../sys/files.js';
import type { VpnContext, VpnProvider, VpnSession, VpnStatus } from './provider.js';
import { CLIENT_GID } from './provider.js';
import { tunnelGone, linkBytes } from './tunnel.js';
import { cgroupPopulated, clientCgroup, ensureClientCgroup, killCgroup, probeCgroupLevel, type ClientCgroup } from '../sys/client-cgroup.js';
import { isAlive } from '../sys/process.js';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import type { ClientTraffic } from '../core/client-traffic.js';

export function adguardHome(ctx: Pick<VpnContext, 'cfg'>): string {
  const vpn = ctx.cfg.vpn as VpnAdguard;
  return vpn.home ?? `${LIB_DIR}/${ctx.cfg.namespace}/adguard`;
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

/** The client's cgroup for this namespace (undefined without cgroup v2). */
export function adguardCgroup(ctx: Pick<VpnContext, 'names'>): ClientCgroup | undefined {
  return clientCgroup(ctx.names.ns);
}

/** How the kill switch knows the client: its cgroup, and its group where that cannot hold alone. */
export function adguardClientTraffic(cg: ClientCgroup | undefined): ClientTraffic[] {
  return [...(cg ? [{ kind: 'cgroup' as const, cgroup: cg }] : []), { kind: 'gid', gid: CLIENT_GID }];
}

/** The client's data directory under its HOME (the public record: ~/.local/share/adguardvpn-cli). */
export function adguardDataDir(home: string): string {
  return `${home}/.local/share/adguardvpn-cli`;
}

/**
 * A pid file of the client's that names a process no longer alive (its service was SIGKILLed with
 * the cgroup): removed, so nothing is left that a later `connect` or `status` would trust. Only
 * regular files directly in the client's data directory, which only root can write.
 */
export function removeStalePidFiles(home: string, alive: (pid: number) => boolean = isAlive): string[] {
  const dir = adguardDataDir(home);
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names.filter((n) => n.endsWith('.pid'))) {
    const path = `${dir}/${name}`;
    try {
      if (!lstatSync(path).isFile()) continue;
      const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
      unlinkFileSync(path);
      removed.push(name);
    } catch {
      /* gone meanwhile */
    }
  }
  return removed;
}

/** Runs an adguardvpn-cli subcommand inside the namespace with vpnns's HOME for it, as the client (its cgroup and group). */
export async function adguardCommand(ctx: VpnContext, args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}) {
  const bin = await binary(ctx);
  assertTrustedDirectory(adguardHome(ctx), 'vpn.home', { place: LIB_DIR });
  const cg = adguardCgroup(ctx);
  if (cg) await ensureClientCgroup(ctx.sys, cg);
  const argv = fullArgv({ name: 'adguard', netns: ctx.names.ns, gid: CLIENT_GID, cgroup: cg?.dir, argv: [bin, ...args] });
  return ctx.sys.change(argv, { env: adguardEnv(adguardHome(ctx)), allowFail: opts.allowFail, timeoutMs: opts.timeoutMs ?? 30_000 });
}

/** The sentence for a client that is not logged in (the public record: `You are not logged in`, one wrapper: exit code 11). */
export function notLoggedInError(ctx: Pick<VpnContext, 'cfg'>): VpnnsError {
  const where = ctx.cfg.source ? ` --config ${ctx.cfg.source}` : '';
  return new VpnnsError(`AdGuard VPN is not logged in (vpn.home ${adguardHome(ctx)}); run \`sudo vpnns adguard login${where}\`, then \`vpnns up\` again.`);
}

export function saysNotLoggedIn(text: string, code?: number | null): boolean {
  const plain = text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  return code === 11 || /not logged in|please log ?in|log in again/i.test(plain);
}

/**
 * After the client is gone: the policy routing it may have left in the namespace (AUTO mode's
 * `ip rule` and table 880, when its service was killed before it could undo them). vpnns's only
 * rules there are the exceptions' (`allow`, priority ALLOW_TABLE), so every other rule but the
 * kernel's three defaults is the client's.
 */
export async function removeClientRouting(ctx: VpnContext): Promise<void> {
  for (const fam of ['-4', '-6']) {
    const r = await ctx.sys.query(['ip', '-n', ctx.names.ns, '-j', fam, 'rule', 'show'], { allowFail: true });
    if (r.code !== 0) continue;
    let rules: { priority?: number }[] = [];
    try {
      rules = JSON.parse(r.stdout || '[]') as { priority?: number }[];
    } catch {
      continue;
    }
    for (const rule of rules) {
      const p = rule.priority;
      if (typeof p !== 'number' || !Number.isInteger(p) || [0, ALLOW_TABLE, 32766, 32767].includes(p)) continue;
      await ctx.sys.change(['ip', '-n', ctx.names.ns, fam, 'rule', 'del', 'priority', String(p)], { allowFail: true });
    }
    await ctx.sys.change(['ip', '-n', ctx.names.ns, fam, 'route', 'flush', 'table', '880'], { allowFail: true });
  }
}

export const adguardProvider: VpnProvider = {
  tools: () => [],

  async prepare(ctx) {
    await binary(ctx);
    // Root's adguardvpn-cli keeps its login and settings there, and writes into it.
    assertTrustedDirectory(adguardHome(ctx), 'vpn.home', { place: LIB_DIR });
    await ctx.sys.mkdir(adguardHome(ctx), 0o700);
    const cg = adguardCgroup(ctx);
    if (cg) {
      await ensureClientCgroup(ctx.sys, cg);
      // The level the kernel counts (deeper in a container's cgroup namespace than the mount shows).
      const level = await probeCgroupLevel(ctx.sys, cg, ctx.names.ns);
      if (level !== undefined && level !== cg.level) ctx.log('info', 'client cgroup level probed', { computed: cg.level, level });
      if (level !== undefined) cg.level = level;
    }
    return {
      type: 'adguard',
      clientTraffic: adguardClientTraffic(cg),
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
    const cg = adguardCgroup(ctx);
    // Whatever a killed service left: its processes, its rules, its pid file.
    await cleanUpClient(ctx, cg);
    let lastLine = '';
    let lines = '';
    const proc: Running = ctx.sys.start(
      { name: 'vpn', netns: ctx.names.ns, gid: CLIENT_GID, cgroup: cg?.dir, env, argv: [bin, 'connect', ...where, '--no-fork', '-y'] },
      {
        logFile: `${ctx.logDir}/adguardvpn-cli.log`,
        onLine: (l) => {
          if (!l.trim()) return;
          lastLine = l.trim();
          if (lines.length < 8192) lines += `${l}\n`;
        },
      },
    );
    let exit: { code: number | null } | undefined;
    void proc.exited.then((r) => (exit = r));
    const deadline = Date.now() + vpn.connectTimeout * 1000;
    let tunnel: string | undefined;
    // `connect --no-fork` may also return once connected (a CLI that forks anyway): then its exit
    // says nothing, and only the status and the tunnel count.
    while (Date.now() < deadline && !(exit && exit.code !== 0)) {
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
      await cleanUpClient(ctx, cg);
      const plain = lastLine.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
      if (saysNotLoggedIn(lines, exit?.code)) throw notLoggedInError(ctx);
      if (exit) throw new VpnnsError(`adguardvpn-cli connect exited (code ${exit.code})${plain ? `: ${plain}` : ''}; see ${ctx.logDir}/adguardvpn-cli.log.`);
      throw new VpnnsError(`AdGuard VPN did not connect within ${vpn.connectTimeout} s${plain ? ` (${plain})` : ''}; see ${ctx.logDir}/adguardvpn-cli.log.`);
    }
    const ended = Promise.race([clientGone(ctx, proc, cg), tunnelGone(ctx, tunnel)]);
    const session: VpnSession = {
      process: proc,
      ended,
      tunnel,
      stop: async () => {
        await adguardCommand(ctx, ['disconnect'], { allowFail: true, timeoutMs: 15_000 });
        await proc.stop(3000);
        await cleanUpClient(ctx, cg);
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

/**
 * Ends every process left in the client's cgroup (a forked service, a DNS proxy), then lets the CLI
 * forget its dead connection (`disconnect` on nothing running tidies its state), and removes the
 * policy routing and pid files a killed service left behind.
 */
async function cleanUpClient(ctx: VpnContext, cg: ClientCgroup | undefined): Promise<void> {
  if (cg && cgroupPopulated(cg)) {
    await killCgroup(ctx.sys, cg);
    await adguardCommand(ctx, ['disconnect'], { allowFail: true, timeoutMs: 15_000 });
    await killCgroup(ctx.sys, cg);
  }
  await removeClientRouting(ctx);
  if (!ctx.sys.dryRun) removeStalePidFiles(adguardHome(ctx));
}

/**
 * Resolves when the client is gone: its cgroup is empty (the process vpnns started and any service
 * it forked), or, without cgroup v2, the process vpnns started has exited while the CLI says it is
 * disconnected.
 */
async function clientGone(ctx: VpnContext, proc: Running, cg: ClientCgroup | undefined): Promise<string> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void proc.exited.then((r) => (exit = r));
  for (;;) {
    await sleep(exit ? 1000 : 500);
    if (cg && !cgroupPopulated(cg)) return `adguardvpn-cli and its service exited${exit ? ` (code ${exit.code})` : ''}`;
    if (exit && (exit.code !== 0 || !cg)) {
      const st = parseAdguardStatus((await adguardCommand(ctx, ['status'], { allowFail: true })).stdout);
      if (!st.connected) return `adguardvpn-cli exited (code ${exit.code})`;
    }
  }
}
