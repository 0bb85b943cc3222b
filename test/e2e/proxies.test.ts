// The SOCKS5 (Dante) and HTTP (Tinyproxy) proxies inside the namespace, used from the host: they
// egress through the VPN, resolve through the VPN's resolver, refuse a LAN neighbour, fail closed
// when the tunnel dies, and come back after their own crash.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from './harness.js';

let h: Harness;
let cfg: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface St {
  components: Record<string, { state: string; pid?: number; restarts: number }>;
  supervisor?: { pid: number };
  vpn?: { tunnel?: string; connected?: boolean };
}
const status = async (): Promise<St> => JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as St;
async function waitRunning(names: string[], ms = 15_000): Promise<St> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await status();
    if (names.every((n) => s.components[n]?.state === 'running')) return s;
    if (Date.now() > deadline) throw new Error(`not running: ${JSON.stringify(s.components)}`);
    await sleep(200);
  }
}
const viaSocks = (url: string, proxy = '10.0.0.2:1080', extra: string[] = []) =>
  h.world.inHost(['curl', '-sS', '--max-time', '4', '--socks5-hostname', proxy, '--cacert', h.world.caCert, ...extra, url], { timeoutMs: 10_000 });
const viaHttp = (url: string, proxy = 'http://10.0.0.2:1090') =>
  h.world.inHost(['curl', '-sS', '--fail', '--max-time', '4', '-x', proxy, '--cacert', h.world.caCert, url], { timeoutMs: 10_000 });

before(async () => {
  h = await startHarness({ openvpn: false });
  const file = await h.world.wireguard!.writeClientConfig();
  cfg = h.config({
    vpn: { type: 'wireguard', config: file, connectTimeout: 10 },
    supervisor: { probeInterval: 0 },
    proxies: { socks: { enabled: true, port: 1080, publish: true }, http: { enabled: true, port: 1090, publish: true } },
  });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  await waitRunning(['socks', 'http', 'forward-socks', 'forward-http']);
});
after(async () => {
  await h?.cleanup();
});

test('from the host, both proxies reach the echo service over HTTP and HTTPS and see the VPN address', async () => {
  const { echo } = h.world.names;
  for (const r of [
    await viaSocks(`http://${echo}/`),
    await viaSocks(`https://${echo}/`),
    await viaHttp(`http://${echo}/`),
    await viaHttp(`https://${echo}/`),
    // Published on the host's loopback too.
    await viaSocks(`https://${echo}/`, '127.0.0.1:1080'),
    await viaHttp(`https://${echo}/`, 'http://127.0.0.1:1090'),
  ]) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), h.world.addr.vpnPublic);
  }
});

test('names resolve through the VPN resolver, none at the ISP resolver; no Via header', async () => {
  const name = `proxied-${Date.now()}.${h.world.names.zone}`;
  await viaSocks(`http://${name}/`);
  await viaHttp(`http://${name}/`);
  const isp = await h.world.dnsQueries('isp');
  const vpn = await h.world.dnsQueries('vpn');
  assert.deepEqual(isp.filter((q) => q.name === name), []);
  assert.ok(vpn.some((q) => q.name === name));
  const headers = await h.world.inHost(['curl', '-sS', '--max-time', '4', '-x', 'http://10.0.0.2:1090', '-o', '/dev/null', '-D', '-', `http://${h.world.names.echo}/`]);
  assert.doesNotMatch(headers.stdout, /^via:/im);
});

test('a LAN neighbour cannot use the proxies (neither the namespace address nor the host)', async () => {
  const { lan } = h.world.ns;
  for (const [host, port] of [
    ['10.0.0.2', 1080],
    ['10.0.0.2', 1090],
    [h.world.addr.hostLan, 1080],
    [h.world.addr.hostLan, 1090],
  ] as const) {
    const p = await h.world.probeTcp(lan, host, port, 1500);
    assert.notEqual(p, 'open', `${host}:${port} from the LAN: ${p}`);
  }
});

test('when the VPN client dies, requests through both proxies fail and nothing leaks', async () => {
  const s = await status();
  const w = h.world;
  const capture = await w.capture(w.ns.wan, w.wanIface, `(ip and src host ${w.addr.hostPublic}) and not (udp and dst port ${w.wireguard!.port})`);
  process.kill(s.supervisor!.pid, 'SIGSTOP');
  try {
    process.kill(s.components.vpn!.pid!, 'SIGKILL');
    await h.inVpn(['ip', 'link', 'del', s.vpn!.tunnel!]).catch(() => {});
    await sleep(300);
    for (const r of [await viaSocks(`http://${w.addr.echo}/`), await viaHttp(`http://${w.addr.echo}/`), await viaSocks(`http://${w.names.echo}/`)]) {
      assert.notEqual(r.code, 0, `must fail while the tunnel is down: ${r.stdout}`);
    }
  } finally {
    process.kill(s.supervisor!.pid, 'SIGCONT');
  }
  const lines = await capture.stop();
  assert.deepEqual(lines, [], 'no packet from the host other than the WireGuard flow');
  await waitRunning(['vpn', 'socks', 'http']);
  const back = await viaSocks(`http://${w.names.echo}/`);
  assert.equal(back.stdout.trim(), w.addr.vpnPublic, 'the proxies follow the tunnel back');
});

test('each proxy comes back after its own SIGKILL', async () => {
  for (const name of ['socks', 'http']) {
    const s = await status();
    process.kill(s.components[name]!.pid!, 'SIGKILL');
    const after = await waitRunning([name]);
    assert.ok(after.components[name]!.restarts > s.components[name]!.restarts);
  }
  let r = await viaSocks(`http://${h.world.names.echo}/`);
  for (let i = 0; i < 20 && r.code !== 0; i++) {
    await sleep(250);
    r = await viaSocks(`http://${h.world.names.echo}/`);
  }
  assert.equal(r.stdout.trim(), h.world.addr.vpnPublic);
  const hp = await viaHttp(`http://${h.world.names.echo}/`);
  assert.equal(hp.stdout.trim(), h.world.addr.vpnPublic);
});
