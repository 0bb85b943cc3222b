import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryFromArgs } from '../../src/cli/publish.js';
import { withAdded, ADDED_ORIGIN } from '../../src/services/added-publications.js';
import { publications, kernelPublications, publishServices } from '../../src/services/publish.js';
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
