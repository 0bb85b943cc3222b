// A day with the real code-server (password-protected) open in a browser, as a user would have it:
// a port published and removed, another app started and stopped, an app that crash-loops all along,
// `up` with a changed config that only enables the HTTP proxy, and the VPN client SIGKILLed and
// reconnected. code-server's process must be the same one throughout, and the browser's WebSocket
// to it must stay open: each of these replaced the process before (the running spec carried the
// PASSWORD prepare() had added, a freshly rendered one did not, so every reconcile restarted it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startHarness, type Harness } from './harness.js';
import { addTestUser, codeServerBinary, codeServerSkip, type TestUser } from './real-programs.js';
import type { SessionReport } from '../tools/code-server-session.js';

const skip = codeServerSkip();
const SESSION_JS = fileURLToPath(new URL('../tools/code-server-session.js', import.meta.url));
const PORT = 8080;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: Harness;
let user: TestUser | undefined;
let browser: ChildProcessWithoutNullStreams | undefined;
let lines: Interface | undefined;
let cfgPath = '';

interface Status {
  components: Record<string, { state: string; pid?: number; restarts: number; crashLooping?: boolean }>;
}

function config(httpProxy: boolean): string {
  return h.config({
    vpn: { type: 'wireguard', config: wgConfig },
    proxies: { socks: { enabled: false }, http: { enabled: httpProxy } },
    supervisor: { probeInterval: 0 },
    apps: {
      'code-server': { command: [codeServerBinary()!], autostart: true },
      other: { command: ['/bin/sleep', '100000'], requireVpn: false },
      crasher: { command: ['/bin/sh', '-c', 'exit 3'], autostart: true, requireVpn: false },
    },
  });
}
let wgConfig = '';

before(async () => {
  if (skip) return;
  h = await startHarness({ openvpn: false }, 'd');
  user = addTestUser(`${h.world.prefix}d`);
  wgConfig = await h.world.wireguard!.writeClientConfig();
  cfgPath = config(false);
  const r = await h.vpnns(['up', '--config', cfgPath], { env: { ...process.env, SUDO_USER: user.name } });
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  if (browser) {
    browser.stdin.end('quit\n');
    await sleep(1000);
    browser.kill('SIGKILL');
  }
  await h?.cleanup();
  user?.remove();
  if (h) rmSync(`/var/lib/vpnns/${h.ns}`, { recursive: true, force: true });
});

const status = async (): Promise<Status> => JSON.parse((await h.vpnns(['status', '--config', cfgPath, '--json', '--no-probe'])).stdout) as Status;

/** code-server's own main process: the child of runuser (the component's pid). */
function mainProcess(runuserPid: number): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === runuserPid) return Number(e);
    } catch {
      /* exited */
    }
  }
  return undefined;
}

async function waitHealthy(ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await h.world.inHost(['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${PORT}/healthz`], { timeoutMs: 15_000 });
    if (r.stdout.trim() === '200') return;
    if (Date.now() > deadline) throw new Error(`code-server did not answer: ${r.stdout} ${r.stderr}`);
    await sleep(300);
  }
}

async function report(): Promise<SessionReport> {
  const next = new Promise<string>((resolve) => lines!.once('line', resolve));
  browser!.stdin.write('report\n');
  return JSON.parse(await next) as SessionReport;
}

test('code-server keeps its process and its open WebSocket through a day of unrelated operations', { skip, timeout: 600_000 }, async () => {
  await waitHealthy();
  const password = (await h.vpnns(['app', 'password', 'code-server', '--config', cfgPath])).stdout.trim();
  browser = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, '--', process.execPath, SESSION_JS, `http://127.0.0.1:${PORT}/`], {
    env: { ...process.env, CODE_SERVER_PASSWORD: password },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  browser.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  lines = createInterface({ input: browser.stdout });
  const first = JSON.parse(await new Promise<string>((resolve, reject) => {
    lines!.once('line', resolve);
    browser!.once('exit', () => reject(new Error(`the browser exited: ${stderr}`)));
  })) as SessionReport;
  assert.equal(first.ready, true, JSON.stringify(first));
  const live = first.websockets.filter((s) => !s.closed && s.framesReceived > 2).map((s) => s.url);
  assert.ok(live.length > 0, JSON.stringify(first));

  const st0 = await status();
  const runuser = st0.components['app-code-server']!.pid!;
  const main = mainProcess(runuser);
  assert.ok(main, 'code-server\'s main process');

  const same = async (after: string) => {
    const st = await status();
    const c = st.components['app-code-server']!;
    assert.equal(c.pid, runuser, `after ${after}: the app's process changed`);
    assert.equal(c.restarts, 0, `after ${after}: restarted`);
    assert.equal(mainProcess(runuser), main, `after ${after}: code-server's main process changed`);
    const r = await report();
    for (const url of live) {
      const ws = r.websockets.find((s) => s.url === url)!;
      assert.equal(ws.closed, false, `after ${after}: the browser's WebSocket closed: ${JSON.stringify(r.websockets)}`);
    }
    return st;
  };

  const ok = async (args: string[]) => {
    const r = await h.vpnns([...args, '--config', cfgPath]);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  };

  await ok(['publish', 'add', '3000', '--host', '127.0.0.1:18300']);
  await same('publish add');
  await ok(['publish', 'remove', '127.0.0.1:18300']);
  await same('publish remove');
  await ok(['app', 'start', 'other']);
  await same('app start of another app');
  await ok(['app', 'stop', 'other']);
  await same('app stop of another app');

  // All along, an app that exits at once is restarted again and again.
  let st = await same('a while with a crash-looping app');
  assert.ok(st.components['app-crasher']!.restarts >= 3, JSON.stringify(st.components['app-crasher']));
  assert.equal(st.components['app-crasher']!.crashLooping, true);

  // `up` with a config that changes only the HTTP proxy: the running supervisor takes it on.
  cfgPath = config(true);
  const up = await h.vpnns(['up', '--config', cfgPath], { env: { ...process.env, SUDO_USER: user!.name } });
  assert.equal(up.code, 0, up.stderr);
  for (let i = 0; i < 60 && (await status()).components.http?.state !== 'running'; i++) await sleep(500);
  st = await same('up with a changed config (HTTP proxy enabled)');
  assert.equal(st.components.http?.state, 'running');

  // The VPN client killed: the supervisor reconnects; the app (requireVpn, followsTunnel false) stays.
  const vpn = st.components.vpn!;
  process.kill(vpn.pid!, 'SIGKILL');
  for (let i = 0; i < 120; i++) {
    const v = (await status()).components.vpn!;
    if (v.restarts > vpn.restarts && v.state === 'running') break;
    await sleep(250);
  }
  st = await same('a SIGKILL of the VPN client and the reconnect');
  assert.ok(st.components.vpn!.restarts > vpn.restarts, JSON.stringify(st.components.vpn));
  assert.equal(st.components.vpn!.state, 'running');

  const end = await report();
  assert.ok(live.every((url) => end.websockets.find((s) => s.url === url)!.framesReceived >= first.websockets.find((s) => s.url === url)!.framesReceived));
});
