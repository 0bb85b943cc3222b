// `vpnns browser` as pure functions (the app's URL inside, the browser's argv and launcher, the
// Firefox prefs), the browser-half line of `vpnns check`, and the zip writer that packs the test
// extensions into .vsix files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import {
  appInsideUrl, appNotServing, appWebPort, browserArgv, browserKind, browserLauncher, browserProfileDir, firefoxPrefs, hasDisplay, pickWebApp, webApps,
} from '../../src/services/browser.js';
import { evaluateBrowserHalf } from '../../src/checks/browser-half.js';
import { zip } from '../tools/vsix.js';

const cfgOf = (lines: string[]) => parseConfig(lines.join('\n'));

test('the app\'s URL inside: the namespace address and the port the app serves on', () => {
  const c = cfgOf(['apps:', '  code-server: {}', '  editor: { profile: code-server, port: 8443 }', '  web: { command: [/bin/true], publish: [{ host: "127.0.0.1:9000", target: 3000 }] }', '  tool: { command: [/bin/true] }']);
  assert.equal(appWebPort('code-server', c.apps['code-server']!), 8080);
  assert.equal(appWebPort('editor', c.apps.editor!), 8443);
  assert.equal(appWebPort('web', c.apps.web!), 3000);
  assert.equal(appWebPort('tool', c.apps.tool!), undefined);
  assert.deepEqual(webApps(c), ['code-server', 'editor', 'web']);
  assert.equal(appInsideUrl('10.0.0.2', 8080), 'http://10.0.0.2:8080/');
});

test('Chromium: its own profile, WebRTC without unproxied UDP, the app origin treated as secure, the URL last', () => {
  const l = { kind: 'chromium' as const, program: '/usr/bin/chromium', url: 'http://10.0.0.2:8080/', profileDir: browserProfileDir('/home/u', 'vpn-ns', 'code-server', 'chromium') };
  assert.deepEqual(browserArgv(l), [
    '/usr/bin/chromium',
    '--user-data-dir=/home/u/.local/share/vpnns/browser/vpn-ns/code-server',
    '--no-first-run',
    '--no-default-browser-check',
    '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
    '--unsafely-treat-insecure-origin-as-secure=http://10.0.0.2:8080',
    'http://10.0.0.2:8080/',
  ]);
  assert.deepEqual(browserArgv({ ...l, headless: true, extra: ['--incognito'] }).slice(-3), ['--headless', '--incognito', 'http://10.0.0.2:8080/']);
});

test('the launcher is a fixed script: the profile and the browser reach it only as arguments', () => {
  const l = { kind: 'chromium' as const, program: '/usr/bin/chromium', url: 'http://10.0.0.2:8080/', profileDir: '/home/u/$(touch x)' };
  const argv = browserLauncher(l);
  assert.equal(argv[0], '/bin/sh');
  assert.equal(argv[2], 'umask 077; mkdir -p -- "$1" && shift && exec "$@"');
  assert.equal(argv[4], '/home/u/$(touch x)');
  assert.deepEqual(argv.slice(5), browserArgv(l));
  // It really runs: the profile is made (0700 under umask 077) and the browser gets its argv unchanged.
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-browser-'));
  try {
    const fake = join(dir, 'fake');
    writeFileSync(fake, '#!/bin/sh\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
    const out = execFileSync(argv[0]!, browserLauncher({ ...l, program: fake, profileDir: join(dir, 'p r o f') }).slice(1), { encoding: 'utf8' });
    assert.equal(out.split('\n')[0], `--user-data-dir=${join(dir, 'p r o f')}`);
    assert.equal(execFileSync('stat', ['-c', '%a', join(dir, 'p r o f')], { encoding: 'utf8' }).trim(), '700');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Firefox: its own profile, no remote, WebRTC off and no DoH in user.js', () => {
  assert.equal(browserKind('/usr/bin/firefox-esr'), 'firefox');
  assert.equal(browserKind('/usr/bin/chromium'), 'chromium');
  const l = { kind: 'firefox' as const, program: '/usr/bin/firefox-esr', url: 'http://10.0.0.2:8080/', profileDir: browserProfileDir('/home/u', 'vpn-ns', 'code-server', 'firefox') };
  assert.deepEqual(browserArgv(l), ['/usr/bin/firefox-esr', '-profile', '/home/u/.local/share/vpnns/browser/vpn-ns/code-server-firefox', '-no-remote', '-new-instance', 'http://10.0.0.2:8080/']);
  const prefs = firefoxPrefs(l.url);
  assert.match(prefs, /^user_pref\("media\.peerconnection\.enabled", false\);$/m);
  assert.match(prefs, /^user_pref\("network\.trr\.mode", 5\);$/m);
  assert.match(prefs, /^user_pref\("dom\.securecontext\.allowlist", "10\.0\.0\.2:8080"\);$/m);
  const argv = browserLauncher(l);
  assert.equal(argv[5], prefs);
  assert.deepEqual(argv.slice(6), browserArgv(l));
});

test('a display is X11 or Wayland', () => {
  assert.equal(hasDisplay({}), false);
  assert.equal(hasDisplay({ DISPLAY: ':0' }), true);
  assert.equal(hasDisplay({ WAYLAND_DISPLAY: 'wayland-0' }), true);
});

test('vpnns check: the browser half of code-server is a SKIP that says why and what confines it', () => {
  assert.equal(evaluateBrowserHalf({ kilo: {} }), undefined, 'no code-server, no line');
  const c = evaluateBrowserHalf({ 'code-server': {}, kilo: {} })!;
  assert.equal(c.name, 'browser-half');
  assert.equal(c.result, 'skip');
  assert.match(c.reason, /^not checkable from here: code-server runs its workbench, webviews and web extensions in your browser, .*`sudo --preserve-env=DISPLAY,XAUTHORITY,WAYLAND_DISPLAY vpnns browser code-server`$/);
});

const noUnzip = spawnSync('unzip', ['-v']).status === 0 ? false : 'unzip is not installed (`apt-get install unzip`)';

test('the zip writer makes archives unzip accepts', { skip: noUnzip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-zip-'));
  try {
    const file = join(dir, 'x.zip');
    writeFileSync(file, zip([{ name: 'a/b.txt', data: Buffer.from('hello '.repeat(100)) }, { name: '[Content_Types].xml', data: Buffer.from('<x/>') }]));
    assert.match(execFileSync('unzip', ['-t', file], { encoding: 'utf8' }), /No errors detected/);
    assert.equal(execFileSync('unzip', ['-p', file, 'a/b.txt'], { encoding: 'utf8' }), 'hello '.repeat(100));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vpnns browser names the fix when the app is not serving, and says nothing while it runs', () => {
  assert.equal(appNotServing('code-server', 'running'), undefined);
  assert.equal(appNotServing('code-server', 'starting'), undefined);
  assert.equal(appNotServing('code-server', 'stopped'), 'apps.code-server is not running (stopped), so the page will not load; start it with `sudo vpnns app start code-server` (its output: `sudo vpnns app logs code-server`).');
  assert.match(appNotServing('web', 'crash-looping')!, /^apps\.web is not running \(crash-looping\)/);
});

test('vpnns browser without an app to open says how to add one', () => {
  assert.throws(() => pickWebApp(cfgOf(['apps:', '  tool: { command: [/bin/true] }']), undefined), /^UsageError: no app with a web UI is configured \(a code-server app, or an app with a `publish` list\); add one under `apps:` in the config, or pass --url URL\.$/);
  assert.equal(pickWebApp(cfgOf(['apps:', '  code-server: {}', '  tool: { command: [/bin/true] }']), undefined), 'code-server');
  assert.throws(() => pickWebApp(cfgOf(['apps:', '  a: { profile: code-server }', '  b: { profile: code-server, port: 8081 }']), undefined), /several apps have a web UI \(a, b\); name one/);
});
