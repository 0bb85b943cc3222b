// Packet captures inside a world namespace, for leak assertions.
import { sleep } from '../sys/process.js';
import type { PidSet } from './daemon.js';
import { worldSys } from './run.js';

export interface Capture {
  pid: number;
  /** Stops the capture and returns one line per packet (tcpdump -n text). */
  stop(): Promise<string[]>;
}

export async function startCapture(ns: string, iface: string, filter: string | undefined, pids: PidSet, nsEnter: 'netns-exec' | 'nsenter' = 'netns-exec'): Promise<Capture> {
  const tcpdump = ['tcpdump', '-n', '-l', '--immediate-mode', '-U', '-i', iface, ...(filter ? [filter] : [])];
  // nsenter for namespaces made from inside another (see FACTS): both reach /run/netns/<ns>.
  const argv = nsEnter === 'nsenter' ? ['nsenter', `--net=/run/netns/${ns}`, '--', ...tcpdump] : ['ip', 'netns', 'exec', ns, ...tcpdump];
  const child = worldSys.startChild(argv, { env: process.env, stdout: 'pipe', stderr: 'pipe' });
  child.unref();
  const pid = child.pid;
  if (!pid) throw new Error(`could not start tcpdump in ${ns}`);
  pids.add(pid);
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const closed = new Promise<void>((resolve) => child.on('close', () => {
    pids.delete(pid);
    resolve();
  }));
  // tcpdump says "listening on" once the socket is attached; packets before that are lost.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump in ${ns} on ${iface} did not start: ${err.trim()}`)), 5000);
    const check = (): void => {
      if (err.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    void closed.then(() => {
      clearTimeout(timer);
      reject(new Error(`tcpdump in ${ns} on ${iface} exited: ${err.trim()}`));
    });
  });
  return {
    pid,
    async stop() {
      // Packets still in flight when we stop would be lost without this pause (FACTS).
      await sleep(300);
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await closed;
      clearTimeout(t);
      return out.split('\n').filter((l) => l.trim());
    },
  };
}
