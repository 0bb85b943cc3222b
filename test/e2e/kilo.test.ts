// The real Kilo CLI 7.7.7, headless (`kilo run`), through `vpnns kilo`: its `google` provider talks
// to generativelanguage.googleapis.com, which in this world is a mock Gemini API in wan behind HTTPS
// signed by the world's test CA. The mock must see the call come from the VPN's address, Kilo must
// print the mock's answer, and with the tunnel (or the namespace) down `vpnns kilo` must refuse.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { startHarness, type Harness } from './harness.js';
import { addTestUser, geminiCalls, geminiWorld, kiloBinary, kiloEnv, kiloSkip, GEMINI_HOST, GEMINI_REPLY as REPLY, type TestUser } from './real-programs.js';

const skip = kiloSkip();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: Harness;
let cfg: string;
let user: TestUser | undefined;
let project: string;

before(async () => {
  if (skip) return;
  h = await startHarness({ openvpn: false, ...geminiWorld });
  user = addTestUser(`${h.world.prefix}k`);
  project = `${user.home}/project`;
  const tmp = `${user.home}/tmp`;
  const ca = `${user.home}/test-ca.pem`;
  for (const d of [project, tmp]) {
    mkdirSync(d, { recursive: true });
    chownSync(d, user.uid, user.uid);
  }
  copyFileSync(h.world.caCert, ca);
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    supervisor: { probeInterval: 0 },
    apps: { kilo: { command: [kiloBinary()!], env: kiloEnv(`https://${GEMINI_HOST}/v1beta`, ca, tmp) } },
  });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await h?.cleanup();
  user?.remove();
  if (h) rmSync(`/var/lib/vpnns/${h.ns}`, { recursive: true, force: true });
});

/** `sudo vpnns kilo ARGS` typed by the user in their project directory. */
const kilo = (args: string[], timeoutMs = 180_000) =>
  h.vpnns(['kilo', '--config', cfg, ...args], { cwd: project, env: { ...process.env, SUDO_USER: user!.name }, timeoutMs });


test('vpnns kilo --dry-run prints the command line it would run inside, and Kilo never runs', { skip, timeout: 60_000 }, async () => {
  const before = (await geminiCalls(h.world)).length;
  const r = await kilo(['--dry-run', 'run', '--pure', 'Reply with one word: ping'], 30_000);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  const note = lines.pop();
  const cmd = lines.join('\n');
  assert.ok(cmd.startsWith('$ '), r.stdout);
  // Entered by the one root launcher (the namespace is its argument) or by `ip netns exec` where it has no syscall numbers.
  assert.ok(cmd.includes(`netns exec ${h.ns} `) || cmd.includes(` ${h.ns} ${user!.name} `), cmd);
  assert.ok(cmd.includes(kiloBinary()!), cmd);
  assert.ok(cmd.endsWith(" run --pure 'Reply with one word: ping'"), cmd);
  assert.equal(note, `# Kilo would run as ${user!.name} in namespace ${h.ns}; nothing ran (--dry-run).`);
  assert.ok(!r.stdout.includes('test-key-not-secret') && !r.stdout.includes('KILO_CONFIG_CONTENT'), 'the environment (provider key) is never printed');
  await sleep(500);
  assert.equal((await geminiCalls(h.world)).length, before, 'no call to the provider');
});

test('vpnns kilo run: Kilo reaches "Google" through the VPN and prints its answer', { skip, timeout: 200_000 }, async () => {
  const r = await kilo(['run', '--pure', 'Reply with one word: ping']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.ok(r.stdout.includes(REPLY), `Kilo printed the mock's answer:\n${r.stdout}\n${r.stderr}`);
  const calls = await geminiCalls(h.world);
  assert.ok(calls.length > 0, 'the mock Gemini API was called');
  const call = calls.at(-1)!;
  assert.equal(call.from, h.world.addr.vpnPublic, 'the call left through the VPN');
  assert.equal(call.model, 'gemini-2.5-flash');
  assert.equal(call.apiKey, true);
  assert.match(call.prompt ?? '', /Reply with one word: ping/);
  // Kilo ran in the caller's directory (it tells the model its working directory).
  assert.match(call.prompt ?? '', new RegExp(`Working directory: ${project.replaceAll('/', '\\/')}`));
  for (const c of calls) assert.equal(c.from, h.world.addr.vpnPublic, `every call through the VPN: ${JSON.stringify(c)}`);
});

test('with the tunnel down, vpnns kilo refuses (exit 1, one sentence) and Kilo never runs', { skip, timeout: 60_000 }, async () => {
  const s = JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as {
    supervisor: { pid: number };
    vpn: { tunnel: string };
    components: Record<string, { pid?: number }>;
  };
  const before = (await geminiCalls(h.world)).length;
  process.kill(s.supervisor.pid, 'SIGSTOP');
  try {
    process.kill(s.components.vpn!.pid!, 'SIGKILL');
    await h.inVpn(['ip', 'link', 'del', s.vpn.tunnel]).catch(() => {});
    await sleep(300);
    const r = await kilo(['run', '--pure', 'this must not be sent'], 30_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^vpnns: the VPN in namespace \S+ is not connected .*\.\n$/);
    assert.equal(r.stdout, '');
  } finally {
    process.kill(s.supervisor.pid, 'SIGCONT');
  }
  assert.equal((await geminiCalls(h.world)).length, before, 'nothing reached the API');
});

test('with the namespace down, vpnns kilo refuses', { skip, timeout: 120_000 }, async () => {
  const down = await h.vpnns(['down', '--config', cfg]);
  assert.equal(down.code, 0, down.stderr);
  const r = await kilo(['--version'], 30_000);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^vpnns: namespace \S+ is not up, so Kilo would not be confined; run `sudo vpnns up` first\.\n$/);
});
