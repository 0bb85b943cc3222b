// The host replacing its resolv.conf (NetworkManager, systemd-resolved and dhclient rename a new
// file over it on every network change) detaches the bind mount that puts the namespace's
// resolv.conf in front of a running program: the kernel drops mounts whose mountpoint was renamed
// over in another mount namespace. The supervisor must notice and bind it again.
//
// This machine's /etc is never touched: the program runs in a mount namespace whose /etc is a copy
// with a resolved-style resolv.conf (a symlink to a stub file in another directory), and the test
// renames a new stub over that copy's target.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, BIN, type Harness } from './harness.js';

let h: Harness;
let cfg: string;
let dir: string;
let probe: ChildProcess | undefined;
/** Processes the attack tests start (each in its own process group). */
const attackers: ChildProcess[] = [];
let seen: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  h = await startHarness({ openvpn: false });
  cfg = h.config({
    vpn: { type: 'wireguard', config: await h.world.wireguard!.writeClientConfig() },
    proxies: { socks: { enabled: false }, http: { enabled: false } },
    supervisor: { healthInterval: 1 },
  });
  const r = await h.vpnns(['up', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);

  dir = mkdtempSync('/tmp/vpnns-dnsguard-');
  cpSync('/etc', join(dir, 'etc'), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(dir, 'resolve'));
  writeFileSync(join(dir, 'resolve', 'stub-resolv.conf'), `nameserver ${h.world.addr.ispResolver}\n`);
  rmSync(join(dir, 'etc', 'resolv.conf'), { force: true });
  symlinkSync(join(dir, 'resolve', 'stub-resolv.conf'), join(dir, 'etc', 'resolv.conf'));
  mkdirSync(join(dir, 'etc', 'netns'), { recursive: true });
  // The copy becomes /etc for the program; the live /etc/netns (vpnns's files) shows through it.
  // The paths are arguments of the script, never part of it.
  const script = 'mount --bind /etc/netns "$1/netns" && mount --rbind "$1" /etc && shift && exec "$@"';
  probe = spawn('nsenter', [`--net=/run/netns/${h.world.ns.host}`, '--', 'unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'sh', join(dir, 'etc'),
    process.execPath, BIN, 'exec', '--config', cfg, '--', '/bin/sh', '-c', 'while :; do grep -m1 ^nameserver /etc/resolv.conf || echo none; sleep 0.1; done'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  probe.stdout!.setEncoding('utf8').on('data', (d: string) => seen.push(...d.split('\n').filter(Boolean)));
});

after(async () => {
  for (const p of [probe, ...attackers]) {
    if (!p?.pid) continue;
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await h?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function lastLineBecomes(want: string, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (seen.at(-1) === want) return seen;
    await sleep(50);
  }
  assert.fail(`the program inside still reads "${seen.at(-1)}" after ${ms} ms, not "${want}"`);
}

test('a long-running program inside gets the namespace\'s resolv.conf back after the host replaces its own', async () => {
  const ours = `nameserver ${h.world.addr.vpnResolver}`;
  await lastLineBecomes(ours, 10_000);
  seen = [];
  // What NetworkManager does: write a new file, rename it over the old one.
  writeFileSync(join(dir, 'resolve', '.new'), `nameserver ${h.world.addr.ispResolver}\n# replaced\n`);
  renameSync(join(dir, 'resolve', '.new'), join(dir, 'resolve', 'stub-resolv.conf'));
  await lastLineBecomes(ours, 4000);
  const logs = await h.vpnns(['logs', '--config', cfg, 'dns', '--json']);
  const events = logs.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; files?: string[] });
  const rebound = events.find((e) => /bound them again/.test(e.msg));
  assert.ok(rebound, `the supervisor logged the repair:\n${logs.stdout}${logs.stderr}`);
  assert.deepEqual(rebound.files, ['resolv.conf']);
});

test('the host\'s own files are left alone: the stub still holds what the host wrote', async () => {
  const r = await h.world.inHost(['cat', join(dir, 'resolve', 'stub-resolv.conf')]);
  assert.equal(r.stdout, `nameserver ${h.world.addr.ispResolver}\n# replaced\n`);
});

// Attacks on the guard itself. The guard runs as root with every capability; it used to repair a
// process with `nsenter -t PID -m -- /bin/sh -c ...`, and nsenter looks /bin/sh up inside the
// target's mount namespace, which a user can make (`unshare -Urm`) and bind a script of theirs over
// /bin/sh. The script below writes its uid to a marker file: if it ever runs, the marker says who ran it.

interface Attack {
  dir: string;
  marker: string;
  proc: ChildProcess;
  /** What the attacking process printed (its ready line, then what it reads in resolv.conf). */
  out: string[];
}

/**
 * Starts, through `argv`, a process inside the VPN namespace that runs ATTACK_SCRIPT in a mount
 * namespace of its own: a hostile /bin/sh, and a resolv.conf that is not the namespace's (as after
 * the host replaced its own), so the guard wants to repair it.
 */
function startAttack(prefix: (dir: string) => string[]): Attack {
  const dir = mkdtempSync('/tmp/vpnns-dnsattack-');
  chmodSync(dir, 0o755);
  const marker = join(dir, 'marker');
  // bash, not sh: /bin/sh is this very file in the attacker's namespace.
  writeFileSync(join(dir, 'evil.sh'), `#!/bin/bash\nid -u >> ${marker}\n`, { mode: 0o755 });
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 203.0.113.99\n', { mode: 0o644 });
  // The loop is the shell already running (builtins and sleep only): what the process reads.
  const script = 'mount --bind "$1/evil.sh" /bin/sh && mount --bind "$1/resolv.conf" /etc/resolv.conf && echo ready && '
    + 'while :; do while read -r l; do case $l in nameserver*) echo "$l";; esac; done </etc/resolv.conf; sleep 0.2; done';
  const proc = spawn(prefix(dir)[0]!, [...prefix(dir).slice(1), '/bin/sh', '-c', script, 'sh', dir], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  attackers.push(proc);
  const out: string[] = [];
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(...d.split('\n').filter(Boolean)));
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.on('exit', (code) => out.push(`exited ${code}: ${err.trim()}`));
  return { dir, marker, proc, out };
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(what);
    await sleep(100);
  }
}

async function dnsEvents(): Promise<Array<{ msg: string; pid?: number; files?: string[] }>> {
  const logs = await h.vpnns(['logs', '--config', cfg, 'dns', '--json']);
  return logs.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; pid?: number; files?: string[] });
}

test('a user\'s own mount namespace (unshare -Urm) with a hostile /bin/sh: the guard runs nothing as root and leaves it alone, saying so', async () => {
  const a = startAttack(() => ['nsenter', `--net=/run/netns/${h.world.ns.host}`, '--', process.execPath, BIN, 'exec', '--config', cfg, '--user', 'nobody', '--', 'unshare', '-Urm']);
  try {
    await until(`the attacker never got ready: ${a.out.join(' / ')}`, 15_000, () => (a.out.includes('ready') ? true : undefined));
    const userns = readlinkSync('/proc/self/ns/user');
    // Its PID, found from the outside: the process inside the VPN namespace in another user namespace.
    const pids = (await h.world.inHost(['ip', 'netns', 'pids', h.ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
    const pid = pids.find((p) => {
      try {
        return readlinkSync(`/proc/${p}/ns/user`) !== userns && readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(a.dir);
      } catch {
        return false;
      }
    });
    assert.ok(pid, 'the attacker runs inside the VPN namespace, in a user namespace of its own');
    const skipped = await until('the guard never reported the namespace it must leave alone', 10_000, async () =>
      (await dnsEvents()).find((e) => e.pid === pid && /user namespace other than/.test(e.msg)),
    );
    assert.match(skipped.msg, /not repaired/);
    // Two more sweeps (health interval 1 s) and a host change that wakes the guard at once.
    writeFileSync(join(dir, 'resolve', '.new'), `nameserver ${h.world.addr.ispResolver}\n# again\n`);
    renameSync(join(dir, 'resolve', '.new'), join(dir, 'resolve', 'stub-resolv.conf'));
    await sleep(2500);
    assert.equal(existsSync(a.marker), false, `the attacker's /bin/sh ran, as uid ${existsSync(a.marker) ? readFileSync(a.marker, 'utf8').trim() : ''}`);
    assert.equal(a.out.at(-1), 'nameserver 203.0.113.99', 'its resolv.conf was not touched');
    const reports = (await dnsEvents()).filter((e) => e.pid === pid && /user namespace other than/.test(e.msg));
    assert.equal(reports.length, 1, 'said once, not on every sweep');
  } finally {
    if (a.proc.pid) process.kill(-a.proc.pid, 'SIGKILL');
    rmSync(a.dir, { recursive: true, force: true });
  }
});

test('a root process vpnns did not start, in a mount namespace of its own with a hostile /bin/sh: its DNS files are repaired and nothing of its runs', async () => {
  const a = startAttack(() => ['nsenter', `--net=/run/netns/${h.ns}`, '--', 'unshare', '--mount', '--propagation', 'private', '--']);
  try {
    await until(`the process never got ready: ${a.out.join(' / ')}`, 15_000, () => (a.out.includes('ready') ? true : undefined));
    const pid = a.proc.pid!;
    const ours = `nameserver ${h.world.addr.vpnResolver}`;
    await until(`the process still reads "${a.out.at(-1)}", not "${ours}"`, 10_000, () => (a.out.at(-1) === ours ? true : undefined));
    const ev = (await dnsEvents()).find((e) => e.pid === pid && /bound them again/.test(e.msg));
    assert.ok(ev, 'the guard logged the repair');
    assert.ok(ev.files?.includes('resolv.conf'));
    await sleep(1500);
    assert.equal(existsSync(a.marker), false, `the process's /bin/sh ran, as uid ${existsSync(a.marker) ? readFileSync(a.marker, 'utf8').trim() : ''}`);
    // The host's file is still the host's: the bind went into that namespace only.
    assert.doesNotMatch(readFileSync('/etc/resolv.conf', 'utf8'), /vpnns/);
  } finally {
    if (a.proc.pid) process.kill(-a.proc.pid, 'SIGKILL');
    rmSync(a.dir, { recursive: true, force: true });
  }
});
