// Whether some socket of this network namespace listens on a TCP address, read from the kernel's
// socket table (/proc/net/tcp, tcp6) instead of connecting: a forwarder publication's host
// connections are DNATed into the namespace (services/publish.ts, hasKernelFastPath), so a connect
// to its port reaches the app, not the forwarder, and fails while the app is down.
import { endianness } from 'node:os';
import { ipv6Groups, parseIPv4 } from '../config/net-utils.js';
import { readText } from '../sys/system.js';

const LISTEN = '0A';

/** The kernel prints each 32-bit word of an address as a native-endian number, in hex. */
function words(bytes: number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    const w = bytes.slice(i, i + 4);
    if (endianness() === 'LE') w.reverse();
    out += w.map((b) => b.toString(16).padStart(2, '0')).join('');
  }
  return out.toUpperCase();
}

/** The /proc/net/tcp{,6} text of HOST:PORT ("0100007F:1F90"), and which file lists it. */
export function procNetAddress(host: string, port: number): { file: 'tcp' | 'tcp6'; address: string } {
  const h = host.replace(/^\[|\]$/g, '');
  const v4 = parseIPv4(h);
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  if (v4 !== null) return { file: 'tcp', address: `${words([v4 >>> 24, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255])}:${hexPort}` };
  const groups = ipv6Groups(h);
  if (!groups) throw new Error(`not an IP address: ${host}`);
  return { file: 'tcp6', address: `${words(groups.flatMap((g) => [g >>> 8, g & 255]))}:${hexPort}` };
}

/** True when a socket is in LISTEN on exactly HOST:PORT in the caller's network namespace. */
export async function isListening(host: string, port: number, procNet = '/proc/net'): Promise<boolean> {
  const { file, address } = procNetAddress(host, port);
  const text = (await readText(`${procNet}/${file}`)) ?? '';
  return text.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f[1] === address && f[3] === LISTEN;
  });
}
