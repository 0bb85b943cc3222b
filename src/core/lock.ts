// One `up`/`down` at a time per namespace, and one `up` at a time per host network namespace while
// it checks and takes addresses. A lock file holds the owner's PID; a lock whose owner died
// (SIGKILL, crash) is taken over, so a crash never blocks the next run.
import { readFile } from 'node:fs/promises';
import { createExclusive, makeDir, renamePath, unlinkFile } from '../sys/files.js';
import { dirname } from 'node:path';
import { VpnnsError } from '../errors.js';
import { sleep } from '../sys/process.js';
import { RUN_DIR } from './names.js';
import { isAlive } from '../sys/process.js';

export interface Lock {
  release(): Promise<void>;
}

export async function acquireLock(path: string, what: string, timeoutMs = 60_000): Promise<Lock> {
  await makeDir(dirname(path), 0o755);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await createExclusive(path, `${process.pid}\n`, 0o644);
      return {
        release: async () => {
          const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
          if (owner === process.pid) await unlinkFile(path).catch(() => {});
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (!owner || !isAlive(owner)) {
      // Move the stale lock aside rather than unlinking it: if two processes race here, only one
      // rename succeeds, and the loser retries against whatever the winner created.
      const aside = `${path}.stale-${process.pid}`;
      try {
        await renamePath(path, aside);
        const moved = Number((await readFile(aside, 'utf8').catch(() => '')).trim());
        if (moved && moved !== owner && isAlive(moved)) await renamePath(aside, path).catch(() => {});
        else await unlinkFile(aside).catch(() => {});
      } catch {
        /* someone else took it over first */
      }
      continue;
    }
    if (Date.now() > deadline) {
      throw new VpnnsError(`another vpnns command (pid ${owner}) is working on ${what}; wait for it to finish or stop it.`);
    }
    await sleep(100);
  }
}

/**
 * The host lock: preflight (is the subnet free? are the names free?) and the making of links and
 * addresses happen one `up` at a time per host network namespace, so two namespaces started at once
 * with the same subnet cannot both find it free. Keyed by the host namespace: subnets are per host
 * namespace, and unrelated hosts on one kernel (containers, test worlds) need not wait for each other.
 * Always taken after a namespace lock, never the other way round, so two `up`s cannot deadlock.
 */
export function hostLockFile(hostNetns: string): string {
  return `${RUN_DIR}/.host.${hostNetns.replace(/[^\w.-]/g, '_')}.lock`;
}
