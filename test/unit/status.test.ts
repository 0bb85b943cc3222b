// status.json is world-readable (`vpnns status` without root); the host's own egress address is not
// for local users: it goes only into the 0600 copy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HIDDEN, privateStatusPath, publicStatus, readStatus, statusPath, writeStatusSync, type SupervisorStatus } from '../../src/core/status.js';
import { identify } from '../../src/sys/proc-identity.js';

const HOST = '198.51.100.7';
const dir = mkdtempSync(join(tmpdir(), 'vpnns-status-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sample(): SupervisorStatus {
  return {
    pid: process.pid,
    startedAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    components: {
      vpn: {
        state: 'backoff',
        since: '2026-01-01T00:00:00.000Z',
        restarts: 1,
        lastError: `egress leak: the probe saw the host's own address ${HOST}`,
        detail: { tunnel: 'vt-x', egressIp: '203.0.113.5', hostEgressIp: HOST, probeLatencyMs: 12 },
      },
    },
  };
}

test('status: the public copy has no host address, in no field and no message; the rest stays', () => {
  const pub = publicStatus(sample(), [HOST]);
  assert.doesNotMatch(JSON.stringify(pub), /198\.51\.100\.7/);
  assert.equal(pub.components.vpn!.detail!.hostEgressIp, undefined);
  assert.equal(pub.components.vpn!.detail!.egressIp, '203.0.113.5', 'the tunnel\'s egress is what status is for');
  assert.equal(pub.components.vpn!.lastError, `egress leak: the probe saw the host's own address ${HIDDEN}`);
  assert.equal(pub.components.vpn!.detail!.probeLatencyMs, 12);
});

test('status: written as a 0644 public file without the address and a 0600 full one; root reads the full one', async () => {
  const n = { stateDir: dir };
  writeStatusSync(n, sample());
  // A later write whose detail no longer has the address still hides it in an old message.
  const later = sample();
  delete later.components.vpn!.detail!.hostEgressIp;
  writeStatusSync(n, later);
  assert.equal(statSync(statusPath(n)).mode & 0o777, 0o644);
  assert.equal(statSync(privateStatusPath(n)).mode & 0o777, 0o600);
  assert.doesNotMatch(readFileSync(statusPath(n), 'utf8'), /198\.51\.100\.7/);
  writeStatusSync(n, sample());
  assert.match(readFileSync(privateStatusPath(n), 'utf8'), /198\.51\.100\.7/);
  const st = await readStatus(n);
  assert.equal(st?.components.vpn?.detail?.hostEgressIp, HOST);
  // Every PID carries its start time, for a later signal to prove it.
  assert.equal(st?.pidStart, identify(process.pid)?.start);
});
