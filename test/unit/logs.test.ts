import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  LogFollower,
  atLeast,
  formatEntry,
  jsonEntry,
  lastLines,
  logSources,
  matchesComponent,
  parseLogLine,
  readLogs,
} from '../../src/core/log-reader.js';

const BIN = fileURLToPath(new URL('../../../bin/vpnns', import.meta.url));

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'vpnns-logs-test-'));
}

const ev = (component: string, level: string, msg: string, fields: Record<string, unknown> = {}, t = '2026-01-01T00:00:00.000Z') =>
  JSON.stringify({ t, level, component, msg, ...fields });

test('parseLogLine + formatEntry: time level component msg key=val, quoting values with spaces', () => {
  const src = { path: '/x/vpnns.log' };
  const e = parseLogLine(ev('vpn', 'warn', 'VPN client lost; restarting', { reason: 'exited (SIGKILL)', restarts: 1, detail: { a: 1 } }), src)!;
  assert.equal(e.component, 'vpn');
  assert.equal(e.level, 'warn');
  assert.deepEqual(e.fields, { reason: 'exited (SIGKILL)', restarts: 1, detail: { a: 1 } });
  assert.equal(formatEntry(e), '2026-01-01T00:00:00.000Z warn  vpn            VPN client lost; restarting reason="exited (SIGKILL)" restarts=1 detail={"a":1}');
  assert.equal(jsonEntry(e), e.raw, '--json passes our lines through verbatim');
});

test('parseLogLine: a line that is not ours is shown as is; program output is attributed to its component', () => {
  const junk = parseLogLine('Segmentation fault', { path: '/x/vpnns.log' })!;
  assert.equal(junk.msg, 'Segmentation fault');
  assert.equal(parseLogLine('   ', { path: '/x/vpnns.log' }), undefined);
  const raw = parseLogLine('Mar  1 danted[12]: info: pass(1): tcp/accept', { path: '/x/socks.log', component: 'socks' })!;
  assert.equal(raw.source, 'socks.log');
  assert.match(formatEntry(raw), /socks\s+socks\.log\| Mar {2}1 danted\[12\]/);
  assert.deepEqual(JSON.parse(jsonEntry(raw)), { component: 'socks', source: 'socks.log', msg: 'Mar  1 danted[12]: info: pass(1): tcp/accept' });
});

test('component and level filters', () => {
  assert.ok(matchesComponent({ component: 'forward-18080' }, 'forward'));
  assert.ok(matchesComponent({ component: 'forward-18080' }, 'forward-18080'));
  assert.ok(!matchesComponent({ component: 'forwarder' }, 'forward'));
  assert.ok(!matchesComponent({ component: 'socks' }, 'vpn'));
  assert.ok(matchesComponent({ component: 'socks' }, undefined));
  assert.ok(atLeast({ level: 'error' }, 'warn'));
  assert.ok(!atLeast({ level: 'info' }, 'warn'));
  assert.ok(atLeast({ level: undefined }, 'info'));
  assert.ok(atLeast({ level: 'debug' }, undefined));
});

test('logSources: vpnns.log, plus the component\'s own files', () => {
  assert.deepEqual(logSources('/l'), [{ path: '/l/vpnns.log' }]);
  assert.deepEqual(
    logSources('/l', 'socks').map((s) => s.path),
    ['/l/vpnns.log', '/l/socks.log'],
  );
  assert.ok(logSources('/l', 'vpn').some((s) => s.path === '/l/wireguard-go.log'));
  assert.ok(logSources('/l', 'vpn').some((s) => s.path === '/l/openvpn.log'));
  assert.deepEqual(logSources('/l', 'supervisor').map((s) => s.path), ['/l/vpnns.log', '/l/supervisor.out']);
});

test('lastLines: the last N matching lines, across chunk boundaries, and everything with Infinity', () => {
  const dir = tmp();
  try {
    const f = join(dir, 'big.log');
    const lines = Array.from({ length: 20000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    writeFileSync(f, lines.join('\n') + '\n');
    assert.deepEqual(lastLines(f, 3), lines.slice(-3));
    assert.deepEqual(lastLines(f, Infinity), lines);
    assert.deepEqual(lastLines(f, 5, (l) => l.startsWith('nothing')), []);
    assert.deepEqual(lastLines(f, 2, (l) => /^line (7|17) /.test(l)), [lines[7], lines[17]]);
    assert.deepEqual(lastLines(join(dir, 'missing.log'), 10), []);
    writeFileSync(f, 'a\nb\npartial');
    assert.deepEqual(lastLines(f, 10), ['a', 'b', 'partial']);
    assert.deepEqual(lastLines(f, 10, undefined, 4), ['a', 'b'], 'stops at `end`');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readLogs: component filter on vpnns.log, the program\'s own output first, --json', () => {
  const dir = tmp();
  try {
    writeFileSync(join(dir, 'vpnns.log'), [ev('supervisor', 'info', 'supervisor starting'), ev('vpn', 'info', 'connected'), ev('socks', 'info', 'started'), ev('vpn', 'warn', 'VPN client lost; restarting', { restarts: 1 })].join('\n') + '\n');
    writeFileSync(join(dir, 'wireguard-go.log'), 'wg says hi\n');
    const pretty = readLogs(logSources(dir, 'vpn'), { component: 'vpn', json: false, lines: 200 });
    assert.equal(pretty.length, 3);
    assert.match(pretty[0]!, /wireguard-go\.log\| wg says hi/);
    assert.match(pretty[1]!, /info\s+vpn\s+connected/);
    assert.match(pretty[2]!, /warn\s+vpn\s+VPN client lost; restarting restarts=1/);
    const json = readLogs(logSources(dir, 'vpn'), { component: 'vpn', json: true, lines: 1 });
    assert.equal(json.length, 2, 'one line per file');
    assert.equal(JSON.parse(json[1]!).msg, 'VPN client lost; restarting');
    const warn = readLogs(logSources(dir), { json: false, lines: 200, level: 'warn' });
    assert.equal(warn.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LogFollower: new lines only, partial lines held back, truncation, rotation, late files', () => {
  const dir = tmp();
  try {
    const main = join(dir, 'vpnns.log');
    const own = join(dir, 'socks.log');
    writeFileSync(main, 'old 1\nold 2\n');
    const f = new LogFollower([{ path: main }, { path: own, component: 'socks' }]);
    const lines = () => f.poll().map((x) => `${x.source.component ?? 'main'}:${x.line}`);
    assert.deepEqual(lines(), [], 'starts at the end');
    appendFileSync(main, 'new 1\nhalf');
    assert.deepEqual(lines(), ['main:new 1']);
    appendFileSync(main, ' done\n');
    assert.deepEqual(lines(), ['main:half done']);
    writeFileSync(own, 'socks appeared\n');
    assert.deepEqual(lines(), ['socks:socks appeared'], 'a file that appears later is read from its start');
    truncateSync(main, 0);
    appendFileSync(main, 'after truncate\n');
    assert.deepEqual(lines(), ['main:after truncate']);
    // Rotation: the old file gets a last line after being moved; then a new file takes its name.
    renameSync(main, `${main}.1`);
    appendFileSync(`${main}.1`, 'last words\n');
    writeFileSync(main, 'fresh 1\n');
    assert.deepEqual(lines(), ['main:last words', 'main:fresh 1']);
    rmSync(main);
    assert.deepEqual(lines(), []);
    writeFileSync(main, 'back\n');
    assert.deepEqual(lines(), ['main:back']);
    f.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vpnns logs: the CLI reads the configured log dir, filters, refuses odd component names', () => {
  const dir = tmp();
  try {
    const logDir = join(dir, 'log');
    const ns = `lt${process.pid}`;
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, `namespace: ${ns}\nlogDir: ${logDir}\n`);
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'logs', '--config', cfg, ...args], { encoding: 'utf8' });
    const empty = run();
    assert.equal(empty.status, 0);
    assert.match(empty.stderr, /no logs in/);
    rmSync(logDir, { recursive: true, force: true });
    mkdirSync(join(logDir, ns), { recursive: true });
    writeFileSync(join(logDir, ns, 'vpnns.log'), [ev('vpn', 'info', 'connected'), ev('forward-18080', 'warn', 'died; restarting')].join('\n') + '\n');
    const fwd = run('forward');
    assert.equal(fwd.status, 0, fwd.stderr);
    assert.equal(fwd.stdout.trim().split('\n').length, 1);
    assert.match(fwd.stdout, /forward-18080\s+died; restarting/);
    const json = run('--json', '-n', 'all');
    assert.deepEqual(json.stdout.trim().split('\n').map((l) => JSON.parse(l).component), ['vpn', 'forward-18080']);
    const bad = run('../../etc/passwd');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a component name/);
    assert.equal(run('--level', 'loud').status, 2);
    assert.equal(run('-n', '-3').status, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
