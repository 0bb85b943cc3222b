// bin/vpnns loads its bundles with the V8 code cache the build wrote (bin/bundle-loader.cjs): the
// cache is used for the bundle it was made from and for no other, a cache V8 refuses costs only the
// speed, and what a bundle leaves out still loads through import() when the cache is in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(REPO_ROOT, 'dist', 'src', 'cli');

function vpnns(root: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'vpnns'), '--trace-timing', ...args], { encoding: 'utf8', timeout: 30_000 });
  const cache = /"what":"bundle [a-z.]+: code cache ([a-zA-Z0-9 ]+)"/.exec(r.stderr)?.[1];
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, cache };
}

/** A copy of what bin/vpnns needs to run `status --help` from the CLI's bundle, with `cache` as its code cache. */
function copyWith(cache: Buffer): string {
  const root = mkdtempSync(join(tmpdir(), 'vpnns-bundle-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
  for (const f of ['vpnns', 'bundle-loader.cjs', 'package.json']) copyFileSync(join(REPO_ROOT, 'bin', f), join(root, 'bin', f));
  copyFileSync(join(REPO_ROOT, 'package.json'), join(root, 'package.json'));
  // The compiled tree's entry first, then the bundle: a bundle older than the tree would be ignored.
  copyFileSync(join(CLI, 'main.js'), join(root, 'dist', 'src', 'cli', 'main.js'));
  copyFileSync(join(CLI, 'main.bundle.cjs'), join(root, 'dist', 'src', 'cli', 'main.bundle.cjs'));
  writeFileSync(join(root, 'dist', 'src', 'cli', 'main.bundle.cjs.v8cache'), cache);
  return root;
}

test('the build writes each bundle a code cache of its own build, and bin/vpnns uses it', () => {
  for (const name of ['main.bundle.cjs', 'exec.bundle.cjs']) {
    const id = /^\/\/ vpnns build ([0-9a-f]{32})\n/.exec(readFileSync(join(CLI, name), 'utf8'))?.[1];
    assert.ok(id, `${name} starts with its build id`);
    assert.equal(readFileSync(join(CLI, `${name}.v8cache`)).subarray(0, 33).toString('latin1'), `${id}\n`);
  }
  const r = vpnns(REPO_ROOT, 'status', '--help');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.cache, 'used');
  assert.match(r.stdout, /vpnns status/);
});

test('what exec\'s bundle leaves out (the config loader) still loads through import() with the cache in use', () => {
  const r = vpnns(REPO_ROOT, 'exec', '--config', '/nonexistent/vpnns.yaml', '--', 'true');
  assert.equal(r.cache, 'used');
  // The loader's own sentence: the import worked (a failed import would be an internal error).
  assert.match(r.stderr, /\/nonexistent\/vpnns\.yaml: no such file/);
  assert.doesNotMatch(r.stderr, /internal error/);
  assert.equal(r.code, 2);
});

test('a cache of another build is not used, and one V8 refuses only costs the speed', () => {
  const real = readFileSync(join(CLI, 'main.bundle.cjs.v8cache'));
  const other = Buffer.concat([Buffer.from(`${'0'.repeat(32)}\n`, 'latin1'), real.subarray(33)]);
  const garbage = Buffer.concat([real.subarray(0, 33), Buffer.alloc(4096, 7)]);
  for (const [cache, expect] of [
    [other, 'not of this build'],
    [garbage, 'rejected by V8'],
    [Buffer.alloc(0), 'not of this build'],
  ] as const) {
    const root = copyWith(cache);
    try {
      const r = vpnns(root, 'status', '--help');
      assert.equal(r.cache, expect);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /vpnns status/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});
