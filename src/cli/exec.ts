import { spawn, type StdioOptions } from 'node:child_process';
import type { Writable } from 'node:stream';
import { constants } from 'node:os';
import { UsageError, VpnnsError } from '../errors.js';
import { namesFor, stateDirOf } from '../plan/names.js';
import { readState } from '../plan/state.js';
import { System } from '../sys/system.js';
import { netnsExists } from '../net/ip.js';
import { readStatus } from '../supervisor/status.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { invokingUser, userExists } from './invoker.js';
import type { Config } from '../config/types.js';
import { lookupUser } from '../services/apps.js';
import { renderLaunch, type Launch } from '../sandbox/index.js';
import { PERL } from '../sandbox/launch.js';
import { existsSync } from 'node:fs';

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/**
 * How CMD runs inside as USER: `ip netns exec` applies /etc/netns, the sandbox hides the user's
 * local channels, runuser sets HOME and groups, and the caller's environment (plus `extraEnv`)
 * reaches CMD only after the privilege drop (src/sandbox/launch.ts).
 */
export function execLaunch(cfg: Pick<Config, 'sandbox'>, ns: string, user: string, cmd: readonly string[], extraEnv: Record<string, string> = {}, callerEnv: NodeJS.ProcessEnv = process.env): Launch {
  if (!existsSync(PERL)) throw new UsageError(`${PERL} is missing (vpnns's sandbox needs it); install it with: apt-get install perl-base`);
  const u = lookupUser(user);
  if (!u) throw new UsageError(`user "${user}" does not exist on this machine; pass an existing one with --user.`);
  return renderLaunch({ ns, user: u, sandbox: cfg.sandbox, cmd, callerEnv, extraEnv });
}

/** Refuses while the tunnel is down (requireVpn), so a program never starts unprotected. */
export async function assertTunnelUp(ns: string, sys: System, vpnType: string): Promise<void> {
  if (vpnType === 'none') return;
  const st = await readStatus(stateDirOf(ns));
  const vpn = st?.components.vpn;
  const tunnel = (vpn?.detail?.tunnel as string | undefined) ?? undefined;
  const linkUp = tunnel ? (await sys.query(['ip', '-n', ns, 'link', 'show', tunnel], { allowFail: true })).code === 0 : false;
  if (vpn?.state !== 'running' || !linkUp) {
    throw new VpnnsError(
      `the VPN in namespace ${ns} is not connected (${vpn?.state ?? 'no supervisor'}${vpn?.lastError ? `: ${vpn.lastError}` : ''}); wait for it to reconnect (\`vpnns status\`) or run \`sudo vpnns up\`.`,
    );
  }
}

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
    const cfg = await configFrom(args);
    const sys = new System(false);
    const state = await readState(namesFor(cfg));
    const ns = state?.config.namespace ?? cfg.namespace;
    if (!(await netnsExists(sys, ns))) throw new UsageError(`namespace ${ns} is not up; run \`sudo vpnns up\` first.`);
    if (args.opts['no-vpn-check'] !== true) await assertTunnelUp(ns, sys, state?.config.vpn.type ?? cfg.vpn.type);
    const who = invokingUser(typeof args.opts.user === 'string' ? args.opts.user : undefined);
    if (!userExists(who.user)) throw new UsageError(`user "${who.user}" does not exist on this machine; pass an existing one with --user.`);
    if (who.user === 'root' && who.source === 'default') {
      io.err('vpnns: warning: running as root (no SUDO_USER and no --user); pass --user NAME to run as a normal user.');
    }
    // The sandbox as the config file says now (like the kilo app), not as it was at `up`.
    return spawnForeground(execLaunch(cfg, ns, who.user, cmd), io);
  },
};

/** Runs a launch in the foreground: the terminal, signals and exit code pass through; the program's environment goes on fd 3. */
export function spawnForeground(launch: Pick<Launch, 'argv' | 'env'> & { payload?: Buffer }, io: { err(l: string): void }): Promise<number> {
  const { argv } = launch;
  return new Promise((resolve) => {
    const stdio: StdioOptions = launch.payload ? ['inherit', 'inherit', 'inherit', 'pipe'] : 'inherit';
    const child = spawn(argv[0]!, argv.slice(1), { stdio, env: launch.env, cwd: process.cwd() });
    const envPipe = child.stdio[3] as Writable | null | undefined;
    // The reader is the user's perl, which may never start (a failed mount): a closed pipe is not an error.
    envPipe?.on('error', () => {});
    if (launch.payload) envPipe?.end(launch.payload);
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of [...FORWARDED, 'SIGINT' as const]) {
      // Ctrl-C on a terminal already reaches the child (same process group); forward SIGINT only
      // when it cannot have come from the terminal, or the child would see it twice.
      const h = () => {
        if (sig === 'SIGINT' && process.stdin.isTTY) return;
        child.kill(sig);
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    const done = (code: number) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      resolve(code);
    };
    child.on('error', (e) => {
      io.err(`vpnns: cannot run ${argv[0]}: ${e.message}`);
      done(127);
    });
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
  });
}
