// The supervisor as a resource of `up`: a detached `vpnns supervise` process (its own session, so it
// survives the terminal closing), waited on until the VPN is connected or has failed.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync, closeSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/types.js';
import type { Resource } from '../plan/resource.js';
import { VpnnsError } from '../errors.js';
import { isAlive, sleep } from '../sys/process.js';
import { readStatus, statusPath } from './status.js';
import { logDirFor } from './log.js';
import { ANSWER_MS, request } from './control-client.js';

const BIN = fileURLToPath(new URL('../../../bin/vpnns', import.meta.url));

export function needsSupervisor(cfg: Config): boolean {
  // Any app counts: `vpnns app start` asks the supervisor, autostart or not.
  return cfg.vpn.type !== 'none' || cfg.publish.length > 0 || Object.keys(cfg.apps).length > 0;
}

export function supervisorPid(state: { runtime: Record<string, unknown> }): number | undefined {
  const pid = state.runtime.supervisorPid;
  return typeof pid === 'number' ? pid : undefined;
}

/** Every `vpnns supervise` process of a namespace, found by its argv (for cleanups that have no state). */
export function supervisorPidsOf(ns: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.includes('supervise') && argv.includes(ns)) out.push(Number(pid));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

export async function isOurSupervisor(pid: number | undefined, ns: string): Promise<boolean> {
  if (!pid || !isAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('supervise') && cmdline.includes(ns);
}

/** What the running supervisor runs: a changed config is sent to it (`reload`) or needs a new one. */
function configKey(cfg: Config): string {
  return createHash('sha256').update(JSON.stringify({ ...cfg, source: undefined })).digest('hex').slice(0, 16);
}

/** Config fields a running supervisor can take on without a restart: all but apps, publications and proxies. */
export function reloadableKey(cfg: Config): string {
  return JSON.stringify({ ...cfg, apps: undefined, publish: undefined, proxies: undefined, source: undefined });
}

function baseKey(cfg: Config): string {
  return createHash('sha256').update(reloadableKey(cfg)).digest('hex').slice(0, 16);
}

export const supervisorResource: Resource = {
  id: 'supervisor',
  title: 'supervisor (VPN client and services)',
  async check(ctx) {
    if (!(await isOurSupervisor(supervisorPid(ctx.state), ctx.names.ns))) return false;
    // Proxies, forwards or apps changed in the config: `up` sends the new config to the running
    // supervisor, which restarts only what changed; anything else needs a new supervisor (the kill
    // switch stays loaded meanwhile).
    return ctx.state.runtime.supervisorConfig === undefined || ctx.state.runtime.supervisorConfig === configKey(ctx.cfg);
  },
  async apply(ctx) {
    const { sys, names, cfg } = ctx;
    // A daemon that waits almost all the time has no use for V8's optimizing compiler: without it
    // (--no-opt) its optimized code and feedback do not pile up over the first hours, and a 1 MiB
    // young generation (it allocates little) keeps RSS small; bench/soak.ts measures both.
    const argv = [process.execPath, '--no-opt', '--max-semi-space-size=1', BIN, 'supervise', '--namespace', names.ns];
    sys.actions.push(`$ ${argv.join(' ')} &  (detached)`);
    if (sys.dryRun) return;
    const live = await isOurSupervisor(supervisorPid(ctx.state), names.ns);
    if (live && ctx.state.runtime.supervisorBase === baseKey(cfg)) {
      sys.actions.pop();
      sys.actions.push(`reload the running supervisor (control socket)`);
      // `up` saved the new config in state.json before this; the supervisor reads it from there.
      await request(names, { op: 'reload' }, ANSWER_MS * 3);
      ctx.state.runtime.supervisorConfig = configKey(cfg);
      await ctx.saveState();
      return;
    }
    // A running supervisor (the config changed beyond that) is stopped first; one that was SIGKILLed leaves its
    // children (the VPN client, proxies, forwarders) in its process group: end them before starting
    // over, so nothing runs twice or is stranded.
    await supervisorResource.remove(ctx);
    await sys.remove(statusPath(names));
    sys.actions.pop();
    const logDir = logDirFor(cfg);
    mkdirSync(logDir, { recursive: true });
    const out = openSync(`${logDir}/supervisor.out`, 'a', 0o640);
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', out, out], env: process.env });
    closeSync(out);
    child.unref();
    ctx.state.runtime.supervisorPid = child.pid;
    ctx.state.runtime.supervisorConfig = configKey(cfg);
    ctx.state.runtime.supervisorBase = baseKey(cfg);
    await ctx.saveState();
    const timeoutMs = ('connectTimeout' in cfg.vpn ? cfg.vpn.connectTimeout : 10) * 1000 + 15_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const st = await readStatus(names);
      if (st?.fatal) throw new VpnnsError(st.fatal);
      const vpn = st?.components.vpn;
      if (cfg.vpn.type === 'none' ? st !== undefined : vpn?.state === 'running') return;
      if (!isAlive(child.pid!)) throw new VpnnsError(`the vpnns supervisor exited at start; see ${logDir}/supervisor.out and ${logDir}/vpnns.log.`);
      if (Date.now() > deadline) throw new VpnnsError(`the VPN did not connect within ${Math.round(timeoutMs / 1000)} s; see ${logDir}/vpnns.log.`);
      await sleep(100);
    }
  },
  async remove(ctx) {
    const pid = supervisorPid(ctx.state);
    if (!pid) return false;
    const wasAlive = await isOurSupervisor(pid, ctx.names.ns);
    if (ctx.sys.dryRun) {
      if (wasAlive) ctx.sys.actions.push(`$ kill -TERM -${pid}`);
      return wasAlive;
    }
    // The whole process group: the supervisor and whatever it started on the host side (forwarders).
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
        return true;
      } catch {
        return false;
      }
    };
    if (!signalGroup('SIGTERM')) return wasAlive;
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
    signalGroup('SIGKILL');
    delete ctx.state.runtime.supervisorPid;
    return true;
  },
};
