// What a root vpnns will run or read on behalf of a VPN config: the command provider's programs
// (only files root alone can change) and the files an .ovpn names (only what the .ovpn's owner could
// read, only regular files). Parts that need chown run only as root.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { trustedCommand } from '../../src/vpn/command.js';
import { readReferencedFile } from '../../src/vpn/referenced-files.js';
import { ConfigError } from '../../src/config/errors.js';

const root = process.getuid?.() === 0;
const NOBODY = 65534;
let dir: string;

before(() => {
  dir = mkdtempSync('/tmp/vpnns-trust-');
  chmodSync(dir, 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode: number, uid?: number): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
  if (uid !== undefined) chownSync(path, uid, uid);
  return path;
}

async function refusal(argv: string[]): Promise<string> {
  try {
    await trustedCommand(argv, 'vpn.start');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.exitCode, 2);
    assert.equal(err.path, 'vpn.start');
    return err.message;
  }
  assert.fail(`accepted ${argv.join(' ')}`);
}

test('command provider: the program must be an absolute path that exists', async () => {
  assert.match(await refusal(['openvpn', '--config', 'x']), /^vpn\.start: "openvpn" must be an absolute path: the command runs as root/);
  assert.match(await refusal(['/nonexistent/vpn-client']), /\/nonexistent\/vpn-client does not exist; fix the path\.$/);
  assert.match(await refusal([dir]), /is not a file; name the program itself/);
  assert.deepEqual(await trustedCommand(['/bin/true', 'up'], 'vpn.start'), [execFileSync('realpath', ['/bin/true']).toString().trim(), 'up']);
});

test('command provider: a program or script others can change is refused; a symlink runs its target', { skip: !root && 'needs root (chown)' }, async () => {
  const good = file('vpn-up', '#!/bin/sh\nexit 0\n', 0o755, 0);
  assert.deepEqual(await trustedCommand([good, '--flag'], 'vpn.start'), [good, '--flag']);
  const link = join(dir, 'link-to-true');
  symlinkSync(good, link);
  assert.deepEqual(await trustedCommand([link], 'vpn.start'), [good]);

  const worldWritable = file('ww', '#!/bin/sh\n', 0o777, 0);
  assert.match(await refusal([worldWritable]), /ww runs as root .*but it is writable by every user, so another user could change what root runs; .*chmod go-w/);
  const usersOwn = file('users', '#!/bin/sh\n', 0o755, NOBODY);
  assert.match(await refusal([usersOwn]), /but it is owned by uid 65534/);
  // A trusted interpreter handed a script another user can change runs that user's code.
  const script = file('agent-wrote-this.sh', 'touch /tmp/pwned\n', 0o644, NOBODY);
  assert.match(await refusal(['/bin/sh', script]), /agent-wrote-this\.sh runs as root .*owned by uid 65534/);
  // Handed as an option's value, too.
  assert.match(await refusal(['/bin/true', `--config=${script}`]), /agent-wrote-this\.sh runs as root .*owned by uid 65534/);
  assert.match(await refusal(['/bin/true', `-c=${script}`]), /agent-wrote-this\.sh runs as root .*owned by uid 65534/);
  // A directory others can write (not sticky) lets them swap the file.
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const inOpen = join(open, 'prog');
  writeFileSync(inOpen, '#!/bin/sh\n', { mode: 0o755 });
  assert.match(await refusal([inOpen]), new RegExp(`${open} is writable by every user`));
  // A root-owned sticky directory (like /tmp) is fine: others cannot rename root's entries.
  chmodSync(open, 0o1777);
  assert.deepEqual(await trustedCommand([inOpen], 'vpn.start'), [inOpen]);
});

test('.ovpn files: read only what the config\'s owner could read; regular files only; never hangs', async () => {
  const rootConfig = file('root.ovpn', 'remote 198.51.100.1\n', 0o600);
  const ca = file('ca.crt', 'CERT', 0o600);
  assert.deepEqual(await readReferencedFile(ca, { configFile: rootConfig, block: 'ca' }), { bytes: Buffer.from('CERT') });
  assert.deepEqual(await readReferencedFile(join(dir, 'missing.crt'), { configFile: rootConfig, block: 'ca' }), {
    problem: 'does not exist; fix the path (or paste its contents into a <ca> block)',
  });
  assert.match(((await readReferencedFile(dir, { configFile: rootConfig })) as { problem: string }).problem, /is not a regular file/);
  // A FIFO would make a root process wait forever; it is refused before anything opens it.
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  assert.match(((await readReferencedFile(fifo, { configFile: rootConfig })) as { problem: string }).problem, /is not a regular file/);
  assert.match(((await readReferencedFile('/dev/zero', { configFile: rootConfig })) as { problem: string }).problem, /is not a regular file/);
  const big = file('big', 'x'.repeat((1 << 20) + 1), 0o600);
  assert.match(((await readReferencedFile(big, { configFile: rootConfig })) as { problem: string }).problem, /larger than 1 MiB/);
});

test('.ovpn files: a config owned by another user cannot make root read a root-only file', { skip: !root && 'needs root (chown)' }, async () => {
  const userConfig = file('user.ovpn', 'remote 198.51.100.1\nca /etc/shadow\n', 0o644, NOBODY);
  const shadow = await readReferencedFile('/etc/shadow', { configFile: userConfig, block: 'ca' });
  assert.match((shadow as { problem: string }).problem, /^is not readable by uid 65534 \(the owner of .*user\.ovpn\); vpnns reads only files the config's owner can read$/);
  const rootOnlyKey = file('root-only.key', 'KEY', 0o600, 0);
  assert.ok('problem' in (await readReferencedFile(rootOnlyKey, { configFile: userConfig })));
  // The user's own file, and a world-readable one, are fine.
  const own = file('own.crt', 'MINE', 0o600, NOBODY);
  assert.deepEqual(await readReferencedFile(own, { configFile: userConfig }), { bytes: Buffer.from('MINE') });
  const world = file('world.crt', 'PUBLIC', 0o644, 0);
  assert.deepEqual(await readReferencedFile(world, { configFile: userConfig }), { bytes: Buffer.from('PUBLIC') });
  // World-readable, but in a directory the user cannot enter: as unreadable to them as /etc/shadow.
  const locked = join(dir, 'locked');
  mkdirSync(locked, { mode: 0o700 });
  const hidden = join(locked, 'x.crt');
  writeFileSync(hidden, 'HIDDEN', { mode: 0o644 });
  assert.match(((await readReferencedFile(hidden, { configFile: userConfig })) as { problem: string }).problem, /locked, which uid 65534 .* cannot enter/);
});
