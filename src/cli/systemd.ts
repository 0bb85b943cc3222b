// `vpnns systemd render|install|uninstall`: the namespace as systemd units (see src/systemd/units.ts).
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { System } from '../sys/system.js';
import { DEFAULT_CONFIG_DIR, DEFAULT_UNIT_DIR, install, uninstall } from '../systemd/install.js';
import { planFor, writeUnits } from '../systemd/render.js';
import { unitNames } from '../systemd/units.js';
import { configFrom, requireRoot, type Command } from './command.js';

const USAGE = `vpnns systemd render [--config FILE] [--out DIR] [--config-dir DIR]
vpnns systemd install [--config FILE] [--enable] [--now] [--unit-dir DIR] [--config-dir DIR] [--dry-run]
vpnns systemd uninstall [--config FILE | --namespace NS] [--unit-dir DIR] [--config-dir DIR] [--dry-run]

One unit per part, grouped by vpnns-<ns>.target: the namespace (vpnns-<ns>-netns.service), the VPN
client (vpnns-<ns>-vpn.service), each proxy, forward and app (vpnns-<ns>-<name>.service).

  render      print the units, or write them into --out DIR
  install     write the units to --unit-dir (default ${DEFAULT_UNIT_DIR}) and a copy of the config
              to --config-dir (default ${DEFAULT_CONFIG_DIR})/<ns>.yaml, which the units run;
              --enable starts the target at boot, --now starts it now
  uninstall   stop and disable the target, remove the units and the config copy

Install again after changing the config: the units run the copy taken at install time.
\`systemctl stop vpnns-<ns>.target\` returns before the parts are down; stopping
vpnns-<ns>-netns.service as well waits until everything is removed.
Examples:
  sudo vpnns systemd install --config ./vpnns.yaml --enable --now
  systemctl status vpnns-vpn-ns.target; journalctl -u 'vpnns-vpn-ns-*'
  sudo vpnns systemd uninstall --namespace vpn-ns`;

export const systemdCommand: Command = {
  name: 'systemd',
  dryRun: true,
  usage: USAGE,
  options: {
    out: { value: true },
    enable: {},
    now: {},
    'unit-dir': { value: true },
    'config-dir': { value: true },
    namespace: { value: true },
  },
  async run(args, io) {
    const [action, ...extra] = args.positional;
    if (!action || !['render', 'install', 'uninstall'].includes(action) || extra.length) {
      throw new UsageError('expected `vpnns systemd render`, `install` or `uninstall`; run `vpnns systemd --help`.');
    }
    const dryRun = args.opts['dry-run'] === true;
    const unitDir = resolve(typeof args.opts['unit-dir'] === 'string' ? args.opts['unit-dir'] : DEFAULT_UNIT_DIR);
    const configDir = resolve(typeof args.opts['config-dir'] === 'string' ? args.opts['config-dir'] : DEFAULT_CONFIG_DIR);
    const sys = new System(dryRun);
    const say = (l: string) => !dryRun && io.out(l);
    const printActions = () => {
      if (dryRun) for (const a of sys.actions) io.out(a.trimEnd());
    };

    if (action === 'uninstall') {
      if (!dryRun) requireRoot('systemd uninstall');
      const ns = typeof args.opts.namespace === 'string' ? args.opts.namespace : (await configFrom(args)).namespace;
      const removed = await uninstall(sys, ns, { unitDir, configDir }, say);
      printActions();
      if (!removed && !dryRun) io.out(`no vpnns units for namespace ${ns} in ${unitDir}; nothing to do.`);
      return 0;
    }

    const { names, plan } = planFor(await configFrom(args), configDir);

    if (action === 'render') {
      const out = args.opts.out;
      if (typeof out !== 'string') {
        for (const u of plan.units) io.out(`# ---- ${u.name}\n${u.text}`);
        return 0;
      }
      const dir = await writeUnits(plan, out);
      io.out(`wrote ${plan.units.length} units to ${dir}; they run the config at ${plan.snapshot.path} (written by install).`);
      return 0;
    }

    if (!dryRun) requireRoot('systemd install');
    await install(sys, names.ns, plan, { unitDir, enable: args.opts.enable === true, now: args.opts.now === true }, say);
    printActions();
    if (!dryRun && args.opts.now !== true) {
      io.out(`start it with: systemctl start ${unitNames.target(names.ns)}`);
    }
    return 0;
  },
};
