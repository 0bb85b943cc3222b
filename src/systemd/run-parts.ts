// What the units `vpnns systemd install` writes run besides the daemons themselves
// (`vpnns run vpn|prepare`): the VPN client in the foreground, telling systemd when the tunnel is
// up, and a service's files before it starts. Both read the state `vpnns up --no-supervisor` wrote,
// like `vpnns supervise`, so a unit runs exactly the config the namespace was made with.
import { VpnnsError, UsageError } from '../errors.js';
import { namesFor, stateDirOf, type Names } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import { serviceSpecs, type ServiceSpec } from '../core/services.js';
import { readStatus } from '../core/status.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { System } from '../sys/system.js';
import { lookupUser } from '../services/apps.js';
import { encodeEnv } from '../sandbox/launch.js';
import { envFile, envFilePath, tunnelDependents, unitNames, userEnvFilePath } from './units.js';
import { notify, notifyReady, restartTunnelDependents } from './notify.js';
import '../services/index.js';

async function loadState(ns: string): Promise<{ state: State; names: Names }> {
  // stateDirOf checks NS by the namespace-name rule before any path is built from it.
  const state = await readState(stateDirOf(ns));
  // Not a usage error (exit 2 stops systemd's restarts): the netns unit may be coming up again.
  if (!state) throw new VpnnsError(`namespace ${ns} is not up; start vpnns-${ns}-netns.service (or \`vpnns up --no-supervisor\`) first.`);
  return { state, names: namesFor(state.config) };
}

export interface VpnPart {
  /**
   * Supervises the VPN client in this process until SIGTERM/SIGINT (then the process exits 0):
   * connect, health check, reconnect; READY=1 once the tunnel is first up. Rejects when the
   * supervisor fails, after stopping it.
   */
  run(): Promise<void>;
}

/**
 * The VPN client of namespace NS, ready to run; throws (one sentence) when NS is not up or has no
 * VPN. `log` gets what is worth a line on stderr (the journal).
 */
export async function vpnPart(ns: string, log: (line: string) => void): Promise<VpnPart> {
  const { state, names } = await loadState(ns);
  if (state.config.vpn.type === 'none') throw new UsageError(`namespace ${ns} has no VPN (vpn.type is none); there is nothing to run.`);
  const sup = new Supervisor(state.config, names, state, { only: 'vpn', logToStderr: true });
  return { run: () => superviseVpn(sup, ns, tunnelDependents(ns, serviceSpecs(state.config, names)), log) };
}

async function superviseVpn(sup: Supervisor, ns: string, dependents: string[], log: (line: string) => void): Promise<void> {
  sup.exitOnCrash();
  let ready = false;
  sup.events.on('tunnel-up', (tunnel: string) => {
    const status = `connected: tunnel ${tunnel}`;
    const first = !ready;
    ready = true;
    // Dependents that were already running when this tunnel appeared hold the old one (after a
    // reconnect, or when systemd restarted this runner under them); ones started since are fine, and
    // restarting them right after they start would only make them flap.
    const tunnelSinceUs = process.hrtime.bigint() / 1000n;
    void (first ? notifyReady(unitNames.vpn(ns), status) : notify([`--status=${status}`])).then(() => restartTunnelDependents(dependents, tunnelSinceUs, log));
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
  } catch (e) {
    await sup.stop();
    throw e;
  }
}

/**
 * Service SERVICE's files of namespace NS (its ExecStartPre=): its config files and its environment.
 * Returns what it did (`sys.actions`); under --dry-run (`dryRun`) that is all, nothing is written.
 */
export async function preparePart(ns: string, service: string, dryRun = false): Promise<string[]> {
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
  return sys.actions;
}
