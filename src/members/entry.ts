// The root side of a member's request, decided: run by sudo as MEMBER_ENTRY (policy.ts), as root,
// for a member of group vpnns, through cli/member-entry.ts (the entry point, which loads and runs
// the command). Everything here is input from the member except what sudo sets (SUDO_UID) and
// root's own files: the arguments pass a fixed grammar, the config is the namespace's (its
// root-owned state, or the root-owned file `up` read), the environment is data for the member's
// programs, and every program runs as the member.
import { closeSync, existsSync, fstatSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { UsageError, VpnnsError } from '../errors.js';
import { trustedState, upConfig } from '../core/up-config.js';
import { isNamespaceName, RUN_DIR } from '../core/names.js';
import { lookupUser } from '../services/users.js';
import { helperEnv } from '../sandbox/clean-env.js';
import { setMemberContext } from './context.js';
import { decodeEnv, ENV_FD, isDelegated, isGroupMember, MAX_ENV_BYTES, MEMBER_GROUP, memberRequestProblem, type MemberCommand } from './policy.js';

export interface Caller {
  user: string;
  uid: number;
}

/** The member sudo says called: SUDO_UID (sudo sets it and refuses to let the caller set it), cross-checked with SUDO_USER and /etc/passwd. */
export function callerFromSudo(env: NodeJS.ProcessEnv, passwd = readFileSync('/etc/passwd', 'utf8'), group = readFileSync('/etc/group', 'utf8')): Caller {
  const uidText = env.SUDO_UID;
  if (!uidText || !/^[1-9]\d{0,9}$/.test(uidText)) {
    throw new UsageError(`this program is run by sudo for members of group ${MEMBER_GROUP}; run \`vpnns COMMAND\` as yourself instead.`);
  }
  const u = lookupUser(uidText, passwd);
  if (!u || u.uid !== Number(uidText) || u.uid === 0 || env.SUDO_USER !== u.name) {
    throw new UsageError(`sudo's caller (uid ${uidText}) is not a user of this machine; run \`vpnns COMMAND\` as yourself.`);
  }
  if (!isGroupMember(u.name, group, passwd)) {
    throw new UsageError(`${u.name} is not a member of group ${MEMBER_GROUP}; an administrator adds you with \`sudo vpnns setup --user ${u.name}\`.`);
  }
  return { user: u.name, uid: u.uid };
}

/** The member's environment from fd 3, only when the fixed entry script saw it open before node started. */
function readMemberEnv(mode: string): Record<string, string> {
  if (mode !== 'env-fd') return {};
  // A pipe, a socket (what node's spawn makes) or a file: not a terminal, which never ends.
  const st = fstatSync(ENV_FD);
  if (!st.isFIFO() && !st.isFile() && !st.isSocket()) throw new UsageError('the environment on fd 3 must come from a pipe; run `vpnns COMMAND`, not the entry program itself.');
  const chunks: Buffer[] = [];
  let total = 0;
  const buf = Buffer.alloc(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(ENV_FD, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw e;
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_ENV_BYTES) throw new UsageError(`your environment is larger than ${MAX_ENV_BYTES >> 20} MiB; unset some variables and try again.`);
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  closeSync(ENV_FD);
  return decodeEnv(Buffer.concat(chunks));
}

/**
 * This process runs in one of vpnns's namespaces (/run/netns/NS for each /run/vpnns/NS): a program
 * confined there, running as the member, must not use the member's delegation (to start, stop or
 * read what the member can, or to learn the host's address through `check`).
 */
function inVpnnsNamespace(): boolean {
  const self = statSync('/proc/self/ns/net');
  let names: string[] = [];
  try {
    names = readdirSync(RUN_DIR).filter(isNamespaceName);
  } catch {
    return false;
  }
  return names.some((ns) => {
    try {
      const st = statSync(`/run/netns/${ns}`);
      return st.ino === self.ino && st.dev === self.dev;
    } catch {
      return false;
    }
  });
}

/**
 * The config for namespace `ns` (or the system config's namespace), as root decides it: the
 * namespace's state while the file `up` read is unchanged, else that file (trust-checked). Never a
 * file in the member's directory or on their argv. Only a namespace vpnns runs (its root-owned
 * state): a member must not reach another named network namespace of this machine through vpnns.
 */
export async function memberConfig(ns: string | undefined): Promise<{ config: Config; upConfig: Config }> {
  const { loadConfig, defaultConfig, SYSTEM_CONFIG } = await import('../config/load.js');
  const name = ns ?? (existsSync(SYSTEM_CONFIG) ? (await loadConfig({ file: SYSTEM_CONFIG })).namespace : defaultConfig().namespace);
  const state = await trustedState(name);
  if (!state) {
    throw new VpnnsError(`namespace ${name} is not up (vpnns runs no namespace of that name here); \`vpnns list\` shows those it runs, \`sudo vpnns up\` starts one.`);
  }
  return { config: await upConfig(state), upConfig: state.config };
}

/** Member apps: a member starts, stops, reads the logs and the password only of an app that runs as that member. */
function assertOwnApp(cfg: Config, verb: string | undefined, app: string | undefined, member: string): void {
  if (verb === undefined || verb === 'status' || app === undefined) return;
  const a = Object.hasOwn(cfg.apps, app) ? cfg.apps[app] : undefined;
  if (a && a.user !== member) {
    throw new UsageError(`apps.${app} runs as ${a.user ?? 'root'}, not as ${member}: a member acts only on their own apps; run it with sudo.`);
  }
}

/** A command's parsed arguments, as the member's request carries them (cli/args.ts's Parsed). */
export interface RequestArgs {
  opts: Record<string, string | boolean | undefined>;
  positional: string[];
}

/**
 * Admits the request `argv` (the entry's mode, the command, its arguments) or refuses it with one
 * sentence: the caller (root through sudo, a member, not from inside a vpnns namespace), their
 * environment (fd 3) set aside and root's own in place, the command a member's, its arguments
 * (`parse`: the command's own parser) a member's. `help`: nothing more to check, print the usage.
 * Otherwise the namespace's config is in the member context (members/context.ts), the arguments
 * name that namespace, and exec's and kilo's --user is the member.
 */
export async function admitMemberRequest<A extends RequestArgs>(
  argv: readonly string[], env: NodeJS.ProcessEnv, parse: (command: MemberCommand, rest: string[]) => Promise<A>,
): Promise<{ args: A; help: boolean }> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0 || process.geteuid?.() !== 0) {
    throw new UsageError('the member entry runs as root through sudo; run `vpnns COMMAND` instead.');
  }
  const [mode, name, ...rest] = argv;
  const caller = callerFromSudo(env);
  if (inVpnnsNamespace()) throw new VpnnsError('vpnns member commands are not available from inside a network namespace; run them from your own shell on the host.');
  const memberEnv = readMemberEnv(mode ?? '');
  // Root's own environment from here on: nothing of the member's (sudo kept TERM, PWD and its own).
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, helperEnv());
  if (!isDelegated(name)) {
    throw new UsageError(`\`vpnns ${name ?? ''}\` is not a member's command (members run exec, kilo, app, status, check and list); run it with sudo.`);
  }
  const args = await parse(name, rest);
  const problem = memberRequestProblem(name, args.opts, args.positional, caller.user);
  if (problem) throw new UsageError(problem);
  if (args.opts.help) return { args, help: true };
  const { config, upConfig } = await memberConfig(typeof args.opts.namespace === 'string' ? args.opts.namespace : undefined);
  // The app as the file says now and as the supervisor runs it (the state `up` wrote): the member's in both.
  if (name === 'app') for (const c of [config, upConfig]) assertOwnApp(c, args.positional[0], args.positional[1], caller.user);
  setMemberContext({ user: caller.user, uid: caller.uid, env: memberEnv, config });
  args.opts.namespace = config.namespace;
  if (name === 'exec' || name === 'kilo') args.opts.user = caller.user;
  return { args, help: false };
}
