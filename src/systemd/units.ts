// systemd units for one namespace, rendered from the config, its names and the same ServiceSpecs
// the supervisor runs (pure: no file or process is touched here).
//
//   vpnns-<ns>.target           groups everything; the one unit to enable
//   vpnns-<ns>-netns.service    oneshot: `vpnns up --no-supervisor` / `vpnns down`
//   vpnns-<ns>-vpn.service      Type=notify: `vpnns run vpn` (connect, health check, reconnect)
//   vpnns-<ns>-<name>.service   one per ServiceSpec (proxies, forwards, apps)
//
// Stopping the netns unit stops everything (BindsTo=); a dead VPN unit stops what follows the
// tunnel (proxies), while apps only wait for it (Requires=); stopping the target stops all (PartOf=).
import { clientCgroup } from '../sys/client-cgroup.js';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/types.js';
import type { Names } from '../core/names.js';
import type { ServiceSpec } from '../core/services.js';
import { logDirFor } from '../core/log.js';
import { envFile, execLine, section, unitPath, type Entry } from './syntax.js';
import type { Hide } from '../sandbox/channels.js';
import { ENV_SCRIPT, PERL } from '../sandbox/launch.js';

export interface UnitRuntime {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of bin/vpnns. */
  vpnns: string;
}

/** The node running this code and the bin/vpnns of this installation. */
export function defaultRuntime(): UnitRuntime {
  return { node: process.execPath, vpnns: fileURLToPath(new URL('../../../bin/vpnns', import.meta.url)) };
}

export interface UnitInput {
  cfg: Config;
  names: Names;
  specs: readonly ServiceSpec[];
  /** Absolute path of the config the netns unit passes to `vpnns up` and `down`. */
  configPath: string;
  runtime: UnitRuntime;
}

export interface RenderedFile {
  /** File name inside the unit directory. */
  name: string;
  text: string;
}

/** Unit names derive from the namespace alone, so `vpnns run` finds its siblings without a config. */
export const unitNames = {
  target: (ns: string) => `vpnns-${ns}.target`,
  netns: (ns: string) => `vpnns-${ns}-netns.service`,
  vpn: (ns: string) => `vpnns-${ns}-vpn.service`,
  service: (ns: string, name: string) => `vpnns-${ns}-${name}.service`,
};

/** Marks a unit as written by vpnns for a namespace; uninstall removes only units that carry it. */
export const NAMESPACE_KEY = 'X-VpnnsNamespace';

/** Where `vpnns run prepare` writes a service's environment (0600: it may hold secrets). */
export function envFilePath(names: Pick<Names, 'stateDir'>, service: string): string {
  return `${names.stateDir}/units/${service}.env`;
}

/** Where `vpnns run prepare` writes an app's environment for ENV_SCRIPT (0600, owned by the app's user). */
export function userEnvFilePath(names: Pick<Names, 'stateDir'>, service: string): string {
  return `${names.stateDir}/units/${service}.env0`;
}

export { envFile };

/**
 * The sandbox of an app unit (src/sandbox/channels.ts) as systemd settings: InaccessiblePaths=
 * with `-` (a path missing at start is nothing to hide). systemd does not expand patterns: a
 * pattern stands for the names its programs use. Unlike `vpnns exec`, a tmux directory made
 * after the unit started is not covered (systemd would create a missing one as root, which tmux refuses).
 */
function sandboxEntries(hide: readonly Hide[]): Entry[] {
  // The runtime directory's cover and its keeps are the launcher's: a unit hides the channels one by one.
  const paths = hide.filter((h) => h.kind !== 'keep' && h.channel !== 'runtimeDir').flatMap((h) => (h.path.includes('*') ? (UNIT_NAMES_FOR_PATTERN[h.path.slice(h.path.lastIndexOf('/') + 1)] ?? []).map((n) => `${h.path.slice(0, h.path.lastIndexOf('/'))}/${n}`) : [h.path]));
  const fresh = [...new Set(paths)].filter((p) => !HOST_RESOLVER_PATHS.includes(`-${p}`) && /^\/[^\s"\\%$:*]+$/.test(p));
  return fresh.length ? [['InaccessiblePaths', fresh.map((p) => `-${p}`).join(' ')]] : [];
}

const UNIT_NAMES_FOR_PATTERN: Record<string, string[]> = {
  'wayland-*': ['wayland-0', 'wayland-1'],
  'pipewire-*': ['pipewire-0'],
  'ssh-agent*': ['ssh-agent.socket', 'ssh-agent'],
  'S.*': ['S.gpg-agent', 'S.gpg-agent.ssh', 'S.gpg-agent.extra', 'S.gpg-agent.browser'],
};

const START_LIMIT: Entry[] = [
  ['StartLimitIntervalSec', '300'],
  ['StartLimitBurst', 10],
];

/** Host resolvers a process could reach around the namespace resolv.conf (nscd's cache, systemd-resolved). */
const HOST_RESOLVER_PATHS = ['-/run/nscd', '-/run/systemd/resolve'];

function header(ns: string): string {
  return `# Written by \`vpnns systemd install\` for namespace ${ns}; changes are lost when it runs again.\n`;
}

function unitSection(ns: string, description: string, deps: Entry[]): string {
  return section('Unit', [['Description', description], ...deps, [NAMESPACE_KEY, ns]]);
}

/** Runs inside the namespace with its resolv.conf and nsswitch.conf, as `ip netns exec` would. */
function inNamespace(names: Names): Entry[] {
  return [
    ['NetworkNamespacePath', unitPath(`/run/netns/${names.ns}`)],
    // NetworkNamespacePath= alone does not apply /etc/netns/<ns>: without these, lookups use the host's resolver.
    ['BindReadOnlyPaths', `${unitPath(`${names.etcDir}/resolv.conf`)}:/etc/resolv.conf`],
    ['BindReadOnlyPaths', `${unitPath(`${names.etcDir}/nsswitch.conf`)}:/etc/nsswitch.conf`],
    ['InaccessiblePaths', HOST_RESOLVER_PATHS.join(' ')],
  ];
}

/** What a kernel-facing daemon never needs; each of these breaks nothing vpnns runs. */
const COMMON_HARDENING: Entry[] = [
  ['ProtectKernelModules', true],
  ['ProtectControlGroups', true],
  ['RestrictRealtime', true],
  ['LockPersonality', true],
  ['SystemCallArchitectures', 'native'],
];

type Kind = 'daemon' | 'forward' | 'app';

/** Apps are the user's programs (named app-<name>, also when they run as root); daemons are vpnns's own. */
function kindOf(spec: ServiceSpec): Kind {
  if (spec.process.user || spec.name.startsWith('app-')) return 'app';
  // A host service's inside half is a forwarder too (node, its script wherever vpnns lives).
  if (spec.process.netns && isForwarder(spec)) return 'forward';
  return spec.process.netns ? 'daemon' : 'forward';
}

function isForwarder(spec: ServiceSpec): boolean {
  return spec.process.argv[1]?.endsWith('/forwarder-main.js') === true;
}

/** A forwarder that drops to --uid/--gid after listening (host services) needs to change ids and own its socket. */
function dropsPrivileges(spec: ServiceSpec): boolean {
  return spec.process.argv.includes('--uid');
}

/** Dante's SOCKS auth wrapper makes a private mount namespace (unshare --mount): it needs CAP_SYS_ADMIN and namespaces. */
function makesMountNamespace(spec: ServiceSpec): boolean {
  return spec.process.argv[0] === '/usr/bin/unshare';
}

/** PrivateTmp= hides /tmp and /var/tmp: not for a unit whose own programs live there (a checkout in /tmp). */
export function privateTmp(paths: readonly string[]): Entry[] {
  return paths.some((p) => /^\/(var\/)?tmp\//.test(p)) ? [] : [['PrivateTmp', true]];
}

function hardening(kind: Kind, spec: ServiceSpec, cfg: Config, names: Names): Entry[] {
  if (kind === 'app') {
    // Apps are the user's programs (editors, terminals that may run sudo): only what cannot matter to them.
    return [...COMMON_HARDENING, ['ProtectKernelTunables', true]];
  }
  const base: Entry[] = [
    ['NoNewPrivileges', true],
    ...privateTmp(spec.process.argv),
    ['PrivateDevices', true],
    ['ProtectSystem', 'strict'],
    ['ProtectKernelTunables', true],
    ['ProtectKernelLogs', true],
    ['ProtectHostname', true],
    ['RestrictSUIDSGID', true],
    ...COMMON_HARDENING,
  ];
  if (kind === 'forward') {
    const socketDir = spec.process.argv.find((a) => a.startsWith(`unix:${names.stateDir}/`));
    return [
      ...base,
      // Node reads its script from wherever vpnns is installed, possibly under /home.
      ['ProtectHome', 'read-only'],
      ['CapabilityBoundingSet', dropsPrivileges(spec) ? 'CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_CHOWN' : 'CAP_NET_BIND_SERVICE'],
      // The host half of a host service makes its Unix socket there (the inside half only connects).
      ...(socketDir && !spec.process.netns ? ([['ReadWritePaths', '-' + unitPath(socketDir.slice(5).replace(/\/[^/]+$/, ''))]] as Entry[]) : []),
      ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
      ['RestrictNamespaces', true],
    ];
  }
  // Daemons inside: they write their pid file next to their config and their log under logDir.
  const rw = [`-${unitPath(`${names.stateDir}/proxies`)}`, `-${unitPath(logDirFor(cfg))}`];
  return [
    ...base,
    ['ProtectHome', true],
    ['ReadWritePaths', rw.join(' ')],
    ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX AF_NETLINK'],
    ...(makesMountNamespace(spec) ? [] : ([['RestrictNamespaces', true]] as Entry[])),
  ];
}

function targetUnit(inp: UnitInput, parts: string[]): RenderedFile {
  const { ns } = inp.names;
  const netns = unitNames.netns(ns);
  // Apps without autostart are installed but started only on request (systemctl start).
  const manual = new Set(inp.specs.filter((s) => s.manual).map((s) => unitNames.service(ns, s.name)));
  const rest = parts.filter((p) => p !== netns && !manual.has(p));
  const text =
    header(ns) +
    section('Unit', [
      ['Description', `vpnns namespace ${ns}: VPN, proxies, forwards and apps`],
      ['Requires', netns],
      ...(rest.length ? ([['Wants', rest.join(' ')]] as Entry[]) : []),
      ['After', parts.join(' ')],
      [NAMESPACE_KEY, ns],
    ]) +
    '\n' +
    section('Install', [['WantedBy', 'multi-user.target']]);
  return { name: unitNames.target(ns), text };
}

function netnsUnit(inp: UnitInput): RenderedFile {
  const { ns } = inp.names;
  const { node, vpnns } = inp.runtime;
  const config = unitPath(inp.configPath);
  const text =
    header(ns) +
    unitSection(ns, `vpnns ${ns}: namespace, veth, NAT, kill switch and DNS files`, [
      // `up` resolves the VPN server's name on the host.
      ['Wants', 'network-online.target'],
      ['After', 'network-online.target nftables.service'],
      ['PartOf', unitNames.target(ns)],
      ...START_LIMIT,
    ]) +
    '\n' +
    section('Service', [
      ['Type', 'oneshot'],
      ['RemainAfterExit', true],
      ['ExecStart', execLine([node, vpnns, 'up', '--no-supervisor', '--config', config])],
      // `down` reads what `up` made from the state file, whatever the config says now.
      ['ExecStop', execLine([node, vpnns, 'down', '--config', config])],
      ['Restart', 'on-failure'],
      ['RestartSec', '5s'],
      ['TimeoutStartSec', '120s'],
      ['TimeoutStopSec', '60s'],
      // No sandboxing here on purpose: `ip netns add` must bind-mount /run/netns/<ns> into the
      // host's mount namespace, and any ProtectSystem=/PrivateTmp= would give this unit its own.
    ]);
  return { name: unitNames.netns(ns), text };
}

/**
 * AdGuard's client runs in vpnns's cgroup for it (src/vpn/client-cgroup.ts), which the kill switch
 * admits: the runner must be able to move it there, through the read-only /sys/fs/cgroup of
 * ProtectControlGroups=. The netns unit's `up` makes the cgroup first.
 */
function clientCgroupPath(inp: UnitInput): string[] {
  if (inp.cfg.vpn.type !== 'adguard') return [];
  const cg = clientCgroup(inp.names.ns);
  return cg ? [`-${unitPath(cg.dir)}`] : [];
}

function vpnUnit(inp: UnitInput): RenderedFile {
  const { ns } = inp.names;
  const { node, vpnns } = inp.runtime;
  const netns = unitNames.netns(ns);
  const connect = 'connectTimeout' in inp.cfg.vpn ? inp.cfg.vpn.connectTimeout : 30;
  const followers = tunnelDependents(ns, inp.specs);
  const text =
    header(ns) +
    unitSection(ns, `vpnns ${ns}: VPN client (${inp.cfg.vpn.type})`, [
      ['BindsTo', netns],
      ['After', netns],
      // BindsTo= stops the proxies when this unit goes down; this brings them back when systemd restarts it.
      ...(followers.length ? ([['Wants', followers.join(' ')]] as Entry[]) : []),
      ['PartOf', unitNames.target(ns)],
      ...START_LIMIT,
    ]) +
    '\n' +
    section('Service', [
      // READY=1 when the tunnel is first up, so units ordered after this one find it.
      ['Type', 'notify'],
      // systemd-notify is a child of the runner.
      ['NotifyAccess', 'all'],
      ['ExecStart', execLine([node, vpnns, 'run', 'vpn', '--namespace', ns])],
      // The runner stops its client itself (interface, socket); stragglers get SIGKILL after it exits.
      ['KillMode', 'mixed'],
      // The runner never exits on its own: any exit but a stop is a failure; exit 2 is a bad config.
      ['Restart', 'always'],
      ['RestartSec', '2s'],
      ['RestartPreventExitStatus', 2],
      ['TimeoutStartSec', `${connect + 30}s`],
      ['TimeoutStopSec', '20s'],
      // The client needs /dev/net/tun, `ip netns exec` (mounts) and root: no PrivateDevices=, no capability limits.
      ['NoNewPrivileges', true],
      ...privateTmp([node, vpnns]),
      ['ProtectSystem', 'full'],
      // The runner rewrites the namespace resolv.conf with the DNS the VPN supplies.
      ['ReadWritePaths', [`-${unitPath(inp.names.etcDir)}`, ...clientCgroupPath(inp)].join(' ')],
      ['ProtectControlGroups', true],
      ['RestrictRealtime', true],
      ['LockPersonality', true],
    ]);
  return { name: unitNames.vpn(ns), text };
}

function serviceUnit(inp: UnitInput, spec: ServiceSpec, hasVpn: boolean): RenderedFile {
  const { names, cfg } = inp;
  const { ns } = names;
  const { node, vpnns } = inp.runtime;
  const p = spec.process;
  const kind = kindOf(spec);
  const netns = unitNames.netns(ns);
  const after = [netns];
  const binds = [netns];
  const requires: string[] = [];
  if (spec.needsTunnel && hasVpn) {
    // Followers stop with the VPN unit; the others (apps) only wait for it, and a VPN restart leaves them be.
    (follows(spec) ? binds : requires).push(unitNames.vpn(ns));
    after.push(unitNames.vpn(ns));
  }
  const what = kind === 'forward' ? (p.netns ? 'forwarder inside the namespace' : 'host-side forwarder') : kind === 'app' ? `app, as ${p.user ?? 'root'}` : 'inside the namespace';
  // An app's environment is read by the app's user (ENV_SCRIPT), never by a root process: systemd
  // loads an EnvironmentFile= into ExecStartPre=+ (root node: NODE_OPTIONS) as well.
  const sandboxed = kind === 'app' && p.sandbox !== undefined;
  // `-`: systemd loads environment files for ExecStartPre= too, before `run prepare` has written it.
  const env: Entry[] = !sandboxed && p.env && Object.keys(p.env).length ? [['EnvironmentFile', `-${unitPath(envFilePath(names, spec.name))}`]] : [];
  const argv = sandboxed ? [PERL, '-e', ENV_SCRIPT, '--', unitPath(userEnvFilePath(names, spec.name)), '--', ...p.argv] : p.argv;
  const service: Entry[] = [
    ['Type', 'simple'],
    // `+`: preparation writes under /run/vpnns as root, whatever User= and the sandbox say.
    ...(spec.prepare || env.length || sandboxed ? ([['ExecStartPre', execLine([node, vpnns, 'run', 'prepare', spec.name, '--namespace', ns], '+')]] as Entry[]) : []),
    ['ExecStart', execLine(argv)],
    ...(p.netns ? inNamespace(names) : []),
    ...(sandboxed ? sandboxEntries(p.sandbox!.hide) : []),
    ...(p.user ? ([['User', p.user]] as Entry[]) : []),
    ...(p.gid !== undefined ? ([['Group', p.gid]] as Entry[]) : []),
    ...(p.cwd ? ([['WorkingDirectory', unitPath(p.cwd)]] as Entry[]) : []),
    ...env,
    // Daemons never exit on their own; an app that exits cleanly is left alone.
    ['Restart', kind === 'app' ? 'on-failure' : 'always'],
    ['RestartSec', '2s'],
    ['TimeoutStopSec', `${Math.max(15, Math.ceil((spec.stopGraceMs ?? 0) / 1000))}s`],
    ...hardening(kind, spec, cfg, names),
  ];
  const text =
    header(ns) +
    unitSection(ns, `vpnns ${ns}: ${spec.name} (${what})`, [
      ['BindsTo', binds.join(' ')],
      ...(requires.length ? ([['Requires', requires.join(' ')]] as Entry[]) : []),
      ['After', after.join(' ')],
      ['PartOf', unitNames.target(ns)],
      ...START_LIMIT,
    ]) +
    '\n' +
    section('Service', service);
  return { name: unitNames.service(ns, spec.name), text };
}

/** Every unit of the namespace, target first. */
export function renderUnits(inp: UnitInput): RenderedFile[] {
  const { ns } = inp.names;
  const hasVpn = inp.cfg.vpn.type !== 'none';
  const seen = new Set<string>();
  for (const s of inp.specs) {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s.name)) throw new Error(`systemd: service name ${JSON.stringify(s.name)} cannot be part of a unit name`);
    if (s.name === 'netns' || s.name === 'vpn' || seen.has(s.name)) throw new Error(`systemd: two units would be named ${unitNames.service(ns, s.name)}`);
    seen.add(s.name);
  }
  const parts = [netnsUnit(inp), ...(hasVpn ? [vpnUnit(inp)] : []), ...inp.specs.map((s) => serviceUnit(inp, s, hasVpn))];
  return [targetUnit(inp, parts.map((u) => u.name)), ...parts];
}

/** Stops and starts with the tunnel (the supervisor's rule). */
function follows(spec: ServiceSpec): boolean {
  return spec.needsTunnel && (spec.followsTunnel ?? spec.needsTunnel);
}

/** Unit names of the services that must be restarted when the tunnel is recreated (Dante binds it). */
export function tunnelDependents(ns: string, specs: readonly ServiceSpec[]): string[] {
  return specs.filter(follows).map((s) => unitNames.service(ns, s.name));
}
