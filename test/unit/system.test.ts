import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { System } from '../../src/sys/system.js';
import { CommandError } from '../../src/sys/exec.js';

const dir = mkdtempSync(join(tmpdir(), 'vpnnsut-sys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('dry-run change: recorded, not run, code 0', async () => {
  const sys = new System(true);
  const marker = join(dir, 'touched');
  const r = await sys.change(['false']);
  assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
  await sys.change(['touch', marker]);
  assert.equal(existsSync(marker), false, 'dry-run ran the command');
  assert.deepEqual(sys.actions, ['$ false', `$ touch ${marker}`]);
});

test('dry-run change with input: the input is shown under the command', async () => {
  const sys = new System(true);
  await sys.change(['nft', '-f', '-'], { input: 'table inet t\ndelete table inet t\n' });
  assert.equal(sys.actions.length, 1);
  assert.match(sys.actions[0]!, /^\$ nft -f - {2}<<'EOF'\n {4}table inet t\n {4}delete table inet t\nEOF$/);
});

test('dry-run writeFile: recorded with the content, nothing written', async () => {
  const sys = new System(true);
  const path = join(dir, 'sub', 'resolv.conf');
  await sys.writeFile(path, 'nameserver 10.8.0.1\n');
  assert.equal(existsSync(path), false);
  assert.equal(existsSync(join(dir, 'sub')), false, 'dry-run created the directory');
  assert.equal(sys.actions.length, 1);
  assert.match(sys.actions[0]!, new RegExp(`^write ${path} \\(mode 644\\)\\n {4}nameserver 10\\.8\\.0\\.1\\n$`));
});

test('dry-run writeFile secret: length only, never the content', async () => {
  const sys = new System(true);
  const key = 'PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
  await sys.writeFile(join(dir, 'wg.conf'), `[Interface]\n${key}\n`, { mode: 0o600, secret: true });
  const all = sys.actions.join('\n');
  assert.ok(!all.includes('yAnz5TF'), all);
  assert.ok(!all.includes('PrivateKey'), all);
  assert.match(all, /mode 600/);
  assert.match(all, /secret/);
  assert.equal(existsSync(join(dir, 'wg.conf')), false);
});

test('dry-run remove and mkdir: recorded, nothing touched', async () => {
  const sys = new System(true);
  const keep = join(dir, 'keep');
  writeFileSync(keep, 'x');
  await sys.remove(keep);
  assert.equal(readFileSync(keep, 'utf8'), 'x');
  await sys.mkdir(join(dir, 'newdir'));
  assert.equal(existsSync(join(dir, 'newdir')), false);
  assert.deepEqual(sys.actions, [`remove ${keep}`, `mkdir ${join(dir, 'newdir')}`]);
  // An existing directory is not an action.
  await sys.mkdir(dir);
  assert.equal(sys.actions.length, 2);
});

test('dry-run still runs queries (they change nothing)', async () => {
  const sys = new System(true);
  const r = await sys.query(['echo', 'hi']);
  assert.equal(r.stdout, 'hi\n');
  assert.deepEqual(sys.actions, []);
});

test('real mode: change runs and fails loudly; writeFile applies the mode, even over a wider file', async () => {
  const sys = new System(false);
  await assert.rejects(sys.change(['false']), CommandError);
  assert.equal((await sys.change(['false'], { allowFail: true })).code, 1);
  const path = join(dir, 'real', 'secret.conf');
  await sys.writeFile(path, 'k\n', { mode: 0o600, secret: true });
  assert.equal(readFileSync(path, 'utf8'), 'k\n');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  writeFileSync(path, 'old', { mode: 0o644 });
  await sys.writeFile(path, 'k2\n', { mode: 0o600, secret: true });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(readFileSync(path, 'utf8'), 'k2\n');
});
