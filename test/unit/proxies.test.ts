// Dante and Tinyproxy: rendered configs (golden files), the SOCKS user database, the service specs,
// and — as root — the real daemons' own checks of the rendered configs, inside a throwaway
// namespace (vpnnsprx-<rand>) that is deleted afterwards.
import { defaultConfig } from '../../src/config/load.js';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Config } from '../../src/config/types.js';
import type { Names } from '../../src/core/names.js';
import { renderDantedConf, sha512Crypt, socksUserDb, withPrivateUserDb, type DantedConfOptions } from '../../src/services/danted.js';
import { expectedTunnel, proxyPaths, proxyServices } from '../../src/services/proxies.js';
import { renderTinyproxyConf, type TinyproxyConfOptions } from '../../src/services/tinyproxy.js';
import { serviceSpecs } from '../../src/core/services.js';
import { System } from '../../src/sys/system.js';
import { assertGolden } from './golden.js';

const DANTED: DantedConfOptions = {
  listen: '10.0.0.2',
  port: 1080,
  external: 'vt-vpn-ns',
  allowFrom: ['10.0.0.1/32'],
  logFile: '/var/log/vpnns/vpn-ns/socks.log',
};
const TINY: TinyproxyConfOptions = {
  listen: '10.0.0.2',
  port: 1090,
  allowFrom: ['10.0.0.1/32'],
  logFile: '/var/log/vpnns/vpn-ns/http.log',
  user: 'nobody',
  group: 'nogroup',
};

describe('renderDantedConf', () => {
  test('golden', () => assertGolden('danted.conf', renderDantedConf(DANTED)));

  test('listens on the namespace address only and binds the tunnel', () => {
    const conf = renderDantedConf(DANTED);
    assert.match(conf, /^internal: 10\.0\.0\.2 port = 1080$/m);
    assert.match(conf, /^external: vt-vpn-ns$/m);
    assert.doesNotMatch(conf, /0\.0\.0\.0/);
    assert.match(conf, /^socksmethod: none$/m);
    assert.match(conf, /^logoutput: \/var\/log\/vpnns\/vpn-ns\/socks\.log$/m);
  });

  test('only the allowed clients pass; everyone else is blocked last', () => {
    const conf = renderDantedConf({ ...DANTED, allowFrom: ['10.0.0.1', '10.9.0.0/16', '10.0.0.1/32'] });
    const rules = [...conf.matchAll(/^(client|socks) (pass|block) \{\n  from: (\S+) to: (\S+)/gm)].map((m) => m.slice(1).join(' '));
    assert.deepEqual(rules, [
      'client pass 10.0.0.1/32 0/0',
      'client pass 10.9.0.0/16 0/0',
      'client block 0/0 0/0',
      'socks pass 10.0.0.1/32 0/0',
      'socks pass 0/0 10.0.0.1/32',
      'socks pass 10.9.0.0/16 0/0',
      'socks pass 0/0 10.9.0.0/16',
      'socks block 0/0 0/0',
    ]);
    // The only rules from anywhere are replies to allowed clients, and the blocks.
    assert.ok([...conf.matchAll(/pass \{\n  from: 0\/0 to: \S+\n  command: (.*)/g)].every((m) => m[1] === 'udpreply'));
  });

  test('auth: username method, no password in the config', () => {
    const conf = renderDantedConf({ ...DANTED, auth: { username: 'alice' } });
    assert.match(conf, /^socksmethod: username$/m);
    assert.match(conf, /^clientmethod: none$/m);
    assert.doesNotMatch(conf, /alice/);
  });

  test('rejects what would widen or break it', () => {
    assert.throws(() => renderDantedConf({ ...DANTED, listen: '0.0.0.0' }), /listen/);
    assert.throws(() => renderDantedConf({ ...DANTED, external: 'tun*' }), /external/);
    assert.throws(() => renderDantedConf({ ...DANTED, external: 'a b' }), /external/);
    assert.throws(() => renderDantedConf({ ...DANTED, allowFrom: [] }), /allowFrom/);
    assert.throws(() => renderDantedConf({ ...DANTED, allowFrom: ['0.0.0.0/0'] }), /not \/0/);
    assert.throws(() => renderDantedConf({ ...DANTED, allowFrom: ['10.0.0.1/32\nsocks pass {'] }), /allow/);
    assert.throws(() => renderDantedConf({ ...DANTED, logFile: 'relative.log' }), /log file/);
    assert.throws(() => renderDantedConf({ ...DANTED, port: 0 }), /port/);
  });
});

describe('renderTinyproxyConf', () => {
  test('golden', () => assertGolden('tinyproxy.conf', renderTinyproxyConf(TINY)));

  test('listen, allow, no Via, no upstream', () => {
    const conf = renderTinyproxyConf({ ...TINY, allowFrom: ['10.0.0.1/32', '10.9.0.0/16'], pidFile: '/run/x/tinyproxy.pid' });
    assert.match(conf, /^Listen 10\.0\.0\.2$/m);
    assert.match(conf, /^Port 1090$/m);
    assert.deepEqual(conf.match(/^Allow .*$/gm), ['Allow 10.0.0.1', 'Allow 10.9.0.0/16']);
    assert.match(conf, /^DisableViaHeader Yes$/m);
    assert.match(conf, /^XTinyproxy No$/m);
    assert.doesNotMatch(conf, /^(Upstream|ViaProxyName|Bind |ConnectPort)/m);
    assert.doesNotMatch(conf, /0\.0\.0\.0/);
    assert.match(conf, /^PidFile "\/run\/x\/tinyproxy\.pid"$/m);
    assert.match(conf, /^User nobody$/m);
    assert.match(conf, /^Group nogroup$/m);
  });

  test('rejects what would widen or break it', () => {
    assert.throws(() => renderTinyproxyConf({ ...TINY, listen: '0.0.0.0' }), /listen/);
    assert.throws(() => renderTinyproxyConf({ ...TINY, allowFrom: [] }), /allowFrom/);
    assert.throws(() => renderTinyproxyConf({ ...TINY, allowFrom: ['0.0.0.0/0'] }), /not \/0/);
    assert.throws(() => renderTinyproxyConf({ ...TINY, logFile: '/var/log/a"\nUpstream x' }), /log file/);
  });
});

describe('SOCKS user database', () => {
  test('sha512Crypt matches the reference vectors of the SHA-crypt spec', () => {
    assert.equal(sha512Crypt('Hello world!', 'saltstring'),
      '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1');
    assert.equal(sha512Crypt('Hello world!', 'saltstringsaltstring', 10000),
      '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.');
    assert.equal(sha512Crypt('we have a short salt string but not a short password', 'short', 77777),
      '$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0');
  });

  test('sha512Crypt agrees with openssl for long and non-ASCII passwords', { skip: !existsSync('/usr/bin/openssl') }, () => {
    for (const pw of ['s3cr#t', 'x'.repeat(200), 'pässwörd€', '$6$abc']) {
      const ref = execFileSync('/usr/bin/openssl', ['passwd', '-6', '-salt', 'AbCdEfGh12345678', '-stdin'], { input: pw }).toString().trim();
      assert.equal(sha512Crypt(pw, 'AbCdEfGh12345678'), ref, pw);
    }
  });

  test('keeps root and nobody from the host, adds a locked-down SOCKS user', () => {
    const host = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbob:x:1000:1000::/home/bob:/bin/bash\n';
    const db = socksUserDb(host, 'alice', 'pw', 'saltsalt');
    assert.equal(db.passwd, 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nalice:x:65534:65534:vpnns SOCKS user:/nonexistent:/usr/sbin/nologin\n');
    const lines = db.shadow.trim().split('\n');
    assert.deepEqual(lines.slice(0, 2), ['root:*:0:0:99999:7:::', 'nobody:*:0:0:99999:7:::']);
    assert.equal(lines[2], `alice:${sha512Crypt('pw', 'saltsalt')}:0:0:99999:7:::`);
    assert.doesNotMatch(db.passwd + db.shadow, /\bpw\b|bob|daemon/);
  });

  test('refuses names Dante needs and malformed input', () => {
    const host = 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n';
    assert.throws(() => socksUserDb(host, 'root', 'pw'), /username/);
    assert.throws(() => socksUserDb(host, 'nobody', 'pw'), /username/);
    assert.throws(() => socksUserDb(host, 'a:b', 'pw'), /username/);
    assert.throws(() => socksUserDb(host, 'alice', ''), /password/);
    assert.throws(() => socksUserDb('root:x:0:0::/root:/bin/sh\n', 'alice', 'pw'), /nobody is missing/);
  });

  test('the wrapper passes paths as arguments, never inside the script', () => {
    const argv = withPrivateUserDb('/run/a b/passwd', '/run/a b/shadow', ['/usr/sbin/danted', '-f', 'c']);
    assert.deepEqual(argv.slice(0, 4), ['/usr/bin/unshare', '--mount', '--', '/bin/sh']);
    assert.doesNotMatch(argv[5]!, /run|danted/);
    assert.deepEqual(argv.slice(7), ['/run/a b/passwd', '/run/a b/shadow', '/usr/sbin/danted', '-f', 'c']);
  });
});

function config(over: Partial<Config> = {}, proxies?: Partial<Config['proxies']>): Config {
  return {
    namespace: 'vpn-ns',
    network: { subnet: '10.0.0.0/30', ipv6: false },
    vpn: { type: 'wireguard', config: '/etc/vpnns/wg.conf', implementation: 'auto', connectTimeout: 20 },
    killSwitch: true,
    proxies: {
      socks: { enabled: true, port: 1080, publish: false },
      http: { enabled: true, port: 1090, publish: false },
      ...proxies,
    },
    publish: [],
    apps: {},
    check: { ...defaultConfig().check, echoUrl: [] },
    supervisor: defaultConfig().supervisor,
    metrics: { enabled: false, listen: '127.0.0.1:9150' },
    logDir: '/var/log/vpnns',
    ...over,
  };
}

const NAMES: Names = {
  ns: 'vpn-ns', vethHost: 'vh-vpn-ns', vethNs: 'vn-vpn-ns', tunnel: 'vt-vpn-ns', hostAddr: '10.0.0.1', nsAddr: '10.0.0.2',
  prefix: 30, subnet: '10.0.0.0/30', hostTable: 'vpnns-vpn-ns', nsTable: 'vpnns', stateDir: '/run/vpnns/vpn-ns',
  lockFile: '/run/vpnns/vpn-ns.lock', etcDir: '/etc/netns/vpn-ns',
};

describe('proxyServices', () => {
  test('no VPN, no proxies', () => {
    assert.deepEqual(proxyServices(config({ vpn: { type: 'none' } }), NAMES), []);
  });

  test('one service per enabled proxy, in the namespace, after the tunnel', () => {
    const specs = proxyServices(config(), NAMES);
    assert.deepEqual(specs.map((s) => s.name), ['socks', 'http']);
    const [socks, http] = specs;
    assert.deepEqual(socks!.process, {
      name: 'socks', netns: 'vpn-ns',
      argv: ['/usr/sbin/danted', '-f', '/run/vpnns/vpn-ns/proxies/danted.conf', '-p', '/run/vpnns/vpn-ns/proxies/danted.pid', '-N', '1'],
    });
    assert.deepEqual(http!.process, { name: 'http', netns: 'vpn-ns', argv: ['/usr/bin/tinyproxy', '-d', '-c', '/run/vpnns/vpn-ns/proxies/tinyproxy.conf'] });
    assert.ok(specs.every((s) => s.needsTunnel));
    assert.equal(socks!.logFile, '/var/log/vpnns/vpn-ns/socks.log');
    assert.equal(http!.logFile, '/var/log/vpnns/vpn-ns/http.log');
  });

  test('disabled proxies are left out', () => {
    const cfg = config({}, { socks: { enabled: false, port: 1080, publish: true }, http: { enabled: true, port: 1090, publish: false } });
    assert.deepEqual(proxyServices(cfg, NAMES).map((s) => s.name), ['http']);
  });

  test('publish adds a host-side forward from 127.0.0.1', () => {
    const cfg = config({}, { socks: { enabled: true, port: 1080, publish: true }, http: { enabled: true, port: 3128, publish: true } });
    const specs = proxyServices(cfg, NAMES);
    assert.deepEqual(specs.map((s) => s.name), ['socks', 'forward-socks', 'http', 'forward-http']);
    const fwd = specs[3]!;
    assert.equal(fwd.needsTunnel, false);
    assert.equal(fwd.process.netns, undefined);
    const argv = fwd.process.argv.join(' ');
    assert.match(argv, /--listen 127\.0\.0\.1:3128 --target 10\.0\.0\.2:3128$/);
  });

  test('SOCKS auth runs danted with its private user database', () => {
    const cfg = config({}, { socks: { enabled: true, port: 1080, publish: false, username: 'alice', password: 'pw' } });
    const argv = proxyServices(cfg, NAMES)[0]!.process.argv;
    assert.equal(argv[0], '/usr/bin/unshare');
    assert.ok(argv.includes('/run/vpnns/vpn-ns/proxies/socks-shadow'));
    assert.ok(!argv.includes('pw'), 'the password must not be in argv');
  });

  test('registered with the supervisor at module load', () => {
    assert.deepEqual(serviceSpecs(config(), NAMES).filter((s) => s.name === 'socks' || s.name === 'http').map((s) => s.name), ['socks', 'http']);
  });

  test('expected tunnel per provider', () => {
    assert.equal(expectedTunnel(config(), NAMES), 'vt-vpn-ns');
    assert.equal(expectedTunnel(config({ vpn: { type: 'command', start: ['x'], interface: 'tun7', connectTimeout: 5 } }), NAMES), 'tun7');
    assert.equal(expectedTunnel(config({ vpn: { type: 'adguard', binary: 'adguardvpn-cli', connectTimeout: 5 } }), NAMES), 'tun0');
  });

  test('prepare writes the configs (0644) and the shadow as a 0600 secret; live tunnel name wins', async () => {
    const cfg = config({}, { socks: { enabled: true, port: 1080, publish: false, username: 'alice', password: 'hunter2' } });
    const [socks, http] = proxyServices(cfg, NAMES);
    const sys = new System(true);
    await socks!.prepare!(sys, { tunnel: "tun3" });
    await http!.prepare!(sys, {});
    const log = sys.actions.join('\n');
    assert.match(log, /write \/run\/vpnns\/vpn-ns\/proxies\/socks-shadow \(mode 600\)\n {2}\(\d+ bytes, secret\)/);
    assert.match(log, /write \/run\/vpnns\/vpn-ns\/proxies\/socks-passwd \(mode 644\)/);
    assert.match(log, /write \/run\/vpnns\/vpn-ns\/proxies\/danted\.conf \(mode 644\)\n(?: {4}.*\n)*? {4}external: tun3\n/);
    assert.match(log, /write \/run\/vpnns\/vpn-ns\/proxies\/tinyproxy\.conf \(mode 644\)/);
    assert.match(log, /create \/var\/log\/vpnns\/vpn-ns\/http\.log owned by nobody:nogroup \(not through a link\)/);
    assert.doesNotMatch(log, /hunter2/);
    // A pattern is not an interface: fall back to the expected name.
    const sys2 = new System(true);
    await (socks!.prepare as (s: System, c?: { tunnel?: string }) => Promise<void>)(sys2, { tunnel: 'tun*' });
    assert.match(sys2.actions.join('\n'), / {4}external: vt-vpn-ns\n/);
  });

  test('paths', () => {
    assert.deepEqual(proxyPaths(config(), NAMES), {
      dir: '/run/vpnns/vpn-ns/proxies',
      dantedConf: '/run/vpnns/vpn-ns/proxies/danted.conf',
      dantedPid: '/run/vpnns/vpn-ns/proxies/danted.pid',
      socksPasswd: '/run/vpnns/vpn-ns/proxies/socks-passwd',
      socksShadow: '/run/vpnns/vpn-ns/proxies/socks-shadow',
      tinyproxyConf: '/run/vpnns/vpn-ns/proxies/tinyproxy.conf',
      socksLog: '/var/log/vpnns/vpn-ns/socks.log',
      httpLog: '/var/log/vpnns/vpn-ns/http.log',
    });
  });
});

// The daemons' own verdict on the rendered configs. Needs root, danted and tinyproxy.
const canRunDaemons = process.getuid?.() === 0 && existsSync('/usr/sbin/danted') && existsSync('/usr/bin/tinyproxy');

describe('the daemons accept the rendered configs', { skip: !canRunDaemons && 'needs root, danted and tinyproxy' }, () => {
  const ns = `vpnnsprx-${randomBytes(3).toString('hex')}`;
  const tun = 'vt-prx';
  let dir = '';
  const pids: number[] = [];

  const ip = (...args: string[]) => execFileSync('/usr/sbin/ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vpnnsprx-'));
    chmodSync(dir, 0o755);
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'addr', 'add', '10.0.0.2/32', 'dev', 'lo');
    // A tun device stands in for the tunnel; Dante needs its `external:` to exist with an address.
    ip('-n', ns, 'tuntap', 'add', 'dev', tun, 'mode', 'tun');
    ip('-n', ns, 'addr', 'add', '198.51.100.2/24', 'dev', tun);
  });

  after(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    spawnSync('/usr/sbin/ip', ['netns', 'del', ns]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const dantedCheck = (conf: string) => {
    const path = join(dir, 'danted.conf');
    writeFileSync(path, conf);
    return spawnSync('/usr/sbin/ip', ['netns', 'exec', ns, '/usr/sbin/danted', '-V', '-f', path], { encoding: 'utf8' });
  };

  test('danted -V: plain and with auth', () => {
    const logFile = join(dir, 'socks.log');
    for (const auth of [undefined, { username: 'alice' }]) {
      const r = dantedCheck(renderDantedConf({ ...DANTED, external: tun, logFile, auth }));
      assert.equal(r.status, 0, `${r.stderr}\n${readFileSync(logFile, 'utf8')}`);
    }
  });

  test('danted -V really checks (a missing external interface fails)', () => {
    const r = dantedCheck(renderDantedConf({ ...DANTED, external: 'vt-missing', logFile: join(dir, 'socks-bad.log') }));
    assert.notEqual(r.status, 0);
  });

  test('tinyproxy starts with the rendered config, listens, and drops to nobody', async () => {
    const logFile = join(dir, 'http.log');
    writeFileSync(logFile, '');
    const nobody = execFileSync('/usr/bin/id', ['-u', 'nobody']).toString().trim();
    const nogroup = execFileSync('/usr/bin/getent', ['group', 'nogroup']).toString().split(':')[2]!;
    chownSync(logFile, Number(nobody), Number(nogroup));
    const conf = join(dir, 'tinyproxy.conf');
    writeFileSync(conf, renderTinyproxyConf({ ...TINY, logFile }));
    const child = spawn('/usr/sbin/ip', ['netns', 'exec', ns, '/usr/bin/tinyproxy', '-d', '-c', conf], { stdio: 'ignore' });
    pids.push(child.pid!);
    const listening = () => execFileSync('/usr/sbin/ip', ['netns', 'exec', ns, 'ss', '-Hltn']).toString();
    const uid = () => /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
    const deadline = Date.now() + 5000;
    // It listens first, then drops root.
    while (!(listening().includes('10.0.0.2:1090') && uid() === nobody) && Date.now() < deadline) {
      assert.equal(child.exitCode, null, `tinyproxy exited: ${readFileSync(logFile, 'utf8')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const ss = listening();
    assert.match(ss, /10\.0\.0\.2:1090/);
    assert.doesNotMatch(ss, /(0\.0\.0\.0|\*|\[::\]):1090/);
    assert.equal(uid(), nobody);
    assert.match(readFileSync(logFile, 'utf8'), /Initializing tinyproxy/);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });
});
