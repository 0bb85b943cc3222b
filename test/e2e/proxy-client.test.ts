// A real proxy-aware program on the host uses the tunnel through vpnns's HTTP proxy: Kilo CLI (a Bun
// binary whose fetch honours HTTPS_PROXY by itself) runs in the host namespace with
// HTTPS_PROXY=http://127.0.0.1:1090 (Tinyproxy in the namespace, published on the host). It sends
// CONNECT generativelanguage.googleapis.com:443 and never resolves the name itself; the mock Gemini
// API in wan must see the call come from the VPN's address, not the host's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, type Harness } from './harness.js';
import { geminiCalls, geminiWorld, kiloBinary, kiloEnv, kiloSkip, GEMINI_HOST, GEMINI_REPLY } from './real-programs.js';

const skip = kiloSkip();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROXY = 'http://127.0.0.1:1090';

let h: Harness;
let cfg: string;
let home: string;

before(async () => {
  if (skip) return;
  h = await startHarness({ openvpn: false, ...geminiWorld });
  home = mkdtempSync(join(h.world.dir, 'kilo-home-'));
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: true, publish: true } },
    supervisor: { probeInterval: 0 },
  });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  // The proxy starts once the tunnel is up: wait until a request through it reaches the mock.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = await h.world.inHost(['curl', '-sS', '--max-time', '3', '--cacert', h.world.caCert, '-x', PROXY, `https://${GEMINI_HOST}/v1beta/models`], { timeoutMs: 10_000 });
    if (c.code === 0) break;
    if (Date.now() > deadline) throw new Error(`the HTTP proxy does not reach the mock: ${c.stderr}`);
    await sleep(300);
  }
});

after(async () => {
  // The world's directory, Kilo's HOME and TMPDIR included, goes with the world.
  await h?.cleanup();
});

test('Kilo CLI on the host with HTTPS_PROXY reaches the API through the VPN', { skip, timeout: 200_000 }, async () => {
  const before = (await geminiCalls(h.world)).filter((c) => c.model).length;
  const env = {
    ...process.env,
    ...kiloEnv(`https://${GEMINI_HOST}/v1beta`, h.world.caCert, home),
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_STATE_HOME: join(home, '.local', 'state'),
    XDG_CACHE_HOME: join(home, '.cache'),
    HTTPS_PROXY: PROXY,
    NO_PROXY: '',
  };
  const r = await h.world.inHost([kiloBinary()!, 'run', '--pure', 'Say hi through the proxy'], { env, cwd: home, timeoutMs: 180_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.ok(r.stdout.includes(GEMINI_REPLY), `Kilo printed the mock's answer:\n${r.stdout}\n${r.stderr}`);
  const calls = (await geminiCalls(h.world)).filter((c) => c.model);
  assert.ok(calls.length > before, 'Kilo called the API');
  const call = calls.at(-1)!;
  assert.match(call.prompt ?? '', /Say hi through the proxy/);
  assert.equal(call.from, h.world.addr.vpnPublic, 'the API saw the VPN\'s address');
  assert.notEqual(call.from, h.world.addr.hostPublic);
});
