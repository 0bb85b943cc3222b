// The sandbox renderer (channels, environment) and its root script, run for real in a private mount
// namespace (`unshare --mount`, no network namespace needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envPath, sandboxPlan, SANDBOX_DEFAULTS } from '../../src/sandbox/channels.js';
import { encodeEnv, ENV_SCRIPT, hideArgs, programEnv, SANDBOX_SCRIPT } from '../../src/sandbox/launch.js';
import { renderLaunch } from '../../src/sandbox/index.js';
import { helperEnv, withoutLoaderVars } from '../../src/sandbox/clean-env.js';
import { run } from '../../src/sys/exec.js';
import { findTool } from '../../src/sys/tools.js';

const t = { uid: 1000, home: '/home/alice', env: {} };

test('sandboxPlan: every channel hidden by default but Docker; tmux directory made if missing', () => {
  const p = sandboxPlan(undefined, t);
  // A keep is a path bound back into the runtime directory's cover: reachable, not hidden.
  const paths = p.hide.filter((h) => h.kind !== 'keep').map((h) => h.path);
  for (const x of ['/tmp/tmux-1000', '/run/screen', '/run/user/1000/bus', '/run/user/1000/systemd', '/run/dbus/system_bus_socket', '/run/systemd/resolve', '/run/nscd', '/tmp/.X11-unix', '/run/user/1000/gnupg']) {
    assert.ok(paths.includes(x), x);
  }
  assert.ok(!paths.some((x) => x.includes('docker')), 'docker.sock reachable by default');
  // The rest of the runtime directory is covered, last, after the allowed channel there is opened to be bound back.
  assert.ok(paths.includes('/tmp/vscode-*.sock') && paths.includes('/tmp/emacs1000') && paths.includes('/tmp/ssh-*'), 'editors and a hand-started ssh-agent');
  assert.equal(p.hide[0]?.kind, 'keep');
  assert.equal(p.hide[0]?.path, '/run/user/1000/docker.sock');
  const cover = p.hide.findIndex((h) => h.channel === 'runtimeDir');
  assert.equal(p.hide[cover]?.path, '/run/user/1000');
  assert.ok(p.hide.slice(cover + 1).every((h) => !h.path.startsWith('/run/user/1000/') || h.kind !== 'keep'), 'no keep after the cover');
  assert.deepEqual(sandboxPlan({ ...SANDBOX_DEFAULTS, runtimeDir: true }, t).hide.filter((h) => h.kind === 'keep' || h.channel === 'runtimeDir'), [], 'runtimeDir: true, nothing to bind back');
  assert.equal(p.hide.find((h) => h.path === '/tmp/tmux-1000')?.create, true);
  for (const v of ['TMUX', 'DBUS_SESSION_BUS_ADDRESS', 'SSH_AUTH_SOCK', 'DISPLAY', 'WAYLAND_DISPLAY']) assert.ok(p.unset.includes(v), v);
  assert.ok(!p.unset.includes('DOCKER_HOST'));
  assert.equal(SANDBOX_DEFAULTS.docker, true);
});

test('sandboxPlan: a channel set to true stays reachable; docker false hides it', () => {
  const p = sandboxPlan({ ...SANDBOX_DEFAULTS, tmux: true, docker: false }, t);
  assert.ok(!p.hide.some((h) => h.channel === 'tmux'));
  assert.ok(!p.unset.includes('TMUX'));
  assert.ok(p.hide.some((h) => h.path === '/run/docker.sock'));
  assert.ok(p.unset.includes('DOCKER_HOST'));
  const open = sandboxPlan(Object.fromEntries(Object.keys(SANDBOX_DEFAULTS).map((k) => [k, true])) as never, t);
  assert.deepEqual(open, { hide: [], unset: [] });
});

test('sandboxPlan: paths from the environment only when absolute and without `..`', () => {
  assert.equal(envPath('/tmp//a/./b'), '/tmp/a/b');
  assert.equal(envPath('rel/x'), undefined);
  assert.equal(envPath('/tmp/../etc'), undefined);
  assert.equal(envPath(''), undefined);
  const p = sandboxPlan(undefined, { ...t, env: { SSH_AUTH_SOCK: '/tmp/ssh-X/agent.1', TMUX_TMPDIR: '/var/tmp', WAYLAND_DISPLAY: 'wayland-0' } });
  assert.ok(p.hide.some((h) => h.path === '/tmp/ssh-X/agent.1' && h.kind === 'socket'));
  assert.ok(p.hide.some((h) => h.path === '/var/tmp/tmux-1000' && h.kind === 'dir'));
  assert.ok(!p.hide.some((h) => h.path === 'wayland-0'));
});

test('programEnv: hidden channels and runuser\'s own variables dropped; the app\'s env on top', () => {
  const user = { name: 'alice', uid: 1000, gid: 1000 };
  const env = programEnv({ HOME: '/root', TMUX: 'x', KEEP: 'k', PATH: '/bin' }, { LD_PRELOAD: '/tmp/x.so', HOME: '/evil' }, ['TMUX'], user);
  assert.deepEqual(env, { KEEP: 'k', PATH: '/bin', LD_PRELOAD: '/tmp/x.so' });
  assert.equal(encodeEnv({ A: '1', B: 'two\nlines' }).toString(), 'A=1\0B=two\nlines\0');
});

test('renderLaunch: the first process gets the helpers\' clean environment; secrets never on argv', () => {
  const l = renderLaunch({
    ns: 'n', user: { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice', shell: '/bin/bash' }, sandbox: undefined, cmd: ['id'],
    callerEnv: { LD_PRELOAD: '/tmp/evil.so', NODE_OPTIONS: '--require /tmp/evil.js', SECRET: 's3cret' }, extraEnv: { API_KEY: 'k3y' },
  });
  assert.deepEqual(l.env, helperEnv());
  assert.ok(!l.argv.some((a) => /s3cret|k3y|evil/.test(a)), 'no value on argv');
  assert.match(l.payload.toString(), /LD_PRELOAD=\/tmp\/evil\.so\0/);
  assert.match(l.payload.toString(), /API_KEY=k3y\0/);
  assert.match(l.payload.toString(), /SHELL=\/bin\/bash\0/);
});

test('withoutLoaderVars: loader and interpreter variables never reach the short root commands', () => {
  const env = withoutLoaderVars({ LD_PRELOAD: 'x', LD_LIBRARY_PATH: 'x', NODE_OPTIONS: 'x', GCONV_PATH: 'x', PERL5OPT: 'x', BASH_ENV: 'x', PATH: '/bin', NOTIFY_SOCKET: '/run/n' });
  assert.deepEqual(env, { PATH: '/bin', NOTIFY_SOCKET: '/run/n' });
});

// A root shell's PATH with `.`, an empty entry or a user's bin directory (sudo's secure_path
// hides this, `su` or a root login does not): root found `ip` and `nft` there (seen: a planted ./ip
// and ./nft wrote their marker as uid 0 during `vpnns up --dry-run`), and `openvpn` for the client.
test('the short root commands and the programs root runs are found in the system directories, never through the PATH vpnns was started with', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const planted = mkdtempSync(join(tmpdir(), 'vpnnsut-path-'));
  const saved = { path: process.env.PATH, cwd: process.cwd() };
  try {
    for (const p of ['ip', 'openvpn']) writeFileSync(join(planted, p), '#!/bin/sh\necho planted\n', { mode: 0o755 });
    for (const path of [`${planted}:${saved.path}`, `:${saved.path}`, `.:${saved.path}`]) {
      process.env.PATH = path;
      process.chdir(planted);
      assert.doesNotMatch((await run(['ip', '-V'], { allowFail: true })).stdout, /planted/, path);
      for (const tool of ['ip', 'openvpn']) assert.ok(!(await findTool(tool))?.startsWith(planted), `${tool} with PATH=${path}`);
    }
  } finally {
    process.env.PATH = saved.path;
    process.chdir(saved.cwd);
    rmSync(planted, { recursive: true, force: true });
  }
});

const root = process.getuid?.() === 0 && spawnSync('unshare', ['--mount', 'true']).status === 0;

test('SANDBOX_SCRIPT covers real directories and sockets, never through a symlink, never a stranger\'s directory', { skip: !root && 'needs root and unshare' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-sandbox-'));
  try {
    const hidden = join(dir, 'hidden');
    mkdirSync(hidden);
    writeFileSync(join(hidden, 'secret'), 'x');
    const target = join(dir, 'target');
    mkdirSync(target);
    writeFileSync(join(target, 'kept'), 'x');
    symlinkSync(target, join(dir, 'link'));
    const stranger = join(dir, 'stranger');
    mkdirSync(stranger);
    writeFileSync(join(stranger, 'kept'), 'x');
    chownSync(stranger, 4242, 4242);
    const plain = join(dir, 'plain-file');
    writeFileSync(plain, 'not a socket');
    const made = join(dir, 'made');
    // A private (user-writable) tmpfs covers only a directory the user owns, never root's.
    const rootOwned = join(dir, 'root-owned');
    mkdirSync(rootOwned);
    writeFileSync(join(rootOwned, 'kept'), 'x');
    const hide = hideArgs([
      { kind: 'dir', path: hidden, channel: 'tmux' },
      { kind: 'dir', path: join(dir, 'link'), channel: 'tmux' },
      { kind: 'dir', path: stranger, channel: 'tmux' },
      { kind: 'socket', path: plain, channel: 'sshAgent' },
      { kind: 'dir', path: made, create: true, channel: 'tmux' },
      { kind: 'dir', path: rootOwned, private: true, channel: 'tmux' },
      { kind: 'dir', path: join(dir, 'missing'), channel: 'tmux' },
    ]);
    const show = `for d in hidden link stranger made root-owned; do printf '%s:' $d; ls -A "$0/$d" | tr '\\n' ' '; echo; done; cat "$0/plain-file"; echo; stat -c '%u %a' "$0/made"`;
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '/usr/bin/perl', '-e', SANDBOX_SCRIPT, '--', '1000', '1000', ...hide, '--', '/bin/sh', '-c', show, dir], { encoding: 'utf8', env: helperEnv() });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `hidden:\nlink:kept \nstranger:kept \nmade:\nroot-owned:kept \nnot a socket\n1000 700\n`);
    // Inside, a fresh tmpfs of the user's (tmux inside starts its own server); outside, the directory made for them.
    const outside = spawnSync('stat', ['-c', '%u %a', made], { encoding: 'utf8' });
    assert.equal(outside.stdout.trim(), '1000 700');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ENV_SCRIPT sets the environment read from a file (the units\' source; exec uses fd 3) and execs; exit codes pass through', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-env-'));
  try {
    const file = join(dir, 'env0');
    writeFileSync(file, encodeEnv({ A: 'a b', B: 'x=y' }));
    const f = spawnSync('/usr/bin/perl', ['-e', ENV_SCRIPT, '--', file, '--', '/bin/sh', '-c', 'echo "$A|$B"; exit 7'], { encoding: 'utf8', env: helperEnv() });
    assert.equal(f.status, 7, f.stderr);
    assert.equal(f.stdout, 'a b|x=y\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SANDBOX_SCRIPT: a socket named by the environment is covered only if the user owns it', { skip: !root && 'needs root and unshare' }, async () => {
  const { createServer } = await import('node:net');
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-sandbox-'));
  const servers = ['mine', 'roots'].map((n) => createServer().listen(join(dir, n)));
  try {
    await Promise.all(servers.map((s) => new Promise((r) => s.once('listening', r))));
    chownSync(join(dir, 'mine'), 1000, 1000);
    const hide = hideArgs([
      { kind: 'socket', path: join(dir, 'mine'), private: true, channel: 'sshAgent' },
      { kind: 'socket', path: join(dir, 'roots'), private: true, channel: 'sshAgent' },
    ]);
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '/usr/bin/perl', '-e', SANDBOX_SCRIPT, '--', '1000', '1000', ...hide, '--', '/usr/bin/stat', '-c', '%n %F', join(dir, 'mine'), join(dir, 'roots')], { encoding: 'utf8', env: helperEnv() });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${join(dir, 'mine')} character special file\n${join(dir, 'roots')} socket\n`);
  } finally {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
