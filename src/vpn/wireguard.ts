// WireGuard: the kernel module when it exists, else wireguard-go (FACTS: no module on many VMs).
// vpnns does wg-quick's job itself so nothing from the config file runs as root.
import { connect } from 'node:net';
import { access } from 'node:fs/promises';
import { unlinkFile } from '../sys/files.js';
import type { VpnWireguard } from '../config/types.js';
import { VpnnsError, UsageError } from '../errors.js';
import { findTool, requireTools } from '../sys/tools.js';
import { sleep, type Running } from '../sys/process.js';
import { parseWgQuick, renderWgSetconf, setconfToUapi, wgAddresses, wgEndpoints, wgRoutes, wgAllowsIPv6 } from './wgquick.js';
import { formatHostPort } from '../config/net-utils.js';
import { resolveEndpoints } from './endpoint.js';
import { readUserFile } from './files.js';
import { tunnelGone } from './tunnel.js';
import type { PreparedVpn, VpnContext, VpnProvider, VpnSession, VpnStatus } from './provider.js';
import { CLIENT_MARK } from './provider.js';
import { traced } from '../sys/trace.js';

interface WgInfo {
  implementation: 'kernel' | 'userspace';
  endpoints: string[];
  addresses: { v4: string[]; v6: string[] };
  routes: { v4: string[]; v6: string[] };
  mtu: number;
  [k: string]: unknown;
}

/** wireguard-go's control sockets live here for every namespace: names must be unique machine-wide. */
const WG_SOCKET_DIR = '/var/run/wireguard';

async function kernelModuleAvailable(sys: VpnContext['sys']): Promise<boolean> {
  try {
    await access('/sys/module/wireguard');
    return true;
  } catch {
    const modprobe = await findTool('modprobe');
    if (!modprobe) return false;
    // A probe (as before, even under --dry-run): whether the module can be had decides the plan.
    return (await sys.query([modprobe, '-q', 'wireguard'], { allowFail: true })).code === 0;
  }
}

export const wireguardProvider: VpnProvider = {
  tools: () => ['wg'],

  async prepare(ctx) {
    const vpn = ctx.cfg.vpn as VpnWireguard;
    const { text, warnings } = await readUserFile(vpn.config, 'vpn.config');
    const wg = parseWgQuick(text, vpn.config);
    warnings.push(...wg.warnings);
    const specs = wgEndpoints(wg).map((e) => ({ ...e, proto: 'udp' as const }));
    if (!specs.length) {
      throw new UsageError(`${vpn.config}: no [Peer] has an Endpoint; add e.g. "Endpoint = vpn.example.com:51820" so vpnns knows where the server is.`);
    }
    // Names are resolved here, on the host, because inside the namespace the kill switch only lets
    // the client reach these exact addresses.
    const resolved = new Map<string, string>();
    const endpoints = [];
    for (const spec of specs) {
      const [ep] = await resolveEndpoints([spec], { resolveWith: vpn.resolveWith, ipv6: ctx.cfg.network.ipv6 });
      if (!ep) continue;
      resolved.set(formatHostPort(spec), formatHostPort({ host: ep.ip, port: ep.port }));
      endpoints.push(ep);
    }
    // Behind the host's NAT a keepalive keeps the mapping open, and it makes the first handshake
    // happen at once, so `up` knows the tunnel works before it returns.
    for (const p of wg.peers) p.persistentKeepalive ??= 25;
    // The client's UDP socket carries vpnns's mark: the kill switch lets out only marked packets to
    // the endpoints, so no other process inside reaches the server from the host's address.
    if (wg.interface.fwMark !== undefined && wg.interface.fwMark !== 0 && wg.interface.fwMark !== CLIENT_MARK) {
      warnings.push(`${vpn.config}: ignoring "FwMark = ${wg.interface.fwMark}": vpnns marks the client's packets with ${CLIENT_MARK} for its kill switch`);
    }
    await ctx.sys.writeFile(`${ctx.dir}/wg.conf`, renderWgSetconf(wg, resolved, { fwmark: CLIENT_MARK }), { mode: 0o600, secret: true });

    let implementation: 'kernel' | 'userspace';
    if (vpn.implementation === 'auto') implementation = (await kernelModuleAvailable(ctx.sys)) ? 'kernel' : 'userspace';
    else implementation = vpn.implementation;
    if (implementation === 'userspace') await requireTools(['wireguard-go', 'wg']);
    else await requireTools(['wg']);

    const info: WgInfo = {
      implementation,
      endpoints: endpoints.map((e) => formatHostPort({ host: e.ip, port: e.port })),
      addresses: wgAddresses(wg),
      routes: wgRoutes(wg),
      mtu: ctx.cfg.network.mtu ?? wg.interface.mtu ?? 1420,
      ipv6: ctx.cfg.network.ipv6 && wgAllowsIPv6(wg),
    };
    if (!info.addresses.v4.length && !(info.ipv6 && info.addresses.v6.length)) {
      throw new UsageError(`${vpn.config}: [Interface] has no usable Address; add e.g. "Address = 10.64.0.2/32".`);
    }
    return {
      type: 'wireguard',
      clientTraffic: endpoints.map((e) => ({ kind: 'endpoint' as const, ip: e.ip, port: e.port, proto: 'udp' as const, sender: { mark: CLIENT_MARK } })),
      dns: wg.interface.dns,
      tunnel: ctx.names.tunnel,
      info,
      warnings,
    };
  },

  async start(ctx, prepared) {
    const info = prepared.info as WgInfo;
    const { ns, tunnel, hostAddr, vethNs } = ctx.names;
    const sys = ctx.sys;
    const inNs = (...argv: string[]) => ['ip', 'netns', 'exec', ns, ...argv];
    let proc: Running | undefined;

    const cleanup = async () => {
      await proc?.stop(2000);
      await sys.change(['ip', '-n', ns, 'link', 'del', tunnel], { allowFail: true });
      // wireguard-go leaves its control socket behind; nothing of ours stays after `down`.
      if (info.implementation === 'userspace' && !sys.dryRun) await removeStaleSocket(tunnel).catch(() => {});
    };
    try {
      if (!ctx.freshNamespace) await sys.change(['ip', '-n', ns, 'link', 'del', tunnel], { allowFail: true });
      if (info.implementation === 'userspace') {
        const bin = (await findTool('wireguard-go'))!;
        // Anyone running `wg` while wireguard-go is between bind() and listen() makes `wg` unlink
        // the socket as stale, and wireguard-go then exits at start. Another `vpnns status` can do
        // that; one more try is the cure.
        for (let attempt = 1; ; attempt++) {
          await removeStaleSocket(tunnel);
          try {
            proc = await traced('wireguard-go: start until its socket answers', () => startWireguardGo(ctx, bin, tunnel));
            break;
          } catch (e) {
            if (attempt >= 2 || !(e instanceof VpnnsError) || !e.message.includes('exited at start')) throw e;
            ctx.log('warn', 'wireguard-go exited at start; trying once more', { error: e.message });
            await sys.change(['ip', '-n', ns, 'link', 'del', tunnel], { allowFail: true });
          }
        }
      } else {
        await sys.change(['ip', '-n', ns, 'link', 'add', tunnel, 'type', 'wireguard']);
      }
      // One `ip -batch` per stretch (each process start costs milliseconds on the way to the first byte).
      const before = [`link set ${tunnel} mtu ${info.mtu}`, ...info.addresses.v4.map((a) => `addr replace ${a} dev ${tunnel}`)];
      if (info.ipv6) before.push(...info.addresses.v6.map((a) => `addr replace ${a} dev ${tunnel}`));
      // The route to the server first, so the first handshake is not sent into the tunnel itself (FACTS).
      for (const ep of prepared.clientTraffic) {
        if (ep.kind !== 'endpoint' || ep.ip.includes(':')) continue;
        before.push(`route replace ${ep.ip}/32 via ${hostAddr} dev ${vethNs}`);
      }
      const after = [`link set ${tunnel} up`, ...splitDefault(info.routes.v4, false).map((r) => `route replace ${r} dev ${tunnel}`)];
      if (info.ipv6) after.push(...splitDefault(info.routes.v6, true).map((r) => `route replace ${r} dev ${tunnel}`));
      const conf = `${ctx.dir}/wg.conf`;
      if (info.implementation === 'userspace') {
        // wireguard-go takes its configuration on the socket it already answers on, as `wg
        // setconf` would send it, without a `wg` process in the namespace; so the link, its
        // addresses and routes are one batch. Up before it has a peer sends nothing: the first
        // handshake starts when the peer (with its keepalive) is set, the route to the server in place.
        await ipBatch(ctx, [...before, ...after]);
        await traced('wireguard-go: configured over its socket', () => uapiSet(ctx, tunnel, conf));
      } else {
        await ipBatch(ctx, before);
        await sys.change(inNs('wg', 'setconf', tunnel, conf));
        await ipBatch(ctx, after);
      }

      const timeout = (ctx.cfg.vpn as VpnWireguard).connectTimeout * 1000;
      // wireguard-go is asked on its own socket (no process start), so it can be asked often.
      const handshook = info.implementation === 'userspace' ? async () => (await uapiHandshakeAge(tunnel)) !== undefined : async () => (await handshakeAge(ctx, tunnel)) !== undefined;
      const ok = await traced('wireguard: wait for the first handshake', () => waitFor(handshook, timeout, undefined, info.implementation === 'userspace' ? 5 : 20)).then(
        () => true,
        () => false,
      );
      if (!ok) {
        throw new VpnnsError(
          `WireGuard did not complete a handshake with ${info.endpoints.join(', ')} within ${timeout / 1000} s; check the server's address and port and that the PrivateKey and the peer's PublicKey match the server.`,
        );
      }
    } catch (e) {
      await cleanup();
      throw e;
    }

    const gone = tunnelGone(ctx, tunnel);
    const ended = proc ? Promise.race([proc.exited.then((r) => `wireguard-go exited (${r.signal ?? `code ${r.code}`})`), gone]) : gone;
    const session: VpnSession = { process: proc, ended, tunnel, stop: cleanup };
    return session;
  },

  async status(ctx, prepared): Promise<VpnStatus> {
    const info = prepared.info as WgInfo;
    // While wireguard-go is starting, `wg` would take its socket for stale and unlink it.
    if (info.implementation !== 'kernel' && !(await socketAnswers(`${WG_SOCKET_DIR}/${ctx.names.tunnel}.sock`))) {
      return { connected: false, tunnel: ctx.names.tunnel, detail: 'wireguard-go is not answering' };
    }
    const dump = await ctx.sys.query(['ip', 'netns', 'exec', ctx.names.ns, 'wg', 'show', ctx.names.tunnel, 'dump'], { allowFail: true });
    if (dump.code !== 0) return { connected: false, tunnel: ctx.names.tunnel, detail: `${ctx.names.tunnel} is not there` };
    const peers = dump.stdout.trim().split('\n').slice(1).map((l) => l.split('\t'));
    const now = Math.floor(Date.now() / 1000);
    let latest = 0;
    let rx = 0;
    let tx = 0;
    let endpoint: string | undefined;
    for (const p of peers) {
      latest = Math.max(latest, Number(p[4] ?? 0));
      rx += Number(p[5] ?? 0);
      tx += Number(p[6] ?? 0);
      endpoint ??= p[2];
    }
    const age = latest ? now - latest : undefined;
    return {
      // A session is alive while handshakes keep coming (they renew every 2 minutes when there is traffic; keepalive ensures some).
      connected: age !== undefined && age < 180,
      tunnel: ctx.names.tunnel,
      endpoint,
      handshakeAge: age,
      rxBytes: rx,
      txBytes: tx,
      detail: info.implementation === 'kernel' ? 'kernel WireGuard' : 'wireguard-go',
    };
  },
};

/** `ip -n NS -batch -`: many changes for one process start; it stops at the first that fails. */
async function ipBatch(ctx: VpnContext, lines: string[]): Promise<void> {
  if (lines.length) await ctx.sys.change(['ip', '-n', ctx.names.ns, '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/**
 * Seconds since the latest handshake, asked over wireguard-go's control socket (the UAPI `get`
 * that `wg show` sends), or undefined before the first one or when nobody answers.
 */
export async function uapiHandshakeAge(tunnel: string, timeoutMs = 1000): Promise<number | undefined> {
  const text = await uapiRequest(tunnel, 'get=1\n\n', timeoutMs);
  if (text === undefined) return undefined;
  let latest = 0;
  for (const m of text.matchAll(/^last_handshake_time_sec=(\d+)$/gm)) latest = Math.max(latest, Number(m[1]));
  return latest > 0 ? Math.max(0, Math.floor(Date.now() / 1000) - latest) : undefined;
}

/**
 * `wg setconf TUNNEL FILE` for wireguard-go, over its control socket: the file (vpnns's own
 * rendering, root's 0600) as the UAPI `set` request; throws with wireguard-go's errno when it
 * refuses. The keys go over the socket only, never on an argv or in a log.
 */
async function uapiSet(ctx: VpnContext, tunnel: string, confFile: string): Promise<void> {
  const sys = ctx.sys;
  const text = await sys.readText(confFile);
  if (text === undefined) throw new VpnnsError(`cannot read ${confFile}; run \`vpnns down\`, then \`vpnns up\` to prepare the client again.`);
  const request = setconfToUapi(text);
  sys.actions.push(`configure ${tunnel} over ${WG_SOCKET_DIR}/${tunnel}.sock (wg setconf ${tunnel} ${confFile})`);
  if (sys.dryRun) return;
  const answer = await uapiRequest(tunnel, request, 5000);
  const errno = /^errno=(-?\d+)$/m.exec(answer ?? '')?.[1];
  if (errno !== '0') {
    throw new VpnnsError(`wireguard-go refused the configuration of ${tunnel} (${answer === undefined ? 'no answer on its socket' : `errno ${errno ?? '?'}`}); see ${ctx.logDir}/wireguard-go.log.`);
  }
}

/** One UAPI request on wireguard-go's socket: its answer up to the blank line, undefined when none came. */
function uapiRequest(tunnel: string, request: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect(`${WG_SOCKET_DIR}/${tunnel}.sock`);
    let text = '';
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.setEncoding('utf8');
    s.once('connect', () => s.write(request));
    s.on('data', (d: string) => {
      text += d;
      // A `get` lists every peer: up to 1 MiB, then nobody sane is answering.
      if (text.length > 1 << 20) done(undefined);
      else if (text.endsWith('\n\n')) done(text);
    });
    s.once('error', () => done(undefined));
    s.once('end', () => done(undefined));
  });
}

async function handshakeAge(ctx: VpnContext, tunnel: string): Promise<number | undefined> {
  const r = await ctx.sys.query(['ip', 'netns', 'exec', ctx.names.ns, 'wg', 'show', tunnel, 'latest-handshakes'], { allowFail: true });
  const latest = Math.max(0, ...r.stdout.trim().split('\n').map((l) => Number(l.split('\t')[1] ?? 0)));
  return latest > 0 ? Math.floor(Date.now() / 1000) - latest : undefined;
}

/** Starts wireguard-go for `tunnel` and resolves once its control socket answers. */
async function startWireguardGo(ctx: VpnContext, bin: string, tunnel: string): Promise<Running> {
  let lastLine = '';
  const proc = ctx.sys.start(
    { name: 'vpn', netns: ctx.names.ns, argv: [bin, '-f', tunnel], env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' } },
    { logFile: `${ctx.logDir}/wireguard-go.log`, onLine: (l) => l.trim() && (lastLine = l.trim()) },
  );
  const socket = `${WG_SOCKET_DIR}/${tunnel}.sock`;
  await waitFor(() => socketAnswers(socket), 5000, async () => {
    const r = await Promise.race([proc.exited, sleep(0).then(() => undefined)]);
    if (!r) return;
    // Its last words may come after the exit.
    await Promise.race([proc.closed, sleep(500)]);
    const why = lastLine ? `: ${lastLine.replace(/^(ERROR|DEBUG|INFO): \([^)]*\) \S+ \S+ /, '')}` : '';
    throw new VpnnsError(`wireguard-go exited at start (code ${r.code})${why}; see ${ctx.logDir}/wireguard-go.log.`);
    // A connect to a socket not yet there costs microseconds: asked often, the client is used as soon as it listens.
  }, 5).catch(async (e) => {
    if (e instanceof VpnnsError) throw e;
    await proc.stop(2000);
    throw new VpnnsError(`wireguard-go did not create ${tunnel} within 5 s; see ${ctx.logDir}/wireguard-go.log.`);
  });
  return proc;
}

/** 0.0.0.0/0 becomes two /1 routes: more specific than the namespace's default, which stays for the client's own packets. */
function splitDefault(routes: string[], v6: boolean): string[] {
  return routes.flatMap((r) => (r === '0.0.0.0/0' ? ['0.0.0.0/1', '128.0.0.0/1'] : r === '::/0' && v6 ? ['::/1', '8000::/1'] : [r]));
}

/** Does a wireguard-go answer on this control socket? Asked without `wg`, which unlinks a socket that refuses. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A socket left by a killed wireguard-go makes the next one fail (FACTS): remove it if nobody answers. */
async function removeStaleSocket(tunnel: string): Promise<void> {
  const path = `${WG_SOCKET_DIR}/${tunnel}.sock`;
  const answered = await socketAnswers(path);
  if (answered) throw new VpnnsError(`a WireGuard interface named ${tunnel} is already running elsewhere on this machine; stop it or choose another namespace name.`);
  await unlinkFile(path).catch(() => {});
}

export async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, each?: () => Promise<void>, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (each) await each();
    if (Date.now() > deadline) throw new Error('timeout');
    await sleep(everyMs);
  }
}
