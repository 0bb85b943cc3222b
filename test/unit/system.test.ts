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

test('real mode: changeSync returns the result as change does (stderr kept, a missing program 127, a timeout killed)', () => {
  const sys = new System(false);
  assert.deepEqual(sys.changeSync(['sh', '-c', 'cat; echo err >&2; exit 3'], { input: 'in\n', allowFail: true }), { code: 3, stdout: 'in\n', stderr: 'err\n' });
  assert.throws(() => sys.changeSync(['false']), CommandError);
  assert.equal(sys.changeSync(['/nonexistent/vpnns-ut'], { allowFail: true }).code, 127);
  const slow = sys.changeSync(['sleep', '30'], { timeoutMs: 200, allowFail: true });
  assert.notEqual(slow.code, 0);
  assert.match(slow.stderr, /timed out after 200 ms/);
});

test('real mode: a foreground program returns its exit code (and 127 when it cannot start); a child started has its pipes', async () => {
  const sys = new System(false);
  const errs: string[] = [];
  const io = { err: (l: string) => void errs.push(l) };
  assert.equal(await sys.foreground({ argv: ['sh', '-c', 'exit 5'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, io), 5);
  assert.equal(await sys.foreground({ argv: ['/nonexistent/vpnns-ut'], env: {} }, io), 127);
  assert.match(errs.join('\n'), /cannot run \/nonexistent\/vpnns-ut/);
  const child = sys.startChild(['sh', '-c', 'echo "$X"'], { env: { X: 'from the env', PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdout: 'pipe', stderr: 'ignore' });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((r) => child.on('close', () => r()));
  assert.equal(out, 'from the env\n');
  assert.equal(sys.actions.length, 3);
});
