// Generic apps under the supervisor: autostart apps come up with `up` as the invoking user inside the
// namespace; `vpnns app start|stop` starts and stops the others while vpnns runs; a VPN reconnect
// leaves apps running; a requireVpn app is refused while the tunnel is down; `down` ends them all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { startHarness, leftovers, type Harness } from './harness.js';
import { addTestUser, isRunning, type TestUser } from './real-programs.js';

// A tiny app: tells who and where it runs.
const SERVER = `
const port = Number(process.argv[1]);
require('node:http').createServer((q, s) => s.end(JSON.stringify({ uid: process.getuid(), home: process.env.HOME, user: process.env.USER,
  greeting: process.env.GREETING, cwd: process.cwd(), pid: process.pid, ipc: process.env.VSCODE_IPC_HOOK_CLI ?? null }))).listen(port, '10.0.0.2', () => console.log('listening on ' + port));
`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: Harness;
let cfg: string;
let user: TestUser;

interface Who { uid: number; home: string; user: string; greeting?: string; cwd: string; pid: number }
interface StatusJson {
  supervisor: { pid: number };
  vpn: { tunnel: string };
  components: Record<string, { state: string; pid?: number; restarts: number }>;
}

before(async () => {
  h = await startHarness({ openvpn: false });
  user = addTestUser(`${h.world.prefix}a`);
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    supervisor: { probeInterval: 0 },
    apps: {
      web: { command: [process.execPath, '-e', SERVER, '18080'], autostart: true, publish: [18080], env: { GREETING: 'hello' } },
      later: { command: [process.execPath, '-e', SERVER, '18081'], publish: [18081] },
    },
  });
  const r = await h.vpnns(['up', '--config', cfg], { env: { ...process.env, SUDO_USER: user.name } });
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await h?.cleanup();
  user?.remove();
  if (h) rmSync(`/var/lib/vpnns/${h.ns}`, { recursive: true, force: true });
});

async function who(port: number, ms = 15_000): Promise<Who> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await h.world.inHost(['curl', '-sS', '--max-time', '2', `http://127.0.0.1:${port}/`], { timeoutMs: 5000 });
    if (r.code === 0 && r.stdout.startsWith('{')) return JSON.parse(r.stdout) as Who;
    if (Date.now() > deadline) throw new Error(`nothing answers on 127.0.0.1:${port}: ${r.stderr}`);
    await sleep(200);
  }
}
const status = async () => JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as StatusJson;
const appStatus = async () => JSON.parse((await h.vpnns(['app', 'status', '--config', cfg, '--json'])).stdout) as Array<{ name: string; state: string; user: string }>;

test('up starts autostart apps as the invoking user, inside the namespace, published on the host', async () => {
  const w = await who(18080);
  assert.equal(w.uid, user.uid);
  assert.equal(w.user, user.name);
  assert.equal(w.home, user.home);
  assert.equal(w.cwd, user.home);
  assert.equal(w.greeting, 'hello');
  const inside = (await h.inVpn(['ip', 'netns', 'pids', h.ns])).stdout.split(/\s+/);
  assert.ok(inside.includes(String(w.pid)), 'the app runs inside the namespace');
  const state = JSON.parse(readFileSync(`/run/vpnns/${h.ns}/state.json`, 'utf8')) as { config: { apps: Record<string, { user?: string }> } };
  assert.equal(state.config.apps.web?.user, user.name, 'the user is kept in the state the supervisor reads');
  assert.deepEqual((await appStatus()).map((a) => [a.name, a.state, a.user]), [['web', 'running', user.name], ['later', 'stopped', user.name]]);
});

test('app start/stop --dry-run say what they would ask and change nothing; app password refuses --dry-run', async () => {
  const start = await h.vpnns(['app', 'start', 'later', '--config', cfg, '--dry-run']);
  assert.equal(start.code, 0, start.stderr);
  assert.match(start.stdout, /^# would ask the supervisor \(pid \d+\) to start app-later\n# nothing changed \(--dry-run\)\.\n$/);
  const stop = await h.vpnns(['app', 'stop', 'web', '--config', cfg, '--dry-run']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /to stop app-web\n# nothing changed/);
  await sleep(500);
  assert.deepEqual((await appStatus()).map((a) => [a.name, a.state]), [['web', 'running'], ['later', 'stopped']]);
  const pw = await h.vpnns(['app', 'password', 'web', '--config', cfg, '--dry-run']);
  assert.equal(pw.code, 2);
  assert.match(pw.stderr, /has no --dry-run/);
});

test('app start and stop a non-autostart app while vpnns runs', async () => {
  const started = await h.vpnns(['app', 'start', 'later', '--config', cfg]);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, new RegExp(`^later is running as ${user.name} \\(pid \\d+\\)\\.\\n$`));
  const w = await who(18081);
  assert.equal(w.uid, user.uid);
  assert.equal((await appStatus()).find((a) => a.name === 'later')?.state, 'running');

  const stopped = await h.vpnns(['app', 'stop', 'later', '--config', cfg]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.equal(stopped.stdout, 'later is stopped.\n');
  assert.equal(isRunning(w.pid), false, 'the app process is gone');
  const gone = await h.world.inHost(['curl', '-sS', '--max-time', '2', 'http://127.0.0.1:18081/'], { timeoutMs: 5000 });
  assert.notEqual(gone.code, 0);
  assert.equal((await appStatus()).find((a) => a.name === 'later')?.state, 'stopped');
  assert.equal((await who(18080)).greeting, 'hello', 'the other app is untouched');

  const again = await h.vpnns(['app', 'start', 'later', '--config', cfg]);
  assert.equal(again.code, 0, again.stderr);
  assert.notEqual((await who(18081)).pid, w.pid);
});

test('app logs shows the app\'s output; app status shows the table', async () => {
  const r = await h.vpnns(['app', 'logs', 'web', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^listening on 18080$/m);
  const t = await h.vpnns(['app', 'status', '--config', cfg]);
  assert.match(t.stdout, /^APP\s+STATE\s+PID\s+USER\s+RESTARTS\s+ADDRESS$/m);
  assert.match(t.stdout, new RegExp(`^web\\s+running\\s+\\d+\\s+${user.name}\\s+0\\s+-$`, 'm'));
});

test('a VPN reconnect leaves the apps running', async () => {
  const before = await who(18080);
  const s = await status();
  const restarts = s.components.vpn!.restarts;
  process.kill(s.components.vpn!.pid!, 'SIGKILL');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const now = await status();
    if (now.components.vpn?.state === 'running' && now.components.vpn.restarts > restarts) break;
    if (Date.now() > deadline) throw new Error(`the VPN did not reconnect: ${JSON.stringify(now.components.vpn)}`);
    await sleep(200);
  }
  const after = await who(18080);
  assert.equal(after.pid, before.pid, 'the same process, never restarted');
  assert.equal((await status()).components['app-web']?.restarts, 0);
});

test('SIGKILL of an app: the supervisor starts it again, the published port answers again', async () => {
  const before = await who(18080);
  const restarts = (await status()).components['app-web']!.restarts;
  process.kill(before.pid, 'SIGKILL');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = (await status()).components['app-web'];
    if (c?.state === 'running' && c.restarts > restarts) break;
    if (Date.now() > deadline) throw new Error(`the app was not restarted: ${JSON.stringify(c)}`);
    await sleep(200);
  }
  const after = await who(18080);
  assert.notEqual(after.pid, before.pid);
  assert.equal(after.user, user.name);
});

test('while the tunnel is down, a requireVpn app is refused', async () => {
  await h.vpnns(['app', 'stop', 'later', '--config', cfg]);
  const s = await status();
  process.kill(s.supervisor.pid, 'SIGSTOP');
  try {
    process.kill(s.components.vpn!.pid!, 'SIGKILL');
    await h.inVpn(['ip', 'link', 'del', s.vpn.tunnel]).catch(() => {});
    await sleep(300);
    const r = await h.vpnns(['app', 'start', 'later', '--config', cfg], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^vpnns: the VPN in namespace \S+ is not connected/);
  } finally {
    process.kill(s.supervisor.pid, 'SIGCONT');
  }
});

test('bad requests: an unknown app, a missing name', async () => {
  const unknown = await h.vpnns(['app', 'start', 'nope', '--config', cfg]);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'vpnns: there is no app "nope" in the config; it has: web, later.\n');
  const none = await h.vpnns(['app', 'stop', '--config', cfg]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /which app\?/);
});

test('down ends the apps and leaves nothing', async () => {
  const w = await who(18080, 30_000);
  const r = await h.vpnns(['down', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(isRunning(w.pid), false);
  assert.deepEqual(await leftovers(h), []);
});
