// `vpnns doctor`: every program this config needs, found or not, with the one line that installs
// each missing one. Exit 1 when something the config needs is missing; optional programs
// (code-server, Kilo CLI when no app uses them) are listed but never fail it. What is looked for
// and where is checks/doctor.ts's; the whole report is gathered by checks/doctor-report.ts.
import type { ToolCheck } from '../checks/doctor.js';
import { doctorReport } from '../checks/doctor-report.js';
import { configFrom, type Command } from './command.js';
import { nmDoctorLine } from '../net/network-manager.js';
import { adguardDoctorLines } from '../checks/adguard-doctor.js';

export function renderDoctor(checks: readonly ToolCheck[]): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  const width = Math.max(...checks.map((c) => c.tool.length));
  for (const c of checks) {
    const mark = c.path ? 'ok     ' : c.required ? 'MISSING' : 'absent ';
    lines.push(`${mark} ${c.tool.padEnd(width)}  ${c.path ?? c.why}`);
  }
  const missing = checks.filter((c) => !c.path);
  if (missing.length) {
    lines.push('');
    for (const c of missing) lines.push(`${c.required ? 'install' : 'optional'} ${c.tool}: ${c.install}`);
  }
  const aptPkgs = [...new Set(missing.filter((c) => c.required && c.install.startsWith('apt-get install ')).map((c) => c.install.slice('apt-get install '.length)))];
  if (aptPkgs.length > 1) lines.push(`all at once: apt-get install ${aptPkgs.join(' ')}`);
  return { lines, ok: missing.every((c) => !c.required) };
}

export const doctorCommand: Command = {
  name: 'doctor',
  dryRun: true,
  usage: `vpnns doctor [--config FILE] [--json]

Lists the programs this config needs (ip, nft, the VPN client, danted, tinyproxy, curl, and
code-server or Kilo CLI when an app uses them), where each was found, and the command that installs
each missing one. Exit 1 when something the config needs is missing.`,
  options: { json: {} },
  async run(args, io) {
    const cfg = await configFrom(args);
    const { checks, networkManager: nm, adguard } = await doctorReport(cfg);
    const { lines, ok } = renderDoctor(checks);
    if (args.opts.json === true) io.out(JSON.stringify({ ok, checks, networkManager: { running: nm }, ...(adguard && { adguard }) }, null, 2));
    else for (const l of [...lines, '', ...(adguard ? adguardDoctorLines(adguard) : []), nmDoctorLine(nm, cfg.namespace)]) io.out(l);
    return ok ? 0 : 1;
  },
};
