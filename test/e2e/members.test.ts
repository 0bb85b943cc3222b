// No sudo for members (issue 18, point 3), end to end with real sudo: `vpnns setup --user NAME`
// makes NAME a member; NAME then runs exec, app, status, check and list without a password and
// without sudo, programs run as NAME, and nothing NAME controls (--user, --config, --namespace, the
// environment) makes root do more. This test writes /etc/sudoers.d/vpnns, /usr/local/libexec/vpnns-member
// and group vpnns for real (the only honest way to prove sudo's part), and only when none of them
// exist before it; after() removes them even when a test fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { REPO, startHarness, unprivilegedBin, type Harness } from './harness.js';
import { addTestUser, hostileLoaders, geminiCalls, geminiWorld, kiloBinary, kiloEnv, kiloSkip, GEMINI_HOST, GEMINI_REPLY, type TestUser } from './real-programs.js';
import { MEMBER_ENTRY, MEMBER_GROUP, SUDO, SUDOERS_DROPIN } from '../../src/members/policy.js';
import { installationProblem } from '../../src/members/install-check.js';

const groupExists = () => readFileSync('/etc/group', 'utf8').split('\n').some((l) => l.split(':')[0] === MEMBER_GROUP);
const skip = !existsSync(SUDO)
  ? 'sudo is not installed (apt-get install sudo)'
  : !existsSync('/usr/bin/gcc')
    ? 'gcc is not installed (apt-get install gcc)'
    : existsSync(SUDOERS_DROPIN) || existsSync(MEMBER_ENTRY) || groupExists()
      ? `this machine has vpnns members set up already (${SUDOERS_DROPIN}, ${MEMBER_ENTRY} or group ${MEMBER_GROUP}); the test leaves them alone`
      : installationProblem(REPO.replace(/\/$/, ''), process.execPath)
        ? `setup refuses this checkout for members (${installationProblem(REPO.replace(/\/$/, ''), process.execPath)})`
        : false;

let h: Harness;
let member: TestUser;
let stranger: TestUser;
let cfg: string;
let bin: string;
/** Markers written by the hostile library and script: `<kind>-uid<N>-<pid>`. */
let markers: string;
let evil: string;
/** A file that a program run as root would create (it must never exist). */
let rootMarker: string;

/** The plain environment of a login as USER (no SUDO_*, nothing of the test's). */
function loginEnv(u: TestUser, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: u.home, USER: u.name, LOGNAME: u.name, LANG: 'C.UTF-8', ...extra };
}

/**
 * ARGV run as USER with a login's environment, set by `env -i` after runuser's drop (runuser itself
 * runs as root here: an LD_PRELOAD in its environment would be the test's own root process).
 */
const asRaw = (u: TestUser, argv: string[], extra: Record<string, string> = {}) =>
  h.world.inHost(['/usr/sbin/runuser', '-u', u.name, '--', '/usr/bin/env', '-i', ...Object.entries(loginEnv(u, extra)).map(([k, v]) => `${k}=${v}`), ...argv], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, cwd: u.home });

/** `vpnns ARGS` typed by USER (no sudo), stdin at its end: nothing can answer a password prompt. */
const as = (u: TestUser, args: string[], extra: Record<string, string> = {}) => asRaw(u, [process.execPath, bin, ...args], extra);

const oneSentence = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0]!, /^vpnns: .+[.;:]?/);
};

const uidOf = (pid: number) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1]);

/** Every process below PID (from /proc/N/stat's parent field). */
/** A process's command line, or '' once it has exited (a launch's helpers come and go while we look). */
function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* exited */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) out.push(c), walk(c);
  };
  walk(pid);
  return out;
}

function markerFiles(): string[] {
  return readdirSync(markers).sort();
}

before(async () => {
  if (skip) return;
  h = await startHarness({ openvpn: false, ...geminiWorld }, 'm');
  member = addTestUser(`${h.world.prefix}m`);
  stranger = addTestUser(`${h.world.prefix}x`);
  bin = unprivilegedBin();
  rootMarker = join(h.world.dir, 'ran-as-root');
  // The hostile library and script: each start writes a marker naming its uid.
  evil = join(member.home, 'evil');
  markers = hostileLoaders(evil);
  // The member's own config, with an app as root that would leave the marker: never to be used.
  const mine = join(member.home, 'mine.yaml');
  writeFileSync(mine, stringify({ namespace: h.ns, apps: { evil: { command: ['/usr/bin/touch', rootMarker], user: 'root' } } }));
  chownSync(mine, member.uid, member.uid);
  // Kilo (when the test cache has it) against the world's mock Gemini API, as in kilo.test.ts.
  const kiloTmp = join(member.home, 'tmp');
  const ca = join(member.home, 'test-ca.pem');
  mkdirSync(kiloTmp);
  chownSync(kiloTmp, member.uid, member.uid);
  writeFileSync(ca, readFileSync(h.world.caCert));
  const kilo = kiloBinary();
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig(), connectTimeout: 10 },
    apps: {
      mine: { command: ['/bin/sleep', '600'], user: member.name, autostart: true },
      theirs: { command: ['/bin/sleep', '600'], user: stranger.name, autostart: true },
      ...(kilo && { kilo: { command: [kilo], env: kiloEnv(`https://${GEMINI_HOST}/v1beta`, ca, kiloTmp) } }),
    },
  });
  const up = await h.vpnns(['up', '--config', cfg]);
  assert.equal(up.code, 0, up.stderr);
  const setup = await h.vpnns(['setup', '--user', member.name]);
  assert.equal(setup.code, 0, setup.stderr);
});

after(async () => {
  if (skip) return;
  try {
    if (member) await h.vpnns(['setup', '--user', member.name, '--remove']);
  } finally {
    // Whatever the command left (it failed, or the test did): this machine's /etc as it was.
    rmSync(SUDOERS_DROPIN, { force: true });
    rmSync(MEMBER_ENTRY, { force: true });
    if (groupExists()) execFileSync('groupdel', [MEMBER_GROUP], { stdio: 'ignore' });
    await h?.cleanup();
    member?.remove();
    stranger?.remove();
  }
});

test('setup installs a drop-in visudo accepts, a root-owned entry, and the group with the member', { skip }, () => {
  execFileSync('visudo', ['-cf', SUDOERS_DROPIN]);
  const st = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${MEMBER_GROUP}:`))!;
  assert.deepEqual(st.split(':')[3]!.split(','), [member.name]);
  assert.match(readFileSync(MEMBER_ENTRY, 'utf8'), /^#!\/bin\/sh\n/);
});

test('a member runs exec without sudo and without a password; the program runs as the member with the member\'s environment', { skip }, async () => {
  const r = await as(member, ['exec', '--namespace', h.ns, '--', 'sh', '-c', 'id -u; id -un; echo "FOO=$FOO"; echo "SUDO=${SUDO_UID-unset}"', 'sh', '--help'], { FOO: 'bar baz' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${member.uid}\n${member.name}\nFOO=bar baz\nSUDO=unset\n`);
  // Without --namespace: no /etc/vpnns/config.yaml here, so the default namespace, which is not up: one sentence.
  const dflt = await as(member, ['exec', '--', 'true']);
  assert.notEqual(dflt.code, 0);
  oneSentence(dflt.stderr);
});

test('--user root or another user is refused for a member; nothing runs', { skip }, async () => {
  for (const who of ['root', stranger.name, '0']) {
    const r = await as(member, ['exec', '--namespace', h.ns, '--user', who, '--', '/usr/bin/touch', rootMarker]);
    assert.equal(r.code, 2, r.stderr);
    oneSentence(r.stderr);
    assert.match(r.stderr, /run as that member/);
  }
  assert.equal(existsSync(rootMarker), false);
});

test('a non-member is refused with one sentence, and sudo refuses the entry to them without a prompt', { skip }, async () => {
  const r = await as(stranger, ['exec', '--namespace', h.ns, '--', '/usr/bin/touch', rootMarker]);
  assert.equal(r.code, 2, r.stderr);
  oneSentence(r.stderr);
  assert.match(r.stderr, new RegExp(`not a member of group ${MEMBER_GROUP}`));
  const direct = await asRaw(stranger, [SUDO, '-n', MEMBER_ENTRY, 'exec', '--namespace', h.ns, '--', '/usr/bin/touch', rootMarker]);
  assert.notEqual(direct.code, 0);
  assert.match(direct.stderr, /password is required|not allowed/);
  assert.equal(existsSync(rootMarker), false);
});

test('a member cannot choose the config file or a namespace path: --config of their own, --namespace ../x are refused', { skip }, async () => {
  const attempts = [
    ['exec', '--config', './mine.yaml', '--', '/usr/bin/touch', rootMarker],
    ['exec', '--namespace', '../x', '--', 'true'],
    ['exec', '--namespace', `../../etc`, '--', 'true'],
    ['app', 'start', 'evil', '--config', './mine.yaml'],
    ['kilo', '--config', './mine.yaml'],
    ['status', '--config', './mine.yaml'],
    ['check', '--config', './mine.yaml'],
  ];
  for (const a of attempts) {
    const r = await as(member, a);
    assert.equal(r.code, 2, `${a.join(' ')}: ${r.stderr}`);
    oneSentence(r.stderr);
  }
  // The entry program itself, called with sudo by hand, holds the same line.
  const direct = await asRaw(member, [SUDO, '-n', MEMBER_ENTRY, 'app', 'start', 'evil', '--config', join(member.home, 'mine.yaml')]);
  assert.equal(direct.code, 2, direct.stderr);
  // The namespace's own config has no app "evil": the member's file was not read.
  const app = await as(member, ['app', 'start', 'evil', '--namespace', h.ns]);
  assert.equal(app.code, 2, app.stderr);
  assert.match(app.stderr, /no app "evil"/);
  assert.equal(existsSync(rootMarker), false, 'nothing ran as root');
});

test('a member reaches only namespaces vpnns runs: another named network namespace is refused, even with --no-vpn-check', { skip }, async () => {
  // The world's "host" namespace: a named netns (/run/netns) that vpnns did not make.
  const foreign = h.world.ns.host;
  for (const a of [['exec', '--namespace', foreign, '--no-vpn-check', '--', '/bin/sh', '-c', `touch ${rootMarker}-foreign`], ['check', '--namespace', foreign, '--brief'], ['status', '--namespace', foreign]]) {
    const r = await as(member, a);
    assert.equal(r.code, 1, `${a.join(' ')}: ${r.stdout}${r.stderr}`);
    oneSentence(r.stderr);
    assert.match(r.stderr, /not up/);
  }
  assert.equal(existsSync(`${rootMarker}-foreign`), false, 'nothing ran in the foreign namespace');
});

test('LD_PRELOAD and NODE_OPTIONS in the member\'s environment never reach a root process', { skip }, async () => {
  const env = { LD_PRELOAD: join(evil, 'evil.so'), NODE_OPTIONS: `--require=${join(evil, 'evil.js')}` };
  const r = await as(member, ['exec', '--namespace', h.ns, '--', 'id', '-u'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), String(member.uid));
  const st = await as(member, ['status', '--namespace', h.ns, '--no-probe'], env);
  assert.equal(st.code, 0, st.stderr);
  // Through sudo by hand too, with the variables on sudo's command line: sudo refuses them.
  const direct = await asRaw(member, [SUDO, '-n', `LD_PRELOAD=${env.LD_PRELOAD}`, MEMBER_ENTRY, 'status', '--namespace', h.ns]);
  assert.notEqual(direct.code, 0);
  const all = markerFiles();
  assert.ok(all.some((m) => m.startsWith(`so-uid${member.uid}-`)), `the library did load for the member's own programs: ${all.join(' ')}`);
  assert.ok(all.some((m) => m.startsWith(`js-uid${member.uid}-`)), `the script did load for the member's own node: ${all.join(' ')}`);
  assert.deepEqual(all.filter((m) => /-uid0-/.test(m)), [], 'no root process loaded them');
});

test('a member runs status, check, list and the app commands of their own app without a password', { skip }, async () => {
  const status = await as(member, ['status', '--namespace', h.ns, '--json', '--no-probe']);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout) as { up: boolean; limited?: string };
  assert.equal(report.up, true);
  assert.equal(report.limited, undefined, 'the full view, as root sees it');
  const list = await as(member, ['list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  assert.ok((JSON.parse(list.stdout) as { namespaces: Array<{ namespace: string }> }).namespaces.some((n) => n.namespace === h.ns));
  const check = await as(member, ['check', '--namespace', h.ns, '--brief']);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.equal((await as(member, ['check', '--namespace', h.ns, '--drill'])).code, 2, '--drill (stops the VPN client) is root\'s');
  assert.equal((await as(member, ['app', 'stop', 'mine', '--namespace', h.ns])).code, 0);
  const start = await as(member, ['app', 'start', 'mine', '--namespace', h.ns]);
  assert.equal(start.code, 0, start.stderr);
  assert.match(start.stdout, new RegExp(`^mine is running as ${member.name} \\(pid (\\d+)\\)`));
  const pid = Number(/pid (\d+)/.exec(start.stdout)![1]);
  // The app's PID is the launch's first (root) helper; the program itself is its descendant.
  const find = () => descendants(pid).find((p) => cmdlineOf(p) === '/bin/sleep\0' + '600\0');
  // Running is reported once the launch started; its last exec (to the program) may follow a moment later.
  let sleeper = find();
  for (let i = 0; i < 50 && !sleeper; i++) sleeper = (await new Promise((r) => setTimeout(r, 100)), find());
  assert.ok(sleeper, `the app's program under pid ${pid} (${cmdlineOf(pid)}): ${descendants(pid).map(cmdlineOf).join(" | ")}`);
  assert.equal(uidOf(sleeper), member.uid, 'the app runs as the member');
  const appStatus = await as(member, ['app', 'status', '--namespace', h.ns, '--json']);
  assert.equal(appStatus.code, 0, appStatus.stderr);
  assert.equal((JSON.parse(appStatus.stdout) as Array<{ name: string; state: string }>).find((a) => a.name === 'mine')?.state, 'running');
  const logs = await as(member, ['app', 'logs', 'mine', '--namespace', h.ns]);
  assert.equal(logs.code, 0, logs.stderr);
  const stop = await as(member, ['app', 'stop', 'mine', '--namespace', h.ns]);
  assert.equal(stop.code, 0, stop.stderr);
  // Another user's app: not the member's to start, stop or read.
  for (const verb of ['start', 'stop', 'logs', 'password']) {
    const r = await as(member, ['app', verb, 'theirs', '--namespace', h.ns]);
    assert.equal(r.code, 2, `${verb}: ${r.stderr}`);
    oneSentence(r.stderr);
  }
  assert.equal((await as(member, ['app', 'install', 'code-server'])).code, 2);
});

test('a member runs Kilo (headless) without sudo: as the member, in their directory, through the VPN', { skip: skip || kiloSkip(), timeout: 200_000 }, async () => {
  const r = await as(member, ['kilo', '--namespace', h.ns, 'run', '--pure', 'Reply with one word: ping']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.ok(r.stdout.includes(GEMINI_REPLY), `Kilo printed the mock's answer:\n${r.stdout}\n${r.stderr}`);
  const call = (await geminiCalls(h.world)).at(-1);
  assert.equal(call?.from, h.world.addr.vpnPublic, 'the call left through the VPN');
  assert.match(call?.prompt ?? '', new RegExp(`Working directory: ${member.home.replaceAll('/', '\\/')}`));
  assert.equal((await as(member, ['kilo', '--namespace', h.ns, '--user', 'root', 'run', 'x'])).code, 2, '--user root refused for kilo too');
});

/**
 * ARGV in a new pty (python's, argv only): reads what it draws until it switches to the alternate
 * screen (or `seconds` pass), then SIGTERMs it and prints what it drew, as JSON, with the exit status.
 */
const PTY_SESSION = `import json, os, pty, select, signal, sys, time
secs = float(sys.argv[1]); argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b''; end = time.time() + secs
while time.time() < end and b'\\x1b[?1049h' not in out:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try: out += os.read(fd, 65536)
        except OSError: break
time.sleep(1)
os.kill(pid, signal.SIGTERM)
end = time.time() + 10; status = None
while time.time() < end:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p: status = os.waitstatus_to_exitcode(st); break
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try: out += os.read(fd, 65536)
        except OSError: pass
print(json.dumps({"out": out.decode("utf-8", "replace"), "status": status}))`;

test('Kilo\'s TUI works for a member: in a pty it takes the terminal (alternate screen) and ends on SIGTERM', { skip: skip || kiloSkip(), timeout: 150_000 }, async () => {
  const r = await asRaw(member, ['/usr/bin/python3', '-c', PTY_SESSION, '90', process.execPath, bin, 'kilo', '--namespace', h.ns], { TERM: 'xterm-256color' });
  assert.equal(r.code, 0, r.stderr);
  const { out, status } = JSON.parse(r.stdout) as { out: string; status: number | null };
  assert.doesNotMatch(out, /not a tty|inappropriate ioctl|vpnns: /i, out);
  assert.ok(out.includes('\x1b[?1049h'), `Kilo switched to the alternate screen: ${JSON.stringify(out.slice(0, 400))}`);
  assert.notEqual(status, null, 'it ended on SIGTERM, through sudo');
});

test('up, down, systemd and setup still need root', { skip }, async () => {
  for (const a of [['up', '--config', cfg], ['down', '--config', cfg], ['systemd', 'install', '--config', cfg], ['setup', '--user', member.name], ['publish', 'add', '9999', '--namespace', h.ns]]) {
    const r = await as(member, a);
    assert.notEqual(r.code, 0, `${a[0]}: ${r.stdout}`);
    oneSentence(r.stderr);
    const direct = await asRaw(member, [SUDO, '-n', MEMBER_ENTRY, ...a]);
    assert.equal(direct.code, 2, `${a[0]} through the entry: ${direct.stderr}`);
  }
  assert.equal((await h.vpnns(['status', '--config', cfg, '--no-probe'])).code, 0, 'still up');
});

test('a program inside the namespace, running as the member, cannot use the member\'s delegation', { skip }, async () => {
  // What an agent confined by `vpnns exec` would try: vpnns (or the entry through sudo) from inside.
  const viaVpnns = await as(member, ['exec', '--namespace', h.ns, '--', process.execPath, bin, 'app', 'stop', 'mine', '--namespace', h.ns]);
  assert.notEqual(viaVpnns.code, 0, viaVpnns.stdout);
  assert.match(viaVpnns.stderr, /not available from inside a network namespace/);
  const viaSudo = await as(member, ['exec', '--namespace', h.ns, '--', SUDO, '-n', MEMBER_ENTRY, 'exec', '--namespace', h.ns, '--', '/usr/bin/touch', rootMarker]);
  assert.notEqual(viaSudo.code, 0, viaSudo.stdout);
  assert.equal(existsSync(rootMarker), false);
});

test('the terminal passes through: a program run by a member in a pty sees a tty and its size', { skip }, async () => {
  // A pty made by python (argv, no shell); stdin of the pty at its end.
  const py = 'import os, pty, sys\nos.environ["COLUMNS"]="0"\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))';
  const r = await asRaw(member, ['/usr/bin/python3', '-c', py, process.execPath, bin, 'exec', '--namespace', h.ns, '--', 'sh', '-c', 'tty; stty size'], { TERM: 'xterm' });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = r.stdout.replace(/\r/g, '');
  assert.match(out, /^\/dev\/pts\/\d+$/m, out);
  assert.match(out, /^\d+ \d+$/m, out);
});

test('setup --remove undoes everything: no membership, no drop-in, no entry, no group, and the member is refused again', { skip }, async () => {
  const r = await h.vpnns(['setup', '--user', member.name, '--remove']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(existsSync(SUDOERS_DROPIN), false);
  assert.equal(existsSync(MEMBER_ENTRY), false);
  assert.equal(groupExists(), false);
  const again = await as(member, ['exec', '--namespace', h.ns, '--', '/usr/bin/touch', rootMarker]);
  assert.equal(again.code, 2, again.stderr);
  oneSentence(again.stderr);
  assert.match(again.stderr, /must run as root/);
  assert.equal(existsSync(rootMarker), false);
});
