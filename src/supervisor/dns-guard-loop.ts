// The namespace's DNS files stay in front of every process inside, also after the host replaces its
// own: a sweep every healthInterval, and one soon after the host's files change. Ends with `signal`.
import { guardDnsFiles, watchHostDnsFiles } from '../net/dns-guard.js';
import { ABORTED, childController, sleepUnless } from './abort.js';
import type { SupervisorCore } from './core.js';

export async function dnsGuardLoop(core: SupervisorCore, signal: AbortSignal): Promise<void> {
  const glog = core.log.child('dns');
  // One wake-up controller per sleep: a change of the host's files cuts that sleep short.
  let nap: (AbortController & { dispose(): void }) | undefined;
  const unwatch = watchHostDnsFiles(() => nap?.abort());
  try {
    while (!signal.aborted) {
      try {
        for (const r of await guardDnsFiles(core.sys, core.names)) {
          glog('warn', 'a process inside had lost the namespace\'s DNS files (the host replaced its own); bound them again', { pid: r.pid, files: r.files });
        }
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
