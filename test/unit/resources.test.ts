// The resources' check/apply/remove against the recording executor (src/sys/recording.ts): what a
// check reads, exactly which commands and writes an apply issues, that remove undoes them, and what
// a failing command leaves for the engine (which removes on failure). No root, nothing on the machine.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import type { Context } from '../../src/core/resource.js';
import { namesFor } from '../../src/core/names.js';
import type { State } from '../../src/core/state.js';
import { CommandError } from '../../src/sys/exec.js';
import { RecordingExecutor } from '../../src/sys/recording.js';
import { System } from '../../src/sys/system.js';
import { namespaceResource } from '../../src/net/namespace.js';
import { nsIpv6Resource } from '../../src/net/sysctl.js';
import { vethResource } from '../../src/net/veth.js';
import { vethMac } from '../../src/net/mac.js';
import { hostLook } from '../../src/net/ip.js';
import { dnsFilesResource, renderNsswitch, renderResolvConf } from '../../src/net/dns-files.js';
import { killSwitchResource, killSwitchSpec, renderKillSwitch } from '../../src/firewall/killswitch.js';
import { hostTableResource } from '../../src/firewall/host-table.js';
import { createTableScript, listTables, replaceTableScript } from '../../src/firewall/nft.js';
import { forwardCompatResource } from '../../src/firewall/forward-compat.js';
import { vpnPrepareResource } from '../../src/vpn/prepare-resource.js';
import { CLIENT_MARK } from '../../src/vpn/provider.js';
import { discardPrestarted, prestartSupervisor, supervisorResource } from '../../src/supervisor/resource.js';
import { logDirFor } from '../../src/core/log.js';
import '../../src/services/index.js';

const dir = mkdtempSync(join(tmpdir(), 'vpnnsut-res-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let serial = 0;
function setup(cfgText = 'namespace: ut\n', runtime: Record<string, unknown> = {}) {
  const cfg: Config = parseConfig(cfgText);
  const stateDir = join(dir, `state-${serial++}`);
  // The state lives in a directory of the test's (a resource may read status.json from it).
  const names = { ...namesFor(cfg), stateDir, lockFile: `${stateDir}.lock`, etcDir: join(dir, `etc-${serial}`, 'ut') };
  const exec = new RecordingExecutor();
  const sys = new System(false, exec);
  const state: State = { version: 1, namespace: names.ns, hostNetns: 'net:1', startedAt: new Date(0).toISOString(), config: cfg, applied: [], runtime: { ...runtime } };
  let saved = 0;
  const ctx: Context = { sys, cfg, names, state, say: () => {}, saveState: async () => void saved++ };
  return { cfg, names, exec, sys, state, ctx, saves: () => saved };
}

const json = (v: unknown) => ({ stdout: JSON.stringify(v) });
const fails = (stderr = 'RTNETLINK answers: No such device') => ({ code: 1, stderr });

// ---- namespace ----

const IPV6_OFF = 'sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1';

test('namespace: absent — check false, no foreign; apply adds it and brings lo up with the tag it recorded first (and IPv6 off inside), in one process', async () => {
  const { exec, sys, ctx, state, saves } = setup();
  exec.on(['ip', '-json', 'netns', 'list'], json([{ name: 'other' }]));
  assert.equal(await namespaceResource.check(ctx), false);
  assert.equal(await namespaceResource.foreign!(ctx), undefined);
  await namespaceResource.apply(ctx);
  const tag = state.runtime.netnsTag;
  assert.match(String(tag), /^vpnns-[0-9a-f]{16}$/);
  // One `ip -batch`: it stops at the first failing line, so nothing runs in a namespace it did not make.
  assert.deepEqual(sys.actions, [`$ ip -batch -  <<'EOF'\n    netns add ut\n    netns exec ut ip link set lo up alias ${tag}\n    netns exec ut ${IPV6_OFF}\nEOF`]);
  assert.deepEqual(exec.commands().filter((c) => !c.includes('-json')), ['ip -batch -']);
  assert.equal(saves(), 2, 'the tag saved before `ip netns add`, the kernel number after');
  // The settings were written with it: IPv6's check knows, without asking.
  assert.equal(ctx.freshNamespace, true);
  assert.equal(await nsIpv6Resource.check(ctx), true);
  assert.equal(exec.commands().filter((c) => c.includes('sysctl')).length, 0, 'no process asked');

  // With IPv6 wanted inside, the batch leaves it on.
  const v6 = setup('namespace: ut\nnetwork:\n  ipv6: true\n');
  v6.exec.on(['ip', '-json', 'netns', 'list'], json([]));
  await namespaceResource.apply(v6.ctx);
  assert.ok(!v6.sys.actions[0]!.includes('sysctl'), v6.sys.actions[0]);
  assert.equal(v6.ctx.ipv6OffAtCreation, undefined);
});

const loLink = (flags: string[], ifalias?: string) => json([{ ifname: 'lo', flags, ...(ifalias ? { ifalias } : {}) }]);

test('namespace: present with lo up — check true; someone else\'s (no record) is foreign', async () => {
  const { exec, sys, ctx } = setup(undefined, { netnsTag: 'vpnns-0123456789abcdef' });
  // `ip netns list` lists /run/netns: the namespace is its file there.
  exec.files.set('/run/netns/ut', '');
  exec.on(['ip', '-n', 'ut', '-json', 'link', 'show', 'dev', 'lo'], loLink(['LOOPBACK', 'UP', 'LOWER_UP'], 'vpnns-0123456789abcdef'));
  assert.equal(await namespaceResource.check(ctx), true);
  assert.deepEqual(await namespaceResource.foreign!(ctx), { what: 'network namespace ut', fix: 'remove it with `ip netns del ut` if nothing needs it' });
  // Present but lo down: apply only brings it up.
  exec.on(['ip', '-n', 'ut', '-json', 'link', 'show', 'dev', 'lo'], loLink(['LOOPBACK'], 'vpnns-0123456789abcdef'));
  assert.equal(await namespaceResource.check(ctx), false);
  await namespaceResource.apply(ctx);
  assert.deepEqual(sys.actions, ['$ ip -n ut link set lo up']);
});

test('namespace: one of the same name without the recorded tag (made by someone else, whatever its kernel number) is not ours: check and apply refuse, remove leaves it and what runs in it', async () => {
  for (const [runtime, alias] of [
    [{ netnsTag: 'vpnns-0123456789abcdef' }, undefined],
    [{ netnsTag: 'vpnns-0123456789abcdef' }, 'vpnns-fedcba9876543210'],
    // A record with neither tag nor number (nothing proves the namespace is ours).
    [{}, undefined],
  ] as const) {
    const { exec, sys, ctx } = setup(undefined, runtime);
    exec.files.set('/run/netns/ut', '');
    exec.on(['ip', '-n', 'ut', '-json', 'link', 'show', 'dev', 'lo'], loLink(['LOOPBACK', 'UP', 'LOWER_UP'], alias));
    exec.on(['ip', 'netns', 'pids', 'ut'], { stdout: '4242\n' });
    await assert.rejects(namespaceResource.check(ctx), /network namespace ut is not the one vpnns made/);
    await assert.rejects(namespaceResource.apply(ctx), /network namespace ut is not the one vpnns made/);
    assert.equal(await namespaceResource.remove(ctx), false);
    assert.deepEqual(sys.actions, []);
  }
});

test('namespace: remove ends what runs inside, then deletes it; absent: nothing to remove', async () => {
  const { exec, sys, ctx } = setup(undefined, { netnsTag: 'vpnns-0123456789abcdef' });
  // `ip netns list` lists /run/netns: the namespace is its file there.
  exec.files.set('/run/netns/ut', '');
  exec.on(['ip', '-n', 'ut', '-json', 'link', 'show', 'dev', 'lo'], loLink(['LOOPBACK', 'UP'], 'vpnns-0123456789abcdef'));
  exec.on(['ip', 'netns', 'pids', 'ut'], { stdout: '' });
  exec.on(['ip', 'netns', 'pids', 'ut'], { stdout: '4242\n4243\n' }, 1);
  assert.equal(await namespaceResource.remove(ctx), true);
  assert.deepEqual(sys.actions, ['$ kill -TERM 4242 4243', '$ ip netns del ut']);

  const empty = setup();
  empty.exec.on(['ip', '-json', 'netns', 'list'], json([]));
  assert.equal(await namespaceResource.remove(empty.ctx), false);
  assert.deepEqual(empty.sys.actions, []);
});

test('namespace: a failing `ip netns add` throws the command\'s error and goes no further', async () => {
  const { exec, sys, ctx } = setup();
  exec.on(['ip', '-json', 'netns', 'list'], json([]));
  exec.on(['ip', '-batch', '-'], fails('Cannot create namespace file "/run/netns/ut": File exists\nCommand failed -:1'));
  await assert.rejects(namespaceResource.apply(ctx), (e) => e instanceof CommandError && /ip -batch -.*File exists/.test(e.message));
  assert.equal(sys.actions.length, 1);
  assert.equal(ctx.freshNamespace, undefined, 'not made by this run');
});

// ---- veth ----

function vethPresent(exec: RecordingExecutor, n: ReturnType<typeof setup>['names']) {
  const addr = (ifname: string, local: string) => [{ ifname, flags: ['BROADCAST', 'UP', 'LOWER_UP'], addr_info: [{ family: 'inet', local, prefixlen: n.prefix }] }];
  exec.on(['ip', '-json', 'addr', 'show', 'dev', n.vethHost], json(addr(n.vethHost, n.hostAddr)));
  exec.on(['ip', '-n', n.ns, '-json', 'addr', 'show', 'dev', n.vethNs], json(addr(n.vethNs, n.nsAddr)));
  exec.on(['ip', '-4', '-n', n.ns, '-json', 'route'], json([{ dst: 'default', gateway: n.hostAddr, dev: n.vethNs }]));
  exec.on(['ip', '-json', 'link', 'show', 'dev', n.vethHost], json([{ ifname: n.vethHost, address: vethMac(n.ns, 'host') }]));
}

test('veth: absent — check false; apply creates the pair with stable MACs, addresses, links up, default route', async () => {
  const { exec, sys, ctx, names: n } = setup();
  exec.on(['ip'], fails());
  assert.equal(await vethResource.check(ctx), false);
  assert.equal(await vethResource.foreign!(ctx), undefined);
  exec.on((a) => a[0] === 'ip' && !a.includes('-json'), {});
  await vethResource.apply(ctx);
  // One `ip -batch` per side (up's speed): the host end, then the namespace end.
  assert.deepEqual(sys.actions, [
    `$ ip -batch -  <<'EOF'\n    link add vh-ut address ${vethMac('ut', 'host')} type veth peer name vn-ut address ${vethMac('ut', 'ns')} netns ut\n`
      + `    addr replace ${n.hostAddr}/${n.prefix} dev vh-ut\n    link set vh-ut up\nEOF`,
    `$ ip -n ut -batch -  <<'EOF'\n    addr replace ${n.nsAddr}/${n.prefix} dev vn-ut\n    link set vn-ut up\n`
      + `    route replace default via ${n.hostAddr} dev vn-ut\nEOF`,
  ]);
});

test('veth: present — check true, foreign names it; apply on an existing link does not add it again; remove deletes the host end', async () => {
  const { exec, sys, ctx, names: n } = setup();
  vethPresent(exec, n);
  assert.equal(await vethResource.check(ctx), true);
  assert.deepEqual(await vethResource.foreign!(ctx), { what: 'interface vh-ut', fix: 'remove it with `ip link del vh-ut` if nothing needs it' });
  await vethResource.apply(ctx);
  assert.ok(!sys.actions.some((a) => a.includes('link add')), sys.actions.join('\n'));
  assert.equal(sys.actions.length, 2, 'one batch per side');
  sys.actions.length = 0;
  assert.equal(await vethResource.remove(ctx), true);
  assert.deepEqual(sys.actions, ['$ ip link del vh-ut']);
});

test('veth: a wrong address or no default route is not in place; a failing step throws and remove still takes the half-made pair', async () => {
  const { exec, sys, ctx, names: n } = setup();
  vethPresent(exec, n);
  exec.on(['ip', '-4', '-n', n.ns, '-json', 'route'], json([]));
  assert.equal(await vethResource.check(ctx), false);
  exec.on(['ip', '-n', 'ut', '-batch', '-'], fails('Error: ipv4: Address already assigned.'));
  await assert.rejects(vethResource.apply(ctx), CommandError);
  assert.match(sys.actions.at(-1)!, /^\$ ip -n ut -batch -[\s\S]*addr replace 10\.0\.0\.2\/\d+ dev vn-ut/);
  sys.actions.length = 0;
  assert.equal(await vethResource.remove(ctx), true);
  assert.deepEqual(sys.actions, ['$ ip link del vh-ut']);
  const none = setup();
  none.exec.on(['ip'], fails());
  assert.equal(await vethResource.remove(none.ctx), false);
  assert.deepEqual(none.sys.actions, []);
});

test('veth: a host end of the same name without vpnns\'s MAC (made after `up` looked, or after ours was deleted) is not taken over: apply refuses in one sentence, remove leaves it', async () => {
  const { exec, sys, ctx, names: n } = setup();
  vethPresent(exec, n);
  exec.on(['ip', '-json', 'link', 'show', 'dev', n.vethHost], json([{ ifname: n.vethHost, address: '02:aa:bb:cc:dd:ee' }]));
  await assert.rejects(vethResource.apply(ctx), (e: Error) => e.message === 'interface vh-ut already exists and vpnns did not make it; remove it with `ip link del vh-ut` if nothing needs it, or choose another `namespace` in the config.');
  assert.equal(await vethResource.remove(ctx), false);
  assert.deepEqual(sys.actions, []);
});

test('veth: in a namespace made by this run, `ip link add` is not preceded by a look (no host end of ours can be there); one of someone else\'s that makes it fail gets the same sentence, and remove leaves it', async () => {
  const { exec, sys, ctx, names: n } = setup();
  ctx.freshNamespace = true;
  exec.on((a) => a[0] === 'ip' && !a.includes('-json'), {});
  assert.equal(await vethResource.check(ctx), false);
  await vethResource.apply(ctx);
  assert.deepEqual(exec.commands(), ['ip -batch -', 'ip -n ut -batch -'], 'no process but the two batches');
  assert.match(sys.actions[0]!, /link add vh-ut address /);

  const raced = setup();
  raced.ctx.freshNamespace = true;
  raced.exec.on(['ip', '-batch', '-'], fails('RTNETLINK answers: File exists\nCommand failed -:1'));
  raced.exec.on(['ip', '-json', 'link', 'show', 'dev', n.vethHost], json([{ ifname: n.vethHost, address: '02:aa:bb:cc:dd:ee' }]));
  await assert.rejects(vethResource.apply(raced.ctx), (e: Error) => e.message === 'interface vh-ut already exists and vpnns did not make it; remove it with `ip link del vh-ut` if nothing needs it, or choose another `namespace` in the config.');
  raced.sys.actions.length = 0;
  assert.equal(await vethResource.remove(raced.ctx), false);
  assert.deepEqual(raced.sys.actions, []);
});

test('veth: foreign answers from the host links `up` listed when it has them (no process), else asks', async () => {
  const { exec, ctx } = setup();
  ctx.hostLinks = Promise.resolve(['lo', 'eth0', 'vn-ut']);
  assert.deepEqual(await vethResource.foreign!(ctx), { what: 'interface vn-ut', fix: 'remove it with `ip link del vn-ut` if nothing needs it' });
  ctx.hostLinks = Promise.resolve(['lo', 'vn-ut', 'vh-ut']);
  assert.equal((await vethResource.foreign!(ctx))?.what, 'interface vh-ut', 'the host end named first');
  ctx.hostLinks = Promise.resolve(['lo', 'eth0']);
  assert.equal(await vethResource.foreign!(ctx), undefined);
  assert.deepEqual(exec.commands(), []);
  delete ctx.hostLinks;
  exec.on(['ip', '-json', 'link', 'show', 'dev', 'vh-ut'], json([{ ifname: 'vh-ut' }]));
  exec.on(['ip', '-json', 'link', 'show', 'dev', 'vn-ut'], fails());
  assert.equal((await vethResource.foreign!(ctx))?.what, 'interface vh-ut');
  assert.equal(exec.commands().length, 2);
});

test('hostLook: the host\'s links and IPv4 routes from one `ip -batch`; IPv6 routes left out as `-4` would; anything else: the two commands', async () => {
  const links = [{ ifname: 'lo' }, { ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.9.0.2', prefixlen: 24 }] }];
  const routes = [{ dst: 'default', gateway: '10.9.0.1', dev: 'eth0' }, { dst: '10.9.0.0/24', dev: 'eth0' }, { dst: '2001:db8::/64', dev: 'eth0' }, { dst: 'ff00::/8', dev: 'eth0', type: 'multicast' }];
  const { exec, sys } = setup();
  exec.on(['ip', '-json', '-batch', '-'], { stdout: `${JSON.stringify(links)}\n${JSON.stringify(routes)}\n` });
  const got = await hostLook(sys);
  assert.deepEqual(got, { links, routes: routes.slice(0, 2) });
  assert.deepEqual(exec.commands(), ['ip -json -batch -']);
  const batch = exec.calls.find((c) => c.kind === 'run') as { input?: string };
  assert.equal(batch.input, 'addr show\nroute show table all\n');

  const old = setup();
  old.exec.on(['ip', '-json', '-batch', '-'], fails('Command failed -:2'));
  old.exec.on(['ip', '-json', 'addr', 'show'], json(links));
  old.exec.on(['ip', '-4', '-json', 'route', 'show', 'table', 'all'], json(routes.slice(0, 2)));
  assert.deepEqual(await hostLook(old.sys), { links, routes: routes.slice(0, 2) });
  assert.equal(old.exec.commands().length, 3);
});

test('veth and host table are made exclusively (the step fails on a same-named thing): `up` need not look again before recording them', () => {
  assert.equal(vethResource.madeExclusively, true);
  assert.equal(hostTableResource.madeExclusively, true);
  // Both still have the first look, before anything is made.
  assert.equal(typeof vethResource.foreign, 'function');
  assert.equal(typeof hostTableResource.foreign, 'function');
});

// ---- kill switch ----

const endpoint = { kind: 'endpoint' as const, ip: '203.0.113.7', port: 51820, proto: 'udp' as const, sender: { mark: CLIENT_MARK } };
const listKs = ['ip', 'netns', 'exec', 'ut', 'nft', 'list', 'table', 'inet', 'vpnns'];

test('kill switch: absent — check false; apply is one atomic nft -f inside the namespace with the rendered table', async () => {
  const { exec, sys, ctx } = setup('namespace: ut\n', { clientTraffic: [endpoint] });
  exec.on(listKs, fails('Error: No such file or directory'));
  assert.equal(await killSwitchResource.check(ctx), false);
  await killSwitchResource.apply(ctx);
  const runs = exec.calls.filter((c) => c.kind === 'run' && c.argv.includes('-f'));
  assert.equal(runs.length, 1);
  const call = runs[0] as { argv: string[]; input?: string };
  assert.deepEqual(call.argv, ['ip', 'netns', 'exec', 'ut', 'nft', '-f', '-']);
  assert.equal(call.input, replaceTableScript('inet', 'vpnns', renderKillSwitch(killSwitchSpec(ctx))));
  assert.match(call.input!, /^table inet vpnns\ndelete table inet vpnns\n/);
  assert.equal(sys.actions.length, 1);
});

test('kill switch: in a namespace made by this run, one `create table` load (no `delete table`: nothing to replace, and its commit waits)', async () => {
  const { exec, ctx } = setup('namespace: ut\n', { clientTraffic: [endpoint] });
  ctx.freshNamespace = true;
  assert.equal(await killSwitchResource.check(ctx), false);
  await killSwitchResource.apply(ctx);
  const runs = exec.calls.filter((c) => c.kind === 'run');
  assert.equal(runs.length, 1, 'no look, one load');
  const call = runs[0] as { argv: string[]; input?: string };
  assert.deepEqual(call.argv, ['ip', 'netns', 'exec', 'ut', 'nft', '-f', '-']);
  assert.equal(call.input, createTableScript('inet', 'vpnns', renderKillSwitch(killSwitchSpec(ctx))));
  assert.match(call.input!, /^create table inet vpnns\ntable inet vpnns \{\n/);
  assert.ok(!call.input!.includes('delete table'));
});

test('kill switch: present with every client rule — check true; a missing endpoint rule — false; remove deletes the table', async () => {
  const { exec, sys, ctx } = setup('namespace: ut\n', { clientTraffic: [endpoint] });
  const rule = `meta mark 0x${CLIENT_MARK.toString(16).padStart(8, '0')} ip daddr 203.0.113.7 udp dport 51820 accept`;
  const proxies = `meta skuid 65534 comment "the proxies never reach the namespace's own addresses"`;
  exec.on(listKs, { stdout: `table inet vpnns {\n\t${rule}\n\t${proxies}\n}\n` });
  assert.equal(await killSwitchResource.check(ctx), true);
  exec.on(listKs, { stdout: `table inet vpnns {\n\t${proxies}\n}\n` });
  assert.equal(await killSwitchResource.check(ctx), false);
  assert.equal(await killSwitchResource.remove(ctx), true);
  assert.deepEqual(sys.actions, ['$ ip netns exec ut nft delete table inet vpnns']);
  const none = setup();
  none.exec.on(listKs, fails());
  assert.equal(await killSwitchResource.remove(none.ctx), false);
  assert.deepEqual(none.sys.actions, []);
});

test('kill switch: a refused ruleset throws; the old table (if any) stays whole, the one transaction is all that ran', async () => {
  const { exec, sys, ctx } = setup('namespace: ut\n', { clientTraffic: [endpoint] });
  exec.on(['ip', 'netns', 'exec', 'ut', 'nft', '-f'], fails('Error: syntax error'));
  await assert.rejects(killSwitchResource.apply(ctx), (e) => e instanceof CommandError && /syntax error/.test(e.message));
  assert.equal(sys.actions.length, 1);
});

// ---- host table ----

const listHost = ['nft', 'list', 'table', 'inet', 'vpnns-ut'];

test('host table: absent — check false; apply sets route_localnet, loads the table, records its key; then check true', async () => {
  const { exec, sys, ctx, state, saves } = setup();
  exec.on(listHost, fails());
  exec.files.set('/proc/sys/net/ipv4/conf/vh-ut/route_localnet', '0\n');
  assert.equal(await hostTableResource.check(ctx), false);
  assert.equal(await hostTableResource.foreign!(ctx), undefined);
  await hostTableResource.apply(ctx);
  assert.equal(sys.actions.length, 2);
  assert.equal(sys.actions[0], 'set /proc/sys/net/ipv4/conf/vh-ut/route_localnet = 0');
  // The first load fails, changing nothing, if a table of the name appeared since `up` looked.
  // `create table` succeeding means the table is new and empty: no `delete table` (its commit waits).
  assert.match(sys.actions[1]!, /^\$ nft -f - {2}<<'EOF'\n {4}create table inet vpnns-ut\n {4}table inet vpnns-ut \{\n/);
  assert.ok(!sys.actions[1]!.includes('delete table'), sys.actions[1]);
  assert.match(sys.actions[1]!, /masquerade/);
  assert.equal(typeof state.runtime.hostTable, 'string');
  assert.ok(saves() >= 1, 'the key is saved');
  exec.on(listHost, { stdout: 'table inet vpnns-ut {}\n' });
  assert.equal(await hostTableResource.check(ctx), true);
  // A recreated veth starts with route_localnet at its default: still right here (0 wanted).
  exec.files.set('/proc/sys/net/ipv4/conf/vh-ut/route_localnet', '1\n');
  assert.equal(await hostTableResource.check(ctx), false);
});

test('host table: one vpnns has no record of loading is foreign and remove leaves it; a loaded one remove deletes, or says there was none', async () => {
  const { exec, sys, ctx, state } = setup();
  exec.on(listHost, { stdout: 'table inet vpnns-ut {}\n' });
  assert.deepEqual(await hostTableResource.foreign!(ctx), { what: 'nftables table inet vpnns-ut', fix: 'remove it with `nft delete table inet vpnns-ut` if nothing needs it' });
  assert.equal(await hostTableResource.check(ctx), false, 'no key recorded: not ours as rendered');
  assert.equal(await hostTableResource.remove(ctx), false, 'no key recorded: not ours to delete');
  assert.deepEqual(sys.actions, []);
  state.runtime.hostTable = '0123456789abcdef';
  assert.equal(await hostTableResource.remove(ctx), true);
  assert.deepEqual(sys.actions, ['$ nft delete table inet vpnns-ut']);
  // Deleted, its key goes too: a later first load (a failed `up` keeps the state) is `create table` again.
  assert.equal(state.runtime.hostTable, undefined);
  state.runtime.hostTable = '0123456789abcdef';
  exec.on(listHost, fails());
  sys.actions.length = 0;
  assert.equal(await hostTableResource.remove(ctx), false);
  assert.deepEqual(sys.actions, []);
});

test('host table: one that appeared between `up`\'s look and its first load stays as it was: one sentence, no key, remove leaves it', async () => {
  const { exec, sys, ctx, state } = setup();
  exec.files.set('/proc/sys/net/ipv4/conf/vh-ut/route_localnet', '0\n');
  exec.on(listHost, { stdout: 'table inet vpnns-ut {}\n' });
  exec.on(['nft', '-f', '-'], fails('Error: Could not process rule: File exists'));
  await assert.rejects(hostTableResource.apply(ctx), (e: Error) => e.message === 'nftables table inet vpnns-ut already exists and vpnns did not make it; remove it with `nft delete table inet vpnns-ut` if nothing needs it, or choose another `namespace` in the config.');
  assert.equal(state.runtime.hostTable, undefined);
  sys.actions.length = 0;
  assert.equal(await hostTableResource.remove(ctx), false);
  assert.deepEqual(sys.actions, []);
});

test('host table: foreign answers from the tables `up` listed when it has them (no process), else asks', async () => {
  const { exec, ctx } = setup();
  ctx.hostTables = Promise.resolve(['ip filter', 'inet vpnns-ut']);
  assert.deepEqual(await hostTableResource.foreign!(ctx), { what: 'nftables table inet vpnns-ut', fix: 'remove it with `nft delete table inet vpnns-ut` if nothing needs it' });
  ctx.hostTables = Promise.resolve(['ip filter', 'inet vpnns-other']);
  assert.equal(await hostTableResource.foreign!(ctx), undefined);
  assert.deepEqual(exec.commands(), []);
  // nft could not list them: asked.
  ctx.hostTables = Promise.resolve(undefined);
  exec.on(listHost, { stdout: 'table inet vpnns-ut {}\n' });
  assert.equal((await hostTableResource.foreign!(ctx))?.what, 'nftables table inet vpnns-ut');
  assert.deepEqual(exec.commands(), ['nft list table inet vpnns-ut']);
});

test('accept rules in other FORWARD chains: no `ip filter` table when `up` listed the tables — in place, nothing asked; with one, its chain is read', async () => {
  const { exec, ctx } = setup();
  ctx.hostTables = Promise.resolve(['inet other']);
  assert.equal(await forwardCompatResource.check(ctx), true);
  assert.deepEqual(exec.commands(), []);
  ctx.hostTables = Promise.resolve(['ip filter']);
  exec.on(['nft', '-j', 'list', 'chain', 'ip', 'filter', 'FORWARD'], json({ nftables: [{ metainfo: {} }, { rule: { family: 'ip', table: 'filter', chain: 'FORWARD', handle: 3 } }] }));
  assert.equal(await forwardCompatResource.check(ctx), false, 'no tagged rules yet');
  assert.deepEqual(exec.commands(), ['nft -j list chain ip filter FORWARD']);
});

test('listTables: `family name` per table; undefined when nft cannot list them', async () => {
  const { exec, sys } = setup();
  exec.on(['nft', 'list', 'tables'], { stdout: 'table ip filter\ntable inet vpnns-ut\n' });
  assert.deepEqual(await listTables(sys), ['ip filter', 'inet vpnns-ut']);
  exec.on(['nft', 'list', 'tables'], fails('Error: Operation not permitted'));
  assert.equal(await listTables(sys), undefined);
});

test('host table: a failing sysctl throws before any table is loaded and no key is recorded', async () => {
  const { exec, sys, ctx, state } = setup();
  exec.failingWrites.set('/proc/sys/net/ipv4/conf/vh-ut/route_localnet', Object.assign(new Error("ENOENT: no such file or directory, open '/proc/sys/net/ipv4/conf/vh-ut/route_localnet'"), { code: 'ENOENT' }));
  await assert.rejects(hostTableResource.apply(ctx), /ENOENT/);
  assert.deepEqual(sys.actions, ['set /proc/sys/net/ipv4/conf/vh-ut/route_localnet = 0']);
  assert.equal(state.runtime.hostTable, undefined);
});

// ---- DNS files ----

const HOST_NSSWITCH = 'passwd: files systemd\nhosts: files mdns4_minimal [NOTFOUND=return] dns myhostname resolve\n';

test('DNS files: absent — check false; apply writes resolv.conf (in place) and nsswitch.conf; then check true; remove takes both', async () => {
  const { exec, sys, ctx, names } = setup('namespace: ut\ndns: [10.64.0.1]\n');
  exec.files.set('/etc/nsswitch.conf', HOST_NSSWITCH);
  assert.equal(await dnsFilesResource.check(ctx), false);
  assert.equal(await dnsFilesResource.foreign!(ctx), undefined);
  await dnsFilesResource.apply(ctx);
  const writes = exec.calls.filter((c) => c.kind === 'write');
  assert.deepEqual(
    writes.map((w) => [w.path, w.content, w.mode, w.inPlace]),
    [
      [`${names.etcDir}/resolv.conf`, renderResolvConf(['10.64.0.1'], 'dns in the config'), 0o644, true],
      [`${names.etcDir}/nsswitch.conf`, renderNsswitch(HOST_NSSWITCH), 0o644, false],
    ],
  );
  assert.match(exec.files.get(`${names.etcDir}/nsswitch.conf`)!, /^hosts: files dns$/m);
  assert.equal(await dnsFilesResource.check(ctx), true);
  assert.equal(await dnsFilesResource.remove(ctx), true);
  assert.deepEqual(sys.actions.filter((a) => a.startsWith('remove')), [`remove ${names.etcDir}/resolv.conf`, `remove ${names.etcDir}/nsswitch.conf`]);
  assert.equal(exec.files.has(`${names.etcDir}/resolv.conf`), false);
  assert.equal(await dnsFilesResource.check(ctx), false);
});

test('DNS files: a file vpnns did not write is foreign and survives remove; a changed config is not in place', async () => {
  const { exec, sys, ctx, names } = setup('namespace: ut\ndns: [10.64.0.1]\n');
  exec.files.set(`${names.etcDir}/resolv.conf`, 'nameserver 192.168.1.1\n');
  assert.deepEqual(await dnsFilesResource.foreign!(ctx), { what: `${names.etcDir}/resolv.conf`, fix: 'move it away if nothing needs it' });
  assert.equal(await dnsFilesResource.remove(ctx), false);
  assert.deepEqual(sys.actions, []);
  assert.equal(exec.files.get(`${names.etcDir}/resolv.conf`), 'nameserver 192.168.1.1\n');
  exec.files.set(`${names.etcDir}/resolv.conf`, renderResolvConf(['10.99.0.1'], 'dns in the config'));
  exec.files.set(`${names.etcDir}/nsswitch.conf`, renderNsswitch(undefined));
  assert.equal(await dnsFilesResource.check(ctx), false);
});

// ---- VPN prepare ----

const PRIV = '+LV6HW9SM4/UrcNu2VjlmWt1rKpgF9y+0bIaMrSs3F0=';
const PUB = 'JUUjbIgDbQFpX4ONgw3VrOCR8yHztgsPV/5NONB5zSc=';

test('VPN prepare (WireGuard): absent — check false; apply makes the 0700 directory and the 0600 secret wg.conf, records endpoint and mark; remove takes the directory', async () => {
  const conf = join(dir, 'wg0.conf');
  writeFileSync(conf, `[Interface]\nPrivateKey = ${PRIV}\nAddress = 10.64.12.7/32\n\n[Peer]\nPublicKey = ${PUB}\nAllowedIPs = 0.0.0.0/0\nEndpoint = 203.0.113.7:51820\n`, { mode: 0o600 });
  const { exec, sys, ctx, state, names } = setup(`namespace: ut\nvpn:\n  type: wireguard\n  config: ${conf}\n  implementation: userspace\n`);
  const vpnDir = `${names.stateDir}/vpn`;
  assert.equal(await vpnPrepareResource.check(ctx), false);
  await vpnPrepareResource.apply(ctx);
  assert.deepEqual(exec.calls.filter((c) => c.kind === 'mkdir'), [{ kind: 'mkdir', path: vpnDir, mode: 0o700 }]);
  const writes = exec.calls.filter((c) => c.kind === 'write');
  assert.deepEqual(writes.map((w) => [w.path, w.mode]), [[`${vpnDir}/wg.conf`, 0o600]]);
  assert.match(writes[0]!.content, /^private_key=|PrivateKey/m);
  assert.ok(!sys.actions.join('\n').includes(PRIV), 'the private key is never in the log');
  assert.deepEqual(state.runtime.clientTraffic, [{ kind: 'endpoint', ip: '203.0.113.7', port: 51820, proto: 'udp', sender: { mark: CLIENT_MARK } }]);
  assert.equal(await vpnPrepareResource.check(ctx), true);
  assert.equal(await vpnPrepareResource.remove(ctx), true);
  assert.equal(sys.actions.at(-1), `remove ${vpnDir}`);
  assert.equal(await vpnPrepareResource.check(ctx), false);
  assert.equal(await vpnPrepareResource.remove(ctx), false);
});

test('VPN prepare: a config without an endpoint fails with one sentence; nothing but the directory was made, and remove takes it', async () => {
  const conf = join(dir, 'wg-noend.conf');
  writeFileSync(conf, `[Interface]\nPrivateKey = ${PRIV}\nAddress = 10.64.12.7/32\n\n[Peer]\nPublicKey = ${PUB}\nAllowedIPs = 0.0.0.0/0\n`, { mode: 0o600 });
  const { exec, ctx, state } = setup(`namespace: ut\nvpn:\n  type: wireguard\n  config: ${conf}\n`);
  await assert.rejects(vpnPrepareResource.apply(ctx), /no \[Peer\] has an Endpoint/);
  assert.deepEqual(exec.changes(), [`mkdir ${ctx.names.stateDir}/vpn`]);
  assert.equal(state.runtime.vpn, undefined);
  assert.equal(await vpnPrepareResource.remove(ctx), true);
});

// ---- supervisor start ----

test('supervisor: none recorded — check false, remove finds nothing; apply starts `vpnns supervise` detached with its log and records it', async () => {
  const { exec, ctx, state, names, cfg } = setup();
  assert.equal(await supervisorResource.check(ctx), false);
  assert.equal(await supervisorResource.remove(ctx), false);
  // The "supervisor" is this test process (alive); its status file says it is up (vpn: none).
  exec.detachedPid = process.pid;
  mkdirP(names.stateDir);
  writeFileSync(join(names.stateDir, 'status.json'), JSON.stringify({ pid: process.pid, startedAt: '', updatedAt: '', components: {} }));
  await supervisorResource.apply(ctx);
  const started = exec.calls.filter((c) => c.kind === 'startDetached');
  assert.equal(started.length, 1);
  const s = started[0] as { argv: string[]; logFile: string };
  assert.deepEqual(s.argv.slice(-3), ['supervise', '--namespace', 'ut']);
  assert.equal(s.argv[0], process.execPath);
  assert.ok(s.argv.includes('--no-opt'));
  // Its Node flags are a set the build writes a code cache for (bin/bundle-loader.cjs): under
  // any other flags V8 would refuse the cache and the supervisor would parse its whole bundle.
  const flags = s.argv.slice(1, s.argv.findIndex((a) => a.endsWith('/bin/vpnns')));
  const { NODE_FLAG_SETS } = createRequire(import.meta.url)('../../../bin/bundle-loader.cjs') as { NODE_FLAG_SETS: string[][] };
  assert.ok(NODE_FLAG_SETS.some((set) => JSON.stringify(set) === JSON.stringify(flags)), JSON.stringify(flags));
  assert.equal(s.logFile, `${logDirFor(cfg)}/supervisor.out`);
  // The old status files go first, so `up` never reads a dead supervisor's.
  assert.deepEqual(exec.changes().slice(0, 2), [`remove ${names.stateDir}/status.json`, `remove ${names.stateDir}/status.private.json`]);
  assert.equal(state.runtime.supervisorPid, process.pid);
  assert.equal(typeof state.runtime.supervisorStart, 'number');
  assert.equal(typeof state.runtime.supervisorConfig, 'string');
});

test('supervisor: a fatal status or a supervisor that died at start fails apply with the reason', async () => {
  const a = setup();
  a.exec.detachedPid = process.pid;
  mkdirP(a.names.stateDir);
  writeFileSync(join(a.names.stateDir, 'status.json'), JSON.stringify({ pid: process.pid, startedAt: '', updatedAt: '', fatal: 'the VPN server rejected the key', components: {} }));
  await assert.rejects(supervisorResource.apply(a.ctx), /the VPN server rejected the key/);
  const b = setup();
  b.exec.detachedPid = 2 ** 22 + 12345; // above pid_max: never a live process
  await assert.rejects(supervisorResource.apply(b.ctx), /the vpnns supervisor exited at start; see .*supervisor\.out/);
  assert.equal(b.state.runtime.supervisorPid, 2 ** 22 + 12345, 'recorded, so the engine\'s remove can end it');
});

test('supervisor: under --dry-run apply only records the detached start', async () => {
  const cfg = parseConfig('namespace: ut\n');
  const exec = new RecordingExecutor();
  const sys = new System(true, exec);
  const state: State = { version: 1, namespace: 'ut', hostNetns: 'net:1', startedAt: '', config: cfg, applied: [], runtime: {} };
  await supervisorResource.apply({ sys, cfg, names: namesFor(cfg), state, say: () => {}, saveState: async () => {} });
  assert.deepEqual(exec.calls, []);
  assert.equal(sys.actions.length, 1);
  assert.match(sys.actions[0]!, /supervise --namespace ut &  \(detached\)$/);
});

test('supervisor: started early, held on the executor with its argv and log; apply tells it to go and starts no second one', async () => {
  const { exec, sys, ctx, names, cfg, state } = setup();
  // The held "supervisor" is this test process (alive, its start time readable).
  exec.detachedPid = process.pid;
  prestartSupervisor(names, cfg, sys);
  const held = exec.calls.filter((c) => c.kind === 'startHeld') as Array<{ argv: string[]; logFile: string }>;
  assert.equal(held.length, 1);
  assert.deepEqual(held[0]!.argv.slice(-4), ['supervise', '--namespace', 'ut', '--await-go']);
  assert.equal(held[0]!.argv[0], process.execPath);
  assert.equal(held[0]!.logFile, `${logDirFor(cfg)}/supervisor.out`);
  assert.match(sys.actions[0]!, /supervise --namespace ut --await-go &  \(detached, held until told to go\)$/);
  assert.equal(exec.held[0]!.word, undefined, 'nothing said before the supervisor step');
  mkdirP(names.stateDir);
  writeFileSync(join(names.stateDir, 'status.json'), JSON.stringify({ pid: process.pid, startedAt: '', updatedAt: '', components: {} }));
  await supervisorResource.apply(ctx);
  assert.equal(exec.held[0]!.word, 'go');
  assert.deepEqual(exec.calls.filter((c) => c.kind === 'startDetached'), []);
  assert.equal(state.runtime.supervisorPid, process.pid);
});

test('supervisor: an early start `up` did not use is released, and one under --dry-run never starts', async () => {
  const { exec, sys, names, cfg } = setup();
  exec.detachedPid = 2 ** 22 + 12346; // above pid_max: never a live process, so nothing is killed
  prestartSupervisor(names, cfg, sys);
  discardPrestarted(names);
  assert.equal(exec.held[0]!.word, 'released');

  const dry = new RecordingExecutor();
  const dsys = new System(true, dry);
  prestartSupervisor(namesFor(cfg), cfg, dsys);
  assert.deepEqual(dry.calls, []);
  assert.equal(dsys.actions.length, 1);
});

function mkdirP(p: string): void {
  mkdirSync(p, { recursive: true });
}

// ---- the executor behind System ----

test('System hands every change to its executor and logs it; under --dry-run the executor sees only reads', async () => {
  const exec = new RecordingExecutor();
  exec.on(['ip', '-json', 'netns', 'list'], json([]));
  const sys = new System(false, exec);
  await sys.query(['ip', '-json', 'netns', 'list']);
  await sys.change(['ip', 'netns', 'add', 'x']);
  await sys.writeFile('/etc/netns/x/resolv.conf', 'nameserver 10.0.0.1\n');
  await sys.mkdir('/run/vpnns/x', 0o700);
  await sys.remove('/etc/netns/x');
  const p = sys.start({ name: 'socks', argv: ['/usr/sbin/danted'], netns: 'x' });
  assert.equal(exec.running.has('socks'), true);
  await p.stop();
  assert.deepEqual(exec.changes((a) => a.includes('-json')), [
    '$ ip netns add x',
    'write /etc/netns/x/resolv.conf',
    'mkdir /run/vpnns/x',
    'remove /etc/netns/x',
    'start socks: /usr/sbin/ip netns exec x /usr/sbin/danted',
  ]);
  assert.equal(sys.actions.length, 5);

  const dry = new RecordingExecutor();
  dry.on(['ip', '-json', 'netns', 'list'], json([]));
  const dsys = new System(true, dry);
  await dsys.query(['ip', '-json', 'netns', 'list']);
  await dsys.change(['ip', 'netns', 'add', 'x']);
  await dsys.writeFile('/etc/netns/x/resolv.conf', 'x');
  await dsys.remove('/etc/netns/x');
  assert.equal((await dsys.start({ name: 'vpn', argv: ['/usr/bin/wireguard-go', '-f', 'vt-x'] }).exited).code, 0);
  assert.equal(dsys.startDetached(['vpnns', 'supervise'], { logFile: '/var/log/vpnns/x/supervisor.out' }), undefined);
  assert.deepEqual(dry.commands(), ['ip -json netns list']);
  assert.deepEqual(dry.changes((a) => a.includes('-json')), []);
  assert.equal(dsys.actions.length, 5);
});

test('System: a foreground program, a held start, a child and a synchronous change go to the executor and are logged; dry-run runs none', async () => {
  const exec = new RecordingExecutor();
  exec.foregroundCode = 3;
  const sys = new System(false, exec);
  const io = { err: () => {} };
  assert.equal(await sys.foreground({ argv: ['/usr/sbin/ip', 'netns', 'exec', 'x', 'curl', 'a b'], env: {}, payload: Buffer.from('SECRET=1\0') }, io), 3);
  assert.ok(sys.startHeld(['vpnns', 'supervise', '--await-go'], { logFile: '/var/log/vpnns/x/supervisor.out' }));
  const child = sys.startChild(['tcpdump', '-n'], { env: {}, stdout: 'pipe', stderr: 'ignore' });
  assert.ok(child.stdout);
  assert.equal(child.stderr, null);
  exec.on(['ip', 'netns', 'delete'], { code: 1, stderr: 'no such namespace' });
  assert.equal(sys.changeSync(['ip', 'netns', 'delete', 'x'], { allowFail: true }).code, 1);
  assert.throws(() => sys.changeSync(['ip', 'netns', 'delete', 'x']), CommandError);
  assert.deepEqual(exec.changes(), [
    "foreground /usr/sbin/ip netns exec x curl 'a b'",
    'held vpnns supervise --await-go > /var/log/vpnns/x/supervisor.out',
    'child tcpdump -n',
    '$ ip netns delete x',
    '$ ip netns delete x',
  ]);
  assert.equal(exec.calls[0]!.kind === 'foreground' && exec.calls[0]!.payload, true);
  assert.equal(sys.actions[0], "$ /usr/sbin/ip netns exec x curl 'a b'  (foreground)");
  assert.ok(!sys.actions.join('\n').includes('SECRET'), 'the environment on fd 3 is never logged');
  child.kill('SIGINT');
  assert.equal(child.signalCode, 'SIGINT');

  const dry = new RecordingExecutor();
  const dsys = new System(true, dry);
  assert.equal(await dsys.foreground({ argv: ['kilo'], env: {} }, io), 0);
  assert.equal(dsys.startHeld(['vpnns', 'supervise', '--await-go'], { logFile: '/x' }), undefined);
  assert.deepEqual(dsys.changeSync(['ip', 'netns', 'delete', 'x']), { code: 0, stdout: '', stderr: '' });
  assert.throws(() => dsys.startChild(['tcpdump'], { env: {}, stdout: 'pipe', stderr: 'pipe' }), /not started under --dry-run/);
  assert.deepEqual(dry.calls, []);
  assert.deepEqual(dsys.actions, ['$ kilo  (foreground)', '$ vpnns supervise --await-go &  (detached, held until told to go)', '$ ip netns delete x', '$ tcpdump &']);
});
