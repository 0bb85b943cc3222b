// vpnns's adguard provider against the AdGuard VPN CLI EMULATOR in each of its modes where the real
// client's behaviour is not certain (test/adguard-emulator/README.md, "Modes"): a `connect` that
// forks its service through sudo although asked not to, one that re-executes itself with another
// group, DNS only through its loopback proxy. One world, one login for the whole file (the session
// is bound to the namespace's stable MAC: every down/up finds it again), then per mode the key
// checks of the VPN suite: connected, traffic and DNS only through the tunnel (a capture on the
// uplink and the world's resolver logs are the judges), nothing inside but the client passes the
// kill switch, a killed service is replaced, and `down` leaves nothing of the fork.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, REPO, leftovers, startHarness, type Harness } from './harness.js';
import { ENDPOINT_PROBE_PY, endpointProbeFilter, isWireguardFlow, startUplinkCapture, unexpected } from './leak.js';
import { clientCgroup } from '../../src/sys/client-cgroup.js';
import { CLIENT_GID } from '../../src/vpn/provider.js';
import { isAlive } from '../../src/sys/process.js';

const EMULATOR = join(REPO, 'test', 'adguard-emulator', 'adguardvpn-cli');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const strip = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

interface Mode {
  name: string;
  env: Record<string, string>;
  /** The group the emulator's service ends up with (not vpnns's client group). */
  serviceGid: number;
  /** DNS goes straight to AdGuard's resolver (no capture of plain DNS by the client). */
  dnsDirect?: boolean;
}

const MODES: Mode[] = [
  {
    name: 'connect forks its service through sudo even with --no-fork',
    env: { ADGUARD_EMULATOR_NO_FORK: 'ignored', ADGUARD_EMULATOR_SERVICE_VIA: 'sudo' },
    serviceGid: 0,
  },
  {
    name: '--no-fork re-executes itself with another group',
    env: { ADGUARD_EMULATOR_NO_FORK: 'reexec', ADGUARD_EMULATOR_SERVICE_VIA: 'regid', ADGUARD_EMULATOR_SERVICE_GID: '100' },
    serviceGid: 100,
  },
  {
    name: 'DNS only through its loopback proxy, plain routes, logged-out exit 1',
    env: { ADGUARD_EMULATOR_DNS: 'proxy', ADGUARD_EMULATOR_ROUTING: 'routes', ADGUARD_EMULATOR_LOGGED_OUT_EXIT: '1' },
    serviceGid: CLIENT_GID,
    dnsDirect: true,
  },
];

/** A DNS A query over UDP to 127.0.0.1:PORT; prints the number of answers (the proxy must forward it). */
const DNS_VIA_PORT_PY = `
import socket, struct, sys
port, name = int(sys.argv[1]), sys.argv[2]
q = struct.pack('>HHHHHH', 0x4242, 0x0100, 1, 0, 0, 0) + b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\\0' + struct.pack('>HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, ('127.0.0.1', port))
r = s.recv(4096)
print(struct.unpack('>H', r[6:8])[0])
`;

/**
 * Runs argv (after KEY) in a pseudo-terminal, answers the login menu with KEY once it is shown,
 * and prints {code, out}. The command is an argv list, never a shell string.
 */
const PTY_PY = `
import json, os, pty, select, sys, time
key, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, sent, deadline = b'', False, time.time() + 90
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    if not sent and b'x - Cancel' in out:
        time.sleep(0.3)
        os.write(fd, key.encode())
        sent = True
_, st = os.waitpid(pid, 0)
print(json.dumps({'code': os.waitstatus_to_exitcode(st), 'out': out.decode('utf8', 'replace')}))
`;

describe('AdGuard VPN CLI EMULATOR modes (not the real client)', () => {
  let h: Harness;
  let wgConf: string;
  let home: string;
  const dataDir = () => join(home, '.local/share/adguardvpn-cli');
  const cg = () => clientCgroup(h.ns)!;

  before(async () => {
    h = await startHarness({ openvpn: false }, 'm');
    wgConf = await h.world.wireguard!.writeClientConfig(join(h.world.dir, 'adguard-modes-wg.conf'));
    home = join(h.world.dir, 'adguard-home');
  });
  after(async () => {
    await h?.cleanup();
  });

  const cfgFor = (mode: Mode | undefined, file: string) =>
    h.config(
      {
        supervisor: { probeInterval: 0 },
        vpn: { type: 'adguard', binary: EMULATOR, location: 'Frankfurt', home, connectTimeout: 20 },
        // Without the client's capture, the namespace asks AdGuard's resolver itself (here the world's VPN resolver).
        ...(mode?.dnsDirect ? { dns: [h.world.addr.vpnResolver] } : {}),
      },
      join(h.world.dir, file),
    );
  const vpnns = (mode: Mode | undefined, args: string[], extra: Record<string, string> = {}) =>
    h.vpnns(args, { env: { ...process.env, ADGUARD_EMULATOR_WG: wgConf, ...(mode?.env ?? {}), ...extra }, timeoutMs: 120_000 });
  const status = async (cfg: string) =>
    JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as {
      vpn?: { connected?: boolean; tunnel?: string };
      components: Record<string, { state: string; pid?: number; restarts: number }>;
    };
  const servicePid = (): number => Number.parseInt(readFileSync(join(dataDir(), 'vpn.pid'), 'utf8'), 10);
  const curlEcho = () => h.inVpn(['curl', '-sS', '--max-time', '3', `http://${h.world.names.echo}/`], { timeoutMs: 10_000 });

  /** `vpnns adguard login` in a pseudo-terminal, answering the menu with KEY. */
  const loginInPty = async (cfg: string, key: string) => {
    const env = { ...process.env, ADGUARD_EMULATOR_WG: wgConf, ADGUARD_EMULATOR_LOGIN_CONFIRM_MS: '120000', TERM: 'xterm' };
    const r = await h.world.inHost(['/usr/bin/python3', '-c', PTY_PY, key, process.execPath, BIN, 'adguard', 'login', '--config', cfg], { env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { code: number; out: string };
  };

  test('emulator: `vpnns adguard login` in a terminal shows the link and the menu; x cancels, leaving nothing', async () => {
    const cfg = h.config(
      { vpn: { type: 'adguard', binary: EMULATOR, home: join(h.world.dir, 'adguard-home-cancel') } },
      join(h.world.dir, 'cancel.yaml'),
    );
    const r = await loginInPty(cfg, 'x');
    const out = strip(r.out);
    assert.match(out, /https:\/\/auth\.adguard\.io\/\S+/, out);
    assert.match(out, /b - Open link in browser/);
    assert.match(out, /x - Cancel/);
    assert.match(out, /Login cancelled/);
    assert.notEqual(r.code, 0, out);
    assert.equal(existsSync(join(h.world.dir, 'adguard-home-cancel', '.local/share/adguardvpn-cli/credentials.json')), false, 'no session');
    assert.deepEqual(await leftovers(h), []);
    assert.equal(existsSync(cg().dir), false, 'the client cgroup is gone');
  });

  test('emulator: `vpnns adguard login` while down logs in inside the namespace (s: speed up check) and leaves nothing', async () => {
    const cfg = cfgFor(undefined, 'login.yaml');
    const r = await loginInPty(cfg, 's');
    assert.equal(r.code, 0, r.out);
    assert.match(strip(r.out), /Successfully Logged in/i);
    assert.deepEqual(await leftovers(h), []);
    assert.equal(existsSync(cg().dir), false, 'the client cgroup is gone');
    const cred = JSON.parse(readFileSync(join(dataDir(), 'credentials.json'), 'utf8')) as { mac: string };
    assert.match(cred.mac, /^02:/, "bound to the namespace veth's stable MAC, not the host's");
    const doc = await vpnns(undefined, ['doctor', '--config', cfg]);
    assert.match(doc.stdout, /AdGuard VPN CLI: version 1\.7\.12; login \(home [^)]+\): not checked while namespace \S+ is down/, doc.stdout);
  });

  for (const mode of MODES) {
    describe(`emulator mode: ${mode.name}`, () => {
      let cfg: string;
      before(() => {
        cfg = cfgFor(mode, `mode-${MODES.indexOf(mode)}.yaml`);
      });

      test(`emulator (${mode.name}): up connects without a new login; the service runs in vpnns's cgroup with its own group`, async () => {
        const r = await vpnns(mode, ['up', '--config', cfg]);
        assert.equal(r.code, 0, r.stderr);
        const s = await status(cfg);
        assert.equal(s.vpn?.connected, true);
        const pid = servicePid();
        const st = readFileSync(`/proc/${pid}/status`, 'utf8');
        assert.equal(/^Gid:\s+(\d+)/m.exec(st)?.[1], String(mode.serviceGid), st);
        assert.ok(readFileSync(`${cg().dir}/cgroup.procs`, 'utf8').split('\n').includes(String(pid)), 'the service is in the client cgroup');
        if (MODES.indexOf(mode) === 0) {
          // `vpnns doctor` asks the client inside the namespace (the MAC its session is bound to).
          const doc = await vpnns(mode, ['doctor', '--config', cfg]);
          assert.match(doc.stdout, /AdGuard VPN CLI: version 1\.7\.12; login \(home [^)]+\): logged in as emulator@example\.test/, doc.stdout);
        }
      });

      test(`emulator (${mode.name}): traffic and DNS leave only through the tunnel, to AdGuard's resolver`, async () => {
        const cap = await startUplinkCapture(h.world);
        let lines: string[] = [];
        const name = `mode${MODES.indexOf(mode)}-${Date.now()}.${h.world.names.zone}`;
        let proxied = '';
        try {
          const echo = await curlEcho();
          assert.equal(echo.code, 0, echo.stderr);
          assert.equal(echo.stdout.trim(), h.world.addr.vpnPublic);
          assert.equal((await h.inVpn(['getent', 'hosts', name])).code, 2, 'a name that does not exist');
          // The client's own DNS proxy on 127.0.0.1:<random port> forwards through the tunnel, also for a user.
          const port = (JSON.parse(readFileSync(join(dataDir(), 'connection.json'), 'utf8')) as { dnsProxy: string }).dnsProxy.split(':')[1]!;
          const viaProxy = await h.inVpn(['setpriv', '--reuid=4242', '--regid=4242', '--clear-groups', '/usr/bin/python3', '-c', DNS_VIA_PORT_PY, port, `proxy-${name}`]);
          proxied = viaProxy.stdout.trim();
          assert.equal(viaProxy.code, 0, viaProxy.stderr);
        } finally {
          lines = await cap.stop();
        }
        assert.deepEqual(unexpected(lines, (l) => isWireguardFlow(l, h.world)), [], 'only the client flow on the uplink');
        const vpn = await h.world.dnsQueries('vpn');
        const isp = await h.world.dnsQueries('isp');
        assert.ok(vpn.some((q) => q.name === name), 'the namespace\'s query reached AdGuard\'s (the VPN) resolver');
        assert.ok(vpn.some((q) => q.name === `proxy-${name}`), `the proxy forwarded to the VPN resolver (${proxied})`);
        assert.deepEqual(isp.filter((q) => q.name.endsWith(name)), [], 'the ISP resolver saw nothing');
      });

      test(`emulator (${mode.name}): only the client passes the kill switch; a user cannot join its cgroup`, async () => {
        const ep = { ip: h.world.addr.vpnPublic, port: h.world.wireguard!.port };
        const py = (sport: number) => ['/usr/bin/python3', '-c', ENDPOINT_PROBE_PY, ep.ip, String(ep.port), 'udp', String(sport), '0'];
        /** Runs argv from the host's namespace (so a cgroup can be joined first) and returns what the uplink saw of it. */
        const probe = async (argv: string[], sport: number) => {
          const cap = await h.world.capture(h.world.ns.wan, h.world.wanIface, endpointProbeFilter(h.world, ep.ip, ep.port, sport));
          let lines: string[] = [];
          try {
            const r = await h.world.inHost(argv, { timeoutMs: 15_000 });
            assert.equal(r.code, 0, r.stderr);
          } finally {
            lines = await cap.stop();
          }
          return lines;
        };
        const inNs = ['ip', 'netns', 'exec', h.ns];
        const joinCg = ['/bin/sh', '-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', `${cg().dir}/cgroup.procs`];
        const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
        const serviceGroup = ['setpriv', `--regid=${mode.serviceGid === CLIENT_GID ? 0 : mode.serviceGid}`, '--clear-groups'];
        assert.deepEqual(await probe([...inNs, ...nobody, ...py(47201)], 47201), [], 'a user reached the endpoint');
        assert.deepEqual(await probe([...inNs, ...serviceGroup, ...py(47202)], 47202), [], "root with the service's group, outside its cgroup, got out");
        // A user cannot move itself into the client's cgroup (root's cgroup.procs).
        const joined = await h.world.inHost([...nobody, ...joinCg, 'true']);
        assert.notEqual(joined.code, 0, 'a user joined the client cgroup');
        // The control: in the cgroup, where vpnns puts the client, the same packets are seen.
        const control = await probe([...joinCg, ...inNs, ...serviceGroup, ...py(47203)], 47203);
        assert.ok(control.length > 0, 'the control (the client cgroup) was not seen on the uplink');
      });

      test(`emulator (${mode.name}): a SIGKILLed service is replaced, with no leak meanwhile`, async () => {
        const before = await status(cfg);
        const cap = await startUplinkCapture(h.world);
        let lines: string[] = [];
        try {
          process.kill(servicePid(), 'SIGKILL');
          for (let t0 = Date.now(); ; ) {
            const s = await status(cfg);
            if (s.components.vpn?.state === 'running' && s.vpn?.connected && s.components.vpn.restarts > before.components.vpn!.restarts) break;
            if (Date.now() - t0 > 40_000) throw new Error(`not reconnected: ${JSON.stringify(s.components)}`);
            await h.inVpn(['curl', '-s', '--max-time', '1', `http://${h.world.addr.echo}/`], { timeoutMs: 5000 });
            await sleep(200);
          }
          assert.equal((await curlEcho()).stdout.trim(), h.world.addr.vpnPublic);
          // What the killed service left (its policy rules) was removed, not doubled by the new one.
          const rules = (await h.inVpn(['ip', 'rule', 'show'])).stdout;
          assert.ok((rules.match(/lookup 880/g) ?? []).length <= 1, rules);
        } finally {
          lines = await cap.stop();
        }
        assert.deepEqual(unexpected(lines, (l) => isWireguardFlow(l, h.world)), []);
      });

      test(`emulator (${mode.name}): down leaves nothing of the fork: no service, no cgroup, no rule, no live pid file`, async () => {
        const pid = servicePid();
        const d = await h.vpnns(['down', '--config', cfg]);
        assert.equal(d.code, 0, d.stderr);
        assert.deepEqual(await leftovers(h), []);
        assert.equal(existsSync(cg().dir), false, 'the client cgroup is gone');
        assert.equal(isAlive(pid), false, 'the service is gone');
        const pidFile = join(dataDir(), 'vpn.pid');
        if (existsSync(pidFile)) assert.equal(isAlive(Number.parseInt(readFileSync(pidFile, 'utf8'), 10)), false);
        assert.equal(existsSync(pidFile), false, 'no pid file left');
      });
    });
  }

  test('emulator: a service that runs without a pid file (`Process started but no pid file created`) is not left running when up fails', async () => {
    const cfg = cfgFor(undefined, 'nopid.yaml');
    const r = await vpnns(undefined, ['up', '--config', cfg], { ADGUARD_EMULATOR_NO_FORK: 'ignored', ADGUARD_EMULATOR_FAIL: 'service-no-pid' });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /Process started but no pid file created/);
    assert.deepEqual(await leftovers(h), []);
    assert.equal(existsSync(cg().dir), false, 'the client cgroup (and the orphaned service in it) is gone');
    const ps = (await h.world.inHost(['ps', '-eo', 'args='])).stdout.split('\n').filter((l) => l.includes(dataDir()));
    assert.deepEqual(ps, [], 'no emulator service of this home is running');
  });

  test('emulator: up while logged out says so in one sentence with the command, exits 1 and leaves nothing', async () => {
    const cfg = cfgFor(undefined, 'loggedout.yaml');
    // A new MAC (here: a session recorded for another one) is a logged-out client.
    const credPath = join(dataDir(), 'credentials.json');
    const saved = readFileSync(credPath, 'utf8');
    const cred = JSON.parse(saved) as { mac: string };
    const { writeFileSync } = await import('node:fs');
    writeFileSync(credPath, JSON.stringify({ ...cred, mac: '02:00:00:00:00:01' }), { mode: 0o600 });
    try {
      const r = await vpnns(undefined, ['up', '--config', cfg]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /AdGuard VPN is not logged in .*run `sudo vpnns adguard login --config [^`]+`/);
      assert.equal(r.stderr.trim().split('\n').filter((l) => /error|not logged in/i.test(l)).length, 1, r.stderr);
      assert.deepEqual(await leftovers(h), []);
      assert.equal(existsSync(cg().dir), false);
    } finally {
      writeFileSync(credPath, saved, { mode: 0o600 });
    }
  });
});
