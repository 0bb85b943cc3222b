// NetworkManager keeps vpnns's veths unmanaged: the keyfile drop-in, when it is written (only when
// NetworkManager runs), the reload, and that `down` removes only vpnns's own file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { networkManagerResource, networkManagerRunning, nmDoctorLine, renderNmUnmanaged, nmConfPath, NM_RUNTIME_CONF_DIR } from '../../src/net/network-manager.js';
import { namesFor } from '../../src/core/names.js';
import { parseConfig } from '../../src/config/load.js';
import { System } from '../../src/sys/system.js';
import type { Context } from '../../src/core/resource.js';

const names = namesFor(parseConfig('namespace: vpn-ns\n'));

function ctx(sys: System, said: string[] = []): Context {
  return { sys, names, cfg: parseConfig('namespace: vpn-ns\n'), state: { runtime: {} }, say: (l: string) => said.push(l), saveState: async () => {} } as unknown as Context;
}

test('NetworkManager keyfile: both veth ends unmanaged, appended (+=) so several namespaces\' files add up', () => {
  assert.equal(
    renderNmUnmanaged(names),
    '# Written by vpnns for namespace vpn-ns; removed by `vpnns down`. NetworkManager leaves these links alone.\n[keyfile]\nunmanaged-devices+=interface-name:vh-vpn-ns;interface-name:vn-vpn-ns\n',
  );
  assert.equal(nmConfPath('vpn-ns'), '/run/NetworkManager/conf.d/vpnns-vpn-ns.conf');
  assert.equal(NM_RUNTIME_CONF_DIR, '/run/NetworkManager/conf.d');
});

test('NetworkManager not running: the resource is in place as it is, writes nothing, is never in the way', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-nm-'));
  try {
    const r = networkManagerResource({ confDir: dir, running: async () => false, nmcli: async () => '/usr/bin/nmcli' });
    const sys = new System(true);
    assert.equal(await r.check(ctx(sys)), true);
    writeFileSync(join(dir, 'vpnns-vpn-ns.conf'), 'someone else\'s\n');
    assert.equal(await r.foreign!(ctx(sys)), undefined);
    assert.equal(await r.remove(ctx(sys)), false, 'not vpnns\'s file: left alone');
    assert.deepEqual(sys.actions, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NetworkManager running: up writes the drop-in and reloads only the configuration; down removes it and reloads (dry-run shows both)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-nm-'));
  try {
    const r = networkManagerResource({ confDir: dir, running: async () => true, nmcli: async () => '/usr/bin/nmcli' });
    const dry = new System(true);
    assert.equal(await r.check(ctx(dry)), false);
    await r.apply(ctx(dry));
    assert.deepEqual(dry.actions.map((a) => a.split('\n')[0]), [`write ${dir}/vpnns-vpn-ns.conf (mode 644)`, '$ nmcli general reload conf'.replace('nmcli', '/usr/bin/nmcli')]);
    assert.equal(existsSync(join(dir, 'vpnns-vpn-ns.conf')), false, 'dry-run wrote nothing');

    // For real, with a reload that cannot fail the test machine: nmcli is `true`.
    const real = networkManagerResource({ confDir: join(dir, 'conf.d'), running: async () => true, nmcli: async () => '/bin/true' });
    const sys = new System(false);
    await real.apply(ctx(sys));
    assert.equal(readFileSync(join(dir, 'conf.d', 'vpnns-vpn-ns.conf'), 'utf8'), renderNmUnmanaged(names));
    assert.equal(await real.check(ctx(sys)), true);
    assert.equal(await real.foreign!(ctx(sys)), undefined, 'vpnns\'s own file is not in the way');
    assert.equal(await real.remove(ctx(sys)), true);
    assert.equal(existsSync(join(dir, 'conf.d', 'vpnns-vpn-ns.conf')), false);
    assert.deepEqual(sys.actions.filter((a) => a.startsWith('$')), ['$ /bin/true general reload conf', '$ /bin/true general reload conf']);
    assert.equal(await real.remove(ctx(sys)), false, 'nothing left to remove');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NetworkManager running: a file of that name vpnns did not write is foreign (up refuses) and down leaves it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-nm-'));
  try {
    const r = networkManagerResource({ confDir: dir, running: async () => true, nmcli: async () => '/bin/true' });
    writeFileSync(join(dir, 'vpnns-vpn-ns.conf'), '[keyfile]\nunmanaged-devices=interface-name:eth9\n');
    const sys = new System(false);
    assert.deepEqual(await r.foreign!(ctx(sys)), { what: `${dir}/vpnns-vpn-ns.conf`, fix: 'move it away if nothing needs it' });
    assert.equal(await r.remove(ctx(sys)), false);
    assert.equal(readFileSync(join(dir, 'vpnns-vpn-ns.conf'), 'utf8'), '[keyfile]\nunmanaged-devices=interface-name:eth9\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NetworkManager running without nmcli: the file is written, no reload is attempted, one note says how', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-nm-'));
  try {
    const r = networkManagerResource({ confDir: dir, running: async () => true, nmcli: async () => undefined });
    const sys = new System(false);
    const said: string[] = [];
    await r.apply(ctx(sys, said));
    assert.equal(sys.actions.filter((a) => a.startsWith('$')).length, 0);
    assert.match(said.join('\n'), /nmcli is not installed.*systemctl reload NetworkManager/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('NetworkManager detection: a process named NetworkManager in /proc (an injected one here)', async () => {
  const proc = mkdtempSync(join(tmpdir(), 'vpnns-proc-'));
  try {
    mkdirSync(join(proc, '1'));
    writeFileSync(join(proc, '1', 'comm'), 'init\n');
    mkdirSync(join(proc, 'self'));
    writeFileSync(join(proc, 'self', 'comm'), 'NetworkManager\n');
    assert.equal(await networkManagerRunning(proc), false, 'only numeric entries are processes');
    mkdirSync(join(proc, '812'));
    writeFileSync(join(proc, '812', 'comm'), 'NetworkManager\n');
    assert.equal(await networkManagerRunning(proc), true);
    assert.equal(await networkManagerRunning(join(proc, 'missing')), false);
  } finally {
    rmSync(proc, { recursive: true, force: true });
  }
});

test('doctor: one line saying whether the NetworkManager drop-in applies', () => {
  assert.equal(nmDoctorLine(false, 'vpn-ns'), 'NetworkManager: not running (nothing to do)');
  assert.equal(nmDoctorLine(true, 'vpn-ns'), 'NetworkManager: running; vpnns keeps vh-*/vn-* unmanaged via /run/NetworkManager/conf.d/vpnns-vpn-ns.conf');
});
