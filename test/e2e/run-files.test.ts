// Nothing world-readable tells a local user the host's real address. The supervisor measures the
// host's own egress (to compare the tunnel's with it); that goes only into root's files. Everything
// else (status without root, the metrics endpoint on the host's loopback) keeps working.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, RUN_DIR, unprivilegedBin, type Harness } from './harness.js';
import { procStat } from '../../src/sys/proc-identity.js';

const METRICS_PORT = 19467;
let h: Harness;
let cfg: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  h = await startHarness({ openvpn: false }, 'rf');
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    supervisor: { healthInterval: 1, probeInterval: 1 },
    metrics: { enabled: true, listen: `127.0.0.1:${METRICS_PORT}` },
    proxies: { socks: { enabled: true, port: 1080 }, http: { enabled: true, port: 1090 } },
  });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await h?.cleanup();
});

/** Files under DIR that a user other than root can read: o+r, in directories o+x all the way down. */
function worldReadable(dir: string): string[] {
  if (!existsSync(dir) || (statSync(dir).mode & 0o001) === 0) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...worldReadable(p));
    else if (e.isFile() && (statSync(p).mode & 0o004) !== 0) out.push(p);
  }
  return out;
}

test('root\'s view has the host\'s own egress (the probe compares with it); no world-readable file, status without root, nor the metrics show it', async (t) => {
  const host = h.world.addr.hostPublic;
  // The supervisor probed the host's egress: root's status shows it.
  let detail: Record<string, unknown> | undefined;
  for (let i = 0; i < 100 && detail?.hostEgressIp === undefined; i++) {
    const r = await h.vpnns(['status', '--json', '--config', cfg]);
    detail = (JSON.parse(r.stdout) as { components: Record<string, { detail?: Record<string, unknown> }> }).components.vpn?.detail;
    if (detail?.hostEgressIp === undefined) await sleep(200);
  }
  assert.equal(detail?.hostEgressIp, host, 'root sees the host\'s egress');
  assert.equal(detail?.egressIp, h.world.addr.vpnPublic);

  const files = [...worldReadable(join(RUN_DIR, h.ns)), ...worldReadable(join(h.world.dir, 'vpnns-log')), ...worldReadable(`/etc/netns/${h.ns}`)];
  t.diagnostic(`world-readable: ${files.join(', ')}`);
  assert.ok(files.includes(join(RUN_DIR, h.ns, 'status.json')), 'status.json stays readable for status without root');
  for (const f of files) assert.ok(!readFileSync(f, 'utf8').includes(host), `${f} holds the host's address`);
  assert.equal(statSync(join(RUN_DIR, h.ns, 'status.private.json')).mode & 0o777, 0o600);
  // The logs (vpnns's, the daemons', the HTTP proxy's own) may name what was requested: root's and their group's only.
  assert.deepEqual(worldReadable(join(h.world.dir, 'vpnns-log')), []);

  const copy = `/tmp/vpnns-runfiles-${h.world.prefix}.yaml`;
  copyFileSync(cfg, copy);
  chmodSync(copy, 0o644);
  try {
    const asUser = (argv: string[]) => h.world.inHost(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...argv]);
    const st = await asUser([process.execPath, unprivilegedBin(), 'status', '--json', '--config', copy]);
    assert.equal(st.code, 0, st.stderr);
    assert.ok(!st.stdout.includes(host), 'status --json without root: no host address');
    assert.equal((JSON.parse(st.stdout) as { components: Record<string, { detail?: Record<string, unknown> }> }).components.vpn?.detail?.egressIp, h.world.addr.vpnPublic, 'but the tunnel\'s egress');
    const priv = await asUser(['cat', join(RUN_DIR, h.ns, 'status.private.json')]);
    assert.notEqual(priv.code, 0, 'the full copy is root\'s');
    const m = await asUser(['curl', '-sS', '--fail', '--max-time', '3', `http://127.0.0.1:${METRICS_PORT}/metrics`]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /vpnns_up 1/);
    assert.ok(!m.stdout.includes(host), 'metrics: no host address');
  } finally {
    rmSync(copy, { force: true });
  }
});

test('down after the supervisor died, when its PID now names a stranger\'s process group (argv alike): the stranger is not signalled', async () => {
  const statePath = join(RUN_DIR, h.ns, 'state.json');
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as { runtime: Record<string, unknown> };
  const sup = state.runtime.supervisorPid as number;
  assert.equal(typeof state.runtime.supervisorStart, 'number', 'up recorded the supervisor\'s start time with its PID');
  // The supervisor and its whole group die, as in a crash...
  process.kill(-sup, 'SIGKILL');
  for (let i = 0; i < 50 && procStat(sup) && procStat(sup)!.state !== 'Z'; i++) await sleep(100);
  // ... and its number goes to a stranger who makes a group of it (simulated: the state points at one).
  const stranger = spawn('/bin/bash', ['-c', `exec -a "vpnns supervise --namespace ${h.ns}" sleep 120`], { detached: true, stdio: 'ignore' });
  try {
    for (let i = 0; i < 50 && !readFileSync(`/proc/${stranger.pid}/cmdline`, 'utf8').includes('supervise'); i++) await sleep(20);
    state.runtime.supervisorPid = stranger.pid;
    writeFileSync(statePath, JSON.stringify(state), { mode: 0o600 });
    const d = await h.vpnns(['down', '--config', cfg]);
    assert.equal(d.code, 0, d.stderr);
    await sleep(300);
    const st = procStat(stranger.pid!);
    assert.ok(st && st.state !== 'Z', 'the stranger\'s group was not signalled');
    assert.equal(existsSync(join(RUN_DIR, h.ns)), false, 'down still removed the rest');
  } finally {
    try {
      process.kill(-stranger.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});
