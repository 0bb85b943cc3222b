// The tunnel check's cheap look (src/net/netns-peek.ts): a link is judged only through a process
// proven to be in the namespace; anything else says "cannot tell" so `ip` decides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { linkInNetns, linkSeenFrom, linksOfNetDev } from '../../src/net/netns-peek.js';

const SAMPLE = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
 vpn0: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
vh-x-longername:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
`;

test('linksOfNetDev reads every link name and no header', () => {
  assert.deepEqual(linksOfNetDev(SAMPLE), ['lo', 'vpn0', 'vh-x-longername']);
  assert.deepEqual(linksOfNetDev(''), []);
});

test('a process in the namespace tells whether the link exists; one outside or gone cannot tell', () => {
  const here = readFileSync('/proc/self/net/dev', 'utf8');
  const first = linksOfNetDev(here)[0]!;
  assert.equal(linkSeenFrom('/proc/self/ns/net', first, [process.pid]), true);
  assert.equal(linkSeenFrom('/proc/self/ns/net', 'vpnns-no-such0', [process.pid]), false);
  // No usable PID (invalid, exited): undefined, the caller asks `ip`.
  assert.equal(linkSeenFrom('/proc/self/ns/net', first, [0, -1, 2 ** 22 + 1]), undefined);
  assert.equal(linkSeenFrom('/proc/self/ns/net', first, []), undefined);
  // A namespace file that is not there: cannot tell.
  assert.equal(linkInNetns('vpnns-no-such-ns', first, [process.pid]), undefined);
  // A PID in another network namespace (here: this one judged against the mount namespace's file,
  // a different nsfs inode) is not asked.
  if (statSync('/proc/self/ns/mnt').ino !== statSync('/proc/self/ns/net').ino) {
    assert.equal(linkSeenFrom('/proc/self/ns/mnt', first, [process.pid]), undefined);
  }
});
