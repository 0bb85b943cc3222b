import { UsageError } from '../errors.js';
import { namesFor } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import { trustedState, upConfig } from '../core/up-config.js';
import { netnsNamed } from '../net/netns-peek.js';
import { assertTunnelUp } from '../members/tunnel.js';
import { execLaunch } from '../members/launch.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { invokingUser, userExists } from '../members/invoker.js';
import type { Config } from '../config/types.js';
import type { Parsed } from './args.js';
import { traceMark } from '../sys/trace.js';
import { System } from '../sys/system.js';

export const execCommand: Command = {
  name: 'exec',
  usage: `vpnns exec [--user USER] [--no-vpn-check] -- CMD [ARGS...]

Runs CMD inside the namespace as the invoking user (SUDO_USER under sudo, or --user), with that
user's groups, HOME/USER/LOGNAME, the rest of the environment, the working directory, the terminal,
and the namespace's resolv.conf. Returns CMD's exit code. Refuses while the VPN is not connected
unless --no-vpn-check is given.`,
  options: { user: { value: true, short: 'u' }, namespace: { value: true }, 'no-vpn-check': {} },
  async run(args, io) {
    requireRoot('exec');
    const cmd = args.rest.length ? args.rest : args.positional;
    if (!cmd.length) throw new UsageError('nothing to run; e.g. `vpnns exec -- curl https://example.com`.');
    traceMark('exec: command loaded');
    const { cfg, state } = await execConfig(args);
    traceMark('exec: config');
    const ns = state?.config.namespace ?? cfg.namespace;
    if (!netnsNamed(ns)) throw new UsageError(`namespace ${ns} is not up; run \`sudo vpnns up\` first.`);
    if (args.opts['no-vpn-check'] !== true) await assertTunnelUp(ns, undefined, state?.config.vpn.type ?? cfg.vpn.type);
    traceMark('exec: tunnel checked');
    const who = invokingUser(typeof args.opts.user === 'string' ? args.opts.user : undefined);
    if (!userExists(who.user)) throw new UsageError(`user "${who.user}" does not exist on this machine; pass an existing one with --user.`);
    if (who.user === 'root' && who.source === 'default') {
      io.err('vpnns: warning: running as root (no SUDO_USER and no --user); pass --user NAME to run as a normal user.');
    }
    // The sandbox as the config file says now (like the kilo app), not as it was at `up`.
    return new System(false).foreground(execLaunch(cfg, ns, who.user, cmd), io);
  },
};

/**
 * The config exec acts on, and the namespace's state. `--namespace NS` without `--config`: NS's
 * trusted state and the config it says (core/up-config.ts: no YAML parsed while the file `up` read is
 * unchanged). Without state, or with --config, the config file is loaded as before.
 */
async function execConfig(args: Parsed): Promise<{ cfg: Pick<Config, 'namespace' | 'vpn' | 'sandbox'>; state: State | undefined }> {
  if (typeof args.opts.namespace === 'string' && typeof args.opts.config !== 'string') {
    const state = await trustedState(args.opts.namespace);
    if (state) return { cfg: await upConfig(state), state };
  }
  const cfg = await configFrom(args);
  return { cfg, state: await readState(namesFor(cfg)) };
}
