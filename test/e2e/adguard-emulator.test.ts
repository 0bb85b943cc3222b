// Self-test of the AdGuard VPN CLI EMULATOR (test/adguard-emulator/), not of the real closed-source
// client and not of vpnns: it proves the emulator speaks the CLI's texts and drives a real tunnel, so
// vpnns's adguard provider can be tested against it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { addScratchNamespace } from '../../src/world/clients.js';
import { isAlive, run, type RunResult } from '../../src/world/run.js';
import { createWorld, sweepStaleWorlds, type World } from '../../src/world/world.js';

if (process.getuid?.() !== 0) throw new Error('the AdGuard emulator test needs root (network namespaces)');

// dist/test/e2e/ -> test/adguard-emulator/ (plain JavaScript, not compiled).
const EMULATOR = fileURLToPath(new URL('../../../test/adguard-emulator/adguardvpn-cli', import.meta.url));
/** A detached service is reparented to whatever reaps (or not) orphans here: a zombie counts as gone. */
function goneOrZombie(pid: number): boolean {
  if (!isAlive(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

describe('AdGuard VPN CLI EMULATOR (not the real closed-source client)', () => {
  let w: World;
  let ns: string;
  let wgConf: string;
  const homes: string[] = [];
  const started: ChildProcess[] = [];

  const newHome = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'agemu-home-'));
    homes.push(h);
    return h;
  };
  const dataDir = (home: string): string => join(home, '.local/share/adguardvpn-cli');
  const env = (home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ ...process.env, HOME: home, ADGUARD_EMULATOR_WG: wgConf, ...extra });
  const cli = (home: string, args: string[], extra: Record<string, string> = {}): Promise<RunResult> =>
    w.inNs(ns, [EMULATOR, ...args], { env: env(home, extra), timeoutMs: 40_000 });
  const cliOk = async (home: string, args: string[]): Promise<string> => {
    const r = await cli(home, args);
    assert.equal(r.code, 0, `adguardvpn-cli ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const loggedInHome = async (): Promise<string> => {
    const home = newHome();
    await cliOk(home, ['login']);
    await cliOk(home, ['config', 'set-mode', 'TUN']);
    await cliOk(home, ['config', 'set-change-system-dns', 'off']);
    return home;
  };
  const tunExists = async (): Promise<boolean> => (await run(['ip', '-n', ns, 'link', 'show', 'dev', 'tun0'])).code === 0;
  const waitFor = async (what: string, cond: () => Promise<boolean>, ms = 20_000): Promise<void> => {
    const until = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** `connect --no-fork` in the background, as vpnns runs it. */
  const startForeground = (home: string, args: string[]) => {
    const child = spawn('ip', ['netns', 'exec', ns, EMULATOR, 'connect', '--no-fork', ...args], { env: env(home), stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let output = '';
    child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, output: () => output };
  };

  before(async () => {
    await sweepStaleWorlds();
    w = await createWorld();
    ns = (await addScratchNamespace(w, { name: 'agc', parent: 'host', index: 41 })).ns;
    wgConf = await w.wireguard!.writeClientConfig(join(w.dir, 'adguard-emulator-wg.conf'));
  });

  after(async () => {
    for (const c of started) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const h of homes) {
      const pid = Number.parseInt(existsSync(join(dataDir(h), 'vpn.pid')) ? readFileSync(join(dataDir(h), 'vpn.pid'), 'utf8') : '', 10);
      if (pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(h, { recursive: true, force: true });
    }
    await w?.destroy();
  });

  it('prints its version and help', async () => {
    const home = newHome();
    assert.match(await cliOk(home, ['--version']), /^AdGuard VPN CLI v\d+\.\d+\.\d+/);
    assert.match(await cliOk(home, ['--help']), /connect/);
  });

  it('refuses to connect without login', async () => {
    const home = newHome();
    const r = await cli(home, ['connect', '--no-fork', '-y', '-l', 'Frankfurt']);
    assert.notEqual(r.code, 0);
    assert.match(strip(r.stderr), /You are not logged in\. Please run `adguardvpn-cli login`/);
    assert.equal(await tunExists(), false);
  });

  it('reports an auth failure when ADGUARD_EMULATOR_FAIL=auth', async () => {
    const home = await loggedInHome();
    const r = await cli(home, ['connect', '--no-fork', '-y'], { ADGUARD_EMULATOR_FAIL: 'auth' });
    assert.equal(r.code, 1);
    assert.match(strip(r.stderr), /authentication error/);
  });

  it('fails to connect, leaving nothing behind, when ADGUARD_EMULATOR_FAIL=handshake', async () => {
    const home = await loggedInHome();
    const r = await cli(home, ['connect', '--no-fork', '-y'], { ADGUARD_EMULATOR_FAIL: 'handshake', ADGUARD_EMULATOR_HANDSHAKE_TIMEOUT_MS: '1500' });
    assert.equal(r.code, 1);
    assert.match(strip(r.stderr), /Failed to connect to FRANKFURT: connection timed out/);
    assert.equal(await tunExists(), false);
    assert.equal((await run(['ip', '-n', ns, 'route', 'show', '10.0.0.0/8'])).stdout.trim(), '');
    assert.equal(strip(await cliOk(home, ['status'])).trim(), 'VPN is disconnected');
  });

  it('lists locations sorted by ping', async () => {
    const home = newHome();
    const lines = strip(await cliOk(home, ['list-locations'])).split('\n');
    assert.match(lines[0]!, /^ISO\s+COUNTRY\s+CITY\s+PING ESTIMATE$/);
    assert.match(lines[1]!, /^DE\s+Germany\s+Frankfurt\s+\d+$/);
    const rows = lines.slice(1).filter((l) => /^[A-Z]{2}\s/.test(l));
    const pings = rows.map((l) => Number(l.trim().split(/\s+/).at(-1)));
    assert.deepEqual(pings, [...pings].sort((a, b) => a - b));
    assert.ok(rows.some((l) => /^NL\s+Netherlands\s+Amsterdam/.test(l)));
    assert.equal(strip(await cliOk(home, ['list-locations', '2'])).split('\n').filter((l) => /^[A-Z]{2}\s/.test(l)).length, 2);
  });

  it('stores settings and rejects bad values', async () => {
    const home = newHome();
    for (const args of [
      ['set-mode', 'SOCKS'],
      ['set-dns', '9.9.9.9'],
      ['set-change-system-dns', 'off'],
      ['set-tun-routing-mode', 'NONE'],
      ['set-bound-if-override', 'eth0'],
    ]) {
      assert.match(await cliOk(home, ['config', ...args]), /Config has been updated/);
    }
    const show = await cliOk(home, ['config', 'show']);
    for (const re of [/\tMode: socks/, /\tDNS upstream: 9\.9\.9\.9/, /\tTunnel routing mode: none/, /\tChange system DNS: off/, /\tOutbound interface override: eth0/]) {
      assert.match(show, re);
    }
    for (const args of [
      ['set-mode', 'TAP'],
      ['set-change-system-dns', 'maybe'],
      ['set-tun-routing-mode', 'SOMETIMES'],
    ]) {
      const r = await cli(home, ['config', ...args]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, /not in \{/);
    }
    const r = await cli(home, ['connect', '-y']);
    assert.notEqual(r.code, 0, 'connect in SOCKS mode must be refused (not logged in either)');
  });

  it('connects with --no-fork through a real tunnel, keeps RFC 1918 outside it, and disconnects', async () => {
    const home = await loggedInHome();
    const fg = startForeground(home, ['-y', '-l', 'Frankfurt']);
    await waitFor('Connected status', async () => /Connected to FRANKFURT in TUN mode, running on tun0/.test(strip((await cli(home, ['status'])).stdout)));
    const status = await cliOk(home, ['status']);
    assert.match(status, /\x1b\[/, 'status is coloured like the real CLI');
    assert.doesNotMatch(strip(status), /Warning:/);
    await waitFor('connect output', async () => /Successfully Connected to FRANKFURT/.test(strip(fg.output())), 5000);
    assert.ok(isAlive(Number(readFileSync(join(dataDir(home), 'vpn.pid'), 'utf8'))));

    const echo = await w.inNs(ns, ['curl', '-sS', '-m', '5', `http://${w.addr.echo}/`]);
    assert.equal(echo.code, 0, echo.stderr);
    assert.equal(echo.stdout.trim(), w.addr.vpnPublic);
    // Plain DNS to any server is captured into the tunnel's resolver, as TUN mode does.
    const whoami = await w.resolveVia(ns, '1.1.1.1', w.names.whoami, 'TXT');
    assert.match(JSON.stringify(whoami), /vpn/);
    // AUTO routing: the LAN ranges go via the uplink (a leak without a kill switch).
    const lan = await run(['ip', '-n', ns, 'route', 'get', '192.168.77.2']);
    assert.doesNotMatch(lan.stdout, /dev tun0/);
    assert.match((await run(['ip', '-n', ns, 'route', 'get', '8.8.8.8'])).stdout, /dev tun0/);

    assert.match(await cliOk(home, ['disconnect']), /^Disconnected$/m);
    assert.equal(await fg.exited, 0);
    assert.equal(strip(await cliOk(home, ['status'])).trim(), 'VPN is disconnected');
    assert.equal(await tunExists(), false);
    assert.equal((await run(['ip', '-n', ns, 'route', 'show', '10.0.0.0/8'])).stdout.trim(), '');
    assert.equal((await run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'])).stdout.trim(), '');
    assert.equal(existsSync(join(dataDir(home), 'vpn.pid')), false);
  });

  it('forks into the background without --no-fork and warns about system DNS when it is on', async () => {
    const home = await loggedInHome();
    await cliOk(home, ['config', 'set-change-system-dns', 'on']);
    const r = await cli(home, ['connect', '-f', '-y']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(strip(r.stdout), /Successfully Connected to FRANKFURT/);
    const pid = Number(readFileSync(join(dataDir(home), 'vpn.pid'), 'utf8'));
    assert.ok(isAlive(pid));
    const st = strip(await cliOk(home, ['status']));
    assert.match(st, /Connected to FRANKFURT in TUN mode, running on tun0/);
    assert.match(st, /Warning: System DNS could not be configured/);
    assert.match(strip((await cli(home, ['connect', '-y'])).stderr), /already connected/);
    assert.match(await cliOk(home, ['disconnect']), /Disconnected/);
    assert.ok(goneOrZombie(pid), 'the background service is gone');
    assert.equal(await tunExists(), false);
  });

  it('binds the session to the MAC address and hostname: a new MAC is "not logged in", exit 11', async () => {
    const home = await loggedInHome();
    assert.match(await cliOk(home, ['license']), /Logged in as/);
    const link = JSON.parse((await run(['ip', '-n', ns, '-j', 'link', 'show'])).stdout) as { ifname: string; address?: string; link_type: string }[];
    const eth = link.find((l) => l.link_type === 'ether' && l.ifname !== 'lo')!;
    await run(['ip', '-n', ns, 'link', 'set', 'dev', eth.ifname, 'address', '02:00:5e:00:53:01']);
    try {
      const r = await cli(home, ['license']);
      assert.equal(r.code, 11, r.stderr);
      assert.match(strip(r.stderr), /You are not logged in/);
      assert.equal((await cli(home, ['connect', '-y', '--no-fork'])).code, 11);
      assert.equal((await cli(home, ['license'], { ADGUARD_EMULATOR_SESSION: 'none' })).code, 0, 'SESSION=none ignores the binding');
    } finally {
      await run(['ip', '-n', ns, 'link', 'set', 'dev', eth.ifname, 'address', eth.address!]);
    }
    assert.equal((await cli(home, ['license'])).code, 0, 'the old MAC is the old machine again');
  });

  it('AUTO routing uses table 880 and an ip rule; the DNS proxy listens on a random loopback port, UDP and TCP', async () => {
    const home = await loggedInHome();
    const fg = startForeground(home, ['-y']);
    await waitFor('Connected status', async () => /Connected to FRANKFURT/.test(strip((await cli(home, ['status'])).stdout)));
    assert.match((await run(['ip', '-n', ns, 'rule', 'show'])).stdout, /880:\s+not from all fwmark 0x370 lookup 880/);
    assert.match((await run(['ip', '-n', ns, 'route', 'show', 'table', '880'])).stdout, /default dev tun0/);
    const conn = JSON.parse(readFileSync(join(dataDir(home), 'connection.json'), 'utf8')) as { dnsProxy: string };
    const [host, port] = conn.dnsProxy.split(':');
    assert.equal(host, '127.0.0.1');
    const listening = (await run(['ip', 'netns', 'exec', ns, 'ss', '-Hlnu', 'sport', '=', `:${port}`])).stdout;
    assert.match(listening, /127\.0\.0\.1/);
    assert.match((await run(['ip', 'netns', 'exec', ns, 'ss', '-Hlnt', 'sport', '=', `:${port}`])).stdout, /127\.0\.0\.1/, 'TCP too');
    assert.match(await cliOk(home, ['disconnect']), /Disconnected/);
    assert.equal(await fg.exited, 0);
    assert.doesNotMatch((await run(['ip', '-n', ns, 'rule', 'show'])).stdout, /lookup 880/, 'the rule is gone');
  });

  it('exits non-zero when its tunnel process dies', async () => {
    const home = await loggedInHome();
    const fg = startForeground(home, ['-y', '-l', 'NL']);
    await waitFor('Connected status', async () => /Connected to AMSTERDAM/.test(strip((await cli(home, ['status'])).stdout)));
    const conn = JSON.parse(readFileSync(join(dataDir(home), 'connection.json'), 'utf8')) as { wgPid: number };
    process.kill(conn.wgPid, 'SIGKILL');
    assert.notEqual(await fg.exited, 0);
    assert.match(strip(fg.output()), /Disconnected: the tunnel process exited/);
    assert.equal(strip(await cliOk(home, ['status'])).trim(), 'VPN is disconnected');
    await waitFor('tun0 to go', async () => !(await tunExists()), 5000);
    assert.equal((await run(['ip', '-n', ns, 'route', 'show', '10.0.0.0/8'])).stdout.trim(), '');
  });
});
