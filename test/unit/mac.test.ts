import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vethMac } from '../../src/net/mac.js';

test('vethMac: locally administered unicast, stable, distinct per end and per namespace', () => {
  const host = vethMac('vpn-ns', 'host');
  const inner = vethMac('vpn-ns', 'ns');
  for (const mac of [host, inner]) {
    assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
    // Bit 1 of the first octet: locally administered; bit 0 clear: unicast.
    const first = parseInt(mac.slice(0, 2), 16);
    assert.equal(first & 0b11, 0b10);
  }
  assert.notEqual(host, inner);
  assert.equal(vethMac('vpn-ns', 'host'), host, 'the same every time (down/up, reboot)');
  assert.notEqual(vethMac('vpn-ns2', 'host'), host);
  // Pinned: a change of the derivation would log AdGuard users out; make it on purpose only.
  assert.equal(host, '02:55:2e:3c:57:3b');
  assert.equal(inner, '02:b7:11:c1:bc:b6');
});
