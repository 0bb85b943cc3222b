// Can `ns` open a TCP connection to host:port? Run inside a namespace:
//   ip netns exec NS node tcp-probe.js HOST PORT [TIMEOUT_MS]
// Prints {"result": "open" | "refused" | "unreachable" | "timeout" | "error", "code"?}.
// Exists because this machine has no ping, and because "refused" (a host
// answered) and "unreachable"/"timeout" (nothing got there) are what
// isolation tests need to tell apart.
import { connect } from 'node:net';

export type ProbeResult = 'open' | 'refused' | 'unreachable' | 'timeout' | 'error';

export function probeTcp(host: string, port: number, timeoutMs = 2000): Promise<{ result: ProbeResult; code?: string }> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ result: 'timeout' });
    }, timeoutMs);
    sock.on('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ result: 'open' });
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = e.code ?? 'UNKNOWN';
      const result: ProbeResult =
        code === 'ECONNREFUSED' ? 'refused'
        : ['ENETUNREACH', 'EHOSTUNREACH', 'EACCES', 'EPERM'].includes(code) ? 'unreachable'
        : 'error';
      resolve({ result, code });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [host, port, timeout] = process.argv.slice(2);
  if (!host || !port) {
    process.stderr.write('usage: tcp-probe.js HOST PORT [TIMEOUT_MS]\n');
    process.exit(2);
  }
  void probeTcp(host, Number(port), timeout ? Number(timeout) : undefined).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
}
