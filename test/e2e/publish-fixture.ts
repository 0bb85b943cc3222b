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
