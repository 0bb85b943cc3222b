// What the systemd units run besides the daemons themselves (hidden commands):
//   vpnns run vpn --namespace NS              the VPN client in the foreground: connect, health check,
//                                             reconnect; READY=1 to systemd when the tunnel is first up
//   vpnns run prepare SERVICE --namespace NS  a service's config files (ExecStartPre=)
// Both read the state `vpnns up --no-supervisor` wrote, like `vpnns supervise`, so a unit runs
// exactly the config the namespace was made with.
import { VpnnsError, UsageError } from '../errors.js';
import { namesFor, stateDirOf, type Names } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { serviceSpecs, type ServiceSpec } from '../core/services.js';
import { readStatus } from '../core/status.js';
import { sleep } from '../sys/process.js';
import { System } from '../sys/system.js';
import { envFile, envFilePath, tunnelDependents, unitNames, userEnvFilePath } from '../systemd/units.js';
import { lookupUser } from '../services/apps.js';
import { encodeEnv } from '../sandbox/launch.js';
import { requireRoot, type Command, type Io } from './command.js';
import '../services/index.js';

async function loadState(ns: string): Promise<{ state: State; names: Names }> {
  const state = await readState(stateDirOf(ns));
  // Not a usage error (exit 2 stops systemd's restarts): the netns unit may be coming up again.
  if (!state) throw new VpnnsError(`namespace ${ns} is not up; start vpnns-${ns}-netns.service (or \`vpnns up --no-supervisor\`) first.`);
  return { state, names: namesFor(state.config) };
}

/** What the VPN runner tells and asks systemd goes through the executor like every other command. */
const unitSys = new System(false);

/** sd_notify through systemd-notify; only when started by systemd with Type=notify. */
async function notify(fields: string[]): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  await unitSys.change(['systemd-notify', ...fields], { allowFail: true, timeoutMs: 5000 });
}

/**
 * systemd-notify waits until systemd has read the message (a barrier), but a notification whose
 * sender is gone before systemd maps its PID to a unit is dropped: check, and send again.
 */
async function notifyReady(unit: string, status: string): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  for (let i = 0; i < 10; i++) {
    await notify(['--ready', `--status=${status}`]);
    await sleep(500 + i * 250);
    const r = await unitSys.query(['systemctl', 'is-active', unit], { allowFail: true, timeoutMs: 5000 });
    if (r.stdout.trim() !== 'activating') return;
  }
}

/** Services bound to the tunnel that are running with the old one (Dante pins its interface). */
async function restartTunnelDependents(units: string[], tunnelSinceUs: bigint, log: (l: string) => void): Promise<void> {
  if (!units.length || !process.env.NOTIFY_SOCKET) return;
  const stale: string[] = [];
  for (const unit of units) {
    const r = await unitSys.query(['systemctl', 'show', '-p', 'ActiveState', '-p', 'ActiveEnterTimestampMonotonic', unit], { allowFail: true, timeoutMs: 5000 });
    const props = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/=(.*)/s, 2) as [string, string]));
    // Both are CLOCK_MONOTONIC in microseconds.
    if (props.ActiveState === 'active' && BigInt(props.ActiveEnterTimestampMonotonic || '0') < tunnelSinceUs) stale.push(unit);
  }
  if (!stale.length) return;
  log(`tunnel recreated: restarting ${stale.join(' ')}`);
  // --no-block: this runs inside a unit; waiting on jobs from here can deadlock.
  await unitSys.change(['systemctl', 'try-restart', '--no-block', ...stale], { allowFail: true, timeoutMs: 10_000 });
}

async function runVpn(ns: string, io: Io): Promise<number> {
  const { state, names } = await loadState(ns);
  if (state.config.vpn.type === 'none') throw new UsageError(`namespace ${ns} has no VPN (vpn.type is none); there is nothing to run.`);
  const sup = new Supervisor(state.config, names, state, { only: 'vpn', logToStderr: true });
  sup.exitOnCrash();
  const dependents = tunnelDependents(ns, serviceSpecs(state.config, names));
  let ready = false;
  sup.events.on('tunnel-up', (tunnel: string) => {
    const status = `connected: tunnel ${tunnel}`;
    const first = !ready;
    ready = true;
    // Dependents that were already running when this tunnel appeared hold the old one (after a
    // reconnect, or when systemd restarted this runner under them); ones started since are fine, and
    // restarting them right after they start would only make them flap.
    const tunnelSinceUs = process.hrtime.bigint() / 1000n;
    void (first ? notifyReady(unitNames.vpn(ns), status) : notify([`--status=${status}`])).then(() =>
      restartTunnelDependents(dependents, tunnelSinceUs, (l) => io.err(l)),
    );
  });
  sup.events.on('tunnel-down', () => void notify(['--status=reconnecting']));
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void notify(['STOPPING=1']);
    void sup.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    await sup.run();
    return 0;
  } catch (e) {
    io.err(`vpnns run vpn: ${(e as Error).message}`);
    await sup.stop();
    return 1;
  }
}

async function prepare(ns: string, service: string, io: Io, dryRun = false): Promise<number> {
  const { state, names } = await loadState(ns);
  const specs: ServiceSpec[] = serviceSpecs(state.config, names);
  const spec = specs.find((s) => s.name === service);
  if (!spec) {
    throw new UsageError(`namespace ${ns} has no service "${service}"; it has: ${specs.map((s) => s.name).join(', ') || 'none'}. Reinstall the units after changing the config.`);
  }
  const sys = new System(dryRun);
  // Dante binds the live tunnel, which the VPN runner records once connected.
  const tunnel = (await readStatus(names))?.components.vpn?.detail?.tunnel;
  await spec.prepare?.(sys, { tunnel: typeof tunnel === 'string' ? tunnel : undefined });
  const env = spec.process.env ?? {};
  if (spec.process.sandbox) {
    // An app's environment (apps.*.env, its password): read by the app's own user after systemd's
    // drop (User=), never loaded into a root process as an EnvironmentFile= would be (this very
    // ExecStartPre= runs as root with the unit's environment).
    const u = lookupUser(spec.process.user ?? 'root');
    if (!u) throw new VpnnsError(`user "${spec.process.user}" of ${service} does not exist on this machine; create it or change apps.*.user and reinstall the units.`);
    await sys.writeFile(userEnvFilePath(names, spec.name), encodeEnv(env).toString(), { mode: 0o600, secret: true, owner: { uid: u.uid, gid: u.gid } });
  } else if (Object.keys(env).length) await sys.writeFile(envFilePath(names, spec.name), envFile(env), { mode: 0o600, secret: true });
  if (dryRun) {
    for (const a of sys.actions) io.out(a.trimEnd());
    io.out('# nothing changed (--dry-run).');
  }
  return 0;
}

export const runCommand: Command = {
  name: 'run',
  usage: `vpnns run vpn --namespace NS
vpnns run prepare SERVICE --namespace NS

Used by the units \`vpnns systemd install\` writes; the namespace must be up (vpnns up --no-supervisor).
  vpn       run the VPN client in the foreground: connect, health check, reconnect with backoff
  prepare   write SERVICE's config files before it starts (--dry-run: print them, write nothing)`,
  hidden: true,
  dryRun: true,
  options: { namespace: { value: true } },
  async run(args, io) {
    const dryRun = args.opts['dry-run'] === true;
    if (!dryRun) requireRoot('run');
    const ns = args.opts.namespace;
    if (typeof ns !== 'string') throw new UsageError('--namespace is required.');
    const [what, service, ...extra] = args.positional;
    if (what === 'vpn' && service === undefined) {
      // The VPN client in the foreground is all it does: there is nothing to show without running it.
      if (dryRun) throw new UsageError('`vpnns run vpn` has no --dry-run (it is the VPN client itself); `vpnns up --dry-run` shows what up would do.');
      return runVpn(ns, io);
    }
    if (what === 'prepare' && service !== undefined && !extra.length) return prepare(ns, service, io, dryRun);
    throw new UsageError('expected `vpnns run vpn --namespace NS` or `vpnns run prepare SERVICE --namespace NS`.');
  },
};
