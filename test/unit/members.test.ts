// The members' delegation (issue 18.3), its pure parts: the sudoers drop-in and the root entry as
// rendered, the grammar a member's request must pass, the environment as data, group membership,
// and the installation check that keeps members from making root run a copy someone else can change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeEnv, encodeEnv, isGroupMember, memberRequestProblem, renderEntry, renderSudoers, VISUDO } from '../../src/members/policy.js';
import { callerFromSudo } from '../../src/members/entry.js';
import { installationProblem } from '../../src/members/install-check.js';
import { requireMemberCandidate } from '../../src/members/setup.js';
import { UsageError } from '../../src/errors.js';
import { parseArgs } from '../../src/cli/args.js';
import { parseKiloArgs } from '../../src/cli/kilo.js';
import { execCommand } from '../../src/cli/exec.js';

test('the drop-in names one program, without a password, env_reset and !setenv; visudo accepts it', () => {
  const text = renderSudoers();
  assert.match(text, /^%vpnns ALL=\(root\) NOPASSWD: \/usr\/local\/libexec\/vpnns-member$/m);
  assert.match(text, /^Defaults!\/usr\/local\/libexec\/vpnns-member env_reset, !setenv, closefrom_override$/m);
  assert.doesNotMatch(text, /SETENV|ALL$/m);
  if (existsSync(VISUDO)) {
    const dir = mkdtempSync('/tmp/vpnns-sudoers-');
    try {
      writeFileSync(join(dir, 'vpnns'), text, { mode: 0o440 });
      execFileSync(VISUDO, ['-cqf', join(dir, 'vpnns')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('the entry script: node and vpnns by absolute path, the fd-3 marker before the member\'s arguments; odd paths refused', () => {
  const text = renderEntry('/usr/bin/node', '/opt/vpnns/bin/vpnns-member');
  assert.match(text, /exec '\/usr\/bin\/node' '\/opt\/vpnns\/bin\/vpnns-member' env-fd "\$@"/);
  assert.match(text, /exec '\/usr\/bin\/node' '\/opt\/vpnns\/bin\/vpnns-member' no-env "\$@"/);
  for (const bad of ["/opt/it's/node", 'relative/node', '/opt/$(id)/node', '/opt/a b/node', '/opt/x\n/node']) {
    assert.throws(() => renderEntry(bad, '/opt/vpnns/bin/vpnns-member'));
  }
});

test('a member\'s request: --config, --dry-run, --drill, another --user, a namespace path and app install are refused in one sentence', () => {
  const exec = (argv: string[]) => parseArgs(argv, execCommand.options ?? {}, 'exec');
  const refuse = (command: 'exec' | 'kilo' | 'app' | 'status' | 'check', opts: Record<string, string | boolean | undefined>, positional: string[] = []) => {
    const p = memberRequestProblem(command, opts, positional, 'alice');
    assert.ok(p, JSON.stringify(opts));
    assert.doesNotMatch(p, /\n/);
    assert.match(p, /[^.]\.$/, p);
    return p;
  };
  assert.equal(memberRequestProblem('exec', exec(['--namespace', 'vpn-ns', '--', 'id']).opts, [], 'alice'), undefined);
  assert.equal(memberRequestProblem('exec', exec(['--user', 'alice', '--', 'id']).opts, [], 'alice'), undefined);
  assert.match(refuse('exec', exec(['--config', 'mine.yaml', '--', 'id']).opts), /cannot choose the config/);
  assert.match(refuse('exec', exec(['-c', 'mine.yaml', '--', 'id']).opts), /cannot choose the config/);
  assert.match(refuse('exec', exec(['--user', 'root', '--', 'id']).opts), /run as that member/);
  assert.match(refuse('exec', exec(['-u', 'bob', '--', 'id']).opts), /run as that member/);
  assert.match(refuse('exec', exec(['--namespace', '../x', '--', 'id']).opts), /not a namespace name/);
  assert.match(refuse('exec', { namespace: 'a/b' }), /not a namespace name/);
  assert.match(refuse('exec', exec(['--dry-run', '--', 'id']).opts), /dry-run/);
  assert.match(refuse('kilo', parseKiloArgs(['--config', 'x.yaml', 'run', 'hi']).opts), /cannot choose the config/);
  assert.equal(memberRequestProblem('kilo', parseKiloArgs(['run', '--config', 'x.yaml']).opts, [], 'alice'), undefined, "Kilo's own arguments are Kilo's");
  assert.match(refuse('check', { drill: true }), /stops the VPN client/);
  assert.match(refuse('app', { prefix: '/opt' }, ['install', 'code-server']), /--prefix/);
  assert.match(refuse('app', {}, ['install', 'code-server']), /not a member's command/);
  assert.equal(memberRequestProblem('app', { json: true }, ['status'], 'alice'), undefined);
  assert.match(refuse('status', { lines: '5' }), /--lines/);
});

test('the environment travels as data: names checked, NUL-separated, values kept whole', () => {
  const enc = encodeEnv({ FOO: 'a=b c', 'BAD NAME': 'x', EMPTY: '', LD_PRELOAD: '/x.so', UNDEF: undefined });
  const dec = decodeEnv(enc);
  assert.deepEqual(dec, { FOO: 'a=b c', EMPTY: '', LD_PRELOAD: '/x.so' });
  assert.equal(Object.getPrototypeOf(dec), Object.prototype);
  const odd = decodeEnv(Buffer.from('__proto__=x\0=y\0A=1\0noequals\0'));
  assert.equal(Object.getPrototypeOf(odd), Object.prototype, 'a variable named __proto__ is a key, not a prototype');
  assert.deepEqual(Object.keys(odd).sort(), ['A', '__proto__']);
});

test('group membership from /etc/group and the primary group', () => {
  const group = 'root:x:0:\nvpnns:x:995:alice,carol\nstaff:x:50:bob\n';
  const passwd = 'alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\ndave:x:1003:995::/home/dave:/bin/sh\n';
  assert.equal(isGroupMember('alice', group, passwd), true);
  assert.equal(isGroupMember('carol', group, passwd), true);
  assert.equal(isGroupMember('bob', group, passwd), false);
  assert.equal(isGroupMember('dave', group, passwd), true, 'primary group');
  assert.equal(isGroupMember('alice', 'staff:x:50:alice\n', passwd), false, 'no group vpnns');
  assert.equal(isGroupMember('alic', group, passwd), false);
});

test('the caller is SUDO_UID, checked against SUDO_USER, /etc/passwd and the group', () => {
  const passwd = 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1001::/home/bob:/bin/sh\n';
  const group = 'vpnns:x:995:alice\n';
  assert.deepEqual(callerFromSudo({ SUDO_UID: '1000', SUDO_USER: 'alice' }, passwd, group), { user: 'alice', uid: 1000 });
  assert.throws(() => callerFromSudo({}, passwd, group), /run by sudo/);
  assert.throws(() => callerFromSudo({ SUDO_UID: '0', SUDO_USER: 'root' }, passwd, group), /run by sudo/);
  assert.throws(() => callerFromSudo({ SUDO_UID: '1000', SUDO_USER: 'bob' }, passwd, group), /not a user/);
  assert.throws(() => callerFromSudo({ SUDO_UID: '1001', SUDO_USER: 'bob' }, passwd, group), /not a member of group vpnns/);
  assert.throws(() => callerFromSudo({ SUDO_UID: '1000 ', SUDO_USER: 'alice' }, passwd, group), /run by sudo/);
});

test('setup refuses an installation someone other than root could change', { skip: process.geteuid?.() !== 0 ? 'needs root' : false }, () => {
  const dir = mkdtempSync('/tmp/vpnns-install-');
  try {
    const root = join(dir, 'pkg');
    for (const d of ['bin', 'dist/src', 'node_modules/yaml']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'package.json'), '{}');
    writeFileSync(join(root, 'dist/src/x.js'), '');
    chmodSync(dir, 0o755);
    assert.equal(installationProblem(root, process.execPath), undefined);
    chmodSync(join(root, 'dist/src/x.js'), 0o666);
    assert.match(installationProblem(root, process.execPath) ?? '', /x\.js is writable/);
    chmodSync(join(root, 'dist/src/x.js'), 0o644);
    execFileSync('chown', ['65534', join(root, 'node_modules/yaml')]);
    assert.match(installationProblem(root, process.execPath) ?? '', /owned by uid 65534/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('while a member\'s request runs, the config is the namespace\'s and programs run as the member only', async () => {
  const { setMemberContext } = await import('../../src/members/context.js');
  const { configFrom } = await import('../../src/cli/command.js');
  const { execLaunch } = await import('../../src/members/launch.js');
  const { defaultConfig } = await import('../../src/config/load.js');
  const config = { ...defaultConfig(), namespace: 'ns-of-up' };
  setMemberContext({ user: 'alice', uid: 1000, env: { FOO: 'bar' }, config });
  const got = await configFrom({ opts: { config: '/home/alice/mine.yaml' }, positional: [], rest: [] });
  assert.equal(got.namespace, 'ns-of-up', '--config never reaches the loader');
  assert.throws(() => execLaunch(config, 'ns-of-up', 'root', ['id']), /run as that member/);
  assert.throws(() => execLaunch(config, 'ns-of-up', 'bob', ['id']), /run as that member/);
});

test('setup refuses, in one sentence, a user it cannot make a member: a name vpnns does not accept, one this machine lacks, root', () => {
  const refused = (user: string, re: RegExp) => assert.throws(() => requireMemberCandidate(user), (e: unknown) => e instanceof UsageError && re.test(e.message), user);
  refused('Bad!', /^--user "Bad!" is not a user name vpnns accepts/);
  refused('nosuchuser-a14', /^user "nosuchuser-a14" does not exist on this machine; create it first/);
  refused('root', /^root needs no membership/);
});
