// --dry-run of the commands that used to call `run` directly (app install code-server here; app
// start/stop, kilo and run prepare go through the same System): against the recording executor, the
// dry run reaches the machine with reads only, and the real run issues the steps the dry run printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingExecutor } from '../../src/sys/recording.js';
import { System } from '../../src/sys/system.js';
import { codeServerBin, installCodeServer, CODE_SERVER_BUILD_PACKAGES } from '../../src/services/profiles/code-server-install.js';
import { CODE_SERVER_VERSION } from '../../src/services/profiles/code-server.js';

const PREFIX = '/opt/vpnnsut/code-server';
const STAGING = `${PREFIX}.partial-${process.pid}`;
const NPM = `npm install --omit=dev --no-package-lock code-server@${CODE_SERVER_VERSION}`;
const isQuery = (a: readonly string[]) => a[0] === 'dpkg-query' || a.at(-1) === '--version';
const opts = { prefix: PREFIX, linkDir: '/usr/local/vpnnsut-bin', nodeVersion: '20.19.0', arch: 'x64' };

function packagesInstalled(exec: RecordingExecutor): RecordingExecutor {
  // npm install puts the executable into the staging tree.
  exec.on(['npm', 'install'], () => {
    exec.files.set(codeServerBin(STAGING), '#!/usr/bin/env node');
    return {};
  });
  return exec.on(['dpkg-query'], { stdout: 'install ok installed' });
}

test('app install code-server --dry-run: only reads reach the machine; it prints the npm install, the move and the link', async () => {
  const exec = packagesInstalled(new RecordingExecutor());
  const sys = new System(true, exec);
  const said: string[] = [];
  const bin = await installCodeServer(sys, opts, (l) => said.push(l));
  assert.equal(bin, codeServerBin(PREFIX));
  assert.deepEqual(exec.changes(isQuery), [], 'nothing but queries ran');
  assert.equal(exec.commands().filter((c) => c.startsWith('dpkg-query')).length, CODE_SERVER_BUILD_PACKAGES.length);
  assert.deepEqual(sys.actions, [`$ ${NPM}`, `rename ${STAGING} -> ${PREFIX}`, `$ ln -sfn ${bin} /usr/local/vpnnsut-bin/code-server`]);
  assert.match(said[0]!, /^would install code-server .* into \/opt\/vpnnsut\/code-server with npm/);
});

test('app install code-server: the real run builds in staging, checks the build, swaps it in and links it', async () => {
  const exec = packagesInstalled(new RecordingExecutor());
  exec.on(['npm', 'pack'], { stdout: 'vscode-ripgrep-linux-x64-1.18.0.tgz\n' });
  exec.on(['tar', 'xzf'], (argv) => {
    exec.files.set(`${argv[argv.length - 1]}/package/bin/rg`, 'ELF');
    return {};
  });
  exec.on([codeServerBin(STAGING), '--version'], { stdout: `${CODE_SERVER_VERSION} abcdef with Code 1.100.3\n` });
  const sys = new System(false, exec);
  await installCodeServer(sys, opts, () => {});
  const changes = exec.changes(isQuery).map((c) => c.replace(/\/tmp\/vpnns-code-server-fake\d+/g, 'TMP'));
  assert.deepEqual(changes, [
    'mkdir TMP/pack',
    '$ npm pack --silent @vscode/ripgrep-linux-x64@1.18.0 --pack-destination TMP/pack',
    '$ tar xzf TMP/pack/vscode-ripgrep-linux-x64-1.18.0.tgz -C TMP/pack',
    'mkdir TMP/vscode-ripgrep-cache-1.15.11',
    '$ tar czf TMP/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz -C TMP/pack/package/bin rg',
    `remove ${STAGING}`,
    `write ${STAGING}/package.json`,
    `$ ${NPM}`,
    `remove ${PREFIX}`,
    `rename ${STAGING} -> ${PREFIX}`,
    `$ ln -sfn ${codeServerBin(PREFIX)} /usr/local/vpnnsut-bin/code-server`,
  ]);
  const npm = exec.calls.find((c) => c.kind === 'run' && c.argv[0] === 'npm' && c.argv[1] === 'install');
  assert.ok(npm);
});

test('app install code-server: a build that does not answer its version is removed, the old install stays', async () => {
  const exec = packagesInstalled(new RecordingExecutor());
  exec.on(['npm', 'pack'], { stdout: 'x.tgz\n' });
  exec.on(['tar', 'xzf'], (argv) => {
    exec.files.set(`${argv[argv.length - 1]}/package/bin/rg`, 'ELF');
    return {};
  });
  exec.on([codeServerBin(STAGING), '--version'], { code: 1 });
  await assert.rejects(installCodeServer(new System(false, exec), opts, () => {}), /does not answer/);
  const changes = exec.changes(isQuery);
  assert.equal(changes.at(-1), `remove ${STAGING}`);
  assert.ok(!changes.includes(`remove ${PREFIX}`), changes.join('\n'));
});

test('app install code-server: missing build packages stop it with the apt line, dry run or not, before anything changes', async () => {
  for (const dryRun of [true, false]) {
    const exec = new RecordingExecutor().on(['dpkg-query'], { stdout: 'unknown ok not-installed' });
    const sys = new System(dryRun, exec);
    await assert.rejects(installCodeServer(sys, opts, () => {}), /install them with: apt-get install libkrb5-dev/);
    assert.deepEqual(exec.changes(isQuery), []);
    assert.deepEqual(sys.actions, []);
  }
});

test('run prepare --dry-run prints the config files a unit would get and writes none', async () => {
  const { main } = await import('../../src/cli/main.js');
  const { parseConfig } = await import('../../src/config/load.js');
  const { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } = await import('node:fs');
  // A state of its own under /run/vpnns (where `run` reads it), removed afterwards.
  const ns = `utdry${process.pid % 100000}`;
  const stateDir = `/run/vpnns/${ns}`;
  const cfg = parseConfig(`namespace: ${ns}\nvpn:\n  type: command\n  start: [/bin/true]\n  interface: tun9\n`);
  mkdirSync(stateDir, { recursive: true, mode: 0o755 });
  try {
    writeFileSync(`${stateDir}/state.json`, JSON.stringify({ version: 1, namespace: ns, hostNetns: 'net:1', startedAt: '', config: cfg, applied: [], runtime: {} }), { mode: 0o600 });
    const outs: string[] = [];
    const errs: string[] = [];
    const code = await main(['run', 'prepare', 'socks', '--namespace', ns, '--dry-run'], { out: (l = '') => outs.push(l), err: (l) => errs.push(l), isTTY: false });
    assert.equal(code, 0, errs.join('\n'));
    const text = outs.join('\n');
    assert.match(text, new RegExp(`^write \\S*danted\\.conf \\(mode 644\\)`, 'm'));
    assert.match(text, /internal: 10\.\d+\.\d+\.\d+ port = 1080/);
    assert.equal(outs.at(-1), '# nothing changed (--dry-run).');
    assert.deepEqual(readdirSync(stateDir), ['state.json'], 'nothing written beside the state');
    const conf = /^write (\S*danted\.conf)/m.exec(text)![1]!;
    assert.equal(existsSync(conf), false);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});
