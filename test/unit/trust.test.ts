// Security issue 12: run as root, vpnns reads and runs only what root alone controls, and every
// entry point takes a namespace name by one rule. Each attack has its own test; they need root
// (to make files of another owner), which is how vpnns runs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertTrustedDirectory, assertTrustedFile, assertTrustedProgram, checkTrustedPath, readTrustedFile, userServedFilesystem } from '../../src/config/trust.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import { assertNamespaceName, namesFor, stateDirOf } from '../../src/core/names.js';
import { parseOvpn } from '../../src/vpn/ovpn.js';
import { assertTrustedOvpnPaths } from '../../src/vpn/ovpn-files.js';
import { createLogFileFor, openLogFile } from '../../src/sys/log-file.js';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/command.js';
import type { Config } from '../../src/config/types.js';

const skip = process.geteuid?.() !== 0 ? 'needs root (vpnns runs as root; the checks apply only then)' : false;
const NOBODY = 65534;

let base = '';
/** A root-owned 0755 directory under the test's root 0700 directory in sticky /tmp: trusted. */
let safe = '';
/** A directory owned by an ordinary user (nobody): what a project directory is. */
let user = '';

function file(path: string, text = 'x\n', mode = 0o600, uid = 0): string {
  writeFileSync(path, text);
  chmodSync(path, mode);
  chownSync(path, uid, uid);
  return path;
}

function dir(path: string, mode = 0o755, uid = 0): string {
  mkdirSync(path);
  chmodSync(path, mode);
  chownSync(path, uid, uid);
  return path;
}

const refused = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n'), String(re));

describe('trust check: run as root, only what root alone controls', { skip }, () => {
  before(() => {
    base = mkdtempSync('/tmp/vpnns-trust-');
    safe = dir(join(base, 'safe'));
    user = dir(join(base, 'user'), 0o755, NOBODY);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('a root file in a root 0700 directory under sticky /tmp (the test world) is trusted and read', () => {
    const f = file(join(base, 'world.yaml'), 'namespace: x\n');
    const v = checkTrustedPath(f);
    assert.ok(v.trusted && 'real' in v && v.real === f);
    assert.equal(readTrustedFile(f, 'vpn.config'), 'namespace: x\n');
  });

  test('a file owned by another user is refused, naming the owner', () => {
    const f = file(join(safe, 'theirs.conf'), 'x', 0o600, NOBODY);
    refused(() => readTrustedFile(f, 'vpn.config'), /^vpn\.config: vpnns runs as root and will not use .*theirs\.conf: .*theirs\.conf is owned by nobody \(uid 65534\).*sudo chown root:/);
  });

  test('a root file in a directory another user owns is refused (they could swap it)', () => {
    const f = file(join(user, 'rootfile.conf'));
    refused(() => readTrustedFile(f, 'vpn.config'), /the directory .*\/user is owned by nobody \(uid 65534\)/);
  });

  test('a root file in a root directory writable by every user (no sticky bit) is refused', () => {
    const d = dir(join(base, 'open'), 0o777);
    chmodSync(d, 0o777);
    const f = file(join(d, 'f'));
    refused(() => readTrustedFile(f, 'vpn.auth'), /the directory .*\/open is writable by its group and every user, .*; run: sudo chmod go-w .*\/open\.$/);
  });

  test('a group-writable file or directory is refused', () => {
    const f = file(join(safe, 'gw'), 'x', 0o620);
    refused(() => readTrustedFile(f, 'vpn.auth'), /gw is writable by its group \(gid 0\)/);
    const d = dir(join(base, 'gwdir'), 0o775);
    refused(() => assertTrustedFile(file(join(d, 'f')), 'vpn.config'), /the directory .*gwdir is writable by its group/);
  });

  test('a sticky shared directory is safe to pass through only when the entry below it is root\'s', () => {
    const sticky = dir(join(base, 'sticky'), 0o1777);
    chmodSync(sticky, 0o1777);
    assert.ok(checkTrustedPath(file(join(sticky, 'root-owned'))).trusted);
    refused(() => assertTrustedFile(file(join(sticky, 'theirs'), 'x', 0o600, NOBODY), 'vpn.config'), /theirs is owned by nobody \(uid 65534\) inside the shared directory/);
    const theirDir = dir(join(sticky, 'their-dir'), 0o755, NOBODY);
    refused(() => assertTrustedFile(file(join(theirDir, 'f')), 'vpn.config'), /their-dir is owned by nobody/);
    // Something that does not exist yet there could be created by anyone first.
    refused(() => assertTrustedDirectory(join(sticky, 'logs'), 'logDir'), /does not exist and anyone could create it in the shared directory/);
    // Nor may files be kept right in it.
    refused(() => assertTrustedDirectory(sticky, 'logDir'), /is a directory every user can create files in/);
  });

  test('symbolic links: followed only through root\'s directories, and the real file is what is judged', () => {
    const target = file(join(safe, 'target.conf'), 'real\n');
    symlinkSync(target, join(safe, 'link-abs.conf'));
    symlinkSync('../safe/./target.conf', join(safe, 'link-rel.conf'));
    assert.equal(readTrustedFile(join(safe, 'link-abs.conf'), 'vpn.config'), 'real\n');
    const v = checkTrustedPath(join(safe, 'link-rel.conf'));
    assert.ok(v.trusted && 'real' in v && v.real === target, JSON.stringify(v));
    // A link the user planted (in their directory) to a root file: the user picks what root reads.
    symlinkSync(target, join(user, 'planted.conf'));
    refused(() => readTrustedFile(join(user, 'planted.conf'), 'vpn.config'), /the directory .*\/user is owned by nobody/);
    // A link in root's directory to the user's file.
    symlinkSync(join(user, 'x.conf'), join(safe, 'to-user.conf'));
    file(join(user, 'x.conf'));
    refused(() => readTrustedFile(join(safe, 'to-user.conf'), 'vpn.config'), /the directory .*\/user is owned by nobody/);
    // A directory link into the user's tree.
    symlinkSync(user, join(safe, 'userdir'));
    refused(() => readTrustedFile(join(safe, 'userdir', 'x.conf'), 'vpn.config'), /owned by nobody/);
  });

  test('missing paths: fine where only root could create them, reported as ENOENT when read', () => {
    assert.doesNotThrow(() => assertTrustedDirectory(join(safe, 'logs', 'ns'), 'logDir'));
    refused(() => assertTrustedDirectory(join(user, 'logs'), 'logDir'), /\/user is owned by nobody/);
    assert.throws(() => readTrustedFile(join(safe, 'nope'), 'vpn.config'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  });

  test('programs root runs: a path is checked, and a bare name where PATH finds it', () => {
    const prog = file(join(user, 'client'), '#!/bin/sh\n', 0o755);
    refused(() => assertTrustedProgram(prog, 'vpn.start[0]'), /^vpn\.start\[0\]: .*\/user is owned by nobody/);
    refused(() => assertTrustedProgram('client', 'vpn.start[0]', { searchPath: [user, '/usr/bin'] }), /PATH finds it as .*\/user\/client, where the directory .*\/user is owned by nobody/);
    assert.doesNotThrow(() => assertTrustedProgram('sh', 'vpn.start[0]', { searchPath: ['/usr/bin', '/bin'] }));
    assert.doesNotThrow(() => assertTrustedProgram('/usr/sbin/openvpn-does-not-exist', 'vpn.start[0]'));
  });
});

describe('ATTACK 2: a hostile config in a user\'s project directory runs nothing as root', { skip }, () => {
  let project = '';
  before(() => {
    base = mkdtempSync('/tmp/vpnns-trust-');
    safe = dir(join(base, 'safe'));
    project = dir(join(base, 'project'), 0o755, NOBODY);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const HOSTILE = 'apps:\n  kilo:\n    user: root\n    command: [/bin/sh, -c, "id > /tmp/pwned"]\n    env: {LD_PRELOAD: /tmp/evil.so}\n';

  test('./vpnns.yaml owned by the user: refused with one sentence, exit 2 (with no /etc/vpnns/config.yaml)', async () => {
    file(join(project, 'vpnns.yaml'), HOSTILE, 0o644, NOBODY);
    await assert.rejects(loadConfig({ cwd: project, systemFile: join(base, 'no-system.yaml') }), (e: unknown) =>
      e instanceof ConfigError && e.exitCode === 2 && /^vpnns\.yaml: vpnns runs as root and will not use .*vpnns\.yaml: .*is owned by nobody .*\/etc\/vpnns\/config\.yaml/.test(e.message) && !e.message.includes('\n'));
  });

  test('the same file made root\'s but left in the user\'s directory is still refused (the user can swap it)', async () => {
    file(join(project, 'vpnns.yaml'), HOSTILE, 0o644, 0);
    await assert.rejects(loadConfig({ cwd: project, systemFile: join(base, 'no-system.yaml') }), /the directory .*\/project is owned by nobody/);
    await assert.rejects(loadConfig({ file: join(project, 'vpnns.yaml') }), /the directory .*\/project is owned by nobody/);
  });

  test('a root-owned config is loaded, its app users included (the admin chose them)', async () => {
    const f = file(join(safe, 'config.yaml'), `logDir: ${safe}/logs\n${HOSTILE}`);
    const cfg = await loadConfig({ file: f });
    assert.equal(cfg.apps.kilo!.user, 'root');
  });

  test('every file and program a root-owned config names must be root\'s too', async () => {
    const theirs = file(join(project, 'theirs'), '#!/bin/sh\n', 0o755, NOBODY);
    const cases: Array<[string, RegExp]> = [
      [`logDir: ${project}/logs\n`, /: logDir: .*\/project is owned by nobody/],
      [`vpn: {type: wireguard, config: ${theirs}}\n`, /: vpn\.config: .*\/project is owned by nobody/],
      [`vpn: {type: openvpn, config: ${safe}/c.ovpn, auth: ${theirs}}\n`, /: vpn\.auth: /],
      [`vpn: {type: adguard, binary: ${theirs}}\n`, /: vpn\.binary: /],
      [`vpn: {type: adguard, home: ${project}/home}\n`, /: vpn\.home: /],
      [`vpn: {type: command, start: [${theirs}], interface: tun9}\n`, /: vpn\.start\[0\]: /],
      [`vpn: {type: command, start: [/bin/true], stop: [${theirs}], interface: tun9}\n`, /: vpn\.stop\[0\]: /],
    ];
    for (const [yaml, re] of cases) {
      const f = file(join(safe, 'c.yaml'), yaml.startsWith('logDir') ? yaml : `logDir: ${safe}/logs\n${yaml}`);
      await assert.rejects(loadConfig({ file: f }), (e: unknown) => e instanceof ConfigError && e.exitCode === 2 && re.test(e.message) && e.message.startsWith(f), `${yaml} -> ${re}`);
    }
  });

  test('files an .ovpn names (ca, cert, key, tls-auth) are read by OpenVPN as root: same rule', () => {
    const key = file(join(project, 'client.key'), 'k', 0o600, NOBODY);
    const ovpn = parseOvpn(`client\nremote 198.51.100.1 1194\nca ca.crt\nkey ${key}\n`, join(safe, 'c.ovpn'));
    file(join(safe, 'ca.crt'));
    assert.throws(() => assertTrustedOvpnPaths(ovpn, join(safe, 'c.ovpn'), safe), (e: unknown) =>
      e instanceof ConfigError && /^.*c\.ovpn:4: "key" names a file OpenVPN reads as root; vpnns runs as root and will not use .*client\.key: .*owned by nobody/.test(e.message));
    // `cd` into the user's directory moves every relative name there.
    const cd = parseOvpn(`client\nremote 198.51.100.1 1194\ncd ${project}\nca ca.crt\n`, join(safe, 'c.ovpn'));
    assert.throws(() => assertTrustedOvpnPaths(cd, join(safe, 'c.ovpn'), safe), /c\.ovpn:3: "cd" names a file/);
    const ok = parseOvpn(`client\nremote 198.51.100.1 1194\nca ca.crt\n<key>\nK\n</key>\n`, join(safe, 'c.ovpn'));
    assert.doesNotThrow(() => assertTrustedOvpnPaths(ok, join(safe, 'c.ovpn'), safe));
  });
});

describe('MUST DELIVER 7: logs are never opened through a link', { skip }, () => {
  before(() => {
    base = mkdtempSync('/tmp/vpnns-trust-');
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('a symbolic link planted as http.log is neither followed nor chowned (tinyproxy hands its log to nobody)', () => {
    const victim = file(join(base, 'shadow'), 'secret\n', 0o640);
    const log = join(base, 'http.log');
    symlinkSync(victim, log);
    assert.throws(() => createLogFileFor(log, NOBODY, NOBODY), (e: NodeJS.ErrnoException) => e.code === 'ELOOP');
    assert.equal(statSync(victim).uid, 0, 'the link target kept its owner');
    assert.equal(readFileSync(victim, 'utf8'), 'secret\n');
    assert.ok(lstatSync(log).isSymbolicLink());
  });

  test('a hard link is refused too; a fresh log is created and handed over', () => {
    const victim = file(join(base, 'passwd'), 'root:x:0:0\n', 0o644);
    linkSync(victim, join(base, 'hard.log'));
    assert.throws(() => openLogFile(join(base, 'hard.log')), /not a plain file with one name/);
    const fresh = join(base, 'fresh.log');
    createLogFileFor(fresh, NOBODY, NOBODY);
    assert.equal(statSync(fresh).uid, NOBODY);
    assert.equal(statSync(victim).uid, 0);
  });
});

describe('MUST DELIVER 7: one namespace-name rule at every entry point', () => {
  const BAD = ['../x', 'a/b', '..', '', 'abcdefghijklmnop', 'Upper', '-lead', 'a b', 'x\0y', '/etc'];

  test('the rule: 1 to 15 lowercase letters, digits or -, not starting with -', () => {
    for (const ok of ['vpn-ns', 'a', '0', 'abcdefghijklmno']) assert.equal(assertNamespaceName(ok), ok);
    for (const bad of BAD) {
      assert.throws(() => assertNamespaceName(bad), (e: unknown) => e instanceof Error && (e as { exitCode?: number }).exitCode === 2 && /is not a namespace name; use 1 to 15 lowercase/.test(e.message), JSON.stringify(bad));
    }
  });

  test('namesFor and stateDirOf, which build /run/vpnns/<ns> and /etc/netns/<ns>, refuse a bad name', () => {
    for (const bad of BAD) {
      assert.throws(() => stateDirOf(bad), /is not a namespace name/);
      assert.throws(() => namesFor({ namespace: bad, network: { subnet: '10.0.0.0/30' } } as Pick<Config, 'namespace' | 'network'>), /is not a namespace name/);
    }
  });

  test('--namespace on every command (and `run`, which the systemd units call): one sentence, exit 2', async () => {
    const commands = [['status'], ['logs'], ['check'], ['supervise'], ['run', 'vpn'], ['systemd', 'uninstall'], ['exec'], ['publish', 'list'], ['app', 'status'], ['kilo']];
    // (`down` and `up` take the namespace from the config only.)
    for (const bad of ['../x', 'a/b', 'abcdefghijklmnop']) {
      for (const c of commands) {
        const errs: string[] = [];
        const outs: string[] = [];
        const io: Io = { out: (l = '') => outs.push(l), err: (l) => errs.push(l), isTTY: false };
        const code = await main([...c, '--namespace', bad], io);
        assert.equal(code, 2, `${c.join(' ')} --namespace ${bad}: ${errs.join('\n')}`);
        assert.deepEqual(errs, [`vpnns: --namespace ${JSON.stringify(bad)} is not a namespace name; use 1 to 15 lowercase letters, digits or \`-\`, starting with a letter or digit (e.g. vpn-ns).`], c.join(' '));
      }
    }
  });

  test('the config key uses the same rule', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    for (const bad of ['../x', 'a/b', 'abcdefghijklmnop']) {
      assert.throws(() => parseConfig(`namespace: "${bad}"\n`), /namespace: expected 1 to 15 lowercase letters, digits or `-`, starting with a letter or digit/);
    }
  });
});

test('a path on a filesystem a user may serve (FUSE) is not trusted, whatever owner it reports; crossing an ordinary mount is fine', () => {
  // FUSE_SUPER_MAGIC: fuse and fuseblk. /dev/fuse is root's here and there is no fusermount, so the
  // walk's statfs of each mount it enters is checked through the type table and an ordinary mount.
  assert.equal(userServedFilesystem(0x65735546), 'FUSE');
  assert.equal(userServedFilesystem(0x01021994), undefined); // tmpfs
  assert.equal(userServedFilesystem(0xef53), undefined); // ext4
  const v = checkTrustedPath('/proc/version'); // / then the proc mount: the device changes
  assert.equal(v.trusted, true, JSON.stringify(v));
});
