// The sandbox of `exec`, `kilo` and apps, end to end (security issue 12):
// - local channels: a tmux server the user runs OUTSIDE the namespace (in the world's host
//   namespace) is out of reach from `vpnns exec -- tmux ...` (else `tmux send-keys` runs commands
//   outside, from the host's address); so are the session bus and an ssh-agent socket; the
//   variables naming them are unset; Docker's socket stays reachable by default; each is a config key;
// - environment: a hostile `apps.kilo.env` (LD_PRELOAD of a marker-writing library, NODE_OPTIONS
//   requiring a marker-writing script) reaches the program as the user, never a root process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, startHarness, type Harness } from './harness.js';
import { addTestUser, hostileLoaders, type TestUser } from './real-programs.js';

const skip = !existsSync('/usr/bin/tmux') ? 'tmux is not installed (apt-get install tmux)' : false;
// The Landlock ABI the kernel offers (landlock_create_ruleset with the version flag; -1 without it).
// The launch enters a signal-scoped domain only from ABI 6 (Linux 6.12); SECURITY.md says what an
// older kernel leaves open, so there the /proc test has nothing to prove.
const landlockAbi = Number(execFileSync('/usr/bin/perl', ['-e', 'print syscall(444, 0, 0, 1)'], { encoding: 'utf8' }));
const skipProc = skip || (landlockAbi < 6 ? `this kernel offers Landlock ABI ${landlockAbi}, the launch's domain needs 6 (Linux 6.12)` : false);
const PERL_BIN = '/usr/bin/perl';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: Harness;
let user: TestUser;
let runtime: string;
let madeRuntime = false;
const listeners: ChildProcess[] = [];
/** Where the hostile library and script write their markers: `<kind>-uid<N>-<pid>`. */
let markers: string;
let evil: string;

/** `sudo vpnns ARGS` typed by the test user. */
const asUser = (args: string[], env: Record<string, string> = {}) => h.vpnns(args, { env: { ...process.env, SUDO_USER: user.name, ...env }, cwd: user.home });

/** A command run as the test user in the world's host namespace: OUTSIDE the VPN namespace. */
const outside = (argv: string[]) => h.world.inHost(['/usr/sbin/runuser', '-u', user.name, '--', ...argv]);

/** A unix socket server as the user, outside, answering "hi". */
async function listenAt(path: string): Promise<void> {
  const js = `require('net').createServer((c) => { c.on('error', () => {}); c.end('hi'); }).listen(process.argv[1])`;
  const child = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, '/usr/sbin/runuser', '-u', user.name, '--', process.execPath, '-e', js, path], { stdio: 'ignore' });
  listeners.push(child);
  for (let i = 0; i < 50 && !existsSync(path); i++) await sleep(100);
  assert.ok(existsSync(path), `listener at ${path}`);
}

/** Inside, as the user: can it connect to PATH? Prints `connected` or `refused <code>`. */
const CONNECT = `require('net').connect(process.argv[1]).on('connect', function () { console.log('connected'); this.destroy(); }).on('error', (e) => console.log('refused', e.code))`;

function markerFiles(): string[] {
  return readdirSync(markers).sort();
}

before(async () => {
  if (skip) return;
  h = await startHarness({ openvpn: false });
  user = addTestUser(`${h.world.prefix}s`);
  runtime = `/run/user/${user.uid}`;
  if (!existsSync(runtime)) {
    mkdirSync(runtime, { mode: 0o700 });
    chownSync(runtime, user.uid, user.uid);
    madeRuntime = true;
  }
  // The hostile library and script: each start writes a marker naming its uid.
  evil = join(user.home, 'evil');
  markers = hostileLoaders(evil);
  const cfg = h.config({ dns: [h.world.addr.ispResolver] });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  // The user's tmux server, outside the namespace, at the default socket /tmp/tmux-UID/default.
  const t = await outside(['tmux', 'new-session', '-d', '-s', 'outside', 'sleep 600']);
  assert.equal(t.code, 0, t.stderr);
});

after(async () => {
  if (skip) return;
  for (const l of listeners) l.kill('SIGKILL');
  if (user) await outside(['tmux', 'kill-server']).catch(() => undefined);
  await h?.cleanup();
  user?.remove();
  if (madeRuntime) rmSync(runtime, { recursive: true, force: true });
  rmSync(`/tmp/tmux-${user?.uid}`, { recursive: true, force: true });
});

test('tmux escape: the user\'s tmux server outside is unreachable from `vpnns exec -- tmux`, TMUX unset', { skip }, async () => {
  const cfg = h.config({ dns: [h.world.addr.ispResolver] });
  // The server is there: outside, as the user, it answers.
  assert.equal((await outside(['tmux', 'has-session', '-t', 'outside'])).code, 0);
  const has = await asUser(['exec', '--config', cfg, '--', 'tmux', 'has-session', '-t', 'outside']);
  assert.notEqual(has.code, 0, `tmux inside reached the server outside: ${has.stdout}${has.stderr}`);
  const send = await asUser(['exec', '--config', cfg, '--', 'tmux', 'send-keys', '-t', 'outside', 'touch /tmp/escaped', 'Enter']);
  assert.notEqual(send.code, 0, 'send-keys reached the server outside');
  const seen = await asUser(['exec', '--config', cfg, '--', 'sh', '-c', `ls -A /tmp/tmux-${user.uid}; echo "TMUX=\${TMUX-unset}"`], { TMUX: `/tmp/tmux-${user.uid}/default,1,0` });
  assert.equal(seen.code, 0, seen.stderr);
  assert.equal(seen.stdout.trim(), 'TMUX=unset', 'an empty directory inside, and no TMUX');
  // tmux inside still works: its own server, in the private directory, unseen outside.
  const own = await asUser(['exec', '--config', cfg, '--', 'sh', '-c', 'tmux new-session -d -s inside "sleep 30" && tmux has-session -t inside && tmux ls | wc -l && tmux kill-server']);
  assert.equal(own.code, 0, own.stderr);
  assert.equal(own.stdout.trim(), '1', 'only the inside session, not the outside one');
  assert.notEqual((await outside(['tmux', 'has-session', '-t', 'inside'])).code, 0, 'the inside server is not the outside one');
  assert.equal((await outside(['tmux', 'has-session', '-t', 'outside'])).code, 0, 'the outside server is untouched');
});

test('sandbox.tmux: true leaves the channel open (what the default closes)', { skip }, async () => {
  const cfg = h.config({ dns: [h.world.addr.ispResolver], sandbox: { tmux: true } });
  const has = await asUser(['exec', '--config', cfg, '--', 'tmux', 'has-session', '-t', 'outside']);
  assert.equal(has.code, 0, `with tmux allowed, the server outside answers: ${has.stderr}`);
});

test('the session bus, an ssh-agent are hidden and their variables unset; Docker\'s socket stays reachable unless sandbox.docker is false', { skip }, async () => {
  const agentDir = join('/tmp', `${h.world.prefix}-ssh`);
  mkdirSync(agentDir, { mode: 0o700 });
  chownSync(agentDir, user.uid, user.uid);
  try {
    const agent = join(agentDir, 'agent.1');
    await listenAt(`${runtime}/bus`);
    await listenAt(agent);
    // Rootless Docker's socket: the user's own, so this test touches nothing of the machine's.
    await listenAt(`${runtime}/docker.sock`);
    const env = { DBUS_SESSION_BUS_ADDRESS: `unix:path=${runtime}/bus`, SSH_AUTH_SOCK: agent, XDG_RUNTIME_DIR: runtime, KEEPME: 'kept' };
    const probe = (cfg: string) =>
      asUser(['exec', '--config', cfg, '--', 'sh', '-c', `for s in "$1/bus" "$2" "$1/docker.sock"; do "$3" -e "$4" "$s"; done; echo "$DBUS_SESSION_BUS_ADDRESS|$SSH_AUTH_SOCK|$KEEPME"`, 'sh', runtime, agent, process.execPath, CONNECT], env);
    // Outside, all three answer.
    for (const s of [`${runtime}/bus`, agent, `${runtime}/docker.sock`]) assert.match((await outside([process.execPath, '-e', CONNECT, s])).stdout, /connected/, s);
    const dflt = await probe(h.config({ dns: [h.world.addr.ispResolver] }));
    assert.equal(dflt.code, 0, dflt.stderr);
    const [bus, ssh, docker, vars] = dflt.stdout.trim().split('\n');
    assert.match(bus!, /refused/, 'session bus hidden');
    assert.match(ssh!, /refused/, 'ssh-agent hidden');
    assert.equal(docker, 'connected', 'docker.sock reachable by default');
    assert.equal(vars, '||kept', 'DBUS_SESSION_BUS_ADDRESS and SSH_AUTH_SOCK unset, the rest kept');
    const closed = await probe(h.config({ dns: [h.world.addr.ispResolver], sandbox: { docker: false, sshAgent: true } }));
    const [, ssh2, docker2] = closed.stdout.trim().split('\n');
    assert.equal(ssh2, 'connected', 'sandbox.sshAgent: true opens the agent');
    assert.match(docker2!, /refused/, 'sandbox.docker: false hides docker.sock');
  } finally {
    rmSync(agentDir, { recursive: true, force: true });
  }
});

test('no way round the covers through /proc: a program inside cannot reach the user\'s own processes outside (their root, environment, ptrace, signals)', { skip: skipProc }, async () => {
  const cfg = h.config({ dns: [h.world.addr.ispResolver] });
  const pid = (await outside(['tmux', 'display-message', '-p', '-t', 'outside', '#{pid}'])).stdout.trim();
  assert.match(pid, /^\d+$/, 'the tmux server outside has a PID');
  const marker = join(markers, 'escaped-through-proc');
  rmSync(marker, { force: true });
  // The same uid outside: without a Landlock domain, /proc/PID/root is the host's file system,
  // with the tmux socket the cover hides, and ptrace could inject code into the server.
  const via = `/proc/${pid}/root/tmp/tmux-${user.uid}/default`;
  const send = await asUser(['exec', '--config', cfg, '--', 'tmux', '-S', via, 'send-keys', '-t', 'outside', `touch ${marker}`, 'Enter']);
  assert.notEqual(send.code, 0, `send-keys reached the server outside through ${via}`);
  const probe = await asUser(['exec', '--config', cfg, '--', 'sh', '-c', [
    `ls /proc/${pid}/root/ >/dev/null 2>&1 && echo root-open || echo root-closed`,
    `cat /proc/${pid}/environ >/dev/null 2>&1 && echo environ-open || echo environ-closed`,
    `${PERL_BIN} -e 'print syscall(101, 16, $ARGV[0] + 0, 0, 0) == 0 ? "ptrace-open\\n" : "ptrace-closed\\n"' ${pid}`,
    `kill -0 ${pid} 2>/dev/null && echo signal-open || echo signal-closed`,
  ].join('; ')]);
  assert.equal(probe.code, 0, probe.stderr);
  assert.equal(probe.stdout.trim(), 'root-closed\nenviron-closed\nptrace-closed\nsignal-closed');
  for (let i = 0; i < 10; i++) await sleep(100);
  assert.ok(!existsSync(marker), 'the server outside ran nothing');
  // Inside, a program still traces and signals its own children.
  const own = await asUser(['exec', '--config', cfg, '--', 'sh', '-c', `sleep 30 & p=$!; cat /proc/$p/environ >/dev/null && kill $p && echo own-ok`]);
  assert.equal(own.stdout.trim(), 'own-ok', own.stderr);
});

test('the caller\'s other file descriptors do not reach the program: only stdin, stdout and stderr', { skip }, async () => {
  const cfg = h.config({ dns: [h.world.addr.ispResolver] });
  // A shell that holds fds 30 and 47 (a socket of a program outside would be the same), then
  // runs `vpnns exec`: an inherited socket would be a channel the covers never see.
  const script = `exec 30</etc/hostname; exec 47<>/dev/null; exec "$@"`;
  const r = await h.world.inHost(['bash', '-c', script, 'bash', process.execPath, BIN, 'exec', '--config', cfg, '--', 'sh', '-c', 'ls /proc/self/fd | sort -n | tr "\\n" " "'], { env: { ...process.env, SUDO_USER: user.name }, cwd: user.home, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  // ls's own directory fd is the one above 2.
  assert.deepEqual(r.stdout.trim().split(' ').map(Number).filter((n) => n > 3), [], `fds that reached the program: ${r.stdout}`);
});

test('the rest of the runtime directory and the editors are hidden (VS Code\'s IPC, rootless Podman, Emacs, Neovim, Zellij, a hand-started ssh-agent, ssh ControlMaster sockets in ~/.ssh); an allowed channel there is bound back; sandbox.runtimeDir: true opens it', { skip }, async () => {
  const mine = (d: string) => {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chownSync(d, user.uid, user.uid);
  };
  const dirs = [`${runtime}/podman`, `/tmp/emacs${user.uid}`, `/tmp/ssh-${h.world.prefix}`, `/tmp/nvim.${user.name}`, `/tmp/zellij-${user.uid}`, join(user.home, '.ssh')];
  const sockets = {
    vscodeRuntime: `${runtime}/vscode-ipc-${h.world.prefix}.sock`,
    podman: `${runtime}/podman/podman.sock`,
    vscodeTmp: `/tmp/vscode-ipc-${h.world.prefix}.sock`,
    emacs: `/tmp/emacs${user.uid}/server`,
    agent: `/tmp/ssh-${h.world.prefix}/agent.1`,
    nvim: `/tmp/nvim.${user.name}/0`,
    zellij: `/tmp/zellij-${user.uid}/0.40.1/outside`,
    sshMaster: join(user.home, '.ssh', 'cm-git@example.net:22'),
    sshMasterBelow: join(user.home, '.ssh', 'sockets', 'master-x'),
    bus: `${runtime}/bus`,
  };
  try {
    for (const d of dirs) mine(d);
    mine(`/tmp/zellij-${user.uid}/0.40.1`);
    mine(join(user.home, '.ssh', 'sockets'));
    for (const s of Object.values(sockets)) if (!existsSync(s)) await listenAt(s);
    const all = Object.values(sockets);
    const probe = async (sandbox: Record<string, boolean>) => {
      const r = await asUser(['exec', '--config', h.config({ dns: [h.world.addr.ispResolver], sandbox }), '--', 'sh', '-c', 'n=$1; shift; for s in "$@"; do "$n" -e "$0" "$s"; done', CONNECT, process.execPath, ...all]);
      assert.equal(r.code, 0, r.stderr);
      return Object.fromEntries(Object.keys(sockets).map((k, i) => [k, r.stdout.trim().split('\n')[i]!.startsWith('connected')]));
    };
    for (const s of all) assert.match((await outside([process.execPath, '-e', CONNECT, s])).stdout, /connected/, `outside: ${s}`);
    assert.deepEqual(await probe({}), { vscodeRuntime: false, podman: false, vscodeTmp: false, emacs: false, agent: false, nvim: false, zellij: false, sshMaster: false, sshMasterBelow: false, bus: false }, 'all hidden by default');
    assert.deepEqual(await probe({ userBus: true }), { vscodeRuntime: false, podman: false, vscodeTmp: false, emacs: false, agent: false, nvim: false, zellij: false, sshMaster: false, sshMasterBelow: false, bus: true }, 'the allowed bus is bound back into the fresh runtime directory, nothing else');
    assert.deepEqual(await probe({ runtimeDir: true, editors: true, sshAgent: true, tmux: true, sshControl: true }), { vscodeRuntime: true, podman: true, vscodeTmp: true, emacs: true, agent: true, nvim: true, zellij: true, sshMaster: true, sshMasterBelow: true, bus: false }, 'each key opens its part');
  } finally {
    for (const s of [sockets.vscodeRuntime, sockets.vscodeTmp]) rmSync(s, { force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('a hostile apps.kilo.env (LD_PRELOAD, NODE_OPTIONS) reaches the program as the user, never a root process', { skip }, async () => {
  const hostile = { LD_PRELOAD: join(evil, 'evil.so'), NODE_OPTIONS: `--require ${join(evil, 'evil.js')}` };
  const cfg = h.config({
    dns: [h.world.addr.ispResolver],
    apps: { kilo: { command: ['/bin/sh', '-c', `id -u; echo "LD=$LD_PRELOAD"; ${process.execPath} -e 0`], env: hostile } },
  });
  for (const f of markerFiles()) rmSync(join(markers, f));
  const r = await asUser(['kilo', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const [uid, ld] = r.stdout.trim().split('\n');
  assert.equal(uid, String(user.uid));
  assert.equal(ld, `LD=${hostile.LD_PRELOAD}`, 'the program sees the variable');
  const seen = markerFiles();
  assert.ok(seen.some((m) => m.startsWith(`so-uid${user.uid}-`)), `the library loaded into the user's program: ${seen.join(' ')}`);
  assert.ok(seen.some((m) => m.startsWith(`js-uid${user.uid}-`)), `NODE_OPTIONS reached the user's node: ${seen.join(' ')}`);
  assert.deepEqual(seen.filter((m) => /-uid0-/.test(m)), [], 'no root process loaded the library or the script');
});

test('a supervised app gets its env as the user, no root process sees it, and its channels are hidden too', { skip }, async () => {
  const hostile = { LD_PRELOAD: join(evil, 'evil.so'), NODE_OPTIONS: `--require ${join(evil, 'evil.js')}` };
  const out = join(markers, 'app.out');
  const tmuxPid = (await outside(['tmux', 'display-message', '-p', '-t', 'outside', '#{pid}'])).stdout.trim();
  const cfg = h.config({
    dns: [h.world.addr.ispResolver],
    apps: {
      probe: {
        user: user.name,
        autostart: true,
        command: ['/bin/sh', '-c', `{ id -u; echo "LD=$LD_PRELOAD"; ls -A /tmp/tmux-${user.uid} | wc -l; ls /proc/${tmuxPid}/root/ >/dev/null 2>&1 && echo root-open || echo root-closed; ${process.execPath} -e 0; } > ${out}; exec sleep 600`],
        env: hostile,
      },
    },
  });
  await h.vpnns(['down', '--config', cfg]);
  for (const f of markerFiles()) rmSync(join(markers, f));
  rmSync(out, { force: true });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  for (let i = 0; i < 100 && !(existsSync(out) && markerFiles().some((m) => m.startsWith('js-'))); i++) await sleep(100);
  const log = join(h.world.dir, 'vpnns-log', 'app-probe.log');
  assert.ok(existsSync(out), `the app ran: ${existsSync(log) ? readFileSync(log, 'utf8') : 'no log'} ${r.stdout} ${(await h.vpnns(['status', '--config', cfg, '--json'])).stdout}`);
  // Below Landlock ABI 6 the launch has no domain to enter (SECURITY.md: older kernels).
  const proc = landlockAbi >= 6 ? 'root-closed' : 'root-open';
  assert.equal(readFileSync(out, 'utf8').trim(), `${user.uid}\nLD=${hostile.LD_PRELOAD}\n0\n${proc}`, 'as the user, with its env, the tmux directory empty, the server outside out of reach through /proc');
  const seen = markerFiles().filter((m) => m !== 'app.out');
  assert.ok(seen.some((m) => m.startsWith(`js-uid${user.uid}-`)), seen.join(' '));
  assert.deepEqual(seen.filter((m) => /-uid0-/.test(m)), [], 'no root process loaded the library or the script');
  assert.equal((await h.vpnns(['down', '--config', cfg])).code, 0);
});
