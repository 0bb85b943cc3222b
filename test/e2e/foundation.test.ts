// Foundation, end to end: vpnns up/exec/status/down in the simulated world's host namespace, with
// no VPN yet. Real commands, real namespaces, real curl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, leftovers, BIN, unprivilegedBin, type Harness } from './harness.js';

let h: Harness;
let cfg: string;
let user: string;
let group: string;

before(async () => {
  h = await startHarness({ hostForwardDrop: true });
  // dns: the world's ISP resolver, so names resolve inside without a VPN.
  cfg = h.config({ dns: [h.world.addr.ispResolver] });
  user = `vt${h.world.prefix.slice(2)}u`;
  group = `vt${h.world.prefix.slice(2)}g`;
  execFileSync('groupadd', [group]);
  execFileSync('useradd', ['-m', '-G', group, user]);
});

after(async () => {
  await h?.cleanup();
  if (user) execFileSync('userdel', ['-r', user], { stdio: 'ignore' });
  if (group) execFileSync('groupdel', [group], { stdio: 'ignore' });
});

test('up creates the namespace, veth, addresses, routes, DNS files, and no IPv6', async () => {
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /is up: host 10\.0\.0\.1 <-> namespace 10\.0\.0\.2/);

  const addrs = JSON.parse((await h.inVpn(['ip', '-json', 'addr'])).stdout) as Array<{ ifname: string; addr_info: Array<{ local: string; prefixlen: number; family: string }> }>;
  const veth = addrs.find((a) => a.ifname.startsWith('vn-'));
  assert.deepEqual(veth?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), ['10.0.0.2/30']);
  assert.ok(addrs.every((a) => a.addr_info.every((i) => i.family !== 'inet6')), 'no IPv6 address inside');
  assert.equal((await h.inVpn(['sysctl', '-n', 'net.ipv6.conf.all.disable_ipv6'])).stdout.trim(), '1');

  const routes = JSON.parse((await h.inVpn(['ip', '-json', 'route'])).stdout) as Array<{ dst: string; gateway?: string }>;
  assert.ok(routes.some((x) => x.dst === 'default' && x.gateway === '10.0.0.1'));

  const resolv = (await h.inVpn(['cat', '/etc/resolv.conf'])).stdout;
  assert.match(resolv, new RegExp(`^nameserver ${h.world.addr.ispResolver.replaceAll('.', '\\.')}$`, 'm'));
  const nss = (await h.inVpn(['cat', '/etc/nsswitch.conf'])).stdout;
  assert.match(nss, /^hosts: files dns$/m);
  assert.doesNotMatch(nss, /resolve|mdns|myhostname/);

  const hostAddrs = (await h.world.inHost(['ip', '-o', '-4', 'addr', 'show'])).stdout;
  assert.match(hostAddrs, /vh-.* 10\.0\.0\.1\/30/);
  assert.equal((await h.world.inHost(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');
});

test('exec -- curl reaches the echo service by name and sees the host public address (no VPN)', async () => {
  // The host has a FORWARD policy of drop in `ip filter` (Docker/ufw style): vpnns must cope.
  const r = await h.vpnns(['exec', '--config', cfg, '--', 'curl', '-sS', '--max-time', '5', `http://${h.world.names.echo}/`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), h.world.addr.hostPublic);
});

test('exec runs as the invoking user with groups, environment, cwd and exit code', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-exec-'));
  chmodSync(dir, 0o755);
  try {
    const r = await h.vpnns(['exec', '--config', cfg, '--', 'sh', '-c', 'id -un; id -Gn; echo "$HOME|$USER|$LOGNAME|$KEEPME"; pwd; exit 42'], {
      env: { ...process.env, SUDO_USER: user, KEEPME: 'kept' },
      cwd: dir,
    });
    assert.equal(r.code, 42, r.stderr);
    const [who, groups, env, cwd] = r.stdout.trim().split('\n');
    assert.equal(who, user);
    assert.ok(groups?.split(' ').includes(group), `supplementary group ${group} in ${groups}`);
    assert.equal(env, `/home/${user}|${user}|${user}|kept`);
    assert.equal(cwd, dir);
    // --user wins over SUDO_USER; root without either gets a warning.
    const root = await h.vpnns(['exec', '--config', cfg, '--', 'id', '-u'], { env: { ...process.env, SUDO_USER: '' } });
    assert.equal(root.stdout.trim(), '0');
    assert.match(root.stderr, /running as root/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec --namespace without --config runs from state.json while the config up read is unchanged; once it changes it is read and trust-checked again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-exec-'));
  chmodSync(dir, 0o755);
  const mode = statSync(cfg).mode & 0o7777;
  const run = () => h.vpnns(['exec', '--namespace', h.ns, '--', 'sh', '-c', 'id -un; id -Gn; echo "$HOME|$USER|$LOGNAME|$KEEPME"; pwd; exit 42'], {
    env: { ...process.env, SUDO_USER: user, KEEPME: 'kept' },
    cwd: dir,
  });
  try {
    const r = await run();
    assert.equal(r.code, 42, r.stderr);
    const [who, groups, env, cwd] = r.stdout.trim().split('\n');
    assert.equal(who, user);
    assert.ok(groups?.split(' ').includes(group), `supplementary group ${group} in ${groups}`);
    assert.equal(env, `/home/${user}|${user}|${user}|kept`);
    assert.equal(cwd, dir);
    // A chmod moves the file's ctime past `up`: the file is read again, and a world-writable one is refused.
    chmodSync(cfg, 0o666);
    const refused = await run();
    assert.equal(refused.code, 2, refused.stderr);
    assert.ok(refused.stderr.includes(cfg), refused.stderr);
    assert.equal(refused.stdout, '');
    chmodSync(cfg, mode);
    assert.equal((await run()).code, 42);
  } finally {
    chmodSync(cfg, mode);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exec passes the terminal through: the program inside sees a TTY and can read from it', async () => {
  // `script` gives vpnns a pseudo-terminal, as an interactive shell would.
  const inner = `${process.execPath} ${BIN} exec --config ${cfg} -- sh -c 'test -t 0 && test -t 1 && echo tty-ok; read line; echo "got:$line"'`;
  const r = await h.world.inHost(['script', '-qec', inner, '/dev/null'], { input: 'hello\n', timeoutMs: 20_000 });
  assert.match(r.stdout, /tty-ok/, r.stdout + r.stderr);
  assert.match(r.stdout, /got:hello/);
});

test('exec forwards signals and returns 128+signal', async () => {
  const child = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, process.execPath, BIN, 'exec', '--config', cfg, '--', 'sleep', '30'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1500));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 128 + 15);
});

test('a second up changes nothing and says so; status reports it', async () => {
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /already up; nothing changed/);
  assert.doesNotMatch(r.stdout, /^made /m);
  const dry = await h.vpnns(['up', '--config', cfg, '--dry-run']);
  assert.match(dry.stdout, /nothing to do/);
  const st = await h.vpnns(['status', '--config', cfg, '--json']);
  assert.equal(st.code, 0, st.stderr);
  const s = JSON.parse(st.stdout);
  assert.equal(s.up, true);
  assert.equal(s.firewall.hostTable, true);
  assert.deepEqual(s.dns, [h.world.addr.ispResolver]);
});

test('down removes everything, restores ip_forward and the other tables; a second down has nothing to do', async () => {
  const before = (await h.world.inHost(['nft', 'list', 'chain', 'ip', 'filter', 'FORWARD'])).stdout;
  assert.match(before, /vpnns:/, 'accept rules were inserted into the drop-policy FORWARD chain');
  const r = await h.vpnns(['down', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /removed network namespace/);
  assert.deepEqual(await leftovers(h), []);
  assert.equal((await h.world.inHost(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '0');
  const after = (await h.world.inHost(['nft', 'list', 'chain', 'ip', 'filter', 'FORWARD'])).stdout;
  assert.doesNotMatch(after, /vpnns:/);
  assert.match(after, /policy drop/);
  const again = await h.vpnns(['down', '--config', cfg]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /not up; nothing to do/);
});

test('SIGKILL of up half-way, then down, leaves nothing', async () => {
  for (const stage of ['veth', 'host-nft']) {
    const child = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, process.execPath, BIN, 'up', '--config', cfg], {
      env: { ...process.env, VPNNS_TEST_HANG_AFTER: stage },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('up did not reach the hook')), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('hanging after')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    assert.notDeepEqual(await leftovers(h), [], `up made something before ${stage}`);
    const r = await h.vpnns(['down', '--config', cfg]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await leftovers(h), [], `after a kill at ${stage}`);
  }
});

test('exec when the namespace is not up: one sentence, exit 2', async () => {
  const r = await h.vpnns(['exec', '--config', cfg, '--', 'true']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is not up; run `sudo vpnns up` first/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('bad input: one sentence with the fix, exit 2, nothing left behind', async () => {
  const cases: Array<{ name: string; yaml?: string; args?: string[]; env?: NodeJS.ProcessEnv; argv?: string[]; expect: RegExp }> = [
    { name: 'namespace ../x', yaml: 'namespace: ../x\n', expect: /namespace/ },
    { name: 'namespace too long', yaml: 'namespace: abcdefghijklmnop\n', expect: /namespace.*15/ },
    { name: 'namespace with space', yaml: 'namespace: "a b"\n', expect: /namespace/ },
    { name: 'namespace upper case', yaml: 'namespace: VPN\n', expect: /namespace/ },
    { name: 'subnet /31', yaml: `namespace: ${h.ns}\nnetwork:\n  subnet: 10.0.0.0/31\n`, expect: /:3: network\.subnet: .*\/30/ },
    { name: 'subnet /23', yaml: `namespace: ${h.ns}\nnetwork:\n  subnet: 10.0.0.0/23\n`, expect: /network\.subnet/ },
    { name: 'subnet overlapping the host', yaml: `namespace: ${h.ns}\nnetwork:\n  subnet: 203.0.113.8/30\n`, expect: /overlaps the host's .*203\.0\.113\.10\/24.*e\.g\. 10\.200\./ },
    { name: 'YAML syntax error', yaml: `namespace: ${h.ns}\nnetwork:\n  subnet: [10.0.0.0/30\n`, expect: /vpnns-bad\.yaml:\d+/ },
    { name: 'unknown key', yaml: `namespace: ${h.ns}\nnetwrok:\n  ipv6: false\n`, expect: /:2: netwrok: unknown key; did you mean `network`\?/ },
  ];
  for (const c of cases) {
    const file = join(h.world.dir, 'vpnns-bad.yaml');
    writeFileSync(file, c.yaml!);
    const r = await h.vpnns(['up', '--config', file]);
    assert.equal(r.code, 2, `${c.name}: ${r.stderr}`);
    assert.match(r.stderr, c.expect, c.name);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${c.name}: one line: ${r.stderr}`);
    assert.deepEqual(await leftovers(h), [], c.name);
  }
  // Not root.
  const nr = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, unprivilegedBin(), 'up', '--config', cfg]);
  assert.equal(nr.code, 2);
  assert.match(nr.stderr, /must run as root.*sudo vpnns up/);
  // nft missing: hide it in a private mount namespace for this one command.
  const nonft = await h.vpnnsWithout('nft', ['up', '--config', cfg]);
  assert.equal(nonft.code, 2, nonft.stderr);
  assert.match(nonft.stderr, /`nft` is not installed; install it with: apt-get install nftables/);
  assert.deepEqual(await leftovers(h), []);
});
