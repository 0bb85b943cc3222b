// One launch of a program inside the namespace as a user, with the config's sandbox (channels.ts)
// and the environment handed over after the privilege drop (launch.ts).
import type { SandboxConfig } from '../config/types.js';
import { sandboxPlan } from './channels.js';
import { encodeEnv, enterArgv, helperEnv, launchArgv, programEnv, type LaunchUser } from './launch.js';

export interface Launch {
  argv: string[];
  /** The environment of the first (root) process: clean. */
  env: Record<string, string>;
  /** The program's environment, to be written on fd 3. */
  payload: Buffer;
}

export interface LaunchRequest {
  ns: string;
  user: LaunchUser & { home: string; shell?: string };
  sandbox: SandboxConfig | undefined;
  cmd: readonly string[];
  /** The caller's environment, the base of the program's. */
  callerEnv: Readonly<Record<string, string | undefined>>;
  /** The app's own variables, on top. */
  extraEnv?: Readonly<Record<string, string>>;
}

export function renderLaunch(r: LaunchRequest): Launch {
  const base = { ...r.callerEnv, ...r.extraEnv };
  const plan = sandboxPlan(r.sandbox, { uid: r.user.uid, home: r.user.home, env: base });
  const env = programEnv(r.callerEnv, r.extraEnv ?? {}, plan.unset, r.user);
  // runuser sets SHELL only for some login shells; the caller's must not leak root's in.
  if (r.user.uid !== 0 && r.user.shell) env.SHELL = r.user.shell;
  const input = { ns: r.ns, user: r.user, hide: plan.hide, cmd: r.cmd };
  // One root process (ENTER_SCRIPT) where the architecture's system call numbers are known, else the chain.
  return { argv: enterArgv(input) ?? launchArgv(input), env: helperEnv(), payload: encodeEnv(env) };
}
