import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryFromArgs, publishedKey, withAdded, ADDED_ORIGIN } from '../../src/services/added-publications.js';
import { publications, kernelPublications, publishServices, hasKernelFastPath, dnatPublications } from '../../src/services/publish.js';
import { isListening, procNetAddress } from '../../src/net/listening.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { namesFor } from '../../src/core/names.js';
import { UsageError } from '../../src/errors.js';

test('entryFromArgs: the config\'s defaults and rules, errors named after the option', () => {
  assert.deepEqual(entryFromArgs('3000', undefined, undefined), { target: 3000, host: '127.0.0.1:3000', via: 'forwarder' });
  assert.deepEqual(entryFromArgs('3000', '[::1]:9000', 'forwarder'), { target: 3000, host: '[::1]:9000', via: 'forwarder' });
  assert.deepEqual(entryFromArgs('3000', '127.0.0.1:9000', 'kernel'), { target: 3000, host: '127.0.0.1:9000', via: 'kernel' });
  const bad: Array<[Parameters<typeof entryFromArgs>, RegExp]> = [
    [[undefined, undefined, undefined], /^which namespace port\?/],
    [['x', undefined, undefined], /^which namespace port\?/],
    [['70000', undefined, undefined], /^TARGET: expected an integer from 1 to 65535/],
    [['3000', 'localhost:1', undefined], /^--host: expected ADDR:PORT/],
    [['3000', '[::1]:9000', 'kernel'], /^--host: via: kernel publishes IPv4 addresses only/],
    [['3000', undefined, 'nat'], /^--via: expected one of/],
    [['3000', true, undefined], /^--host needs a value/],
  ];
  for (const [args, re] of bad) {
    assert.throws(() => entryFromArgs(...args), (e: unknown) => e instanceof UsageError && re.test(e.message), JSON.stringify(args));
  }
});

test('withAdded: added publications come after the config\'s, named as added, and split by how they are carried', () => {
  const cfg = parseConfig('publish: [{ port: 3000 }]\n');
  const names = namesFor(cfg);
  const running = withAdded(cfg, [entryFromArgs('3001', '127.0.0.1:9001', 'kernel'), entryFromArgs('3002', undefined, undefined)]);
  assert.deepEqual(publications(running, names).map((p) => [p.origin, p.listen.port, p.via]), [
    ['publish[0]', 3000, 'forwarder'],
    [ADDED_ORIGIN, 9001, 'kernel'],
    [ADDED_ORIGIN, 3002, 'forwarder'],
  ]);
  assert.deepEqual(kernelPublications(running, names).map((p) => p.listen.port), [9001]);
  assert.deepEqual(publishServices(running, names).map((s) => s.name), ['forward-3000', 'forward-3002']);
  assert.equal(withAdded(cfg, []), cfg, 'nothing added: the same config');
  assert.equal(cfg.publish.length, 1, 'the config itself is not changed');
});

test('the default publication on 127.0.0.1 gets the kernel fast path; [::1], LAN binds, via: relay and via: kernel do not', () => {
  const cfg = parseConfig(
    'publish: [{ port: 3000 }, { host: "127.0.0.2:3001", target: 3000 }, { host: "[::1]:3002", target: 3000 }, { host: "0.0.0.0:3003", target: 3000 }, { port: 3004, via: kernel }, { port: 3005, via: relay }]\n',
  );
  const names = namesFor(cfg);
  const pubs = publications(cfg, names);
  assert.deepEqual(pubs.filter(hasKernelFastPath).map((p) => p.listen.port), [3000, 3001]);
  assert.deepEqual(dnatPublications(cfg, names).map((p) => [p.listen.port, p.via]), [[3000, 'forwarder'], [3001, 'forwarder'], [3004, 'kernel']]);
  assert.deepEqual(publishServices(cfg, names).map((s) => s.name), ['forward-3000', 'forward-3001', 'forward-3002', 'forward-3003', 'forward-3005'], 'every forwarder and relay publication keeps its process');
});

test('procNetAddress: the socket table\'s spelling of an address (native-endian 32-bit words)', () => {
  assert.deepEqual(procNetAddress('127.0.0.1', 19000), { file: 'tcp', address: '0100007F:4A38' });
  assert.deepEqual(procNetAddress('0.0.0.0', 80), { file: 'tcp', address: '00000000:0050' });
  assert.deepEqual(procNetAddress('[::1]', 8080), { file: 'tcp6', address: '00000000000000000000000001000000:1F90' });
});

test('isListening reads LISTEN rows only, for exactly that address', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpnns-procnet-'));
  try {
    writeFileSync(join(dir, 'tcp'), [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:4A38 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
      '   1: 0100007F:4A39 0200000A:0BB8 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0',
    ].join('\n'));
    writeFileSync(join(dir, 'tcp6'), '');
    assert.equal(await isListening('127.0.0.1', 19000, dir), true);
    assert.equal(await isListening('127.0.0.1', 19001, dir), false, 'an established connection is not a listener');
    assert.equal(await isListening('127.0.0.2', 19000, dir), false);
    assert.equal(await isListening('[::1]', 19000, dir), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('publishedKey: PORT is 127.0.0.1:PORT, ADDR:PORT as formatHostPort writes it, anything else one usage sentence', () => {
  assert.equal(publishedKey('9000'), '127.0.0.1:9000');
  assert.equal(publishedKey('127.0.0.1:9000'), '127.0.0.1:9000');
  assert.equal(publishedKey('[::1]:9000'), '[::1]:9000');
  for (const bad of ['localhost', '127.0.0.1:0', '[::1]', 'x:y']) {
    assert.throws(() => publishedKey(bad), (e: unknown) => e instanceof UsageError && /^expected ADDR:PORT/.test(e.message) && e.message.endsWith('.'), bad);
  }
});
