// The supervisor as a daemon, tried from the outside: the CLI reaches it on one root-only control
// socket; a frozen supervisor (SIGSTOP) makes `publish add` and `app start` fail promptly with one
// sentence and change nothing; an app that exits at once crash-loops with a capped backoff, shown
// in `app status` with its restart count and exit code, while the supervisor's RSS and open fds
// stay put and the other app is never restarted; a user without root still gets `status`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { startHarness, unprivilegedBin, RUN_DIR, type Harness } from './harness.js';

let h: Harness;
let cfg: string;
let base: { apps: Record<string, unknown> } & Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Status {
  supervisor?: { pid: number };
  components: Record<string, { state: string; pid?: number; restarts: number; crashLooping?: boolean; lastExitCode?: number | null }>;
}

before(async () => {
  h = await startHarness({ openvpn: false }, 'k');
  base = {
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    supervisor: { probeInterval: 0 },
    apps: {
      steady: { command: ['/bin/sleep', '100000'], autostart: true, requireVpn: false },
      crasher: { command: ['/bin/sh', '-c', 'exit 7'], autostart: true, requireVpn: false },
    },
  };
  cfg = h.config(base);
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await h?.cleanup();
});

const status = async (): Promise<Status> => JSON.parse((await h.vpnns(['status', '--config', cfg, '--json', '--no-probe'])).stdout) as Status;
const rssKiB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

test('the control socket is root-only, in the namespace run directory; wanted/ and SIGUSR1 are gone', async () => {
  const sock = `${RUN_DIR}/${h.ns}/control.sock`;
  const st = statSync(sock);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
  assert.equal(st.uid, 0);
});

test('a crash-looping app: capped backoff, shown as crash-looping with restarts and exit code; the supervisor stays bounded; the other app untouched', { timeout: 240_000 }, async () => {
  let st = await status();
  const sup = st.supervisor!.pid;
  const steady = st.components['app-steady']!.pid;
  // Under the default backoff (0, 1, 2, 4, 8 s...) a handful of restarts take ~15 s.
  for (let i = 0; i < 100 && (st.components['app-crasher']?.restarts ?? 0) < 5; i++) {
    await sleep(500);
    st = await status();
  }
  const c = st.components['app-crasher']!;
  assert.ok(c.restarts >= 5, JSON.stringify(c));
  assert.equal(c.crashLooping, true);
  assert.equal(c.lastExitCode, 7);
  const rss0 = rssKiB(sup);
  const fd0 = fds(sup);
  const rows = JSON.parse((await h.vpnns(['app', 'status', '--config', cfg, '--json'])).stdout) as Array<{ name: string; state: string; restarts: number; lastExitCode?: number }>;
  const row = rows.find((r) => r.name === 'crasher')!;
  assert.equal(row.state, 'crash-looping');
  assert.equal(row.lastExitCode, 7);
  const table = await h.vpnns(['app', 'status', '--config', cfg]);
  assert.match(table.stdout, /crasher\s+crash-looping/);
  assert.match(table.stdout, /crasher: last error: exited \(code 7\) \(exit code 7\)/);
  // Bounded: restarts keep coming, but no faster than the cap allows, and nothing grows.
  await sleep(20_000);
  st = await status();
  assert.ok(st.components['app-crasher']!.restarts - c.restarts <= 3, `backoff is capped and doubling: ${c.restarts} -> ${st.components['app-crasher']!.restarts}`);
  assert.equal(st.components['app-steady']!.pid, steady, 'the other app was never restarted');
  assert.ok(rssKiB(sup) - rss0 < 8 * 1024, `RSS ${rss0} -> ${rssKiB(sup)} KiB`);
  assert.ok(fds(sup) <= fd0 + 2, `fds ${fd0} -> ${fds(sup)}`);
});

test('a frozen supervisor: publish add and app start fail within seconds, one sentence, exit 1, nothing changed', { timeout: 120_000 }, async () => {
  const sup = (await status()).supervisor!.pid;
  process.kill(sup, 'SIGSTOP');
  try {
    for (const args of [['publish', 'add', '3000', '--host', '127.0.0.1:18333'], ['app', 'stop', 'steady']]) {
      const t0 = Date.now();
      const r = await h.vpnns([...args, '--config', cfg], { timeoutMs: 30_000 });
      const s = (Date.now() - t0) / 1000;
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`the supervisor of ${h.ns} did not answer within 5 s; nothing was changed; see \`vpnns logs supervisor\``));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(s < 12, `answered in ${s} s`);
    }
    // The rest of what asks it: the same sentence (it says "within 5 s": the ping's deadline, not a
    // request's), exit 1. `app status` is not the file's stale table given as a live one; `up` with a
    // changed config stops before it saves the config or rewrites a file.
    const files = () => ['state.json', 'summary.json', 'published.json'].map((f) => { try { return readFileSync(`${RUN_DIR}/${h.ns}/${f}`, 'utf8'); } catch { return ''; } });
    const before = files();
    const changed = h.config({ ...JSON.parse(JSON.stringify(base)), apps: { ...base.apps, third: { command: ['/bin/sleep', '100000'], requireVpn: false } } }, `${h.world.dir}/changed.yaml`);
    for (const [args, conf] of [[['publish', 'remove', '127.0.0.1:18333'], cfg], [['publish', 'list'], cfg], [['app', 'start', 'steady'], cfg], [['app', 'status'], cfg], [['up'], changed], [['up'], cfg]] as const) {
      const r = await h.vpnns([...args, '--config', conf], { timeoutMs: 60_000 });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout} ${r.stderr}`);
      const said = r.stderr.trim().split('\n').filter((l) => !l.startsWith('WARNING: '));
      assert.deepEqual(said.length, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(said[0]!, new RegExp(`the supervisor of ${h.ns} did not answer within 5 s; nothing was changed; see \`vpnns logs supervisor\`, and if it stays silent, \`sudo vpnns down\` then \`sudo vpnns up\` start it over\\.$`));
      assert.equal(r.stdout, '', `${args.join(' ')} said it did something: ${r.stdout}`);
    }
    assert.deepEqual(files(), before, 'state.json, summary.json and published.json are as they were');
    // status still answers, from status.json, says the supervisor does not answer, and is not "healthy".
    const t0 = Date.now();
    const r = await h.vpnns(['status', '--config', cfg, '--no-probe'], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /not answering on its control socket/);
    assert.ok(Date.now() - t0 < 15_000);
  } finally {
    process.kill(sup, 'SIGCONT');
  }
  const list = JSON.parse((await h.vpnns(['publish', 'list', '--config', cfg, '--json'])).stdout) as Array<{ listen: string }>;
  assert.ok(!list.some((p) => p.listen === '127.0.0.1:18333'), 'the port was not added');
  const st = await status();
  assert.equal(st.components['app-steady']!.state, 'running', 'the app was not stopped');
  assert.equal(st.components['app-third'], undefined, 'the changed config was not taken on');
  // And it answers again.
  const add = await h.vpnns(['publish', 'add', '3000', '--host', '127.0.0.1:18333', '--config', cfg]);
  assert.equal(add.code, 0, add.stderr);
  const rm = await h.vpnns(['publish', 'remove', '127.0.0.1:18333', '--config', cfg]);
  assert.equal(rm.code, 0, rm.stderr);
});

test('a user without root gets status (from status.json); the control socket refuses them', async () => {
  const bin = unprivilegedBin();
  const r = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, 'status', '--namespace', h.ns, '--json', '--no-probe'], { cwd: '/tmp' });
  assert.equal(r.code, 0, r.stderr);
  const st = JSON.parse(r.stdout) as Status & { limited?: string };
  assert.equal(st.components['app-steady']?.state, 'running');
  assert.ok(st.limited);
  const app = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, 'app', 'status', '--namespace', h.ns], { cwd: '/tmp' });
  assert.equal(app.code, 0, app.stderr);
  // The apps as status.json has them (the config they run is root's), not "no apps in the config".
  assert.match(app.stdout, /^steady\s+running\s+\d+/m, app.stdout);
  assert.match(app.stdout, /^crasher\s+crash-looping/m, app.stdout);
  const one = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, 'app', 'status', 'steady', '--namespace', h.ns, '--json'], { cwd: '/tmp' });
  assert.equal(one.code, 0, one.stderr);
  assert.deepEqual((JSON.parse(one.stdout) as Array<{ name: string; state: string }>).map((r) => [r.name, r.state]), [['steady', 'running']]);
  // The socket itself: a connect as that user is refused by the kernel (0600, root's).
  const probe = "require('node:net').connect(process.argv.at(-1)).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => console.log(e.code))";
  const sock = await h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', probe, `${RUN_DIR}/${h.ns}/control.sock`], { cwd: '/tmp' });
  assert.equal(sock.stdout.trim(), 'EACCES', sock.stdout + sock.stderr);
});

test('down with a frozen supervisor: it is let run to stop its services itself, and everything is removed', { timeout: 120_000 }, async () => {
  const st = await status();
  const sup = st.supervisor!.pid;
  const steady = st.components['app-steady']!.pid!;
  process.kill(sup, 'SIGSTOP');
  let r;
  try {
    r = await h.vpnns(['down', '--config', cfg], { timeoutMs: 90_000 });
  } finally {
    try {
      process.kill(sup, 'SIGCONT');
    } catch {
      /* gone, as it should be */
    }
  }
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /is down\./);
  // It handled the SIGTERM itself (SIGKILLed after the grace time, it would have logged nothing).
  const log = readFileSync(`${h.world.dir}/vpnns-log/${h.ns}/vpnns.log`, 'utf8');
  assert.match(log, /"msg":"supervisor stopping"/);
  const gone = (pid: number) => { try { return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return true; } };
  assert.ok(gone(sup), 'the supervisor ended');
  assert.ok(gone(steady), 'its app ended');
});
