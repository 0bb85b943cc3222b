// Where a VPN client connects: parsing "host:port/proto" and turning names into addresses on the
// host, before the client starts. Inside the namespace nothing may resolve a name before the
// tunnel is up (the kill switch only lets the client reach these exact addresses).

import { promises as dns } from 'node:dns';
import { isIP, parseHostPort } from '../config/net-utils.js';
import { VpnConfigError, VpnResolveError } from './errors.js';

export type Proto = 'udp' | 'tcp';

/** A server as written in a config: the host may be a name. */
export interface EndpointSpec {
  host: string;
  port: number;
  proto: Proto;
}

/** A server the client may talk to, as the kill switch and the routes need it: numeric. */
export interface Endpoint {
  ip: string;
  port: number;
  proto: Proto;
}

/**
 * One entry of the `command` provider's `endpoints` list: "host:port/udp" or "host:port/tcp"
 * (IPv6 as "[2001:db8::1]:51820/udp"). `where` names the entry in messages, e.g. "vpn.endpoints[0]".
 */
export function parseEndpointSpec(spec: string, where?: string): EndpointSpec {
  const fail = (detail: string): never => {
    throw new VpnConfigError(detail, { path: where });
  };
  const text = spec.trim();
  const slash = text.lastIndexOf('/');
  if (slash < 0) {
    return fail(`"${text}" has no protocol; write "${text}/udp" or "${text}/tcp"`);
  }
  const protoText = text.slice(slash + 1).toLowerCase();
  if (protoText !== 'udp' && protoText !== 'tcp') {
    return fail(`unknown protocol "${text.slice(slash + 1)}" in "${text}"; expected udp or tcp`);
  }
  const hp = parseHostPort(text.slice(0, slash));
  if (!hp.ok) return fail(hp.detail);
  return { host: hp.host, port: hp.port, proto: protoText };
}

export interface ResolveOptions {
  /** DNS servers to ask ("ip" or "ip:port"); unset means the host's resolver (getaddrinfo). */
  resolveWith?: string[];
  /** Give up on a name after this long. Default 5000. */
  timeoutMs?: number;
  /** Also use IPv6 addresses of names (AAAA); only when the namespace has IPv6 through the tunnel. */
  ipv6?: boolean;
}

/**
 * Every address of every host, in input order (addresses in the resolver's order), duplicates
 * removed. Numeric hosts pass through. Throws VpnResolveError naming the first name that failed.
 */
export async function resolveEndpoints(hosts: readonly EndpointSpec[], opts: ResolveOptions = {}): Promise<Endpoint[]> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const ipv6 = opts.ipv6 ?? false;
  let resolver: dns.Resolver | undefined;
  if (opts.resolveWith && opts.resolveWith.length > 0) {
    // c-ares' own timeout is per try; the overall deadline below is what the caller asked for.
    resolver = new dns.Resolver({ timeout: Math.max(100, Math.floor(timeoutMs / 2)), tries: 2 });
    try {
      resolver.setServers(opts.resolveWith);
    } catch {
      throw new VpnConfigError(`"${opts.resolveWith.join(', ')}" is not a list of DNS server addresses`, { path: 'vpn.resolveWith' });
    }
  }

  const names = [...new Set(hosts.filter((h) => !isIP(h.host)).map((h) => h.host))];
  const addresses = new Map<string, string[]>();
  await Promise.all(
    names.map(async (name) => {
      addresses.set(name, await resolveName(name, { resolver, timeoutMs, ipv6, resolveWith: opts.resolveWith }));
    }),
  );

  const out: Endpoint[] = [];
  const seen = new Set<string>();
  for (const h of hosts) {
    for (const ip of isIP(h.host) ? [h.host] : addresses.get(h.host)!) {
      const key = `${ip}|${h.port}|${h.proto}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ ip, port: h.port, proto: h.proto });
    }
  }
  return out;
}

async function resolveName(
  name: string,
  o: { resolver: dns.Resolver | undefined; timeoutMs: number; ipv6: boolean; resolveWith: string[] | undefined },
): Promise<string[]> {
  const fail = (code: string, cause?: unknown): never => {
    const how = o.resolver ? `with ${o.resolveWith!.join(', ')}` : 'on the host';
    const fix =
      code === 'ENODATA' && !o.ipv6
        ? 'it has no IPv4 address; use a server name with an A record'
        : o.resolver
          ? 'check the name or the servers in vpn.resolveWith'
          : 'check the name or set vpn.resolveWith';
    throw new VpnResolveError(`could not resolve the VPN server name "${name}" ${how} (${code}); ${fix}.`, name, code, { cause });
  };

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), o.timeoutMs);
  });
  try {
    const lookup = o.resolver ? askServers(o.resolver, name, o.ipv6) : askHost(name, o.ipv6);
    const found = await Promise.race([lookup, deadline]);
    if (found.length === 0) return fail('ENODATA');
    return found;
  } catch (err) {
    if (err instanceof VpnResolveError) throw err;
    o.resolver?.cancel();
    const code = (err as { code?: unknown }).code;
    return fail(typeof code === 'string' ? code : 'EFAIL', err);
  } finally {
    clearTimeout(timer);
  }
}

async function askHost(name: string, ipv6: boolean): Promise<string[]> {
  const all = await dns.lookup(name, { all: true, family: ipv6 ? 0 : 4, verbatim: true });
  return all.map((a) => a.address);
}

async function askServers(resolver: dns.Resolver, name: string, ipv6: boolean): Promise<string[]> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), ipv6 ? resolver.resolve6(name) : Promise.resolve([])]);
  const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (found.length > 0) return found;
  // Both empty or failed: report the IPv4 failure, it is the one every setup needs.
  if (v4.status === 'rejected') throw v4.reason;
  if (v6.status === 'rejected') throw v6.reason;
  return [];
}
