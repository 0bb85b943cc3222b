// What the published-port tests share: a tiny app inside the namespace (HTTP on 3000 that names the
// peer it sees, a line echo on 3001) and a client that holds one connection open for seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Harness } from './harness.js';

const APP = `
const http = require('node:http'), net = require('node:net');
http.createServer((q, s) => s.end('hello from inside ' + q.socket.remoteAddress + '\\n')).listen(3000, '10.0.0.2');
net.createServer((c) => c.pipe(c)).listen(3001, '10.0.0.2');
`;

export function startApp(h: Harness): ChildProcess {
  return spawn('ip', ['netns', 'exec', h.ns, process.execPath, '-e', APP], { stdio: 'ignore' });
}

export async function stopApp(app: ChildProcess | undefined): Promise<void> {
  if (!app || app.exitCode !== null || app.signalCode !== null) return;
  app.kill('SIGKILL');
  await new Promise((r) => app.once('exit', r));
}

/** 15 lines, 200 ms apart, over one connection from the host to HOST:PORT: how many came back. */
export async function longLivedLines(h: Harness, port: number, host = '127.0.0.1'): Promise<{ lines: string; stderr: string }> {
  const script = `
const s = require('node:net').connect(${port}, ${JSON.stringify(host)}); let got = ''; let n = 0;
s.on('data', (d) => { got += d; });
const t = setInterval(() => { if (n < 15) s.write('ping ' + (n++) + '\\n'); else { clearInterval(t); setTimeout(() => { s.end(); console.log(got.split('\\n').filter(Boolean).length); }, 300); } }, 200);
s.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });`;
  const r = await h.world.inHost([process.execPath, '-e', script], { timeoutMs: 15_000 });
  return { lines: r.stdout.trim(), stderr: r.stderr };
}

/** The config the published-port tests bring up: WireGuard to the world's server, no proxies, these publications. */
export async function publishConfig(h: Harness, publish: unknown[], file?: string): Promise<string> {
  return h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    publish,
  }, file);
}

export function curl(h: Harness, url: string): ReturnType<Harness['world']['inHost']> {
  return h.world.inHost(['curl', '-sS', '--max-time', '3', url], { timeoutMs: 10_000 });
}

/** curl until it succeeds (a forwarder or an app just started), 5 s at most; the last result. */
export async function curlUntil(h: Harness, url: string): ReturnType<Harness['world']['inHost']> {
  let r = await curl(h, url);
  for (let i = 0; i < 25 && r.code !== 0; i++) {
    await new Promise((res) => setTimeout(res, 200));
    r = await curl(h, url);
  }
  return r;
}
