// The proxy services as the supervisor runs them (proxyServices → prepare → startProcess), in a
// throwaway world of three namespaces:
//
//   <p>-h  the host: 10.213.0.1 (the host end) and 10.213.0.3 (a stranger on the same link)
//   <p>-n  the VPN namespace: 10.213.0.2; a veth "vt…" stands in for the tunnel, default route over it
//   <p>-o  beyond the tunnel: 198.51.100.1, an HTTP echo server
//
// Nothing here touches the root namespace; every namespace and process is removed at the end.
import { defaultConfig } from '../../src/config/load.js';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Config } from '../../src/config/types.js';
import type { Names } from '../../src/core/names.js';
import { proxyServices } from '../../src/services/proxies.js';
import { System } from '../../src/sys/system.js';
import { startProcess, type Running } from '../../src/sys/process.js';

const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/danted') && existsSync('/usr/bin/tinyproxy') && existsSync('/usr/bin/curl');

const ECHO_SERVER = `
const http = require('node:http');
http.createServer((q, s) => s.end(JSON.stringify({ ip: q.socket.remoteAddress, headers: q.headers })))
  .listen(8080, '198.51.100.1', () => console.log('listening'));
`;

interface CurlResult {
  code: number;
  out: string;
}

describe('proxies end to end (throwaway namespaces)', { skip: !canRun && 'needs root, danted, tinyproxy and curl' }, () => {
  const rand = randomBytes(3).toString('hex');
  const prefix = `vpnnsprx-${rand}`;
  const H = `${prefix}-h`;
  const N = `${prefix}-n`;
  const O = `${prefix}-o`;
  const tunnel = `vt${rand}`;
  const made: string[] = [];
  const running: Running[] = [];
  let echo: ChildProcess | undefined;
  let dir = '';

  const ip = (...args: string[]) => {
    const r = spawnSync('/usr/sbin/ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  };

  const curlFromHost = (...args: string[]) =>
    new Promise<CurlResult>((resolve) => {
      execFile('/usr/sbin/ip', ['netns', 'exec', H, '/usr/bin/curl', '-sS', '-m', '5', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout || stderr });
      });
    });

  const echoed = (r: CurlResult) => JSON.parse(r.out) as { ip: string; headers: Record<string, string> };

  async function until(what: string, probe: () => Promise<boolean>, ms = 8000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    // Tinyproxy opens its log as nobody: every directory above it must be traversable.
    chmodSync(dir, 0o755);
    for (const ns of [H, N, O]) {
      ip('netns', 'add', ns);
      made.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', H, 'link', 'add', `ph${rand}`, 'type', 'veth', 'peer', 'name', `pn${rand}`, 'netns', N);
    ip('-n', H, 'addr', 'add', '10.213.0.1/24', 'dev', `ph${rand}`);
    ip('-n', H, 'addr', 'add', '10.213.0.3/24', 'dev', `ph${rand}`);
    ip('-n', H, 'link', 'set', `ph${rand}`, 'up');
    ip('-n', N, 'addr', 'add', '10.213.0.2/24', 'dev', `pn${rand}`);
    ip('-n', N, 'link', 'set', `pn${rand}`, 'up');
    ip('-n', N, 'link', 'add', tunnel, 'type', 'veth', 'peer', 'name', `vo${rand}`, 'netns', O);
    ip('-n', N, 'addr', 'add', '198.51.100.2/24', 'dev', tunnel);
    ip('-n', N, 'link', 'set', tunnel, 'up');
    ip('-n', O, 'addr', 'add', '198.51.100.1/24', 'dev', `vo${rand}`);
    ip('-n', O, 'link', 'set', `vo${rand}`, 'up');
    ip('-n', N, 'route', 'add', 'default', 'via', '198.51.100.1', 'dev', tunnel);

    echo = spawn('/usr/sbin/ip', ['netns', 'exec', O, process.execPath, '-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      echo!.stdout!.once('data', () => resolve());
      echo!.once('exit', (c) => reject(new Error(`echo server exited (${c})`)));
    });

    const cfg: Config = {
      namespace: N,
      network: { subnet: '10.213.0.0/24', ipv6: false },
      // The command provider names its tunnel in the config: the stand-in veth.
      vpn: { type: 'command', start: ['/bin/true'], interface: tunnel, connectTimeout: 5 },
      killSwitch: false,
      proxies: {
        socks: { enabled: true, port: 1080, publish: true, username: 'alice', password: 'pa$$_word#1' },
        http: { enabled: true, port: 1090, publish: true },
      },
      publish: [],
      apps: {},
      check: { ...defaultConfig().check, echoUrl: [] },
      supervisor: defaultConfig().supervisor,
      metrics: { enabled: false, listen: '127.0.0.1:9150' },
      logDir: join(dir, 'log'),
    };
    const names: Names = {
      ns: N, vethHost: `ph${rand}`, vethNs: `pn${rand}`, tunnel, hostAddr: '10.213.0.1', nsAddr: '10.213.0.2', prefix: 24,
      subnet: '10.213.0.0/24', hostTable: 'unused', nsTable: 'unused', stateDir: join(dir, 'state'), lockFile: join(dir, 'lock'), etcDir: join(dir, 'etc'),
    };
    const sys = new System(false);
    for (const spec of proxyServices(cfg, names)) {
      await (spec.prepare as ((s: System, c?: { tunnel?: string }) => Promise<void>) | undefined)?.(sys, { tunnel });
      // Forwarders are host-side: here the "host" is a namespace too.
      const proc = spec.process.netns ? spec.process : { ...spec.process, netns: H };
      running.push(startProcess(proc, { logFile: spec.logFile ?? join(cfg.logDir, `${spec.name}.log`) }));
    }
    await until('the proxies', async () => (await curlFromHost('-x', 'http://127.0.0.1:1090', 'http://198.51.100.1:8080/')).code === 0
      && (await curlFromHost('--socks5-hostname', 'alice:pa%24%24_word%231@127.0.0.1:1080', 'http://198.51.100.1:8080/')).code === 0);
  });

  after(async () => {
    await Promise.all(running.map((r) => r.stop(2000)));
    echo?.kill('SIGKILL');
    for (const ns of made) spawnSync('/usr/sbin/ip', ['netns', 'del', ns]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const SOCKS_USER = 'alice:pa%24%24_word%231';

  test('SOCKS5 from the host end goes out through the tunnel', async () => {
    const r = await curlFromHost('--socks5-hostname', `${SOCKS_USER}@10.213.0.2:1080`, 'http://198.51.100.1:8080/');
    assert.equal(r.code, 0, r.out);
    assert.equal(echoed(r).ip, '198.51.100.2');
  });

  test('SOCKS5 needs the password', async () => {
    assert.notEqual((await curlFromHost('--socks5-hostname', 'alice:wrong@10.213.0.2:1080', 'http://198.51.100.1:8080/')).code, 0);
    assert.notEqual((await curlFromHost('--socks5-hostname', '10.213.0.2:1080', 'http://198.51.100.1:8080/')).code, 0);
    assert.notEqual((await curlFromHost('--socks5-hostname', 'root:x@10.213.0.2:1080', 'http://198.51.100.1:8080/')).code, 0);
  });

  test('SOCKS5 refuses a third address, even with the password', async () => {
    const r = await curlFromHost('--interface', '10.213.0.3', '--socks5-hostname', `${SOCKS_USER}@10.213.0.2:1080`, 'http://198.51.100.1:8080/');
    assert.notEqual(r.code, 0, r.out);
  });

  test('HTTP proxy from the host end: through the tunnel, no Via, no client address', async () => {
    for (const extra of [[], ['-p']]) {
      const r = await curlFromHost(...extra, '-x', 'http://10.213.0.2:1090', 'http://198.51.100.1:8080/');
      assert.equal(r.code, 0, r.out);
      const e = echoed(r);
      assert.equal(e.ip, '198.51.100.2');
      assert.equal(e.headers.via, undefined);
      assert.equal(e.headers['x-tinyproxy'], undefined);
      assert.equal(e.headers['x-forwarded-for'], undefined);
    }
  });

  test('HTTP proxy refuses a third address', async () => {
    const r = await curlFromHost('--interface', '10.213.0.3', '-o', '/dev/null', '-w', '%{http_code}', '-x', 'http://10.213.0.2:1090', 'http://198.51.100.1:8080/');
    assert.equal(r.out, '403');
  });

  test('published on the host loopback', async () => {
    const s = await curlFromHost('--socks5-hostname', `${SOCKS_USER}@127.0.0.1:1080`, 'http://198.51.100.1:8080/');
    assert.equal(s.code, 0, s.out);
    assert.equal(echoed(s).ip, '198.51.100.2');
    const h = await curlFromHost('-x', 'http://127.0.0.1:1090', 'http://198.51.100.1:8080/');
    assert.equal(h.code, 0, h.out);
    assert.equal(echoed(h).ip, '198.51.100.2');
  });

  test('SOCKS fails closed when the tunnel goes away', async () => {
    ip('-n', N, 'link', 'del', tunnel);
    const r = await curlFromHost('--socks5-hostname', `${SOCKS_USER}@10.213.0.2:1080`, 'http://198.51.100.1:8080/');
    assert.notEqual(r.code, 0, r.out);
  });
});
