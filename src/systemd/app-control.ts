// Starting and stopping one app of a namespace that is up (`vpnns app start|stop`): the live
// supervisor does it on its control socket and answers once the app runs (or has stopped); under
// systemd (no supervisor, the app has its unit) the unit is started or stopped instead. Here, above
// both, because the choice between them is this module's whole job.
import { sleep } from '../sys/process.js';
import { existsSync } from 'node:fs';
import type { AppConfig, Config } from '../config/types.js';
import { appOf } from '../report/apps.js';
import { UsageError, VpnnsError } from '../errors.js';
import { namesFor, type Names } from '../core/names.js';
import type { ServiceSpec } from '../core/services.js';
import { readState, type State } from '../core/state.js';
import type { ComponentStatus } from '../core/status.js';
import { netnsExists } from '../net/ip.js';
import { tcpConnect } from '../net/ports.js';
import { appServiceName, appSpec, appWarnings, isInteractive } from '../services/apps.js';
import { assertTunnelUp } from '../members/tunnel.js';
import { ask } from '../supervisor/control-client.js';
import { MAX_WAIT_MS } from '../supervisor/control-protocol.js';
import { isOurSupervisor, supervisorPid, supervisorStart } from '../supervisor/resource.js';
import { System } from '../sys/system.js';
import { DEFAULT_UNIT_DIR } from './install.js';
import { unitNames } from './units.js';

/** The namespace's apps as it runs them: the config `up` applied when it is up, else the file's. */
export interface AppsOf {
  cfg: Config;
  names: Names;
  state: State | undefined;
}

export async function appsOf(file: Config): Promise<AppsOf> {
  const state = await readState(namesFor(file));
  const cfg = state?.config ?? file;
  return { cfg, names: namesFor(cfg), state };
}

async function requireUp(l: AppsOf, sys: System): Promise<State> {
  if (!l.state || !(await netnsExists(sys, l.names.ns))) throw new VpnnsError(`namespace ${l.names.ns} is not up; run \`sudo vpnns up\` first.`);
  return l.state;
}

/** The live supervisor's PID, or the systemd unit that runs the app instead. */
async function controller(l: AppsOf, state: State, service: string): Promise<{ pid: number } | { unit: string }> {
  // Answers on the control socket come from the supervisor; this is only which way to go.
  const pid = supervisorPid(state);
  if (await isOurSupervisor(pid, l.names.ns, supervisorStart(state))) return { pid: pid! };
  const unit = unitNames.service(l.names.ns, service);
  if (existsSync(`${DEFAULT_UNIT_DIR}/${unit}`) && existsSync('/run/systemd/system')) return { unit };
  throw new VpnnsError(`the vpnns supervisor of namespace ${l.names.ns} is not running; run \`sudo vpnns up\` again to restart it.`);
}

/** An app that may be started: it runs a command of its own (not Kilo's terminal) and the namespace is up. */
interface Startable {
  app: AppConfig;
  spec: ServiceSpec;
  state: State;
}

async function startable(l: AppsOf, name: string, sys: System): Promise<Startable> {
  const app = appOf(l.cfg, name);
  if (isInteractive(name, app)) throw new UsageError(`apps.${name} is interactive (Kilo CLI); run it in your terminal with \`vpnns kilo\`.`);
  const spec = appSpec(l.cfg, l.names, name);
  if (!spec) throw new UsageError(`apps.${name} has nothing to run; add \`command: [PROGRAM, ARGS...]\` to it.`);
  return { app, spec, state: await requireUp(l, sys) };
}

export type StartResult = { unit: string } | { status: ComponentStatus | undefined } | { wouldAsk: number };

/**
 * Starts app `name` (refused while the tunnel is down, for an app that needs it; `warn` hears the
 * config's warnings about it), and returns once it runs and its port (if it has one) answers:
 * `unit` when systemd started it, else its status as the supervisor has it; under --dry-run
 * (`sys`) only which supervisor it would ask (`wouldAsk`), or the systemctl call recorded in
 * `sys.actions`. With the app and its service's name, for what is said about it.
 */
export async function startApp(
  l: AppsOf, name: string, timeoutMs: number, sys = new System(false), warn: (warning: string) => void = () => {},
): Promise<{ app: AppConfig; service: string; result: StartResult }> {
  const s = await startable(l, name, sys);
  if (s.spec.needsTunnel) await assertTunnelUp(l.names.ns, sys, l.cfg.vpn.type);
  for (const w of appWarnings({ ...l.cfg, apps: { [name]: s.app } })) warn(w);
  return { app: s.app, service: s.spec.name, result: await startStartable(l, name, s, timeoutMs, sys) };
}

async function startStartable(l: AppsOf, name: string, s: Startable, timeoutMs: number, sys: System): Promise<StartResult> {
  const ctl = await controller(l, s.state, s.spec.name);
  if ('unit' in ctl) {
    await sys.change(['systemctl', 'start', ctl.unit], { timeoutMs });
    return { unit: ctl.unit };
  }
  if (sys.dryRun) return { wouldAsk: ctl.pid };
  const deadline = Date.now() + timeoutMs;
  let c = await ask<ComponentStatus>(l.names, 'app.start', { service: s.spec.name, waitMs: Math.min(timeoutMs, MAX_WAIT_MS) });
  // Running is not yet listening: the app's port answers when the command returns.
  while (s.app.port !== undefined && !(await tcpConnect(l.names.nsAddr, s.app.port, 1000)).open) {
    if (Date.now() > deadline) throw new VpnnsError(`${name} is running but its port ${s.app.port} does not answer after ${Math.round(timeoutMs / 1000)} s; see \`vpnns app logs ${name}\`.`);
    await sleep(200);
  }
  c = (await ask<{ components: Record<string, ComponentStatus> }>(l.names, 'status')).components[s.spec.name] ?? c;
  return { status: c };
}

/** Stops it (it stays stopped until `app start` or the next `up`): `unit` when systemd stopped it; under --dry-run as startApp. */
export async function stopApp(l: AppsOf, name: string, timeoutMs: number, sys = new System(false)): Promise<{ unit?: string } | { wouldAsk: number; service: string }> {
  const a = appOf(l.cfg, name);
  if (isInteractive(name, a)) throw new UsageError(`apps.${name} is interactive (Kilo CLI); it runs only while \`vpnns kilo\` does.`);
  const service = appServiceName(name);
  const state = await requireUp(l, sys);
  const ctl = await controller(l, state, service);
  if ('unit' in ctl) {
    await sys.change(['systemctl', 'stop', ctl.unit], { timeoutMs });
    return { unit: ctl.unit };
  }
  if (sys.dryRun) return { wouldAsk: ctl.pid, service };
  await ask(l.names, 'app.stop', { service, waitMs: Math.min(timeoutMs, MAX_WAIT_MS) });
  return {};
}
