// `vpnns kilo`'s launch: Kilo CLI in the current directory, inside the namespace, as the user;
// refused while the namespace is down or the VPN is not connected.
import type { Config } from '../config/types.js';
import { UsageError, VpnnsError } from '../errors.js';
import { namesFor } from '../core/names.js';
import { readState } from '../core/state.js';
import { netnsExists } from '../net/ip.js';
import type { Launch } from '../sandbox/index.js';
import { System } from '../sys/system.js';
import { kiloApp, kiloProgram } from '../services/kilo-program.js';
import { kiloArgv } from '../services/profiles/kilo.js';
import { invokingUser, userExists } from './invoker.js';
import { execLaunch } from './launch.js';
import { assertTunnelUp } from './tunnel.js';

export interface KiloLaunch {
  launch: Launch;
  user: string;
  ns: string;
}

/**
 * How Kilo runs for `file` (the config as it is now): with `args` after the program, as `user` (or
 * apps.kilo.user, or the invoking user); `warn` hears a warning before anything can still refuse.
 * Under `dryRun` the lookups run and nothing changes.
 */
export async function kiloLaunch(file: Config, asked: { user?: string; dryRun: boolean; args: readonly string[] }, warn: (line: string) => void): Promise<KiloLaunch> {
  const state = await readState(namesFor(file));
  const cfg = state?.config ?? file;
  const ns = cfg.namespace;
  const sys = new System(asked.dryRun);
  if (!state || !(await netnsExists(sys, ns))) {
    throw new VpnnsError(`namespace ${ns} is not up, so Kilo would not be confined; run \`sudo vpnns up\` first.`);
  }
  await assertTunnelUp(ns, sys, cfg.vpn.type);
  // The user asked for now, or written in the file; not the one `up` was run by.
  const app = kiloApp(file) ?? kiloApp(cfg);
  const who = asked.user !== undefined ? { user: asked.user, source: '--user' } : kiloApp(file)?.user ? { user: kiloApp(file)!.user!, source: 'apps.kilo.user' } : invokingUser();
  if (!userExists(who.user)) throw new UsageError(`user "${who.user}" does not exist on this machine; pass an existing one with --user.`);
  if (who.user === 'root' && who.source === 'default') {
    warn('vpnns: warning: running Kilo as root (no SUDO_USER and no --user); pass --user NAME to run it as a normal user.');
  }
  const program = await kiloProgram(sys, app, who.user);
  // The app's environment (e.g. provider settings) on top of the caller's, for Kilo only: never
  // in vpnns's own environment, where every root helper would inherit it (LD_PRELOAD, NODE_OPTIONS).
  // Kilo takes its working directory from $PWD, which sudo and other callers may leave stale.
  const extra = { ...(app?.env ?? {}), PWD: process.cwd() };
  return { launch: execLaunch(file, ns, who.user, kiloArgv(program, asked.args), extra), user: who.user, ns };
}
