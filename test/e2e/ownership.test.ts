// vpnns touches only what it made. A namespace, a veth, a host nft table or a DNS file of vpnns's
// names that exists without vpnns's record of making it is someone else's: `up` refuses it in one
// sentence and leaves nothing, a failed `up` and `down` never remove it nor kill what runs there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { startHarness, leftovers, RUN_DIR, type Harness } from './harness.js';
import { ifName } from '../../src/core/names.js';
import { vethMac } from '../../src/net/mac.js';
import { renderNsswitch, renderResolvConf } from '../../src/net/dns-files.js';

let h: Harness;
let cfg: string;

before(async () => {
  h = await startHarness({ openvpn: false, wireguard: false });
  cfg = h.config({ dns: [h.world.addr.ispResolver] });
});
after(async () => {
  await h?.cleanup();
});

/** A process that is not zombie and not gone. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** A namespace made by hand (as a person or another tool would), with a program running in it. */
async function handMadeNamespace(): Promise<ChildProcess> {
  execFileSync('ip', ['netns', 'add', h.ns]);
  execFileSync('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
  const child = spawn('ip', ['netns', 'exec', h.ns, 'sleep', '600'], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !execFileSync('ip', ['netns', 'pids', h.ns], { encoding: 'utf8' }).trim(); i++) await new Promise((r) => setTimeout(r, 50));
  return child;
}

function removeHandMade(child: ChildProcess): void {
  child.kill('SIGKILL');
  execFileSync('ip', ['netns', 'del', h.ns]);
}

function assertRefused(r: { code: number; stderr: string }, what: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, what);
  assert.match(r.stderr, /already exists and vpnns did not make it; .*, or choose another `namespace` in the config\.$/m);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one sentence: ${r.stderr}`);
}

test('a namespace of the same name made by hand, a program running in it: up refuses, down leaves both alone', async () => {
  const child = await handMadeNamespace();
  try {
    const r = await h.vpnns(['up', '--config', cfg]);
    assertRefused(r, new RegExp(`network namespace ${h.ns} already exists and vpnns did not make it; remove it with \`ip netns del ${h.ns}\``));
    assert.ok(running(child.pid!), 'the program in the namespace survives `up`');
    assert.deepEqual(await leftovers(h), [`namespace ${h.ns}`], 'nothing but the namespace itself');
    assert.equal(existsSync(`${RUN_DIR}/${h.ns}`), false);

    const d = await h.vpnns(['down', '--config', cfg]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /was not made by vpnns .*down leaves it alone/);
    assert.doesNotMatch(d.stdout, /^removed /m);
    assert.ok(running(child.pid!), 'the program in the namespace survives `down`');
    assert.deepEqual(await leftovers(h), [`namespace ${h.ns}`]);
  } finally {
    removeHandMade(child);
  }
  assert.deepEqual(await leftovers(h), []);
});

test('a namespace vpnns made but someone replaced by hand: down removes the rest and leaves the new one alone', async () => {
  const up = await h.vpnns(['up', '--config', cfg]);
  assert.equal(up.code, 0, up.stderr);
  execFileSync('ip', ['netns', 'del', h.ns]);
  const child = await handMadeNamespace();
  try {
    const again = await h.vpnns(['up', '--config', cfg]);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, new RegExp(`network namespace ${h.ns} is not the one vpnns made`));
    assert.ok(running(child.pid!));
    const d = await h.vpnns(['down', '--config', cfg]);
    assert.equal(d.code, 0, d.stderr);
    assert.doesNotMatch(d.stdout, /removed network namespace/);
    assert.ok(running(child.pid!), 'the program in the new namespace survives `down`');
    assert.deepEqual(await leftovers(h), [`namespace ${h.ns}`], 'all the rest of what vpnns made is gone');
  } finally {
    removeHandMade(child);
  }
});

test('a namespace made by hand that got the kernel number vpnns recorded (freed numbers are reused): up refuses, down leaves it and its program alone', async () => {
  const up = await h.vpnns(['up', '--config', cfg]);
  assert.equal(up.code, 0, up.stderr);
  execFileSync('ip', ['netns', 'del', h.ns]);
  const child = await handMadeNamespace();
  try {
    // What the kernel does when ours was freed first: the new namespace gets its inode number.
    const file = `${RUN_DIR}/${h.ns}/state.json`;
    const state = JSON.parse(readFileSync(file, 'utf8'));
    state.runtime.netnsId = statSync(`/run/netns/${h.ns}`).ino;
    writeFileSync(file, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    const again = await h.vpnns(['up', '--config', cfg]);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, new RegExp(`network namespace ${h.ns} is not the one vpnns made`));
    assert.ok(running(child.pid!), 'the program in the new namespace survives `up`');
    const d = await h.vpnns(['down', '--config', cfg]);
    assert.equal(d.code, 0, d.stderr);
    assert.doesNotMatch(d.stdout, /removed network namespace/);
    assert.ok(running(child.pid!), 'the program in the new namespace survives `down`');
    assert.deepEqual(await leftovers(h), [`namespace ${h.ns}`], 'all the rest of what vpnns made is gone');
  } finally {
    removeHandMade(child);
  }
});

test('a link named vh-<ns> or vn-<ns> on the host: up refuses and leaves it; down leaves it', async () => {
  const names = { host: ifName('vh-', h.ns), ns: ifName('vn-', h.ns) };
  for (const name of [names.host, names.ns]) {
    // A veth pair of someone else's: the peer's name is none of vpnns's.
    const add = await h.world.inHost(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', 'vq-other']);
    assert.equal(add.code, 0, add.stderr);
    try {
      const r = await h.vpnns(['up', '--config', cfg]);
      assertRefused(r, new RegExp(`interface ${name} already exists and vpnns did not make it; remove it with \`ip link del ${name}\``));
      assert.equal((await h.world.inHost(['ip', 'link', 'show', 'dev', name])).code, 0, `${name} survives \`up\``);
      assert.deepEqual(await leftovers(h), [`link ${name}@vq-other`], 'nothing else: no namespace, table, files or state');
      const d = await h.vpnns(['down', '--config', cfg]);
      assert.equal(d.code, 0, d.stderr);
      assert.equal((await h.world.inHost(['ip', 'link', 'show', 'dev', name])).code, 0, `${name} survives \`down\``);
    } finally {
      await h.world.inHost(['ip', 'link', 'del', name]);
    }
  }
  assert.deepEqual(await leftovers(h), []);
});

test('an nft table inet vpnns-<ns> on the host: up refuses and leaves it as it was; down leaves it', async () => {
  const table = `vpnns-${h.ns}`;
  const body = `table inet ${table} {\n\tchain mine {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tcounter comment "someone else's rule"\n\t}\n}\n`;
  assert.equal((await h.world.inHost(['nft', '-f', '-'], { input: body })).code, 0);
  const listed = (await h.world.inHost(['nft', 'list', 'table', 'inet', table])).stdout;
  try {
    const r = await h.vpnns(['up', '--config', cfg]);
    assertRefused(r, new RegExp(`nftables table inet ${table} already exists and vpnns did not make it; remove it with \`nft delete table inet ${table}\``));
    assert.equal((await h.world.inHost(['nft', 'list', 'table', 'inet', table])).stdout, listed, 'the table is untouched');
    const left = await leftovers(h);
    assert.equal(left.length, 1, left.join('\n'));
    assert.match(left[0]!, /^nft: /, 'nothing but the table itself');
    const d = await h.vpnns(['down', '--config', cfg]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal((await h.world.inHost(['nft', 'list', 'table', 'inet', table])).stdout, listed, 'down leaves it');
  } finally {
    await h.world.inHost(['nft', 'delete', 'table', 'inet', table]);
  }
  assert.deepEqual(await leftovers(h), []);
});

test('/etc/netns/<ns>/resolv.conf that vpnns did not write: up refuses and keeps it; one vpnns wrote (a reboot\'s leftover) is taken back', async () => {
  const dir = `/etc/netns/${h.ns}`;
  mkdirSync(dir, { recursive: true });
  const theirs = 'nameserver 198.51.100.53\n';
  writeFileSync(`${dir}/resolv.conf`, theirs);
  try {
    const r = await h.vpnns(['up', '--config', cfg]);
    assertRefused(r, new RegExp(`${dir}/resolv\\.conf already exists and vpnns did not make it; move it away`));
    assert.equal(readFileSync(`${dir}/resolv.conf`, 'utf8'), theirs);
    assert.deepEqual(await leftovers(h), [dir], 'nothing but the file');

    // /run/vpnns is gone after a reboot, /etc/netns is not: vpnns's own header marks the file as vpnns's.
    // Exactly what `up` would write, so `up` finds them in place and must still record them as its own.
    writeFileSync(`${dir}/resolv.conf`, renderResolvConf([h.world.addr.ispResolver], 'dns in the config'));
    writeFileSync(`${dir}/nsswitch.conf`, renderNsswitch(readFileSync('/etc/nsswitch.conf', 'utf8')));
    writeFileSync(`${dir}/hosts`, '127.0.0.1 localhost\n');
    const up = await h.vpnns(['up', '--config', cfg]);
    assert.equal(up.code, 0, up.stderr);
    assert.doesNotMatch(up.stdout, /made namespace resolv\.conf/, 'found in place');
    const d = await h.vpnns(['down', '--config', cfg]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(existsSync(`${dir}/resolv.conf`), false, "vpnns's resolv.conf is removed");
    assert.equal(existsSync(`${dir}/nsswitch.conf`), false);
    assert.equal(readFileSync(`${dir}/hosts`, 'utf8'), '127.0.0.1 localhost\n', 'a file vpnns never wrote stays');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(await leftovers(h), []);
});

test('the veth ends have stable MACs derived from the namespace name: the same after down and up', async () => {
  const macs = async () => {
    const host = JSON.parse((await h.world.inHost(['ip', '-json', 'link', 'show', 'dev', ifName('vh-', h.ns)])).stdout)[0].address as string;
    const inner = JSON.parse((await h.inVpn(['ip', '-json', 'link', 'show', 'dev', ifName('vn-', h.ns)])).stdout)[0].address as string;
    return { host, inner };
  };
  assert.equal((await h.vpnns(['up', '--config', cfg])).code, 0);
  const first = await macs();
  assert.deepEqual(first, { host: vethMac(h.ns, 'host'), inner: vethMac(h.ns, 'ns') });
  assert.equal((await h.vpnns(['down', '--config', cfg])).code, 0);
  assert.equal((await h.vpnns(['up', '--config', cfg])).code, 0);
  assert.deepEqual(await macs(), first);
  assert.equal((await h.vpnns(['down', '--config', cfg])).code, 0);
  assert.deepEqual(await leftovers(h), []);
});
