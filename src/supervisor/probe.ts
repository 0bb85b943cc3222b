// Probes through the tunnel: one HTTP(S) request from inside the namespace (a DNS lookup included)
// to an echo service that answers with the caller's address.
import type { System } from '../sys/system.js';
import { Resolver } from 'node:dns/promises';
import { isIP, parseEcho } from '../config/net-utils.js';

export interface ProbeResult {
  ok: boolean;
  /** The address the echo service saw. */
  ip?: string;
  ms: number;
  error?: string;
}

function curlArgv(url: string, timeoutSec: number): string[] {
  // The last line is curl's own timing; everything before it is the body.
  return ['curl', '-sS', '--fail', '--max-time', String(timeoutSec), '-w', '\n%{time_total}', url];
}

async function probe(sys: System, argv: string[]): Promise<ProbeResult> {
  const t0 = Date.now();
  const r = await sys.query(argv, { allowFail: true, timeoutMs: 30_000 });
  const ms = Date.now() - t0;
  if (r.code !== 0) return { ok: false, ms, error: r.stderr.trim().split('\n').at(-1) || `curl exit ${r.code}` };
  const lines = r.stdout.split('\n');
  const total = Number(lines.pop());
  const { ip, error } = parseEcho(lines.join('\n'));
  if (!ip) return { ok: false, ms, error: error ?? 'the echo service answered without an address' };
  return { ok: true, ip, ms: Number.isFinite(total) ? Math.round(total * 1000) : ms };
}

export function probeInside(sys: System, ns: string, url: string, timeoutSec = 10): Promise<ProbeResult> {
  return probe(sys, ['ip', 'netns', 'exec', ns, ...curlArgv(url, timeoutSec)]);
}

/**
 * The same request from the host. With `dns` the name is resolved with those servers (the host's
 * resolvers as the config names them) instead of the system resolver.
 */
export async function probeHost(sys: System, url: string, timeoutSec = 10, dns?: string[]): Promise<ProbeResult> {
  const argv = curlArgv(url, timeoutSec);
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (dns?.length && !isIP(host)) {
    try {
      const r = new Resolver({ timeout: timeoutSec * 1000, tries: 1 });
      r.setServers(dns);
      const [ip] = await r.resolve4(host);
      const port = u.port || (u.protocol === 'https:' ? '443' : '80');
      if (ip) argv.splice(1, 0, '--resolve', `${host}:${port}:${ip}`);
    } catch (e) {
      return { ok: false, ms: 0, error: `could not resolve ${host} with ${dns.join(', ')}: ${(e as Error).message}` };
    }
  }
  return probe(sys, argv);
}
