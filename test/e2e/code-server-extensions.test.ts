// code-server's two halves, measured with real extensions (test/extensions, bundled by esbuild and
// packed into .vsix files here, installed with `code-server --install-extension`):
//  - gemini-probe runs in the Node extension host, inside the namespace, and calls the mock Gemini
//    API three ways (node https, global fetch, the real @google/genai SDK): every call must come
//    from the VPN's address, with names resolved by the VPN's resolver.
//  - webview-probe shows a webview, which runs in the browser: it loads an image, fetches the echo
//    service and tries WebRTC/STUN. In the plain browser on the host that traffic leaves from the
//    host's address (the leak the README's "What is confined" section records); in the browser
//    `vpnns browser` runs it comes from the VPN's address, and with the tunnel down it fails.
// Screenshots, kept after the run and named in the test's output (`# screenshot: PATH`), in
// test-artifacts/ at the top of the checkout:
//   code-server-extensions.png               the plain browser: the "Gemini probe" panel (the three calls,
//                                            their answers, the address the mock API saw them from, the
//                                            extension host's namespace), the status bar item, and the
//                                            webview's report (its requests left from the host)
//   code-server-confined-browser.png         the same workbench in `vpnns browser`'s Chromium, tunnel up
//   code-server-confined-browser-down.png    and again after the tunnel went down: every call failed
// The confined browser's two rounds (tunnel up, then down) share one workbench page: each workbench
// start costs tens of seconds, and the file must stay within its time budget.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeServerPaths } from '../../src/services/profiles/code-server.js';
import { startHarness, unprivilegedBin, REPO, type Harness } from './harness.js';
import { isWireguardFlow, startUplinkCapture, unexpected } from './leak.js';
import { addTestUser, codeServerBinary, codeServerSkip, geminiCalls, geminiWorld, CHROMIUM, GEMINI_HOST, GEMINI_REPLY, type TestUser } from './real-programs.js';
import { buildVsix } from '../tools/vsix.js';
import type { WorkbenchProbeReport, WorkbenchProbeSettings } from '../tools/workbench-probe.js';

const skip = codeServerSkip();
const PROBE_JS = fileURLToPath(new URL('../tools/workbench-probe.js', import.meta.url));
const EXTENSIONS = join(REPO, 'test', 'extensions');
const ARTIFACTS = join(REPO, 'test-artifacts');
const PORT = 8080;
const STUN_PORT = 3478;
const FLAGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** seenFrom: the address the mock API named in its answer (what the panel in the screenshot shows). */
interface Call { ok: boolean; text?: string; seenFrom?: string; error?: string; ms: number }
interface GeminiResult { id: string; pid: number; uid: number; netns: string; calls: { https: Call; fetch: Call; sdk: Call } }
interface WebviewReport {
  id: string;
  origin: string;
  fetches: Array<{ url: string; ok: boolean; error?: string; ms: number }>;
  images: Array<{ url: string; event: string }>;
  webrtc?: { candidates?: string[]; error?: string };
}

let h: Harness;
let cfg: string;
let user: TestUser | undefined;
let probeDir: string;
let password: string;
let urlIp: string;
let urlName: string;

before(async () => {
  if (skip) return;
  h = await startHarness({ openvpn: false, ...geminiWorld });
  user = addTestUser(`${h.world.prefix}e`);
  probeDir = `${user.home}/probe`;
  const ca = `${user.home}/test-ca.pem`;
  mkdirSync(probeDir, { recursive: true });
  chownSync(probeDir, user.uid, user.uid);
  copyFileSync(h.world.caCert, ca);
  // The two extensions, built from source and installed the way a user installs a .vsix.
  const vsix = [join(user.home, 'gemini-probe.vsix'), join(user.home, 'webview-probe.vsix')];
  await buildVsix(join(EXTENSIONS, 'gemini-probe'), vsix[0]!);
  await buildVsix(join(EXTENSIONS, 'webview-probe'), vsix[1]!);
  const paths = codeServerPaths(user.home);
  // VS Code's extension host hands fetch and https an explicit CA list (Node's bundled roots plus
  // /etc/ssl/certs), which drops NODE_EXTRA_CA_CERTS; with http.systemCertificates off it keeps
  // Node's own store, where the world's test CA is. (Real Gemini needs neither.)
  mkdirSync(`${paths.data}/User`, { recursive: true });
  writeFileSync(`${paths.data}/User/settings.json`, JSON.stringify({ 'http.systemCertificates': false }));
  for (const d of [`${user.home}/.local`, `${user.home}/.local/share`, `${user.home}/.local/share/vpnns`, paths.base, paths.data, `${paths.data}/User`, `${paths.data}/User/settings.json`]) chownSync(d, user.uid, user.uid);
  const install = await h.world.inHost(
    ['/usr/sbin/runuser', '-u', user.name, '--', codeServerBinary()!, '--config', paths.config, '--user-data-dir', paths.data, '--extensions-dir', paths.extensions, ...vsix.flatMap((v) => ['--install-extension', v])],
    { timeoutMs: 60_000, cwd: user.home },
  );
  assert.equal(install.code, 0, `${install.stdout}\n${install.stderr}`);
  assert.match(install.stdout, /gemini-probe\.vsix' was successfully installed/);
  assert.match(install.stdout, /webview-probe\.vsix' was successfully installed/);
  urlIp = `http://${h.world.addr.echo}/webview-probe/ip`;
  urlName = `http://${h.world.names.echo}/webview-probe/name`;
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    supervisor: { probeInterval: 0 },
    apps: {
      'code-server': {
        command: [codeServerBinary()!],
        autostart: true,
        env: {
          NODE_EXTRA_CA_CERTS: ca,
          GEMINI_PROBE_BASE_URL: `https://${GEMINI_HOST}`,
          GEMINI_PROBE_DIR: probeDir,
          WEBVIEW_PROBE_DIR: probeDir,
          WEBVIEW_PROBE_URLS: `${urlIp},${urlName}`,
          WEBVIEW_PROBE_STUN: `stun:${h.world.addr.echo}:${STUN_PORT}`,
          WEBVIEW_PROBE_FRAME: `http://${h.world.addr.echo}/`,
        },
      },
    },
  });
  const r = await h.vpnns(['up', '--config', cfg], { env: { ...process.env, SUDO_USER: user.name } });
  assert.equal(r.code, 0, r.stderr);
  await waitHealthy();
  password = (await h.vpnns(['app', 'password', 'code-server', '--config', cfg])).stdout.trim();
  mkdirSync(ARTIFACTS, { recursive: true });
});

after(async () => {
  await h?.cleanup();
  user?.remove();
  if (h) rmSync(`/var/lib/vpnns/${h.ns}`, { recursive: true, force: true });
});

async function waitHealthy(ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await h.world.inHost(['curl', '-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${PORT}/healthz`], { timeoutMs: 15_000 });
    if (r.stdout.trim() === '200') return;
    if (Date.now() > deadline) throw new Error(`code-server did not answer on 127.0.0.1:${PORT}: ${r.stdout} ${r.stderr}`);
    await sleep(300);
  }
}

function clearProbeDir(): void {
  for (const n of readdirSync(probeDir)) rmSync(join(probeDir, n), { force: true });
}

const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(probeDir, name), 'utf8')) as T;

type Opening = Omit<WorkbenchProbeSettings, 'dir' | 'waitFor' | 'timeoutMs'>;

/** Opens the workbench in headless Chromium, either plainly on the host or confined (inside, with `vpnns browser`'s flags). */
async function startWorkbench(where: 'host' | 'inside', settings: Opening): Promise<WorkbenchProbeReport> {
  const full: WorkbenchProbeSettings = { ...settings, dir: probeDir, waitFor: ['^result-startup-\\d+\\.json$', '^webview-[\\d-]+\\.json$'], timeoutMs: 90_000 };
  const argv = [process.execPath, PROBE_JS];
  const opts = { env: { ...process.env, WORKBENCH_PROBE: JSON.stringify(full), CODE_SERVER_PASSWORD: password }, timeoutMs: 200_000 + (settings.holdMs ?? 0) };
  const r = where === 'host' ? await h.world.inHost(argv, opts) : await h.inVpn(argv, opts);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as WorkbenchProbeReport;
}

/** A screenshot's path, removed first so that the one found later is this run's. */
function freshShot(name: string): string {
  const p = join(ARTIFACTS, name);
  rmSync(p, { force: true });
  return p;
}

/** Waits for a file the workbench probe writes (a screenshot, written whole then renamed). */
async function waitForPath(p: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!existsSync(p)) {
    if (Date.now() > deadline) throw new Error(`no ${p} after ${ms} ms`);
    await sleep(200);
  }
}

/** The network namespace of a process, read from outside (as root), as /proc shows it. */
function netnsOf(pid: number): string {
  return readlinkSync(`/proc/${pid}/ns/net`);
}

/** The name of the first file in the probe directory that matches, once it is there. */
async function waitForFile(re: RegExp, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const f = readdirSync(probeDir).find((n) => re.test(n));
    if (f) return f;
    if (Date.now() > deadline) throw new Error(`no ${re} in ${probeDir} after ${ms} ms: ${readdirSync(probeDir).join(' ')}`);
    await sleep(200);
  }
}

function results(report: WorkbenchProbeReport): { gemini: GeminiResult; webview: WebviewReport } {
  assert.equal(report.error, undefined, JSON.stringify(report));
  assert.equal(report.workbench, true);
  assert.deepEqual(report.missing, [], `the extensions wrote their results: ${JSON.stringify(report)}`);
  const g = report.files.find((f) => f.startsWith('result-'))!;
  const w = report.files.find((f) => f.startsWith('webview-'))!;
  return { gemini: readJson<GeminiResult>(g), webview: readJson<WebviewReport>(w) };
}

/** The echo service's log lines of the webview's requests since `t0`. */
async function webviewRequests(t0: number) {
  return (await h.world.echoRequests()).filter((e) => e.t >= t0 && e.path.startsWith('/webview-probe/'));
}

/** `vpnns browser --print --json`: the confined browser's flags, as the user would get them. */
async function confinedFlags(): Promise<{ executablePath: string; args: string[]; url: string }> {
  const r = await h.vpnns(['browser', 'code-server', '--print', '--json', '--config', cfg], { env: { ...process.env, SUDO_USER: user!.name } });
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as { argv: string[]; url: string; profileDir: string };
  assert.equal(p.argv.at(-1), p.url);
  assert.equal(p.url, `http://10.0.0.2:${PORT}/`);
  // The profile directory is playwright's (a fresh one per run); everything else as vpnns gives it.
  const args = p.argv.slice(1, -1).filter((a) => !a.startsWith('--user-data-dir='));
  return { executablePath: p.argv[0]!, args: [...args, '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], url: p.url };
}

test('plain browser on the host: the extension reaches Gemini through the VPN three ways; the webview leaks the host\'s address', { skip, timeout: 240_000 }, async (t) => {
  clearProbeDir();
  const shot = freshShot('code-server-extensions.png');
  const t0 = Date.now();
  const stun = await h.world.capture(h.world.ns.wan, h.world.wanIface, `udp and dst port ${STUN_PORT}`);
  // The page stays open until the extension host's owner is read from outside: the extension host may end
  // as soon as its browser goes, and its /proc entry with it.
  const hold = join(probeDir, 'hold-done');
  const driver = startWorkbench('host', {
    url: `http://127.0.0.1:${PORT}/`,
    executablePath: CHROMIUM,
    // The host's browser resolves the echo name as the host would (here without asking a resolver).
    args: [...FLAGS, `--host-resolver-rules=MAP ${h.world.names.echo} ${h.world.addr.echo}`],
    userDataDir: join(h.world.dir, 'chromium-plain'),
    screenshot: shot,
    holdUntil: hold,
    holdMs: 60_000,
  });
  let owner: number;
  let outsideNetns: string;
  try {
    const g = await Promise.race([waitForFile(/^result-startup-\d+\.json$/, 150_000), driver.then((r) => { throw new Error(`the browser ended early: ${JSON.stringify(r)}`); })]);
    const pid = readJson<GeminiResult>(g).pid;
    owner = statSync(`/proc/${pid}`).uid;
    outsideNetns = netnsOf(pid);
  } finally {
    writeFileSync(hold, '');
  }
  const report = await driver;
  const stunLines = await stun.stop();
  const { gemini, webview } = results(report);
  assert.equal(report.screenshot, shot);
  t.diagnostic(`screenshot: ${shot}`);

  // 1. The Node extension host: inside the namespace, as the user; every call through the VPN.
  for (const [how, c] of Object.entries(gemini.calls)) {
    assert.equal(c.ok, true, `${how}: ${JSON.stringify(c)}`);
    assert.equal(c.text, GEMINI_REPLY, how);
    assert.equal(c.seenFrom, h.world.addr.vpnPublic, `${how}: the answer names the VPN's address (as the screenshot's panel shows)`);
  }
  const vpnNs = `net:[${statSync(`/run/netns/${h.ns}`).ino}]`;
  assert.equal(outsideNetns, vpnNs, 'the extension host\'s process is in the VPN namespace (/proc/PID/ns/net read from outside)');
  assert.equal(gemini.netns, vpnNs, 'and says so itself');
  assert.equal(gemini.uid, user!.uid);
  assert.equal(owner, user!.uid, 'the extension host\'s process belongs to the user (seen from outside)');
  const calls = (await geminiCalls(h.world)).filter((c) => c.prompt?.includes(gemini.id));
  assert.deepEqual(calls.map((c) => c.prompt!.replace(/^gemini-probe \S+ /, '')).sort(), ['via @google/genai', 'via fetch', 'via node https']);
  for (const c of calls) assert.equal(c.from, h.world.addr.vpnPublic, `through the VPN: ${JSON.stringify(c)}`);
  const vpnDns = (await h.world.dnsQueries('vpn')).filter((q) => q.name.replace(/\.$/, '') === GEMINI_HOST);
  const ispDns = (await h.world.dnsQueries('isp')).filter((q) => q.name.replace(/\.$/, '') === GEMINI_HOST);
  assert.ok(vpnDns.length > 0, 'the name was resolved by the VPN\'s resolver');
  assert.deepEqual(ispDns, [], 'the ISP\'s resolver never saw the name');

  // 2. The browser half: the webview's requests leave from the host's own address.
  assert.ok(webview.fetches.every((f) => f.ok), JSON.stringify(webview.fetches));
  const seen = await webviewRequests(t0);
  assert.ok(seen.some((e) => e.path.startsWith('/webview-probe/ip')) && seen.some((e) => e.path.startsWith('/webview-probe/name')), JSON.stringify(seen));
  assert.deepEqual([...new Set(seen.map((e) => e.from))], [h.world.addr.hostPublic], 'the plain browser\'s webview requests come from the host (the leak)');
  // And WebRTC asks the STUN server from the host's address.
  assert.ok(stunLines.some((l) => l.includes(`${h.world.addr.hostPublic}.`)), `a STUN request from the host: ${stunLines.join('\n')}`);
});

test('vpnns browser starts the browser inside, as the user, with its own profile; refuses without a display', { skip, timeout: 60_000 }, async () => {
  const fake = `${user!.home}/fake-chromium`;
  const out = `${user!.home}/fake-chromium.out`;
  writeFileSync(fake, '#!/bin/sh\n{ id -u; readlink /proc/self/ns/net; echo "$DISPLAY"; printf "%s\\n" "$@"; } > "$HOME/fake-chromium.out"\n', { mode: 0o755 });
  const env = { ...process.env, SUDO_USER: user!.name, DISPLAY: ':42' };
  const r = await h.vpnns(['browser', 'code-server', '--browser', fake, '--config', cfg], { env });
  assert.equal(r.code, 0, r.stderr);
  const [uid, netns, display, ...args] = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(Number(uid), user!.uid);
  assert.equal(netns, `net:[${statSync(`/run/netns/${h.ns}`).ino}]`);
  assert.equal(display, ':42');
  const profile = `${user!.home}/.local/share/vpnns/browser/${h.ns}/code-server`;
  assert.ok(args.includes(`--user-data-dir=${profile}`), args.join(' '));
  assert.ok(args.includes('--force-webrtc-ip-handling-policy=disable_non_proxied_udp'));
  assert.equal(args.at(-1), `http://10.0.0.2:${PORT}/`);
  assert.equal(statSync(profile).uid, user!.uid, 'the profile directory is made by the user, not root');
  assert.equal(statSync(profile).mode & 0o077, 0, 'and private to them');
  // One profile per namespace: a browser of another namespace holding it would be handed the URL.
  assert.equal(statSync(`${user!.home}/.local/share/vpnns/browser/${h.ns}`).uid, user!.uid);
  const noDisplay = { ...env, DISPLAY: '', WAYLAND_DISPLAY: '' };
  const nd = await h.vpnns(['browser', 'code-server', '--browser', fake, '--config', cfg], { env: noDisplay });
  assert.equal(nd.code, 2);
  assert.match(nd.stderr, /^vpnns: no display to open the browser on .*--preserve-env=DISPLAY.*\.\n$/);
  // Without sudo: the sentence names sudo with the display kept (before the config, which may be root's alone).
  const unpriv = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, unprivilegedBin(), 'browser', 'code-server', '--config', cfg]);
  assert.equal(unpriv.code, 2, unpriv.stderr);
  assert.equal(unpriv.stderr, 'vpnns: `vpnns browser` needs root to start the browser inside the namespace (it then runs as you, not as root); run `sudo --preserve-env=DISPLAY,XAUTHORITY,WAYLAND_DISPLAY vpnns browser`.\n');
});

test('a login callback on the namespace\'s localhost: vpnns browser --url reaches it (the host\'s browser could not)', { skip, timeout: 90_000 }, async () => {
  // What a CLI's OAuth login does: listen on 127.0.0.1:<port> inside and wait for the browser's redirect.
  const port = 41234;
  const server = 'const s=require("http").createServer((q,r)=>{r.end("<p>callback-ok "+q.url+"</p>");s.close()});s.listen(Number(process.argv[1]),"127.0.0.1",()=>console.log("listening"))';
  const listener = h.inVpn([process.execPath, '-e', server, String(port)], { timeoutMs: 60_000 });
  const deadline = Date.now() + 15_000;
  while ((await h.inVpn(['ss', '-Hltn', `sport = :${port}`])).stdout.trim() === '' && Date.now() < deadline) await sleep(100);
  // From the host's loopback nothing answers: the listener is the namespace's.
  assert.notEqual(await h.world.probeTcp(h.world.ns.host, '127.0.0.1', port, 1000), 'open');
  const r = await h.vpnns(['browser', '--url', `http://127.0.0.1:${port}/callback?code=abc`, '--headless', '--config', cfg, '--', '--no-sandbox', '--disable-gpu', '--dump-dom'], {
    env: { ...process.env, SUDO_USER: user!.name },
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /callback-ok \/callback\?code=abc/);
  assert.equal((await listener).code, 0);
});

test('vpnns check says the browser half is not checkable from here and names vpnns browser', { skip, timeout: 120_000 }, async (t) => {
  const r = await h.vpnns(['check', '--json', '--config', cfg]);
  const checks = JSON.parse(r.stdout) as Array<{ name: string; result: string; reason: string }>;
  const half = checks.find((c) => c.name === 'browser-half');
  assert.equal(half?.result, 'skip', r.stdout);
  assert.match(half!.reason, /not checkable from here.*vpnns browser code-server/);
  // The table says the same, and its last line names it among the skipped, never as passed.
  const text = await h.vpnns(['check', '--brief', '--config', cfg]);
  assert.match(text.stdout, /^browser-half +SKIP +not checkable from here: code-server runs its workbench, webviews and web extensions in your browser, .*`sudo --preserve-env=DISPLAY,XAUTHORITY,WAYLAND_DISPLAY vpnns browser code-server`$/m, text.stdout);
  assert.match(text.stdout, /^all checks passed \(skipped: [^)]*browser-half[^)]*\)$/m, text.stdout);
  t.diagnostic(text.stdout.split('\n').find((l) => l.startsWith('browser-half'))!);
});

test('vpnns browser: Chromium inside; the webview\'s requests and DNS go through the VPN, no STUN from the host; with the tunnel down every call fails fast and nothing leaves', { skip, timeout: 300_000 }, async (t) => {
  clearProbeDir();
  const shotUp = freshShot('code-server-confined-browser.png');
  const shotDown = freshShot('code-server-confined-browser-down.png');
  const flags = await confinedFlags();
  assert.ok(flags.args.includes('--force-webrtc-ip-handling-policy=disable_non_proxied_udp'));
  const hold = join(probeDir, 'hold-done');
  const t0 = Date.now();
  const uplink = await startUplinkCapture(h.world);
  // One workbench session for both halves of the test: the page stays open while the tunnel goes down.
  const driver = startWorkbench('inside', {
    ...flags,
    userDataDir: join(h.world.dir, 'chromium-confined'),
    screenshot: shotUp,
    later: [{ waitFor: ['^result-down\\.json$', '^webview-down\\.json$'], path: shotDown }],
    holdUntil: hold,
    holdMs: 200_000,
  });
  let report: WorkbenchProbeReport | undefined;
  try {
    const g = await Promise.race([waitForFile(/^result-startup-\d+\.json$/, 150_000), driver.then((r) => { throw new Error(`the browser ended early: ${JSON.stringify(r)}`); })]);
    const w = await waitForFile(/^webview-[\d-]+\.json$/, 60_000);
    const lines = await uplink.stop();
    const gemini = readJson<GeminiResult>(g);
    const webview = readJson<WebviewReport>(w);
    assert.equal((webview as WebviewReport & { extensionHostPid: number }).extensionHostPid, gemini.pid, 'one extension host runs both extensions');
    assert.equal(netnsOf(gemini.pid), `net:[${statSync(`/run/netns/${h.ns}`).ino}]`, 'the extension host is in the VPN namespace (seen from outside)');
    for (const c of Object.values(gemini.calls)) assert.equal(c.ok, true, JSON.stringify(c));
    assert.ok(webview.fetches.every((f) => f.ok), JSON.stringify(webview.fetches));
    assert.ok(webview.origin.includes('10.0.0.2'), `the workbench was opened at the namespace address: ${webview.origin}`);
    const seen = await webviewRequests(t0);
    assert.ok(seen.some((e) => e.path.startsWith('/webview-probe/ip')) && seen.some((e) => e.path.startsWith('/webview-probe/name')), JSON.stringify(seen));
    assert.deepEqual([...new Set(seen.map((e) => e.from))], [h.world.addr.vpnPublic], 'the confined webview\'s requests come from the VPN');
    const echoName = (q: { name: string; t: number }) => q.name.replace(/\.$/, '') === h.world.names.echo && q.t >= t0;
    assert.ok((await h.world.dnsQueries('vpn')).some(echoName), 'the webview\'s name was resolved by the VPN\'s resolver');
    assert.deepEqual((await h.world.dnsQueries('isp')).filter(echoName), []);
    // Nothing but the tunnel on the uplink: no STUN, no DNS, no HTTP from the host.
    assert.deepEqual(unexpected(lines, (l) => isWireguardFlow(l, h.world)), []);
    assert.ok(!(webview.webrtc?.candidates ?? []).some((c) => / typ srflx /.test(c)), `no server-reflexive candidate: ${JSON.stringify(webview.webrtc)}`);

    // The screenshot of this round is taken before the tunnel goes down.
    await waitForPath(shotUp, 60_000);
    // The tunnel goes down (client killed, supervisor frozen) while the browser and the extension host run.
    const st = JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as { supervisor: { pid: number }; vpn: { tunnel: string }; components: Record<string, { pid?: number }> };
    const callsBefore = (await geminiCalls(h.world)).length;
    const t1 = Date.now();
    const uplinkDown = await startUplinkCapture(h.world);
    process.kill(st.supervisor.pid, 'SIGSTOP');
    let down: { gemini: GeminiResult; webview: WebviewReport };
    try {
      process.kill(st.components.vpn!.pid!, 'SIGKILL');
      await h.inVpn(['ip', 'link', 'del', st.vpn.tunnel]).catch(() => {});
      await sleep(300);
      // vpnns browser itself refuses to start a browser now.
      const refused = await h.vpnns(['browser', 'code-server', '--headless', '--config', cfg], { env: { ...process.env, SUDO_USER: user!.name } });
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /^vpnns: the VPN in namespace \S+ is not connected/);
      // Addressed to this window's extension host (the plain browser's is still alive, waiting for a reconnection).
      writeFileSync(join(probeDir, `trigger-${gemini.pid}-down`), '');
      writeFileSync(join(probeDir, `trigger-webview-${gemini.pid}-down`), '');
      down = { gemini: readJson<GeminiResult>(await waitForFile(/^result-down\.json$/, 60_000)), webview: readJson<WebviewReport>(await waitForFile(/^webview-down\.json$/, 60_000)) };
    } finally {
      process.kill(st.supervisor.pid, 'SIGCONT');
    }
    const linesDown = await uplinkDown.stop();
    for (const [how, c] of Object.entries(down.gemini.calls)) {
      assert.equal(c.ok, false, `${how} must fail: ${JSON.stringify(c)}`);
      assert.ok(c.ms < 5000, `${how} failed fast (${c.ms} ms): ${c.error}`);
    }
    assert.ok(down.webview.fetches.every((f) => !f.ok), `the webview's fetches fail: ${JSON.stringify(down.webview.fetches)}`);
    assert.deepEqual(await webviewRequests(t1), [], 'the echo service saw no webview request');
    assert.equal((await geminiCalls(h.world)).length, callsBefore, 'the mock Gemini API saw no call');
    assert.deepEqual(unexpected(linesDown, (l) => isWireguardFlow(l, h.world)), []);
  } finally {
    writeFileSync(hold, '');
    report = await driver;
  }
  assert.equal(report.error, undefined, JSON.stringify(report));
  assert.equal(report.screenshot, shotUp);
  assert.deepEqual(report.shots, [shotDown], 'the round with the tunnel down was shot too');
  t.diagnostic(`screenshot: ${shotUp}`);
  t.diagnostic(`screenshot: ${shotDown}`);
});
