// The real code-server 4.100.3 as a vpnns app: run as the user inside the namespace, bound to the
// namespace address, published on the host's 127.0.0.1:8080, opened by headless Chromium in the
// host namespace. With the password the workbench loads and its WebSocket carries frames; without
// it only the login page; a LAN neighbour cannot reach it. The screenshot of the workbench is kept
// in test-artifacts/code-server-workbench.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startHarness, REPO, type Harness } from './harness.js';
import { addTestUser, codeServerBinary, codeServerSkip, type TestUser } from './real-programs.js';
import type { BrowserReport } from '../tools/code-server-browser.js';

const skip = codeServerSkip();
const BROWSER_JS = fileURLToPath(new URL('../tools/code-server-browser.js', import.meta.url));
const ARTIFACTS = join(REPO, 'test-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'code-server-workbench.png');
const PORT = 8080;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: Harness;
let cfg: string;
let user: TestUser | undefined;

before(async () => {
  if (skip) return;
  h = await startHarness({ openvpn: false });
  user = addTestUser(`${h.world.prefix}c`);
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    supervisor: { probeInterval: 0 },
    apps: { 'code-server': { command: [codeServerBinary()!], autostart: true } },
  });
  // As if `sudo vpnns up` were run from the user's account: the app takes its user from SUDO_USER.
  const r = await h.vpnns(['up', '--config', cfg], { env: { ...process.env, SUDO_USER: user.name } });
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await h?.cleanup();
  user?.remove();
  // The password outlives `down` on purpose (the next `up` keeps it); the test's namespace is gone for good.
  if (h) rmSync(`/var/lib/vpnns/${h.ns}`, { recursive: true, force: true });
});

const curlHost = (args: string[]) => h.world.inHost(['curl', '-sS', '--max-time', '5', ...args], { timeoutMs: 15_000 });

async function waitHealthy(ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await curlHost(['-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${PORT}/healthz`]);
    if (r.stdout.trim() === '200') return;
    if (Date.now() > deadline) {
      const logs = await h.vpnns(['app', 'logs', 'code-server', '--config', cfg, '-n', '30']);
      throw new Error(`code-server did not answer on 127.0.0.1:${PORT}: ${r.stdout} ${r.stderr}\n${logs.stdout}`);
    }
    await sleep(300);
  }
}

test('code-server runs as the user, inside the namespace, on the namespace address only', { skip }, async () => {
  await waitHealthy();
  const st = JSON.parse((await h.vpnns(['app', 'status', '--config', cfg, '--json'])).stdout) as Array<{ name: string; state: string; pid: number; user: string; url: string }>;
  const cs = st.find((a) => a.name === 'code-server')!;
  assert.equal(cs.state, 'running');
  assert.equal(cs.user, user!.name);
  assert.equal(cs.url, `http://127.0.0.1:${PORT}/`);
  // The node process of code-server (runuser's child): owned by the user, in the namespace.
  const pids = (await h.inVpn(['ip', 'netns', 'pids', h.ns])).stdout.split(/\s+/).filter(Boolean);
  const mine = pids.filter((p) => {
    try {
      return statSync(`/proc/${p}`).uid === user!.uid && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('code-server');
    } catch {
      return false;
    }
  });
  assert.ok(mine.length > 0, `a code-server process of ${user!.name} in ${h.ns}: ${pids.join(' ')}`);
  for (const p of mine) {
    assert.doesNotMatch(readFileSync(`/proc/${p}/cmdline`, 'utf8'), /PASSWORD|--password/, 'no password on the command line');
  }
  const listening = (await h.inVpn(['ss', '-Hltn', `sport = :${PORT}`])).stdout;
  assert.match(listening, /10\.0\.0\.2:8080/);
  assert.doesNotMatch(listening, /0\.0\.0\.0:8080|\*:8080/);
  // Its own config (and data directories), in the user's home, owned by the user.
  assert.equal(statSync(`${user!.home}/.local/share/vpnns/code-server/config.yaml`).uid, user!.uid);
});

test('the password: generated on first start, 0600, shown by `vpnns app password`', { skip }, async () => {
  const r = await h.vpnns(['app', 'password', 'code-server', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.trim(), /^[A-Za-z0-9_-]{32}$/);
  const file = `/var/lib/vpnns/${h.ns}/apps/code-server/password`;
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8').trim(), r.stdout.trim());
});

test('without the password: redirected to login; the WebSocket upgrade is refused', { skip }, async () => {
  const root = await curlHost(['-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', `http://127.0.0.1:${PORT}/`]);
  assert.match(root.stdout, /^302 .*\/login/);
  const ws = await curlHost([
    '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket',
    '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', `http://127.0.0.1:${PORT}/?reconnectionToken=x&skipWebSocketFrames=false`,
  ]);
  assert.notEqual(ws.stdout.trim(), '101');
});

test('headless Chromium on the host: login page without the password, workbench and live WebSocket with it', { skip, timeout: 240_000 }, async () => {
  await waitHealthy();
  const password = (await h.vpnns(['app', 'password', 'code-server', '--config', cfg])).stdout.trim();
  mkdirSync(ARTIFACTS, { recursive: true });
  const r = await h.world.inHost([process.execPath, BROWSER_JS, `http://127.0.0.1:${PORT}/`, SCREENSHOT], {
    env: { ...process.env, CODE_SERVER_PASSWORD: password },
    timeoutMs: 220_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as BrowserReport;
  assert.equal(report.withoutPassword.loginForm, true, JSON.stringify(report));
  assert.equal(report.withoutPassword.workbench, false);
  assert.match(report.withoutPassword.url, /\/login/);
  assert.equal(report.wrongPassword?.stillLogin, true, JSON.stringify(report.wrongPassword));
  const wp = report.withPassword!;
  assert.equal(wp.error, undefined, JSON.stringify(wp));
  assert.equal(wp.workbench, true, JSON.stringify(wp));
  assert.ok(wp.websockets.some((s) => s.url.startsWith(`ws://127.0.0.1:${PORT}/`) && s.framesReceived > 2), `a WebSocket that carries frames: ${JSON.stringify(wp.websockets)}`);
  assert.ok(statSync(SCREENSHOT).size > 10_000, 'a real screenshot');
});

test('a LAN neighbour cannot reach code-server, neither on the host nor on the namespace address', { skip }, async () => {
  for (const host of [h.world.addr.hostLan, '10.0.0.2']) {
    const p = await h.world.probeTcp(h.world.ns.lan, host, PORT, 1500);
    assert.notEqual(p, 'open', `${host}:${PORT}: ${p}`);
  }
});
