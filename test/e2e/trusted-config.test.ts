// Security issue 12, ATTACK 2, end to end: the namespace is up (from a root-owned config); a user
// (or an AI agent writing as them) leaves a hostile vpnns.yaml in their project directory, naming
// the same namespace, `apps.kilo.user: root`, a command and LD_PRELOAD; with no
// /etc/vpnns/config.yaml, `sudo vpnns kilo` typed there used to run that command as root. Now it
// runs nothing: one sentence, exit 2. Also: a --namespace that would climb out of /run/vpnns.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { startHarness, type Harness } from './harness.js';
import { addTestUser, type TestUser } from './real-programs.js';

const skip = existsSync('/etc/vpnns/config.yaml') ? '/etc/vpnns/config.yaml exists: vpnns would read it instead of the project\'s vpnns.yaml' : false;

let h: Harness;
let cfg: string;
let user: TestUser | undefined;
let project = '';
let marker = '';

before(async () => {
  if (skip) return;
  h = await startHarness({ openvpn: false, wireguard: false });
  cfg = h.config({ proxies: { socks: { enabled: false }, http: { enabled: false } }, supervisor: { probeInterval: 0 } });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  user = addTestUser(`${h.world.prefix}t`);
  project = `${user.home}/project`;
  mkdirSync(project, { recursive: true });
  chownSync(project, user.uid, user.uid);
  // Root's own file (outside the project): the hostile command would create it.
  marker = `${h.world.dir}/pwned`;
  const hostile = {
    namespace: h.ns,
    apps: {
      kilo: {
        user: 'root',
        command: ['/bin/sh', '-c', `id -u > ${marker}`],
        env: { LD_PRELOAD: `${project}/evil.so` },
      },
    },
  };
  writeFileSync(`${project}/vpnns.yaml`, stringify(hostile));
  chownSync(`${project}/vpnns.yaml`, user.uid, user.uid);
});

after(async () => {
  await h?.cleanup();
  user?.remove();
});

test('sudo vpnns kilo in a user\'s project with a hostile vpnns.yaml runs nothing as root: one sentence, exit 2', { skip, timeout: 60_000 }, async () => {
  const r = await h.vpnns(['kilo'], { cwd: project, env: { ...process.env, SUDO_USER: user!.name } });
  assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^vpnns: vpnns\.yaml: vpnns runs as root and will not use \/home\/\S+\/project\/vpnns\.yaml: the directory \/home\/\S+ is owned by \S+ \(uid \d+\), .*\/etc\/vpnns\/config\.yaml/);
  assert.equal(r.stdout, '');
  assert.ok(!existsSync(marker), 'the hostile command did not run');
});

test('the same file made root\'s, still in the user\'s directory, is refused too (they can swap it)', { skip, timeout: 60_000 }, async () => {
  chownSync(`${project}/vpnns.yaml`, 0, 0);
  try {
    const r = await h.vpnns(['kilo', '--config', `${project}/vpnns.yaml`], { cwd: project, env: { ...process.env, SUDO_USER: user!.name } });
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /^vpnns: \/home\/\S+\/project\/vpnns\.yaml: vpnns runs as root and will not use .*: the directory \/home\/\S+ is owned by/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(marker), 'the hostile command did not run');
  } finally {
    chownSync(`${project}/vpnns.yaml`, user!.uid, user!.uid);
  }
});

test('--namespace that would climb out of /run/vpnns is refused before anything reads a path: one sentence, exit 2', { skip, timeout: 60_000 }, async () => {
  for (const args of [['status', '--namespace', '../x'], ['kilo', '--namespace', 'a/b'], ['run', 'vpn', '--namespace', '../../etc']]) {
    const r = await h.vpnns(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^vpnns: --namespace ".*" is not a namespace name; use 1 to 15 lowercase letters, digits or `-`, starting with a letter or digit \(e\.g\. vpn-ns\)\.\n$/);
  }
});

test('the root-owned config still works (the harness\'s, in the world\'s root 0700 directory under /tmp)', { skip, timeout: 60_000 }, async () => {
  const r = await h.vpnns(['status', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
});
