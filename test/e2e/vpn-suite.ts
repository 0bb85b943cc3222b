// One end-to-end suite run against each VPN provider: traffic and DNS leave only through the
// tunnel, nothing leaks over IPv6, and the kill switch holds while the client is dead or restarting
// (a capture on the world's side of the host's uplink is the judge).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, rmSync, readFileSync } from 'node:fs';
import { startHarness, leftovers, unprivilegedBin, type Harness } from './harness.js';
import type { World, WorldOptions } from '../../src/world/world.js';
import type { Capture } from '../../src/world/capture.js';
import { startUplinkCapture, unexpected, endpointProbeFilter, ENDPOINT_PROBE_PY } from './leak.js';
import { CLIENT_GID, CLIENT_MARK } from '../../src/vpn/provider.js';

export interface VpnCase {
  /** Shown in test names. */
  label: string;
  worldOptions?: WorldOptions;
  /** The `vpn:` section (and anything else) for the config. */
  config(world: World): Promise<Record<string, unknown>>;
  /** Address the echo service must see. */
  egress(world: World): string;
  /** The VPN resolver the namespace must use. */
  resolver(world: World): string;
  /** A tcpdump line of the client's own encrypted flow (allowed on the uplink). */
  isClientFlow(line: string, world: World): boolean;
  /** Environment for every vpnns command (the supervisor and the client inherit it). */
  env?(world: World): NodeJS.ProcessEnv;
  /** Run before `up` (e.g. log in). */
  beforeUp?(h: Harness, cfg: string): Promise<void>;
  /** Kill the client the way a crash would. */
  clientPid(status: StatusJson): number | undefined;
  /** Extra checks on the running client process (e.g. its privileges), given its pid. */
  checkClient?(pid: number): Promise<void>;
  /** The VPN server's endpoint as the client reaches it. */
  endpoint(world: World): { ip: string; port: number; proto: 'udp' | 'tcp' };
  /** What only the client's sockets have, for the control that shows the capture would see a leak. */
  clientIdentity: 'mark' | 'group';
}

interface StatusJson {
  vpn?: { connected?: boolean; tunnel?: string; implementation?: string };
  components: Record<string, { state: string; pid?: number; restarts: number }>;
  supervisor?: { pid: number };
  firewall: { killSwitch: boolean; killSwitchBlocked?: number };
  dns: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Packets from the host's public addresses that are not the VPN client's own flow. */
export function leaks(lines: string[], c: VpnCase, w: World): string[] {
  return unexpected(lines, (l) => c.isClientFlow(l, w));
}

export function vpnSuite(c: VpnCase): void {
  let h: Harness;
  let cfg: string;
  let capture: Capture | undefined;

  const status = async (): Promise<StatusJson> => JSON.parse((await h.vpnns(['status', '--config', cfg, '--json'])).stdout) as StatusJson;
  const waitConnected = async (ms = 15_000): Promise<StatusJson> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await status();
      if (s.components.vpn?.state === 'running' && s.vpn?.connected) return s;
      if (Date.now() > deadline) throw new Error(`VPN did not reconnect: ${JSON.stringify(s.components)}`);
      await sleep(200);
    }
  };
  const curlEcho = (extra: string[] = [], url = `http://${h.world.names.echo}/`) =>
    h.inVpn(['curl', '-sS', '--max-time', '3', ...extra, url], { timeoutMs: 10_000 });
  const startCapture = async () => {
    // IP packets from the host's public addresses, minus the host kernel's own neighbour discovery.
    capture = await startUplinkCapture(h.world);
  };
  const stopCapture = async () => {
    const lines = (await capture?.stop()) ?? [];
    capture = undefined;
    return lines;
  };

  before(async () => {
    h = await startHarness(c.worldOptions ?? {});
    // No probes from the supervisor here: its host-side measurement is the host's own traffic and
    // would blur the capture, which must show nothing but the client's flow. (supervision.test.ts covers probes.)
    cfg = h.config({ supervisor: { probeInterval: 0 }, ...(await c.config(h.world)) });
    if (c.env) {
      const env = { ...process.env, ...c.env(h.world) };
      const plain = h.vpnns;
      h.vpnns = (args, o = {}) => plain(args, { env, ...o });
    }
    await c.beforeUp?.(h, cfg);
    const r = await h.vpnns(['up', '--config', cfg]);
    assert.equal(r.code, 0, `up failed: ${r.stderr}`);
  });

  after(async () => {
    await capture?.stop().catch(() => {});
    await h?.cleanup();
  });

  test(`${c.label}: status shows the provider connected and the kill switch loaded`, async () => {
    const s = await status();
    assert.equal(s.vpn?.connected, true);
    assert.equal(s.firewall.killSwitch, true);
    assert.deepEqual(s.dns, [c.resolver(h.world)]);
  });

  if (c.checkClient) {
    test(`${c.label}: the running client has only the privileges it needs`, async () => {
      const pid = c.clientPid(await status());
      assert.ok(pid, 'client pid in status');
      await c.checkClient!(pid!);
    });
  }

  test(`${c.label}: status without root shows the supervisor's view and says what it cannot show`, async () => {
    // A readable copy of the config for an unprivileged reader (the harness keeps its own 0600).
    const copy = `/tmp/vpnns-status-${h.world.prefix}.yaml`;
    copyFileSync(cfg, copy);
    chmodSync(copy, 0o644);
    try {
      const r = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, unprivilegedBin(), 'status', '--config', copy]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /CONNECTED/);
      assert.doesNotMatch(r.stdout, /MISSING|NOT CONNECTED/);
      assert.match(r.stdout, /not run as root: .*sudo vpnns status/);
    } finally {
      rmSync(copy, { force: true });
    }
  });

  test(`${c.label}: the echo service sees the VPN's address over HTTP and HTTPS, by name`, async () => {
    await startCapture();
    const http = await curlEcho();
    assert.equal(http.code, 0, http.stderr);
    assert.equal(http.stdout.trim(), c.egress(h.world));
    const https = await curlEcho(['--cacert', h.world.caCert], `https://${h.world.names.echo}/`);
    assert.equal(https.code, 0, https.stderr);
    assert.equal(https.stdout.trim(), c.egress(h.world));
    const lines = await stopCapture();
    assert.ok(lines.length > 0, 'the capture saw the encrypted flow');
    assert.deepEqual(leaks(lines, c, h.world), [], 'steady state: only the client flow on the uplink');
  });

  test(`${c.label}: only the VPN's resolver gets queries; the ISP resolver sees none from the namespace`, async () => {
    const name = `leakcheck-${Date.now()}.${h.world.names.zone}`;
    await h.inVpn(['getent', 'hosts', name]);
    const ok = await h.inVpn(['getent', 'hosts', h.world.names.echo]);
    assert.equal(ok.code, 0);
    const isp = await h.world.dnsQueries('isp');
    const vpn = await h.world.dnsQueries('vpn');
    assert.ok(vpn.some((q) => q.name === name), 'the VPN resolver got the query');
    assert.deepEqual(isp.filter((q) => q.name === name), [], 'ISP resolver saw nothing');
  });

  test(`${c.label}: with global IPv6 on the host, nothing leaves over IPv6`, async () => {
    const v6host = await h.world.inHost(['curl', '-sS', '--max-time', '3', `http://[${h.world.addr.echo6}]/`]);
    assert.equal(v6host.stdout.trim(), h.world.addr.hostPublic6, 'the host itself has working IPv6');
    await startCapture();
    const r = await curlEcho(['-6'], `http://[${h.world.addr.echo6}]/`);
    assert.notEqual(r.code, 0, 'IPv6 from inside must fail');
    const byName = await curlEcho(['-6']);
    assert.notEqual(byName.code, 0);
    const lines = await stopCapture();
    assert.deepEqual(lines.filter((l) => l.includes('IP6')), []);
  });

  test(`${c.label}: the host's LAN and the host itself are not reachable from inside`, async () => {
    // Private ranges are what a client's "keep LAN off the tunnel" routing would send out the veth.
    for (const [host, port] of [[h.world.addr.lanNeighbour, 22], [h.world.addr.hostLan, 22], ['10.0.0.1', 22]] as const) {
      const p = await h.world.probeTcp(h.ns, host, port, 1500);
      assert.ok(p === 'unreachable' || p === 'timeout', `${host}:${port} from inside: ${p}`);
    }
  });

  test(`${c.label}: to the VPN server's endpoint, only the client gets out: not a user, not user-namespace root trying SO_MARK, not root without the client's mark`, async () => {
    const ep = c.endpoint(h.world);
    const py = (sport: number, mark: number) => ['/usr/bin/python3', '-c', ENDPOINT_PROBE_PY, ep.ip, String(ep.port), ep.proto, String(sport), String(mark)];
    const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const probe = async (argv: string[], sport: number) => {
      const cap = await h.world.capture(h.world.ns.wan, h.world.wanIface, endpointProbeFilter(h.world, ep.ip, ep.port, sport));
      let lines: string[] = [];
      let r: Awaited<ReturnType<Harness['inVpn']>>;
      try {
        r = await h.inVpn(argv, { timeoutMs: 15_000 });
      } finally {
        lines = await cap.stop();
      }
      assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
      return { out: JSON.parse(r.stdout) as { mark?: string; udpSent?: number; tcp?: string }, lines };
    };
    const user = await probe([...asNobody, ...py(47101, 0)], 47101);
    assert.deepEqual(user.lines, [], 'a user process reached the endpoint from the host\'s address');
    if (ep.proto === 'tcp') assert.notEqual(user.out.tcp, 'connected');
    // Root of a user namespace has CAP_NET_ADMIN only over namespaces that user namespace owns.
    const userns = await probe([...asNobody, 'unshare', '-Ur', ...py(47102, CLIENT_MARK)], 47102);
    assert.equal(userns.out.mark, 'EPERM', 'SO_MARK from a user namespace must be refused');
    assert.deepEqual(userns.lines, [], 'user-namespace root reached the endpoint');
    const root = await probe(py(47103, 0), 47103);
    assert.deepEqual(root.lines, [], 'a root process that is not the client reached the endpoint');
    // The control: what the client has gets out, so the capture above would have seen a leak.
    const control =
      c.clientIdentity === 'mark'
        ? await probe(py(47104, CLIENT_MARK), 47104)
        : await probe(['setpriv', `--regid=${CLIENT_GID}`, '--clear-groups', ...py(47104, 0)], 47104);
    assert.ok(control.lines.length > 0, `the control (the client's ${c.clientIdentity}) was not seen on the uplink: ${JSON.stringify(control.out)}`);
  });

  test(`${c.label}: SIGKILL of the client, deletion of the tunnel, restart: 0 leaked packets, recovery`, async () => {
    await startCapture();
    const before = await status();
    const pid = c.clientPid(before);
    assert.ok(pid, 'client pid in status');
    // Hammer from inside the whole time: any packet that escapes would show in the capture.
    let stop = false;
    const hammer = (async () => {
      let n = 0;
      while (!stop && n < 400) {
        n++;
        await Promise.all([
          h.inVpn(['curl', '-s', '--max-time', '1', `http://${h.world.addr.echo}/`], { timeoutMs: 5000 }),
          h.inVpn(['getent', 'hosts', `x${n}.${h.world.names.zone}`], { timeoutMs: 5000 }),
        ]);
      }
    })();
    process.kill(pid!, 'SIGKILL');
    const after1 = await waitConnected();
    assert.ok(after1.components.vpn!.restarts > before.components.vpn!.restarts, 'the client was restarted');
    const tunnel = after1.vpn?.tunnel;
    assert.ok(tunnel);
    await h.inVpn(['ip', 'link', 'del', tunnel!]);
    const after2 = await waitConnected();
    assert.ok(after2.components.vpn!.restarts > after1.components.vpn!.restarts, 'restarted after the tunnel was deleted');
    stop = true;
    await hammer;
    const ok = await curlEcho();
    assert.equal(ok.stdout.trim(), c.egress(h.world), 'traffic flows again through the VPN');
    const lines = await stopCapture();
    assert.deepEqual(leaks(lines, c, h.world), []);
    const s = await status();
    assert.ok((s.firewall.killSwitchBlocked ?? 0) > 0, 'the kill switch counted blocked packets');
  });

  test(`${c.label}: while the tunnel is down, programs inside fail within a second instead of hanging`, async () => {
    const s = await status();
    const sup = s.supervisor!.pid;
    await startCapture();
    // Freeze the supervisor so the tunnel stays down while we look.
    process.kill(sup, 'SIGSTOP');
    try {
      process.kill(c.clientPid(s)!, 'SIGKILL');
      await h.inVpn(['ip', 'link', 'del', s.vpn!.tunnel!]).catch(() => {});
      await sleep(300);
      for (const argv of [
        ['curl', '-sS', '--max-time', '5', `http://${h.world.addr.echo}/`],
        ['curl', '-sS', '--max-time', '5', `http://${h.world.names.echo}/`],
        ['getent', 'hosts', h.world.names.echo],
      ]) {
        const t0 = Date.now();
        const r = await h.inVpn(argv, { timeoutMs: 10_000 });
        const ms = Date.now() - t0;
        assert.notEqual(r.code, 0, `${argv.join(' ')} must fail while the tunnel is down`);
        assert.ok(ms < 1000 + 300, `${argv.join(' ')} took ${ms} ms`);
      }
      const refused = await h.vpnns(['exec', '--config', cfg, '--', 'true']);
      assert.equal(refused.code, 1, 'exec refuses while the tunnel is down');
      assert.match(refused.stderr, /not connected/);
      // The same through the state.json path (no config file read, no `ip` spawned when a process inside can tell).
      const refusedNs = await h.vpnns(['exec', '--namespace', h.ns, '--', 'true']);
      assert.equal(refusedNs.code, 1, 'exec --namespace refuses while the tunnel is down');
      assert.match(refusedNs.stderr, /not connected/);
    } finally {
      process.kill(sup, 'SIGCONT');
    }
    await waitConnected();
    const lines = await stopCapture();
    assert.deepEqual(leaks(lines, c, h.world), []);
    assert.equal((await curlEcho()).stdout.trim(), c.egress(h.world));
  });

  test(`${c.label}: a second up changes nothing; down leaves nothing`, async () => {
    const again = await h.vpnns(['up', '--config', cfg]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing changed/);
    const d = await h.vpnns(['down', '--config', cfg]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(await leftovers(h), []);
  });
}

/**
 * OpenVPN, once connected, runs as nobody/nogroup without supplementary groups, with CAP_NET_ADMIN
 * only (kept for its netlink code and restarts), and cannot regain more (no_new_privs, empty
 * inheritable and ambient sets, a bounding set of the four capabilities it started with).
 */
export function assertOpenvpnLeastPrivilege(pid: number): void {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
  assert.deepEqual(field('Uid'), ['65534', '65534', '65534', '65534'], status);
  assert.deepEqual(field('Gid'), ['65534', '65534', '65534', '65534'], status);
  assert.deepEqual(field('Groups'), [''], status); // supplementary groups dropped
  const CAP_NET_ADMIN = 1n << 12n;
  for (const set of ['CapEff', 'CapPrm']) assert.equal(BigInt(`0x${field(set)![0]}`), CAP_NET_ADMIN, `${set}: ${status}`);
  for (const set of ['CapInh', 'CapAmb']) assert.equal(BigInt(`0x${field(set)![0]}`), 0n, `${set}: ${status}`);
  // The bounding set vpnns started it with (NET_ADMIN, SETUID, SETGID, SETPCAP) and nothing more.
  assert.equal(BigInt(`0x${field('CapBnd')![0]}`) & ~(CAP_NET_ADMIN | (1n << 6n) | (1n << 7n) | (1n << 8n)), 0n, `CapBnd: ${status}`);
  assert.deepEqual(field('NoNewPrivs'), ['1'], status);
}
