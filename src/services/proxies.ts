// The proxies that let host programs use the tunnel: Dante (SOCKS5) and Tinyproxy (HTTP) inside
// the namespace, each optionally published on the host's 127.0.0.1 by a forwarder.
// Their configs are rendered again before every start, so a recreated tunnel (whose name may only
// be known at run time) is always the one Dante binds.
import type { Config } from '../config/types.js';
import type { Names } from '../core/names.js';
import { logDirFor } from '../core/log.js';
import { registerServices, type ServiceSpec } from '../core/services.js';
import { readText, type System } from '../sys/system.js';
import { dantedArgv, renderDantedConf, socksUserDb, withPrivateUserDb } from './danted.js';
import { forwardProcess } from './forward.js';
import { renderTinyproxyConf, tinyproxyArgv } from './tinyproxy.js';
import { PROXY_GROUP, PROXY_USER } from './proxy-identity.js';

/** What the supervisor knows when it starts a service; `tunnel` is the live interface name. */
export interface PrepareContext {
  tunnel?: string;
}

export interface ProxyPaths {
  dir: string;
  dantedConf: string;
  dantedPid: string;
  /** passwd/shadow seen only by danted, when SOCKS auth is configured. */
  socksPasswd: string;
  socksShadow: string;
  tinyproxyConf: string;
  socksLog: string;
  httpLog: string;
}

export function proxyPaths(cfg: Pick<Config, 'logDir' | 'namespace'>, names: Pick<Names, 'stateDir'>): ProxyPaths {
  const dir = `${names.stateDir}/proxies`;
  const logs = logDirFor(cfg);
  return {
    dir,
    dantedConf: `${dir}/danted.conf`,
    dantedPid: `${dir}/danted.pid`,
    socksPasswd: `${dir}/socks-passwd`,
    socksShadow: `${dir}/socks-shadow`,
    tinyproxyConf: `${dir}/tinyproxy.conf`,
    socksLog: `${logs}/socks.log`,
    httpLog: `${logs}/http.log`,
  };
}

/**
 * The tunnel name when the supervisor does not pass the live one: the command provider names it in
 * the config; AdGuard picks its own (a pattern such as "tun*"), normally tun0; the others use ours.
 */
export function expectedTunnel(cfg: Pick<Config, 'vpn'>, names: Pick<Names, 'tunnel'>): string {
  if (cfg.vpn.type === 'command') return cfg.vpn.interface;
  if (cfg.vpn.type === 'adguard') return 'tun0';
  return names.tunnel;
}


export function proxyServices(cfg: Config, names: Names): ServiceSpec[] {
  // Without a VPN there is no tunnel for Dante to bind, and nothing for a proxy to add.
  if (cfg.vpn.type === 'none') return [];
  const p = proxyPaths(cfg, names);
  const allowFrom = [`${names.hostAddr}/32`];
  const { socks, http } = cfg.proxies;
  const out: ServiceSpec[] = [];

  if (socks.enabled) {
    const auth = socks.username !== undefined && socks.password !== undefined ? { username: socks.username, password: socks.password } : undefined;
    const argv = dantedArgv(p.dantedConf, p.dantedPid);
    out.push({
      name: 'socks',
      process: { name: 'socks', argv: auth ? withPrivateUserDb(p.socksPasswd, p.socksShadow, argv) : argv, netns: names.ns },
      // Dante refuses to start unless its `external:` interface exists.
      needsTunnel: true,
      // What prepare() writes into its config: a change restarts it (a running supervisor reloads).
      key: JSON.stringify(socks),
      logFile: p.socksLog,
      async prepare(sys: System, ctx?: PrepareContext) {
        await sys.mkdir(p.dir);
        await sys.mkdir(logDirFor(cfg));
        if (auth) {
          const hostPasswd = await readText('/etc/passwd');
          if (hostPasswd === undefined) throw new Error('cannot read /etc/passwd');
          const db = socksUserDb(hostPasswd, auth.username, auth.password);
          await sys.writeFile(p.socksPasswd, db.passwd, { mode: 0o644 });
          await sys.writeFile(p.socksShadow, db.shadow, { mode: 0o600, secret: true });
        }
        const live = ctx?.tunnel && !ctx.tunnel.includes('*') ? ctx.tunnel : undefined;
        const conf = renderDantedConf({
          listen: names.nsAddr,
          port: socks.port,
          external: live ?? expectedTunnel(cfg, names),
          allowFrom,
          auth: auth ? { username: auth.username } : undefined,
          logFile: p.socksLog,
        });
        await sys.writeFile(p.dantedConf, conf, { mode: 0o644 });
      },
    });
    if (socks.publish) out.push(publishService('socks', socks.port, names));
  }

  if (http.enabled) {
    out.push({
      name: 'http',
      process: { name: 'http', argv: tinyproxyArgv(p.tinyproxyConf), netns: names.ns },
      // It follows the routing table, so it must not serve while there is no tunnel to follow.
      needsTunnel: true,
      key: JSON.stringify(http),
      logFile: p.httpLog,
      async prepare(sys: System) {
        await sys.mkdir(p.dir);
        // Tinyproxy opens its log after dropping to nobody: the directory must be traversable
        // (0755) and the file must already be that user's.
        await sys.mkdir(logDirFor(cfg), 0o755);
        // Made and chowned through one O_NOFOLLOW fd: touch + chown would follow a link planted
        // there and hand any file on the machine to nobody. 0640: it may name what was requested.
        await sys.createLogFileFor(p.httpLog, PROXY_USER, PROXY_GROUP);
        const conf = renderTinyproxyConf({
          listen: names.nsAddr,
          port: http.port,
          allowFrom,
          logFile: p.httpLog,
          user: PROXY_USER,
          group: PROXY_GROUP,
        });
        await sys.writeFile(p.tinyproxyConf, conf, { mode: 0o644 });
      },
    });
    if (http.publish) out.push(publishService('http', http.port, names));
  }
  return out;
}

/** The host's 127.0.0.1:PORT carried to the proxy's namespace address; host-side, independent of the tunnel. */
function publishService(proxy: 'socks' | 'http', port: number, names: Names): ServiceSpec {
  const name = `forward-${proxy}`;
  return {
    name,
    process: forwardProcess({ name, listen: { host: '127.0.0.1', port }, target: { host: names.nsAddr, port } }),
    needsTunnel: false,
  };
}

registerServices(proxyServices);
