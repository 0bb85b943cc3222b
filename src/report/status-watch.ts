// `vpnns status --watch`: the status gathered at a fixed period until Ctrl-C (or SIGTERM).
import type { Config } from '../config/types.js';
import { sleep, untilInterrupted } from '../sys/process.js';
import { gatherStatus, type StatusReport } from './status.js';

/** Calls SHOW with each report, every EVERYMS, until SIGINT or SIGTERM; the signal handlers go at the end. */
export async function watchStatus(cfg: Config, everyMs: number, show: (report: StatusReport) => void): Promise<void> {
  await untilInterrupted(async (stopping) => {
    while (!stopping.aborted) {
      const started = Date.now();
      // Watching relies on the supervisor's probes; it never adds requests of its own.
      const report = await gatherStatus(cfg, { probe: false });
      if (stopping.aborted) break;
      show(report);
      // A fixed period, not a fixed pause: gathering takes a while on a busy machine.
      await sleep(everyMs - (Date.now() - started), stopping);
    }
  });
}
