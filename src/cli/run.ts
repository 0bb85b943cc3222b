// What the systemd units run besides the daemons themselves (hidden commands):
//   vpnns run vpn --namespace NS              the VPN client in the foreground: connect, health check,
//                                             reconnect; READY=1 to systemd when the tunnel is first up
//   vpnns run prepare SERVICE --namespace NS  a service's config files (ExecStartPre=)
// The parts themselves are systemd/run-parts.ts's.
import { UsageError } from '../errors.js';
import { preparePart, vpnPart } from '../systemd/run-parts.js';
import { requireRoot, type Command, type Io } from './command.js';

async function runVpn(ns: string, io: Io): Promise<number> {
  const part = await vpnPart(ns, (l) => io.err(l));
  try {
    await part.run();
    return 0;
  } catch (e) {
    io.err(`vpnns run vpn: ${(e as Error).message}`);
    return 1;
  }
}

export const runCommand: Command = {
  name: 'run',
  usage: `vpnns run vpn --namespace NS
vpnns run prepare SERVICE --namespace NS

Used by the units \`vpnns systemd install\` writes; the namespace must be up (vpnns up --no-supervisor).
  vpn       run the VPN client in the foreground: connect, health check, reconnect with backoff
  prepare   write SERVICE's config files before it starts`,
  hidden: true,
  dryRun: true,
  options: { namespace: { value: true } },
  async run(args, io) {
    if (args.opts['dry-run'] !== true) requireRoot('run');
    const ns = args.opts.namespace;
    if (typeof ns !== 'string') throw new UsageError('--namespace is required.');
    const [what, service, ...extra] = args.positional;
    const dryRun = args.opts['dry-run'] === true;
    if (what === 'vpn' && service === undefined) {
      // The VPN client in the foreground is all it does: there is nothing to show without running it.
      if (dryRun) throw new UsageError('`vpnns run vpn` has no --dry-run (it is the VPN client itself); `vpnns up --dry-run` shows what up would do.');
      return runVpn(ns, io);
    }
    if (what === 'prepare' && service !== undefined && !extra.length) {
      const actions = await preparePart(ns, service, dryRun);
      if (dryRun) {
        for (const a of actions) io.out(a.trimEnd());
        io.out('# nothing changed (--dry-run).');
      }
      return 0;
    }
    throw new UsageError('expected `vpnns run vpn --namespace NS` or `vpnns run prepare SERVICE --namespace NS`.');
  },
};
