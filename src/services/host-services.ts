// Host loopback services inside (`hostServices`): a program inside connects to 127.0.0.1:PORT as
// it would on the host (OLLAMA_HOST=127.0.0.1:11434 works unchanged) and reaches the host's
// 127.0.0.1:TARGET, and nothing else. Two forwarders per entry, the same forwarder-main as the
// published ports (which go the other way):
//   inside:  127.0.0.1:PORT in the namespace  ->  unix:/run/vpnns/<ns>/host-services/PORT.sock
//   host:    that Unix socket                 ->  127.0.0.1:TARGET on the host
// A Unix socket in the filesystem crosses the network namespace without the veth: the kill switch
// and the host's firewall stay as they are (no port of the host's end is opened to the namespace),
// and nothing can collide with a host program listening on the host's end of the link. The target
// is fixed on the forwarder's argv: what a program inside sends is bytes for that one port, never
// an address. Both halves drop to nobody once they listen (a low port inside still works), and the
// socket is 0600 nobody's, so only the two halves (and root) can connect to it. The drop is a
// setuid() inside the process, not a wrapper before exec: the kernel then marks it non-dumpable,
// so the proxies (also nobody) can neither ptrace nor read the host half, which sits in the host's
// network namespace.
import type { Config } from '../config/types.js';
import type { Names } from '../core/names.js';
import { hostServiceTarget, type HostServiceConfig } from '../config/exceptions.js';
import { registerServices, type ServiceSpec } from '../core/services.js';
import type { System } from '../sys/system.js';
import { defaultForwarderRuntime, formatEndpoint, type ForwarderRuntime } from './forward.js';
import { PROXY_USER } from './proxy-identity.js';
import { lookupUser } from './users.js';

/** The unprivileged user both halves run as. */
export const HOST_SERVICE_USER = PROXY_USER;

export function hostServicesDir(names: Pick<Names, 'stateDir'>): string {
  return `${names.stateDir}/host-services`;
}

export function hostServiceSocket(names: Pick<Names, 'stateDir'>, s: Pick<HostServiceConfig, 'port'>): string {
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) throw new Error(`refusing port ${s.port} for a host service`);
  return `${hostServicesDir(names)}/${s.port}.sock`;
}

function idOf(lookup: typeof lookupUser): { uid: number; gid: number } {
  const u = lookup(HOST_SERVICE_USER);
  return { uid: u?.uid ?? 65534, gid: u?.gid ?? 65534 };
}

/** The two halves' process specs for one entry (pure but for the user lookup). */
export function hostServiceProcesses(
  s: HostServiceConfig,
  names: Pick<Names, 'ns' | 'stateDir'>,
  runtime: ForwarderRuntime = defaultForwarderRuntime(),
  lookup = lookupUser,
): { inside: ServiceSpec['process']; host: ServiceSpec['process'] } {
  const target = hostServiceTarget(s);
  if (!Number.isInteger(target) || target < 1 || target > 65535) throw new Error(`refusing target port ${target} for a host service`);
  const sock = formatEndpoint({ path: hostServiceSocket(names, s) });
  const { uid, gid } = idOf(lookup);
  const drop = ['--uid', String(uid), '--gid', String(gid)];
  return {
    inside: { name: `host-service-${s.port}`, argv: [runtime.node, runtime.script, '--listen', `127.0.0.1:${s.port}`, '--target', sock, ...drop], netns: names.ns },
    host: { name: `host-service-${s.port}-host`, argv: [runtime.node, runtime.script, '--listen', sock, '--target', `127.0.0.1:${target}`, ...drop] },
  };
}

export function hostServiceSpecs(cfg: Config, names: Names): ServiceSpec[] {
  return (cfg.hostServices ?? []).flatMap((s) => {
    const p = hostServiceProcesses(s, names);
    const prepare = async (sys: System) => {
      // Root's and world-traversable: nobody may connect to the 0600 socket in it, never add anything.
      await sys.mkdir(hostServicesDir(names), 0o755);
    };
    return [
      { name: p.host.name, process: p.host, needsTunnel: false, prepare },
      { name: p.inside.name, process: p.inside, needsTunnel: false },
    ];
  });
}

registerServices(hostServiceSpecs);
