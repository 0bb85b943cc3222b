// The background supervisor that `up` starts (`vpnns supervise`). It reads everything from the
// state file `up` wrote, so it runs exactly the config `up` applied.
import { UsageError } from '../errors.js';
import { namesFor, stateDirOf } from '../core/names.js';
import { readState } from '../core/state.js';
import { traceMark } from '../sys/trace.js';

/**
 * --await-go: `up` started this process before the namespace was made, so that Node's start and
 * the supervisor's modules load meanwhile. Nothing is done before `up` writes "go" on stdin (the
 * state is complete then); the pipe closing without it means `up` failed or died: exit at once.
 */
function awaitGo(): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    let go = false;
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (d: string) => {
      if (go) return;
      seen = (seen + d).slice(-16);
      if (seen.includes('go\n')) {
        go = true;
        resolve();
      }
    });
    const abandon = () => {
      if (!go) process.exit(0);
    };
    process.stdin.on('end', abandon);
    process.stdin.on('error', abandon);
  });
}

/** Runs namespace `ns`'s supervisor in this process until a signal stops it (exit 0) or it fails (1, `err` hears why). */
export async function superviseInBackground(ns: string, opts: { awaitGo: boolean }, err: (line: string) => void): Promise<number> {
  traceMark('supervise: command loaded');
  // The supervisor's modules (most of its start-up) load while `up` is still making things.
  const [{ Supervisor }] = await Promise.all([import('./supervisor.js'), opts.awaitGo ? awaitGo() : undefined]);
  traceMark('supervise: modules loaded, go');
  const state = await readState(stateDirOf(ns));
  if (!state) throw new UsageError(`namespace ${ns} is not up; run \`vpnns up\` first.`);
  const names = namesFor(state.config);
  // Started early by `up` only for a namespace without state, so one that `up` has just made.
  const sup = new Supervisor(state.config, names, state, { freshNamespace: opts.awaitGo });
  sup.exitOnCrash();
  const stop = () => void sup.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {});
  try {
    await sup.run();
    return 0;
  } catch (e) {
    err(`vpnns supervise: ${(e as Error).message}`);
    await sup.stop();
    return 1;
  }
}
