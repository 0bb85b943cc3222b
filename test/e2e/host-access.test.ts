// Who on the host reaches into the namespace (issue 12): root and the invoking user use the proxies
// and the published ports; another local user (uid 65534) is refused everything, on 10.0.0.2 and on
// 127.0.0.1. And the proxies themselves never reach what listens on the namespace's own addresses,
// nor the host end of the link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { startHarness, type Harness } from './harness.js';

let h: Harness;
let cfg: string;
let user: string;
let uid = '';
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const INSIDE_PORT = 8099; // listens on 0.0.0.0 inside: 127.0.0.1 and 10.0.0.2
const HOST_PORT = 8096; // listens on 0.0.0.0 in the world's host namespace: 10.0.0.1 among others
const FORWARDED = 8098; // 127.0.0.1:8098 -> 10.0.0.2:8099 by the forwarder
const KERNEL = 8097; // 127.0.0.1:8097 -> 10.0.0.2:8099 by DNAT
const SERVER = `require('http').createServer((q, s) => s.end(process.argv[2])).listen(Number(process.argv[1]), '0.0.0.0')`;

interface St {
  components: Record<string, { state: string }>;
}
async function waitRunning(names: string[], ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as St;
    if (names.every((n) => s.components[n]?.state === 'running')) return;
    if (Date.now() > deadline) throw new Error(`not running: ${JSON.stringify(s.components)}`);
    await sleep(200);
  }
}

function serve(argvPrefix: string[], port: number, body: string): void {
  const [cmd, ...args] = [...argvPrefix, process.execPath, '-e', SERVER, String(port), body];
  const c = spawn(cmd!, args, { stdio: 'ignore' });
  children.push(c);
}

/** curl in the world's host namespace, as root (no uid) or as `as`. */
function curl(as: string | undefined, args: string[]) {
  const who = as === undefined ? [] : ['setpriv', `--reuid=${as}`, `--regid=${as === '65534' ? '65534' : as}`, '--clear-groups'];
  return h.world.inHost([...who, 'curl', '-sS', '--fail', '--max-time', '4', ...args], { timeoutMs: 10_000 });
}
const echoVia = (as: string | undefined, proxy: string[]) => curl(as, [...proxy, `http://${h.world.names.echo}/`]);

before(async () => {
  h = await startHarness({ openvpn: false });
  user = `vt${h.world.prefix.slice(2)}a`;
  execFileSync('useradd', ['-M', '-N', user]);
  uid = execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim();
  const file = await h.world.wireguard!.writeClientConfig();
  cfg = h.config({
    vpn: { type: 'wireguard', config: file, connectTimeout: 10 },
    supervisor: { probeInterval: 0 },
    proxies: { socks: { enabled: true, port: 1080, publish: true }, http: { enabled: true, port: 1090, publish: true } },
    publish: [{ host: `127.0.0.1:${FORWARDED}`, target: INSIDE_PORT }, { host: `127.0.0.1:${KERNEL}`, target: INSIDE_PORT, via: 'kernel' }],
  });
  // As if run with sudo from the user's account.
  const r = await h.vpnns(['up', '--config', cfg], { env: { ...process.env, SUDO_USER: user, SUDO_UID: uid } });
  assert.equal(r.code, 0, r.stderr);
  serve(['ip', 'netns', 'exec', h.ns], INSIDE_PORT, 'inside');
  serve(['nsenter', `--net=/run/netns/${h.world.ns.host}`, '--'], HOST_PORT, 'host');
  await waitRunning(['socks', 'http', 'forward-socks', 'forward-http', `forward-${FORWARDED}`]);
  for (let i = 0; i < 50; i++) {
    const a = await h.inVpn(['curl', '-sS', '--max-time', '1', `http://127.0.0.1:${INSIDE_PORT}/`]);
    const b = await h.world.inHost(['curl', '-sS', '--max-time', '1', `http://10.0.0.1:${HOST_PORT}/`]);
    if (a.stdout === 'inside' && b.stdout === 'host') return;
    await sleep(100);
  }
  throw new Error('the test listeners did not start');
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await h?.cleanup();
  if (user) execFileSync('userdel', [user], { stdio: 'ignore' });
});

const targets = () => [
  { what: 'SOCKS on 10.0.0.2', run: (as?: string) => echoVia(as, ['--socks5-hostname', '10.0.0.2:1080']) },
  { what: 'HTTP proxy on 10.0.0.2', run: (as?: string) => echoVia(as, ['-x', 'http://10.0.0.2:1090']) },
  { what: 'SOCKS published on 127.0.0.1', run: (as?: string) => echoVia(as, ['--socks5-hostname', '127.0.0.1:1080']) },
  { what: 'HTTP proxy published on 127.0.0.1', run: (as?: string) => echoVia(as, ['-x', 'http://127.0.0.1:1090']) },
  { what: 'a port inside, directly', run: (as?: string) => curl(as, [`http://10.0.0.2:${INSIDE_PORT}/`]) },
  { what: 'a port published by the forwarder', run: (as?: string) => curl(as, [`http://127.0.0.1:${FORWARDED}/`]) },
  { what: 'a port published by the kernel', run: (as?: string) => curl(as, [`http://127.0.0.1:${KERNEL}/`]) },
];

test('root and the invoking user reach the proxies, the ports inside and the published ports', async () => {
  for (const as of [undefined, uid]) {
    for (const t of targets()) {
      const r = await t.run(as);
      assert.equal(r.code, 0, `${t.what} as ${as ?? 'root'}: ${r.stderr}`);
      assert.match(r.stdout.trim(), /^(inside|\d+\.\d+\.\d+\.\d+)$/, t.what);
    }
  }
});

test('another local user (uid 65534) is refused all of them', async () => {
  for (const t of targets()) {
    const r = await t.run('65534');
    assert.notEqual(r.code, 0, `${t.what} as uid 65534 answered: ${r.stdout}`);
  }
});

test("through the proxies, the namespace's own loopback and address and the host end of the link are unreachable", async () => {
  for (const proxy of [['--socks5-hostname', '10.0.0.2:1080'], ['-x', 'http://10.0.0.2:1090']]) {
    for (const url of [`http://127.0.0.1:${INSIDE_PORT}/`, `http://10.0.0.2:${INSIDE_PORT}/`, `http://10.0.0.1:${HOST_PORT}/`]) {
      const r = await curl(undefined, [...proxy, url]);
      assert.notEqual(r.code, 0, `${proxy.join(' ')} ${url} answered: ${r.stdout}`);
      assert.doesNotMatch(r.stdout, /inside|host/);
    }
  }
  // The proxies still work for the internet after those refusals.
  const ok = await echoVia(undefined, ['--socks5-hostname', '10.0.0.2:1080']);
  assert.equal(ok.stdout.trim(), h.world.addr.vpnPublic);
});
