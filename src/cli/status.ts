import { configFrom, type Command, type Io } from './command.js';
import { gatherStatus, statusHealthy, type StatusReport } from '../report/status.js';
import type { Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import { watchStatus } from '../report/status-watch.js';

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function bytes(n?: number): string {
  if (n === undefined) return '-';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function renderStatus(r: StatusReport): string {
  const lines: string[] = [];
  if (!r.up) return `namespace ${r.namespace}: down${r.firewall.hostTable ? ' (but its host firewall table is still loaded: run `sudo vpnns down`)' : ''}`;
  lines.push(`namespace ${r.namespace}: up   host ${r.names.hostAddr} (${r.names.vethHost}) <-> namespace ${r.names.nsAddr} (${r.names.vethNs})`);
  if (r.limited) lines.push(`note:       ${r.limited}`);
  lines.push(`dns:        ${r.dns.join(', ') || '-'}`);
  if (!r.limited) lines.push(`firewall:   host table ${r.firewall.hostTable ? 'loaded' : 'MISSING'}, kill switch ${r.firewall.killSwitch ? `loaded (${r.firewall.killSwitchBlocked ?? 0} packets blocked)` : 'off'}`);
  if (r.vpn && r.vpn.type !== 'none') {
    const v = r.vpn;
    const hs = v.handshakeAge !== undefined ? `, handshake ${v.handshakeAge}s ago` : '';
    lines.push(
      `vpn:        ${v.type}${v.detail ? ` (${v.detail})` : ''} ${v.connected ? 'CONNECTED' : 'NOT CONNECTED'} on ${v.tunnel ?? '-'}${v.endpoint ? ` to ${v.endpoint}` : ''}${hs}, rx ${bytes(v.rxBytes)} tx ${bytes(v.txBytes)}`,
    );
    // One line: the supervisor's last probe when there is one, else what status measured itself.
    const probe = r.components.vpn?.detail;
    if (probe && typeof probe.probedAt === 'string') {
      const egress = typeof probe.egressIp === 'string' && !probe.probeError ? `${probe.egressIp}` : `probe FAILED (${String(probe.probeError ?? 'no address')})`;
      const ms = typeof probe.probeLatencyMs === 'number' && !probe.probeError ? ` in ${probe.probeLatencyMs} ms` : '';
      lines.push(`egress:     ${egress}${ms}, probed ${ago(probe.probedAt)} ago`);
    } else lines.push(`egress:     ${v.egressIp ?? (v.egressError ? `unknown (${v.egressError})` : '-')}`);
  } else lines.push('vpn:        none (traffic leaves through the host)');
  for (const p of r.published) lines.push(`published:  ${p.listen} -> ${p.target} (${p.via === 'kernel' ? 'kernel DNAT' : p.via === 'relay' ? 'forwarder, relay only' : 'forwarder'}, ${p.origin})`);
  for (const e of r.exceptions ?? []) lines.push(`exception:  ${e.text} leaves around the VPN (allow)`);
  for (const s of r.hostServices ?? []) lines.push(`host svc:   ${s.text} (hostServices)`);
  if (r.supervisor) {
    const dead = `DEAD${r.supervisor.fatal ? `: ${r.supervisor.fatal}` : ''} (run \`sudo vpnns up\` to restart it)`;
    lines.push(`supervisor: pid ${r.supervisor.pid} ${r.supervisor.alive ? (r.supervisor.answering === false ? 'running but not answering on its control socket (stopped or hung: see `vpnns logs supervisor`; if it stays silent, `sudo vpnns down` then `sudo vpnns up` start it over); components as it last wrote them' : 'running') : dead}`);
  }
  const comps = Object.entries(r.components);
  if (comps.length) {
    lines.push('', 'COMPONENT        STATE      UPTIME  RESTARTS  PID      LAST ERROR');
    for (const [name, c] of comps) {
      lines.push(
        `${name.padEnd(16)} ${(c.crashLooping && c.state !== 'stopped' ? 'crashloop' : c.state).padEnd(10)} ${ago(c.since).padStart(6)}  ${String(c.restarts).padStart(8)}  ${String(c.pid ?? '-').padEnd(8)} ${c.lastError ?? ''}`.trimEnd(),
      );
    }
  }
  if (r.limited) return lines.join('\n');
  lines.push('', 'addresses:  ' + Object.entries(r.addresses).map(([k, v]) => `${k} ${v.join(' ') || '-'}`).join('; '));
  lines.push('routes:     ' + (r.routes.join('; ') || '-'));
  lines.push(`processes:  ${r.processes.length ? r.processes.map((p) => `${p.pid} ${p.command.split(' ')[0]?.split('/').at(-1)}`).join(', ') : 'none'}`);
  return lines.join('\n');
}

export const statusCommand: Command = {
  name: 'status',
  dryRun: true,
  usage: `vpnns status [--config FILE] [--json] [--watch [--interval SECONDS]]

  --json      the same as one JSON document
  --watch     refresh every 2 s (or --interval) until Ctrl-C; with --json, one JSON document a line

Shows the egress address the echo service sees (check.echoUrl), from the supervisor's last probe
or, with none recent, from one request now (--no-probe skips it).
Exit code 0 when the namespace is up (and the VPN connected, if one is configured, and its
supervisor answering), 1 otherwise.`,
  options: { json: {}, watch: {}, interval: { value: true }, namespace: { value: true }, 'no-probe': {} },
  async run(args, io) {
    const cfg = await configFrom(args);
    if (args.opts.watch === true) return watch(cfg, io, args.opts.json === true, intervalMs(args.opts.interval));
    if (args.opts.interval !== undefined) throw new UsageError('--interval goes with --watch; e.g. `vpnns status --watch --interval 5`.');
    const report = await gatherStatus(cfg, { probe: args.opts['no-probe'] !== true });
    if (args.opts.json === true) io.out(JSON.stringify(report, null, 2));
    else io.out(renderStatus(report));
    return statusHealthy(report) ? 0 : 1;
  },
};

function intervalMs(v: string | boolean | undefined): number {
  if (v === undefined) return 2000;
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isFinite(n) || n < 0.1 || n > 3600) throw new UsageError(`--interval expects seconds from 0.1 to 3600, got "${String(v)}".`);
  return Math.round(n * 1000);
}

/** Until Ctrl-C: the table redrawn in place on a terminal (appended otherwise), or JSON lines. */
async function watch(cfg: Config, io: Io, json: boolean, everyMs: number): Promise<number> {
  await watchStatus(cfg, everyMs, (report) => {
    if (json) io.out(JSON.stringify({ time: new Date().toISOString(), ...report }));
    else {
      const head = `every ${everyMs / 1000}s: vpnns status   ${new Date().toISOString()}   (Ctrl-C to stop)`;
      // Home and clear-to-end instead of a full clear: no flicker on a terminal.
      io.out(io.isTTY ? `\x1b[H\x1b[J${head}\n\n${renderStatus(report)}` : `${head}\n${renderStatus(report)}\n`);
    }
  });
  return 0;
}
