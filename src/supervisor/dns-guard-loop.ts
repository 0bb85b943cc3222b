// The namespace's DNS files stay in front of every process inside, also after the host replaces its
// own: a sweep every healthInterval, and one soon after the host's files change. Ends with `signal`.
import { DnsGuard, watchHostDnsFiles } from '../net/dns-guard.js';
import { ABORTED, childController, sleepUnless } from './abort.js';
import type { SupervisorCore } from './core.js';

export async function dnsGuardLoop(core: SupervisorCore, signal: AbortSignal): Promise<void> {
  const glog = core.log.child('dns');
  // One wake-up controller per sleep: a change of the host's files cuts that sleep short.
  let nap: (AbortController & { dispose(): void }) | undefined;
  const unwatch = watchHostDnsFiles(() => nap?.abort());
  // One guard for the loop's life: it remembers namespaces it must never enter (owned by another
  // user namespace) so they are reported once, not on every sweep.
  const guard = new DnsGuard(core.sys, core.names);
  try {
    while (!signal.aborted) {
      try {
        const { rebound, skipped } = await guard.sweep();
        for (const r of rebound) {
          glog('warn', 'a process inside had lost the namespace\'s DNS files (the host replaced its own); bound them again', { pid: r.pid, files: r.files });
        }
        for (const s of skipped) glog('warn', `DNS files not checked for pid ${s.pid}: ${s.reason}`, { pid: s.pid });
      } catch (e) {
        glog('error', 'could not check the DNS files of the processes inside', { error: (e as Error).message });
      }
      nap = childController(signal);
      const r = await sleepUnless(core.cfg.supervisor.healthInterval * 1000, nap.signal);
      nap.dispose();
      nap = undefined;
      if (r === ABORTED && signal.aborted) break;
    }
  } finally {
    unwatch();
  }
}
