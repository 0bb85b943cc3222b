// `vpnns list`: what it makes of the files under /run/vpnns (every value checked, links never
// followed, names by the one rule) and how it shows them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeNamespace, listNamespaces, type ListedNamespace } from '../../src/report/list.js';
import { listJson, renderList } from '../../src/cli/list.js';
import { renderSummary } from '../../src/plan/summary.js';
import { namesFor } from '../../src/core/names.js';
import { parseConfig } from '../../src/config/load.js';

const cfg = parseConfig(`namespace: vpn-ns
vpn: {type: command, start: [/bin/true], interface: tun0}
apps: {web: {command: [/bin/true], publish: [{port: 8080}]}}
publish: [{port: 9000, via: kernel}]
`);
const names = namesFor(cfg);
const summary = JSON.parse(renderSummary(cfg, names)) as unknown;
const status = (vpnState: string, detail: Record<string, unknown> = {}) => ({
  pid: 4242,
  pidStart: 77,
  components: {
    vpn: { state: vpnState, detail: { connected: true, egressIp: '198.51.100.10', probedAt: '2026-12-01T22:00:00.000Z', ...detail } },
    'app-web': { state: 'running' },
  },
});
const alive = () => true;

test('summary.json: provider, apps, the config\'s publications and the namespace address; nothing else', () => {
  assert.deepEqual(summary, {
    version: 1,
    namespace: 'vpn-ns',
    vpn: { type: 'command' },
    apps: ['web'],
    published: [
      { listen: '127.0.0.1:9000', target: `${names.nsAddr}:9000`, via: 'kernel', origin: 'publish[0]' },
      { listen: '127.0.0.1:8080', target: `${names.nsAddr}:8080`, via: 'forwarder', origin: 'apps.web.publish[0]' },
    ],
    nsAddr: names.nsAddr,
  });
});

test('list: a connected namespace with its egress (the VPN\'s), apps and published ports, also those added at run time', () => {
  const n = describeNamespace('vpn-ns', { summary, status: status('running'), added: [{ port: 7000 }] }, true, alive);
  assert.deepEqual(n, {
    namespace: 'vpn-ns',
    state: 'running',
    vpn: 'command',
    apps: [{ name: 'web', state: 'running' }],
    published: [
      { listen: '127.0.0.1:9000', target: `${names.nsAddr}:9000`, via: 'kernel', origin: 'publish[0]' },
      { listen: '127.0.0.1:8080', target: `${names.nsAddr}:8080`, via: 'forwarder', origin: 'apps.web.publish[0]' },
      { listen: '127.0.0.1:7000', target: `${names.nsAddr}:7000`, via: 'forwarder', origin: '`vpnns publish add`' },
    ],
    supervisorPid: 4242,
    egress: '198.51.100.10',
    egressProbedAt: '2026-12-01T22:00:00.000Z',
  });
});

test('list: states from the supervisor\'s view; an egress is shown only while the tunnel is up', () => {
  assert.equal(describeNamespace('a', { summary, status: status('backoff') }, true, alive).state, 'vpn-down');
  assert.equal(describeNamespace('a', { summary, status: status('backoff') }, true, alive).egress, undefined);
  assert.equal(describeNamespace('a', { summary, status: status('starting') }, true, alive).state, 'starting');
  assert.equal(describeNamespace('a', { summary, status: status('running', { connected: false }) }, true, alive).state, 'vpn-down');
  assert.equal(describeNamespace('a', { summary, status: status('running') }, true, () => false).state, 'supervisor-dead');
  assert.equal(describeNamespace('a', { summary, status: { ...status('failed'), fatal: 'no handshake' } }, true, () => false).state, 'failed');
  assert.equal(describeNamespace('a', { summary }, true, alive).state, 'up', 'no supervisor');
  const gone = describeNamespace('a', { summary, status: status('running') }, false, alive);
  assert.equal(gone.state, 'down');
  assert.equal(gone.egress, undefined);
  assert.deepEqual(gone.apps, [{ name: 'web', state: 'stopped' }]);
  assert.equal(describeNamespace('a', {}, true, alive).vpn, 'unknown', 'no summary (an older vpnns)');
  assert.equal(describeNamespace('a', { summary, status: status('running', { probeError: 'timeout' }) }, true, alive).egress, undefined);
});

test('list: hostile values in the files are dropped, never shown', () => {
  const evil = '\x1b]0;pwned\x07';
  const n = describeNamespace(
    'a',
    {
      summary: { vpn: { type: evil }, apps: [evil, 'ok', 7], published: [{ listen: evil, target: '10.0.0.2:1', via: 'forwarder', origin: 'x' }, { listen: '127.0.0.1:1', target: '10.0.0.2:1', via: 'forwarder', origin: evil }], nsAddr: evil },
      status: { pid: 'x', components: { vpn: { state: evil, detail: { egressIp: `(hidden: the host's address)`, probedAt: evil } }, 'app-ok': { state: evil } } },
      added: [{ port: 7000 }],
    },
    true,
    alive,
  );
  assert.deepEqual(n, { namespace: 'a', state: 'up', vpn: 'unknown', apps: [{ name: 'ok', state: 'stopped' }], published: [] });
  assert.ok(!JSON.stringify(n).includes('\x1b'));
});

test('list rendering: a table for people, "no namespaces" when none; --json has stable field names', () => {
  const n: ListedNamespace = describeNamespace('vpn-ns', { summary, status: status('running') }, true, alive);
  const off: ListedNamespace = { namespace: 'other', state: 'down', vpn: 'wireguard', apps: [], published: [] };
  assert.equal(
    renderList([n, off]),
    [
      'NAMESPACE  STATE    VPN        EGRESS         APPS           PUBLISHED',
      'vpn-ns     running  command    198.51.100.10  web (running)  127.0.0.1:9000->9000 (kernel), 127.0.0.1:8080->8080',
      'other      down     wireguard  -              -              -',
    ].join('\n'),
  );
  assert.equal(renderList([]), 'no namespaces');
  assert.deepEqual(JSON.parse(listJson([])), { namespaces: [] });
  assert.deepEqual(Object.keys((JSON.parse(listJson([n])) as { namespaces: object[] }).namespaces[0]!).sort(), ['apps', 'egress', 'egressProbedAt', 'namespace', 'published', 'state', 'supervisorPid', 'vpn']);
});

test('list reads only real directories with valid names, files by O_NOFOLLOW, owned by root and not writable by others', async () => {
  const run = mkdtempSync(join(tmpdir(), 'vpnns-list-'));
  const netns = mkdtempSync(join(tmpdir(), 'vpnns-netns-'));
  const uid = process.getuid!();
  try {
    chmodSync(run, 0o755);
    const ns = (n: string) => {
      mkdirSync(join(run, n), { mode: 0o755 });
      writeFileSync(join(netns, n), '');
      return join(run, n);
    };
    writeFileSync(join(ns('good'), 'summary.json'), JSON.stringify(summary), { mode: 0o644 });
    writeFileSync(join(run, 'good', 'status.json'), JSON.stringify(status('running')), { mode: 0o644 });
    // A name the rule refuses, a symlink to a valid-looking directory, plain files of the run dir.
    mkdirSync(join(run, 'Bad..Name'));
    writeFileSync(join(run, 'Bad..Name', 'summary.json'), JSON.stringify(summary));
    symlinkSync(join(run, 'good'), join(run, 'linked'));
    writeFileSync(join(run, 'good.lock'), '');
    writeFileSync(join(run, 'ip_forward.net_1.orig'), '0\n');
    // status.json a symlink (to a file that would read as running), summary.json world-writable.
    const sneaky = ns('sneaky');
    writeFileSync(join(run, 'elsewhere.json'), JSON.stringify(status('running')));
    symlinkSync(join(run, 'elsewhere.json'), join(sneaky, 'status.json'));
    writeFileSync(join(sneaky, 'summary.json'), JSON.stringify(summary), { mode: 0o644 });
    chmodSync(join(sneaky, 'summary.json'), 0o666);
    // A FIFO must not hang the reader.
    spawnSync('mkfifo', [join(ns('fifo'), 'summary.json')]);
    // A file owned by someone else.
    const other = ns('other');
    writeFileSync(join(other, 'summary.json'), JSON.stringify(summary), { mode: 0o644 });
    if (uid === 0) chownSync(join(other, 'summary.json'), 65534, 65534);

    const list = await listNamespaces({ runDir: run, netnsDir: netns, trustedUid: uid, alive });
    assert.deepEqual(list.map((n) => n.namespace), ['fifo', 'good', 'other', 'sneaky']);
    const by = Object.fromEntries(list.map((n) => [n.namespace, n]));
    assert.equal(by.good!.state, 'running');
    assert.equal(by.good!.vpn, 'command');
    assert.equal(by.sneaky!.state, 'up', 'the symlinked status.json was not read');
    assert.equal(by.sneaky!.vpn, 'unknown', 'the world-writable summary.json was not read');
    assert.equal(by.fifo!.vpn, 'unknown');
    if (uid === 0) assert.equal(by.other!.vpn, 'unknown', 'a file root does not own is not vpnns\'s');

    // A run directory others may write to: nothing in it is taken as vpnns's.
    chmodSync(run, 0o777);
    assert.deepEqual(await listNamespaces({ runDir: run, netnsDir: netns, trustedUid: uid, alive }), []);
    assert.deepEqual(await listNamespaces({ runDir: join(run, 'missing'), trustedUid: uid }), []);
  } finally {
    rmSync(run, { recursive: true, force: true });
    rmSync(netns, { recursive: true, force: true });
  }
});
